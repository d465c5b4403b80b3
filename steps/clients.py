"""Steps of an administrator registering, changing and deleting Clients and AccessPolicies."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pytest_bdd import given, then, when

from conformance import checks
from conformance.credentials import Credentials, fresh_secret
from conformance.exchange import Exchange
from steps.common import Attempt, Control, policy_id_for, positive_control


@dataclass(frozen=True)
class Registration:
    credentials: Credentials
    exchange: Exchange


def _unique(purpose: str) -> str:
    return f"{purpose}-{fresh_secret(6).lower()}"


def _require_done(exchange: Exchange, what: str) -> None:
    """An administrator's change that fails is a failed prerequisite of the scenario, not its verdict."""
    if exchange.status is None or exchange.status >= 300:
        pytest.skip(f"prerequisite failed: {what} answered {exchange.status or exchange.error}")


# --- seed Steps 1 and 2 --------------------------------------------------------------------------

@when("the administrator registers a client with a fresh secret and the basic grant", target_fixture="registration")
def _(provisioner, secret_registry) -> Registration:
    credentials = Credentials(provisioner.resource_id(_unique("register")), fresh_secret())
    secret_registry.add_credentials(credentials.client_id, credentials.secret)
    return Registration(credentials, provisioner.register_client(credentials.client_id, credentials.secret))


@then("the registration is accepted")
def _(registration, verdict) -> None:
    verdict.check((checks.client_registration_accepted, registration.exchange))


@then("reading the client back does not disclose its secret")
def _(registration, provisioner, verdict) -> None:
    exchange = provisioner.get(f"/Client/{registration.credentials.client_id}")
    verdict.check((checks.secret_not_disclosed, exchange, registration.credentials.secret),
                  (checks.secret_not_disclosed, registration.exchange, registration.credentials.secret))


@given("a newly registered client", target_fixture="registration")
def _(provisioner, secret_registry) -> Registration:
    credentials = Credentials(provisioner.resource_id(_unique("linked")), fresh_secret())
    secret_registry.add_credentials(credentials.client_id, credentials.secret)
    exchange = provisioner.register_client(credentials.client_id, credentials.secret)
    _require_done(exchange, "registering the client")
    return Registration(credentials, exchange)


@when("the administrator links the client to an allow policy", target_fixture="policy_creation")
def _(registration, provisioner) -> Exchange:
    client_id = registration.credentials.client_id
    return provisioner.allow_policy(policy_id_for(client_id), client_id)


@then("the policy is accepted")
def _(policy_creation, verdict) -> None:
    verdict.check((checks.policy_creation_accepted, policy_creation))


# --- changes to a client -------------------------------------------------------------------------

@given("a fresh client whose own credentials are accepted", target_fixture="control")
def _(client_pool, search_with, seed_data) -> Control:
    return positive_control(search_with, client_pool.take(), seed_data.ids())


@pytest.fixture
def pattern_policies() -> tuple[str, ...]:
    """The server's policies that allow by a pattern; set by the step below."""
    return ()


@given("no policy on the server allows every client", target_fixture="pattern_policies")
def _(provisioner) -> tuple[str, ...]:
    """A policy that allows every request leaves no client to forbid. Every page of the listing is read. The
    policies that allow by a pattern (matcho, json-schema, sql...) are noted: one may match a request of any
    client (Aidbox's own examples allow every GET), and then serving it is no fault."""
    policies, problem = provisioner.list("/AccessPolicy?_count=500")
    if problem:
        pytest.skip(f"prerequisite failed: the server's AccessPolicies could not be listed ({problem})")
    for policy in policies:
        if allows_every_request(policy):
            pytest.skip(f"not applicable: AccessPolicy/{policy.get('id')} allows every request "
                        f"(engine {policy.get('engine')!r}), so no client can be forbidden")
    return tuple(f"AccessPolicy/{policy.get('id')} (engine {policy.get('engine')!r})" for policy in policies
                 if policy.get("engine") != "allow")


def allows_every_request(policy: dict) -> bool:
    """Aidbox policies that evidently allow everything: allow with no link, matcho with an empty pattern,
    json-schema with an empty schema. Other policies allow only what they match; the suite's own clients
    and their requests carry the run's ids, which no policy of the server's can be expecting."""
    engine = policy.get("engine")
    if engine == "allow":
        return not policy.get("link")
    if engine == "matcho":
        return not policy.get("matcho")
    if engine == "json-schema":
        return policy.get("schema") in ({}, True, None)
    return False


@when("the administrator registers a second client like it but without the basic grant", target_fixture="control")
def _(control, provisioner, secret_registry) -> Control:
    """The new client differs from the accepted one only in its grant: same policy link, its own fresh secret."""
    credentials = Credentials(provisioner.resource_id(_unique("nobasic")), fresh_secret())
    secret_registry.add_credentials(credentials.client_id, credentials.secret)
    _require_done(provisioner.register_client(credentials.client_id, credentials.secret,
                                              grant_types=("client_credentials",)), "registering the second client")
    _require_done(provisioner.allow_policy(policy_id_for(credentials.client_id), credentials.client_id),
                  "linking the second client to an allow policy")
    return Control(credentials, None, control.resource_ids)


@when("the administrator registers a second client like it but linked to no policy", target_fixture="second")
def _(provisioner, secret_registry) -> Credentials:
    credentials = Credentials(provisioner.resource_id(_unique("nopolicy")), fresh_secret())
    secret_registry.add_credentials(credentials.client_id, credentials.secret)
    _require_done(provisioner.register_client(credentials.client_id, credentials.secret),
                  "registering the second client")
    return credentials


@when("that second client authenticates with its own secret", target_fixture="attempt")
def _(second, attempt_as) -> Attempt:
    return attempt_as(second)


@when("the client without the basic grant authenticates with its own secret", target_fixture="attempt")
def _(control, attempt_as) -> Attempt:
    attempt = attempt_as(control.credentials)
    attempt.not_served = checks.grantless_client_not_served
    return attempt


@when("the administrator removes the basic grant from the client")
def _(control, provisioner) -> None:
    credentials = control.credentials
    _require_done(provisioner.register_client(credentials.client_id, credentials.secret,
                                              grant_types=("client_credentials",)), "removing the basic grant")


@when("the administrator deletes the client")
def _(control, provisioner) -> None:
    _require_done(provisioner.delete(f"/Client/{control.credentials.client_id}"), "deleting the client")


@when("the administrator deletes the client's policy")
def _(control, provisioner) -> None:
    _require_done(provisioner.delete(f"/AccessPolicy/{policy_id_for(control.credentials.client_id)}"),
                  "deleting the policy")


@when("the administrator gives the client a new secret", target_fixture="rotated")
def _(control, provisioner, secret_registry) -> Credentials:
    rotated = Credentials(control.credentials.client_id, fresh_secret())
    secret_registry.add_credentials(rotated.client_id, rotated.secret)
    _require_done(provisioner.register_client(rotated.client_id, rotated.secret), "replacing the secret")
    return rotated


@when("the client authenticates with its own secret", target_fixture="attempt")
def _(control, attempt_as) -> Attempt:
    return attempt_as(control.credentials)


@when("the client authenticates with its old secret", target_fixture="attempt")
def _(control, rotated, attempt_as) -> Attempt:
    return attempt_as(control.credentials, rotated.secret)


@when("the client authenticates with its new secret", target_fixture="attempt")
def _(rotated, attempt_as) -> Attempt:
    return attempt_as(rotated)
