"""Steps of the seed's Step 3: the FHIR search, its Bundle, and paging through the suite's own data."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pytest_bdd import given, then, when

from conformance import checks
from conformance.exchange import Exchange
from steps.common import SEED_CODE, SEED_CODE_SYSTEM, SEED_COUNT

MAX_PAGES = 10  # the suite's data fits in 2 pages; a server looping on next links stops here


@dataclass(frozen=True)
class SeedData:
    """The suite's own data: matching and non-matching resources, so no filter check is vacuous."""

    patient_id: str
    matching: frozenset[str]       # the patient's Observations coded 4548-4
    other_code: frozenset[str]     # the patient's Observation with another code
    other_patient: frozenset[str]  # another patient's Observation coded 4548-4

    def ids(self) -> tuple[str, ...]:
        """Every id of the suite's data, the patient's too: a refusal must mention none of them."""
        references = sorted(self.matching | self.other_code | self.other_patient)
        return (self.patient_id, *(reference.split("/", 1)[1] for reference in references))


def _observation(obs_id: str, patient_id: str, code: str, display: str) -> dict:
    """Shaped like the seed's example response."""
    return {
        "resourceType": "Observation", "id": obs_id, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory", "display": "laboratory"}]}],
        "code": {"text": display, "coding": [{"system": SEED_CODE_SYSTEM, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2014-05-11T12:39:55+04:00",
        "valueQuantity": {"value": 5.4, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }


@pytest.fixture(scope="session")
def seed_data(provisioner) -> SeedData:
    patient, other = provisioner.resource_id("patient"), provisioner.resource_id("patient-2")
    hba1c = "Hemoglobin A1c/Hemoglobin.total in Blood"
    matching = [provisioner.resource_id(f"obs-{n}") for n in (1, 2, 3)]
    other_code, other_patient = provisioner.resource_id("obs-glucose"), provisioner.resource_id("obs-p2")
    resources = [
        {"resourceType": "Patient", "id": patient, "name": [{"family": "Conformance", "given": ["Basic"]}]},
        {"resourceType": "Patient", "id": other, "name": [{"family": "Conformance", "given": ["Other"]}]},
        *[_observation(obs_id, patient, SEED_CODE, hba1c) for obs_id in matching],
        _observation(other_code, patient, "2339-0", "Glucose [Mass/volume] in Blood"),
        _observation(other_patient, other, SEED_CODE, hba1c),
    ]
    for resource, exchange in zip(resources, provisioner.put_resources(resources)):
        if exchange.status is None or exchange.status >= 300:
            pytest.skip(f"prerequisite failed: creating {resource['resourceType']}/{resource['id']} answered "
                        f"{exchange.status or exchange.error}")
    as_refs = lambda ids: frozenset(f"Observation/{i}" for i in ids)  # noqa: E731
    return SeedData(patient, as_refs(matching), as_refs([other_code]), as_refs([other_patient]))


@when("the client searches for Observations with code 4548-4, two per page", target_fixture="search_answer")
def _(client, search_with) -> Exchange:
    return search_with(client.header())


@then("the search succeeds with a FHIR JSON answer")
def _(search_answer, verdict, settings) -> None:
    hint = ""
    if not settings.provisions and search_answer.status in (401, 403):
        hint = ("the pre-registered client was refused: check CONFORMANCE_CLIENT_ID and CONFORMANCE_CLIENT_SECRET, "
                "and its AccessPolicy, before reading this as the server's fault")
    verdict.check((checks.search_succeeded, search_answer, hint), (checks.fhir_json_content_type, search_answer))


@then("the answer is a valid searchset Bundle of at most two entries")
def _(search_answer, verdict, settings) -> None:
    verdict.check(*checks.bundle_validation_checks(search_answer.json(), fhir_version=settings.fhir_version,
                                                   count=SEED_COUNT))


@then("every entry is an Observation with code 4548-4 and an absolute full URL")
def _(search_answer, verdict) -> None:
    bundle = search_answer.json()
    if not isinstance(bundle, dict) or not bundle.get("entry"):
        verdict.skip_not_applicable("the search found no Observation coded 4548-4, so there is no entry to check")
    verdict.check(*checks.entry_checks(bundle, resource_type="Observation", system=None, code=SEED_CODE))  # a bare code, as the seed searches


@then("the answer reports the criteria it applied and its total")
def _(search_answer, verdict, fhir_base_url) -> None:
    verdict.check(*checks.search_reporting_checks(search_answer.json(), fhir_base_url=fhir_base_url))


# --- paging --------------------------------------------------------------------------------------

@given("the suite's own patient with three Observations coded 4548-4, one coded otherwise, and another patient's",
       target_fixture="data")
def _(seed_data) -> SeedData:
    return seed_data


@when("the client searches for that patient's Observations with code 4548-4, two per page, following every next link",
      target_fixture="pages")
def _(client, data, agent, settings, verdict) -> list[dict]:
    """Follow next links with the same credentials, but only on the same server: a link elsewhere is
    reported and never followed, whatever the level of the requirement it breaks."""
    url = agent.url(f"{settings.fhir_base}/Observation?subject=Patient/{data.patient_id}"
                    f"&code={SEED_CODE_SYSTEM}|{SEED_CODE}&_count={SEED_COUNT}")
    pages = []
    for _page in range(MAX_PAGES):
        exchange = agent.send("GET", url, headers={"authorization": client.header()})
        verdict.check((checks.page_answered, exchange))
        page = exchange.json()
        if not isinstance(page, dict):
            break
        pages.append(page)
        link = checks.next_link(page)
        if link is None:
            break
        url = agent.resolve(link, url)
        if not agent.same_origin(url):
            verdict.check((checks.next_link_on_same_server, url, agent.server_url, False))
            break
    return pages


@then("every page holds at most two entries")
def _(pages, verdict) -> None:
    verdict.check(*[(checks.page_within_count, page, SEED_COUNT) for page in pages])


@then("exactly the patient's three Observations coded 4548-4 are found, each once")
def _(pages, data, verdict) -> None:
    found = [ref for page in pages for ref in checks.match_ids(page)]
    first_page = pages[0] if pages else None  # none when the server's first answer was not a JSON page
    verdict.check(
        (checks.only_that_patients_matches, found, set(data.other_patient), first_page),
        (checks.only_coded_matches, found, set(data.other_code), first_page),
        (checks.each_match_found_once, found, set(data.matching)),
    )
