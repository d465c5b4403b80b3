"""The plugin that turns a run into verdicts people can act on (DESIGN.md §4, issue 4).

On the process that runs a scenario (the only one under a serial run; each worker under pytest-xdist)
it records the scenario as a conformance.outcomes.ScenarioRecord: its feature, rule and steps with
their status, the requirements it cites, what broke, what was skipped and why, and its HTTP
exchanges -- every text redacted there, where the run's secrets are known. A failure whose broken
requirements are all waived becomes an expected failure (pytest's xfail), so pytest, JUnit and the
exit code agree that it does not fail the gate.

On the controlling process it gathers the records, finds stale waivers, prints the verdict at the end
of the terminal output, writes --spec-report and --spec-summary, sets the exit code, and fills
pytest-bdd's --cucumberjson under pytest-xdist (where pytest-bdd itself would write an empty file).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from conformance import cleanup, outcomes
from conformance.exchange import Exchange, without_userinfo
from conformance.outcomes import RunResult, ScenarioRecord, Step, WaiverError
from conformance.plugin import (CLEANUP_LEFT_KEY, EMBEDDED_FHIR_BASE, EMBEDDED_URLS_KEY, JOURNAL_KEY, REGISTRY_KEY,
                               SETTINGS_KEY, VERDICT_KEY, server_under_test)
from conformance.redaction import SecretRegistry
from conformance.register import load_register
from conformance.settings import Settings
from conformance.verdicts import ConformanceFailure

WAIVERS_KEY = pytest.StashKey[dict]()
RECORDS_KEY = pytest.StashKey[list]()
RUN_KEY = pytest.StashKey[dict]()
RESULT_KEY = pytest.StashKey[RunResult]()
PROVISIONER_KEY = pytest.StashKey[object]()
RECORD_KEY = pytest.StashKey[ScenarioRecord]()
STEPS_KEY = pytest.StashKey[list]()
ADMIN_MARK_KEY = pytest.StashKey[int]()
ADMIN_EXCHANGES_KEY = pytest.StashKey[list]()

RECORD_ATTRIBUTE = "conformance_record"     # on the teardown report: the scenario's record, as plain data
BDD_CONTEXT_ATTRIBUTE = "conformance_bdd"   # on the call report under xdist: pytest-bdd's scenario report

BODY_SHOWN = 1500        # characters of a request or response body kept in the reports
EXCHANGES_SHOWN = 25     # exchanges kept per scenario
MESSAGE_SHOWN = 6000     # characters of a failure message or error kept per scenario


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


# --- configuration -------------------------------------------------------------------------------

OUTPUT_OPTIONS = {"spec_report": "--spec-report", "spec_summary": "--spec-summary"}


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("waivers", None)
    try:
        config.stash[WAIVERS_KEY] = outcomes.load_waivers(path) if path else {}
    except WaiverError as error:
        raise pytest.UsageError(f"--waivers: {error}") from None
    if not _is_worker(config):
        if problem := output_paths_problem({option: config.getoption(name, None)
                                            for name, option in OUTPUT_OPTIONS.items()}):
            raise pytest.UsageError(problem)
    config.stash[RECORDS_KEY] = []
    config.stash[RUN_KEY] = {"started": datetime.now(timezone.utc), "clock": time.monotonic()}
    if not _is_worker(config):
        config.pluginmanager.register(VerdictCollector(config), "conformance-verdict-collector")


# --- following the scenario as it runs -----------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """Remember the provisioner, so each scenario's report also shows the administrator's requests it made."""
    result = yield
    if fixturedef.argname == "provisioner" and result is not None:
        request.config.stash[PROVISIONER_KEY] = result
    return result


def pytest_bdd_before_scenario(request, feature, scenario) -> None:
    request.node.stash[STEPS_KEY] = []


def pytest_bdd_before_step(request, feature, scenario, step, step_func) -> None:
    request.node.stash.setdefault(STEPS_KEY, []).append("started")


def pytest_bdd_after_step(request, feature, scenario, step, step_func, step_func_args) -> None:
    _set_last_step(request.node, "passed")


def pytest_bdd_step_error(request, feature, scenario, step, step_func, step_func_args, exception) -> None:
    _set_last_step(request.node, "failed")


def pytest_bdd_step_func_lookup_error(request, feature, scenario, step, exception) -> None:
    request.node.stash.setdefault(STEPS_KEY, []).append("failed")


def _set_last_step(item, status: str) -> None:
    statuses = item.stash.setdefault(STEPS_KEY, [])
    if statuses:
        statuses[-1] = status


def _admin_journal(config) -> list | None:
    provisioner = config.stash.get(PROVISIONER_KEY, None)
    agent = getattr(provisioner, "agent", None)
    return getattr(agent, "journal", None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Runs outermost, after the redaction in conformance.plugin: builds the record phase by phase."""
    report = yield
    if getattr(item, "_request", None) is None or not _is_scenario(item):
        return report
    registry: SecretRegistry = item.config.stash[REGISTRY_KEY]
    redact = registry.redact
    record = item.stash.get(RECORD_KEY, None)
    if record is None:
        record = item.stash[RECORD_KEY] = _new_record(item, redact)
        for name, value in _junit_properties(record):
            item.user_properties.append((name, value))
            if (name, value) not in report.user_properties:
                report.user_properties.append((name, value))
    record.phase_outcomes[report.when] = report.outcome
    record.duration += report.duration

    if report.when == "setup":
        journal = _admin_journal(item.config)
        item.stash[ADMIN_MARK_KEY] = len(journal) if journal is not None else 0
    if report.failed:
        _record_failure(item, call, report, record, redact)
    elif report.skipped:
        record.skip_reason = _skip_reason(report, redact)
    if report.when == "call":
        journal = _admin_journal(item.config)
        if journal is not None:
            item.stash[ADMIN_EXCHANGES_KEY] = list(journal[item.stash.get(ADMIN_MARK_KEY, len(journal)):])
        _capture_bdd_context(item, report)

    if report.when == "teardown":
        _finish_record(item, record, redact)
        outcomes.judge(record, item.config.stash[WAIVERS_KEY])
        setattr(report, RECORD_ATTRIBUTE, record.to_dict())
        report.user_properties.append(("outcome", record.outcome))
        if record.cause:
            report.user_properties.append(("cause", redact(record.cause)))
    return report


def _is_scenario(item) -> bool:
    return _scenario_template(item) is not None


def _scenario_template(item):
    try:
        from pytest_bdd.scenario import scenario_wrapper_template_registry
    except ImportError:  # pragma: no cover - pytest-bdd moved it; the report then has less detail
        return None
    return scenario_wrapper_template_registry.get(getattr(item, "obj", None))


def _new_record(item, redact) -> ScenarioRecord:
    template = _scenario_template(item)
    example = getattr(getattr(item, "callspec", None), "params", {}).get("_pytest_bdd_example", {})
    scenario = template.render(example or {})
    feature, rule = scenario.feature, scenario.rule
    # The Gherkin text is the repository's (features/*.feature, which hold no secret: DESIGN.md §8), kept as
    # written: redacting it turned 'Authorization: Basic base64(client-id:secret)' into '... [REDACTED]'.
    # Outputs that print it with the run's text (terminal, Markdown) still redact what they print.
    record = ScenarioRecord(
        nodeid=redact(item.nodeid),
        title=scenario.name,
        order=_collection_index(item),
        feature=feature.name or feature.rel_filename,
        feature_description=feature.description or "",
        feature_file=feature.rel_filename,
        rule=rule.name if rule is not None else "",
        rule_description=(rule.description or "") if rule is not None else "",
        steps=[Step(step.keyword, step.name, background=_is_background(template, index))
               for index, step in enumerate(scenario.steps)],
        requirement_ids=list(dict.fromkeys(mark.kwargs.get("id") or (mark.args[0] if mark.args else "")
                                           for mark in item.iter_markers("requirement"))),
    )
    record.requirement_ids = sorted(filter(None, record.requirement_ids), key=_register_order)
    return record


def _collection_index(item) -> int:
    try:
        return item.session.items.index(item)
    except (AttributeError, ValueError):
        return 0


def _is_background(template, index: int) -> bool:
    return index < len(template.all_background_steps)


def _register_order(requirement_id: str) -> int:
    ids = list(load_register())
    return ids.index(requirement_id) if requirement_id in ids else len(ids)


def _junit_properties(record: ScenarioRecord) -> list[tuple[str, str]]:
    """What JUnit shows of a scenario beside pytest's test name: its readable title and requirement ids."""
    register = load_register()
    properties = [("scenario", " › ".join(filter(None, (record.feature, record.rule, record.title))))]
    properties += [("requirement", f"{rid} ({register[rid].level})") for rid in record.requirement_ids
                   if rid in register]
    return properties


def _record_failure(item, call, report, record: ScenarioRecord, redact) -> None:
    exception = call.excinfo.value if call.excinfo is not None else None
    if report.when == "call" and isinstance(exception, ConformanceFailure):
        record.failed_ids = list(exception.requirement_ids)
        record.failure_message = _clip(redact(str(exception)))
        waivers = item.config.stash[WAIVERS_KEY]
        if record.failed_ids and all(rid in waivers for rid in record.failed_ids):
            # A known failure: pytest's expected failure, so terminal, JUnit and exit code agree.
            report.outcome = "skipped"
            report.wasxfail = redact("waived: " + "; ".join(f"{rid}: {waivers[rid].reason}"
                                                             for rid in record.failed_ids))
        return
    text = redact(str(report.longrepr)) if report.longrepr is not None else "failed"
    phase = {"setup": "while preparing the scenario", "teardown": "while cleaning up after the scenario"}
    prefix = f"error {phase[report.when]}: " if report.when in phase else ""
    record.error = _clip(prefix + text if not record.error else record.error + "\n\n" + prefix + text)


def _skip_reason(report, redact) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr or "")
    return redact(reason.removeprefix("Skipped: ").strip())


def _finish_record(item, record: ScenarioRecord, redact) -> None:
    statuses = item.stash.get(STEPS_KEY, [])
    for step, status in zip(record.steps, statuses):
        # A step that started and neither finished nor raised an error was left by pytest.skip.
        step.status = "skipped" if status == "started" else status
    record.warnings = [redact(str(value)) for name, value in item.user_properties if name == "should-warning"]
    record.notes = [redact(str(value)) for name, value in item.user_properties if name == "may-note"]
    if (verdict := item.stash.get(VERDICT_KEY, None)) is not None:
        record.held_ids = sorted(verdict.held)
        record.not_applicable = {rid: redact(reason) for rid, reason in verdict.not_applicable.items()}
    admin = item.stash.get(ADMIN_EXCHANGES_KEY, [])
    journal = [(exchange, "client") for exchange in item.stash.get(JOURNAL_KEY, [])]
    journal += [(exchange, "administrator") for exchange in admin]
    journal.sort(key=lambda sent: sent[0].sent_at)  # in the order they were sent
    shown = journal[:EXCHANGES_SHOWN]
    record.exchanges = [exchange_record(exchange, redact, actor) for exchange, actor in shown]
    if len(journal) > len(shown):
        record.exchanges.append({"omitted": len(journal) - len(shown)})


def exchange_record(exchange: Exchange, redact, actor: str = "client") -> dict:
    """One exchange as the reports show it: every value redacted before it is shortened."""
    response = exchange.response
    return {
        "actor": actor,
        "role": exchange.role,
        "method": exchange.method,
        "url": redact(exchange.url),
        "request_headers": [_header(name, value, redact) for name, value in exchange.request_headers.items()],
        "request_body": _body(exchange.request_body, redact),
        "status": response.status_code if response is not None else None,
        "reason": response.reason_phrase if response is not None else "",
        "response_headers": [_header(name, value, redact) for name, value in response.headers.items()]
        if response is not None else [],
        "response_body": _body(_text(response), redact) if response is not None else "",
        "error": redact(exchange.error or ""),
    }


def _header(name: str, value: str, redact) -> list[str]:
    """Redacted as a whole "name: value" line, so the Authorization rule of the redactor applies."""
    line = redact(f"{name}: {value}")
    shown_name, _, shown_value = line.partition(": ")
    return [shown_name, shown_value]


def _text(response) -> str:
    try:
        return response.text
    except Exception:  # undecodable body: show what can be shown
        return response.content.decode("utf-8", errors="replace")


def _body(text: str, redact) -> str:
    if not text:
        return ""
    text = redact(text)  # before pretty-printing and cutting, so no secret is ever split
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, TypeError):
        pass
    if len(text) > BODY_SHOWN:
        text = text[:BODY_SHOWN] + f"\n… [{len(text) - BODY_SHOWN} more characters not shown]"
    return text


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_SHOWN else text[:MESSAGE_SHOWN] + f"\n… [{len(text) - MESSAGE_SHOWN} more characters]"


# --- the controlling process: gathering, verdict, reports, exit code -----------------------------

def run_result(config: pytest.Config) -> RunResult:
    if RESULT_KEY not in config.stash:
        records = sorted(config.stash.get(RECORDS_KEY, []), key=lambda record: (record.order, record.nodeid))
        config.stash[RESULT_KEY] = RunResult(records, config.stash.get(WAIVERS_KEY, {}))
    return config.stash[RESULT_KEY]


def run_facts(config: pytest.Config) -> dict:
    """What the report headers say about the run."""
    settings = config.stash[SETTINGS_KEY]
    run = config.stash[RUN_KEY]
    redact = config.stash[REGISTRY_KEY].redact
    server = _without_password(settings.server_url) if settings.server_url else None
    return {
        "server": redact(server) if server else "the embedded reference server, started by the suite",
        "fhir_base": redact(settings.fhir_base or "/"),
        "fhir_version": settings.fhir_version,
        "provisioning": settings.provisioning,
        "fail_on_should": settings.fail_on_should,
        "waivers_file": redact(config.getoption("waivers") or ""),
        "started": run["started"].strftime("%Y-%m-%d %H:%M:%S UTC"),
        "duration": time.monotonic() - run["clock"],
        "workers": _worker_count(config),
        "cleanup_left": (left := [redact(item) for item in config.stash.get(CLEANUP_LEFT_KEY, [])]),
        "cleanup_command": redact(cleanup.command_for(left, server)),
        "insecure": settings.insecure,
        "rerun_options": [redact(option) for option in rerun_options(settings)],
        "rerun_secrets_from": rerun_secrets_from(settings),
    }


def rerun_options(settings: Settings) -> list[str]:
    """The options that make `pytest <one scenario>` test what this run tested: the same server (without any
    user:password@), FHIR base, provisioning, FHIR version, client ids and TLS or proxy settings, each only when
    it is not the default. Never a secret: rerun_secrets_from names where those come from."""
    chosen = [("--server-url", settings.server_url and without_userinfo(settings.server_url)),
              ("--fhir-base", settings.fhir_base != EMBEDDED_FHIR_BASE and (settings.fhir_base or "/")),
              ("--provisioning", settings.provisioning != "aidbox" and settings.provisioning),
              ("--fhir-version", settings.fhir_version != "R4" and settings.fhir_version),
              ("--admin-client-id", settings.server_url and settings.admin_client_id != "root" and settings.admin_client_id),
              ("--client-id", not settings.provisions and settings.client_id),
              ("--ca-bundle", settings.ca_bundle), ("--proxy", settings.proxy and without_userinfo(settings.proxy))]
    options = [f"{option}={value}" for option, value in chosen if value]
    return options + (["--insecure"] if settings.insecure else []) + (["--fail-on-should"] if settings.fail_on_should else [])


def rerun_secrets_from(settings: Settings) -> list[str]:
    """The environment variables a rerun takes its secrets from (none against the embedded server)."""
    if not settings.server_url:
        return []
    named = ["CONFORMANCE_ADMIN_CLIENT_SECRET"] if settings.provisions or settings.admin_client_secret else []
    return named + ([] if settings.provisions else ["CONFORMANCE_CLIENT_SECRET"])


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:[REDACTED]@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _worker_count(config) -> int:
    """0 for a serial run; the number of pytest-xdist workers (-1 when chosen at run time, e.g. -n auto)."""
    workers = getattr(config.option, "numprocesses", None)
    if not workers or getattr(config.option, "dist", "no") == "no":
        return 0
    return int(workers) if str(workers).isdigit() else -1


def output_paths_problem(paths: dict[str, str | None]) -> str | None:
    """Why a report could not be written where asked, found before the run rather than after all of it;
    the folders a path names that do not exist yet are made here. `paths`: option -> path (or None)."""
    given = {option: path for option, path in paths.items() if path}
    targets = {option: Path(path).expanduser().resolve() for option, path in given.items()}
    if len(set(targets.values())) < len(targets):
        return f"{' and '.join(given)} name the same file ({next(iter(given.values()))}): give each its own"
    for option, target in targets.items():
        if problem := _output_path_problem(target):
            return f"{option}={given[option]}: {problem}"
    return None


def _output_path_problem(target: Path) -> str | None:
    if target.is_dir():
        return "is a folder; give the file to write, e.g. a name inside it"
    existing = next(folder for folder in target.parents if folder.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot make the folder {target.parent}: {error.strerror or error}"
    if not os.access(target if target.exists() else target.parent, os.W_OK):
        return "not writable by this user"
    return None


def _write(path: str, text: str) -> None:
    Path(path).expanduser().write_text(text, encoding="utf-8")


class VerdictCollector:
    """Registered on the controlling process only (the single process of a serial run)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.written: list[tuple[str, str]] = []
        self.unwritten: list[str] = []  # why a report could not be written at the end (a full disk)
        self.cucumber_filled = 0
        self.cucumber_fill_failed = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report) -> None:
        data = getattr(report, RECORD_ATTRIBUTE, None)
        if data is not None:
            self.config.stash[RECORDS_KEY].append(ScenarioRecord.from_dict(data))
        if getattr(report, BDD_CONTEXT_ATTRIBUTE, None) is not None:
            self._register_bdd_context(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        config = self.config
        result = run_result(config)
        facts = run_facts(config)
        redact = config.stash[REGISTRY_KEY].redact
        if path := config.getoption("spec_report", None):
            from conformance.report_html import render_html

            self._write("HTML spec report", path, lambda: render_html(result, facts, redact))
        if path := config.getoption("spec_summary", None):
            from conformance.report_markdown import render_markdown

            self._write("Markdown summary", path, lambda: render_markdown(result, facts, redact))
        if result.records or result.waivers:
            session.exitstatus = outcomes.exit_status(result, exitstatus, session.testsfailed)
        if self.unwritten and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR  # the run did not deliver what was asked of it
        self.unwritten = [f"{line} (exit {int(session.exitstatus)})" for line in self.unwritten]

    def _write(self, what: str, path: str, render) -> None:
        """The paths were checked before the run; what can still fail here (a full disk) is said in one line."""
        try:
            _write(path, render())
        except OSError as error:
            self.unwritten.append(f"ERROR: could not write the {what} to {path}: {error.strerror or error}")
        else:
            self.written.append((what, path))

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        from conformance.report_text import summary_lines

        result = run_result(config)
        redact = config.stash[REGISTRY_KEY].redact
        if result.records or result.waivers:
            terminalreporter.section("conformance verdict")
            interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
            server = server_under_test(config.stash[SETTINGS_KEY], config.stash.get(EMBEDDED_URLS_KEY, []))
            for line, markup in summary_lines(result, config.stash[SETTINGS_KEY].fail_on_should, interrupted, server):
                terminalreporter.write_line(redact(line), **markup)
        for line in safety_lines(run_facts(config)):
            terminalreporter.write_line(line, yellow=True, bold=True)
        for what, path in self.written:
            terminalreporter.write_line(f"{what} written to {path}")
        for line in self.unwritten:
            terminalreporter.write_line(line, red=True, bold=True)
        if warning := self._cucumber_gap():
            terminalreporter.write_line(warning, yellow=True, bold=True)

    # pytest-bdd's --cucumberjson under pytest-xdist: pytest-bdd looks for each scenario in a registry
    # local to the process that ran it, so on the controller it finds none and writes "[]".

    def _register_bdd_context(self, report) -> None:
        data = getattr(report, BDD_CONTEXT_ATTRIBUTE)
        try:
            from pytest_bdd.reporting import ReportContext, test_report_context_registry

            test_report_context_registry[report] = ReportContext(scenario=data["scenario"], name=data["name"])
            self.cucumber_filled += 1
        except Exception:  # pytest-bdd changed its internals: say so rather than write an empty file silently
            self.cucumber_fill_failed = True

    def _cucumber_gap(self) -> str | None:
        config = self.config
        if not config.getoption("cucumber_json_path", None) or not _worker_count(config):
            return None
        if self.cucumber_fill_failed or (self.cucumber_filled == 0 and run_result(config).records):
            return ("WARNING: --cucumberjson with pytest-xdist (-n): pytest-bdd writes no scenarios from worker "
                    "processes and this suite could not fill them in, so the Cucumber JSON file has no scenarios. "
                    "Run without -n for Cucumber JSON, or use --junitxml or --spec-report.")
        return None


def safety_lines(facts: dict) -> list[str]:
    """What the verdict adds about the run itself: what the cleanup left, --insecure."""
    lines = []
    if left := facts.get("cleanup_left"):
        lines.append(f"CLEANUP WARNING: {len(left)} resource(s) the run created may be left on the server: "
                     + ", ".join(left))
        lines.append(f"  delete them with: {facts['cleanup_command']}  (without --delete it only lists them)")
    if facts.get("insecure"):
        lines.append("WARNING: --insecure: the server's TLS certificate was not verified")
    return lines


def _capture_bdd_context(item, report) -> None:
    """On an xdist worker, keep pytest-bdd's scenario report on the call report so the controller can
    write it to --cucumberjson."""
    if not _is_worker(item.config) or not item.config.getoption("cucumber_json_path", None):
        return
    try:
        from pytest_bdd.reporting import test_report_context_registry
    except ImportError:  # pragma: no cover
        return
    context = test_report_context_registry.get(report)
    if context is not None:
        setattr(report, BDD_CONTEXT_ATTRIBUTE, {"scenario": context.scenario, "name": context.name})
