"""The whole suite, as a user runs it, against servers broken on purpose (tests/hostile_server.py, issue 5).

Against each one the run must end in bounded time (--http-timeout 1), fail (exit 1: the gate holds), say
what the problem was, and show no INTERNALERROR and no error of the suite's own code. Where the server
redirects elsewhere or links to another origin, that other origin must receive nothing at all: no
request, so no credential. The runs go in parallel threads, each its own pytest process."""

from __future__ import annotations

import base64
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from conformance.credentials import fresh_secret
from conformance.exchange import UNANSWERED_IN_A_ROW
from conformance.provisioning import CONCURRENT_ADMIN_REQUESTS
from tests.hostile_server import hostile_server, recorder
from tests.suite_runner import SuiteRun, run_suite

HTTP_TIMEOUT = 1
BOUND_S = 90  # seconds a run may take against any of these servers (on a loaded 2-core machine)

# mode -> text the run's output must contain: the problem, named
EXPECTED = {
    "html": "'text/html'",
    "invalid-json": "a body that is not JSON",
    "wrong-type": "resourceType 'Patient'",
    "error-500": "status 500",
    "hang": f"no answer within --http-timeout ({HTTP_TIMEOUT} s)",
    "close-mid-response": "closed the connection mid-answer",
    "huge-body": "with a body of more than 4 MB, the most the suite reads",
    "huge-declared": "more than the 4 MB the suite reads; the body was not read",
    "drip": f"still arriving after --http-timeout ({HTTP_TIMEOUT} s)",
    "redirect": "a redirect to http://127.0.0.1:",
    "foreign-next-link": "(not followed: credentials would leave the server;",
}
# With a pre-registered client (--provisioning none) only the client's own credentials are at stake.
CASES = [(mode, "aidbox") for mode in EXPECTED] + [("redirect", "none")]


@dataclass
class HostileRun:
    run: SuiteRun
    seconds: float
    requests: int            # requests the hostile server received
    elsewhere: list[dict]    # requests the other origin received (must be none)
    secrets: list[str]       # the secrets the run was given


def _run_against(mode: str, provisioning: str, workdir) -> HostileRun:
    admin_secret, client_secret = fresh_secret(), fresh_secret()
    extra = [f"--http-timeout={HTTP_TIMEOUT}"]
    env = {}
    if provisioning == "none":
        extra += ["--provisioning", "none"]
        env = {"CONFORMANCE_CLIENT_ID": "pre-registered", "CONFORMANCE_CLIENT_SECRET": client_secret}
    with recorder() as other, hostile_server(mode, other.url) as server:
        started = time.monotonic()
        run = run_suite(server.url, admin_secret if provisioning == "aidbox" else "", workdir, *extra, env=env)
        seconds = time.monotonic() - started
        return HostileRun(run, seconds, len(server.received), list(other.received), [admin_secret, client_secret])


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory):
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {(mode, provisioning): pool.submit(_run_against, mode, provisioning,
                                                     tmp_path_factory.mktemp(f"{mode}-{provisioning}"))
                   for mode, provisioning in CASES}
        return {case: future.result() for case, future in futures.items()}


@pytest.mark.parametrize("mode,provisioning", CASES, ids=[f"{m}-{p}" for m, p in CASES])
def test_the_suite_fails_clearly_and_in_bounded_time(hostile_runs, mode, provisioning):
    result = hostile_runs[(mode, provisioning)]
    output = result.run.output
    assert result.seconds < BOUND_S, f"{mode}: {result.seconds:.0f} s"
    assert "INTERNALERROR" not in output, output[-3000:]
    assert "Traceback (most recent call last)" not in output, output[-3000:]
    assert "scenario errored" not in output, output[-3000:]  # an exception in the suite's own code
    assert result.run.returncode == 1, f"{mode}: exit {result.run.returncode}\n{output[-3000:]}"
    assert "error" not in set(result.run.outcomes.values()), result.run.outcomes
    assert "failed" in set(result.run.outcomes.values())
    assert EXPECTED[mode] in output, f"{mode}: {EXPECTED[mode]!r} not in\n{output[-4000:]}"
    assert result.requests > 0


@pytest.mark.parametrize("mode,provisioning", [c for c in CASES if c[0] in ("redirect", "foreign-next-link")],
                         ids=lambda value: value)
def test_no_request_and_no_credential_reaches_another_origin(hostile_runs, mode, provisioning):
    result = hostile_runs[(mode, provisioning)]
    assert result.elsewhere == [], result.elsewhere
    for secret in result.secrets:
        assert secret not in result.run.output
        assert base64.b64encode(secret.encode()).decode()[:16] not in result.run.output


def test_the_server_that_never_answers_is_not_waited_on_for_every_request(hostile_runs):
    """Three unanswered requests in a row, then the suite stops sending, and tries once more to clean up.
    Admin requests go a few at a time, so a batch already in flight, and the cleanup's one more try, may
    each add that many: still a handful of timeouts, not one per request."""
    result = hostile_runs[("hang", "aidbox")]
    assert result.requests <= UNANSWERED_IN_A_ROW + 2 * CONCURRENT_ADMIN_REQUESTS, result.requests
    assert re.search(r"the server left the last \d+ requests unanswered", result.run.output), result.run.output[-3000:]
    assert "CLEANUP WARNING" in result.run.output
