"""The reference server's SMART side: discovery, the token endpoint (RFC 6749 §2.3.1, §4.4, §5.1, §5.2)
and access tokens as Bearer credentials on the FHIR API, with their expiry and revocation."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import httpx
import pytest

from refserver.__main__ import build_config, parse_args
from refserver.app import create_app
from refserver.config import ServerConfig
from refserver.testing import SyncASGITransport, basic, register_client

ADMIN = basic("root", "admin-secret")
SECRET = "cc-Secret-1"
TOKEN = "/auth/token"
OBS = "/fhir/Observation"
RESERVED = "a+b/c=d%e:f g-ñ日"
GRANT = {"grant_type": "client_credentials"}


def form_basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: each part form-urlencoded, then Basic as usual."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode("utf-8")
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


@pytest.fixture
def app():
    return create_app(ServerConfig(admin_secret="admin-secret", token_ttl=300))


@pytest.fixture
def http(app):
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://testserver") as http:
        register_client(http, ADMIN, "cc", SECRET, grant_types=("client_credentials",))
        register_client(http, ADMIN, "basic-only", SECRET, grant_types=("basic",))
        register_client(http, ADMIN, "no-policy", SECRET, grant_types=("client_credentials",), allow=False)
        register_client(http, ADMIN, "reserved", RESERVED, grant_types=("client_credentials",))
        http.post(OBS, json={"resourceType": "Observation", "code": {"coding": [{"code": "4548-4"}]}},
                  headers=ADMIN).raise_for_status()
        yield http


def token_for(http, client_id="cc", secret=SECRET) -> str:
    response = http.post(TOKEN, data=GRANT, headers=form_basic(client_id, secret))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status: int, error: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error, response.json()
    assert response.headers["cache-control"] == "no-store"


# --- discovery ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"])
def test_discovery_is_public_json_with_the_token_endpoint(http, path):
    response = http.get(path, headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["token_endpoint"] == "http://testserver/auth/token"
    assert "client_secret_basic" in body["token_endpoint_auth_methods_supported"]
    assert "client-confidential-symmetric" in body["capabilities"]
    assert body["grant_types_supported"] == ["client_credentials"]


# --- tokens issued --------------------------------------------------------------------------------

def test_a_token_for_the_right_secret(http):
    response = http.post(TOKEN, data=GRANT, headers=form_basic("cc", SECRET))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store" and response.headers["pragma"] == "no-cache"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert len(body["access_token"]) >= 32


def test_the_token_serves_fhir_under_the_same_policies(http):
    assert http.get(OBS, headers=bearer(token_for(http))).json()["total"] == 1
    denied = http.get(OBS, headers=bearer(token_for(http, "no-policy")))
    assert denied.status_code == 403


def test_client_secret_post_is_accepted(http):
    response = http.post(TOKEN, data={**GRANT, "client_id": "cc", "client_secret": SECRET})
    assert response.status_code == 200 and response.json()["access_token"]


def test_reserved_characters_are_form_urldecoded(http):
    assert token_for(http, "reserved", RESERVED)
    raw = http.post(TOKEN, data=GRANT, headers=basic("reserved", RESERVED))  # not form-urlencoded first
    assert_error(raw, 401, "invalid_client")


def test_tokens_are_unique(http):
    assert token_for(http) != token_for(http)


# --- refusals (RFC 6749 §5.2) ---------------------------------------------------------------------

@pytest.mark.parametrize("headers", [form_basic("cc", "wrong"), form_basic("ghost", SECRET), form_basic("cc", ""),
                                     {"Authorization": "Basic !!!"}, {"Authorization": "Bearer abc"},
                                     {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}],
                         ids=["wrong-secret", "unknown-client", "empty-secret", "not-base64", "bearer", "no-colon"])
def test_failed_authentication_in_the_header_is_401_invalid_client_with_a_challenge(http, headers):
    response = http.post(TOKEN, data=GRANT, headers=headers)
    assert_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic realm=")


def test_no_credentials_is_invalid_client(http):
    assert_error(http.post(TOKEN, data=GRANT), 401, "invalid_client")
    assert_error(http.post(TOKEN, data={**GRANT, "client_id": "cc"}), 401, "invalid_client")


def test_wrong_secret_in_the_body_is_invalid_client(http):
    assert_error(http.post(TOKEN, data={**GRANT, "client_id": "cc", "client_secret": "wrong"}), 401, "invalid_client")


def test_unknown_id_and_wrong_secret_answer_alike(http):
    unknown = http.post(TOKEN, data=GRANT, headers=form_basic("ghost", SECRET))
    wrong = http.post(TOKEN, data=GRANT, headers=form_basic("cc", "wrong"))
    assert (unknown.status_code, unknown.json(), unknown.headers["www-authenticate"]) == \
           (wrong.status_code, wrong.json(), wrong.headers["www-authenticate"])


def test_credentials_in_header_and_body_are_invalid_request(http):
    both = http.post(TOKEN, data={**GRANT, "client_id": "cc", "client_secret": SECRET}, headers=form_basic("cc", SECRET))
    assert_error(both, 400, "invalid_request")


def test_a_client_without_the_grant_is_unauthorized_client(http):
    assert_error(http.post(TOKEN, data=GRANT, headers=form_basic("basic-only", SECRET)), 400, "unauthorized_client")


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "urn:example:unknown"])
def test_another_grant_type_is_unsupported(http, grant_type):
    response = http.post(TOKEN, data={"grant_type": grant_type}, headers=form_basic("cc", SECRET))
    assert_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize("content, content_type", [
    ("", "application/x-www-form-urlencoded"),
    ("grant_type=", "application/x-www-form-urlencoded"),
    ("grant_type=client_credentials&grant_type=client_credentials", "application/x-www-form-urlencoded"),
    (b"grant_type=client_credentials&x=\xff", "application/x-www-form-urlencoded"),
    ('{"grant_type": "client_credentials"}', "application/json"),
    ("grant_type=client_credentials", "text/plain"),
], ids=["empty", "empty-grant", "repeated", "not-utf8", "json", "text"])
def test_malformed_requests_are_invalid_request(http, content, content_type):
    response = http.post(TOKEN, content=content, headers={**form_basic("cc", SECRET), "Content-Type": content_type})
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/x-www-form-urlencoded"},
                                     {"Authorization": b"Basic \xff\xfe"}, {"Authorization": "Basic " + "A" * 100_000}])
def test_odd_token_requests_never_get_a_5xx(http, headers):
    for content in (b"", b"\x00\xff" * 10, b"a=%zz&b=%%&&&==", b"x" * 70_000):
        assert http.post(TOKEN, content=content, headers=headers).status_code < 500
    assert http.get(TOKEN).status_code == 405


# --- the token's life -----------------------------------------------------------------------------

def test_a_token_expires(app, http):
    token = token_for(http)
    smart = app.state.server.smart
    start = smart.clock()
    smart.clock = lambda: start + 299
    assert http.get(OBS, headers=bearer(token)).status_code == 200
    smart.clock = lambda: start + 301
    expired = http.get(OBS, headers=bearer(token))
    assert expired.status_code == 401 and "www-authenticate" in expired.headers


def test_a_token_dies_with_its_client(http):
    token = token_for(http)
    http.delete("/Client/cc", headers=ADMIN).raise_for_status()
    assert http.get(OBS, headers=bearer(token)).status_code == 401
    register_client(http, ADMIN, "cc", SECRET, grant_types=("client_credentials",))  # same id and secret again
    assert http.get(OBS, headers=bearer(token)).status_code == 401


def test_a_token_dies_with_its_secret(http):
    token = token_for(http)
    http.put("/Client/cc", json={"secret": "n3w-Secret", "grant_types": ["client_credentials"]},
             headers=ADMIN).raise_for_status()
    assert http.get(OBS, headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("value", ["Bearer", "Bearer unknown-token", "bearer  ", "Bearer a b"])
def test_unknown_bearer_values_are_the_usual_401(http, value):
    response = http.get(OBS, headers={"Authorization": value})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic")


def test_the_scheme_bearer_is_case_insensitive(http):
    assert http.get(OBS, headers={"Authorization": f"BEARER {token_for(http)}"}).status_code == 200


def test_token_ttl_option():
    parser, args = parse_args(["--token-ttl", "60", "--admin-secret", "x"])
    assert build_config(parser, args).token_ttl == 60
    parser, args = parse_args(["--token-ttl", "0", "--admin-secret", "x"])
    with pytest.raises(SystemExit):
        build_config(parser, args)
