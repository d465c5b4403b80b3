"""Outcomes, waivers, stale waivers and the exit code (conformance.outcomes), without running the suite."""

from __future__ import annotations

import json

import httpx
import pytest

from conformance.exchange import Exchange
from conformance.outcomes import (FAIL, PASS, SKIP, WAIVED, WARN, RunResult, ScenarioRecord, Waiver, WaiverError,
                                  exit_status, judge, load_waivers, parse_findings)
from conformance.redaction import SecretRegistry
from conformance.verdicts import Violation, describe_violation

MUST_ID, OTHER_MUST_ID, SHOULD_ID = "RFC7617-2-VALIDATE", "NO-DATA-IN-REFUSAL", "RFC9110-11.4-401"


# --- waivers files -------------------------------------------------------------------------------

def test_yaml_waivers_are_read_by_requirement_id(tmp_path):
    path = tmp_path / "waivers.yaml"
    path.write_text(f"waivers:\n  - requirement: {MUST_ID}\n    reason: gateway bug, ticket OPS-1\n")
    assert load_waivers(path) == {MUST_ID: Waiver(MUST_ID, "gateway bug, ticket OPS-1")}


def test_json_waivers_and_a_bare_list_are_read_too(tmp_path):
    path = tmp_path / "waivers.json"
    path.write_text(json.dumps([{"requirement": SHOULD_ID, "reason": "we answer 403 on purpose"}]))
    assert load_waivers(path) == {SHOULD_ID: Waiver(SHOULD_ID, "we answer 403 on purpose")}


def test_an_empty_waivers_file_waives_nothing(tmp_path):
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers: []\n")
    assert load_waivers(path) == {}


@pytest.mark.parametrize("text, complaint", [
    ("waivers:\n  - requirement: NOT-A-REQUIREMENT\n    reason: x\n", "is not a requirement"),
    (f"waivers:\n  - requirement: {MUST_ID}\n", "needs a 'reason'"),
    (f"waivers:\n  - requirement: {MUST_ID}\n    reason: '  '\n", "needs a 'reason'"),
    ("waivers:\n  - reason: x\n", "'requirement' is missing"),
    (f"waivers:\n  - {{requirement: {MUST_ID}, reason: a}}\n  - {{requirement: {MUST_ID}, reason: b}}\n", "waived twice"),
    (f"waivers:\n  - requirement: {MUST_ID}\n    reason: x\n    until: 2030\n", "unknown keys"),
    (f"waiver:\n  - requirement: {MUST_ID}\n", "unknown top-level keys"),
    ("waivers: {a: b}\n", "expected a list"),
    ("waivers:\n  - just a string\n", "expected a mapping"),
    ("waivers: [unclosed\n", "not valid YAML"),
])
def test_a_waivers_file_that_cannot_be_trusted_is_refused_with_the_reason(tmp_path, text, complaint):
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    with pytest.raises(WaiverError, match=complaint):
        load_waivers(path)


def test_a_missing_waivers_file_is_refused(tmp_path):
    with pytest.raises(WaiverError, match="cannot read"):
        load_waivers(tmp_path / "absent.yaml")


@pytest.mark.parametrize("name, content, complaint", [
    ("waivers.yaml", "waivers:\n  - requirement: X\n    reason: caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    ("waivers.json", b"\xff\xfe[\x00]\x00", "not UTF-8 text"),
    ("waivers.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("waivers.yaml", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("waivers.json", b"[" + b"9" * 5000 + b"]", "not valid JSON"),
    ("waivers.yaml", b"waivers: " + b"9" * 5000, "not valid YAML"),
])
def test_a_waivers_file_that_cannot_be_read_as_text_or_data_is_refused(tmp_path, name, content, complaint):
    """Each of these was an INTERNALERROR (UnicodeDecodeError, RecursionError) instead of a usage error."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WaiverError, match=complaint):
        load_waivers(path)


# --- the messages checks produce ------------------------------------------------------------------

def _exchange() -> Exchange:
    request = httpx.Request("GET", "http://server.test/fhir/Observation?code=4548-4")
    response = httpx.Response(200, request=request, json={"resourceType": "Bundle"})
    return Exchange("GET", str(request.url), {"authorization": "Basic abc"}, "", response)


def test_findings_are_read_back_from_the_messages_verdicts_write():
    """Pins the format of conformance.verdicts.describe_violation that the reports parse."""
    registry = SecretRegistry()
    first = describe_violation(Violation("a refusal (4xx)", "status 200", MUST_ID, _exchange()), registry)
    second = describe_violation(Violation("401 Unauthorized", "status 403", SHOULD_ID), registry)
    findings = parse_findings(first + "\n\n" + second)
    assert [(f.level, f.requirement_id, f.expected, f.actual) for f in findings] == [
        ("MUST", MUST_ID, "a refusal (4xx)", "status 200"),
        ("SHOULD", SHOULD_ID, "401 Unauthorized", "status 403"),
    ]
    assert findings[0].request == "GET http://server.test/fhir/Observation?code=4548-4"
    assert findings[0].response == "200 OK"
    assert findings[0].one_line() == "expected a refusal (4xx); got status 200"


def test_text_in_another_format_yields_no_findings():
    assert parse_findings("AssertionError: something else\n  expected: x") == []


# --- one scenario's outcome -----------------------------------------------------------------------

def _message(requirement_id: str, level: str = "MUST") -> str:
    return f"[{level}] {requirement_id} (source): text\n  expected: E\n  actual:   A\n  see: url"


def record(call: str = "passed", failed: tuple[str, ...] = (), warned: tuple[str, ...] = (), setup: str = "passed",
           error: str = "", skip_reason: str = "", cites: tuple[str, ...] = (MUST_ID, OTHER_MUST_ID, SHOULD_ID),
           name: str = "s") -> ScenarioRecord:
    """A scenario that passed held every requirement it cites but those it broke; one that failed or was skipped
    held none (it may have stopped before any check)."""
    phases = {"setup": setup, "teardown": "passed"}
    if setup == "passed":
        phases["call"] = call
    held = [rid for rid in cites if rid not in failed + warned] if setup == call == "passed" else []
    return ScenarioRecord(
        nodeid=f"steps/test_x.py::{name}", title=name, requirement_ids=list(cites), phase_outcomes=phases,
        failed_ids=list(failed), failure_message="\n\n".join(_message(rid) for rid in failed),
        warnings=[_message(rid, "SHOULD") for rid in warned], error=error, skip_reason=skip_reason, held_ids=held)


WAIVE_MUST = {MUST_ID: Waiver(MUST_ID, "known")}


@pytest.mark.parametrize("scenario, waivers, outcome", [
    (record(), {}, PASS),
    (record(call="failed", failed=(MUST_ID,)), {}, FAIL),
    (record(call="failed", failed=(MUST_ID,)), WAIVE_MUST, WAIVED),
    (record(call="failed", failed=(MUST_ID, OTHER_MUST_ID)), WAIVE_MUST, FAIL),
    (record(call="failed", failed=(MUST_ID,), warned=(SHOULD_ID,)), WAIVE_MUST, WAIVED),
    (record(warned=(SHOULD_ID,)), {}, WARN),
    (record(warned=(SHOULD_ID,)), {SHOULD_ID: Waiver(SHOULD_ID, "by design")}, WAIVED),
    (record(call="skipped", skip_reason="control failed: x"), {}, SKIP),
    (record(setup="skipped", skip_reason="needs provisioning"), {}, SKIP),
    (record(call="failed", error="E   KeyError: 'entry'"), {}, FAIL),
    (record(setup="failed", error="error while preparing the scenario: boom"), WAIVE_MUST, FAIL),
])
def test_each_scenario_gets_the_outcome_of_what_broke_and_what_is_waived(scenario, waivers, outcome):
    assert judge(scenario, waivers).outcome == outcome


def test_the_cause_names_the_requirement_and_what_was_expected_and_seen():
    failed = judge(record(call="failed", failed=(MUST_ID,)), {})
    assert failed.cause == f"{MUST_ID} [MUST]: expected E; got A"
    skipped = judge(record(call="skipped", skip_reason="control failed: the right secret was refused"), {})
    assert skipped.cause == "control failed: the right secret was refused"
    errored = judge(record(call="failed", error="Traceback\nE   KeyError: 'entry'\nmore"), {})
    assert errored.cause == "KeyError: 'entry'"


def test_records_travel_as_plain_data():
    original = judge(record(call="failed", failed=(MUST_ID,), warned=(SHOULD_ID,)), {})
    original.exchanges = [{"method": "GET", "url": "u"}]
    assert ScenarioRecord.from_dict(json.loads(json.dumps(original.to_dict()))) == original


# --- the run: stale waivers and the exit code ------------------------------------------------------

def run(*records: ScenarioRecord, waivers: dict | None = None) -> RunResult:
    waivers = waivers or {}
    return RunResult([judge(r, waivers) for r in records], waivers)


def test_a_waiver_whose_requirement_still_breaks_is_used():
    result = run(record(call="failed", failed=(MUST_ID,)), waivers=WAIVE_MUST)
    assert [s.state for s in result.waiver_statuses()] == ["used"]
    assert result.passed


def test_a_waiver_whose_requirement_now_holds_is_stale_and_fails_the_run():
    result = run(record(name="a"), record(name="b"), waivers=WAIVE_MUST)
    assert [s.state for s in result.stale_waivers()] == ["stale"]
    assert not result.passed
    assert result.gate_explanation() == "failed: 1 stale waiver"
    assert exit_status(result, 0, 0) == 1


def test_a_waiver_is_not_called_stale_without_evidence():
    """Skipped, or stopped early by another failure: the waived requirement may not have been checked."""
    skipped_only = run(record(call="skipped", skip_reason="needs provisioning"), waivers=WAIVE_MUST)
    stopped = run(record(name="a"), record(name="b", call="failed", failed=(OTHER_MUST_ID,)), waivers=WAIVE_MUST)
    not_cited = run(record(cites=(SHOULD_ID,)), waivers=WAIVE_MUST)
    for result in (skipped_only, stopped, not_cited):
        assert [s.state for s in result.waiver_statuses()] == ["unconfirmed"]
        assert not result.stale_waivers()


@pytest.mark.parametrize("records, waivers, pytest_status, tests_failed, expected", [
    ((record(),), {}, 0, 0, 0),
    ((record(warned=(SHOULD_ID,)),), {}, 0, 0, 0),                                 # SHOULD alone passes
    ((record(call="failed", failed=(MUST_ID,)),), {}, 1, 1, 1),                   # a MUST failure fails
    ((record(call="failed", failed=(MUST_ID,)),), WAIVE_MUST, 0, 0, 0),           # unless waived
    ((record(),), WAIVE_MUST, 0, 0, 1),                                            # a stale waiver fails
    ((record(call="failed", error="E   boom"),), {}, 1, 1, 1),                    # an error fails
    ((record(),), {}, 1, 1, 1),                                                    # pytest saw another failure
    ((record(),), {}, 2, 0, 2),                                                    # interrupted: pytest's own code
    ((record(),), {}, 4, 0, 4),                                                    # usage error
    ((), {}, 5, 0, 5),                                                             # nothing collected
])
def test_the_exit_code_is_zero_exactly_when_no_must_failed_and_no_waiver_is_stale(
        records, waivers, pytest_status, tests_failed, expected):
    assert exit_status(run(*records, waivers=waivers), pytest_status, tests_failed) == expected


def test_findings_are_listed_across_scenarios_whatever_their_label():
    waived_with_warning = record(name="a", call="failed", failed=(MUST_ID,), warned=(SHOULD_ID,))
    failing = record(name="b", call="failed", failed=(MUST_ID, OTHER_MUST_ID))
    result = run(waived_with_warning, failing, waivers=WAIVE_MUST)
    assert [(r.title, rid) for r, rid, _ in result.failures()] == [("b", OTHER_MUST_ID)]
    assert [(r.title, rid) for r, rid, _ in result.warnings()] == [("a", SHOULD_ID)]
    assert [(r.title, rid) for r, rid, _ in result.waived()] == [("a", MUST_ID), ("b", MUST_ID)]
    assert result.counts() == {FAIL: 1, WARN: 0, WAIVED: 1, SKIP: 0, PASS: 0}


# --- what each scenario found of each requirement: the requirements table -------------------------

def test_a_check_with_nothing_to_judge_is_not_applicable_never_met():
    """RFC7617-2-REALM against a server that sends no challenge at all: there is no realm to look for."""
    from conformance.checks import basic_challenge_has_realm, challenges_at_all, grantless_client_not_served
    from conformance.verdicts import NotApplicable, Verdict

    request = httpx.Request("GET", "http://server.test/fhir/Observation")
    no_challenge = Exchange("GET", str(request.url), {}, "", httpx.Response(401, request=request))
    served = Exchange("GET", str(request.url), {}, "", httpx.Response(200, request=request))
    with_realm = Exchange("GET", str(request.url), {}, "", httpx.Response(
        401, request=request, headers={"www-authenticate": 'Basic realm="fhir"'}))
    assert isinstance(basic_challenge_has_realm(no_challenge), NotApplicable)
    assert isinstance(basic_challenge_has_realm(served), NotApplicable)
    assert basic_challenge_has_realm(with_realm) is None
    verdict = Verdict(SecretRegistry(), False)
    with pytest.raises(AssertionError):
        verdict.check((basic_challenge_has_realm, no_challenge), (challenges_at_all, no_challenge),
                      (grantless_client_not_served, no_challenge))
    assert verdict.held == {"SEED-BASIC-GRANT"}  # judged in the same step as the failure, and met
    assert set(verdict.not_applicable) == {"RFC7617-2-REALM"}


def test_each_requirement_shows_what_every_scenario_found_of_it():
    """The table the reviewers found misleading: REALM 'met' against a server that sent no challenge, VALIDATE
    'broken' next to every scenario though it broke in one, SEED-BASIC-GRANT 'not checked' though both its
    scenarios got the refusal they check (and failed on another requirement)."""
    realm, challenge, grant, validate = "RFC7617-2-REALM", "RFC9110-11.6.1", "SEED-BASIC-GRANT", MUST_ID

    def scenario(name: str, cites: tuple, failed: tuple = (), held: tuple = (), not_applicable: tuple = ()):
        made = record(name=name, call="failed" if failed else "passed", failed=failed, cites=cites)
        made.held_ids, made.not_applicable = list(held), {rid: "nothing to judge" for rid in not_applicable}
        return made

    result = run(
        scenario("grantless", (grant, challenge, realm), failed=(challenge,), held=(grant,), not_applicable=(realm,)),
        scenario("empty secret", (validate, challenge, realm), failed=(validate,), not_applicable=(challenge, realm)),
        scenario("wrong secret", (validate, challenge, realm), failed=(challenge,), held=(validate,),
                 not_applicable=(realm,)),
        scenario("skipped", (validate,)),
    )
    result.records[-1].phase_outcomes["call"] = "skipped"
    result.records[-1].held_ids = []
    rows = {row["requirement"].id: row for row in result.requirement_summary()}
    assert rows[realm]["verdict"] == "not applicable"
    assert rows[grant]["verdict"] == PASS
    assert rows[validate]["verdict"] == FAIL
    assert [(r.title, status) for r, status in rows[validate]["scenarios"]] == [
        ("empty secret", FAIL), ("wrong secret", PASS), ("skipped", "not checked")]
    assert rows[challenge]["verdict"] == FAIL and ("empty secret", "not applicable") in [
        (r.title, status) for r, status in rows[challenge]["scenarios"]]


def test_a_waiver_of_a_requirement_found_not_applicable_is_not_stale():
    scenario = record()
    scenario.held_ids, scenario.not_applicable = [OTHER_MUST_ID, SHOULD_ID], {MUST_ID: "no 401 to look at"}
    result = run(scenario, waivers=WAIVE_MUST)
    assert [s.state for s in result.waiver_statuses()] == ["unconfirmed"] and result.passed
