"""The one redaction function every output goes through (DESIGN.md §5).

Secrets are registered as soon as the suite knows them (options, freshly generated secrets, every
credential it builds); `redact` then replaces each of their textual forms -- plain, JSON-escaped (once
or twice), URL-encoded, base64 -- any piece of FRAGMENT characters of one, and any Authorization value, wherever they
appear. `shown_in` finds the same things, for the checks that a server does not echo a secret.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"

# An Authorization (or Proxy-Authorization) header as text, in any rendering: "Authorization: Basic xyz",
# "'authorization': 'Basic xyz'", "authorization=Basic xyz". The value runs to the end of the line, a quote or a
# closing brace (not a comma: "Basic x, Bearer y" is one value).
# What stays is the name and, when the value starts with a registered scheme name (IANA's HTTP Authentication
# Scheme Registry, and NTLM and AWS4-HMAC-SHA256) followed by a space or by its end, that word: a scheme name is
# no secret, and any other first word may be one (a bare token, "Basic:token", a scheme-less secret).
# The lookahead lets the regex engine skip to the next a or p instead of trying every position (28 ms -> 11 ms
# of a 520 KB report): it cannot do that for a pattern that ignores case from its first character.
_SCHEMES = ("basic|bearer|concealed|digest|dpop|gnap|hoba|mutual|negotiate|oauth|privatetoken|scram-sha-1|"
            "scram-sha-256|vapid|ntlm|aws4-hmac-sha256")
_AUTH_HEADER = re.compile(r"""(?=[AaPp])((?i:(?:proxy-)?authorization)['"]?\s*[:=]\s*['"]?"""
                          rf"""(?:(?i:{_SCHEMES})(?=[ \t]|['"\r\n]|$)[ \t]*)?)([^'"\r\n}}]*)""")


def json_escaped(text: str) -> set[str]:
    """text as it shows inside a JSON string: non-ASCII characters as \\u escapes or as they are."""
    return {json.dumps(text, ensure_ascii=ascii_only)[1:-1] for ascii_only in (True, False)}


def textual_forms(secret: str) -> set[str]:
    """Every way a secret may show up in text the suite prints or the server echoes: plain (and, for a
    base64 token, without its padding), JSON-escaped once or twice (a JSON string inside a JSON string: a
    secret with " or \\ in it then differs from its once-escaped form), URL-encoded, base64 and base64url
    with and without padding, hex."""
    raw = secret.encode("utf-8", "surrogatepass")
    encoded = [base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")]
    escaped = json_escaped(secret)
    forms = {secret, secret.rstrip("="), *escaped, *(twice for once in escaped for twice in json_escaped(once)),
             quote(secret, safe=""), quote_plus(secret), raw.hex(), *encoded, *(form.rstrip("=") for form in encoded)}
    return {form for form in forms if form}


# A piece of a secret at least this long is redacted wherever it shows (a server that quotes the first 16
# characters of what it was given shows half of a secret the suite sent with one character more or less).
# Ten: a piece of a random secret of the suite's alphabet (62 symbols) carries 59 bits, of hex 40, so ordinary
# text -- run ids, digests, words -- matches one of a run's ~10^5 registered pieces only by a chance too small to
# matter, where eight hex digits (a run id's shape) would already meet about 1 in 40,000; and what can stay
# visible, a piece of 9 characters, is 53 of a fresh secret's 190 bits. Forms shorter than this are redacted
# whole only: a piece of a short secret would be a few letters of ordinary text.
FRAGMENT = 10
# Every FRAGMENT-character piece of text holds a PROBE-character piece starting at a multiple of PROBE
# (FRAGMENT >= 2 * PROBE - 1), so looking up one piece every PROBE characters finds each place to look closer.
PROBE = (FRAGMENT + 1) // 2


class SecretRegistry:
    """The secrets of one run. Short strings are not redacted: they would mangle ordinary text.

    Secrets arrive all through a run (every scenario makes fresh ones) and redaction runs between
    arrivals, so nothing is compiled: each form of FRAGMENT characters or more is kept as the set of its
    FRAGMENT-character pieces, and redaction replaces every stretch of text made of registered pieces -- a
    whole form or any part of one at least FRAGMENT long, a secret with a character added if that was
    registered too -- by looking up a piece every PROBE characters and around each hit. It costs time in
    proportion to the text, not to the number of secrets (bench/redaction.py). Shorter forms are replaced
    whole, longest first.
    """

    MIN_LENGTH = 4

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._short_forms: list[str] = []  # shorter than FRAGMENT, longest first
        self._pieces: set[str] = set()     # every FRAGMENT-character piece of every longer form
        self._probes: set[str] = set()     # every PROBE-character piece of those

    def add(self, *secrets: str | None) -> None:
        """Register secrets, each with every textual form it may take."""
        forms = {form for secret in secrets if secret and len(secret) >= self.MIN_LENGTH
                 for form in textual_forms(secret) if len(form) >= self.MIN_LENGTH}
        new = forms - self._forms
        if not new:
            return
        self._forms |= new
        for form in new:
            self._pieces.update(form[i:i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1))
            self._probes.update(form[i:i + PROBE] for i in range(len(form) - PROBE + 1) if len(form) >= FRAGMENT)
        if any(len(form) < FRAGMENT for form in new):
            self._short_forms = sorted((form for form in self._forms if len(form) < FRAGMENT), key=len, reverse=True)

    def add_credentials(self, client_id: str, secret: str | None) -> None:
        """A Basic token is base64 of id:secret; the secret alone cannot be found inside it."""
        if secret:
            self.add(secret, base64.b64encode(f"{client_id}:{secret}".encode("utf-8")).decode("ascii"))

    @property
    def forms(self) -> frozenset[str]:
        return frozenset(self._forms)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each stretch of text made of registered pieces, in order, none touching another."""
        hits = [i for i in range(0, len(text) - PROBE + 1, PROBE) if text[i:i + PROBE] in self._probes]
        spans: list[tuple[int, int]] = []
        for hit in hits:  # the pieces holding this probe start from hit + PROBE - FRAGMENT to hit: in order
            for start in range(max(0, hit + PROBE - FRAGMENT), min(hit, len(text) - FRAGMENT) + 1):
                if text[start:start + FRAGMENT] in self._pieces:
                    if spans and start <= spans[-1][1]:
                        spans[-1] = (spans[-1][0], start + FRAGMENT)
                    else:
                        spans.append((start, start + FRAGMENT))
        return spans

    def shown_in(self, text: str) -> bool:
        """Whether text shows a registered secret, any form of one, or a piece of one FRAGMENT long."""
        return bool(self.spans(text)) or any(form in text for form in self._short_forms)

    def redact(self, text: str) -> str:
        """Return text with every registered secret form, every piece of one FRAGMENT long and every
        Authorization value but its scheme name replaced ("authorization: Basic [REDACTED]")."""
        if not text:
            return text
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + (REDACTED if m.group(2) else ""), text)
        kept, end = [], 0
        for start, stop in self.spans(text):
            kept += [text[end:start], REDACTED]
            end = stop
        text = "".join(kept) + text[end:] if kept else text
        for form in self._short_forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text
