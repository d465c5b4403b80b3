"""The verdict matrix (DESIGN.md §7): the whole suite, over real HTTP, against the clean reference server
and against each of its fault modes. The clean server must pass every scenario; each fault must make the
scenarios that guard against it fail. Runs with --fail-on-should, so faults that break only a SHOULD are
caught too; the table shows at which level each fault was caught."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from refserver.faults import FAULTS
from tests.suite_runner import reference_server, run_suite

pytestmark = pytest.mark.verdict_matrix  # `pytest tests -m "not verdict_matrix"` leaves out the slow matrix

PARALLEL_RUNS = 4  # each run is two processes mostly waiting on each other; 4 keeps 2 cores busy

WRONG_SECRET = "a_secret_that_is_variant_is_refused"
REFUSALS = "refused"  # every scenario whose title says a request is refused
FAILED_CLIENT_AUTH = "a_token_request_variant_is_refused_as_failed_client_authentication"
NO_BASIC = "without_basic_credentials_a_token_request_variant_is_refused_as_failed_client_authentication"
READ_BY_ID = "reading_an_observation_by_its_id_how_is_refused"
POST_SEARCH = "searching_with_post_how_is_refused"
LONG_SECRET = "long_secret_with_only_its_last_character_changed"
TOKEN_SERVES_SEARCH = "own_secret_gets_a_token_that_serves_the_documented_search"

# fault -> substrings of the scenario tests that guard against it (each must fail)
GUARDS = {
    "accept-any-secret": [f"{WRONG_SECRET}[wrong but of the same length]", "another_registered_clients_secret"],
    "accept-secret-prefix": [f"{WRONG_SECRET}[the right one missing its last character]"],
    "ignore-secret-suffix": [f"{WRONG_SECRET}[the right one with a character added]"],
    "secret-case-insensitive": [f"{WRONG_SECRET}[the right one in another letter case]"],
    "accept-empty-secret": [f"{WRONG_SECRET}[empty]"],
    "secret-whitespace-trimmed": [f"{WRONG_SECRET}[the right one with a space added]"],
    "secret-ends-at-nul": [f"{WRONG_SECRET}[the right one followed by a NUL character and more]"],
    "secret-last-char-ignored": [f"{WRONG_SECRET}[the right one with its last character changed]", LONG_SECRET],
    "secret-truncated-at-72-bytes": [LONG_SECRET],
    "accept-stored-hash": ["stored_form_of_the_secret"],
    "basic-secret-url-decoded": ["secret_that_url_decoding_would_change"],
    "read-unauthenticated": [f"{READ_BY_ID}[without credentials]", f"{READ_BY_ID}[with a wrong secret]"],
    "post-search-unauthenticated": [f"{POST_SEARCH}[without credentials]", f"{POST_SEARCH}[with a wrong secret]"],
    "refusal-names-matching-subjects": [f"{WRONG_SECRET}[wrong but of the same length]", "with no Authorization header"],
    "accept-any-clients-secret": ["another_registered_clients_secret"],
    "scheme-spelling-skips-secret": ["wrong_secret_under_the_scheme_written_spelling_is_refused[basic]",
                                     "wrong_secret_under_the_scheme_written_spelling_is_refused[BASIC]"],
    "admin-secret-opens-any-client": ["client_id_with_the_administrators_secret_is_refused"],
    "ignore-grant-types": ["registered_without_the_basic_grant", "basic_grant_was_removed"],
    "ignore-access-policy": ["no_policy_allows_is_refused_as_forbidden", "policy_was_deleted"],
    "no-www-authenticate": [f"{WRONG_SECRET}[empty]", "with no Authorization header", "unknown_client_id_is_refused"],
    "challenge-without-realm": [f"{WRONG_SECRET}[empty]", "with no Authorization header"],
    "unauthenticated-redirects-to-login": [f"{WRONG_SECRET}[wrong but of the same length]", "with no Authorization header"],
    "crash-on-malformed-header": ["as Basic with nothing after it", "token_that_is_not_base64", "under the Bearer"],
    "scheme-case-sensitive": ["scheme_written_spelling_are_accepted[basic]", "scheme_written_spelling_are_accepted[BASIC]"],
    "split-at-every-colon": ["secret_containing_colons_is_accepted"],
    "latin1-credentials": ["nonascii_characters_sent_as_utf8_is_accepted"],
    "stale-secret-after-rotation": ["old_secret_is_refused_at_once"],
    "deleted-client-accepted": ["deleted_client_is_refused_at_once"],
    "unauthenticated-as-403": [f"{WRONG_SECRET}[wrong but of the same length]", "with no Authorization header"],
    "forbidden-as-401": ["no_policy_allows_is_refused_as_forbidden", "policy_was_deleted"],
    "echo-authorization-in-header": [f"{WRONG_SECRET}[wrong but of the same length]", "unknown_client_id_is_refused"],
    "echo-secret-in-error": [f"{WRONG_SECRET}[wrong but of the same length]", "unknown_client_id_is_refused"],
    "echo-secret-prefix-in-error": [f"{WRONG_SECRET}[wrong but of the same length]", f"{WRONG_SECRET}[the right one with a character added]",
                                    f"{WRONG_SECRET}[the right one missing its last character]", "unknown_client_id_is_refused",
                                    "client_id_with_the_administrators_secret_is_refused"],
    "reveal-unknown-client": ["unknown_client_id_and_a_wrong_secret_are_refused_alike"],
    "lenient-base64": ["token_that_is_not_base64"],
    "accept-quoted-header": ["wrapped in double quotes"],
    "ignore-trailing-text": ["followed by extra text"],
    "any-scheme-accepted": ["under the Bearer scheme", "under the Digest scheme"],
    "anonymous-access": ["with no Authorization header"],
    "resources-in-refusal": ["no_policy_allows_is_refused_as_forbidden"],
    "refusal-not-operation-outcome": [f"{WRONG_SECRET}[empty]", "no_policy_allows_is_refused_as_forbidden"],
    "plain-secret-returned": ["keeps_that_secret_to_itself"],
    "ignore-count": ["documented_search", "following_next_links"],
    "ignore-code-filter": ["following_next_links"],
    "ignore-patient-filter": ["following_next_links"],
    "wrong-bundle-type": ["documented_search"],
    "missing-search-mode": ["documented_search"],
    "missing-full-url": ["documented_search"],
    "relative-full-url": ["documented_search"],
    "next-link-drops-params": ["following_next_links"],
    "missing-next-link": ["following_next_links"],
    "wrong-content-type": ["documented_search"],
    # SMART discovery and the token endpoint (features/smart/)
    "token-endpoint-accepts-any-secret": [f"{FAILED_CLIENT_AUTH}[with a wrong secret]"],
    "token-invalid-client-as-400": [f"{FAILED_CLIENT_AUTH}[with a wrong secret]", f"{FAILED_CLIENT_AUTH}[under an unknown client id]",
                                    f"{NO_BASIC}[carrying no credentials at all]"],
    "token-missing-no-store": [TOKEN_SERVES_SEARCH],
    "token-failed-client-redirects": [f"{FAILED_CLIENT_AUTH}[with a wrong secret]", f"{NO_BASIC}[carrying no credentials at all]"],
    "token-no-www-authenticate": [f"{FAILED_CLIENT_AUTH}[with a wrong secret]", f"{NO_BASIC}[carrying no credentials at all]"],
    "token-accepts-empty-secret": [f"{FAILED_CLIENT_AUTH}[with an empty secret]"],
    "token-secret-case-insensitive": [f"{FAILED_CLIENT_AUTH}[with its secret in another letter case]"],
    "token-accepts-secret-prefix": [f"{FAILED_CLIENT_AUTH}[with its secret missing its last character]"],
    "token-secret-last-char-ignored": [f"{FAILED_CLIENT_AUTH}[with its secret's last character changed]"],
    "token-post-client-id-only": [f"{NO_BASIC}[with its client id alone in the body]"],
    "token-post-skips-secret": [f"{NO_BASIC}[with a wrong secret in the body]"],
    "bearer-token-prefix-match": ["token_with_one_character_changed_is_refused"],
    "token-unverified-signature": ["token_with_one_character_changed_is_refused"],
    "token-ignores-grant-types": ["registered_without_the_client_credentials_grant"],
    "token-survives-client-deletion": ["token_stops_working_once_its_client_is_deleted"],
    "token-raw-secret-in-basic": ["reserved_characters_formurlencoded_gets_a_token"],
    "token-accepts-header-and-body": ["secret_in_both_the_header_and_the_body"],
    "token-any-grant-type": ["grant_type_the_server_does_not_offer"],
    "token-without-expires-in": [TOKEN_SERVES_SEARCH],
    "token-issues-refresh-token": [TOKEN_SERVES_SEARCH],
    "fhir-refuses-bearer": [TOKEN_SERVES_SEARCH],
    "discovery-omits-client-secret-basic": ["token_endpoint_accepts_is_advertised"],
    "discovery-requires-credentials": ["served_without_credentials_and_names_the_token_endpoint"],
}

LEVEL_AND_ID = re.compile(r"\[(MUST|SHOULD)\] ([A-Z0-9][A-Za-z0-9.\-]+)")


def _run(fault: str | None, workdir):
    faults = (fault,) if fault else ()
    with reference_server(*faults) as (url, admin_secret):
        return run_suite(url, admin_secret, workdir, "--fail-on-should")


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, request):
    """Every run, keyed by fault (None: the clean server); prints the matrix once."""
    names = [None, *FAULTS]
    workdirs = [tmp_path_factory.mktemp(f or "clean") for f in names]  # here: mktemp is not thread-safe
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        runs = dict(zip(names, pool.map(_run, names, workdirs)))
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\n" + matrix_table(runs))
    return runs


def broken_requirements(run) -> list[str]:
    return sorted({f"{level} {rid}" for level, rid in LEVEL_AND_ID.findall(run.output)})


def matrix_table(runs) -> str:
    lines = ["fault mode | scenarios failed (SHOULD too: the runs use --fail-on-should) | requirements broken (level as registered)",
             "--- | --- | ---"]
    for fault, run in runs.items():
        failed = run.with_outcome("failed")
        shown = ", ".join(name.split("::")[-1].removeprefix("test_") for name in failed) or "-"
        lines.append(f"{fault or '(clean server)'} | {len(failed)}: {shown} | {', '.join(broken_requirements(run)) or '-'}")
    return "\n".join(lines)


def test_every_fault_mode_has_guards():
    assert set(GUARDS) == set(FAULTS), (f"faults without guards: {sorted(set(FAULTS) - set(GUARDS))}; "
                                        f"guards of unknown faults: {sorted(set(GUARDS) - set(FAULTS))}")


def test_clean_server_passes_every_scenario(matrix):
    clean = matrix[None]
    assert clean.returncode == 0, f"clean server run failed:\n{clean.output[-4000:]}"
    not_passed = {name: outcome for name, outcome in clean.outcomes.items() if outcome != "passed"}
    assert clean.outcomes and not not_passed, f"clean server: not passed: {not_passed}"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_caught_by_its_guards(matrix, fault):
    run = matrix[fault]
    failed = run.with_outcome("failed")
    missed = [guard for guard in GUARDS[fault] if not any(guard in name for name in failed)]
    assert run.returncode == 1, f"{fault}: exit code {run.returncode}, expected 1 (tests failed)\n{run.output[-3000:]}"
    assert not missed, f"{fault}: guards that did not fail: {missed}; failed: {failed}"
    errors = run.with_outcome("error")
    assert "INTERNALERROR" not in run.output and not errors, f"{fault}: the suite itself broke: {errors}\n{run.output[-3000:]}"
