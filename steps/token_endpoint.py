"""Steps of SMART discovery and the token endpoint (features/smart/): asking for tokens with a client secret,
right and wrong, and using them as Bearer tokens on the FHIR API."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pytest_bdd import given, parsers, then, when

from conformance import token_checks
from conformance.credentials import (Credentials, fresh_secret, secret_last_char_changed, secret_missing_last_char,
                                     secret_other_case, wrong_secret_same_length)
from conformance.exchange import NEGATIVE_CONTROL, POSITIVE_CONTROL, Exchange, origin
from conformance.oauth import (UNOFFERED_GRANT, WELL_KNOWN, TokenEndpoint, changed_in_one_character, endpoint_url,
                               not_advertised, post_not_advertised, reserved_secret, token_basic_header,
                               token_basic_token, token_request_body)
from steps.common import policy_id_for


@dataclass(frozen=True)
class TokenClient:
    """A client registered for the client_credentials grant, and the token its own secret got (the control)."""

    credentials: Credentials
    token: str | None = field(default=None, repr=False)


@dataclass
class TokenRequest:
    """One token request the scenario judges, and what it carried."""

    exchange: Exchange
    header_used: bool
    sent_secrets: list[str] = field(default_factory=list, repr=False)


# --- the SMART configuration -----------------------------------------------------------------------

def _configuration(agent, fhir_base_url) -> tuple[Exchange, dict | None]:
    """GET {FHIR base}/.well-known/smart-configuration without credentials (SMART App Launch)."""
    exchange = agent.send("GET", fhir_base_url + WELL_KNOWN)
    body = exchange.json() if exchange.status == 200 else None
    return exchange, body if isinstance(body, dict) else None


def _endpoint(exchange: Exchange, configuration: dict, fhir_base_url: str, server_url: str) -> TokenEndpoint:
    """The token endpoint the configuration names. The suite sends the client's secret there only if it is
    on the server under test or reached over TLS: a plain-HTTP endpoint elsewhere would expose it."""
    url = endpoint_url(configuration, fhir_base_url)
    if url is None:
        pytest.skip("prerequisite failed: the SMART configuration names no token endpoint")
    if origin(url) != origin(server_url) and not url.lower().startswith("https://"):
        pytest.skip(f"not applicable: the token endpoint {url} is neither on the server under test nor https; "
                    "the suite sends no secret there")
    return TokenEndpoint(url, configuration, exchange)


@when("anyone asks for the server's SMART configuration", target_fixture="configuration_answer")
def _(agent, fhir_base_url) -> Exchange:
    return _configuration(agent, fhir_base_url)[0]


@then("the configuration is served as JSON")
def _(configuration_answer, verdict) -> None:
    if configuration_answer.status == 404:  # a server that offers no SMART at all; anything else is judged
        verdict.skip_not_applicable(f"the server has no SMART configuration ({configuration_answer.url}: 404), so "
                                    "it does not offer SMART App Launch")
    verdict.check((token_checks.configuration_served, configuration_answer))


@then("it names a token endpoint, the grant types and the capabilities")
def _(configuration_answer, verdict) -> None:
    verdict.check((token_checks.configuration_fields, configuration_answer))


@given("the server's SMART configuration names a token endpoint", target_fixture="token_endpoint")
def _(agent, fhir_base_url, server_url) -> TokenEndpoint:
    exchange, configuration = _configuration(agent, fhir_base_url)
    if configuration is None:
        pytest.skip(f"prerequisite failed: no SMART configuration at {fhir_base_url}{WELL_KNOWN} "
                    f"({exchange.status or exchange.error})")
    return _endpoint(exchange, configuration, fhir_base_url, server_url)


@given("the server advertises client-secret authentication at its token endpoint", target_fixture="token_endpoint")
def _(agent, fhir_base_url, server_url) -> TokenEndpoint:
    """Where discovery does not advertise what these scenarios use, they do not apply: skipped, with why."""
    exchange, configuration = _configuration(agent, fhir_base_url)
    if configuration is None:
        pytest.skip(f"not applicable: the server serves no SMART configuration at {fhir_base_url}{WELL_KNOWN} "
                    f"({exchange.status or exchange.error}), so it advertises no token endpoint")
    if reason := not_advertised(configuration):
        pytest.skip(f"not applicable: {reason}")
    return _endpoint(exchange, configuration, fhir_base_url, server_url)


@given("the server advertises client secrets in the request body as well")
def _(token_endpoint) -> None:
    if reason := post_not_advertised(token_endpoint.configuration):
        pytest.skip(f"not applicable: {reason}")


@then("the configuration advertises the client-secret authentication the token endpoint accepted")
def _(token_request, token_endpoint, verdict) -> None:
    if reason := token_checks.scope_required(token_request.exchange):
        verdict.skip_not_applicable(reason)
    if token_checks.issued_token(token_request.exchange) is None:
        verdict.skip_not_applicable(f"the token endpoint gave no token for the client's secret in HTTP Basic "
                                    f"({token_request.exchange.status or token_request.exchange.error}), so it "
                                    "has no client-secret authentication to advertise")
    configuration, answer = token_endpoint.configuration, token_endpoint.answer
    verdict.check((token_checks.symmetric_capability_advertised, configuration, answer),
                  (token_checks.basic_method_advertised, configuration, answer))


# --- clients and their tokens ----------------------------------------------------------------------

@pytest.fixture
def ask_for_token(agent, token_endpoint, secret_registry):
    """POST a token request; every token that comes back (access, refresh, id, ...) is registered for redaction at once."""
    def ask(body: str, *, header: str | None = None, sent: tuple[str, ...] = ()) -> TokenRequest:
        headers = {"authorization": header} if header is not None else {}
        exchange = agent.send("POST", token_endpoint.url, headers=headers, form_body=body)
        secret_registry.add(*token_checks.tokens_in(exchange))
        return TokenRequest(exchange, header is not None, [s for s in sent if s])
    return ask


def _register(provisioner, secret_registry, purpose: str, secret: str | None = None,
              grant_types=("client_credentials",)) -> Credentials:
    """A client for the token endpoint and its allow policy; a failure is a failed prerequisite."""
    credentials = Credentials(provisioner.resource_id(f"{purpose}-{fresh_secret(6).lower()}"), secret or fresh_secret())
    secret_registry.add_credentials(credentials.client_id, credentials.secret)
    secret_registry.add(token_basic_token(credentials.client_id, credentials.secret))
    for exchange in (provisioner.register_client(credentials.client_id, credentials.secret, grant_types=grant_types),
                     provisioner.allow_policy(policy_id_for(credentials.client_id), credentials.client_id)):
        if exchange.status is None or exchange.status >= 300:
            pytest.skip(f"prerequisite failed: {exchange.method} {exchange.url} answered "
                        f"{exchange.status or exchange.error}")
    return credentials


def _with_secret(ask_for_token, credentials: Credentials) -> TokenRequest:
    header = token_basic_header(credentials.client_id, credentials.secret)
    return ask_for_token(token_request_body(), header=header, sent=(credentials.secret,))


@given("a client registered for the client credentials grant and allowed by a policy", target_fixture="token_client")
def _(provisioner, secret_registry, seed_data) -> TokenClient:
    return TokenClient(_register(provisioner, secret_registry, "token"))


@given("a client whose own secret gets a token", target_fixture="token_client")
def _(provisioner, secret_registry, seed_data, ask_for_token) -> TokenClient:
    """The positive control: if the client's own secret gets no token, no refusal proves anything."""
    credentials = _register(provisioner, secret_registry, "token")
    control = _with_secret(ask_for_token, credentials)
    control.exchange.role = POSITIVE_CONTROL
    if reason := token_checks.scope_required(control.exchange):
        pytest.skip(f"not applicable: {reason}")
    token = token_checks.issued_token(control.exchange)
    if token is None:
        seen = control.exchange.status or control.exchange.error
        pytest.skip(f"control failed: the client's own secret got no token ({seen}), so no refusal would prove anything")
    return TokenClient(credentials, token)


@given("a client registered for the client credentials grant with a secret of reserved characters",
       target_fixture="token_client")
def _(provisioner, secret_registry) -> TokenClient:
    """The right secret is what is under test here, so the wrong-secret refusal that follows is the control."""
    return TokenClient(_register(provisioner, secret_registry, "reserved", secret=reserved_secret()))


@given("a wrong secret for that client gets no token")
def _(token_client, ask_for_token, secret_registry) -> None:
    right = token_client.credentials
    wrong = Credentials(right.client_id, wrong_secret_same_length(right.secret))
    secret_registry.add_credentials(wrong.client_id, wrong.secret)
    secret_registry.add(token_basic_token(wrong.client_id, wrong.secret))
    exchange = _with_secret(ask_for_token, wrong).exchange
    exchange.role = NEGATIVE_CONTROL
    if exchange.response is None or token_checks.issued_token(exchange) is not None:
        pytest.skip(f"control failed: a wrong secret was not refused ({exchange.status or exchange.error}), so "
                    "a token for the right one proves nothing")


@when("the administrator registers a second client like it but without the client credentials grant",
      target_fixture="token_client")
def _(provisioner, secret_registry) -> TokenClient:
    """Like the control's client in all but its grant: the basic grant only, its own secret and policy."""
    return TokenClient(_register(provisioner, secret_registry, "nocc", grant_types=("basic",)))


@when("the client without the client credentials grant asks for a token with its secret", target_fixture="token_request")
def _(token_client, ask_for_token) -> TokenRequest:
    return _with_secret(ask_for_token, token_client.credentials)


# Wrong secrets at the token endpoint, each changing one thing of the right one (as for Basic on the FHIR API).
WRONG_TOKEN_SECRETS = {
    "with a wrong secret": wrong_secret_same_length,
    "with its secret missing its last character": secret_missing_last_char,
    "with its secret's last character changed": secret_last_char_changed,
    "with its secret in another letter case": secret_other_case,
    "with an empty secret": lambda secret: "",
}


def _variant(variant: str, client: Credentials, run_id: str) -> tuple[str, str | None, tuple[str, ...]]:
    """(body, Authorization header, secrets sent) for the control's request with one thing changed."""
    header = token_basic_header(client.client_id, client.secret)
    if variant == "with its secret":
        return token_request_body(), header, (client.secret,)
    if variant in WRONG_TOKEN_SECRETS:
        wrong = WRONG_TOKEN_SECRETS[variant](client.secret)
        return token_request_body(), token_basic_header(client.client_id, wrong), (wrong, client.secret)
    if variant == "under an unknown client id":
        unknown = f"conf-{run_id}-never-registered-{fresh_secret(6).lower()}"
        return token_request_body(), token_basic_header(unknown, client.secret), (client.secret,)
    if variant == "carrying no credentials at all":
        return token_request_body(), None, ()
    if variant == "with a wrong secret in the body":  # client_secret_post (RFC 6749 §2.3.1), with a wrong secret
        wrong = wrong_secret_same_length(client.secret)
        return token_request_body(client_id=client.client_id, client_secret=wrong), None, (wrong, client.secret)
    if variant == "with its client id alone in the body":  # how a public client asks: no authentication at all
        return token_request_body(client_id=client.client_id), None, (client.secret,)
    if variant == "with its secret in both the header and the body":
        body = token_request_body(client_id=client.client_id, client_secret=client.secret)
        return body, header, (client.secret,)
    if variant == "of a grant type the server does not offer":
        return token_request_body(UNOFFERED_GRANT), header, (client.secret,)
    raise ValueError(f"no such token request: {variant}")


@when(parsers.parse("the client asks for a token {variant}"), target_fixture="token_request")
def _(variant: str, token_client, ask_for_token, secret_registry, run_id) -> TokenRequest:
    body, header, sent = _variant(variant, token_client.credentials, run_id)
    if header is not None:
        secret_registry.add(header.split(" ", 1)[1])
    for secret in sent:
        secret_registry.add(secret)
    return ask_for_token(body, header=header, sent=sent)


# --- judging token answers -------------------------------------------------------------------------

@then("a token is issued with its type and lifetime, without a refresh token, marked not to be stored")
def _(token_request, verdict) -> None:
    if reason := token_checks.scope_required(token_request.exchange):
        verdict.skip_not_applicable(reason)
    verdict.check(*token_checks.issued_checks(token_request.exchange))


@then("a token is issued for the form-urlencoded secret")
def _(token_request, verdict) -> None:
    if reason := token_checks.scope_required(token_request.exchange):
        verdict.skip_not_applicable(reason)
    verdict.check((token_checks.token_issued_for_form_encoded_secret, token_request.exchange))


def _refused_as(error: str):
    def judge(token_request: TokenRequest, verdict) -> None:
        verdict.check(*token_checks.refusal_checks(token_request.exchange, error=error,
                                                   header_used=token_request.header_used,
                                                   sent_secrets=token_request.sent_secrets))
    return judge


then("the token request is refused as failed client authentication")(_refused_as("invalid_client"))
then("the token request is refused as malformed")(_refused_as("invalid_request"))
then("the token request is refused as an unsupported grant type")(_refused_as("unsupported_grant_type"))
then("the token request is refused as a client not allowed that grant")(_refused_as("unauthorized_client"))


# --- the token on the FHIR API ---------------------------------------------------------------------

@then("the token serves the documented search")
def _(token_request, search_with, verdict) -> None:
    token = token_checks.issued_token(token_request.exchange)
    if token is None:
        verdict.skip_not_applicable("no token was issued, so there is none to use")
    verdict.check((token_checks.bearer_search_served, search_with(f"Bearer {token}")))


@given("the token serves the documented search")
def _(token_client, search_with) -> None:
    exchange = search_with(f"Bearer {token_client.token}")
    exchange.role = POSITIVE_CONTROL
    if exchange.status != 200:
        seen = exchange.status or exchange.error
        pytest.skip(f"control failed: the client's token did not serve the search ({seen}), so its refusal later "
                    "would prove nothing")


@when("the administrator deletes the token's client")
def _(token_client, provisioner) -> None:
    exchange = provisioner.delete(f"/Client/{token_client.credentials.client_id}")
    if exchange.status is None or exchange.status >= 300:
        pytest.skip(f"prerequisite failed: deleting the client answered {exchange.status or exchange.error}")


@when("the client searches again with its token", target_fixture="token_search")
def _(token_client, search_with) -> Exchange:
    return search_with(f"Bearer {token_client.token}")


@when("the client searches with its token changed in one character", target_fixture="token_search")
def _(token_client, search_with, secret_registry) -> Exchange:
    changed = changed_in_one_character(token_client.token)
    secret_registry.add(changed)
    return search_with(f"Bearer {changed}")


@then("the changed token is refused")
def _(token_search, verdict) -> None:
    verdict.check((token_checks.changed_token_refused, token_search))


@then("the token is refused")
def _(token_search, verdict) -> None:
    verdict.check((token_checks.token_refused_after_client_deleted, token_search))
