"""The pytest plugin behind the suite: session resources (server, HTTP client, provisioning),
per-scenario recording and verdicts, requirement markers, and redaction of every report."""

from __future__ import annotations

import logging
import re
import signal
import ssl
import sys
import threading
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conformance import cleanup
from conformance.credentials import Credentials, fresh_secret
from conformance.embedded import EmbeddedServer
from conformance.exchange import HttpAgent, build_http_client, never_connected, without_userinfo
from conformance.provisioning import Provisioner, new_run_id
from conformance.redaction import SecretRegistry
from conformance.register import load_register
from conformance.settings import Settings, setting_problem, settings_from_config
from conformance.verdicts import ConformanceFailure, ShouldWarning, Verdict

REGISTRY_KEY = pytest.StashKey[SecretRegistry]()
SETTINGS_KEY = pytest.StashKey[Settings]()
WARNINGS_KEY = pytest.StashKey[list]()
JOURNAL_KEY = pytest.StashKey[list]()  # a scenario's HTTP exchanges (conformance.exchange.Exchange), for reports
VERDICT_KEY = pytest.StashKey[Verdict]()  # a scenario's verdict: what its checks found met or not applicable, for reports
CLEANUP_LEFT_KEY = pytest.StashKey[list]()  # what the run's cleanup could not delete (every worker's, on the controller)
CLEANUP_LEFT_OUTPUT = "conformance_cleanup_left"  # an xdist worker's workeroutput key for the same
EMBEDDED_URLS_KEY = pytest.StashKey[list]()  # the embedded reference server's URL (one per xdist worker, on the controller)
EMBEDDED_URLS_OUTPUT = "conformance_embedded_urls"
SIGNALS_KEY = pytest.StashKey[dict]()
LOG_FACTORY_KEY = pytest.StashKey[object]()
PREFLIGHT_KEY = pytest.StashKey[bool]()
PREFLIGHT_CLIENT_KEY = pytest.StashKey[object]()  # the pre-flight's HTTP client, which the run goes on with
REQUIREMENT_TAG = "req:"
SCENARIOS = "steps/"        # where the scenarios' node ids start (the self-tests' are under tests/)
SELF_TESTS = Path(__file__).resolve().parent.parent / "tests"
EMBEDDED_FHIR_BASE = "/fhir"  # where the reference server serves FHIR


# --- configuration and markers -------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    settings = settings_from_config(config)
    registry = SecretRegistry()
    registry.add(settings.admin_client_secret, settings.client_secret)
    config.stash[SETTINGS_KEY] = settings
    config.stash[REGISTRY_KEY] = registry
    config.stash[WARNINGS_KEY] = []
    config.stash[CLEANUP_LEFT_KEY] = []
    config.stash[EMBEDDED_URLS_KEY] = []
    config.stash[SIGNALS_KEY] = _terminate_like_ctrl_c()
    config.stash[LOG_FACTORY_KEY] = _redact_log_records(registry)
    if unknown := _unknown_requirements_selected(config.option.markexpr):
        raise pytest.UsageError(f"-m selects requirement id(s) not in features/requirements.csv: {', '.join(unknown)}")
    if problem := setting_problem(settings):
        raise pytest.UsageError(problem)
    if not hasattr(config, "workerinput"):
        for warning in weak_secret_warnings(settings):
            print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    if settings.insecure and not hasattr(config, "workerinput"):
        print("WARNING: --insecure: the server's TLS certificate is not verified; anyone between you and the "
              "server can read the credentials the suite sends", file=sys.stderr, flush=True)


WEAK_SECRET_LENGTH = 16


def weak_secret_warnings(settings: Settings) -> list[str]:
    """Secrets the user gave that are short enough to guess (the Aidbox docs' own example is "secret") -- and
    short enough to be ordinary words, which the redaction of every output then replaces wherever they appear."""
    given = [("the admin client's secret", settings.admin_client_secret),
             ("the pre-registered client's secret", settings.client_secret)]
    return [f"{what} has {len(secret)} characters: it is weak, and every output will show [REDACTED] wherever "
            "that text appears, in ordinary words too" for what, secret in given
            if secret and len(secret) < WEAK_SECRET_LENGTH]


def _unknown_requirements_selected(markexpr: str) -> list[str]:
    """Requirement ids named in `-m 'requirement(id="...")'` that the register does not know: a typo would
    otherwise select nothing and end as pytest's silent exit 5."""
    named = re.findall(r"""requirement\(\s*id\s*=\s*["']([^"']+)["']""", markexpr or "")
    return [rid for rid in named if rid not in load_register()]


def _redact_log_records(registry: SecretRegistry):
    """Libraries log what they send and receive (httpcore, at DEBUG, every response header), and pytest shows
    log records live (--log-cli-level), in reports and in JUnit. Each record is redacted as it is made, by the
    one redaction function. Returns the factory it replaced."""
    previous = logging.getLogRecordFactory()

    def make_record(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            record.msg, record.args = registry.redact(record.getMessage()), ()
            if record.exc_info:
                record.exc_text = registry.redact(logging.Formatter().formatException(record.exc_info))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is left for logging to complain about
            pass
        return record

    logging.setLogRecordFactory(make_record)
    return previous


def _terminate_like_ctrl_c() -> dict:
    """SIGTERM (CI cancelling a job, `kill`) and SIGHUP (a closed terminal) end the run the way Ctrl-C does:
    pytest's session teardown runs, so the run's cleanup deletes what it created."""
    installed = {}
    if threading.current_thread() is not threading.main_thread():
        return installed
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            installed[signum] = signal.signal(signum, _raise_keyboard_interrupt)
    return installed


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def pytest_report_header(config: pytest.Config) -> str | None:
    """Which server the run tests, at the start (the verdict says it again, conformance.reporting)."""
    if all(Path(arg.split("::")[0]).resolve().is_relative_to(SELF_TESTS) for arg in config.args):
        return None  # `pytest tests`: the self-tests start servers of their own
    return f"server under test: {server_under_test(config.stash[SETTINGS_KEY])}"


def server_under_test(settings: Settings, embedded_urls: list[str] = ()) -> str:
    """One line, without any user:password@ of the URL."""
    if settings.server_url:
        return f"{without_userinfo(settings.server_url)} (FHIR base {settings.fhir_base or '/'})"
    where = f" ({', '.join(embedded_urls)})" if embedded_urls else ""
    return f"the embedded reference server, started by the suite{where}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if left := cleanup.finish_all():  # a fallback: normally the session teardown has cleaned up already
        print(f"conformance: cleanup left on the server: {', '.join(left)}", file=sys.stderr)
    if (factory := config.stash.get(LOG_FACTORY_KEY, None)) is not None:
        logging.setLogRecordFactory(factory)
    if threading.current_thread() is threading.main_thread():
        for signum, previous in config.stash.get(SIGNALS_KEY, {}).items():
            signal.signal(signum, previous)


SEED_SCENARIOS_MODULE = "test_seed.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The seed's three steps run first: they are what the rest stands on, and a server that locks a client out
    after wrong secrets (good practice) must meet the pre-registered client before the rejection paths do."""
    items.sort(key=lambda item: item.path.name != SEED_SCENARIOS_MODULE)


def pytest_bdd_apply_tag(tag: str, function):
    """@req:<id> becomes requirement(id=<id>), so `-m 'requirement(id="<id>")'` selects by requirement."""
    if not tag.startswith(REQUIREMENT_TAG):
        return None
    requirement_id = tag[len(REQUIREMENT_TAG):]
    if requirement_id not in load_register():
        raise pytest.UsageError(f"@{tag}: {requirement_id} is not in features/requirements.csv")
    pytest.mark.requirement(id=requirement_id)(function)
    return True


# --- the pre-flight: settings that would make the run test nothing ------------------------------

def usage_problem(settings: Settings) -> str | None:
    """A run that could only skip everything is a usage error, said at once rather than as 30 skips."""
    if not settings.server_url and settings.fhir_base != EMBEDDED_FHIR_BASE:
        return (f"--fhir-base={settings.fhir_base or '/'}: the embedded reference server serves FHIR at "
                f"{EMBEDDED_FHIR_BASE}; --fhir-base is for a server given with --server-url")
    if settings.server_url and settings.provisions and not settings.admin_client_secret:
        return ("--provisioning aidbox needs the admin client's secret: set CONFORMANCE_ADMIN_CLIENT_SECRET "
                "(or --admin-client-secret), or use --provisioning none with a pre-registered client")
    if not settings.provisions and not (settings.client_id and settings.client_secret):
        return ("--provisioning none needs the pre-registered client: set CONFORMANCE_CLIENT_ID and "
                "CONFORMANCE_CLIENT_SECRET (or --client-id/--client-secret)")
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """A serial run (or an xdist worker, which leaves it to the controller): before the first scenario."""
    if not hasattr(session.config, "workerinput"):
        preflight(session.config, [item.nodeid for item in session.items], keep_client=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    """Under pytest-xdist, on the controller: a worker has collected, and no scenario has run yet."""
    preflight(node.config, ids, keep_client=False)


def preflight(config: pytest.Config, nodeids: list[str], keep_client: bool) -> None:
    """Once per run, and only when scenarios are to run (so `pytest tests` and --collect-only are not affected):
    a setting that would make the run test nothing stops it as a usage error, one clean `ERROR:` line and exit 4,
    rather than as a run of skips and failures that reads as a finding about the server."""
    if config.stash.get(PREFLIGHT_KEY, False) or config.option.collectonly:
        return
    if not any(nodeid.startswith(SCENARIOS) for nodeid in nodeids):
        return
    config.stash[PREFLIGHT_KEY] = True
    settings = config.stash[SETTINGS_KEY]
    problem = usage_problem(settings)
    if problem is None and settings.server_url:
        client = http_client_for(settings)
        problem = server_problem(client, settings)
        if keep_client and not problem:
            # One client for the run (one connection, and a probe the server left unanswered counts towards
            # the requests in a row after which the suite stops waiting: conformance.exchange).
            config.stash[PREFLIGHT_CLIENT_KEY] = client
        else:
            client.close()
    if problem:
        raise pytest.UsageError(config.stash[REGISTRY_KEY].redact(problem))


def server_problem(http_client, settings: Settings) -> str | None:
    """Why the server given cannot be tested as the settings say, or None. One search of the FHIR base with the
    run's credentials (the admin's when given, else the pre-registered client's) shows the server can be reached,
    that the FHIR base is there, and that the admin's credentials are accepted; under --provisioning aidbox one
    listing of the admin API shows the admin may provision. A server that is reached but answers badly (or not
    at all) is left to the scenarios to judge, and so is a pre-registered client whose credentials are refused
    (the suite cannot tell a wrong secret from a server refusing good ones)."""
    agent = HttpAgent(http_client, settings.server_url)
    admin = Credentials(settings.admin_client_id, settings.admin_client_secret) if settings.admin_client_secret else None
    caller = admin or Credentials(settings.client_id, settings.client_secret)
    probe = agent.send("GET", f"{settings.fhir_base}/Observation?_count=1", headers={"authorization": caller.header()})
    if never_connected(probe.error):
        through = f" through the proxy {without_userinfo(settings.proxy)}" if settings.proxy else ""
        return f"cannot reach the server under test at {without_userinfo(settings.server_url)}{through}: {probe.error}"
    if probe.status == 404:
        return (f"GET {without_userinfo(probe.url)} answered 404: no FHIR endpoint at --fhir-base="
                f"{settings.fhir_base or '/'}; give the server's FHIR base, relative to --server-url, with "
                f"--fhir-base=PATH (default {EMBEDDED_FHIR_BASE})")
    if probe.status == 429:  # still, after the suite waited as asked: every scenario would skip as throttled
        return (f"GET {without_userinfo(probe.url)} answered 429 Too Many Requests (Retry-After: "
                f"{probe.response.headers.get('retry-after', 'not given')}) even after waiting: the server throttles "
                "the suite, so nothing could be tested now; run again later or raise its rate limit for the run")
    if admin and probe.status in (401, 403):
        return admin_refused(admin, probe)
    if admin and settings.provisions and probe.response is not None:
        listing = agent.send("GET", "/AccessPolicy?_count=1", headers={"authorization": admin.header()})
        if listing.status in (401, 403):
            return admin_refused(admin, listing)
    return None


def admin_refused(admin: Credentials, exchange) -> str:
    return (f"the server refused the admin client '{admin.client_id}' ({exchange.status} to {exchange.method} "
            f"{urlsplit(exchange.url).path}): check CONFORMANCE_ADMIN_CLIENT_ID and CONFORMANCE_ADMIN_CLIENT_SECRET")


# --- session resources ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def settings(pytestconfig) -> Settings:
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def secret_registry(pytestconfig) -> SecretRegistry:
    return pytestconfig.stash[REGISTRY_KEY]


@pytest.fixture(scope="session")
def run_id() -> str:
    return new_run_id()


@pytest.fixture(scope="session")
def server(settings, secret_registry, pytestconfig):
    """(server URL, admin credentials): the user's server, or the embedded reference server. The pre-flight
    has checked the settings before the first scenario."""
    if settings.server_url:
        admin = None
        if settings.admin_client_secret:
            admin = Credentials(settings.admin_client_id, settings.admin_client_secret)
            secret_registry.add_credentials(admin.client_id, admin.secret)
        yield settings.server_url, admin
        return
    admin = Credentials(settings.admin_client_id, fresh_secret())
    secret_registry.add_credentials(admin.client_id, admin.secret)
    embedded = EmbeddedServer.start(admin.client_id, admin.secret)
    note_embedded_url(pytestconfig, embedded.url)
    try:
        yield embedded.url, admin
    finally:
        embedded.stop(wait=False)  # the run's cleanup is done; its in-memory data goes with it


@pytest.fixture(scope="session")
def server_url(server) -> str:
    return server[0]


@pytest.fixture(scope="session")
def fhir_base_url(server_url, settings) -> str:
    return server_url + settings.fhir_base


@pytest.fixture(scope="session")
def http_client(settings, pytestconfig):
    client = pytestconfig.stash.get(PREFLIGHT_CLIENT_KEY, None) or http_client_for(settings)
    try:  # not `with`: httpx refuses to enter a client that has already sent a request
        yield client
    finally:
        client.close()


def http_client_for(settings: Settings):
    verify = False if settings.insecure else (ssl.create_default_context(cafile=settings.ca_bundle)
                                              if settings.ca_bundle else True)
    return build_http_client(settings.http_timeout, verify, settings.proxy)


@pytest.fixture(scope="session")
def provisioner(settings, server, http_client, run_id, secret_registry, pytestconfig):
    """The admin's hands on the server; everything it creates is deleted at the end of the session, also
    when scenarios failed or the run was interrupted (see conformance.cleanup)."""
    server_url, admin = server
    if not settings.provisions:
        pytest.skip("needs provisioning: the run uses --provisioning none")
    if admin is None:
        pytest.skip("needs provisioning: no admin secret (set CONFORMANCE_ADMIN_CLIENT_SECRET)")
    provisioner = Provisioner(HttpAgent(http_client, server_url), admin, run_id, settings.fhir_base,
                              secret_registry=secret_registry)
    if not settings.keep_resources:
        cleanup.track(provisioner)
    yield provisioner
    if settings.keep_resources:
        if provisioner.created:
            note_cleanup_left(pytestconfig, [f"{path} (--keep-resources)" for path in provisioner.created])
        return
    if left := cleanup.finish(provisioner):
        note_cleanup_left(pytestconfig, [secret_registry.redact(item) for item in left])


def note_embedded_url(config: pytest.Config, url: str) -> None:
    """For the verdict's "server under test" line; from an xdist worker, through its workeroutput."""
    config.stash[EMBEDDED_URLS_KEY].append(url)
    if hasattr(config, "workeroutput"):
        config.workeroutput[EMBEDDED_URLS_OUTPUT] = list(config.stash[EMBEDDED_URLS_KEY])


def note_cleanup_left(config: pytest.Config, left: list[str]) -> None:
    """What the cleanup left goes into the verdict (conformance.reporting); from an xdist worker, through
    its workeroutput to the controller."""
    config.stash.setdefault(CLEANUP_LEFT_KEY, []).extend(left)
    if hasattr(config, "workeroutput"):
        config.workeroutput[CLEANUP_LEFT_OUTPUT] = list(config.stash[CLEANUP_LEFT_KEY])


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo) -> None:
    """From the first Ctrl-C on, a second one is held off until the cleanup has run (conformance.cleanup)."""
    cleanup.hold_interrupts_until_cleaned()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs) -> None:
    """On the xdist controller, before its workers start: a Ctrl-C will wait for their cleanups."""
    cleanup.expect_workers()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A fallback, after pytest's own session teardown: the cleanup of a provisioner whose teardown never
    ran (e.g. a second Ctrl-C during another fixture's teardown). Before the verdict reports are written.
    On an xdist controller this runs after xdist has waited for the workers: their cleanups are over."""
    cleanup.workers_finished()
    if left := cleanup.finish_all():
        note_cleanup_left(session.config, left)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """On the xdist controller: what a worker's cleanup left, and its embedded server's URL."""
    output = getattr(node, "workeroutput", {})
    node.config.stash.setdefault(CLEANUP_LEFT_KEY, []).extend(output.get(CLEANUP_LEFT_OUTPUT) or [])
    node.config.stash.setdefault(EMBEDDED_URLS_KEY, []).extend(output.get(EMBEDDED_URLS_OUTPUT) or [])


# --- per scenario --------------------------------------------------------------------------------

@pytest.fixture
def agent(http_client, server_url, request) -> HttpAgent:
    """Sends the scenario's requests; its journal is what a failure report shows."""
    agent = HttpAgent(http_client, server_url)
    request.node.stash[JOURNAL_KEY] = agent.journal
    return agent


@pytest.fixture
def verdict(secret_registry, settings, request):
    """Judges the scenario's checks; SHOULD violations are reported as warnings when it ends."""
    verdict = request.node.stash[VERDICT_KEY] = Verdict(secret_registry, settings.fail_on_should)
    yield verdict
    for message in verdict.notes:
        request.node.user_properties.append(("may-note", message))
    for message in verdict.warnings:
        request.node.user_properties.append(("should-warning", message))
        request.config.stash[WARNINGS_KEY].append((request.node.nodeid, message))
        warnings.warn(ShouldWarning(message), stacklevel=1)


# --- reports: redaction and the summary ----------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Every report passes through the one redaction function before anything prints or stores it."""
    report = yield
    redact = item.config.stash[REGISTRY_KEY].redact
    if call.excinfo is not None and call.excinfo.errisinstance(ConformanceFailure):
        # The failure message says it all (requirement, expected, actual, the exchange); a traceback would
        # add step arguments' reprs, which pytest truncates past what redaction can recognise.
        report.longrepr = str(call.excinfo.value)
    if report.longrepr is not None:
        if isinstance(report.longrepr, tuple):
            path, line, reason = report.longrepr
            report.longrepr = (path, line, redact(reason))
        else:
            report.longrepr = redact(str(report.longrepr))
    report.sections = [(title, redact(content)) for title, content in report.sections]
    report.user_properties = [(name, redact(str(value))) for name, value in report.user_properties]
    return report


# The verdict at the end of the terminal output (failures, then SHOULD warnings, waivers and skips) is
# printed by conformance.reporting, which also writes the spec reports and sets the exit code.
