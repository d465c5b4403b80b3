"""Unit tests of the search-answer and forbidden checks (conformance/checks.py): what FHIR R4 and RFC 9110
allow passes, what they forbid is caught under the right requirement."""

from __future__ import annotations

import json

import httpx
import pytest

from conformance import checks
from conformance.exchange import Exchange
from conformance.verdicts import Violation

BASE = "https://ehr.example/fhir"


def observation(oid: str, system: str | None = "http://loinc.org", code: str = "4548-4") -> dict:
    coding = {"code": code, **({"system": system} if system else {})}
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": {"coding": [coding]}}


def entry(resource: dict, mode: str | None = "match", full_url: str | None = None) -> dict:
    found = {"resource": resource, "fullUrl": full_url or f"{BASE}/{resource['resourceType']}/{resource['id']}"}
    if mode:
        found["search"] = {"mode": mode}
    return found


def bundle(*entries: dict, self_url: str = f"{BASE}/Observation?code=4548-4&_count=2") -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "self", "url": self_url}],
            "entry": list(entries)}


OUTCOME = {"resourceType": "OperationOutcome", "id": "oo-1",
           "issue": [{"severity": "information", "code": "informational"}]}


def violation(check, *args) -> Violation:
    with pytest.raises(Violation) as raised:
        check(*args)
    return raised.value


def answer(status: int) -> Exchange:
    response = httpx.Response(status, content=json.dumps(OUTCOME).encode(),
                              headers={"content-type": "application/fhir+json"})
    return Exchange("GET", f"{BASE}/Observation", {}, "", response)


# --- _count -----------------------------------------------------------------------------------------

def test_included_resources_and_outcomes_do_not_count_against_count():
    page = bundle(entry(observation("a1")), entry(observation("a2")),
                  entry({"resourceType": "Patient", "id": "p1"}, mode="include"), entry(OUTCOME, mode="outcome"))
    checks.page_within_count(page, 2)


def test_more_matches_than_count_is_caught():
    page = bundle(*(entry(observation(f"a{i}")) for i in range(3)))
    assert violation(checks.page_within_count, page, 2).requirement_id == "FHIR-SEARCH-COUNT"


# --- the code filter ----------------------------------------------------------------------------

def test_a_bare_code_matches_whatever_the_system():
    page = bundle(entry(observation("a1", system="http://other.example/codes")), entry(observation("a2", system=None)))
    checks.matches_carry_code(page, "Observation", None, "4548-4")


def test_system_and_code_need_that_system():
    page = bundle(entry(observation("a1", system="http://other.example/codes")))
    assert violation(checks.matches_carry_code, page, "Observation", "http://loinc.org", "4548-4")


def test_another_code_is_a_should_finding_unless_the_self_link_claims_the_filter():
    claimed = bundle(entry(observation("a1", code="2345-7")))
    unclaimed = bundle(entry(observation("a1", code="2345-7")), self_url=f"{BASE}/Observation?_count=2")
    assert violation(checks.matches_carry_code, claimed, "Observation", None, "4548-4").requirement_id == \
        "FHIR-SEARCH-SELF-LINK"
    assert violation(checks.matches_carry_code, unclaimed, "Observation", None, "4548-4").requirement_id == \
        "SEED-SEARCH-CODE"


# --- search.mode --------------------------------------------------------------------------------

def test_an_operation_outcome_entry_is_marked_outcome_not_match():
    checks.entries_have_match_mode(bundle(entry(observation("a1")), entry(OUTCOME, mode="outcome")))
    assert violation(checks.entries_have_match_mode, bundle(entry(OUTCOME, mode="match")))


def test_a_match_without_a_mode_is_noted():
    found = violation(checks.entries_have_match_mode, bundle(entry(observation("a1"), mode=None)))
    assert "entry 0: None" in str(found)


# --- fullUrl ------------------------------------------------------------------------------------

@pytest.mark.parametrize("full_url", [
    f"{BASE}/Observation/a1",
    f"{BASE}/Observation/a1/_history/3",       # version-specific: still that resource
    "https://other.example/r4/Observation/a1",  # another server: FHIR R4 http §search allows it
    "urn:uuid:0f7c6f1e-9c0e-4f5e-9b1a-2d7c1c7f3a10",
    "https://ehr.example/lookup?resource=abc",  # absolute, not RESTful: the id rule does not apply
])
def test_full_urls_fhir_allows_pass(full_url):
    checks.entries_have_absolute_full_url(bundle(entry(observation("a1"), full_url=full_url)))


@pytest.mark.parametrize("full_url", [
    "Observation/a1",                           # relative
    f"{BASE}/Observation/another-id",           # RESTful, but disagrees with the id
    f"{BASE}/Patient/a1",                       # RESTful, another type
])
def test_full_urls_fhir_forbids_are_caught(full_url):
    found = violation(checks.entries_have_absolute_full_url, bundle(entry(observation("a1"), full_url=full_url)))
    assert found.requirement_id == "FHIR-BUNDLE-FULLURL"


def test_a_missing_full_url_is_caught():
    page = bundle({"resource": observation("a1"), "search": {"mode": "match"}})
    assert violation(checks.entries_have_absolute_full_url, page)


# --- forbidden ----------------------------------------------------------------------------------

def test_forbidden_passes_as_403_and_404_and_404_is_noted():
    checks.refused_as_forbidden(answer(403))
    checks.forbidden_hidden_as_not_found(answer(403))
    checks.refused_as_forbidden(answer(404))
    assert violation(checks.forbidden_hidden_as_not_found, answer(404)).requirement_id == "RFC9110-15.5.4-404"


def test_forbidden_answered_as_unauthenticated_is_caught():
    assert violation(checks.refused_as_forbidden, answer(401)).requirement_id == "RFC9110-15.5.4-403"
