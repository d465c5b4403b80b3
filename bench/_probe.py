"""A pytest plugin for bench/parallel_vs_serial.py, loaded with `-p bench._probe` (also in xdist workers).

Each pytest process (the serial run, or each xdist worker) writes one JSON file into $BENCH_PROBE_DIR:
how many requests its HTTP client sent (counted by an httpx request event hook, so every request is
counted whoever sends it), how many of them were provisioning (the session Provisioner's journal), how
long its session fixtures took to set up, and when its first scenario started and its last ended.
That is what explains a parallel speed-up short of the number of workers. It changes nothing the suite
does; without $BENCH_PROBE_DIR it does nothing.
"""

from __future__ import annotations

import json
import os
import time

import pytest

_state = {"requests": 0, "provisioners": [], "session_fixture_s": 0.0, "scenarios": 0,
          "first_start": None, "last_end": None, "session_start": None}
_SESSION_FIXTURES = {"server", "http_client", "provisioner", "seed_client", "seed_data"}


def _count(_request) -> None:
    _state["requests"] += 1


def pytest_sessionstart(session):
    _state["session_start"] = time.time()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    started = time.perf_counter()
    value = yield
    if fixturedef.argname in _SESSION_FIXTURES:
        _state["session_fixture_s"] += time.perf_counter() - started
    if fixturedef.argname == "http_client":
        value.event_hooks["request"].append(_count)
    elif fixturedef.argname == "provisioner":
        _state["provisioners"].append(value)
    return value


def pytest_runtest_logstart(nodeid, location):
    _state["scenarios"] += 1
    _state["first_start"] = _state["first_start"] or time.time()


def pytest_runtest_logfinish(nodeid, location):
    _state["last_end"] = time.time()


def pytest_sessionfinish(session):
    directory = os.environ.get("BENCH_PROBE_DIR")
    if not directory or _state["session_start"] is None:
        return
    if session.config.pluginmanager.hasplugin("dsession"):
        return  # the xdist controller sends no requests; its workers report
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    provisioning = sum(len(p.agent.journal) for p in _state["provisioners"])
    record = {"worker": worker, "pid": os.getpid(), "requests": _state["requests"], "provisioning": provisioning,
              "session_fixture_s": _state["session_fixture_s"], "scenarios": _state["scenarios"],
              "session_start": _state["session_start"], "first_start": _state["first_start"],
              "last_end": _state["last_end"], "finish": time.time()}
    with open(os.path.join(directory, f"{worker}-{os.getpid()}.json"), "w", encoding="utf-8") as out:
        json.dump(record, out)
