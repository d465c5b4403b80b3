"""The AccessPolicy allow engine: pure unit tests, then the 403 it yields over HTTP."""

import pytest

from refserver.config import ServerConfig
from refserver.policy import is_allowed
from refserver.testing import basic, client, register_client

ADMIN = basic("root", "admin-secret")
FORBIDDEN = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "forbidden", "diagnostics": "Access denied by policy"}],
}


def allow(*links, engine="allow", **extra):
    policy = {"id": "p", "engine": engine, **extra}
    if links:
        policy["link"] = list(links)
    return policy


BY_ID = {"resourceType": "Client", "id": "app"}
BY_REFERENCE = {"reference": "Client/app"}
OTHER = {"resourceType": "Client", "id": "other"}


@pytest.mark.parametrize(
    "policies, allowed",
    [
        ([], False),
        ([allow(BY_ID)], True),
        ([allow(BY_REFERENCE)], True),
        ([allow(OTHER)], False),
        ([allow(OTHER, BY_REFERENCE)], True),  # links are ORed
        ([allow(OTHER), allow(BY_ID)], True),  # so are policies
        ([allow()], True),  # no link: applies to every request
        ([allow(link=[])], True),
        ([allow(BY_ID, engine="sql")], False),  # other engines never allow here
        ([allow(engine="matcho")], False),
        ([{"id": "p", "link": [BY_ID]}], False),  # no engine
        ([allow({"resourceType": "User", "id": "app"})], False),
        ([allow({"reference": "User/app"})], False),
        ([allow({"reference": "Client/application"})], False),
        ([allow("Client/app", 5, None)], False),  # junk entries never match
        ([allow(link="Client/app")], False),
    ],
)
def test_allow_engine(policies, allowed):
    assert is_allowed("app", policies) is allowed


@pytest.fixture
def http():
    with client(ServerConfig(admin_secret="admin-secret")) as http:
        register_client(http, ADMIN, "app", "app-secret", allow=False)
        yield http


APP = basic("app", "app-secret")


def test_no_allowing_policy_is_403(http):
    response = http.get("/fhir/Observation", headers=APP)
    assert response.status_code == 403
    assert "www-authenticate" not in response.headers
    assert response.json() == FORBIDDEN


def test_reference_link_allows(http):
    policy = {"engine": "allow", "link": [{"reference": "Client/app"}]}
    http.put("/AccessPolicy/by-ref", json=policy, headers=ADMIN).raise_for_status()
    assert http.get("/fhir/Observation", headers=APP).status_code == 200


def test_linkless_policy_allows_every_client(http):
    http.put("/AccessPolicy/everyone", json={"engine": "allow"}, headers=ADMIN).raise_for_status()
    assert http.get("/fhir/Observation", headers=APP).status_code == 200


def test_deleting_the_policy_takes_access_away(http):
    register_client(http, ADMIN, "app", "app-secret")
    assert http.get("/fhir/Observation", headers=APP).status_code == 200
    assert http.delete("/AccessPolicy/app-allow", headers=ADMIN).status_code == 200
    assert http.get("/fhir/Observation", headers=APP).status_code == 403


def test_allowed_client_may_use_the_admin_api(http):
    assert http.get("/Client", headers=APP).status_code == 403
    register_client(http, ADMIN, "app", "app-secret")
    assert http.get("/Client", headers=APP).status_code == 200


def test_policy_crud(http):
    policy = {"id": "p1", "engine": "allow", "link": [{"resourceType": "Client", "id": "app"}], "description": "kept"}
    created = http.post("/AccessPolicy", json=policy, headers=ADMIN)
    assert created.status_code == 201
    assert created.json()["description"] == "kept"
    assert http.post("/AccessPolicy", json=policy, headers=ADMIN).status_code == 409
    assert http.get("/AccessPolicy/p1", headers=ADMIN).json()["link"] == policy["link"]
    listed = http.get("/AccessPolicy", headers=ADMIN).json()
    assert [e["resource"]["id"] for e in listed["entry"]] == ["p1"]
    assert http.delete("/AccessPolicy/p1", headers=ADMIN).status_code == 200
    assert http.get("/AccessPolicy/p1", headers=ADMIN).status_code == 404
