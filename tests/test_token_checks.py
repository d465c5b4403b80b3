"""Unit tests of the token endpoint checks (conformance/token_checks.py) and the token request builders
(conformance/oauth.py): what each accepts, what it refuses, and the words it uses."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from urllib.parse import unquote_plus

import httpx
import pytest

from conformance import token_checks as tc
from conformance.exchange import Exchange
from conformance.oauth import (changed_in_one_character, not_advertised, post_not_advertised, reserved_secret,
                               token_basic_header, token_request_body)
from conformance.verdicts import Violation

CONFIGURATION = {"token_endpoint": "https://ehr.example/auth/token", "capabilities": ["client-confidential-symmetric"],
                 "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                 "grant_types_supported": ["client_credentials"]}


def answer(status: int, body=None, headers: dict | None = None) -> Exchange:
    content = json.dumps(body).encode() if body is not None else b""
    response = httpx.Response(status, content=content, headers={"content-type": "application/json", **(headers or {})})
    return Exchange("POST", "https://ehr.example/auth/token", {}, "", response)


def violation(check, *args) -> Violation:
    with pytest.raises(Violation) as raised:
        check(*args)
    return raised.value


def test_a_wrong_error_code_is_named_as_expected_and_got():
    found = violation(tc.invalid_client, answer(400, {"error": "invalid_request"}))
    assert found.requirement_id == "RFC6749-5.2-INVALID-CLIENT"
    assert str(found) == "expected invalid_client; got invalid_request (status 400)", str(found)


def test_the_right_error_code_passes_and_a_served_request_is_left_to_the_refusal_check():
    tc.invalid_client(answer(401, {"error": "invalid_client"}))
    tc.invalid_client(answer(200, {"access_token": "t"}))
    assert "a token" in violation(tc.no_token_without_authentication, answer(200, {"access_token": "t"})).actual


def test_invalid_client_with_the_header_needs_401_and_a_basic_challenge():
    tc.invalid_client_challenges(answer(401, {"error": "invalid_client"}, {"www-authenticate": 'Basic realm="x"'}))
    assert "no WWW-Authenticate" in violation(tc.invalid_client_challenges, answer(401, {"error": "invalid_client"})).actual
    assert "status 400" in violation(tc.invalid_client_challenges, answer(400, {"error": "invalid_client"})).actual


def test_error_answers_are_400_json_with_an_ascii_code():
    tc.error_response_shape(answer(400, {"error": "invalid_request"}), False)
    tc.error_response_shape(answer(401, {"error": "invalid_client"}), True)
    assert "401" in violation(tc.error_response_shape, answer(401, {"error": "unauthorized_client"}), False).actual
    assert "error None" in violation(tc.error_response_shape, answer(400, {"message": "no"}), False).actual
    assert "error" in violation(tc.error_response_shape, answer(400, {"error": "bad\"code"}), False).actual


def test_a_token_answer_needs_bearer_no_store_and_a_lifetime():
    good = answer(200, {"access_token": "abc", "token_type": "bearer", "expires_in": 300},
                  {"cache-control": "no-store", "pragma": "no-cache"})
    for check, *args in tc.issued_checks(good):
        check(*args)
    bare = answer(200, {"access_token": "abc", "token_type": "mac"})
    assert "token_type 'mac'" in violation(tc.token_response_fields, bare).actual
    assert violation(tc.token_lifetime, bare).requirement_id == "RFC6749-5.1-EXPIRES-IN"
    assert violation(tc.token_not_stored, bare).requirement_id == "RFC6749-5.1-NO-STORE"
    assert violation(tc.token_pragma_no_cache, bare).requirement_id == "RFC6749-5.1-PRAGMA"


def test_a_client_credentials_token_answer_carries_no_refresh_token():
    tc.no_refresh_token(answer(200, {"access_token": "abc", "token_type": "Bearer"}))
    tc.no_refresh_token(answer(400, {"error": "invalid_client", "refresh_token": "r" * 20}))  # no token issued
    found = violation(tc.no_refresh_token, answer(200, {"access_token": "abc", "refresh_token": "r" * 20}))
    assert found.requirement_id == "RFC6749-4.4.3-NO-REFRESH-TOKEN" and "r" * 20 not in str(found), str(found)
    issued = answer(200, {"access_token": "abc", "token_type": "Bearer", "expires_in": 1, "refresh_token": "r" * 20},
                    {"cache-control": "no-store", "pragma": "no-cache"})
    assert tc.no_refresh_token in [check for check, *_ in tc.issued_checks(issued)]


def test_the_configuration_fields():
    tc.configuration_fields(answer(200, CONFIGURATION))
    relative = {**CONFIGURATION, "token_endpoint": "/auth/token"}
    assert "absolute URL" in violation(tc.configuration_fields, answer(200, relative)).actual
    assert "capabilities" in violation(tc.configuration_fields, answer(200, {"token_endpoint": "https://x/t"})).actual


def test_what_is_advertised_decides_whether_token_scenarios_apply():
    assert not_advertised(CONFIGURATION) is None
    assert not_advertised({**CONFIGURATION, "token_endpoint_auth_methods_supported": None}) is None  # absent: not a no
    assert "client_secret_basic" in not_advertised({**CONFIGURATION, "token_endpoint_auth_methods_supported": ["private_key_jwt"]})
    assert "client-confidential-symmetric" in not_advertised({**CONFIGURATION, "capabilities": ["client-public"]})
    assert "token endpoint" in not_advertised({"capabilities": ["client-confidential-symmetric"]})
    assert "client_credentials" in not_advertised({**CONFIGURATION, "grant_types_supported": ["authorization_code"]})


def test_two_methods_at_once_are_judged_only_where_the_secret_in_the_body_is_advertised():
    both = {**CONFIGURATION, "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}
    assert post_not_advertised(both) is None
    basic_only = post_not_advertised(CONFIGURATION)
    assert "client_secret_post" in basic_only and "['client_secret_basic']" in basic_only and "§3.2" in basic_only
    assert "lists no token_endpoint_auth_methods_supported" in post_not_advertised(
        {**CONFIGURATION, "token_endpoint_auth_methods_supported": None})


def test_basic_credentials_for_the_token_endpoint_are_form_urlencoded_first():
    secret = reserved_secret()
    assert all(c in secret for c in "+/=%: ñ")
    token = token_basic_header("conf-id", secret).split(" ", 1)[1]
    client_id, encoded = base64.b64decode(token).decode("utf-8").split(":", 1)
    assert ":" not in encoded and " " not in encoded and unquote_plus(encoded) == secret and client_id == "conf-id"
    assert token_request_body() == "grant_type=client_credentials"
    assert token_request_body(client_id="a b") == "grant_type=client_credentials&client_id=a+b"


def test_every_token_of_an_answer_is_found_for_redaction_whatever_its_status():
    body = {"access_token": "a" * 20, "token_type": "Bearer", "expires_in": 300, "refresh_token": "r" * 20,
            "id_token": "h.p.s", "Vendor_Session_Token": "v" * 20, "scope": "system/*.read"}
    assert tc.tokens_in(answer(200, body)) == ["a" * 20, "r" * 20, "h.p.s", "v" * 20]
    assert tc.tokens_in(answer(400, {"error": "invalid_client", "refresh_token": "r" * 20})) == ["r" * 20]
    assert tc.tokens_in(answer(200, ["access_token"])) == [] and tc.tokens_in(answer(200)) == []


def test_an_invalid_scope_refusal_is_told_apart_from_any_other_answer():
    reason = tc.scope_required(answer(400, {"error": "invalid_scope"}))
    assert "invalid_scope (status 400)" in reason and "asks for no scope" in reason and "RFC 6749 §3.3" in reason
    assert tc.scope_required(answer(401, {"error": "invalid_scope"})) is not None
    for other in (answer(400, {"error": "invalid_client"}), answer(200, {"access_token": "t", "error": "invalid_scope"}),
                  answer(400), answer(400, ["invalid_scope"])):
        assert tc.scope_required(other) is None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _one_difference(token: str, changed: str) -> int:
    """The index of the one character that differs, checking it is a change within the same character class."""
    assert len(changed) == len(token), (token, changed)
    differ = [i for i, (a, b) in enumerate(zip(token, changed)) if a != b]
    assert len(differ) == 1, (token, changed)
    was, now = token[differ[0]], changed[differ[0]]
    assert was.lower() != now.lower(), f"{was!r} -> {now!r}: the same letter in another case"
    assert was.isdigit() == now.isdigit() and was.islower() == now.islower(), f"{was!r} -> {now!r}"
    assert (was in "abcdefABCDEF") == (now in "abcdefABCDEF"), f"{was!r} -> {now!r}: left the hex letters"
    return differ[0]


def test_a_jwt_is_changed_in_the_middle_of_its_signature():
    for _ in range(200):
        header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64url(json.dumps({"sub": "conf-1234-token", "jti": secrets.token_urlsafe(32)}).encode())
        signature = _b64url(secrets.token_bytes(32))
        token = f"{header}.{payload}.{signature}"
        changed = changed_in_one_character(token)
        index = _one_difference(token, changed)
        assert changed.startswith(f"{header}.{payload}."), "header or payload changed, not the signature"
        position = index - len(header) - len(payload) - 2
        assert abs(position - len(signature) // 2) <= 3, (position, len(signature))
        assert _unb64url(changed.rsplit(".", 1)[1]) != _unb64url(signature), "the change vanished in decoding"


def test_an_opaque_token_is_changed_near_its_middle():
    for _ in range(200):
        token = secrets.token_urlsafe(32)
        index = _one_difference(token, changed := changed_in_one_character(token))
        assert abs(index - len(token) // 2) <= 3, (index, token)
        assert _unb64url(changed) != _unb64url(token)
    assert changed_in_one_character("a.b") != "a.b" and changed_in_one_character("-_-") == "-_-A"


def test_a_uuid_token_stays_a_uuid_and_becomes_another_one():
    for _ in range(200):
        for token in (str(uuid.uuid4()), str(uuid.uuid4()).upper()):
            changed = changed_in_one_character(token)
            _one_difference(token, changed)
            assert uuid.UUID(changed) != uuid.UUID(token), (token, changed)


def test_a_hex_token_stays_hex_and_another_value_in_any_case():
    for _ in range(200):
        for token in (secrets.token_hex(16), secrets.token_hex(16).upper()):
            changed = changed_in_one_character(token)
            _one_difference(token, changed)
            assert int(changed, 16) != int(token, 16), (token, changed)
