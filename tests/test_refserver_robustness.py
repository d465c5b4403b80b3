"""Bad input never gets a 5xx: every refusal is a 4xx OperationOutcome. Routing errors too."""

import pytest

from refserver.config import ServerConfig
from refserver.testing import basic, client

ADMIN = basic("root", "admin-secret")
DEEP = b"[" * 100_000 + b"]" * 100_000

BAD_BODIES = {
    "empty": b"",
    "truncated": b'{"resourceType": ',
    "not-utf8": b'{"resourceType": "Observation", "x": "\xff\xfe"}',
    "utf8-bom": b'\xef\xbb\xbf{"resourceType": "Observation"}',
    "array": b"[]",
    "string": b'"Observation"',
    "null": b"null",
    "nan": b'{"resourceType": "Observation", "value": NaN}',
    "huge-int": b'{"resourceType": "Observation", "value": ' + b"9" * 5000 + b"}",
    "deep-nesting": DEEP,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "nested-just-parseable": b'{"resourceType": "Observation", "x": ' + b"[" * 950 + b"]" * 950 + b"}",
}

BAD_CLIENTS = {
    "grant_types-int": {"grant_types": 5},
    "grant_types-str": {"grant_types": "basic"},
    "grant_types-mixed": {"grant_types": ["basic", 5]},
    "secret-int": {"secret": 12345},
    "secret-empty": {"secret": ""},
    "secret-null": {"secret": None},
    "wrong-type": {"resourceType": "Patient"},
    "id-int": {"id": 5},
    "id-mismatch": {"id": "other"},
    "meta-str": {"meta": "x"},
}

BAD_POLICIES = {
    "link-str": {"engine": "allow", "link": "x"},
    "link-of-str": {"engine": "allow", "link": ["Client/x"]},
    "link-null": {"engine": "allow", "link": None},
    "engine-int": {"engine": 1},
    "engine-list": {"engine": ["allow"]},
}


@pytest.fixture(scope="module")
def http():
    with client(ServerConfig(admin_secret="admin-secret")) as http:
        http.headers.update(ADMIN)
        yield http


def assert_outcome_4xx(response, status=None):
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    if status is not None:
        assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
@pytest.mark.parametrize("method, path", [("PUT", "/fhir/Observation/o1"), ("POST", "/fhir/Observation"),
                                          ("PUT", "/Client/c1"), ("POST", "/AccessPolicy")])
def test_bad_json_is_400(http, method, path, body):
    response = http.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert_outcome_4xx(response, 400)
    assert response.json()["issue"][0]["code"] in ("structure", "invalid")


@pytest.mark.parametrize("body", BAD_CLIENTS.values(), ids=BAD_CLIENTS.keys())
def test_bad_client_fields_are_400(http, body):
    assert_outcome_4xx(http.put("/Client/c1", json=body), 400)


@pytest.mark.parametrize("body", BAD_POLICIES.values(), ids=BAD_POLICIES.keys())
def test_bad_policy_fields_are_400(http, body):
    assert_outcome_4xx(http.put("/AccessPolicy/p1", json=body), 400)


ODD_REQUESTS = [
    ("GET", "/fhir/Observation?_count=" + "9" * 5000),
    ("GET", "/fhir/Observation?_offset=99999999999999999999999"),
    ("GET", "/fhir/Observation?_count=%00"),
    ("GET", "/fhir/Observation?code=%ff%fe&subject=%00&patient=/&_tag=||||&_id=,,,"),
    ("GET", "/fhir/Observation?subject=" + "a/" * 5000),
    ("GET", "/fhir/" + "A" * 5000),
    ("GET", "/fhir/Observation/" + "a" * 5000),
    ("GET", "/fhir/Observation/%ff%fe"),
    ("GET", "/Client/" + "x" * 65),
    ("GET", "/Client/..%2F..%2Fetc"),
    ("DELETE", "/AccessPolicy/nope"),
    ("POST", "/fhir/Observation/_search"),
    ("GET", "/nowhere"),
    ("PATCH", "/fhir/Observation/o1"),
    ("DELETE", "/fhir/Observation"),
    ("PUT", "/Client"),
]


@pytest.mark.parametrize("method, path", ODD_REQUESTS)
def test_odd_requests_never_get_a_5xx(http, method, path):
    response = http.request(method, path)
    assert response.status_code < 500, (response.status_code, response.text[:200])
    if response.status_code >= 400:
        assert_outcome_4xx(response)


def test_bad_form_body_in_post_search_is_400(http):
    response = http.post("/fhir/Observation/_search", content=b"code=\xff", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_outcome_4xx(response, 400)


def test_unknown_route_and_wrong_method(http):
    missing = http.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    wrong = http.patch("/fhir/Observation/o1")
    assert wrong.status_code == 405 and "PUT" in wrong.headers["allow"]
    assert wrong.headers["content-type"] == "application/fhir+json; charset=utf-8"


@pytest.mark.parametrize(
    "value",
    [b"Basic \xff\xfe", b"Basic " + b"A" * 100_000, b"\x01\x02", b"Basic =", b"Basic ====", b"Digest x=\"y\""],
)
def test_strange_authorization_values_are_401(http, value):
    response = http.get("/fhir/Observation", headers={"Authorization": value})
    assert response.status_code == 401


def test_stored_junk_does_not_break_search(http):
    junk = {"resourceType": "Observation", "code": "4548-4", "subject": ["Patient/p1"],
            "meta": {"tag": "x"}, "patient": 5}
    http.put("/fhir/Observation/junk", json=junk).raise_for_status()
    for query in ("code=4548-4", "subject=Patient/p1", "patient=p1", "_tag=x", "_id=junk"):
        assert http.get(f"/fhir/Observation?{query}").status_code == 200
