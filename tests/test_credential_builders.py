"""Each wrong credential changes exactly one thing about the right one."""

import base64

import pytest

from conformance.credentials import (HEADER_FORMS, WRONG_SECRETS, Credentials, basic_token, colon_secret,
                                     fresh_secret, secret_missing_last_char, secret_other_case,
                                     secret_with_char_added, utf8_secret, wrong_secret_same_length)


def test_fresh_secrets_are_random_long_and_mixed_case():
    secrets = {fresh_secret() for _ in range(50)}
    assert len(secrets) == 50, "secrets repeat"
    assert all(len(s) >= 22 and s != "secret" and s.swapcase() != s for s in secrets), secrets


@pytest.mark.parametrize("variant", WRONG_SECRETS)
def test_every_wrong_secret_differs_from_the_right_one(variant):
    right = fresh_secret()
    assert WRONG_SECRETS[variant](right) != right, variant


def test_wrong_secrets_change_exactly_what_they_say():
    right = fresh_secret()
    same = wrong_secret_same_length(right)
    assert len(same) == len(right) and all(a.lower() != b.lower() for a, b in zip(same, right)), same
    assert secret_with_char_added(right)[:-1] == right
    assert right.startswith(secret_missing_last_char(right)) and len(secret_missing_last_char(right)) == len(right) - 1
    assert secret_other_case(right).lower() == right.lower() != secret_other_case(right)


def test_basic_token_is_base64_of_id_colon_secret_in_utf8():
    secret = utf8_secret()
    assert base64.b64decode(basic_token("c", secret)).decode("utf-8") == f"c:{secret}"


def test_encoding_secrets_carry_what_they_exercise():
    assert colon_secret().count(":") == 2
    assert any(ord(c) > 127 for c in utf8_secret())


def test_not_base64_form_decodes_only_leniently():
    credentials = Credentials("client-a", fresh_secret())
    token = HEADER_FORMS["as a token that is not base64"](credentials).split(" ", 1)[1]
    with pytest.raises(ValueError):
        base64.b64decode(token, validate=True)
    assert base64.b64decode(token.replace(".", "")) == f"client-a:{credentials.secret}".encode()
