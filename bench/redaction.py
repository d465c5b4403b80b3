"""Benchmark: the one redaction function (conformance/redaction.py) on a large text, as a run's registry has it.

    python3 bench/redaction.py [--runs 20]

One suite run against the reference server, with faults that fail many scenarios (so the HTML report carries
their exchanges: about 600 KB), writes --spec-report; CONFORMANCE_SECRETS_DUMP records every secret it sent.
Those secrets are registered in a fresh SecretRegistry, as a run registers them, and each is planted in the
report's text twice: whole, and its first 16 characters (what a server quoting part of a secret shows).
Timed, median of --runs: one redact() of the whole text, and redact() of each of its lines in turn (many
small texts, as a run calls it). Also printed: how many planted values are still in the redacted text.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, median, reference_server, spread

from conformance.redaction import SecretRegistry
from conformance.secrets_dump import DUMP_ENV, read_dump

FAULTS = ("echo-secret-in-error", "echo-authorization-in-header", "no-www-authenticate", "plain-secret-returned",
          "crash-on-malformed-header")
PREFIX = 16
# The dump also holds what a run does not register: each decoded user-pass ("conf-...-client:secret", "root:secret")
# and each whole Authorization value ("Basic token"). Their secret parts (the password, the token) are in it too.
NOT_REGISTERED = re.compile(r'(conf-|root:|"?[A-Za-z]+ )')


def report_and_secrets(workdir: Path) -> tuple[str, set[str]]:
    report, dump = workdir / "report.html", workdir / "sent.jsonl"
    with reference_server(*(arg for fault in FAULTS for arg in ("--fault", fault))) as (url, admin_secret, _):
        env = {**os.environ, "CONFORMANCE_ADMIN_CLIENT_SECRET": admin_secret, DUMP_ENV: str(dump)}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", f"--server-url={url}",
                        f"--spec-report={report}"], cwd=REPO, env=env, capture_output=True, timeout=300)
    if not report.exists() or not dump.exists():
        sys.exit("the suite run wrote no report or no dump")
    secrets = {value for value in read_dump(dump) if not NOT_REGISTERED.match(value)}
    return report.read_text(encoding="utf-8"), secrets | {admin_secret}


def planted(text: str, values: list[str]) -> str:
    """text with each value inserted at evenly spread line ends."""
    lines = text.splitlines(keepends=True)
    step = max(1, len(lines) // (len(values) + 1))
    for index, value in enumerate(values):
        at = min(len(lines) - 1, (index + 1) * step)
        lines[at] = lines[at].rstrip("\n") + f" {value}\n"
    return "".join(lines)


def timed(function, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timings to take the median of [20]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-redaction-") as tmp:
        report, secrets = report_and_secrets(Path(tmp))
    registry = SecretRegistry()
    registry.add(*secrets)
    values = sorted(secrets) + sorted({secret[:PREFIX] for secret in secrets if len(secret) > PREFIX})
    text = planted(report, values)
    lines = text.splitlines()
    whole = timed(lambda: registry.redact(text), args.runs)
    each_line = timed(lambda: [registry.redact(line) for line in lines], args.runs)
    redacted = registry.redact(text)
    left = [value for value in values if value in redacted]
    print(f"text: {len(text):,} chars, {len(lines):,} lines; {len(secrets)} secrets registered "
          f"({len(registry.forms)} forms), {len(values)} values planted")
    print(f"redact(whole text)        {median(whole) * 1000:7.1f} ms  [{spread([t * 1000 for t in whole], 1)}]")
    print(f"redact(each line)         {median(each_line) * 1000:7.1f} ms  [{spread([t * 1000 for t in each_line], 1)}]")
    print(f"planted values left       {len(left)} of {len(values)}"
          f" ({sum(len(v) == PREFIX for v in left)} of them {PREFIX}-character prefixes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
