"""Helpers shared by the benchmark scripts: medians, a reference server process, JUnit verdicts.

Nothing here measures anything by itself; each script in bench/ says what it measures.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import xml.etree.ElementTree as ElementTree
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/<name>.py` puts bench/, not the repository, on sys.path
    sys.path.insert(0, str(REPO))

os.chdir(REPO)  # like the suite, the benchmarks run from the repository root (`python -m refserver` too)

from conformance.credentials import fresh_secret  # noqa: E402
from conformance.embedded import EmbeddedServer  # noqa: E402


def median(values) -> float:
    return statistics.median(values)


def spread(values, digits: int = 3) -> str:
    """'min-max' of a list of measurements, for showing how noisy the runs were."""
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


@contextmanager
def reference_server(*extra_args: str, admin_secret: str | None = None):
    """`python -m refserver --port 0` on loopback; yields (url, admin secret, start-up seconds)."""
    admin_secret = admin_secret or fresh_secret()
    started = time.perf_counter()
    server = EmbeddedServer.start("root", admin_secret, tuple(extra_args))
    startup = time.perf_counter() - started
    try:
        yield server.url, admin_secret, startup
    finally:
        server.stop()


def junit_verdicts(path: Path) -> dict[str, str]:
    """Scenario test id -> passed / failed / skipped, from a pytest --junitxml file."""
    verdicts = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name')}"
        verdict = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                verdict = "failed"
            elif child.tag == "skipped":
                verdict = "skipped"
        verdicts[name] = verdict
    return verdicts


def junit_times(path: Path) -> dict[str, float]:
    """Scenario test id -> seconds pytest spent on it (setup, call and teardown)."""
    return {f"{case.get('classname', '')}::{case.get('name')}": float(case.get("time") or 0)
            for case in ElementTree.parse(path).getroot().iter("testcase")}


def bounded(limit_count: int, limit_seconds: float):
    """Yield 0, 1, 2, ... until either limit is reached: every benchmark loop is bounded in count and time."""
    deadline = time.monotonic() + limit_seconds
    for index in range(limit_count):
        if index and time.monotonic() > deadline:
            return
        yield index
