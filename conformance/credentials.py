"""Building Authorization header values, right and wrong, each wrong one changing exactly one thing."""

from __future__ import annotations

import base64
import secrets as random_source
import string
from dataclasses import dataclass, field

SECRET_ALPHABET = string.ascii_letters + string.digits


def fresh_secret(length: int = 32) -> str:
    """A random secret of at least 128 bits (32 chars of 62 symbols = 190 bits), never 'secret'.
    Mixed-case letters are guaranteed so a case-swapped variant always differs."""
    while True:
        value = "".join(random_source.choice(SECRET_ALPHABET) for _ in range(length))
        if any(c.islower() for c in value) and any(c.isupper() for c in value):
            return value


def basic_token(client_id: str, secret: str) -> str:
    """base64(UTF-8(client_id ':' secret)), RFC 7617 §2."""
    return base64.b64encode(f"{client_id}:{secret}".encode("utf-8")).decode("ascii")


def basic_header(client_id: str, secret: str, scheme: str = "Basic") -> str:
    return f"{scheme} {basic_token(client_id, secret)}"


@dataclass(frozen=True)
class Credentials:
    """A client id and secret the suite sends."""

    client_id: str
    secret: str = field(repr=False)  # never in a repr, so never in a traceback

    def header(self) -> str:
        return basic_header(self.client_id, self.secret)


# --- wrong secrets: each a one-character-level change of the right one ----------------------------

def _different_char(char: str) -> str:
    return next(c for c in SECRET_ALPHABET if c != char and c.swapcase() != char)


def wrong_secret_same_length(secret: str) -> str:
    """Every character replaced: same length, nothing in common position by position."""
    return "".join(_different_char(c) for c in secret)


def secret_with_char_added(secret: str) -> str:
    return secret + "x"


def secret_missing_last_char(secret: str) -> str:
    return secret[:-1]


def secret_other_case(secret: str) -> str:
    return secret.swapcase()


def secret_last_char_changed(secret: str) -> str:
    """Same length, one character different: a server comparing only part of the secret accepts this."""
    return secret[:-1] + _different_char(secret[-1])


def secret_with_trailing_space(secret: str) -> str:
    """A server that trims what it is given accepts this."""
    return secret + " "


def secret_continued_after_nul(secret: str) -> str:
    """A server that reads the secret as a C string, ending at the first NUL, accepts this."""
    return secret + "\0" + "x"


WRONG_SECRETS = {
    "wrong but of the same length": wrong_secret_same_length,
    "the right one with a character added": secret_with_char_added,
    "the right one with a space added": secret_with_trailing_space,
    "the right one followed by a NUL character and more": secret_continued_after_nul,
    "the right one missing its last character": secret_missing_last_char,
    "the right one with its last character changed": secret_last_char_changed,
    "the right one in another letter case": secret_other_case,
    "empty": lambda secret: "",
}


# --- malformed header forms: the right credentials, wrongly presented -----------------------------

def _not_base64(token: str) -> str:
    """The right token with '.' inserted: a valid token68 but not base64 (RFC 4648 §3.3); a lenient decoder
    that skips unknown characters would still find the right credentials in it."""
    return f"Basic {token[:4]}.{token[4:]}"


HEADER_FORMS = {
    "with no Authorization header": lambda c: None,
    "under the Bearer scheme": lambda c: f"Bearer {basic_token(c.client_id, c.secret)}",
    "under the Digest scheme": lambda c: f"Digest {basic_token(c.client_id, c.secret)}",
    "as Basic with nothing after it": lambda c: "Basic",
    "as a token that is not base64": lambda c: _not_base64(basic_token(c.client_id, c.secret)),
    "as base64 of text without a colon":
        lambda c: "Basic " + base64.b64encode(f"{c.client_id}{c.secret}".encode()).decode("ascii"),
    "followed by extra text": lambda c: f"{c.header()} extra",
    "wrapped in double quotes": lambda c: f'"{c.header()}"',
}

SCHEME_SPELLINGS = {"basic": "basic", "BASIC": "BASIC"}

# Secrets that exercise RFC 7617's encoding rules; a random part keeps each one fresh.
COLON_SECRET_SHAPE = "{a}:{b}:{c}"
UTF8_SECRET_SHAPE = "{a}-ñé-日本-{b}"
URL_SENSITIVE_SECRET_SHAPE = "{a}+%2B/={b}"  # URL- or form-decoding changes it; ASCII, so UTF-8 plays no part
LONG_SECRET_LENGTH = 100  # past the 72 bytes bcrypt reads: a server hashing with it ignores the rest


def colon_secret() -> str:
    return COLON_SECRET_SHAPE.format(a=fresh_secret(12), b=fresh_secret(12), c=fresh_secret(12))


def utf8_secret() -> str:
    return UTF8_SECRET_SHAPE.format(a=fresh_secret(16), b=fresh_secret(16))


def url_sensitive_secret() -> str:
    return URL_SENSITIVE_SECRET_SHAPE.format(a=fresh_secret(12), b=fresh_secret(12))


def long_secret() -> str:
    return fresh_secret(LONG_SECRET_LENGTH)
