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
    """Every way a secret may show up in text the suite prints or the server echoes."""
    forms = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    forms.add(base64.b64encode(secret.encode("utf-8")).decode("ascii"))
    return {form for form in forms if form}


class SecretRegistry:
    """The secrets of one run. Short strings are not redacted: they would mangle ordinary text.

    Secrets arrive all through a run (every scenario makes fresh ones) and redaction runs between
    arrivals, so one regex of every form, recompiled after each arrival, cost 0.26 s of a 1.5 s run:
    more than all of its HTTP (bench/suite_vs_floor.py). The forms are kept instead in groups, each compiled
    once, merged like a binary counter (a group joins the one before it once it is as large), so
    compiling stays O(n log n) and `redact` runs O(log n) patterns. A form that contains another, or
    is contained in one (a secret and the same secret with a character added), goes into the group of
    the forms it nests with: within a group the longest form is tried first, so no fragment of a longer
    form is left.
    """

    MIN_LENGTH = 4

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._groups: list[frozenset[str]] = []  # disjoint; together they hold every form
        self._patterns: dict[frozenset[str], re.Pattern[str]] = {}  # a group's, compiled when first needed

    def add(self, *secrets: str | None) -> None:
        """Register secrets; those given together (a secret and its Basic token) go into one group."""
        forms = {form for secret in secrets if secret and len(secret) >= self.MIN_LENGTH
                 for form in textual_forms(secret) if len(form) >= self.MIN_LENGTH}
        self._add_forms(forms - self._forms)

    def _add_forms(self, new: set[str]) -> None:
        if not new:
            return
        self._forms |= new
        kin = [group for group in self._groups if any(a in b or b in a for a in new for b in group)]
        group = frozenset(new.union(*kin))  # nested forms share a group, so the longest is tried first
        self._groups = [old for old in self._groups if old not in kin] + [group]
        while len(self._groups) > 1 and len(self._groups[-1]) >= len(self._groups[-2]):
            self._groups.append(self._groups.pop() | self._groups.pop())
        live = set(self._groups)
        self._patterns = {group: pattern for group, pattern in self._patterns.items() if group in live}

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
        for group in self._groups:
            text = self._pattern(group).sub(REDACTED, text)
        return text

    def _pattern(self, group: frozenset[str]) -> re.Pattern[str]:
        if group not in self._patterns:
            longest_first = sorted(group, key=len, reverse=True)
            self._patterns[group] = re.compile("|".join(re.escape(form) for form in longest_first))
        return self._patterns[group]
