"""Benchmark 3: the suite serial vs `-n 4` (pytest-xdist) against a slow server.

    python bench/parallel_vs_serial.py [--latency-ms 50] [--workers 4] [--runs 3]

It starts one reference server with `--latency-ms 50` (every answer delayed 50 ms, like a remote server),
then runs the suite as a user would, `python -m pytest --server-url=URL --junitxml=...` with the admin
secret in CONFORMANCE_ADMIN_CLIENT_SECRET, serially and with `-n 4`, alternating, several times. Times
are wall times of the whole command (interpreter start-up, collection, xdist's workers and all).

How to read it:
- "speed-up" is the median over runs of serial time / parallel time, each pair measured back to back.
  Target: at least 3x.
- "verdicts identical" compares every scenario's outcome (passed / failed / skipped, from the JUnit
  XML) across all runs, serial and parallel. Any difference is listed.
- "where the time goes" comes from bench/_probe.py, loaded in every pytest process: requests each
  process sent, how many were provisioning, time in session fixtures, and when scenarios started
  and ended. With N workers every worker is its own pytest session: it starts its own interpreter,
  collects the suite, registers its own seed client and data, and cleans them up. The lower bound
  printed is what -n 4 could take if the scenarios' requests were spread perfectly over the workers,
  with everything else as measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, bounded, junit_verdicts, median, reference_server, spread

RUN_TIMEOUT = 600
BUDGET_SECONDS = 1200
TARGET = 3.0


def run_suite(url: str, secret: str, workdir: Path, label: str, workers: int) -> dict:
    junit = workdir / f"{label}.xml"
    probes = workdir / f"{label}-probe"
    probes.mkdir()
    env = {**os.environ, "CONFORMANCE_ADMIN_CLIENT_SECRET": secret, "BENCH_PROBE_DIR": str(probes)}
    env.pop("CONFORMANCE_SERVER_URL", None)
    command = [sys.executable, "-m", "pytest", f"--server-url={url}", f"--junitxml={junit}", "-q",
               "-p", "no:randomly", "-p", "bench._probe"]
    if workers > 1:
        command += ["-n", str(workers)]
    launched = time.time()
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    elapsed = time.perf_counter() - started
    if not junit.exists():
        sys.exit(f"{label}: the suite wrote no JUnit XML:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    processes = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(probes.glob("*.json"))]
    return {"seconds": elapsed, "exit": completed.returncode, "verdicts": junit_verdicts(junit),
            "processes": processes, "launched": launched}


def verdict_digest(verdicts: dict[str, str]) -> str:
    """A short fingerprint of every scenario's verdict, to compare two invocations of this script."""
    text = "\n".join(f"{name} {verdict}" for name, verdict in sorted(verdicts.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def describe(run: dict, latency_s: float) -> list[str]:
    """Where one run's time went, per pytest process."""
    lines = []
    for p in run["processes"]:
        ready = (p["first_start"] or p["finish"]) - run["launched"]
        busy = (p["last_end"] or p["finish"]) - (p["first_start"] or p["finish"])
        lines.append(f"    {p['worker']:>5}: ready after {ready:5.2f}s (start-up, collection), scenarios {p['scenarios']:3d}"
                     f" in {busy:5.2f}s, requests {p['requests']:4d} (provisioning {p['provisioning']:3d},"
                     f" {p['requests'] * latency_s:5.2f}s of server latency summed), session fixtures"
                     f" {p['session_fixture_s']:5.2f}s")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50, help="delay the server adds to every answer [50]")
    parser.add_argument("--workers", type=int, default=4, help="pytest-xdist workers [4]")
    parser.add_argument("--runs", type=int, default=3, help="serial/parallel pairs to take the median of [3]")
    args = parser.parse_args()
    latency_s = args.latency_ms / 1000

    serial, parallel = [], []
    with tempfile.TemporaryDirectory(prefix="bench-xdist-") as tmp, \
            reference_server("--latency-ms", str(args.latency_ms)) as (url, secret, _startup):
        for index in bounded(args.runs, BUDGET_SECONDS):
            pair = [("serial", 1), ("parallel", args.workers)]
            for label, workers in pair if index % 2 == 0 else reversed(pair):
                run = run_suite(url, secret, Path(tmp), f"{label}-{index}", workers)
                (serial if workers == 1 else parallel).append(run)
                print(f"run {index + 1} {label:>8}: {run['seconds']:6.2f}s, exit {run['exit']}, "
                      f"{sum(p['requests'] for p in run['processes'])} requests", flush=True)

    ratios = [s["seconds"] / p["seconds"] for s, p in zip(serial, parallel)]
    reference = serial[0]["verdicts"]
    differences = []
    for label, runs in (("serial", serial), ("parallel", parallel)):
        for index, run in enumerate(runs):
            for name in sorted(set(reference) | set(run["verdicts"])):
                if reference.get(name) != run["verdicts"].get(name):
                    differences.append(f"{label} run {index + 1}: {name}: {reference.get(name)} -> "
                                       f"{run['verdicts'].get(name)}")
    counts = {}
    for verdict in reference.values():
        counts[verdict] = counts.get(verdict, 0) + 1
    ratio = median(ratios)
    s_times = [r["seconds"] for r in serial]
    p_times = [r["seconds"] for r in parallel]

    print()
    print(f"serial vs -n {args.workers}, server latency {args.latency_ms} ms, {len(ratios)} pairs (medians; min-max)")
    print(f"  scenarios                {len(reference)}  {counts}")
    print(f"  serial                   {median(s_times):7.2f} s  [{spread(s_times)}]")
    print(f"  -n {args.workers:<2}                    {median(p_times):7.2f} s  [{spread(p_times)}]")
    print(f"  speed-up                 {ratio:7.2f} x  (target >= {TARGET:g}x: {'met' if ratio >= TARGET else 'NOT met'})")
    print(f"  verdicts identical       {'yes' if not differences else 'NO'} (every scenario, all {len(serial) + len(parallel)} runs)")
    for line in differences[:20]:
        print(f"    {line}")

    print()
    print("where the time goes (last pair):")
    for label, run in (("serial", serial[-1]), (f"-n {args.workers}", parallel[-1])):
        print(f"  {label}: {run['seconds']:.2f}s wall")
        print("\n".join(describe(run, latency_s)))
    s_run, p_run = serial[-1], parallel[-1]
    s_requests = sum(p["requests"] for p in s_run["processes"])
    p_requests = sum(p["requests"] for p in p_run["processes"])
    per_session = (p_requests - s_requests) / max(1, args.workers - 1)  # each extra session repeats these
    main_process = s_run["processes"][0]
    per_request = ((main_process["last_end"] - main_process["first_start"]) / max(1, s_requests))
    ready = max((p["first_start"] or p["finish"]) - p_run["launched"] for p in p_run["processes"])
    last_end = max((p["last_end"] or p["finish"]) - p_run["launched"] for p in p_run["processes"])
    bound = ready + (per_session + (s_requests - per_session) / args.workers) * per_request
    print(f"  each pytest session repeats {per_session:.0f} requests (seed client and data, and their cleanup):"
          f" {s_requests} requests serial, {p_requests} with -n {args.workers}")
    print(f"  serial scenarios: {per_request * 1e3:.0f} ms of wall time per request (server latency {args.latency_ms} ms; "
          "below it where admin requests overlap)")
    print(f"  -n {args.workers}: workers ready after {ready:.2f}s (serial: {(main_process['first_start'] - s_run['launched']):.2f}s);"
          f" last scenario ended at {last_end:.2f}s; exit at {p_run['seconds']:.2f}s")
    print(f"  -n {args.workers} lower bound (this start-up, per-session requests, scenarios spread perfectly):"
          f" {bound:.2f}s, so a speed-up of at most {s_run['seconds'] / bound:.2f}x")
    cap = s_requests / (per_session + (s_requests - per_session) / args.workers)
    print(f"  even with free start-up and any latency, the busiest worker sends at least"
          f" {per_session + (s_requests - per_session) / args.workers:.1f} of the {s_requests} requests:"
          f" speed-up at most {cap:.2f}x")
    print(f"  verdict digest {verdict_digest(reference)} (compare between invocations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
