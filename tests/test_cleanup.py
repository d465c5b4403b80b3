"""Everything a run creates is deleted: when scenarios fail, when it is interrupted (Ctrl-C, SIGTERM, a
second Ctrl-C during the cleanup, under pytest-xdist too), and, after a run that could not clean up
(killed), by `python -m conformance.cleanup`, which touches nothing that is not the suite's (issue 5).
A cleanup that fails is a warning in the verdict that names what was left."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pytest

from conformance import cleanup
from conformance.credentials import Credentials, basic_header
from conformance.exchange import HttpAgent, SuiteClient
from conformance.provisioning import ID_PREFIX, SUITE_TAG_SYSTEM, Provisioner
from tests.recording_proxy import recording_proxy
from tests.suite_runner import REPO, reference_server, run_suite
from tests.test_suite_e2e import listed_ids

LATENCY = ("--latency-ms", "100")  # slow enough to interrupt a run part-way
WAIT_S = 120                       # the most any run or wait here may take


def suite_ids(ids: set[str]) -> set[str]:
    return {i for i in ids if i.split("/", 1)[1].startswith(ID_PREFIX)}


# --- the provisioner's bookkeeping ---------------------------------------------------------------

class Server:
    """An in-memory stand-in for the admin API: answers PUT/DELETE, records every request."""

    def __init__(self, put_status: int = 201, interrupt_on: str | None = None):
        self.put_status = put_status
        self.interrupt_on = interrupt_on
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if self.interrupt_on == request.method:
            raise KeyboardInterrupt
        return httpx.Response(self.put_status if request.method == "PUT" else 204)


def provisioner_for(server: Server) -> Provisioner:
    client = SuiteClient(1.0, transport=httpx.MockTransport(server))
    return Provisioner(HttpAgent(client, "http://server.test"), Credentials("root", "admin-secret"), "0123abcd", "/fhir")


def test_a_resource_is_remembered_before_the_request_goes_out():
    """Ctrl-C while a PUT is in flight: the server may have created it, so the cleanup must try to delete it."""
    server = Server(interrupt_on="PUT")
    provisioner = provisioner_for(server)
    with pytest.raises(KeyboardInterrupt):
        provisioner.register_client("conf-0123abcd-client", "s" * 32)
    assert provisioner.created == ["/Client/conf-0123abcd-client"]
    server.interrupt_on = None
    assert provisioner.cleanup() == []
    assert server.requests[-1] == ("DELETE", "/Client/conf-0123abcd-client")


def test_a_put_the_server_refused_is_forgotten_and_one_never_answered_is_not():
    refused = provisioner_for(Server(put_status=422))
    refused.register_client("conf-0123abcd-client", "s" * 32)
    assert refused.created == []

    def hang(request):
        raise httpx.ReadTimeout("timed out", request=request)

    unanswered = Provisioner(HttpAgent(SuiteClient(1.0, transport=httpx.MockTransport(hang)), "http://server.test"),
                             Credentials("root", "admin-secret"), "0123abcd", "/fhir")
    unanswered.register_client("conf-0123abcd-client", "s" * 32)
    assert unanswered.created == ["/Client/conf-0123abcd-client"]


def test_the_cleanup_runs_once_whichever_path_reaches_it_first():
    server = Server()
    provisioner = provisioner_for(server)
    cleanup.track(provisioner)
    provisioner.register_client("conf-0123abcd-a", "s" * 32)
    provisioner.allow_policy("conf-0123abcd-a-allow", "conf-0123abcd-a")
    assert cleanup.finish(provisioner) == []
    assert cleanup.finish(provisioner) == [] and cleanup.finish_all() == []
    deletes = [request for request in server.requests if request[0] == "DELETE"]
    assert deletes == [("DELETE", "/AccessPolicy/conf-0123abcd-a-allow"), ("DELETE", "/Client/conf-0123abcd-a")]


def test_the_fallback_cleans_up_after_a_provisioner_whose_teardown_never_ran():
    server = Server()
    provisioner = provisioner_for(server)
    cleanup.track(provisioner)
    provisioner.put_resource({"resourceType": "Patient", "id": "conf-0123abcd-patient"})
    assert cleanup.finish_all() == []
    assert ("DELETE", "/fhir/Patient/conf-0123abcd-patient") in server.requests


def test_what_the_leftover_command_counts_as_the_suites():
    tag = {"system": SUITE_TAG_SYSTEM, "code": "0123abcd"}
    assert cleanup.is_suite_client({"id": "conf-0123abcd-client"}) == "0123abcd"
    assert cleanup.is_suite_client({"id": "conf-mine"}) is None              # a person's own "conf-" client
    assert cleanup.is_suite_client({"id": "conf-0123abcz-client"}) is None   # not a run id
    assert cleanup.is_suite_client({"id": "xconf-0123abcd-client"}) is None
    policy = {"id": "conf-0123abcd-client-allow", "link": [{"resourceType": "Client", "id": "conf-0123abcd-client"}]}
    assert cleanup.is_suite_policy(policy) == "0123abcd"
    assert cleanup.is_suite_policy({**policy, "link": [{"reference": "Client/conf-0123abcd-client"}]}) == "0123abcd"
    assert cleanup.is_suite_policy({**policy, "link": [{"resourceType": "Client", "id": "operator"}]}) is None
    assert cleanup.is_suite_policy({**policy, "link": [{"resourceType": "Client", "id": "conf-99999999-x"}]}) is None
    assert cleanup.is_suite_policy({"id": "conf-0123abcd-open"}) is None    # no link: allows everyone; not the suite's
    assert cleanup.is_suite_resource({"id": "conf-0123abcd-obs-1", "meta": {"tag": [tag]}}) == "0123abcd"
    assert cleanup.is_suite_resource({"id": "conf-0123abcd-obs-1"}) is None  # the id alone is not enough
    assert cleanup.is_suite_resource({"id": "conf-0123abcd-obs-1", "meta": {"tag": [{**tag, "code": "ffffffff"}]}}) is None
    assert cleanup.is_suite_resource({"id": "operator-obs", "meta": {"tag": [tag]}}) is None


# --- interrupted runs against a reference server process ----------------------------------------

@contextmanager
def suite_process(url: str, admin_secret: str, *extra: str):
    env = {**os.environ, "CONFORMANCE_ADMIN_CLIENT_SECRET": admin_secret}
    env.pop("CONFORMANCE_SERVER_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "pytest", f"--server-url={url}", "-q", "-p", "no:randomly",
                                *extra], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def wait_until_created(url: str, admin_secret: str, at_least: int) -> set[str]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        created = suite_ids(listed_ids(url, admin_secret))
        if len(created) >= at_least:
            return created
        time.sleep(0.2)
    raise AssertionError(f"the run created fewer than {at_least} resources within {WAIT_S} s")


def interrupt(process, *signals: int, gap: float = 0.5, group: bool = True) -> tuple[int, str, float]:
    """Send the signals to the run's process group, as a terminal's Ctrl-C does, or to its main process alone,
    as some CI runners do; (exit code, output, seconds)."""
    started = time.monotonic()
    for signum in signals:
        if group:
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        time.sleep(gap)
    output, _ = process.communicate(timeout=WAIT_S)
    return process.returncode, output, time.monotonic() - started


@pytest.mark.parametrize("signals,workers,group", [
    ((signal.SIGINT,), 0, True),
    ((signal.SIGTERM,), 0, True),
    ((signal.SIGINT, signal.SIGINT), 0, True),   # the second one arrives while the cleanup works
    ((signal.SIGINT,), 2, True),
    ((signal.SIGINT, signal.SIGINT), 2, False),  # the controller waits out its workers' cleanups
], ids=["ctrl-c", "sigterm", "ctrl-c-twice", "ctrl-c-xdist", "ctrl-c-twice-to-the-xdist-controller"])
def test_an_interrupted_run_leaves_nothing_behind(signals, workers, group):
    with reference_server(server_args=LATENCY) as (url, admin_secret):
        before = listed_ids(url, admin_secret)
        extra = ("-n", str(workers)) if workers else ()
        with suite_process(url, admin_secret, *extra) as process:
            created = wait_until_created(url, admin_secret, at_least=12 if workers else 10)
            code, output, seconds = interrupt(process, *signals, group=group)
        after = listed_ids(url, admin_secret)
    assert created, "nothing was created before the interrupt"
    assert not suite_ids(after), f"left after the interrupt: {sorted(suite_ids(after))}\n{output[-3000:]}"
    assert after == before
    assert code == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "INTERNALERROR" not in output, output[-3000:]
    assert seconds < WAIT_S
    if len(signals) == 2:
        assert "interrupt again to abandon the cleanup" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist"])
def test_a_third_ctrl_c_abandons_the_cleanup_saying_so_without_a_traceback(workers):
    with reference_server(server_args=LATENCY) as (url, admin_secret):
        extra = ("-n", str(workers)) if workers else ()
        with suite_process(url, admin_secret, *extra) as process:
            wait_until_created(url, admin_secret, at_least=12 if workers else 10)
            code, output, _ = interrupt(process, signal.SIGINT, signal.SIGINT, signal.SIGINT, gap=0.2,
                                        group=not workers)
        left = suite_ids(listed_ids(url, admin_secret))
    assert code == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    if left:  # the cleanup was cut short: the run must say so and how to finish the job
        assert "cleanup abandoned" in output and "python -m conformance.cleanup" in output, output[-3000:]


# --- after a run that could not clean up ---------------------------------------------------------

def cleanup_command(url: str, admin_secret: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONFORMANCE_ADMIN_CLIENT_SECRET": admin_secret}
    return subprocess.run([sys.executable, "-m", "conformance.cleanup", "--server-url", url, *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=WAIT_S)


def put_decoys(url: str, admin_secret: str) -> set[str]:
    """What a person keeps on the same server, some of it named or tagged like the suite's."""
    other_run = "conf-0badc0de"
    with httpx.Client(base_url=url, headers={"authorization": basic_header("root", admin_secret)}) as http:
        for path, body in [
            ("/Client/conf-mine", {"grant_types": ["basic"], "secret": "x" * 24}),
            ("/Client/operator", {"grant_types": ["basic"], "secret": "y" * 24}),
            (f"/AccessPolicy/{other_run}-operator-allow", {"engine": "allow",
                                                           "link": [{"resourceType": "Client", "id": "operator"}]}),
            (f"/fhir/Patient/{other_run}-untagged", {"resourceType": "Patient"}),
            ("/fhir/Patient/operator-tagged", {"resourceType": "Patient", "meta": {"tag": [
                {"system": SUITE_TAG_SYSTEM, "code": "0badc0de"}]}}),
        ]:
            http.put(path, json={"id": path.rsplit("/", 1)[1], **body}).raise_for_status()
    return {"Client/conf-mine", "Client/operator", f"AccessPolicy/{other_run}-operator-allow",
            f"Patient/{other_run}-untagged", "Patient/operator-tagged"}


def test_the_leftover_command_finds_and_deletes_only_what_a_killed_run_left():
    with reference_server(server_args=LATENCY) as (url, admin_secret):
        decoys = put_decoys(url, admin_secret)
        before = listed_ids(url, admin_secret)
        with suite_process(url, admin_secret) as process:
            wait_until_created(url, admin_secret, at_least=10)
            os.killpg(process.pid, signal.SIGKILL)  # no cleanup can run
            process.wait(WAIT_S)
        left = listed_ids(url, admin_secret) - before
        assert left and suite_ids(left) == left

        recent = cleanup_command(url, admin_secret)  # a run changed minutes ago may still be going
        assert recent.returncode == 0, recent.stderr
        assert "may still be going, skipped" in recent.stdout and "0 resource(s) would be deleted" in recent.stdout

        dry = cleanup_command(url, admin_secret, "--older-than", "0")
        assert dry.returncode == 0, dry.stderr
        assert f"{len(left)} resource(s) would be deleted; nothing was deleted" in dry.stdout, dry.stdout
        assert listed_ids(url, admin_secret) - before == left
        for decoy in decoys:
            assert f"/{decoy}\n" not in dry.stdout

        done = cleanup_command(url, admin_secret, "--older-than", "0", "--delete")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{len(left)} resource(s) deleted" in done.stdout
        after = listed_ids(url, admin_secret)
        again = cleanup_command(url, admin_secret, "--older-than", "0", "--delete")
    assert after == before and decoys <= after
    assert "0 resource(s) deleted" in again.stdout


def test_the_leftover_command_needs_the_secret_in_the_environment():
    env = {key: value for key, value in os.environ.items() if key != "CONFORMANCE_ADMIN_CLIENT_SECRET"}
    completed = subprocess.run([sys.executable, "-m", "conformance.cleanup", "--server-url", "http://127.0.0.1:9"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and "CONFORMANCE_ADMIN_CLIENT_SECRET" in completed.stderr


def test_a_cleanup_that_fails_is_a_warning_in_the_verdict_naming_what_was_left(tmp_path):
    """A proxy that refuses every DELETE: the run still passes, and every output says what it left."""
    with reference_server() as (url, admin_secret):
        before = listed_ids(url, admin_secret)
        with recording_proxy(refuse={"DELETE"}) as proxy:
            run = run_suite(url, admin_secret, tmp_path, f"--proxy={proxy.url}", "-k", "documented_search",
                            f"--spec-summary={tmp_path / 'summary.md'}", f"--spec-report={tmp_path / 'report.html'}")
        left = suite_ids(listed_ids(url, admin_secret) - before)
        hint = re.search(r"delete them with: python -m conformance\.cleanup (.*?--delete)", run.output)
        assert hint, run.output[-3000:]
        tidy = cleanup_command(url, admin_secret, *hint.group(1).split()[1:])  # the run's own hint, as printed
        after = listed_ids(url, admin_secret)
    assert run.returncode == 0, run.output[-3000:]
    assert left
    assert f"CLEANUP WARNING: {len(left)} resource(s) the run created may be left on the server" in run.output
    for item in left:
        path = item.replace("Patient/", "/fhir/Patient/").replace("Observation/", "/fhir/Observation/")
        path = path if path.startswith("/") else "/" + path
        assert f"{path} (503)" in run.output, (path, run.output[-3000:])
        assert path.rsplit("/", 1)[1] in (tmp_path / "summary.md").read_text().replace("\\", "")
    assert "Cleanup" in (tmp_path / "report.html").read_text()
    assert tidy.returncode == 0 and after == before, tidy.stdout + tidy.stderr


def test_the_printed_cleanup_command_names_each_run_that_left_something():
    left = ["/Client/conf-0123abcd-client (503)", "/fhir/Patient/conf-0123abcd-patient (503)",
            "/Client/conf-89abcdef-client (--keep-resources)"]
    assert cleanup.command_for(left, "https://fhir.example.org") == (
        "python -m conformance.cleanup --server-url=https://fhir.example.org --run=0123abcd --run=89abcdef --delete")


def test_a_listing_that_fails_is_named_in_plain_words():
    def server(request: httpx.Request) -> httpx.Response:
        status = 503 if request.url.path == "/AccessPolicy" else 200
        return httpx.Response(status, json={"resourceType": "Bundle", "type": "searchset", "entry": []})

    client = SuiteClient(1.0, transport=httpx.MockTransport(server))
    lister = cleanup.Lister(HttpAgent(client, "http://server.test"), Credentials("root", "admin-secret"))
    assert cleanup.find_leftovers(lister, "/fhir", ["Observation"]) == []
    assert lister.problems == ["could not list AccessPolicies: 503"]


def test_the_leftover_command_stops_at_once_on_a_refused_admin_or_an_unreachable_server():
    """Before, both printed warnings, then '0 resource(s) would be deleted', and exited 0: read as nothing left."""
    with reference_server() as (url, admin_secret):
        refused = cleanup_command(url, f"wrong-{admin_secret}")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "error: the server refused the admin client 'root' (401 to GET /Client)" in refused.stderr
    assert "would be deleted" not in refused.stdout and f"wrong-{admin_secret}" not in refused.stderr
    unreachable = cleanup_command("http://127.0.0.1:9", admin_secret)
    assert unreachable.returncode == 1, unreachable.stdout + unreachable.stderr
    assert "error: cannot reach the server at http://127.0.0.1:9: could not connect" in unreachable.stderr
    assert "would be deleted" not in unreachable.stdout


def test_a_dry_run_that_could_not_list_everything_exits_1():
    with reference_server() as (url, admin_secret):
        dry = cleanup_command(url, admin_secret, "--fhir-base=/api")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "warning: could not list Observation resources: 404" in dry.stderr
    assert "nothing was deleted (dry run: add --delete); some listings failed" in dry.stdout
