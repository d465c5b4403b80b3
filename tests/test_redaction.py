"""The one redaction function: every form of every registered secret, and every Authorization value."""

import base64
import json
from urllib.parse import quote

from conformance.credentials import basic_header, fresh_secret, utf8_secret
from conformance.redaction import REDACTED, SecretRegistry


def registry_with(*secrets):
    registry = SecretRegistry()
    registry.add(*secrets)
    return registry


def test_plain_secret_is_redacted():
    secret = fresh_secret()
    assert secret not in registry_with(secret).redact(f"body said {secret}!"), "plain secret survived"


def test_json_escaped_url_encoded_and_base64_forms_are_redacted():
    secret = utf8_secret()
    registry = registry_with(secret)
    for form in (json.dumps(secret)[1:-1], quote(secret, safe=""), base64.b64encode(secret.encode()).decode()):
        assert form not in registry.redact(f"x {form} y"), f"form {form!r} survived"


def test_basic_token_of_registered_credentials_is_redacted_anywhere():
    registry = SecretRegistry()
    secret = fresh_secret()
    registry.add_credentials("client-a", secret)
    token = basic_header("client-a", secret).split()[1]
    assert token not in registry.redact(f"a url ?t={token}"), "token in a URL survived"


def test_authorization_values_are_redacted_even_unregistered():
    registry = SecretRegistry()
    for text in ("Authorization: Basic Zm9vOmJhcg==", "{'authorization': 'Bearer abc.def'}",
                 '"Authorization": "Digest xyz"', "proxy-authorization=Basic Zm9v"):
        redacted = registry.redact(text)
        assert "Zm9v" not in redacted and "abc.def" not in redacted and "xyz" not in redacted, redacted
        assert REDACTED in redacted, redacted


def test_ordinary_text_is_left_alone():
    registry = registry_with(fresh_secret())
    text = "expected 401 Unauthorized; got 200"
    assert registry.redact(text) == text


def test_overlapping_secrets_redact_longest_first():
    short, long = "abcdEFGH", "abcdEFGH-and-more"
    assert registry_with(short, long).redact(long) == REDACTED


def test_every_secret_of_a_long_run_is_redacted_whenever_it_arrived():
    """Secrets arrive between redactions all through a run; each stays redacted whenever it arrived."""
    registry = SecretRegistry()
    secrets = []
    for index in range(200):
        secret = fresh_secret()
        registry.add_credentials(f"conf-0123abcd-client-{index}", secret)
        secrets.append(secret)
        registry.redact("text between arrivals")
    text = " | ".join(secrets + [basic_header(f"conf-0123abcd-client-{i}", s).split()[1] for i, s in enumerate(secrets)])
    redacted = registry.redact(text)
    assert set(redacted.split(" | ")) == {REDACTED}, redacted[:300]


def test_a_secret_nested_in_one_registered_long_before_leaves_no_fragment():
    """The right secret with its last character removed arrives after many others: the full secret must
    still be redacted whole, not as [REDACTED] plus its last character."""
    registry = SecretRegistry()
    secret = fresh_secret()
    registry.add(secret)
    for _ in range(50):
        registry.add(fresh_secret())
        registry.redact("x")
    registry.add(secret[:-1], secret + "x")
    assert registry.redact(f"<{secret}>") == f"<{REDACTED}>"
    assert registry.redact(f"<{secret}x>") == f"<{REDACTED}>"
    assert registry.redact(f"<{secret[:-1]}>") == f"<{REDACTED}>"
