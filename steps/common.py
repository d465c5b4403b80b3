"""What every scenario stands on: the seed's client, its search, the positive control, and the
Then steps that judge a refusal or an acceptance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest
from pytest_bdd import given, then

from conformance import checks
from conformance.credentials import Credentials, fresh_secret, wrong_secret_same_length
from conformance.exchange import NEGATIVE_CONTROL, POSITIVE_CONTROL, Exchange
from conformance.provisioning import CONCURRENT_ADMIN_REQUESTS, policy_id_for

SEED_CODE_SYSTEM = "http://loinc.org"
SEED_CODE = "4548-4"
SEED_COUNT = 2
# Answers that refuse a request for its credentials (RFC 9110 §15.5.2, §15.5.4; 400 where a server takes bad
# credentials for a bad request). A 404 or a 5xx says nothing about them.
REFUSED_FOR_CREDENTIALS = (400, 401, 403)


@dataclass(frozen=True)
class Control:
    """A client whose own credentials were just accepted for the seed search, and what that search showed."""

    credentials: Credentials
    exchange: Exchange | None
    resource_ids: tuple[str, ...]


@dataclass
class Attempt:
    """One request the scenario judges, and the secrets it carried (none may come back)."""

    exchange: Exchange
    sent_secrets: list[str] = field(default_factory=list, repr=False)
    acceptance_check: Callable = checks.search_succeeded
    client_id: str = ""
    not_served: Callable = checks.request_not_served  # the requirement that serving this request breaks


@pytest.fixture
def seed_search_path(settings) -> str:
    return f"{settings.fhir_base}/Observation?code={SEED_CODE}&_count={SEED_COUNT}"


@pytest.fixture
def search_with(agent, seed_search_path):
    """Send the seed's search with a given Authorization value (None: no header at all)."""
    def search(authorization: str | None) -> Exchange:
        headers = {"content-type": "application/json"}
        if authorization is not None:
            headers["authorization"] = authorization
        return agent.send("GET", seed_search_path, headers=headers)
    return search


@pytest.fixture
def attempt_as(search_with, secret_registry):
    """Send the seed search as some credentials; the secrets are registered for redaction first."""
    def attempt(credentials: Credentials, *also_secret: str, check: Callable = checks.search_succeeded) -> Attempt:
        secret_registry.add_credentials(credentials.client_id, credentials.secret)
        return Attempt(search_with(credentials.header()), [credentials.secret, *also_secret], check,
                       credentials.client_id)
    return attempt


def found_resources(exchange: Exchange) -> list[tuple[str, str]]:
    """(resourceType, id) of every resource a search answer carried, in order."""
    body = exchange.json()
    entries = body.get("entry") if isinstance(body, dict) and isinstance(body.get("entry"), list) else []
    resources = [entry.get("resource") for entry in entries if isinstance(entry, dict)]
    return [(resource.get("resourceType"), resource["id"]) for resource in resources
            if isinstance(resource, dict) and isinstance(resource.get("id"), str) and resource["id"]]


def resource_ids_in(exchange: Exchange) -> tuple[str, ...]:
    """Ids of the resources a search answer carried, long enough to look for in another body."""
    return tuple(resource_id for _, resource_id in found_resources(exchange) if len(resource_id) >= 8)


def positive_control(search_with, credentials: Credentials, known_ids: tuple[str, ...] = (),
                     whose: str = "the client's") -> Control:
    """The same search with the right credentials must succeed first; otherwise a refusal proves nothing.
    `known_ids`: ids of the suite's own data, which no refusal may mention either."""
    exchange = search_with(credentials.header())
    exchange.role = POSITIVE_CONTROL
    if exchange.status == 429:  # RFC 6585: throttled, not judged; a lockout after wrong secrets is good practice
        retry = exchange.response.headers.get("retry-after", "not given")
        pytest.skip(f"control failed: the server throttled the client (429, Retry-After: {retry}), perhaps locked "
                    "out after earlier wrong secrets, so no refusal would prove anything now")
    if exchange.status != 200:
        pytest.skip(f"control failed: {whose} own credentials were not accepted "
                    f"({exchange.status or exchange.error}), so no refusal would prove anything")
    if not isinstance(exchange.json(), dict):  # an HTML page for every path: a wrong --fhir-base, say
        pytest.skip(f"control failed: {whose} own credentials got 200 but with "
                    f"{exchange.response.headers.get('content-type', 'no content type')}, not a FHIR answer, so a "
                    "refusal would not be told from any other answer (is --fhir-base right?)")
    return Control(credentials, exchange, tuple(dict.fromkeys((*resource_ids_in(exchange), *known_ids))))


# --- the seed's client ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def seed_client(settings, request, secret_registry) -> Credentials:
    """The client of seed Steps 1-2: registered by the suite, or the user's pre-registered one."""
    if not settings.provisions:
        credentials = Credentials(settings.client_id, settings.client_secret)
        secret_registry.add_credentials(credentials.client_id, credentials.secret)
        return credentials
    provisioner = request.getfixturevalue("provisioner")
    credentials = register_allowed_client(provisioner, secret_registry, "client")
    request.getfixturevalue("seed_data")  # so searches find the suite's own data
    return credentials


class ClientPool:
    """Clients registered and allowed ahead, a few at once, so that each negative scenario has a client of its
    own (a server that locks a client out after a few wrong secrets must not see one client take them all)
    without paying two round trips for it: against a remote server, a batch costs what one client did. The
    clients left unused at the end are deleted with the rest."""

    BATCH = CONCURRENT_ADMIN_REQUESTS

    def __init__(self, provisioner, secret_registry):
        self.provisioner, self.secret_registry = provisioner, secret_registry
        self.ready: list[Credentials] = []
        self.refusal: Exchange | None = None  # why the last batch gave no client

    def take(self) -> Credentials:
        if not self.ready:
            self._register_batch()
        if not self.ready:
            exchange = self.refusal
            pytest.skip(f"prerequisite failed: {exchange.method} {exchange.url} answered "
                        f"{exchange.status or exchange.error}")
        return self.ready.pop(0)

    def _register_batch(self) -> None:
        batch = [Credentials(self.provisioner.resource_id(f"neg-{fresh_secret(6).lower()}"), fresh_secret())
                 for _ in range(self.BATCH)]
        for credentials in batch:
            self.secret_registry.add_credentials(credentials.client_id, credentials.secret)
        refusals = self.provisioner.register_allowed_clients(batch)
        self.ready = [credentials for credentials, refusal in zip(batch, refusals) if refusal is None]
        self.refusal = next((refusal for refusal in refusals if refusal is not None), None)


@pytest.fixture(scope="session")
def client_pool(provisioner, secret_registry) -> ClientPool:
    return ClientPool(provisioner, secret_registry)


def register_allowed_client(provisioner, secret_registry, purpose: str, secret: str | None = None) -> Credentials:
    """Seed Steps 1 and 2 for a new client; a failure here is a failed prerequisite, so the scenario skips."""
    credentials = Credentials(provisioner.resource_id(purpose), secret or fresh_secret())
    secret_registry.add_credentials(credentials.client_id, credentials.secret)
    for exchange in (provisioner.register_client(credentials.client_id, credentials.secret),
                     provisioner.allow_policy(policy_id_for(credentials.client_id), credentials.client_id)):
        if exchange.status is None or exchange.status >= 300:
            pytest.skip(f"prerequisite failed: {exchange.method} {exchange.url} answered "
                        f"{exchange.status or exchange.error}")
    return credentials


@given("a client registered for Basic authentication and allowed by a policy", target_fixture="client")
def _(seed_client) -> Credentials:
    return seed_client


@given("a client whose own credentials are accepted", target_fixture="control")
def _(settings, request, search_with) -> Control:
    """Where the suite provisions, a client of the scenario's own: a server that locks a client out after a few
    wrong secrets (good practice) must not see one client take every wrong secret of the run. Otherwise the
    user's pre-registered client."""
    if not settings.provisions:
        return positive_control(search_with, request.getfixturevalue("seed_client"))
    seed_data = request.getfixturevalue("seed_data")
    return positive_control(search_with, request.getfixturevalue("client_pool").take(), seed_data.ids())


@given("a wrong secret for that client is refused", target_fixture="refusal_seen")
def _(control, search_with, secret_registry) -> Exchange:
    """The negative control of an acceptance scenario: if a wrong secret is served too, acceptance proves nothing."""
    wrong = Credentials(control.credentials.client_id, wrong_secret_same_length(control.credentials.secret))
    secret_registry.add_credentials(wrong.client_id, wrong.secret)
    exchange = search_with(wrong.header())
    exchange.role = NEGATIVE_CONTROL
    if exchange.status is None or 200 <= exchange.status < 300:
        pytest.skip(f"control failed: a wrong secret was not refused ({exchange.status or exchange.error}), "
                    "so accepting the right one proves nothing")
    if exchange.status not in REFUSED_FOR_CREDENTIALS:
        pytest.skip(f"control failed: a wrong secret answered {exchange.status}, which is no refusal of the credentials "
                    f"({', '.join(map(str, REFUSED_FOR_CREDENTIALS))}), so the right one's answer would prove nothing"
                    + (" (is --fhir-base right?)" if exchange.status == 404 else ""))
    return exchange


# --- judging what came back ----------------------------------------------------------------------

@then("the client is refused as unauthenticated")
def _(attempt: Attempt, control: Control, verdict) -> None:
    verdict.check(*checks.refusal_checks(attempt.exchange, sent_secrets=attempt.sent_secrets,
                                         resource_ids=control.resource_ids, not_served=attempt.not_served))


@then("the client is refused as forbidden")
def _(attempt: Attempt, control: Control, verdict, pattern_policies) -> None:
    exchange = attempt.exchange
    if exchange.status is not None and 200 <= exchange.status < 300 and pattern_policies:
        verdict.skip_not_applicable(f"the request was served, and the server has policies that allow by a pattern "
                                    f"({', '.join(pattern_policies[:3])}{', ...' if len(pattern_policies) > 3 else ''}"
                                    "), one of which may allow it; the suite cannot tell a policy it did not "
                                    "write from a server ignoring policies")
    verdict.check(
        (checks.no_data_without_policy, exchange, control.resource_ids),
        (checks.search_failed_with_client_error, exchange),
        (checks.no_server_error, exchange),
        (checks.refused_as_forbidden, exchange),
        (checks.forbidden_hidden_as_not_found, exchange),
        (checks.refusal_is_operation_outcome, exchange),
        (checks.secret_not_echoed, exchange, attempt.sent_secrets),
        (checks.refusal_carries_no_data, exchange, control.resource_ids),
    )


@then("the client is served")
def _(attempt: Attempt, verdict) -> None:
    verdict.check((attempt.acceptance_check, attempt.exchange))
