"""The requirement register (features/requirements.csv) and the scenarios' @req tags agree (DESIGN.md §4)."""

import re
import subprocess
import sys
from pathlib import Path

from conformance.register import LEVELS, load_register

REPO = Path(__file__).resolve().parent.parent
TAG = re.compile(r"@req:(\S+)")


def cited_ids() -> dict[str, set[str]]:
    """requirement id -> the feature files citing it."""
    cited: dict[str, set[str]] = {}
    for feature in (REPO / "features").rglob("*.feature"):
        for requirement_id in TAG.findall(feature.read_text(encoding="utf-8")):
            cited.setdefault(requirement_id, set()).add(feature.name)
    return cited


def test_every_cited_requirement_is_in_the_register():
    unknown = sorted(set(cited_ids()) - set(load_register()))
    assert not unknown, f"scenarios cite ids missing from requirements.csv: {unknown}"


def test_every_must_has_a_scenario_or_a_reason_it_cannot_be_tested():
    cited = cited_ids()
    uncovered = [r.id for r in load_register().values() if r.level == "MUST" and r.id not in cited and not r.untestable]
    assert not uncovered, f"MUST requirements with no scenario and no stated reason: {uncovered}"


def test_every_row_is_complete():
    for requirement in load_register().values():
        assert requirement.level in LEVELS, requirement
        assert requirement.url.startswith("https://"), f"{requirement.id}: no clause URL"
        assert requirement.source and requirement.text, f"{requirement.id}: source or text missing"


def test_one_requirement_can_be_selected_with_m():
    """`-m 'requirement(id="...")'` runs just the scenarios citing that requirement."""
    selected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", 'requirement(id="RFC9110-11.1-SCHEME")'],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    ids = [line for line in selected.stdout.splitlines() if "::" in line]
    assert ids and all("scheme_written" in line for line in ids), selected.stdout[-2000:]
    assert len(ids) == 2, ids


def test_a_requirement_id_selected_with_m_must_be_in_the_register():
    from conformance.plugin import _unknown_requirements_selected
    assert _unknown_requirements_selected('requirement(id="RFC9110-11.6.1")') == []
    assert _unknown_requirements_selected("requirement(id='RFC9110-11.6.X') or provisioning") == ["RFC9110-11.6.X"]
    assert _unknown_requirements_selected("") == []
