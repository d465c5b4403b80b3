"""Runs that share one server: `pytest -n 4`, and two whole runs at the same time, give the same verdict
per scenario as a serial run, collide on nothing, and leave nothing behind (issue 5, DESIGN.md §5).

The server has two faults, so the verdicts compared are a mix of passes, MUST failures and SHOULD
warnings rather than all passes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.suite_runner import reference_server, run_suite
from tests.test_suite_e2e import listed_ids

FAULTS = ("accept-secret-prefix", "no-www-authenticate")


def test_parallel_and_concurrent_runs_agree_with_a_serial_run_and_leave_nothing(tmp_path):
    with reference_server(*FAULTS) as (url, admin_secret):
        before = listed_ids(url, admin_secret)
        for name in ("serial", "xdist", "first", "second"):
            (tmp_path / name).mkdir()
        serial = run_suite(url, admin_secret, tmp_path / "serial")
        xdist = run_suite(url, admin_secret, tmp_path / "xdist", "-n", "4")
        with ThreadPoolExecutor(max_workers=2) as pool:
            first, second = pool.map(lambda name: run_suite(url, admin_secret, tmp_path / name), ["first", "second"])
        after = listed_ids(url, admin_secret)

    outcomes = serial.outcomes
    assert {"passed", "failed"} <= set(outcomes.values()), outcomes
    assert "error" not in outcomes.values()
    for name, run in (("-n 4", xdist), ("concurrent run 1", first), ("concurrent run 2", second)):
        assert run.returncode == serial.returncode == 1, f"{name}: exit {run.returncode}\n{run.output[-2000:]}"
        differ = {test: (outcomes.get(test), run.outcomes.get(test))
                  for test in outcomes.keys() | run.outcomes.keys() if outcomes.get(test) != run.outcomes.get(test)}
        assert not differ, f"{name} disagrees with the serial run: {differ}"
        assert "CLEANUP WARNING" not in run.output
    assert after == before, f"left behind: {sorted(after - before)}"
