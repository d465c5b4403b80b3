"""Usage errors of the suite, as a user meets them: one clean `ERROR: ...` line naming the option, exit 4, before
any scenario runs -- never a traceback, an INTERNALERROR, pytest's `!!! Exit !!!` banner, or 47 failed scenarios."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.suite_runner import REPO, reference_server, run_as_typed

def assert_clean_usage_error(completed: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit 4, an `ERROR: ` line holding every expected text, and nothing that looks like a crash or a run."""
    output = completed.stdout + completed.stderr
    assert completed.returncode == 4, output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, output[-3000:]
    for text in expected:
        assert text in errors[0], f"{text!r} not in {errors[0]!r}"
    for crash in ("Traceback", "INTERNALERROR", "_pytest.outcomes.Exit", "!!!!", " passed", " failed"):
        assert crash not in output, f"{crash!r} in\n{output[-3000:]}"
    return errors[0]


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "0"])
def test_a_timeout_that_cannot_work_is_a_usage_error(value):
    assert_clean_usage_error(run_as_typed(f"--http-timeout={value}"), f"--http-timeout={value}", "greater than 0")


def test_a_proxy_that_is_not_a_url_is_a_usage_error():
    line = assert_clean_usage_error(run_as_typed("--proxy=garbage"), "--proxy", "http, https")
    assert "garbage" not in line  # a proxy URL may carry a password: it is not repeated


def test_a_server_url_with_a_password_is_a_usage_error_that_does_not_repeat_it():
    line = assert_clean_usage_error(run_as_typed("--server-url=http://someone:url-password@127.0.0.1:9"),
                                    "--server-url: a URL with user:password@")
    assert "url-password" not in line


@pytest.mark.parametrize("option", ["--http-timeout=nan", "--proxy=garbage"])
def test_the_leftover_command_refuses_them_too(option):
    env = {**os.environ, "CONFORMANCE_ADMIN_CLIENT_SECRET": "not-used-here-0123456789"}
    completed = subprocess.run([sys.executable, "-m", "conformance.cleanup", "--server-url=http://127.0.0.1:9", option],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2, completed.stderr
    assert option.split("=")[0] in completed.stderr and "Traceback" not in completed.stderr


def test_a_report_whose_folder_is_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    assert_clean_usage_error(run_as_typed(f"--spec-report={tmp_path / 'a-file' / 'report.html'}"),
                             "--spec-report=", "a-file is a file, not a folder")


def test_a_summary_that_names_a_folder_is_a_usage_error(tmp_path):
    assert_clean_usage_error(run_as_typed(f"--spec-summary={tmp_path}"), f"--spec-summary={tmp_path}", "is a folder")


@pytest.mark.parametrize("name, content, complaint", [
    ("waivers.yaml", "waivers:\n  - requirement: X\n    reason: caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    ("waivers.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_a_waivers_file_that_cannot_be_read_is_a_usage_error(tmp_path, name, content, complaint):
    (tmp_path / name).write_bytes(content)
    assert_clean_usage_error(run_as_typed(f"--waivers={tmp_path / name}"), "--waivers: ", complaint)


# --- the pre-flight: settings that would make a run against the server test nothing ---------------

@pytest.mark.parametrize("extra", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_refused_admin_secret_stops_the_run_before_any_scenario(extra):
    with reference_server() as (url, admin_secret):
        wrong = f"wrong-{admin_secret}"
        completed = run_as_typed(f"--server-url={url}", *extra, env={"CONFORMANCE_ADMIN_CLIENT_SECRET": wrong})
    assert_clean_usage_error(completed, "the server refused the admin client 'root' (401 to GET /fhir/Observation)",
                             "CONFORMANCE_ADMIN_CLIENT_SECRET")
    assert wrong not in completed.stdout + completed.stderr


@pytest.mark.parametrize("extra", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_server_that_cannot_be_reached_is_one_clean_error_line(extra):
    completed = run_as_typed("--server-url=http://127.0.0.1:9", *extra,
                             env={"CONFORMANCE_ADMIN_CLIENT_SECRET": "not-used-here-0123456789"})
    assert_clean_usage_error(completed, "cannot reach the server under test at http://127.0.0.1:9: could not connect")


def test_a_fhir_base_that_answers_404_is_a_usage_error_naming_the_url():
    with reference_server() as (url, admin_secret):
        completed = run_as_typed(f"--server-url={url}", "--fhir-base=/api",
                                 env={"CONFORMANCE_ADMIN_CLIENT_SECRET": admin_secret})
    assert_clean_usage_error(completed, f"GET {url}/api/Observation?_count=1 answered 404", "--fhir-base=PATH")


def test_a_server_that_throttles_every_request_is_a_usage_error_not_a_run_of_skips():
    """Every scenario would skip as throttled and the gate would read green: nothing was tested."""
    with reference_server(server_args=("--throttle-every", "1")) as (url, admin_secret):
        completed = run_as_typed(f"--server-url={url}", env={"CONFORMANCE_ADMIN_CLIENT_SECRET": admin_secret})
    assert_clean_usage_error(completed, "answered 429 Too Many Requests", "even after waiting")


def test_the_embedded_server_takes_no_other_fhir_base():
    assert_clean_usage_error(run_as_typed("--fhir-base=/api"), "--fhir-base=/api", "serves FHIR at /fhir")


def test_provisioning_none_without_a_client_is_one_clean_error_line():
    assert_clean_usage_error(run_as_typed("--provisioning=none"), "--provisioning none needs the pre-registered client")


def test_the_self_tests_and_collect_only_are_not_stopped_by_the_suites_settings():
    """The pre-flight runs only when scenarios are to run: not for `pytest tests`, not for --collect-only."""
    unreachable = {"CONFORMANCE_SERVER_URL": "http://127.0.0.1:9"}  # and no admin secret: two usage errors
    completed = run_as_typed("tests/test_settings.py", "-q", env=unreachable)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr
    completed = run_as_typed("--collect-only", "-q", env=unreachable)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr
