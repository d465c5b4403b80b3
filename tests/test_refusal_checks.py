"""Unit tests of the refusal checks (conformance/checks.py, token_checks.py) on answers a hostile or careless
server gives: what RFC 9110, RFC 7617, RFC 6749 and FHIR R4 allow passes, what they forbid is caught."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from conformance import checks, token_checks
from conformance.exchange import Exchange
from conformance.redaction import FRAGMENT, REDACTED, SecretRegistry
from conformance.verdicts import Violation
from steps.clients import allows_every_request

SECRET = "Zq8PwLm2Nk7Rt5Hs9Jd4Gf6Bc1VaXy3"
TOKEN = base64.b64encode(f"client-a:{SECRET}".encode()).decode()
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}


def answer(status: int, body=OUTCOME, headers: dict | None = None, sent: str | None = f"Basic {TOKEN}",
           raw: bytes | None = None) -> Exchange:
    content = raw if raw is not None else json.dumps(body).encode()
    response = httpx.Response(status, content=content, headers={"content-type": "application/fhir+json", **(headers or {})})
    return Exchange("GET", "https://ehr.example/fhir/Observation", {"authorization": sent} if sent else {}, "", response)


def violation(check, *args) -> Violation:
    with pytest.raises(Violation) as raised:
        check(*args)
    return raised.value


# --- what a refusal may carry ---------------------------------------------------------------------

def test_a_contained_resource_in_a_refusal_is_a_leak_whatever_its_id():
    leaky = {**OUTCOME, "contained": [{"resourceType": "Observation", "id": "1"}]}
    found = violation(checks.refusal_carries_no_data, answer(401, leaky), [])
    assert "Observation" in str(found) and found.requirement_id == "NO-DATA-IN-REFUSAL"


def test_an_empty_bundle_or_an_answer_that_served_the_request_is_not_a_refusal_leak():
    checks.refusal_carries_no_data(answer(403, {"resourceType": "Bundle", "type": "searchset", "total": 0}), [])
    checks.refusal_carries_no_data(answer(200, {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}]}), [])


def test_a_redirect_to_a_login_page_is_not_a_failed_search():
    found = violation(checks.search_failed_with_client_error, answer(302, headers={"location": "/login"}))
    assert found.requirement_id == "FHIR-SEARCH-FAILURE-4XX"
    checks.search_failed_with_client_error(answer(401))


def test_the_sent_credentials_echoed_without_padding_in_a_header_are_caught():
    echoed = answer(401, headers={"x-received": f"Basic {TOKEN.rstrip('=')}"})
    assert violation(checks.secret_not_echoed, echoed, []).requirement_id == "NO-SECRET-IN-RESPONSE"
    checks.secret_not_echoed(answer(401), [SECRET])


@pytest.mark.parametrize("sent", [SECRET + "x", SECRET[:-1], SECRET.swapcase()])
def test_the_start_of_the_secret_sent_quoted_in_a_refusal_is_caught(sent):
    """16 characters of the secret sent: of the real one too, when it was sent with a character more or less."""
    quoted = answer(401, {**OUTCOME, "issue": [{"severity": "error", "code": "login", "diagnostics": f"starts {sent[:16]}"}]})
    assert violation(checks.secret_not_echoed, quoted, [sent, SECRET]).requirement_id == "NO-SECRET-IN-RESPONSE"


def test_a_piece_of_the_sent_token_in_a_refusal_is_caught_and_a_shorter_one_is_not():
    assert violation(checks.secret_not_echoed, answer(401, headers={"x-got": TOKEN[8:8 + FRAGMENT]}), [])
    checks.secret_not_echoed(answer(401, headers={"x-got": TOKEN[8:8 + FRAGMENT - 1]}), [SECRET])


# --- challenges -----------------------------------------------------------------------------------

def test_a_scheme_named_inside_a_quoted_value_is_no_challenge():
    values = ['Bearer realm="token", error_description="bad client, Basic auth failed"']
    assert checks.challenge_schemes(values) == ["bearer"]


@pytest.mark.parametrize("value", ['Basic realm="fhir"', 'Basic realm = "fhir" , charset = "UTF-8"',
                                   'Bearer realm="x", Basic realm="fhir", charset="UTF-8"', 'Basic realm=fhir'])
def test_a_basic_challenge_with_a_realm_passes(value):
    checks.basic_challenge_has_realm(answer(401, headers={"www-authenticate": value}))


@pytest.mark.parametrize("value", ['Basic', 'Basic charset="UTF-8"', 'Basic charset="realm=x"',
                                   'Basic charset="UTF-8", Bearer realm="x"'])
def test_a_basic_challenge_without_a_realm_is_caught(value):
    found = violation(checks.basic_challenge_has_realm, answer(401, headers={"www-authenticate": value}))
    assert found.requirement_id == "RFC7617-2-REALM"


# --- telling refusals apart -----------------------------------------------------------------------

def test_refusals_differing_only_in_a_random_trace_id_are_alike():
    def refusal(trace: str) -> Exchange:
        return answer(401, {**OUTCOME, "issue": [{"severity": "error", "code": "login", "diagnostics": f"trace {trace}"}]},
                      headers={"www-authenticate": 'Basic realm="fhir"'})
    checks.refusals_alike(refusal("Xk29dLq0ZpWc7TnB4r"), refusal("Mv81sRt5GhJw2YeQ6u"), "conf-x-unknown", "conf-x-known")


def test_refusals_differing_in_the_challenge_are_told_apart():
    unknown = answer(401, headers={"www-authenticate": 'Basic realm="fhir", error_description="no such client"'})
    wrong = answer(401, headers={"www-authenticate": 'Basic realm="fhir", error_description="wrong secret"'})
    found = violation(checks.refusals_alike, unknown, wrong, "conf-x-unknown", "conf-x-known")
    assert found.requirement_id == "NO-CLIENT-ENUMERATION"


# --- the token endpoint ---------------------------------------------------------------------------

def test_a_token_endpoint_redirecting_a_failed_client_breaks_the_error_response():
    redirect = answer(302, None, headers={"location": "/login", "content-type": "text/html"}, raw=b"")
    checks_run = token_checks.refusal_checks(redirect, error="invalid_client", header_used=True, sent_secrets=[SECRET])
    broken = set()
    for check, *args in checks_run:
        try:
            check(*args)
        except Violation as found:
            broken.add(found.requirement_id)
    assert {"RFC6749-5.2-ERROR-RESPONSE", "RFC6749-5.2-INVALID-CLIENT", "RFC6749-5.2-INVALID-CLIENT-401"} <= broken


# --- hostile bodies, and what the redaction finds ---------------------------------------------------

@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"total": ' + b"9" * 5000 + b"}"])
def test_a_body_json_cannot_read_is_not_json(raw):
    assert answer(200, raw=raw).json() is None


def test_every_encoding_of_a_secret_is_redacted():
    registry = SecretRegistry()
    registry.add_credentials("client-a", SECRET)
    raw = SECRET.encode()
    for form in (base64.b64encode(raw).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode(), raw.hex(),
                 TOKEN.rstrip("=")):
        assert registry.redact(f"<{form}>") == f"<{REDACTED}>", form


# --- policies the forbidden scenarios must step aside for -------------------------------------------

@pytest.mark.parametrize("policy, everyone", [
    ({"engine": "allow"}, True),
    ({"engine": "allow", "link": [{"resourceType": "Client", "id": "x"}]}, False),
    ({"engine": "matcho", "matcho": {}}, True),
    ({"engine": "matcho", "matcho": {"uri": "/health"}}, False),
    ({"engine": "json-schema", "schema": {}}, True),
    ({"engine": "sql", "sql": {"query": "SELECT false"}}, False),
])
def test_a_policy_that_evidently_allows_every_request_is_recognised(policy, everyone):
    assert allows_every_request(policy) is everyone


# --- a throttled answer is not judged ---------------------------------------------------------------

def test_a_throttled_answer_skips_the_scenario_instead_of_failing_it():
    from conformance.verdicts import Verdict
    verdict = Verdict(SecretRegistry(), fail_on_should=False)
    throttled = answer(429, headers={"retry-after": "60"})
    with pytest.raises(pytest.skip.Exception, match=r"throttled the request \(429.*Retry-After: 60"):
        verdict.check((checks.request_not_served, throttled))


def test_throttled_for_reads_retry_after_in_seconds():
    from conformance.exchange import throttled_for
    assert throttled_for(answer(429, headers={"retry-after": "2"}).response) == 2.0
    assert throttled_for(answer(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}).response) == 1.0
    assert throttled_for(answer(401).response) is None


def test_a_refusal_may_quote_the_id_its_own_request_named_but_no_other():
    quoting = {**OUTCOME, "issue": [{"severity": "error", "code": "login",
                                     "diagnostics": "Authentication failed for GET /fhir/Observation/obs-12345678"}]}
    body = json.dumps(quoting).encode()
    read = Exchange("GET", "https://ehr.example/fhir/Observation/obs-12345678", {}, "", httpx.Response(401, content=body))
    checks.refusal_carries_no_data(read, ["obs-12345678"])
    search = Exchange("GET", "https://ehr.example/fhir/Observation?code=4548-4", {}, "", httpx.Response(401, content=body))
    assert violation(checks.refusal_carries_no_data, search, ["obs-12345678"]).requirement_id == "NO-DATA-IN-REFUSAL"


def test_a_bearer_request_may_be_answered_with_a_bearer_challenge_alone():
    bearer = answer(401, headers={"www-authenticate": 'Bearer realm="api", error="invalid_token"'}, sent=f"Bearer {TOKEN}")
    checks.challenges_basic(bearer)
    basic = answer(401, headers={"www-authenticate": 'Bearer realm="api"'})
    assert violation(checks.challenges_basic, basic).requirement_id == "RFC9110-11.4-CHALLENGE"


def test_short_ids_are_found_for_reading_but_not_looked_for_in_refusals():
    from steps.common import found_resources, resource_ids_in
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Observation", "id": "1234"}},
        {"resource": {"resourceType": "Observation", "id": "obs-12345678"}}]}
    search = answer(200, bundle)
    assert found_resources(search) == [("Observation", "1234"), ("Observation", "obs-12345678")]
    assert resource_ids_in(search) == ("obs-12345678",)  # "1234" could be found in any body by chance
