"""The one redaction function every output goes through (DESIGN.md §5).

Secrets are registered as soon as the suite knows them (options, freshly generated secrets, every
credential it builds); `redact` then replaces each of their textual forms -- plain, JSON-escaped,
URL-encoded, base64 -- and any Authorization value, wherever they appear.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"

# An Authorization (or Proxy-Authorization) header as text, in any rendering: "Authorization: Basic xyz",
# "'authorization': 'Basic xyz'", "authorization=Basic xyz". The value is cut at the end of the line or quote.
_AUTH_HEADER = re.compile(r"""((?:proxy-)?authorization['"]?\s*[:=]\s*['"]?)[^'"\r\n,}]+""", re.IGNORECASE)


def textual_forms(secret: str) -> set[str]:
    """Every way a secret may show up in text the suite prints or the server echoes: plain (and, for a
    base64 token, without its padding), JSON-escaped, URL-encoded, base64 and base64url with and without
    padding, hex."""
    raw = secret.encode("utf-8", "surrogatepass")
    encoded = [base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")]
    forms = {secret, secret.rstrip("="), json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret),
             raw.hex(), *encoded, *(form.rstrip("=") for form in encoded)}
    return {form for form in forms if form}


class SecretRegistry:
    """The secrets of one run. Short strings are not redacted: they would mangle ordinary text.

    Secrets arrive all through a run (every scenario makes fresh ones) and redaction runs between
    arrivals. Plain substring replacement, longest form first, needs no compiling: one regex alternation
    of every form, rebuilt as secrets arrived, cost 0.19 s of a run; this costs 0.04 s
    (bench/suite_vs_floor.py). Longest first: a secret with a character added is replaced whole, not as
    the secret's replacement plus that character.
    """

    MIN_LENGTH = 4

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._longest_first: list[str] = []

    def add(self, *secrets: str | None) -> None:
        """Register secrets, each with every textual form it may take."""
        forms = {form for secret in secrets if secret and len(secret) >= self.MIN_LENGTH
                 for form in textual_forms(secret) if len(form) >= self.MIN_LENGTH}
        if forms - self._forms:
            self._forms |= forms
            self._longest_first = sorted(self._forms, key=len, reverse=True)

    def add_credentials(self, client_id: str, secret: str | None) -> None:
        """A Basic token is base64 of id:secret; the secret alone cannot be found inside it."""
        if secret:
            self.add(secret, base64.b64encode(f"{client_id}:{secret}".encode("utf-8")).decode("ascii"))

    @property
    def forms(self) -> frozenset[str]:
        return frozenset(self._forms)

    def redact(self, text: str) -> str:
        """Return text with every registered secret form and every Authorization value replaced."""
        if not text:
            return text
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
        for form in self._longest_first:
            if form in text:
                text = text.replace(form, REDACTED)
        return text
