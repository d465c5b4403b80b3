"""The one redaction function: every form of every registered secret, every piece of FRAGMENT characters of one,
and every Authorization value."""

import base64
import json
import random
import re
import string
from urllib.parse import quote

import pytest

from conformance.credentials import basic_header, fresh_secret, utf8_secret
from conformance.redaction import FRAGMENT, REDACTED, SecretRegistry


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


@pytest.mark.parametrize("text, shown", [
    ("authorization: Basic Zm9vOmJhcg==", "authorization: Basic [REDACTED]"),
    ("Authorization: bAsIc\tZm9vOmJhcg==", "Authorization: bAsIc\t[REDACTED]"),
    ('{"Authorization": "Digest username=x, response=abc"}', '{"Authorization": "Digest [REDACTED]"}'),
    ("> authorization: Bearer abc.def.ghi", "> authorization: Bearer [REDACTED]"),
    ("proxy-authorization=Negotiate YIIBhg", "proxy-authorization=Negotiate [REDACTED]"),
    # malformed values: a quoted header, a scheme alone, trailing text, a second credential after a comma
    ('authorization: "Basic Zm9vOmJhcg=="', 'authorization: "Basic [REDACTED]"'),
    ("authorization: Basic", "authorization: Basic"),
    ("authorization: Basic \n< 401 Unauthorized", "authorization: Basic \n< 401 Unauthorized"),
    ("authorization: Basic Zm9vOmJhcg== extra", "authorization: Basic [REDACTED]"),
    ("authorization: Basic Zm9v, Bearer YmFy", "authorization: Basic [REDACTED]"),
    # a first word that is no scheme name may be the credential itself: all of it goes
    ("authorization: Zm9vOmJhcg==", "authorization: [REDACTED]"),
    ("authorization: Basic:Zm9vOmJhcg==", "authorization: [REDACTED]"),
    ("authorization: Basic,Zm9vOmJhcg==", "authorization: [REDACTED]"),
    ("authorization: BasicZm9vOmJhcg==", "authorization: [REDACTED]"),
    ("authorization: s3cr3tBearer Zm9v", "authorization: [REDACTED]"),
])
def test_an_authorization_value_shows_its_scheme_name_and_nothing_after_it(text, shown):
    assert SecretRegistry().redact(text) == shown


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


# --- pieces of secrets: a server that quotes part of what it was given ------------------------------------

def pieces(secret: str, length: int = FRAGMENT) -> list[str]:
    return [secret[i:i + length] for i in range(len(secret) - length + 1)]


@pytest.mark.parametrize("cut", [slice(0, 16), slice(10, 26), slice(22, None), slice(0, FRAGMENT), slice(-FRAGMENT, None)])
def test_a_piece_of_a_secret_at_least_fragment_long_is_redacted(cut):
    """A server quoting the first 16 characters of 'the right one with a character added' shows half the secret."""
    secret = fresh_secret()
    redacted = registry_with(secret).redact(f'{{"diagnostics": "Authentication failed for c1:{secret[cut]}"}}')
    assert not any(piece in redacted for piece in pieces(secret)), redacted
    assert redacted == f'{{"diagnostics": "Authentication failed for c1:{REDACTED}"}}'


def test_a_piece_of_a_basic_token_is_redacted():
    """The Authorization value echoed back cut short: a piece of the token, which decodes to part of the secret."""
    registry, secret = SecretRegistry(), fresh_secret()
    registry.add_credentials("conf-0123abcd-client", secret)
    token = basic_header("conf-0123abcd-client", secret).split()[1]
    assert registry.redact(f"received {token[20:44]} here") == f"received {REDACTED} here"


def test_a_piece_of_an_encoded_form_is_redacted():
    secret = utf8_secret()
    registry = registry_with(secret)
    for form in (json.dumps(secret)[1:-1], quote(secret, safe=""), base64.b64encode(secret.encode()).decode()):
        assert registry.redact(f"x {form[3:3 + FRAGMENT + 2]} y") == f"x {REDACTED} y", form


def test_a_piece_shorter_than_fragment_is_left():
    """The bound of what a piece of a secret may show: FRAGMENT - 1 characters, next to ordinary text."""
    secret = fresh_secret()
    text = f"for c1:{secret[:FRAGMENT - 1]}!"
    assert registry_with(secret).redact(text) == text


def test_a_short_secret_is_redacted_whole_only():
    registry = registry_with("abcdEF")
    assert registry.redact("x abcdEF y abcdE") == f"x {REDACTED} y abcdE"


def test_secret_pieces_glued_to_other_letters_are_cut_at_the_piece():
    secret = fresh_secret()
    before, after = ("Q" if secret[4] != "Q" else "R"), ("Q" if secret[20] != "Q" else "R")  # not the secret's own
    redacted = registry_with(secret).redact(f"{before}{secret[5:20]}{after}-{secret[:12]}")
    assert redacted == f"{before}{REDACTED}{after}-{REDACTED}"


def test_redaction_replaces_exactly_the_registered_pieces():
    """Against the plain definition: every character inside a FRAGMENT-long piece of a registered form is
    replaced, every other one kept. Random texts, seeded, with pieces of many lengths planted."""
    rng = random.Random(7)
    secrets = [fresh_secret() for _ in range(20)]
    registry = registry_with(*secrets)
    all_pieces = {piece for form in registry.forms for piece in pieces(form)}
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(0, 6)):
            parts.append("".join(rng.choice(string.ascii_letters + " :") for _ in range(rng.randint(0, 12))))
            secret = rng.choice(secrets)
            start = rng.randint(0, len(secret) - 1)
            parts.append(secret[start:start + rng.randint(1, 20)])
        text = "".join(parts)
        covered = [False] * len(text)
        for i in range(len(text) - FRAGMENT + 1):
            if text[i:i + FRAGMENT] in all_pieces:
                covered[i:i + FRAGMENT] = [True] * FRAGMENT
        expected = re.sub(r"\x00+", REDACTED, "".join("\0" if c else ch for ch, c in zip(text, covered)))
        assert registry.redact(text) == expected, text


def test_shown_in_finds_what_redact_replaces():
    secret = fresh_secret()
    registry = registry_with(secret, "abcdEF")
    assert registry.shown_in(f"x{secret[3:3 + FRAGMENT]}y") and registry.shown_in("an abcdEF")
    assert not registry.shown_in(f"-{secret[3:3 + FRAGMENT - 1]}- abcdE Authorization: Basic Zm9v")


# --- what the admin API shows in a secret's place -----------------------------------------------------------

def test_every_secret_field_of_an_admin_answer_is_registered_as_it_arrives():
    """Under pytest-xdist each worker redacts a scenario's report when the scenario ends: a stored form the admin
    API showed in an earlier scenario (Aidbox: "__sha256:...") must already be registered then, whether or not
    a later scenario sends it as a password."""
    import httpx

    from conformance.credentials import Credentials
    from conformance.exchange import HttpAgent, SuiteClient
    from conformance.provisioning import Provisioner

    stored = {"/Client/c1": "__sha256:" + "ab12" * 16, "/Client/c2": "__sha256:" + "cd34" * 16}

    def admin_api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/Client":
            return httpx.Response(200, json={"resourceType": "Bundle", "entry": [
                {"resource": {"id": "c2", "secret": stored["/Client/c2"]}}]})
        return httpx.Response(200, json={"id": "c1", "secret": stored["/Client/c1"], "grant_types": ["basic"]})

    registry = SecretRegistry()
    provisioner = Provisioner(HttpAgent(SuiteClient(1.0, transport=httpx.MockTransport(admin_api)), "http://s.test"),
                              Credentials("root", fresh_secret()), "0123abcd", "/fhir", secret_registry=registry)
    provisioner.register_client("c1", fresh_secret())
    assert registry.redact(f'"secret": "{stored["/Client/c1"]}"') == f'"secret": "{REDACTED}"'
    assert registry.shown_in(stored["/Client/c2"]) is False
    provisioner.list("/Client")
    assert registry.redact(stored["/Client/c2"]) == REDACTED


@pytest.mark.parametrize("secret", ['Q7"xK\\p2"Rm\\w9"Tz\\b4"Lq', 'é"ü\\ñ"ø\\å"ß\\ç"éü', '"\\"\\"\\x"\\"\\"y'])
def test_a_secret_with_quotes_or_backslashes_echoed_in_a_json_string_inside_a_json_string_is_redacted(secret):
    """A user-given secret with " or \\ in it: a server that puts an error body into a JSON string (a log line, a
    nested diagnostics field) escapes its escapes, so no piece of the once-escaped form is left to find."""
    once = json.dumps({"diagnostics": f"no client with secret {secret}"})
    twice = json.dumps({"body": once})
    assert json.dumps(secret)[1:-1] not in twice  # the once-escaped form alone would not find it
    expected = json.dumps({"body": json.dumps({"diagnostics": f"no client with secret {REDACTED}"})})
    for text, redacted in ((twice, expected), (json.dumps({"body": json.dumps({"d": secret}, ensure_ascii=False)},
                                                            ensure_ascii=False), None)):
        shown = registry_with(secret).redact(text)
        assert secret not in shown and REDACTED in shown, shown
        if redacted is not None:
            assert shown == redacted
