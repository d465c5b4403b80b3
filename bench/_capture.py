"""A pytest plugin for bench/suite_vs_floor.py: records every HTTP request the suite made, in order.

Where the requests come from:
- each scenario's journal, `item.stash[JOURNAL_KEY]` (the `agent` fixture's HttpAgent);
- the provisioner's journal (`Provisioner.agent`, a session HttpAgent: seed client, seed data, the
  clients scenarios register through it, and the cleanup at the end of the session).

The order between the two journals is not in the Exchanges, so the plugin also hooks the session's
httpx.Client (an httpx request event hook: it sees every request the client sends, whoever sends
it). That hook gives each request its sequence number, and it is the check that the two journals
hold every request: a request the hook saw but no journal holds makes the capture incomplete,
and the benchmark says so instead of replaying a partial floor.

It changes nothing the suite does: it adds one event hook to the client and reads fixture values.
"""

from __future__ import annotations

import time

import pytest

from conformance.plugin import JOURNAL_KEY


class Capture:
    def __init__(self):
        self.sent = []             # httpx.Request objects in the order the client sent them
        self.provisioners = []     # Provisioner objects the session created (one per session)
        self.items = []
        self.admin_secret = None   # the embedded server's admin secret, so the replay server can share it
        self.server_url = None
        self.server_setup_s = 0.0  # time the `server` fixture took to set up (the embedded server start)
        self.outcomes = {}

    # --- fixtures whose values we need --------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        started = time.perf_counter()
        value = yield
        name = fixturedef.argname
        if name == "http_client":
            value.event_hooks["request"].append(self.sent.append)
        elif name == "provisioner":
            self.provisioners.append(value)
        elif name == "server":
            self.server_setup_s += time.perf_counter() - started
            self.server_url, admin = value
            self.admin_secret = admin.secret if admin is not None else None
        return value

    def pytest_collection_finish(self, session):
        self.items = list(session.items)

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            previous = self.outcomes.get(report.nodeid, "passed")
            self.outcomes[report.nodeid] = previous if previous != "passed" else report.outcome

    # --- what the run sent ----------------------------------------------------------------------

    def exchanges(self) -> list:
        """Every Exchange from the scenario journals and the provisioner's, in the order they were sent."""
        journaled = []
        for item in self.items:
            journaled += item.stash.get(JOURNAL_KEY, [])
        for provisioner in self.provisioners:
            journaled += provisioner.agent.journal
        order = {id(request): index for index, request in enumerate(self.sent)}
        unordered = [e for e in journaled if e.response is None or id(e.response.request) not in order]
        if unordered:
            raise RuntimeError(f"{len(unordered)} journaled exchanges have no request the client sent "
                               f"(transport errors?): {[f'{e.method} {e.url}' for e in unordered[:5]]}")
        journaled.sort(key=lambda e: order[id(e.response.request)])
        if len(journaled) != len(self.sent):
            raise RuntimeError(f"the client sent {len(self.sent)} requests but the journals hold "
                               f"{len(journaled)}: the capture would miss requests")
        return journaled
