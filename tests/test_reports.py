"""Verdicts as a CI gate sees them, from real runs of the suite against the reference server (issue 4):
exit codes with waivers, stale waivers and SHOULD failures, the terminal verdict, the HTML and
Markdown reports, JUnit properties, and Cucumber JSON under pytest-xdist."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conformance.register import load_register
from tests.suite_runner import SuiteRun, reference_server, run_as_typed, run_suite

FAILED_LINE = re.compile(r"^  FAIL  \[(MUST|SHOULD)\] (\S+)  ", re.MULTILINE)
STALE_ID = "SEED-SEARCH-BASIC"  # a MUST the clean reference server meets, so a waiver of it is stale
PARALLEL_RUNS = 2


def _run(faults: tuple[str, ...], workdir: Path, *extra: str) -> SuiteRun:
    workdir.mkdir(parents=True, exist_ok=True)
    with reference_server(*faults) as (url, admin_secret):
        return run_suite(url, admin_secret, workdir, *extra)


def _reports(workdir: Path) -> tuple[str, ...]:
    return (f"--spec-report={workdir / 'report.html'}", f"--spec-summary={workdir / 'summary.md'}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[SuiteRun, Path]]:
    """The runs the tests below read, made once: independent ones side by side, then the waived run,
    which waives exactly what the MUST-breaking run showed broken."""
    base = tmp_path_factory.mktemp("verdicts")
    stale = base / "stale-waivers.yaml"
    stale.write_text(f"waivers:\n  - requirement: {STALE_ID}\n    reason: was broken in release 1.2\n")
    plans = {
        "must": (("accept-any-secret",), ()),
        "stale": ((), (f"--waivers={stale}",)),
        "should": (("unauthenticated-as-403",), ("-n", "2", f"--cucumberjson={base / 'should' / 'cucumber.json'}")),
        "should-strict": (("unauthenticated-as-403",), ("--fail-on-should",)),
    }

    def one(name: str):
        faults, extra = plans[name]
        return name, (_run(faults, base / name, *extra, *_reports(base / name)), base / name)

    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        made = dict(pool.map(one, plans))
    broken = sorted({rid for _, rid in FAILED_LINE.findall(made["must"][0].output)})
    waivers = base / "waivers.json"
    waivers.write_text(json.dumps({"waivers": [{"requirement": rid, "reason": f"known: ticket SEC-{n}"}
                                               for n, rid in enumerate(broken)]}))
    made["waived"] = (_run(("accept-any-secret",), base / "waived", f"--waivers={waivers}", *_reports(base / "waived")),
                      base / "waived")
    return made


def verdict_section(run: SuiteRun) -> str:
    match = re.search(r"=+ conformance verdict =+\n(.*?)(?:\n=+ |\Z)", run.output, re.DOTALL)
    assert match, run.output[-3000:]
    return match.group(1)


# --- exit codes ----------------------------------------------------------------------------------

def test_a_must_failure_fails_the_run_and_is_listed_first(runs):
    run, _ = runs["must"]
    assert run.returncode == 1, run.output[-3000:]
    verdict = verdict_section(run)
    assert verdict.startswith("FAILED (MUST): ")
    assert FAILED_LINE.findall(verdict), verdict
    sections = [verdict.index(title) for title in ("FAILED", "WARNINGS", "SKIPPED") if title in verdict]
    assert sections == sorted(sections)
    assert re.search(r"^\d+ fail · \d+ warn · 0 waived · \d+ skip · \d+ pass  →  failed: .* \(exit 1\)$",
                     verdict, re.MULTILINE), verdict


def test_failures_all_waived_pass_the_run(runs):
    run, workdir = runs["waived"]
    assert run.returncode == 0, run.output[-3000:]
    verdict = verdict_section(run)
    assert "FAILED" not in verdict and "WAIVED (known failures" in verdict
    assert "known: ticket SEC-0" in verdict
    assert run.with_outcome("failed") == []
    assert run.with_outcome("skipped")  # JUnit shows a waived failure as an expected failure (skipped)
    assert "xfailed" in run.output


def test_a_stale_waiver_fails_the_run_even_when_every_scenario_passes(runs):
    run, _ = runs["stale"]
    assert run.returncode == 1, run.output[-3000:]
    verdict = verdict_section(run)
    assert f"STALE [MUST] {STALE_ID}" in verdict
    assert set(run.outcomes.values()) == {"passed"}
    assert "0 fail · 0 warn · 0 waived · 0 skip" in verdict and "failed: 1 stale waiver (exit 1)" in verdict


def test_a_should_failure_alone_passes_the_run_with_warnings(runs):
    run, _ = runs["should"]
    assert run.returncode == 0, run.output[-3000:]
    verdict = verdict_section(run)
    assert "FAILED" not in verdict
    levels = {load_register()[rid].level for rid in re.findall(r"^  WARN  \[SHOULD\] (\S+)", verdict, re.MULTILINE)}
    assert levels == {"SHOULD"}


def test_fail_on_should_makes_the_same_should_failure_fail_the_run(runs):
    run, _ = runs["should-strict"]
    assert run.returncode == 1, run.output[-3000:]
    verdict = verdict_section(run)
    assert verdict.startswith("FAILED (MUST, or SHOULD with --fail-on-should)")
    assert {level for level, _ in FAILED_LINE.findall(verdict)} == {"SHOULD"}


# --- the reports ---------------------------------------------------------------------------------

def test_the_html_report_shows_the_failures_first_and_every_scenario_with_its_steps_and_exchanges(runs):
    run, workdir = runs["must"]
    page = (workdir / "report.html").read_text(encoding="utf-8")
    assert "Failed: " in page and 'id="failures"' in page
    assert page.index('id="failures"') < page.index('id="scenarios"')
    scenarios = re.findall(r'<details class="scenario (\w+)"', page)
    assert len(scenarios) == len(run.outcomes)
    assert scenarios.count("fail") == len(run.with_outcome("failed"))
    assert "Feature: Wrong credentials are refused" in page and "Rule: Only the exact registered secret" in page
    assert "with &quot;Authorization: Basic base64(client-id:secret)&quot;" in page  # the feature's text, as written
    assert '<li class="passed"' in page and '<span class="kw">Then</span>' in page
    assert "HTTP requests and answers" in page and "authorization: Basic [REDACTED]" in page
    # The positive control and the request under test both carry credentials and got 200 here: labels tell them apart.
    blocks = [block for block in page.split('<details class="scenario ')[1:] if "positive control" in block]
    assert len(blocks) >= 20 and all(block.index(">positive control<") < block.index(">request under test<")
                                     for block in blocks if ">request under test<" in block)
    assert "Expected" in page and "Actual" in page
    assert "<script" not in page


def test_the_markdown_summary_fits_a_job_summary(runs):
    _, workdir = runs["must"]
    summary = (workdir / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## ❌ FHIR client-secret (Basic) conformance: failed")
    assert "### Failures (MUST)" in summary
    assert len(summary) < 64_000  # GitHub's job summary limit is 1 MiB; this stays far below it
    _, passing = runs["waived"]
    assert (passing / "summary.md").read_text(encoding="utf-8").startswith("## ✅ ")


def test_junit_has_one_case_per_scenario_with_its_title_requirements_and_outcome(runs):
    run, workdir = runs["must"]
    cases = list(ElementTree.parse(workdir / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == len(run.outcomes)
    for case in cases:
        properties = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        names = [name for name, _ in properties]
        assert "scenario" in names and "requirement" in names and "outcome" in names, (case.get("name"), properties)
        scenario = dict(properties)["scenario"]
        assert " › " in scenario and not scenario.startswith("test_")
        for _, value in [p for p in properties if p[0] == "requirement"]:
            rid, level = re.fullmatch(r"(\S+) \((MUST|SHOULD|MAY)\)", value).groups()
            assert load_register()[rid].level == level


def test_cucumber_json_is_filled_under_xdist(runs):
    run, workdir = runs["should"]
    features = json.loads((workdir / "cucumber.json").read_text(encoding="utf-8"))
    scenarios = [element for feature in features for element in feature["elements"]]
    assert len(scenarios) == len(run.outcomes), run.output[-2000:]
    assert all(step["result"]["status"] in ("passed", "failed", "skipped")
               for element in scenarios for step in element["steps"])
    assert "WARNING: --cucumberjson" not in run.output
    page = (workdir / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<details class="scenario ', page)) == len(run.outcomes)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to stand for a full disk")
def test_a_report_the_disk_cannot_take_is_one_error_line_after_the_verdict(tmp_path):
    """The paths are checked before the run; a disk that fills during it still ends in a verdict, no traceback."""
    completed = run_as_typed("--spec-summary=/dev/full", f"--spec-report={tmp_path / 'report.html'}",
                             "-k", "documented_search")
    output = completed.stdout + completed.stderr
    assert completed.returncode == 3, output[-3000:]  # the gate passed, but the run did not deliver what was asked
    assert "ERROR: could not write the Markdown summary to /dev/full: No space left on device (exit 3)" in output
    assert "conformance verdict" in output and "HTML spec report written to" in output
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert (tmp_path / "report.html").is_file()


def test_against_a_clean_server_every_requirement_a_scenario_cites_is_judged(runs):
    """A tag that no check of its scenario judges is a claim the scenario does not test: on a clean server every
    cited requirement is met, or not applicable with a reason, never 'not checked'."""
    run, workdir = runs["stale"]  # the clean server (its one waiver is stale; nothing failed)
    report = (workdir / "report.html").read_text(encoding="utf-8")
    unchecked = re.findall(r"([A-Z0-9][A-Za-z0-9.\-]+)\s*</[^>]+>\s*(?:<[^>]+>\s*)*not checked\s*<", report)
    assert not re.search(r">\s*not checked\s*<", report), f"cited but not judged: {sorted(set(unchecked))}"
