"""The verdict at the end of the terminal output: failures first, then warnings, stale waivers, waived
failures and skips, each with the requirement id and a one-line cause, then the counts and what the exit
code means."""

from __future__ import annotations

from collections import defaultdict

from conformance.outcomes import OUTCOMES, SKIP, WARN, RunResult, ScenarioRecord
from conformance.register import load_register

CAUSE_WIDTH = 220  # a cause is one line; a server's long answer is cut


def _level(requirement_id: str) -> str:
    requirement = load_register().get(requirement_id)
    return requirement.level if requirement else "?"


def one_line(text: str, width: int = CAUSE_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def scenario_name(record: ScenarioRecord) -> str:
    return f"{record.feature} › {record.title}" if record.feature else record.title


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


SCENARIOS_SHOWN = 5  # per finding; the HTML report lists them all


def _grouped(label: str, findings, style: dict, detail) -> list[tuple[str, dict]]:
    """One entry per requirement and cause, with the scenarios where it was seen: the same broken requirement in
    thirty scenarios reads as one finding, not thirty. `findings` are (record, requirement id, level, item) and
    `detail(record, item)` is the one-line cause."""
    groups: dict[tuple, list[ScenarioRecord]] = defaultdict(list)
    for record, rid, level, item in findings:
        groups[(rid, level, one_line(detail(record, item)))].append(record)
    lines = []
    for (rid, level, cause), records in groups.items():
        where = f"in {_count(records, 'scenario')}" if len(records) > 1 else scenario_name(records[0])
        lines.append((f"  {label} [{level}] {rid}  {where}", style))
        lines.append((f"        {cause}", {}))
        if len(records) > 1:
            lines += [(f"          {scenario_name(record)}", {}) for record in records[:SCENARIOS_SHOWN]]
            if len(records) > SCENARIOS_SHOWN:
                lines.append((f"          … and {len(records) - SCENARIOS_SHOWN} more (--spec-report lists every one)", {}))
    return lines


def _cause(record: ScenarioRecord, finding) -> str:
    return finding.one_line() if finding else record.cause


def summary_lines(result: RunResult, fail_on_should: bool = False,
                  interrupted: bool = False, server: str = "") -> list[tuple[str, dict]]:
    """`server`: which server was tested, one line before the tally."""
    lines: list[tuple[str, dict]] = []
    red, yellow, plain = {"red": True}, {"yellow": True}, {}

    failures = result.failures()
    if failures:
        scenarios = {record.nodeid for record, _, _ in failures}
        gate = "MUST, or SHOULD with --fail-on-should" if fail_on_should else "MUST"
        lines.append((f"FAILED ({gate}): {_count(failures, 'finding')} in {_count(scenarios, 'scenario')}",
                      {"red": True, "bold": True}))
        lines += _grouped("FAIL ", [(record, rid, finding.level if finding else _level(rid), finding)
                                    for record, rid, finding in failures if rid], red, _cause)
        for record, rid, finding in failures:
            if not rid:
                lines.append((f"  FAIL  (no requirement: the scenario errored)  {scenario_name(record)}", red))
                lines.append((f"        {one_line(record.cause)}", plain))

    warnings = result.warnings()
    if warnings:
        scenarios = {record.nodeid for record, _, _ in warnings}
        # A scenario that also broke a MUST counts as failed in the tally: say so, or the counts disagree.
        also_failed = {record.nodeid for record, _, _ in warnings if record.outcome != WARN}
        lines.append((f"WARNINGS (SHOULD; they do not fail the run unless --fail-on-should): "
                      f"{_count(warnings, 'finding')} in {_count(scenarios, 'scenario')}"
                      + (f"; {len(also_failed)} of these scenarios broke a MUST too, so the tally counts them as failed "
                         "or waived, not as warn" if also_failed else ""),
                      {"yellow": True, "bold": True}))
        lines += _grouped("WARN ", [(record, rid, finding.level if finding else _level(rid), finding)
                                    for record, rid, finding in warnings], yellow, _cause)

    stale = result.stale_waivers()
    if stale:
        lines.append((f"STALE WAIVERS (fail the run): {_count(stale, 'waived requirement')} now hold; "
                      "remove them from the waivers file", {"red": True, "bold": True}))
        for status in stale:
            rid = status.waiver.requirement_id
            lines.append((f"  STALE [{_level(rid)}] {rid}  {one_line(status.explanation)}", red))

    waived = result.waived()
    if waived:
        scenarios = {record.nodeid for record, _, _ in waived}
        lines.append((f"WAIVED (known failures, accepted by the waivers file): {_count(waived, 'finding')} in "
                      f"{_count(scenarios, 'scenario')}", {"bold": True}))
        lines += _grouped("WAIVED", [(record, rid, _level(rid), waiver) for record, rid, waiver in waived], plain,
                          lambda record, waiver: f"waiver: {waiver.reason}")
    for status in result.waiver_statuses():
        if status.state == "unconfirmed":
            lines.append((f"  note: waiver {status.waiver.requirement_id} not confirmed: {one_line(status.explanation)}",
                          plain))

    skipped = result.with_outcome(SKIP)
    if skipped:
        lines.append((f"SKIPPED: {_count(skipped, 'scenario')}, by reason", {"bold": True}))
        by_reason: dict[str, list[ScenarioRecord]] = defaultdict(list)
        for record in skipped:
            by_reason[one_line(record.cause)].append(record)
        for reason, records in by_reason.items():
            lines.append((f"  SKIP  {reason}", plain))
            for record in records:
                ids = ", ".join(record.requirement_ids) or "no requirement"
                lines.append((f"        {scenario_name(record)}  [{ids}]", plain))

    if server:
        lines.append((f"server under test: {server}", plain))
    counts = result.counts()
    tally = " · ".join(f"{counts[outcome]} {outcome}" for outcome in OUTCOMES)
    if interrupted:  # pytest's exit code 2: no verdict on the scenarios that did not run
        lines.append((f"{tally}  →  interrupted: only the scenarios above ran; {result.gate_explanation()} "
                      "among them (exit 2)", {"yellow": True, "bold": True}))
        return lines
    lines.append((f"{tally}  →  {result.gate_explanation()} (exit {0 if result.passed else 1})",
                  {"green": True, "bold": True} if result.passed else {"red": True, "bold": True}))
    return lines
