"""Benchmark 1: the whole suite against the embedded reference server, next to its HTTP floor.

    python bench/suite_vs_floor.py [--runs 5]

What it measures, per run (each run a fresh process, so every run is as cold as a user's):
- suite, in-process: `pytest.main()` on the whole suite against the embedded reference server, with
  bench/_capture.py recording every HTTP request the suite sent (scenario journals + provisioner
  journal, ordered and checked complete by an httpx event hook). Timed from just before the suite's
  plugin is imported to pytest.main's return: collection, the embedded server's start and stop,
  provisioning, scenarios, cleanup. Interpreter start-up and `import pytest` are outside it.
- suite, as typed: `python -m pytest -q` in a subprocess, timed from outside (interpreter start-up,
  imports and all). This is what a user waits for.
- floor: exactly the recorded requests (method, URL, headers, body), replayed in the recorded order
  with one bare httpx.Client in this process, against a fresh reference server sharing the admin
  secret, so the server goes through the same states. The replay's status codes are compared with
  the suite's, to show the floor did the same work. A few differ by design: the suite's Bearer
  requests carry access tokens the first server issued, which the fresh one refuses (3 a run). The
  fresh server's start-up is timed too, but is not part of the floor.

How to read it: the ratios are medians of per-run ratios (suite and floor measured in the same run).
"suite / floor" is the target's ratio (target <= 3x). "(suite - server start) / floor" takes out the
embedded server's start-up, which the floor does not pay. "(suite - server - collection) / floor" also
takes out pytest's start-up and collection (a separate `--collect-only` run, timed the same way): what
remains is the scenarios' own work (fixtures, steps, checks, models, schemas, the HTTP itself, cleanup)
next to the bare HTTP. A fixed cost of start-up weighs heavily next to a floor of a few hundred ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from _common import REPO, bounded, median, reference_server, spread

import httpx

PYTEST_ARGS = ["-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
CHILD_TIMEOUT = 300
BUDGET_SECONDS = 600


# --- the child: one in-process suite run with the capture plugin ------------------------------------

def child(out_path: str) -> int:
    import pytest

    os.chdir(REPO)
    started = time.perf_counter()
    from _capture import Capture
    capture = Capture()
    exit_code = pytest.main(PYTEST_ARGS, plugins=[capture])
    elapsed = time.perf_counter() - started
    requests = [{"method": e.method, "url": e.url, "headers": e.request_headers, "body": e.request_body,
                 "status": e.status} for e in capture.exchanges()]
    result = {"exit_code": int(exit_code), "pytest_main_s": elapsed, "server_setup_s": capture.server_setup_s,
              "server_url": capture.server_url, "admin_secret": capture.admin_secret,
              "scenarios": len(capture.items), "outcomes": capture.outcomes, "requests": requests}
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the run's admin secret
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


def child_collect_only() -> int:
    """Start-up and collection alone: `pytest.main(["--collect-only"])`, timed like child()."""
    import pytest

    os.chdir(REPO)
    started = time.perf_counter()
    from _capture import Capture  # noqa: F401  (imported as in child(), so both pay the same imports)
    exit_code = pytest.main([*PYTEST_ARGS, "--collect-only"])
    print(f"BENCH-COLLECT-SECONDS {time.perf_counter() - started:.6f}", flush=True)
    return int(exit_code)


def run_collect_only() -> float:
    completed = subprocess.run([sys.executable, __file__, "--child-collect"], cwd=REPO, capture_output=True,
                               text=True, timeout=CHILD_TIMEOUT)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH-COLLECT-SECONDS "):
            return float(line.split()[1])
    sys.exit(f"the --collect-only run failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")


def run_child(workdir: Path, index: int) -> dict:
    out = workdir / f"run-{index}.json"
    completed = subprocess.run([sys.executable, __file__, "--child", str(out)], cwd=REPO, capture_output=True,
                               text=True, timeout=CHILD_TIMEOUT)
    if completed.returncode != 0 or not out.exists():
        sys.exit(f"the in-process suite run failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    result = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    return result


# --- the floor: the same requests with a bare client ---------------------------------------------------

def _rebase(url: str, old_origin: str, new_origin: str) -> str:
    if not url.startswith(old_origin):
        raise ValueError(f"a recorded request left the server under test: {url}")
    return new_origin + url[len(old_origin):]


def replay(run: dict) -> dict:
    """Replay the run's requests against a fresh reference server; time only the requests."""
    old = urlsplit(run["server_url"])
    old_origin = f"{old.scheme}://{old.netloc}"
    with reference_server(admin_secret=run["admin_secret"]) as (url, _secret, startup):
        prepared = [(r["method"], _rebase(r["url"], old_origin, url), r["headers"],
                     r["body"].encode("utf-8") if r["body"] else None) for r in run["requests"]]
        statuses = []
        started = time.perf_counter()
        with httpx.Client(timeout=10, follow_redirects=False) as client:
            for method, target, headers, body in prepared:
                statuses.append(client.request(method, target, headers=headers, content=body).status_code)
        floor = time.perf_counter() - started
    differing = sum(1 for r, s in zip(run["requests"], statuses) if r["status"] != s)
    return {"floor_s": floor, "server_start_s": startup, "statuses_differing": differing}


def run_as_typed() -> float:
    """`python -m pytest -q` as a user types it, timed from outside the interpreter."""
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "pytest", *PYTEST_ARGS], cwd=REPO, capture_output=True,
                               text=True, timeout=CHILD_TIMEOUT)
    elapsed = time.perf_counter() - started
    if completed.returncode not in (0, 1):  # 1: some scenario failed, still a whole run worth timing
        sys.exit(f"`python -m pytest` did not run the suite (exit {completed.returncode}):\n{completed.stdout[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs to take the median of [5]")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    parser.add_argument("--child-collect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if args.child_collect:
        return child_collect_only()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        for index in bounded(args.runs, BUDGET_SECONDS):
            run = run_child(Path(tmp), index)
            rows.append({**run, **replay(run), "as_typed_s": run_as_typed(), "collect_s": run_collect_only()})
            last = rows[-1]
            print(f"run {index + 1}: suite {last['pytest_main_s']:.3f}s in-process, {last['as_typed_s']:.3f}s as typed;"
                  f" floor {last['floor_s']:.3f}s; {len(last['requests'])} requests", flush=True)

    requests = {len(r["requests"]) for r in rows}
    scenarios = {r["scenarios"] for r in rows}
    outcomes = {}
    for r in rows:
        for verdict in r["outcomes"].values():
            outcomes[verdict] = outcomes.get(verdict, 0) + 1
    suite = [r["pytest_main_s"] for r in rows]
    typed = [r["as_typed_s"] for r in rows]
    floor = [r["floor_s"] for r in rows]
    start = [r["server_setup_s"] for r in rows]
    ratio = [r["pytest_main_s"] / r["floor_s"] for r in rows]
    ratio_typed = [r["as_typed_s"] / r["floor_s"] for r in rows]
    collect = [r["collect_s"] for r in rows]
    ratio_own = [(r["pytest_main_s"] - r["server_setup_s"]) / r["floor_s"] for r in rows]
    ratio_scenarios = [(r["pytest_main_s"] - r["server_setup_s"] - r["collect_s"]) / r["floor_s"] for r in rows]
    differing = sum(r["statuses_differing"] for r in rows)

    print()
    print(f"suite vs floor, {len(rows)} runs (medians; min-max in brackets)")
    print(f"  scenarios                                 {', '.join(map(str, sorted(scenarios)))}"
          f"  (outcomes over all runs: {outcomes})")
    print(f"  requests per run                          {', '.join(map(str, sorted(requests)))}")
    print(f"  suite, in-process pytest.main             {median(suite):7.3f} s  [{spread(suite)}]")
    print(f"    of which embedded server start-up       {median(start):7.3f} s  [{spread(start)}]")
    print(f"    start-up and collection (--collect-only){median(collect):7.3f} s  [{spread(collect)}]")
    print(f"  suite, `python -m pytest` as typed        {median(typed):7.3f} s  [{spread(typed)}]")
    print(f"  floor, bare httpx replay                  {median(floor):7.3f} s  [{spread(floor)}]")
    print(f"  replayed statuses differing from suite's  {differing}  (Bearer requests with tokens the fresh server "
          "never issued: 3 a run)")
    print(f"  ratio suite / floor                       {median(ratio):7.2f} x  (target <= 3x: "
          f"{'met' if median(ratio) <= 3 else 'NOT met'})")
    print(f"  ratio (suite - server start-up) / floor   {median(ratio_own):7.2f} x")
    print(f"  ratio (suite - server - collection) / floor {median(ratio_scenarios):5.2f} x  (the scenarios' own work)")
    print(f"  ratio as typed / floor                    {median(ratio_typed):7.2f} x")
    print(f"  load average at the end                   {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
          f"  ({os.cpu_count()} CPUs; other processes on the machine add noise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
