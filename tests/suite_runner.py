"""Running the whole conformance suite as a user would -- a separate pytest process over real HTTP --
against a reference server started as a separate process, optionally with fault modes."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from conformance.credentials import fresh_secret
from conformance.embedded import EmbeddedServer

REPO = Path(__file__).resolve().parent.parent
SUITE_TIMEOUT = 600


@contextmanager
def reference_server(*faults: str, admin_secret: str | None = None, server_args: tuple[str, ...] = ()):
    """A refserver process on a free loopback port; yields (url, admin secret). `server_args`: more of
    `python -m refserver`'s options (--latency-ms, --ssl-certfile, ...)."""
    admin_secret = admin_secret or fresh_secret()
    args = tuple(arg for fault in faults for arg in ("--fault", fault)) + tuple(server_args)
    server = EmbeddedServer.start("root", admin_secret, args)
    try:
        yield server.url, admin_secret
    finally:
        server.stop()


@dataclass
class SuiteRun:
    returncode: int
    output: str
    outcomes: dict[str, str] = field(default_factory=dict)  # scenario test id -> passed/failed/skipped/error (error: the suite broke, not the server)
    files: dict[str, str] = field(default_factory=dict)     # every file the run wrote -> its text

    def with_outcome(self, outcome: str) -> list[str]:
        return sorted(name for name, seen in self.outcomes.items() if seen == outcome)


def run_suite(server_url: str, admin_secret: str, workdir: Path, *extra: str, env: dict | None = None) -> SuiteRun:
    """Run `pytest --server-url=...` from the repository root, with the admin secret in the environment
    (and `env` added to it)."""
    junit = workdir / "junit.xml"
    env = {**os.environ, "CONFORMANCE_ADMIN_CLIENT_SECRET": admin_secret, **(env or {})}
    env.pop("CONFORMANCE_SERVER_URL", None)
    command = [sys.executable, "-m", "pytest", f"--server-url={server_url}", f"--junitxml={junit}",
               "-p", "no:randomly", "-q", "-rfEsw", *extra]
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    run = SuiteRun(completed.returncode, completed.stdout + completed.stderr)
    if junit.exists():
        run.outcomes = junit_outcomes(junit)
    run.files = {str(path): path.read_text(encoding="utf-8", errors="replace")
                 for path in workdir.rglob("*") if path.is_file()}
    return run


SETTINGS_ENV = ("CONFORMANCE_SERVER_URL", "CONFORMANCE_ADMIN_CLIENT_ID", "CONFORMANCE_ADMIN_CLIENT_SECRET",
                "CONFORMANCE_CLIENT_ID", "CONFORMANCE_CLIENT_SECRET")


def run_as_typed(*args: str, env: dict | None = None, timeout: float = SUITE_TIMEOUT) -> subprocess.CompletedProcess:
    """`python -m pytest ARGS` from the repository root, with no CONFORMANCE_* setting but those in `env`
    (no --server-url: the embedded reference server, unless `args` name one)."""
    clean = {name: value for name, value in os.environ.items() if name not in SETTINGS_ENV}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", *args], cwd=REPO,
                          env={**clean, **(env or {})}, capture_output=True, text=True, timeout=timeout)


def junit_outcomes(path: Path) -> dict[str, str]:
    outcomes = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag == "failure":
                outcome = "failed"
            elif child.tag == "error":
                outcome = "error"
            elif child.tag == "skipped":
                outcome = "skipped"
        outcomes[name] = outcome
    return outcomes
