"""--spec-summary FILE: a short Markdown verdict that fits a CI job summary page ($GITHUB_STEP_SUMMARY):
the gate, the counts, then failures, stale waivers, warnings, waived and skipped, each with its
requirement and a one-line cause. Every text from the run is redacted, then escaped for Markdown."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from conformance.outcomes import OUTCOME_LABELS, OUTCOMES, SKIP, RunResult, ScenarioRecord
from conformance.register import load_register

ROWS_SHOWN = 60   # rows per table; the HTML report has the rest
CELL_WIDTH = 300  # characters per table cell

_ESCAPES = {"|": "\\|", "<": "&lt;", ">": "&gt;", "&": "&amp;", "`": "\\`", "*": "\\*", "_": "\\_",
            "[": "\\[", "]": "\\]"}


def render_markdown(result: RunResult, facts: dict, redact: Callable[[str], str]) -> str:
    def md(value) -> str:
        """Text from the run as one Markdown table cell or line: redacted, then escaped."""
        text = " ".join(redact(str(value)).split())
        if len(text) > CELL_WIDTH:
            text = text[:CELL_WIDTH - 1] + "…"
        return "".join(_ESCAPES.get(char, char) for char in text)

    register = load_register()

    def req(rid: str) -> str:
        requirement = register.get(rid)
        if requirement is None:
            return md(rid)
        return f"[{md(rid)}]({requirement.url}) ({requirement.level})"

    def scenario(record: ScenarioRecord) -> str:
        return md(f"{record.feature} › {record.title}")

    counts = result.counts()
    icon = "✅" if result.passed else "❌"
    lines = [f"## {icon} FHIR client-secret (Basic) conformance: {md(result.gate_explanation())}", ""]
    lines.append(f"Server: {md(facts['server'])} · FHIR {md(facts['fhir_version'])} · started "
                 f"{md(facts['started'])} · {facts['duration']:.1f} s"
                 + (" · --fail-on-should" if facts.get("fail_on_should") else "")
                 + (f" · waivers: {md(facts['waivers_file'])}" if facts.get("waivers_file") else ""))
    if left := facts.get("cleanup_left"):
        lines += ["", f"> ⚠️ Cleanup: {len(left)} resource(s) the run created may be left on the server: "
                  + ", ".join(md(item) for item in left[:ROWS_SHOWN])
                  + f" (delete them with `{facts['cleanup_command']}`)"]
    if facts.get("insecure"):
        lines += ["", "> ⚠️ --insecure: the server's TLS certificate was not verified"]
    lines += ["", "| " + " | ".join(OUTCOME_LABELS[o] for o in OUTCOMES) + " |",
              "|" + "---:|" * len(OUTCOMES),
              "| " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |", ""]

    def table(title: str, header: list[str], rows: list[list[str]]) -> None:
        if not rows:
            return
        lines.extend([f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)])
        lines.extend("| " + " | ".join(row) + " |" for row in rows[:ROWS_SHOWN])
        if len(rows) > ROWS_SHOWN:
            lines.append(f"\n… and {len(rows) - ROWS_SHOWN} more: see the HTML spec report.")
        lines.append("")

    def grouped(findings) -> list[list[str]]:
        """One row per broken requirement: what was seen first, and where it broke."""
        seen: dict[str, list[tuple[ScenarioRecord, str]]] = {}
        for record, rid, finding in findings:
            seen.setdefault(rid, []).append((record, finding.one_line() if finding else record.cause))
        rows = []
        for rid, where in seen.items():
            causes = list(dict.fromkeys(cause for _, cause in where))
            cause = md(causes[0]) + (f" (and {len(causes) - 1} other answer(s))" if len(causes) > 1 else "")
            names = [scenario(record) for record, _ in where[:8]]
            if len(where) > 8:
                names.append(f"… {len(where) - 8} more")
            rows.append([req(rid) if rid else "(the scenario errored)", cause, f"{len(where)}: " + "<br>".join(names)])
        return rows

    table("Failures (MUST)", ["requirement", "cause", "scenarios"], grouped(result.failures()))
    table("Stale waivers (fail the run: remove them)", ["requirement", "waiver reason", "why stale"],
          [[req(s.waiver.requirement_id), md(s.waiver.reason), md(s.explanation)] for s in result.stale_waivers()])
    table("Warnings (SHOULD)", ["requirement", "cause", "scenarios"], grouped(result.warnings()))
    table("Waived", ["requirement", "scenario", "waiver reason"],
          [[req(rid), scenario(record), md(waiver.reason)] for record, rid, waiver in result.waived()])

    skipped = result.with_outcome(SKIP)
    if skipped:
        by_reason: dict[str, list[ScenarioRecord]] = defaultdict(list)
        for record in skipped:
            by_reason[record.cause].append(record)
        lines += [f"<details><summary>Skipped: {len(skipped)} scenario(s)</summary>", ""]
        lines += ["| reason | scenarios |", "|---|---|"]
        lines += [f"| {md(reason)} | {'<br>'.join(scenario(r) for r in records[:ROWS_SHOWN])} |"
                  for reason, records in by_reason.items()]
        lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"
