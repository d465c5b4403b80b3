"""Turning broken requirements into outcomes: a MUST fails the scenario, a SHOULD warns (DESIGN.md §4).

Checks raise `Violation`; a `Verdict` looks up the requirement's level in the register and decides. A check
that finds nothing to judge (no 401 to look for a challenge in, no match to look at) returns `NotApplicable`:
the requirement is then neither met nor broken in that scenario ("Never vacuous", DESIGN.md §4).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import pytest

from conformance.exchange import UNDER_TEST, Exchange
from conformance.redaction import SecretRegistry
from conformance.register import requirement


class Violation(Exception):
    """A check found the server breaking a requirement."""

    def __init__(self, expected: str, actual: str, requirement_id: str | None = None,
                 exchange: Exchange | None = None):
        super().__init__(f"expected {expected}; got {actual}")
        self.expected = expected
        self.actual = actual
        self.requirement_id = requirement_id
        self.exchange = exchange


@dataclass(frozen=True)
class NotApplicable:
    """What a check returns when the answer gives it nothing to judge, and why."""

    reason: str


class ConformanceFailure(AssertionError):
    """A MUST (or, with --fail-on-should, a SHOULD) requirement broke; names the requirements that did."""

    def __init__(self, message: str, requirement_ids: tuple[str, ...] = ()):
        super().__init__(message)
        self.requirement_ids = requirement_ids


class ShouldWarning(UserWarning):
    """A SHOULD requirement broke: reported, but the run still passes unless --fail-on-should."""


def check(requirement_id: str) -> Callable:
    """Mark a function as the check of one requirement: its Violations carry that id."""

    def decorate(function: Callable) -> Callable:
        requirement(requirement_id)  # an unknown id is an error when the check is defined

        @functools.wraps(function)
        def run(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Violation as violation:
                violation.requirement_id = violation.requirement_id or requirement_id
                raise

        run.requirement_id = requirement_id
        return run

    return decorate


def describe_violation(violation: Violation, redactor: SecretRegistry) -> str:
    req = requirement(violation.requirement_id)
    lines = [
        f"[{req.level}] {req.id} ({req.source}): {req.text}",
        f"  expected: {violation.expected}",
        f"  actual:   {violation.actual}",
        f"  see: {req.url}",
    ]
    if violation.exchange is not None:
        lines.append("  request and response:")
        lines += ["    " + line for line in violation.exchange.describe(redactor).splitlines()]
    return redactor.redact("\n".join(lines))


@dataclass
class Verdict:
    """Collects the violations of one scenario and turns them into its outcome."""

    redactor: SecretRegistry
    fail_on_should: bool
    warnings: list[str] = field(default_factory=list)  # SHOULD requirements not met
    notes: list[str] = field(default_factory=list)     # MAY behaviours not offered: information only
    held: set[str] = field(default_factory=set)        # requirements a check judged and found met
    not_applicable: dict[str, str] = field(default_factory=dict)  # requirement -> why a check found nothing to judge

    def check(self, *checks: tuple) -> None:
        """Run each (check, *args); all of them run, then every MUST violation fails the scenario at once.
        Each exchange a check is given is what the scenario judges: the reports label it the request under test.
        An answer the server throttled (429) is no answer to judge: the scenario is skipped, saying so."""
        for _check, *args in checks:
            for throttled in (arg for arg in args if isinstance(arg, Exchange) and arg.status == 429):
                retry = throttled.response.headers.get("retry-after", "not given")
                self.skip_not_applicable(f"the server throttled the request (429 Too Many Requests, Retry-After: "
                                         f"{retry}), so its answer says nothing about the credentials; run again "
                                         "later, or with the server's rate limit raised for the run")
        failures: dict[str, str] = {}
        for check_function, *args in checks:
            for exchange in (arg for arg in args if isinstance(arg, Exchange)):
                exchange.role = UNDER_TEST
            try:
                result = check_function(*args)
            except Violation as violation:
                if message := self._judge(violation):
                    failures.setdefault(violation.requirement_id, message)
            except Exception as error:  # noqa: BLE001 - an answer a check cannot even read breaks its requirement
                violation = Violation("an answer this check can read", f"{type(error).__name__}: {error}",
                                      requirement_id=getattr(check_function, "requirement_id", None))
                if violation.requirement_id is None:
                    raise
                if message := self._judge(violation):
                    failures.setdefault(violation.requirement_id, message)
            else:
                requirement_id = getattr(check_function, "requirement_id", None)
                if isinstance(result, NotApplicable):
                    self.not_applicable.setdefault(requirement_id, result.reason)
                elif requirement_id:
                    self.held.add(requirement_id)
        if failures:
            raise ConformanceFailure("\n\n".join(failures.values()), tuple(failures))

    def _judge(self, violation: Violation) -> str | None:
        """The failure message if the violation fails the scenario; otherwise it is kept as a warning or note."""
        message = describe_violation(violation, self.redactor)
        level = requirement(violation.requirement_id).level
        if level == "MUST" or (level == "SHOULD" and self.fail_on_should):
            return message
        (self.warnings if level == "SHOULD" else self.notes).append(message)
        return None

    def skip_not_applicable(self, reason: str) -> None:
        pytest.skip(self.redactor.redact(f"not applicable: {reason}"))
