"""What a run concluded, scenario by scenario and as a whole (DESIGN.md §4): outcomes, waivers, stale
waivers and the exit code. Pure logic with no pytest hooks; conformance.reporting feeds it.

Outcomes, worst first:

- fail:   a MUST requirement broke (or a SHOULD under --fail-on-should), or the scenario errored
- warn:   a SHOULD requirement broke
- waived: every requirement that broke is listed in the waivers file
- skip:   not applicable, a prerequisite or control failed, or provisioning is needed
- pass:   every check held

The run passes (exit 0) exactly when no scenario failed and no waiver is stale.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from conformance.register import load_register

PASS, FAIL, WARN, SKIP, WAIVED = "pass", "fail", "warn", "skip", "waived"
# What a scenario found of one requirement it checks, besides PASS (met), FAIL, WARN and WAIVED.
NOT_OFFERED, NOT_APPLICABLE, NOT_CHECKED = "not offered", "not applicable", "not checked"
OUTCOMES = (FAIL, WARN, WAIVED, SKIP, PASS)  # worst first; the order reports list them in
OUTCOME_LABELS = {PASS: "passed", FAIL: "failed", WARN: "warning", SKIP: "skipped", WAIVED: "waived"}


# --- waivers -------------------------------------------------------------------------------------

class WaiverError(ValueError):
    """The waivers file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Waiver:
    requirement_id: str
    reason: str


def load_waivers(path: str | Path) -> dict[str, Waiver]:
    """Read a waivers file: YAML, or JSON when the name ends in .json.

    Either a mapping with a `waivers` list, or the list itself; each entry names a requirement of
    features/requirements.csv and gives a reason:

        waivers:
          - requirement: RFC9110-11.6.1
            reason: "our gateway strips WWW-Authenticate; ticket OPS-123"
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise WaiverError(f"cannot read the waivers file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise WaiverError(f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}); "
                          "save it as UTF-8") from None
    data = _parse(path, text)
    entries = data.get("waivers") if isinstance(data, dict) else data
    if isinstance(data, dict) and set(data) - {"waivers"}:
        raise WaiverError(f"{path}: unknown top-level keys {sorted(set(data) - {'waivers'})}; expected only 'waivers'")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise WaiverError(f"{path}: expected a list of waivers (or a mapping with a 'waivers' list)")
    register = load_register()
    waivers: dict[str, Waiver] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: waiver #{number}"
        if not isinstance(entry, dict):
            raise WaiverError(f"{where}: expected a mapping with 'requirement' and 'reason'")
        unknown = set(entry) - {"requirement", "reason"}
        if unknown:
            raise WaiverError(f"{where}: unknown keys {sorted(unknown)}; expected 'requirement' and 'reason'")
        requirement_id = str(entry.get("requirement") or "").strip()
        reason = str(entry.get("reason") or "").strip()
        if not requirement_id:
            raise WaiverError(f"{where}: 'requirement' is missing")
        if requirement_id not in register:
            raise WaiverError(f"{where}: {requirement_id} is not a requirement of features/requirements.csv")
        if not reason:
            raise WaiverError(f"{where} ({requirement_id}): a waiver needs a 'reason'")
        if requirement_id in waivers:
            raise WaiverError(f"{where}: {requirement_id} is waived twice")
        waivers[requirement_id] = Waiver(requirement_id, reason)
    return waivers


def _parse(path: Path, text: str):
    """ValueError covers an integer of 4,300 digits or more; RecursionError, lists or mappings nested
    thousands deep. Either is a file no one meant as a list of waivers."""
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as error:
            raise WaiverError(f"{path}: not valid JSON: {error}") from None
        except RecursionError:
            raise WaiverError(f"{path}: nested too deeply to read; expected a list of waivers") from None
    import yaml  # PyYAML; imported here so runs without --waivers never need it

    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as error:
        raise WaiverError(f"{path}: not valid YAML: {error}") from None
    except RecursionError:
        raise WaiverError(f"{path}: nested too deeply to read; expected a list of waivers") from None


# --- violation messages --------------------------------------------------------------------------

# conformance.verdicts.describe_violation writes one block per broken requirement:
#   [LEVEL] ID (SOURCE): TEXT / "  expected: ..." / "  actual:   ..." / "  see: URL" / the exchange
_BLOCK_HEAD = re.compile(r"^\[(MUST|SHOULD|MAY)\] (\S+) \((.*?)\): ?(.*)$")


@dataclass
class Finding:
    """One broken requirement as a failure message or warning states it."""

    level: str
    requirement_id: str
    expected: str = ""
    actual: str = ""
    request: str = ""   # "GET https://.../fhir/Observation?..." of the exchange that showed it
    response: str = ""  # "401 Unauthorized", or "no response: ..."

    def one_line(self) -> str:
        if self.expected or self.actual:
            return f"expected {self.expected}; got {self.actual}"
        return "see the report for details"


def parse_findings(message: str) -> list[Finding]:
    """The findings in a failure message or warning; empty when the text is not in that format."""
    findings: list[Finding] = []
    for line in message.splitlines():
        if head := _BLOCK_HEAD.match(line):
            findings.append(Finding(head.group(1), head.group(2)))
            continue
        if not findings:
            continue
        current = findings[-1]
        stripped = line.strip()
        if line.startswith("  expected: ") and not current.expected:
            current.expected = stripped.removeprefix("expected:").strip()
        elif line.startswith("  actual: ") and not current.actual:
            current.actual = stripped.removeprefix("actual:").strip()
        elif stripped.startswith("> ") and not current.request:
            current.request = stripped[2:]
        elif stripped.startswith("< ") and not current.response:
            current.response = stripped[2:]
    return findings


# --- one scenario --------------------------------------------------------------------------------

@dataclass
class Step:
    keyword: str
    name: str
    status: str = "not run"  # passed | failed | skipped | not run
    background: bool = False


@dataclass
class ScenarioRecord:
    """Everything the reports show about one scenario. Built on the process that ran it, with every
    text already redacted, and plain data only, so it travels from pytest-xdist workers intact."""

    nodeid: str
    title: str
    order: int = 0  # position in the collected run: the order of the feature files and their scenarios
    feature: str = ""
    feature_description: str = ""
    feature_file: str = ""
    rule: str = ""
    rule_description: str = ""
    steps: list[Step] = field(default_factory=list)
    requirement_ids: list[str] = field(default_factory=list)
    phase_outcomes: dict[str, str] = field(default_factory=dict)  # setup/call/teardown -> passed/failed/skipped
    failed_ids: list[str] = field(default_factory=list)            # requirements a ConformanceFailure named
    failure_message: str = ""                                      # the whole failure, redacted
    error: str = ""                                                # an error that is not a verdict (step crash, setup)
    skip_reason: str = ""
    warnings: list[str] = field(default_factory=list)              # SHOULD violations (messages)
    notes: list[str] = field(default_factory=list)                 # MAY behaviours not offered (messages)
    held_ids: list[str] = field(default_factory=list)              # requirements a check judged and found met
    not_applicable: dict[str, str] = field(default_factory=dict)   # requirement -> why its check found nothing to judge
    exchanges: list[dict] = field(default_factory=list)
    duration: float = 0.0
    outcome: str = PASS
    waived_ids: list[str] = field(default_factory=list)
    cause: str = ""

    @property
    def warned_ids(self) -> list[str]:
        return _ids_in(self.warnings)

    @property
    def noted_ids(self) -> list[str]:
        return _ids_in(self.notes)

    def requirement_status(self, requirement_id: str) -> str:
        """What this scenario found of one requirement: FAIL, WARN or WAIVED when it broke, NOT_OFFERED (a MAY),
        PASS when a check judged it and found it met, NOT_APPLICABLE when its check found nothing to judge, and
        NOT_CHECKED when no check of it ran (skipped, or stopped before it by an earlier failure)."""
        if requirement_id in self.failed_ids or requirement_id in self.warned_ids:
            return WAIVED if requirement_id in self.waived_ids else FAIL if requirement_id in self.failed_ids else WARN
        if requirement_id in self.noted_ids:
            return NOT_OFFERED
        if requirement_id in self.held_ids:
            return PASS
        return NOT_APPLICABLE if requirement_id in self.not_applicable else NOT_CHECKED

    @property
    def location(self) -> str:
        parts = [part for part in (self.feature, self.rule) if part]
        return " › ".join(parts)

    def findings(self) -> list[Finding]:
        return parse_findings(self.failure_message)

    def warning_findings(self) -> list[Finding]:
        return [finding for message in self.warnings for finding in parse_findings(message)]

    def note_findings(self) -> list[Finding]:
        return [finding for message in self.notes for finding in parse_findings(message)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ScenarioRecord":
        data = dict(data)
        data["steps"] = [Step(**step) for step in data.get("steps", [])]
        return cls(**data)


def _first_by_id(findings: list[Finding]) -> dict[str, Finding]:
    first: dict[str, Finding] = {}
    for finding in findings:
        first.setdefault(finding.requirement_id, finding)
    return first


def _ids_in(messages: list[str]) -> list[str]:
    ids: list[str] = []
    for message in messages:
        for finding in parse_findings(message):
            if finding.requirement_id not in ids:
                ids.append(finding.requirement_id)
    return ids


def judge(record: ScenarioRecord, waivers: dict[str, Waiver]) -> ScenarioRecord:
    """Set the record's outcome, waived ids and one-line cause from what happened and the waivers."""
    warned = record.warned_ids
    unwaived_failures = [rid for rid in record.failed_ids if rid not in waivers]
    unwaived_warnings = [rid for rid in warned if rid not in waivers]
    record.waived_ids = [rid for rid in dict.fromkeys(record.failed_ids + warned) if rid in waivers]
    failed = "failed" in record.phase_outcomes.values()
    if record.error or (failed and (unwaived_failures or not record.failed_ids)):
        record.outcome = FAIL
        record.cause = _first_line(record.error) if record.error else _cause(record.findings(), unwaived_failures)
    elif failed:
        # Every requirement that failed the scenario is waived: a known failure (pytest's xfail). SHOULD
        # warnings it also raised are still listed as warnings.
        record.outcome = WAIVED
        record.cause = "waived: " + "; ".join(f"{rid}: {waivers[rid].reason}" for rid in record.waived_ids)
    elif unwaived_warnings:
        record.outcome = WARN
        record.cause = _cause(record.warning_findings(), unwaived_warnings)
    elif record.waived_ids:
        record.outcome = WAIVED
        record.cause = "waived: " + "; ".join(f"{rid}: {waivers[rid].reason}" for rid in record.waived_ids)
    elif "skipped" in record.phase_outcomes.values():
        record.outcome = SKIP
        record.cause = record.skip_reason or "skipped"
    else:
        record.outcome = PASS
        record.cause = ""
    return record


def _cause(findings: list[Finding], ids: list[str]) -> str:
    for finding in findings:
        if finding.requirement_id in ids:
            return f"{finding.requirement_id} [{finding.level}]: {finding.one_line()}"
    return ", ".join(ids)


def _first_line(text: str) -> str:
    """The line of a traceback that says what went wrong: pytest's "E   ..." line, else the first one."""
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("E   "):
            return line[4:].strip()
    return lines[0].strip() if lines else ""


# --- the whole run -------------------------------------------------------------------------------

@dataclass(frozen=True)
class WaiverStatus:
    waiver: Waiver
    state: str          # "used" | "stale" | "unconfirmed"
    explanation: str


@dataclass
class RunResult:
    records: list[ScenarioRecord]
    waivers: dict[str, Waiver]

    def with_outcome(self, outcome: str) -> list[ScenarioRecord]:
        return [record for record in self.records if record.outcome == outcome]

    def failures(self) -> list[tuple[ScenarioRecord, str, Finding | None]]:
        """(scenario, requirement id, finding) for each requirement that failed a scenario, unwaived; a
        scenario that errored without a verdict appears once with the id "" ."""
        found = []
        for record in self.with_outcome(FAIL):
            findings = _first_by_id(record.findings())
            ids = [rid for rid in record.failed_ids if rid not in self.waivers]
            found += [(record, rid, findings.get(rid)) for rid in ids] or [(record, "", None)]
        return found

    def warnings(self) -> list[tuple[ScenarioRecord, str, Finding | None]]:
        """Each unwaived SHOULD violation, whatever the scenario's outcome."""
        found = []
        for record in self.records:
            findings = _first_by_id(record.warning_findings())
            found += [(record, rid, findings.get(rid)) for rid in record.warned_ids if rid not in self.waivers]
        return found

    def waived(self) -> list[tuple[ScenarioRecord, str, Waiver]]:
        """Each waived violation, whatever the scenario's outcome."""
        return [(record, rid, self.waivers[rid]) for record in self.records for rid in record.waived_ids
                if rid in self.waivers]

    def counts(self) -> dict[str, int]:
        return {outcome: len(self.with_outcome(outcome)) for outcome in OUTCOMES}

    def waiver_statuses(self) -> list[WaiverStatus]:
        """A waiver is stale when its requirement was checked to the end by some scenario and broke nowhere:
        the server now meets it, and the waiver would hide a future regression."""
        statuses = []
        for requirement_id, waiver in self.waivers.items():
            found = [status for _, status in self.scenarios_of(requirement_id)]
            if {FAIL, WARN, WAIVED, NOT_OFFERED} & set(found):
                statuses.append(WaiverStatus(waiver, "used", "the requirement still breaks"))
                continue
            held, unchecked = found.count(PASS), found.count(NOT_CHECKED)
            if held and not unchecked:
                statuses.append(WaiverStatus(
                    waiver, "stale",
                    f"the requirement now holds in {held} scenario(s) that check it; remove the waiver"))
            elif held:
                statuses.append(WaiverStatus(
                    waiver, "unconfirmed",
                    f"held in {held} scenario(s), but {unchecked} other(s) citing it did not get to check it, so it "
                    "may still break"))
            else:
                statuses.append(WaiverStatus(
                    waiver, "unconfirmed", "no scenario judged it in this run (skipped, not selected, stopped by "
                    "another failure, or nothing it applies to)"))
        return statuses

    def stale_waivers(self) -> list[WaiverStatus]:
        return [status for status in self.waiver_statuses() if status.state == "stale"]

    @property
    def passed(self) -> bool:
        """The gate: no failed scenario and no stale waiver."""
        return not self.with_outcome(FAIL) and not self.stale_waivers()

    def gate_explanation(self) -> str:
        """One line for every output: whether the gate passed, and what broke it."""
        def n(count: int, noun: str) -> str:
            return f"{count} {noun}{'' if count == 1 else 's'}"

        failures = self.with_outcome(FAIL)
        if self.passed:
            extra = []
            if warned := {record.nodeid for record, _, _ in self.warnings()}:
                extra.append(f"{n(len(warned), 'scenario')} with SHOULD warnings")
            if waived := self.with_outcome(WAIVED):
                extra.append(f"{n(len(waived), 'scenario')} waived")
            return "passed: no MUST requirement failed" + (f" ({', '.join(extra)})" if extra else "")
        parts = []
        broken = {rid for record in failures for rid in record.failed_ids}
        judged = [record for record in failures if record.failed_ids]
        if broken:
            parts.append(f"{n(len(broken), 'requirement')} broke in {n(len(judged), 'scenario')}")
        if errored := [record for record in failures if not record.failed_ids]:
            parts.append(f"{n(len(errored), 'scenario')} could not run (errors)")
        if stale := self.stale_waivers():
            parts.append(n(len(stale), "stale waiver"))
        return "failed: " + "; ".join(parts)

    def scenarios_of(self, requirement_id: str) -> list[tuple[ScenarioRecord, str]]:
        """(scenario, what it found of the requirement) for each scenario citing it or judging it."""
        found = [(record, record.requirement_status(requirement_id)) for record in self.records]
        return [(record, status) for record, status in found
                if requirement_id in record.requirement_ids or status != NOT_CHECKED]

    def requirement_summary(self) -> list[dict]:
        """Per requirement of the register: its verdict in this run -- the worst any scenario found, met when one
        found it met and none broke it, not applicable when every check of it found nothing to judge -- and
        each scenario behind it with what that scenario found."""
        rows = []
        for requirement in load_register().values():
            scenarios = self.scenarios_of(requirement.id)
            found = {status for _, status in scenarios}
            verdict = next((status for status in (WAIVED, FAIL, WARN, NOT_OFFERED, PASS, NOT_APPLICABLE)
                            if status in found), NOT_CHECKED)
            rows.append({"requirement": requirement, "verdict": verdict, "scenarios": scenarios})
        return rows


def exit_status(result: RunResult, pytest_status: int, tests_failed: int) -> int:
    """The run's exit code: pytest's own unless the run completed, then 0 exactly when the gate passed.

    pytest's statuses other than OK (0) and TESTS_FAILED (1) -- interrupted, internal or usage error,
    no tests collected -- are kept: they say the run itself did not happen as asked."""
    if int(pytest_status) not in (0, 1):
        return int(pytest_status)
    return 0 if result.passed and not tests_failed else 1
