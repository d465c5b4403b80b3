"""The suite as a user runs it: a separate pytest process, over real HTTP, against a reference server
started as a separate process with --server-url (issue #2). It passes, leaves nothing behind, works
with a pre-registered client under --provisioning none, and prints no secret."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from conformance.credentials import basic_header, fresh_secret
from conformance.provisioning import ID_PREFIX
from tests.suite_runner import reference_server, run_as_typed, run_suite

LISTED = ("/Client", "/AccessPolicy", "/fhir/Patient", "/fhir/Observation")


def listed_ids(url: str, admin_secret: str) -> set[str]:
    """Every Client, AccessPolicy, Patient and Observation on the server, as 'Type/id'."""
    found = set()
    with httpx.Client(base_url=url, headers={"authorization": basic_header("root", admin_secret)}) as http:
        for path in LISTED:
            response = http.get(path, params={"_count": 1000})
            for _ in range(5):  # a throttling server (--throttle-every) may answer 429 here too
                if response.status_code != 429:
                    break
                response = http.get(path, params={"_count": 1000})
            bundle = response.json()
            found |= {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])}
    return found


def test_suite_passes_and_leaves_the_server_as_it_found_it(tmp_path):
    with reference_server() as (url, admin_secret):
        before = listed_ids(url, admin_secret)
        run = run_suite(url, admin_secret, tmp_path)
        after = listed_ids(url, admin_secret)
    assert run.returncode == 0, run.output[-4000:]
    assert run.outcomes and set(run.outcomes.values()) == {"passed"}, run.outcomes
    left = sorted(after - before)
    assert not left, f"the run left behind: {left}"
    assert not [i for i in after if i.split("/", 1)[1].startswith(ID_PREFIX)], after


def test_admin_secret_appears_in_no_output(tmp_path):
    with reference_server() as (url, admin_secret):
        run = run_suite(url, admin_secret, tmp_path, "-rA", "-v")
    token = base64.b64encode(f"root:{admin_secret}".encode()).decode()
    for name, text in {"terminal": run.output, **run.files}.items():
        assert admin_secret not in text and token not in text, f"the admin secret is in {name}"


def test_a_server_that_locks_out_clients_after_wrong_secrets_passes(tmp_path):
    """Locking a client out after a few failed logins is good practice, not a fault: every negative scenario has
    a client of its own, so no client meets more than a couple of wrong secrets."""
    with reference_server(server_args=("--lockout-after", "3")) as (url, admin_secret):
        run = run_suite(url, admin_secret, tmp_path)
    assert run.returncode == 0, run.output[-4000:]
    assert run.outcomes and set(run.outcomes.values()) == {"passed"}, run.outcomes


def register_operator_client(url: str, admin_secret: str) -> tuple[str, str]:
    """What an operator does before running the suite under --provisioning none: seed Steps 1-2, and data."""
    client_id, secret = "operator-registered-client", fresh_secret()
    with httpx.Client(base_url=url, headers={"authorization": basic_header("root", admin_secret)}) as http:
        http.put(f"/Client/{client_id}", json={"id": client_id, "secret": secret,
                                               "grant_types": ["basic"]}).raise_for_status()
        http.put(f"/AccessPolicy/{client_id}-allow", json={
            "id": f"{client_id}-allow", "engine": "allow",
            "link": [{"resourceType": "Client", "id": client_id}]}).raise_for_status()
        http.put("/fhir/Observation/operator-hba1c", json={
            "resourceType": "Observation", "id": "operator-hba1c", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}}).raise_for_status()
    return client_id, secret


def test_a_server_that_paces_the_run_with_429s_passes_and_is_left_clean(tmp_path):
    """A rate limit (429 with Retry-After) is waited out and the request sent again, provisioning and cleanup
    included: every seventh request throttled, the run still passes and leaves nothing behind."""
    with reference_server(server_args=("--throttle-every", "7")) as (url, admin_secret):
        before = listed_ids(url, admin_secret)
        run = run_suite(url, admin_secret, tmp_path)
        after = listed_ids(url, admin_secret)
    assert run.returncode == 0, run.output[-4000:]
    assert run.outcomes and set(run.outcomes.values()) == {"passed"}, run.outcomes
    assert after == before, sorted(after - before)


def test_a_client_served_where_a_pattern_policy_may_allow_it_is_not_judged(tmp_path):
    """A server with an Aidbox matcho policy allowing every GET serves a client the suite linked to no policy:
    no fault of the server's, so the forbidden scenarios skip, saying why (here the reference server ignores
    policies, so a server at fault would have failed them: see the verdict matrix's ignore-access-policy)."""
    with reference_server("ignore-access-policy") as (url, admin_secret):
        with httpx.Client(base_url=url, headers={"authorization": basic_header("root", admin_secret)}) as http:
            http.put("/AccessPolicy/public-read", json={"id": "public-read", "engine": "matcho",
                                                        "matcho": {"request-method": "get"}}).raise_for_status()
        run = run_suite(url, admin_secret, tmp_path, "-k", "forbidden")
    assert run.returncode == 0, run.output[-4000:]
    assert run.outcomes and set(run.outcomes.values()) == {"skipped"}, run.outcomes
    assert "AccessPolicy/public-read (engine 'matcho')" in run.output, run.output[-3000:]


@pytest.fixture
def pre_registered_client():
    with reference_server() as (url, admin_secret):
        yield url, *register_operator_client(url, admin_secret), admin_secret


def test_provisioning_none_uses_the_given_client_and_skips_the_rest_with_a_reason(pre_registered_client, tmp_path,
                                                                                   monkeypatch):
    url, client_id, secret, _ = pre_registered_client
    monkeypatch.setenv("CONFORMANCE_CLIENT_ID", client_id)
    monkeypatch.setenv("CONFORMANCE_CLIENT_SECRET", secret)
    run = run_suite(url, "", tmp_path, "--provisioning", "none")
    assert run.returncode == 0, run.output[-4000:]
    passed, skipped = run.with_outcome("passed"), run.with_outcome("skipped")
    assert any("documented_search" in name for name in passed), passed
    assert any("secret_that_is_variant" in name for name in passed), passed
    assert any("following_next_links" in name for name in skipped), skipped
    assert "needs provisioning" in run.output, run.output[-3000:]
    assert any("administrators_secret" in name for name in skipped), skipped  # no admin secret was given
    assert "not applicable: the run does not know the administrator's secret" in run.output
    assert secret not in run.output and all(secret not in text for text in run.files.values())


def test_provisioning_none_against_a_locking_out_server_skips_what_the_lockout_makes_unprovable(tmp_path, monkeypatch):
    """One pre-registered client takes every wrong secret: the seed search runs first and passes; once the
    server locks the client out (429), what would need its own credentials accepted skips as throttled."""
    with reference_server(server_args=("--lockout-after", "3")) as (url, admin_secret):
        client_id, secret = register_operator_client(url, admin_secret)
        monkeypatch.setenv("CONFORMANCE_CLIENT_ID", client_id)
        monkeypatch.setenv("CONFORMANCE_CLIENT_SECRET", secret)
        run = run_suite(url, "", tmp_path, "--provisioning", "none")
    assert run.returncode == 0, run.output[-4000:]
    assert not run.with_outcome("failed"), run.output[-4000:]
    assert any("documented_search" in name for name in run.with_outcome("passed")), run.outcomes
    assert "throttled the client (429" in run.output, run.output[-3000:]


ADMIN_SCENARIO = "administrators_secret"  # "A client id with the administrator's secret is refused"


def test_provisioning_none_with_the_admin_secret_runs_its_scenario_after_a_control(pre_registered_client, tmp_path,
                                                                                    monkeypatch):
    url, client_id, secret, admin_secret = pre_registered_client
    monkeypatch.setenv("CONFORMANCE_CLIENT_ID", client_id)
    monkeypatch.setenv("CONFORMANCE_CLIENT_SECRET", secret)
    run = run_suite(url, admin_secret, tmp_path, "--provisioning", "none", "-k", ADMIN_SCENARIO)
    assert run.returncode == 0, run.output[-4000:]
    assert run.with_outcome("passed") and all(ADMIN_SCENARIO in name for name in run.outcomes), run.outcomes


def test_provisioning_none_with_a_refused_admin_secret_is_a_usage_error_not_a_vacuous_pass(
        pre_registered_client, tmp_path, monkeypatch):
    """A wrong admin secret is refused under any client id: the scenario would pass having shown nothing."""
    url, client_id, secret, admin_secret = pre_registered_client
    monkeypatch.setenv("CONFORMANCE_CLIENT_ID", client_id)
    monkeypatch.setenv("CONFORMANCE_CLIENT_SECRET", secret)
    run = run_suite(url, f"wrong-{admin_secret}", tmp_path, "--provisioning", "none")
    assert run.returncode == 4, run.output[-4000:]
    assert "ERROR: the server refused the admin client 'root' (401 to GET /fhir/Observation)" in run.output
    assert "passed" not in run.outcomes.values(), run.outcomes


def test_provisioning_none_with_a_refused_client_secret_fails_the_seed_search_rather_than_stopping(
        pre_registered_client, tmp_path, monkeypatch):
    """The pre-flight stops only on what it can tell apart: a 401 to the client may be the server's fault."""
    url, client_id, _, _ = pre_registered_client
    monkeypatch.setenv("CONFORMANCE_CLIENT_ID", client_id)
    monkeypatch.setenv("CONFORMANCE_CLIENT_SECRET", fresh_secret())
    run = run_suite(url, "", tmp_path, "--provisioning", "none")
    assert run.returncode == 1, run.output[-4000:]
    assert "FAIL  [MUST] SEED-SEARCH-BASIC" in run.output, run.output[-4000:]


def test_the_run_says_which_server_it_tests_at_the_start_and_in_the_verdict(tmp_path):
    embedded = run_as_typed("-k", "documented_search")  # not -q: pytest prints its header
    output = embedded.stdout + embedded.stderr
    assert embedded.returncode == 0, output[-3000:]
    header = output[:output.index("collected")]
    assert "server under test: the embedded reference server, started by the suite\n" in header
    assert re.search(r"^server under test: the embedded reference server, started by the suite "
                     r"\(http://127\.0\.0\.1:\d+\)$", output, re.MULTILINE), output[-3000:]
    with reference_server() as (url, admin_secret):
        run = run_suite(url, admin_secret, tmp_path, "-k", "documented_search")
    assert run.returncode == 0, run.output[-3000:]
    assert f"\nserver under test: {url} (FHIR base /fhir)\n" in run.output
