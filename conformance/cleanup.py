"""Deleting what the suite created (DESIGN.md §5, issue 5).

Two halves:

- At the end of every run: `finish` deletes what the run's provisioner created, holding off a second
  Ctrl-C while it works, exactly once per provisioner, whether the session ended normally, with
  failures, or interrupted (pytest's session teardown, then pytest_sessionfinish, pytest_unconfigure
  and atexit as fallbacks, each a no-op once the cleanup has run).
- Afterwards, for runs that could not clean up (killed, crashed, --keep-resources):
  `python -m conformance.cleanup --server-url URL` lists what such runs left and, with --delete,
  deletes it. It touches only what carries the suite's marks: ids `conf-<run id>-...` (a run id is 8
  hex digits), FHIR resources also tagged with the run under urn:fhir-basic-auth-conformance:run, and
  AccessPolicies whose every link is to a Client of the same run.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import signal
import ssl
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from conformance.credentials import Credentials, basic_header
from conformance.exchange import HttpAgent, build_http_client, never_connected, without_userinfo
from conformance.provisioning import ID_PREFIX, PROVISIONED_FHIR_TYPES, SUITE_TAG_SYSTEM, Provisioner, list_all
from conformance.settings import ca_bundle_problem, http_timeout_problem, proxy_problem, server_url_problem

RUN_ID = re.compile(r"[0-9a-f]{8}")
SUITE_ID = re.compile(rf"^{re.escape(ID_PREFIX)}({RUN_ID.pattern})-[A-Za-z0-9.\-]+$")
MAX_PAGES = 50           # pages of one listing followed at most
PAGE_SIZE = 500
DEFAULT_OLDER_THAN = 30  # minutes: a run changed more recently may still be going


# --- the end of a run ----------------------------------------------------------------------------

_pending: list[Provisioner] = []  # this process's provisioners whose cleanup has not run yet
_workers_cleaning = threading.Event()  # set on an xdist controller while its workers may still be cleaning up
_atexit_registered = False


def track(provisioner: Provisioner) -> None:
    """Remember a provisioner so its cleanup runs even when the session's teardown does not reach it."""
    global _atexit_registered
    _pending.append(provisioner)
    if not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True


def finish(provisioner: Provisioner, say=None) -> list[str]:
    """Delete what the provisioner created, once. Returns what is (or may be) left on the server."""
    if provisioner in _pending:
        _pending.remove(provisioner)
    if provisioner.cleaned:
        return []
    provisioner.cleaned = True  # before the first DELETE: no fallback ever starts a second cleanup
    say = say or _say
    _interrupts.hold(say, lambda: f"{len(provisioner.created)} resource(s) still to delete")
    try:
        with _interrupts.cleaning():
            return provisioner.cleanup()
    except KeyboardInterrupt:  # the user abandoned the cleanup: say what is left, and let the run end as usual
        left = list(reversed(provisioner.created))
        if left:
            say(f"cleanup abandoned: left on the server: {', '.join(left)}; "
                f"delete them with: python -m conformance.cleanup --server-url URL --run {provisioner.run_id} --delete")
        return left
    finally:
        if not _pending and not _workers_cleaning.is_set():
            _interrupts.release()


def hold_interrupts_until_cleaned() -> None:
    """Called at the run's first Ctrl-C: pytest writes its report of the interrupt before the session
    teardown reaches the cleanup, and a second Ctrl-C in that moment must not kill the run either."""
    if _pending:
        _interrupts.hold(_say, lambda: f"{sum(len(p.created) for p in _pending)} resource(s) still to delete")
    elif _workers_cleaning.is_set():
        _interrupts.hold(_say, lambda: "the workers are deleting what they created", abandon=_abandon_workers)


def expect_workers() -> None:
    """On the pytest-xdist controller: the workers provision and clean up; at a Ctrl-C the controller waits
    for them, and a second Ctrl-C must not kill them mid-cleanup."""
    _workers_cleaning.set()


def workers_finished() -> None:
    if _workers_cleaning.is_set():
        _workers_cleaning.clear()
        if not _pending:
            _interrupts.release()


def _abandon_workers() -> None:
    """A third Ctrl-C on the controller: stop waiting for the workers, with a word on what may be left and no
    traceback (pytest.exit ends the run with its own one-line message)."""
    import pytest  # here: the leftover command imports this module without pytest's plugin machinery
    pytest.exit("cleanup abandoned: the workers may have left resources on the server; list them with: "
                "python -m conformance.cleanup --server-url URL (add --delete to delete them)", returncode=2)


def finish_all(say=None) -> list[str]:
    """The fallback: clean up after every provisioner whose session teardown never ran its cleanup."""
    left = []
    for provisioner in list(_pending):
        left += finish(provisioner, say)
    return left


def _at_exit() -> None:
    try:
        left = finish_all()
    except BaseException:  # noqa: BLE001 - the interpreter is exiting; finish() already said what was left
        return
    if left:
        _say(f"cleanup left on the server: {', '.join(left)}")


def _say(message: str) -> None:
    print(f"\nconformance: {message}", file=sys.stderr, flush=True)


class InterruptHold:
    """While a cleanup is due or under way, the first further Ctrl-C (or SIGTERM) is noted, not obeyed: a
    cleanup cut short leaves the server dirty. A second one abandons the cleanup: at once while it runs, or
    as soon as it starts when it comes before (pytest writes its report of the first Ctrl-C first, and an
    exception raised there would end the run in a traceback). Only the main thread can set signal handlers;
    elsewhere the hold does nothing."""

    def __init__(self):
        self.previous: dict = {}  # the handlers replaced while holding
        self.received = 0
        self.running = False
        self.say = _say
        self.remaining = lambda: ""
        self.abandon = None  # what a further interrupt does instead of raising KeyboardInterrupt in the cleanup

    def hold(self, say, remaining, abandon=None) -> None:
        """`remaining` says what is still to do; `abandon`, when given, is the cleanup being waited for
        elsewhere (the xdist workers'): the second further interrupt calls it."""
        self.say, self.remaining, self.abandon = say, remaining, abandon
        if self.previous or threading.current_thread() is not threading.main_thread():
            return  # already holding: the interrupts received so far still count
        self.received = 0
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[signum] = signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # pragma: no cover - not the main interpreter
                pass

    @contextmanager
    def cleaning(self):
        """The cleanup itself: abandoned at once if a second interrupt already asked for that."""
        if self.received >= 2:
            raise KeyboardInterrupt
        self.running = True
        try:
            yield
        finally:
            self.running = False

    def release(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _on_signal(self, signum, frame):
        self.received += 1
        if self.received == 1:
            self.say(f"cleaning up: {self.remaining()}; interrupt again to abandon the cleanup")
        elif self.abandon is not None:
            self.abandon()
        elif self.running:
            raise KeyboardInterrupt
        elif self.received == 2:
            self.say("the cleanup will be abandoned as soon as it starts")


_interrupts = InterruptHold()


def command_for(left: list[str], server_url: str | None) -> str:
    """The command that deletes what a run left: named by run id, so the leftover command takes it at
    once (it skips runs that changed something in the last minutes, as they may still be going)."""
    runs = sorted({match.group(1) for item in left for match in re.finditer(rf"{re.escape(ID_PREFIX)}({RUN_ID.pattern})-", item)})
    return " ".join(["python -m conformance.cleanup", f"--server-url={server_url or 'URL'}",
                     *(f"--run={run}" for run in runs), "--delete"])


# --- afterwards: what crashed runs left ----------------------------------------------------------

@dataclass
class Leftover:
    path: str             # /Client/conf-..., /fhir/Observation/conf-...
    run_id: str
    last_updated: datetime | None

    @property
    def kind(self) -> str:
        return self.path.rstrip("/").split("/")[-2]


def suite_run_of(resource_id) -> str | None:
    """The run id in an id the suite gave, or None when the id is not one of the suite's."""
    match = SUITE_ID.match(resource_id) if isinstance(resource_id, str) else None
    return match.group(1) if match else None


def is_suite_client(resource: dict) -> str | None:
    return suite_run_of(resource.get("id"))


def is_suite_policy(resource: dict) -> str | None:
    """An AccessPolicy of the suite: its id is the suite's and every link is to a Client of the same run."""
    run = suite_run_of(resource.get("id"))
    links = resource.get("link")
    if run is None or not isinstance(links, list) or not links:
        return None
    for link in links:
        if not isinstance(link, dict):
            return None
        target = link.get("id")
        if target is None and isinstance(link.get("reference"), str):
            kind, _, target = link["reference"].partition("/")
            if kind != "Client":
                return None
        elif link.get("resourceType") not in (None, "Client"):
            return None
        if suite_run_of(target) != run:
            return None
    return run


def is_suite_resource(resource: dict) -> str | None:
    """A FHIR resource of the suite: its id is the suite's and it carries the tag of that same run."""
    run = suite_run_of(resource.get("id"))
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    if run is None or not isinstance(tags, list):
        return None
    if any(isinstance(tag, dict) and tag.get("system") == SUITE_TAG_SYSTEM and tag.get("code") == run for tag in tags):
        return run
    return None


def _last_updated(resource: dict) -> datetime | None:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


class Lister:
    def __init__(self, agent: HttpAgent, admin: Credentials):
        self.agent = agent
        self.admin_id = admin.client_id
        self.authorization = basic_header(admin.client_id, admin.secret)
        self.problems: list[str] = []

    def admin_problem(self) -> tuple[int, str] | None:
        """(exit code, why) when the listings cannot work at all, asked once before them: a server refusing the
        admin would otherwise show as an empty list with warnings, read as nothing left."""
        check = self.agent.send("GET", "/Client?_count=1", headers={"authorization": self.authorization})
        self.agent.journal.clear()
        if never_connected(check.error):
            return 1, f"cannot reach the server at {without_userinfo(self.agent.server_url)}: {check.error}"
        if check.status in (401, 403):
            return 2, (f"the server refused the admin client '{self.admin_id}' ({check.status} to GET /Client): "
                       "check CONFORMANCE_ADMIN_CLIENT_ID and CONFORMANCE_ADMIN_CLIENT_SECRET")
        return None

    def resources(self, path: str, what: str) -> list[dict]:
        """Every resource a listing returns, following next links on the same server."""
        found, problem = list_all(self.agent, path, self.authorization, MAX_PAGES)
        self.agent.journal.clear()
        if problem:
            self.problems.append(f"could not list {what}: {problem}" if "pages" not in problem else
                                 f"listing {what} {problem}")
        return found


def find_leftovers(lister: Lister, fhir_base: str, fhir_types) -> list[Leftover]:
    """What the suite's runs left, in the order it can be deleted: FHIR data, policies, then clients."""
    found = []
    tag = quote(f"{SUITE_TAG_SYSTEM}|", safe="")
    for kind in fhir_types:
        for resource in lister.resources(f"{fhir_base}/{kind}?_tag={tag}&_count={PAGE_SIZE}", f"{kind} resources"):
            if (run := is_suite_resource(resource)) and resource.get("resourceType", kind) == kind:
                found.append(Leftover(f"{fhir_base}/{kind}/{resource['id']}", run, _last_updated(resource)))
    for kind, plural, belongs in (("AccessPolicy", "AccessPolicies", is_suite_policy), ("Client", "Clients", is_suite_client)):
        for resource in lister.resources(f"/{kind}?_count={PAGE_SIZE}", plural):
            if run := belongs(resource):
                found.append(Leftover(f"/{kind}/{resource['id']}", run, _last_updated(resource)))
    return found


def _age(leftovers: list[Leftover], now: datetime) -> float | None:
    """Minutes since the run last changed anything it left (None when the server keeps no lastUpdated)."""
    stamps = [leftover.last_updated for leftover in leftovers if leftover.last_updated]
    return (now - max(stamps)).total_seconds() / 60 if stamps else None


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m conformance.cleanup",
        description="List, and with --delete remove, what conformance runs left on a server: Clients and "
                    "AccessPolicies with ids conf-<run id>-..., and FHIR resources with such ids that also carry "
                    "the run's tag (system urn:fhir-basic-auth-conformance:run). Nothing else is touched. "
                    "Without --delete nothing is deleted (a dry run). The admin secret is read from "
                    "CONFORMANCE_ADMIN_CLIENT_SECRET only, never from the command line.")
    parser.add_argument("--server-url", default=os.environ.get("CONFORMANCE_SERVER_URL"),
                        help="base URL of the server (env CONFORMANCE_SERVER_URL)")
    parser.add_argument("--fhir-base", default="/fhir", help="FHIR endpoint relative to the server URL [/fhir]")
    parser.add_argument("--admin-client-id", default=os.environ.get("CONFORMANCE_ADMIN_CLIENT_ID") or "root",
                        help="admin client (env CONFORMANCE_ADMIN_CLIENT_ID) [root]")
    parser.add_argument("--run", action="append", default=[], metavar="RUN_ID",
                        help="only this run (8 hex digits, as in conf-<run id>-...); repeatable. A named run is "
                             "included whatever its age")
    parser.add_argument("--older-than", type=float, default=DEFAULT_OLDER_THAN, metavar="MINUTES",
                        help=f"skip runs that changed something less than MINUTES ago: they may still be going "
                             f"[{DEFAULT_OLDER_THAN}]; 0 includes every run")
    parser.add_argument("--types", default=",".join(PROVISIONED_FHIR_TYPES),
                        help=f"FHIR resource types to look in [{','.join(PROVISIONED_FHIR_TYPES)}]")
    parser.add_argument("--delete", action="store_true", help="delete what is listed (default: list only)")
    parser.add_argument("--http-timeout", type=float, default=10.0, metavar="S")
    parser.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to verify the server with")
    parser.add_argument("--insecure", action="store_true", help="do not verify the server's TLS certificate")
    parser.add_argument("--proxy", metavar="URL")
    args = parser.parse_args(argv)
    if not args.server_url:
        parser.error("--server-url (or CONFORMANCE_SERVER_URL) is required")
    if any(not RUN_ID.fullmatch(run) for run in args.run):
        parser.error("--run takes a run id of 8 hex digits, as in conf-<run id>-...")
    if not os.environ.get("CONFORMANCE_ADMIN_CLIENT_SECRET"):
        parser.error("set CONFORMANCE_ADMIN_CLIENT_SECRET to the admin client's secret")
    if problem := (server_url_problem(args.server_url) or http_timeout_problem(args.http_timeout)
                   or proxy_problem(args.proxy) or ca_bundle_problem(args.ca_bundle)):
        parser.error(problem)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    admin = Credentials(args.admin_client_id, os.environ["CONFORMANCE_ADMIN_CLIENT_SECRET"])
    verify = False if args.insecure else (ssl.create_default_context(cafile=args.ca_bundle) if args.ca_bundle else True)
    fhir_base = "/" + args.fhir_base.strip("/") if args.fhir_base.strip("/") else ""
    types = [kind for kind in args.types.split(",") if kind]
    with build_http_client(args.http_timeout, verify, args.proxy) as client:
        agent = HttpAgent(client, args.server_url.rstrip("/"))
        lister = Lister(agent, admin)
        if problem := lister.admin_problem():
            code, why = problem
            print(f"error: {why}", file=sys.stderr)
            return code
        leftovers = find_leftovers(lister, fhir_base, types)
        by_run: dict[str, list[Leftover]] = {}
        for leftover in leftovers:
            by_run.setdefault(leftover.run_id, []).append(leftover)
        now = datetime.now(timezone.utc)
        chosen: list[Leftover] = []
        for run, items in sorted(by_run.items()):
            age = _age(items, now)
            age_text = f"last change {age:.0f} min ago" if age is not None else "age unknown"
            recent = age is not None and age < args.older_than
            if args.run and run not in args.run:
                continue
            if recent and not args.run:
                print(f"run {run}: {len(items)} resource(s), {age_text}: may still be going, skipped "
                      f"(--run {run} or --older-than 0 to include it)")
                continue
            print(f"run {run}: {len(items)} resource(s), {age_text}")
            for leftover in items:
                print(f"  {leftover.path}")
            chosen += items
        for problem in lister.problems:
            print(f"warning: {problem}", file=sys.stderr)
        incomplete = "; some listings failed (see the warnings), so there may be more" if lister.problems else ""
        if not args.delete:
            print(f"{len(chosen)} resource(s) would be deleted; nothing was deleted (dry run: add --delete){incomplete}")
            return 1 if lister.problems else 0
        failed = []
        for leftover in chosen:
            exchange = agent.send("DELETE", leftover.path, headers={"authorization": lister.authorization})
            agent.journal.clear()
            if exchange.status is None or (exchange.status >= 300 and exchange.status != 404):
                failed.append(f"{leftover.path} ({exchange.status or exchange.error})")
        print(f"{len(chosen) - len(failed)} resource(s) deleted" + (f"; {len(failed)} could not be:" if failed else incomplete))
        for line in failed:
            print(f"  {line}")
        return 1 if failed or lister.problems else 0


if __name__ == "__main__":
    sys.exit(main())
