"""The HTML report, the Markdown summary and the terminal verdict, rendered from made-up records: order,
grouping, escaping, self-containment, and redaction of whatever the run put in them."""

from __future__ import annotations

import re

import pytest

from conformance.outcomes import RunResult, ScenarioRecord, Step, Waiver, judge
from conformance.redaction import SecretRegistry
from conformance.register import load_register
from conformance.report_html import render_html
from conformance.report_markdown import render_markdown
from conformance.report_text import summary_lines

SECRET = "s3cretValueNobodyMaySee42xyz"
MUST_ID, SHOULD_ID, SKIPPED_ID = "RFC7617-2-VALIDATE", "RFC9110-11.4-401", "RFC9110-11.1-SCHEME"
FACTS = {"server": "https://fhir.example.org", "fhir_base": "/fhir", "fhir_version": "R4", "provisioning": "aidbox",
         "fail_on_should": False, "waivers_file": "", "started": "2030-01-01 00:00:00 UTC", "duration": 7.25,
         "workers": 0}


def message(rid: str, level: str, actual: str) -> str:
    return f"[{level}] {rid} (src): text\n  expected: a refusal (4xx)\n  actual:   {actual}\n  see: url"


def records() -> list[ScenarioRecord]:
    steps = [Step("Given", "a client whose own credentials are accepted", "passed", background=True),
             Step("When", "the client authenticates with a wrong secret", "passed"),
             Step("Then", "the client is refused as unauthenticated", "failed")]
    failing = ScenarioRecord(
        nodeid="steps/test_credentials.py::test_wrong", title="A wrong secret is refused", order=0,
        feature="Wrong credentials are refused", feature_description="RFC 7617 §2.", feature_file="credentials/w.feature",
        rule="Only the exact registered secret is accepted", steps=steps, requirement_ids=[MUST_ID, SHOULD_ID],
        phase_outcomes={"setup": "passed", "call": "failed", "teardown": "passed"}, failed_ids=[MUST_ID],
        failure_message=message(MUST_ID, "MUST", f"status 200 | echoed {SECRET} <script>alert(1)</script>"),
        warnings=[message(SHOULD_ID, "SHOULD", "status 403")],
        exchanges=[{"actor": "client", "method": "GET", "url": "https://fhir.example.org/fhir/Observation",
                    "request_headers": [["authorization", f"Basic {SECRET}"]], "request_body": "",
                    "status": 200, "reason": "OK", "response_headers": [["content-type", "application/fhir+json"]],
                    "response_body": f'{{"diagnostics": "root:{SECRET}", "x": "<img src=x>"}}', "error": ""}])
    skipped = ScenarioRecord(
        nodeid="steps/test_credentials.py::test_scheme", title="The scheme is case-insensitive", order=1,
        feature="Credentials encoded as RFC 7617 allows are accepted", feature_file="credentials/e.feature",
        steps=[Step("Given", "a client", "skipped"), Step("Then", "the client is served", "not run")],
        requirement_ids=[SKIPPED_ID], phase_outcomes={"setup": "passed", "call": "skipped", "teardown": "passed"},
        skip_reason="control failed: a wrong secret was not refused (200)")
    passing = ScenarioRecord(
        nodeid="steps/test_seed.py::test_search", title="The documented search answers a searchset", order=2,
        feature="Searching the FHIR API", feature_file="seed/s.feature", requirement_ids=["SEED-SEARCH-BASIC"],
        phase_outcomes={"setup": "passed", "call": "passed", "teardown": "passed"}, held_ids=["SEED-SEARCH-BASIC"])
    return [judge(r, {}) for r in (failing, skipped, passing)]


@pytest.fixture
def redact():
    registry = SecretRegistry()
    registry.add(SECRET)
    return registry.redact


@pytest.fixture
def result():
    return RunResult(records(), {})


def test_html_is_one_self_contained_page(result, redact):
    page = render_html(result, FACTS, redact)
    assert page.startswith("<!DOCTYPE html>")
    tags = {tag.lower() for tag in re.findall(r"<([a-zA-Z]+)[\s>]", page)}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "frame", "video", "audio"}, tags
    assert not re.search(r"<[^>]*\s(src|srcset)=", page)
    assert page.count("<style>") == 1 and "@import" not in page and "url(" not in page
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert all(h.startswith("#") or h in {r.url for r in load_register().values()} for h in hrefs), hrefs


def test_html_has_no_secret_and_escapes_what_the_server_sent(result, redact):
    page = render_html(result, FACTS, redact)
    assert SECRET not in page
    assert "[REDACTED]" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x>" not in page


def test_html_puts_the_verdict_and_failures_first_then_every_scenario_by_feature_rule_and_step(result, redact):
    page = render_html(result, FACTS, redact)
    order = [page.index(marker) for marker in (
        "Failed: 1 requirement broke in 1 scenario", 'id="failures"', 'id="warnings"', 'id="skipped"',
        'id="scenarios"', "Feature: Wrong credentials are refused", "Rule: Only the exact registered secret",
        'class="title">A wrong secret is refused', 'id="requirements"')]
    assert order == sorted(order)
    for fact in ("https://fhir.example.org", "R4", "2030-01-01 00:00:00 UTC", "7.2 s"):
        assert fact in page
    assert '<li class="failed"' in page and '<li class="notrun"' in page and '<li class="skipped"' in page
    assert load_register()[MUST_ID].url in page
    assert "a refusal (4xx)" in page and "status 200" in page  # expected and actual
    assert "control failed: a wrong secret was not refused (200)" in page


def test_markdown_summary_is_short_escaped_and_redacted(result, redact):
    summary = render_markdown(result, FACTS, redact)
    assert summary.startswith("## ❌ ")
    assert SECRET not in summary
    assert "status 200 \\| echoed [REDACTED]" not in summary  # [ and ] are escaped for Markdown
    assert "status 200 \\| echoed \\[REDACTED\\]" in summary
    assert "<script>" not in summary
    for table_row in [line for line in summary.splitlines() if line.startswith("| [")]:
        assert table_row.count(" | ") + 2 == table_row.count("|") - table_row.count("\\|")
    assert summary.index("### Failures (MUST)") < summary.index("### Warnings (SHOULD)") < summary.index("Skipped")


def test_terminal_verdict_lists_failures_then_warnings_then_waivers_then_skips():
    waivers = {"SEED-SEARCH-BASIC": Waiver("SEED-SEARCH-BASIC", "was broken"),
               "NO-DATA-IN-REFUSAL": Waiver("NO-DATA-IN-REFUSAL", "known")}
    scenarios = records()
    waived = ScenarioRecord(nodeid="t::w", title="Waived one", requirement_ids=["NO-DATA-IN-REFUSAL"],
                            phase_outcomes={"setup": "passed", "call": "failed", "teardown": "passed"},
                            failed_ids=["NO-DATA-IN-REFUSAL"], failure_message=message("NO-DATA-IN-REFUSAL", "MUST", "x"))
    result = RunResult([judge(r, waivers) for r in scenarios + [waived]], waivers)
    text = "\n".join(line for line, _ in summary_lines(result))
    order = [text.index(marker) for marker in (f"FAIL  [MUST] {MUST_ID}", f"WARN  [SHOULD] {SHOULD_ID}",
                                               "STALE [MUST] SEED-SEARCH-BASIC", "WAIVED [MUST] NO-DATA-IN-REFUSAL",
                                               "SKIP  control failed")]
    assert order == sorted(order)
    assert "expected a refusal (4xx); got status 200" in text
    assert text.splitlines()[-1].startswith("1 fail · 0 warn · 1 waived · 1 skip · 1 pass")
    assert text.splitlines()[-1].endswith("(exit 1)")


def test_terminal_verdict_says_which_server_was_tested_just_before_the_tally():
    result = RunResult([judge(record, {}) for record in records()], {})
    lines = [line for line, _ in summary_lines(result, server="https://fhir.example.org (FHIR base /fhir)")]
    assert lines[-2] == "server under test: https://fhir.example.org (FHIR base /fhir)"
    assert not any(line.startswith("server under test") for line, _ in summary_lines(result))


def test_the_server_under_test_is_one_line_without_userinfo():
    from conformance.plugin import server_under_test
    from conformance.settings import Settings

    settings = Settings(server_url="https://user:password@fhir.example.org:8443/base", fhir_base="/api",
                        admin_client_id="root", admin_client_secret=None, provisioning="aidbox", client_id=None,
                        client_secret=None, fhir_version="R4", fail_on_should=False, http_timeout=10.0,
                        ca_bundle=None, insecure=False, proxy=None, keep_resources=False)
    assert server_under_test(settings) == "https://fhir.example.org:8443/base (FHIR base /api)"
    embedded = Settings(**{**vars(settings), "server_url": None, "fhir_base": "/fhir"})
    assert server_under_test(embedded) == "the embedded reference server, started by the suite"
    assert server_under_test(embedded, ["http://127.0.0.1:41000"]) == (
        "the embedded reference server, started by the suite (http://127.0.0.1:41000)")


def settings_with(**changed):
    from conformance.settings import Settings

    defaults = dict(server_url=None, fhir_base="/fhir", admin_client_id="root", admin_client_secret=None,
                    provisioning="aidbox", client_id=None, client_secret=None, fhir_version="R4", fail_on_should=False,
                    http_timeout=10.0, ca_bundle=None, insecure=False, proxy=None, keep_resources=False)
    return Settings(**{**defaults, **changed})


def test_run_it_alone_tests_the_same_server_as_the_run_without_a_secret_on_the_command_line(result, redact):
    """Copied as it is, the command must test what the run tested: not the embedded server."""
    from conformance.reporting import rerun_options, rerun_secrets_from

    settings = settings_with(server_url="https://fhir.example.org:8443/base", fhir_base="/api", provisioning="none",
                             fhir_version="R5", admin_client_secret=SECRET, client_id="my-client", client_secret=SECRET,
                             proxy="http://proxy-user:proxy-pass@proxy.corp:3128")
    options = rerun_options(settings)
    assert options == ["--server-url=https://fhir.example.org:8443/base", "--fhir-base=/api", "--provisioning=none",
                       "--fhir-version=R5", "--client-id=my-client", "--proxy=http://proxy.corp:3128"]
    secrets_from = rerun_secrets_from(settings)
    assert secrets_from == ["CONFORMANCE_ADMIN_CLIENT_SECRET", "CONFORMANCE_CLIENT_SECRET"]
    page = render_html(result, {**FACTS, "rerun_options": options, "rerun_secrets_from": secrets_from}, redact)
    assert ("Run it alone from the suite's folder (CONFORMANCE_ADMIN_CLIENT_SECRET and CONFORMANCE_CLIENT_SECRET set, "
            "as for this run): <code>python3 -m pytest steps/test_credentials.py::test_wrong "
            "--server-url=https://fhir.example.org:8443/base --fhir-base=/api --provisioning=none --fhir-version=R5 "
            "--client-id=my-client --proxy=http://proxy.corp:3128</code>") in page
    assert SECRET not in page and "proxy-pass" not in page

    assert rerun_options(settings_with()) == [] and rerun_secrets_from(settings_with()) == []
    assert rerun_options(settings_with(server_url="https://user:pw@h.test", admin_client_secret=SECRET)) == [
        "--server-url=https://h.test"]
    assert rerun_secrets_from(settings_with(server_url="https://h.test")) == ["CONFORMANCE_ADMIN_CLIENT_SECRET"]


def test_each_exchange_says_what_it_was_for_and_the_authorization_scheme_shows(redact):
    """Both requests of a negative scenario carry credentials and may get 200: the labels tell the positive
    control from the request under test; the scheme name shows, the credentials after it do not."""
    from conformance.exchange import POSITIVE_CONTROL, UNDER_TEST

    def exchange(role: str, actor: str = "client") -> dict:
        return {"actor": actor, "role": role, "method": "GET", "url": "https://fhir.example.org/fhir/Observation",
                "request_headers": [["authorization", redact(f"Basic {SECRET}")]], "request_body": "", "status": 200,
                "reason": "OK", "response_headers": [], "response_body": "", "error": ""}

    record = records()[0]
    record.exchanges = [exchange("", "administrator"), exchange(POSITIVE_CONTROL), exchange(UNDER_TEST)]
    page = render_html(RunResult([record], {}), FACTS, redact)
    labels = re.findall(r'→ <span class="status-ok">200 OK</span>(.*?)</summary>', page)
    assert labels == [' <span class="actor">by the administrator</span>',
                      ' <span class="actor">positive control</span>',
                      ' <span class="actor under-test">request under test</span>']
    assert "authorization: Basic [REDACTED]" in page and SECRET not in page


def test_a_verdict_labels_the_exchanges_it_judges_as_under_test():
    import httpx

    from conformance.checks import request_not_served
    from conformance.exchange import POSITIVE_CONTROL, UNDER_TEST, Exchange
    from conformance.verdicts import Verdict

    request = httpx.Request("GET", "https://fhir.example.org/fhir/Observation")
    control = Exchange("GET", str(request.url), {}, "", httpx.Response(200, request=request), role=POSITIVE_CONTROL)
    attempt = Exchange("GET", str(request.url), {}, "", httpx.Response(401, request=request))
    Verdict(SecretRegistry(), False).check((request_not_served, attempt))
    assert (control.role, attempt.role) == (POSITIVE_CONTROL, UNDER_TEST)


def test_the_repositorys_gherkin_is_shown_as_written_only_escaped(redact):
    """Feature, rule and scenario text come from features/, not from the run: the seed's own
    'Authorization: Basic base64(client-id:secret)' must read as written, not as '[REDACTED]'."""
    record = records()[0]
    record.feature_description = 'Step 3: with "Authorization: Basic base64(client-id:secret)" the client <searches>'
    record.rule_description = "authorization: Bearer token & more"
    record.steps[1].name = "the client sends Authorization: Basic with nothing after it"
    page = render_html(RunResult([record], {}), FACTS, redact)
    assert "Step 3: with &quot;Authorization: Basic base64(client-id:secret)&quot; the client &lt;searches&gt;" in page
    assert "authorization: Bearer token &amp; more" in page
    assert "the client sends Authorization: Basic with nothing after it" in page


def test_a_requirement_is_quoted_in_full_once_and_shortened_at_a_word_under_each_scenario(result, redact):
    from conformance.report_html import QUOTE_SHOWN, _shorten

    assert _shorten("The server will service the request only if it can validate", 40) == "The server will service the request…"
    assert _shorten("aaa bbb, ccc", 9) == "aaa bbb…" and _shorten("abcdefghijklmnop", 8) == "abcdefg…"
    assert _shorten("short", 9) == "short"
    text = load_register()[MUST_ID].text
    assert len(text) > QUOTE_SHOWN
    page = render_html(result, FACTS, redact)
    quoted, shown = html_escape(text), re.sub(r' title="[^"]*"', "", page)  # what shows without hovering
    assert shown.count(quoted) == 1 and shown.index(quoted) > shown.index('id="requirements"')  # in the table only
    assert f'<tr id="req-{MUST_ID}">' in page and f'<a href="#req-{MUST_ID}">full text</a>' in page
    short = html_escape(_shorten(text, QUOTE_SHOWN))
    assert short in page and text.startswith(_shorten(text, QUOTE_SHOWN)[:-1])


def html_escape(text: str) -> str:
    import html

    return html.escape(text)
