"""The FHIR API of the reference server: CRUD and search with paging."""

import re
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from refserver.config import ServerConfig
from refserver.testing import basic, client

ADMIN = basic("root", "admin-secret")
FHIR_JSON = "application/fhir+json; charset=utf-8"
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LOINC = "http://loinc.org"


@pytest.fixture
def http():
    with client(ServerConfig(admin_secret="admin-secret")) as http:
        http.headers.update(ADMIN)
        yield http


def observation(code="4548-4", system=LOINC, subject="Patient/p1", **extra):
    coding = {"code": code} if system is None else {"system": system, "code": code}
    return {"resourceType": "Observation", "code": {"coding": [coding]}, "subject": {"reference": subject}, **extra}


def create(http, resource) -> str:
    response = http.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return response.json()["id"]


# --- CRUD ------------------------------------------------------------------------------------


def test_create_read_update_delete(http):
    response = http.post("/fhir/Observation", json=observation(id="ignored"))
    assert response.status_code == 201
    assert response.headers["content-type"] == FHIR_JSON
    created = response.json()
    new_id = created["id"]
    assert new_id != "ignored"
    assert response.headers["location"] == f"http://testserver/fhir/Observation/{new_id}"
    assert created["meta"]["versionId"] == "1"
    assert INSTANT.fullmatch(created["meta"]["lastUpdated"])

    assert http.get(f"/fhir/Observation/{new_id}").json() == created

    updated = http.put(f"/fhir/Observation/{new_id}", json={**observation(code="x"), "id": new_id})
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    assert updated.json()["code"]["coding"][0]["code"] == "x"

    deleted = http.delete(f"/fhir/Observation/{new_id}")
    assert deleted.status_code == 200
    assert deleted.json()["id"] == new_id
    assert http.get(f"/fhir/Observation/{new_id}").status_code == 404
    assert http.delete(f"/fhir/Observation/{new_id}").status_code == 404


def test_put_creates_with_the_given_id_and_keeps_meta_tags(http):
    body = {"resourceType": "Patient", "meta": {"tag": [{"code": "t"}], "versionId": "99"}}
    response = http.put("/fhir/Patient/p-1", json=body)
    assert response.status_code == 201
    assert response.json()["id"] == "p-1"
    assert response.json()["meta"]["tag"] == [{"code": "t"}]
    assert response.json()["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    "path, body",
    [
        ("/fhir/Observation/o1", {"resourceType": "Patient"}),
        ("/fhir/Observation/o1", {"code": {}}),
        ("/fhir/Observation/o1", {"resourceType": "Observation", "id": "o2"}),
        ("/fhir/Observation/o1", {"resourceType": "Observation", "meta": []}),
        ("/fhir/Observation/o%2A", {"resourceType": "Observation"}),
        ("/fhir/Observation/" + "a" * 65, {"resourceType": "Observation"}),
    ],
    ids=["wrong-type", "no-type", "id-mismatch", "meta-not-object", "bad-id", "long-id"],
)
def test_bad_bodies_and_ids_are_400(http, path, body):
    response = http.put(path, json=body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "invalid"


@pytest.mark.parametrize("resource_type", ["observation", "O", "Client", "AccessPolicy", "Obs1"])
def test_unknown_or_admin_types_are_404_under_fhir(http, resource_type):
    response = http.get(f"/fhir/{resource_type}")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_metadata_is_a_capability_statement(http):
    response = http.get("/fhir/metadata", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json()["resourceType"] == "CapabilityStatement"


# --- search ----------------------------------------------------------------------------------


def search(http, query: str) -> dict:
    response = http.get(f"/fhir/Observation?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR_JSON
    return response.json()


def ids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


@pytest.fixture
def data(http) -> dict[str, str]:
    """Named observations covering every filter form, created in this order."""
    resources = {
        "loinc-p1": observation(),
        "loinc-p2": observation(subject="Patient/p2"),
        "nosys-p1": observation(system=None),
        "other-p1": observation(code="1234-5", system="http://other.org"),
        "group-g1": observation(subject="Group/p1"),
        "abs-p2": observation(subject="http://elsewhere.org/fhir/Patient/p2"),
        "tagged": observation(code="9", meta={"tag": [{"system": "http://t.org", "code": "batch-1"}]}),
    }
    return {name: create(http, resource) for name, resource in resources.items()}


def names(data: dict[str, str], bundle: dict) -> set[str]:
    by_id = {v: k for k, v in data.items()}
    return {by_id[i] for i in ids(bundle)}


def test_searchset_envelope(http, data):
    bundle = search(http, "code=4548-4&_count=2&unknown=zz")
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 5
    self_link, next_link = bundle["link"]
    assert self_link["relation"] == "self" and next_link["relation"] == "next"
    assert "unknown" not in self_link["url"] and "unknown" not in next_link["url"]
    assert self_link["url"].startswith("http://testserver/fhir/Observation?")
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"http://testserver/fhir/Observation/{entry['resource']['id']}"
        assert entry["search"] == {"mode": "match"}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("code=4548-4", {"loinc-p1", "loinc-p2", "nosys-p1", "group-g1", "abs-p2"}),
        (f"code={LOINC}|4548-4", {"loinc-p1", "loinc-p2", "group-g1", "abs-p2"}),
        ("code=|4548-4", {"nosys-p1"}),
        ("code=http://other.org|", {"other-p1"}),
        ("code=1234-5,9", {"other-p1", "tagged"}),
        ("code=http://other.org|4548-4", set()),
        ("subject=Patient/p2", {"loinc-p2", "abs-p2"}),
        ("subject=http://elsewhere.org/fhir/Patient/p2", {"loinc-p2", "abs-p2"}),
        ("subject=Group/p1", {"group-g1"}),
        ("patient=p1", {"loinc-p1", "nosys-p1", "other-p1", "tagged"}),
        ("patient=Patient/p1", {"loinc-p1", "nosys-p1", "other-p1", "tagged"}),
        ("patient=Group/p1", set()),
        ("_tag=batch-1", {"tagged"}),
        ("_tag=http://t.org|batch-1", {"tagged"}),
        ("_tag=http://x.org|batch-1", set()),
        (f"code={LOINC}|4548-4&patient=p2", {"loinc-p2", "abs-p2"}),  # params are ANDed
        ("code=4548-4&code=1234-5", set()),  # so are repeats of one param
        ("code=", {"loinc-p1", "loinc-p2", "nosys-p1", "other-p1", "group-g1", "abs-p2", "tagged"}),
    ],
)
def test_filters(http, data, query, expected):
    bundle = search(http, query.replace("|", "%7C"))
    assert names(data, bundle) == expected
    assert bundle["total"] == len(expected)


def test_id_search_takes_a_comma_list(http, data):
    bundle = search(http, f"_id={data['tagged']},{data['abs-p2']},nope")
    assert set(ids(bundle)) == {data["tagged"], data["abs-p2"]}


def test_paging_visits_every_match_once_in_order(http, data):
    url, seen = "/fhir/Observation?patient=p1&_count=3", []
    pages = 0
    while url:
        bundle = http.get(url).json()
        assert bundle["total"] == 4
        assert len(bundle.get("entry", [])) <= 3
        seen += ids(bundle)
        pages += 1
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if url:
            params = dict(parse_qsl(urlsplit(url).query))
            assert params["patient"] == "p1" and params["_count"] == "3"
    expected = [data[n] for n in ("loinc-p1", "nosys-p1", "other-p1", "tagged")]
    assert (seen, pages) == (expected, 2)


def test_count_zero_gives_the_total_only(http, data):
    bundle = search(http, "_count=0")
    assert bundle["total"] == 7 and "entry" not in bundle
    assert [link["relation"] for link in bundle["link"]] == ["self"]


def test_count_is_capped(http, data):
    bundle = search(http, "_count=5000")
    assert "_count=1000" in bundle["link"][0]["url"]
    assert len(bundle["entry"]) == 7


@pytest.mark.parametrize("query", ["_count=-1", "_count=abc", "_count=1.5", "_count=", "_offset=-3", "_offset=x"])
def test_bad_paging_values_are_400(http, query):
    response = http.get(f"/fhir/Observation?{query}")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_post_search_reads_the_form_body(http, data):
    response = http.post("/fhir/Observation/_search?_count=10", data={"_tag": "batch-1"})
    assert response.status_code == 200
    assert ids(response.json()) == [data["tagged"]]


def test_client_list_is_a_searchset_under_the_admin_api(http):
    http.put("/Client/c1", json={"secret": "s", "grant_types": ["basic"]}).raise_for_status()
    response = http.get("/Client")
    assert response.headers["content-type"] == "application/json"
    bundle = response.json()
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert bundle["entry"][0]["fullUrl"] == "http://testserver/Client/c1"


def test_latency_delays_each_answer():
    with client(ServerConfig(admin_secret="admin-secret", latency_ms=60)) as slow:
        started = time.perf_counter()
        assert slow.get("/health").status_code == 200
        assert time.perf_counter() - started >= 0.06
