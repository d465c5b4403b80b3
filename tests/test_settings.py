"""Settings that cannot work are refused before anything runs, naming the option and what it accepts."""

from __future__ import annotations

import pytest

from conformance.reporting import output_paths_problem
from conformance.settings import ca_bundle_problem, http_timeout_problem, proxy_problem, server_url_problem


@pytest.mark.parametrize("seconds", [0.001, 1, 10, 600.5])
def test_a_positive_finite_timeout_is_accepted(seconds):
    assert http_timeout_problem(seconds) is None


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), float("-inf")])
def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(seconds):
    problem = http_timeout_problem(seconds)
    assert problem.startswith(f"--http-timeout={seconds:g}: ") and "greater than 0" in problem


@pytest.mark.parametrize("proxy", [None, "http://proxy.example:3128", "https://proxy.example", "HTTP://10.0.0.1:8080",
                                   "http://user:password@proxy.example:3128"])
def test_an_http_proxy_url_is_accepted(proxy):
    assert proxy_problem(proxy) is None


@pytest.mark.parametrize("proxy", ["garbage", "", "ftp://proxy.example", "proxy.example:3128", "http://",
                                   "http://proxy.example:99999", "http://proxy.example:port",
                                   "garbage://user:proxy-password@host"])
def test_what_is_not_a_proxy_url_is_refused_without_showing_it(proxy):
    problem = proxy_problem(proxy)
    assert problem.startswith("--proxy: not a proxy URL; expected SCHEME://HOST[:PORT]") and "http, https" in problem
    assert "proxy-password" not in problem


@pytest.mark.parametrize("url", [None, "https://fhir.example.org", "http://127.0.0.1:8888", "https://h/base/path/"])
def test_a_server_url_is_accepted(url):
    assert server_url_problem(url) is None


@pytest.mark.parametrize("url", ["garbage", "fhir.example.org", "ftp://fhir.example.org", "http://h:99999"])
def test_what_is_not_a_server_url_is_refused(url):
    assert server_url_problem(url).startswith("--server-url: not a server URL; expected http(s)://HOST")


def test_a_server_url_with_userinfo_is_refused_without_showing_it():
    """httpx would send the URL's user:password in place of every Authorization header a scenario sets."""
    problem = server_url_problem("https://someone:url-password@fhir.example.org")
    assert "user:password@" in problem and "url-password" not in problem


def test_a_missing_ca_bundle_is_named(tmp_path):
    assert ca_bundle_problem(str(tmp_path / "missing.pem")) == f"--ca-bundle: no such file: {tmp_path / 'missing.pem'}"
    (tmp_path / "ca.pem").write_text("")
    assert ca_bundle_problem(str(tmp_path / "ca.pem")) is None


# --- --spec-report and --spec-summary --------------------------------------------------------------

def test_report_paths_that_can_be_written_are_accepted_and_their_missing_folders_made(tmp_path):
    report, summary = tmp_path / "new" / "deeper" / "report.html", tmp_path / "summary.md"
    assert output_paths_problem({"--spec-report": str(report), "--spec-summary": str(summary)}) is None
    assert report.parent.is_dir()
    assert output_paths_problem({"--spec-report": None, "--spec-summary": None}) is None


@pytest.mark.parametrize("where,complaint", [
    ("a-file/report.html", "a-file is a file, not a folder"),
    ("a-file/deeper/report.html", "a-file is a file, not a folder"),
    ("a-folder", "is a folder; give the file to write"),
])
def test_report_paths_that_cannot_be_written_are_refused_with_the_reason(tmp_path, where, complaint):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-folder").mkdir()
    problem = output_paths_problem({"--spec-report": str(tmp_path / where)})
    assert problem.startswith(f"--spec-report={tmp_path / where}: ") and complaint in problem


def test_the_report_and_the_summary_cannot_share_a_file(tmp_path):
    same = str(tmp_path / "out.md")
    assert "name the same file" in output_paths_problem({"--spec-report": same, "--spec-summary": same})
