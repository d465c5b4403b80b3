"""The seed document itself, taken literally: its requests work on the reference server, and its example
response passes the suite's Bundle validation with no MUST failure (DESIGN.md §1; issue #2)."""

import json
import re
from pathlib import Path

import pytest

from conformance import checks
from conformance.redaction import SecretRegistry
from conformance.verdicts import ConformanceFailure, Verdict
from refserver.config import ServerConfig
from refserver.testing import client

# A copy of ../shared/seed/smart-symmetric-auth.md, kept here so the test never depends on what lies beside the clone.
SEED = Path(__file__).resolve().parent / "data" / "smart-symmetric-auth.md"
ADMIN = {"Authorization": "Basic cm9vdDpyb290LXNlY3JldC1mb3ItdGVzdHM="}  # root:root-secret-for-tests


def seed_json_blocks() -> list[dict]:
    text = SEED.read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"\{\n.*?\n\}", text, flags=re.DOTALL) if block.strip()]


@pytest.fixture(scope="module")
def seed_blocks():
    client_body, policy_body, bundle = seed_json_blocks()
    return client_body, policy_body, bundle


def test_the_documented_requests_return_a_searchset(seed_blocks):
    client_body, policy_body, _ = seed_blocks
    with client(ServerConfig(admin_secret="root-secret-for-tests")) as http:
        assert http.put("/Client/client-confidential-symmetric", json=client_body, headers=ADMIN).status_code == 201
        assert http.put("/AccessPolicy/client-confidential-symmetric-allow", json=policy_body,
                        headers=ADMIN).status_code == 201
        # The header exactly as the document gives it, without the quotes it is printed in.
        answer = http.get("/fhir/Observation?code=4548-4&_count=2",
                          headers={"content-type": "application/json", "accept": "application/json",
                                   "authorization": "Basic Y2xpZW50LWNvbmZpZGVudGlhbC1zeW1tZXRyaWM6c2VjcmV0"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["resourceType"] == "Bundle" and answer.json()["type"] == "searchset", answer.text


def test_the_documented_response_passes_bundle_validation_with_no_must_failure(seed_blocks):
    bundle = seed_blocks[2]
    verdict = Verdict(SecretRegistry(), fail_on_should=False)
    verdict.check(*checks.bundle_validation_checks(bundle, fhir_version="R4", count=2))
    verdict.check(*checks.entry_checks(bundle, resource_type="Observation", system="http://loinc.org", code="4548-4"))
    assert verdict.warnings == [], verdict.warnings


def test_the_documented_response_lacks_the_self_link_fhir_r4_requires(seed_blocks):
    """FHIR R4 search §3.1.1.6: the server SHALL return the parameters it applied, encoded in the self link.
    The document's example has no Bundle.link; its missing total and its fullUrl outside /fhir are MAY-level
    (search §3.1.1.5.2; http §3.1.0.9) and only noted."""
    bundle = seed_blocks[2]
    verdict = Verdict(SecretRegistry(), fail_on_should=False)
    with pytest.raises(ConformanceFailure) as failure:
        verdict.check(*checks.search_reporting_checks(bundle, fhir_base_url="https://releasetest.edge.aidbox.app/fhir"))
    assert failure.value.requirement_ids == ("FHIR-SEARCH-SELF-LINK",), failure.value.requirement_ids
    noted = sorted(note.split()[1] for note in verdict.notes)
    assert noted == ["FHIR-BUNDLE-FULLURL-BASE", "FHIR-SEARCH-TOTAL"], noted
