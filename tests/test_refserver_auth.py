"""Basic authentication of the reference server: header parsing (RFC 7617 / RFC 9110 §11),
one indistinguishable 401 for every failure, secrets stored hashed, rotation and grant_types."""

import base64
import re
import sqlite3

import pytest

from refserver.auth import Credentials, LockedOut, Lockout, MalformedHeader, parse_authorization
from refserver.config import ServerConfig
from refserver.testing import basic, client, register_client

ADMIN = basic("root", "admin-secret")
CHALLENGE = 'Basic realm="refserver", charset="UTF-8"'
LOGIN_FAILED = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "Authentication failed"}],
}


def b64(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


@pytest.fixture
def http():
    with client(ServerConfig(admin_secret="admin-secret")) as http:
        register_client(http, ADMIN, "app", "app-secret")
        yield http


# --- parsing, as a pure function -------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (f"Basic {b64('app:s')}", Credentials("app", "s")),
        (f"basic {b64('app:s')}", Credentials("app", "s")),
        (f"BASIC {b64('app:s')}", Credentials("app", "s")),
        (f"Basic   {b64('app:s')}", Credentials("app", "s")),
        (f"Basic {b64('app:a:b::c')}", Credentials("app", "a:b::c")),
        (f"Basic {b64('app:pässwörd✓')}", Credentials("app", "pässwörd✓")),
        (f"Basic {b64('app:')}", Credentials("app", "")),
    ],
    ids=["canonical", "lower-scheme", "upper-scheme", "several-spaces", "colons-in-secret", "utf8", "empty-secret"],
)
def test_well_formed_headers_parse(value, expected):
    assert parse_authorization([value]) == expected


MALFORMED = {
    "empty": "",
    "scheme-only": "Basic",
    "scheme-and-space": "Basic ",
    "trailing-text": f"Basic {b64('app:s')} extra",
    "trailing-space": f"Basic {b64('app:s')} ",
    "tab-separator": f"Basic\t{b64('app:s')}",
    "other-scheme": f"Bearer {b64('app:s')}",
    "quoted": f'"Basic {b64("app:s")}"',
    "not-base64": "Basic !!!!",
    "missing-padding": "Basic " + b64("app:x").rstrip("="),
    "excess-padding": "Basic " + b64("app:x") + "=",
    "url-safe-alphabet": "Basic " + base64.urlsafe_b64encode(b"app:\xfb\xff").decode(),
    "non-ascii-token": "Basic YXBwOnPé",
    "no-colon": f"Basic {b64('app')}",
    "empty-id": f"Basic {b64(':secret')}",
    "not-utf8": "Basic " + b64(b"app:\xff\xfe"),
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_headers_are_refused(value):
    with pytest.raises(MalformedHeader):
        parse_authorization([value])


def test_two_authorization_headers_are_refused():
    good = f"Basic {b64('app:s')}"
    with pytest.raises(MalformedHeader):
        parse_authorization([good, good])


def test_no_header_means_no_credentials():
    assert parse_authorization([]) is None


# --- over HTTP: one identical 401 ------------------------------------------------------------


def assert_login_refusal(response, content_type="application/fhir+json; charset=utf-8"):
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.headers["content-type"] == content_type
    assert response.json() == LOGIN_FAILED


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_header_answers_the_login_refusal(http, value):
    assert_login_refusal(http.get("/fhir/Observation", headers={"Authorization": value.encode("utf-8")}))


def test_every_credential_failure_looks_the_same(http):
    register_client(http, ADMIN, "no-basic", "nb-secret", grant_types=("client_credentials",))
    http.put("/Client/no-secret", json={"grant_types": ["basic"]}, headers=ADMIN).raise_for_status()
    cases = [
        {},
        basic("ghost", "app-secret"),
        basic("app", "wrong"),
        basic("no-basic", "nb-secret"),
        basic("no-secret", ""),
        basic("root", "wrong"),
    ]
    for headers in cases:
        assert_login_refusal(http.get("/fhir/Observation", headers=headers))


def test_two_headers_over_http_are_refused(http):
    good = basic("app", "app-secret")["Authorization"]
    assert_login_refusal(http.get("/fhir/Observation", headers=[("Authorization", good), ("Authorization", good)]))


def test_admin_api_refusal_is_plain_json(http):
    assert_login_refusal(http.get("/Client", headers=basic("app", "nope")), "application/json")


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_scheme_is_case_insensitive(http, scheme):
    response = http.get("/fhir/Observation", headers={"Authorization": f"{scheme} {b64('app:app-secret')}"})
    assert response.status_code == 200


def test_secret_may_contain_colons_and_utf8(http):
    register_client(http, ADMIN, "fancy", "a:b:ü:✓")
    assert http.get("/fhir/Observation", headers=basic("fancy", "a:b:ü:✓")).status_code == 200
    assert http.get("/fhir/Observation", headers=basic("fancy", "a")).status_code == 401


@pytest.mark.parametrize("secret", ["app-secre", "app-secret!", "APP-SECRET", "", " app-secret"])
def test_near_miss_secrets_are_refused(http, secret):
    assert http.get("/fhir/Observation", headers=basic("app", secret)).status_code == 401


def test_public_routes_need_no_credentials(http):
    assert http.get("/fhir/metadata").status_code == 200
    assert http.get("/health").status_code == 200


# --- secrets: hashed, never returned, rotated at once ------------------------------------------

MASKED = re.compile(r"__sha256:[0-9a-f]{64}")


def test_plain_secret_is_never_returned(http):
    answers = [
        http.put("/Client/app", json={"secret": "app-secret", "grant_types": ["basic"]}, headers=ADMIN),
        http.get("/Client/app", headers=ADMIN),
        http.get("/Client", headers=ADMIN),
        http.delete("/Client/app", headers=ADMIN),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert "app-secret" not in answer.text
    assert MASKED.fullmatch(answers[1].json()["secret"])
    assert MASKED.fullmatch(answers[2].json()["entry"][0]["resource"]["secret"])


def test_secret_is_not_in_the_database_file(tmp_path):
    db = tmp_path / "ref.db"
    with client(ServerConfig(admin_secret="admin-secret", db_path=str(db))) as http:
        register_client(http, ADMIN, "app", "needle-secret-123")
    assert b"needle-secret-123" not in db.read_bytes()
    rows = sqlite3.connect(db).execute("SELECT salt, digest, plain FROM credentials").fetchall()
    assert len(rows) == 1 and rows[0][2] is None


def test_rotation_refuses_the_old_secret_at_once(http):
    assert http.get("/fhir/Observation", headers=basic("app", "app-secret")).status_code == 200
    rotated = http.put("/Client/app", json={"secret": "new-secret", "grant_types": ["basic"]}, headers=ADMIN)
    assert rotated.status_code == 200
    assert http.get("/fhir/Observation", headers=basic("app", "app-secret")).status_code == 401
    assert http.get("/fhir/Observation", headers=basic("app", "new-secret")).status_code == 200


def test_put_without_secret_removes_it(http):
    http.put("/Client/app", json={"grant_types": ["basic"]}, headers=ADMIN).raise_for_status()
    assert "secret" not in http.get("/Client/app", headers=ADMIN).json()
    assert http.get("/fhir/Observation", headers=basic("app", "app-secret")).status_code == 401


def test_putting_back_the_masked_form_keeps_the_secret(http):
    current = http.get("/Client/app", headers=ADMIN).json()
    assert http.put("/Client/app", json=current, headers=ADMIN).status_code == 200
    assert http.get("/fhir/Observation", headers=basic("app", "app-secret")).status_code == 200


def test_deleted_client_is_refused(http):
    assert http.delete("/Client/app", headers=ADMIN).status_code == 200
    assert_login_refusal(http.get("/fhir/Observation", headers=basic("app", "app-secret")))


@pytest.mark.parametrize(
    "grant_types, status",
    [(["basic"], 200), (["client_credentials", "basic"], 200), (["client_credentials"], 401), ([], 401)],
)
def test_basic_needs_the_basic_grant_type(http, grant_types, status):
    register_client(http, ADMIN, "g", "g-secret", grant_types=tuple(grant_types))
    assert http.get("/fhir/Observation", headers=basic("g", "g-secret")).status_code == status


def test_admin_is_exempt_from_policies_and_its_id_is_reserved(http):
    assert http.get("/fhir/Observation", headers=ADMIN).status_code == 200
    response = http.put("/Client/root", json={"secret": "x", "grant_types": ["basic"]}, headers=ADMIN)
    assert response.status_code == 400


def test_lockout_refuses_a_client_id_after_its_failures_until_the_window_passes():
    now = [0.0]
    lockout = Lockout(limit=2, window=60, clock=lambda: now[0])
    lockout.failed("app")
    lockout.check("app")  # one failure: still let through
    lockout.failed("app")
    with pytest.raises(LockedOut) as locked:
        lockout.check("app")
    assert locked.value.retry_after == 60
    lockout.check("other")  # per client id
    now[0] = 60.0
    lockout.check("app")  # the failures have aged out


def test_lockout_is_off_by_default():
    lockout = Lockout(limit=0)
    for _ in range(100):
        lockout.failed("app")
    lockout.check("app")
