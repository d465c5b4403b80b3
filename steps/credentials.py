"""Steps that present credentials: wrong secrets, unknown ids, malformed headers, allowed encodings."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import pytest
from pytest_bdd import given, parsers, then, when

from conformance import checks
from conformance.credentials import (HEADER_FORMS, SCHEME_SPELLINGS, WRONG_SECRETS, Credentials, basic_header,
                                     colon_secret, fresh_secret, long_secret, url_sensitive_secret, utf8_secret,
                                     wrong_secret_same_length)
from conformance.exchange import POSITIVE_CONTROL
from steps.common import (SEED_CODE, SEED_COUNT, Attempt, Control, found_resources, positive_control,
                          register_allowed_client)


# RFC 7617 §2.1 charset="UTF-8", as RFC 9110 §11.2 lets it be written: spaces around "=", quoted or not.
UTF8_CHARSET = re.compile(r'(?:^|[\s,])charset\s*=\s*"?utf-8"?(?=\s*(?:,|$))', re.IGNORECASE)

# Forms carrying the right id and secret are wrong for a reason other than RFC 7617 §2's validation.
NOT_SERVED_BECAUSE = {
    "as a token that is not base64": checks.non_base64_not_served,
    "followed by extra text": checks.malformed_credentials_not_served,
    "wrapped in double quotes": checks.malformed_credentials_not_served,
}


@when(parsers.parse("the client authenticates with a secret that is {variant}"), target_fixture="attempt")
def _(variant: str, control, attempt_as) -> Attempt:
    right = control.credentials
    return attempt_as(Credentials(right.client_id, WRONG_SECRETS[variant](right.secret)), right.secret)


@when(parsers.parse("the client authenticates with a wrong secret under the scheme written {spelling}"),
      target_fixture="attempt")
def _(spelling: str, control, search_with, secret_registry) -> Attempt:
    right = control.credentials
    wrong = wrong_secret_same_length(right.secret)
    secret_registry.add_credentials(right.client_id, wrong)
    header = basic_header(right.client_id, wrong, scheme=SCHEME_SPELLINGS[spelling])
    return Attempt(search_with(header), [wrong, right.secret], client_id=right.client_id)


@given("the administrator's own credentials are accepted", target_fixture="admin_control")
def _(server, search_with) -> Control:
    """The control for the admin's secret under the client's id: with the admin's own id it is accepted. Without
    it, a wrong admin secret would be refused under any id and the scenario would pass having shown nothing.
    (The pre-flight has already stopped a run whose admin credentials the server refuses: conformance.plugin.)"""
    admin = server[1]
    if admin is None:
        pytest.skip("not applicable: the run does not know the administrator's secret")
    return positive_control(search_with, admin, whose="the administrator's")


@when("the client authenticates with the administrator's secret", target_fixture="attempt")
def _(control, admin_control, attempt_as) -> Attempt:
    """A server must not let one credential (the most powerful one) open every client."""
    return attempt_as(Credentials(control.credentials.client_id, admin_control.credentials.secret),
                      control.credentials.secret)


@when("an unknown client id authenticates with the client's secret", target_fixture="attempt")
def _(control, attempt_as, run_id) -> Attempt:
    unknown_id = f"conf-{run_id}-never-registered-{fresh_secret(6).lower()}"
    return attempt_as(Credentials(unknown_id, control.credentials.secret))


@when("the client authenticates with a wrong secret as well", target_fixture="wrong_secret_attempt")
def _(control, attempt_as) -> Attempt:
    right = control.credentials
    return attempt_as(Credentials(right.client_id, wrong_secret_same_length(right.secret)), right.secret)


@then("the two refusals cannot be told apart")
def _(attempt, wrong_secret_attempt, control, verdict) -> None:
    verdict.check((checks.refusals_alike, attempt.exchange, wrong_secret_attempt.exchange, attempt.client_id,
                   control.credentials.client_id))


@given("another registered client", target_fixture="other_client")
def _(client_pool) -> Credentials:
    return client_pool.take()


@when("the client authenticates with the other client's secret", target_fixture="attempt")
def _(control, other_client, attempt_as) -> Attempt:
    return attempt_as(Credentials(control.credentials.client_id, other_client.secret), control.credentials.secret)


@when(parsers.parse("the client sends its credentials {form}"), target_fixture="attempt")
def _(form: str, control, search_with, secret_registry) -> Attempt:
    if form.startswith("under the scheme written "):
        spelling = SCHEME_SPELLINGS[form.removeprefix("under the scheme written ")]
        header = basic_header(control.credentials.client_id, control.credentials.secret, scheme=spelling)
        return Attempt(search_with(header), [control.credentials.secret], checks.scheme_spelling_accepted)
    header = HEADER_FORMS[form](control.credentials)
    if header and " " in header:  # its token part may be a credential the registry cannot otherwise see
        secret_registry.add(header.split(" ", 1)[1])
    return Attempt(search_with(header), [control.credentials.secret],
                   not_served=NOT_SERVED_BECAUSE.get(form, checks.request_not_served))


# --- secrets that exercise RFC 7617's encoding rules ---------------------------------------------

def _client_with_secret(provisioner, secret_registry, purpose: str, secret: str) -> Control:
    """A client whose right secret is what is under test, so its acceptance cannot be the control: the
    wrong-secret refusal that follows is."""
    credentials = register_allowed_client(provisioner, secret_registry, f"{purpose}-{fresh_secret(6).lower()}",
                                          secret=secret)
    return Control(credentials, None, ())


@given("a client registered with a secret containing colons", target_fixture="control")
def _(provisioner, secret_registry):
    return _client_with_secret(provisioner, secret_registry, "colon", colon_secret())


@given("a client registered with a secret containing + and %2B", target_fixture="control")
def _(provisioner, secret_registry):
    return _client_with_secret(provisioner, secret_registry, "urlenc", url_sensitive_secret())


@given("a client registered with a secret containing non-ASCII characters", target_fixture="control")
def _(provisioner, secret_registry):
    return _client_with_secret(provisioner, secret_registry, "utf8", utf8_secret())


@given("the server's challenge advertises UTF-8")
def _(refusal_seen) -> None:
    challenges = ", ".join(refusal_seen.response.headers.get_list("www-authenticate"))
    if not challenges:
        pytest.skip("not applicable: the server's refusal carried no challenge at all, so it advertises no "
                    "charset=\"UTF-8\"; RFC 7617 §2.1 then leaves the encoding of credentials undefined")
    if not UTF8_CHARSET.search(challenges):
        pytest.skip("not applicable: the server's Basic challenge does not advertise charset=\"UTF-8\"; "
                    "RFC 7617 §2.1 then leaves the encoding of credentials undefined")


@when("the client authenticates with its secret containing colons", target_fixture="attempt")
def _(control, attempt_as) -> Attempt:
    return attempt_as(control.credentials, check=checks.colon_secret_accepted)


@when("the client authenticates with its non-ASCII secret encoded as UTF-8", target_fixture="attempt")
def _(control, attempt_as) -> Attempt:
    return attempt_as(control.credentials, check=checks.utf8_secret_accepted)


# --- the same credentials on other FHIR interactions -----------------------------------------------

def _credentials_for(how: str, right: Credentials, secret_registry) -> tuple[str | None, list[str]]:
    """The Authorization value (None: no header) of a request sent `how`, and the secrets it carried."""
    if how == "without credentials":
        return None, []
    if how == "with a wrong secret":
        wrong = Credentials(right.client_id, wrong_secret_same_length(right.secret))
        secret_registry.add_credentials(wrong.client_id, wrong.secret)
        return wrong.header(), [wrong.secret, right.secret]
    raise ValueError(f"no such way to send credentials: {how}")


@pytest.fixture
def read_by_id(agent, settings):
    """GET [base]/Observation/[id] (FHIR R4 http §read) with a given Authorization value."""
    def read(observation_id: str, authorization: str | None):
        headers = {"authorization": authorization} if authorization is not None else {}
        return agent.send("GET", f"{settings.fhir_base}/Observation/{quote(observation_id, safe='')}", headers=headers)
    return read


@pytest.fixture
def search_by_post(agent, settings):
    """POST [base]/Observation/_search with the seed's parameters as a form body (FHIR R4 http §search)."""
    def search(authorization: str | None):
        headers = {"authorization": authorization} if authorization is not None else {}
        body = urlencode({"code": SEED_CODE, "_count": SEED_COUNT})
        return agent.send("POST", f"{settings.fhir_base}/Observation/_search", headers=headers, form_body=body)
    return search


@given("the client can read an Observation it found by its id", target_fixture="observation_id")
def _(control, read_by_id) -> str:
    # any id the search found, however short (HAPI's are numbers)
    found = [rid for kind, rid in found_resources(control.exchange) if kind == "Observation"] if control.exchange else []
    if not found:
        pytest.skip("not applicable: the client's search found no Observation to read")
    observation_id = found[0]
    exchange = read_by_id(observation_id, control.credentials.header())
    exchange.role = POSITIVE_CONTROL
    if exchange.status != 200:
        pytest.skip(f"control failed: reading Observation/{observation_id} with the client's own credentials "
                    f"answered {exchange.status or exchange.error}, so no refusal would prove anything")
    return observation_id


@when(parsers.parse("the client reads that Observation {how}"), target_fixture="attempt")
def _(how: str, observation_id, control, read_by_id, secret_registry) -> Attempt:
    authorization, sent = _credentials_for(how, control.credentials, secret_registry)
    return Attempt(read_by_id(observation_id, authorization), sent, client_id=control.credentials.client_id)


@given("the client can search with POST")
def _(control, search_by_post) -> None:
    exchange = search_by_post(control.credentials.header())
    exchange.role = POSITIVE_CONTROL
    if exchange.status in (404, 405, 501):
        pytest.skip(f"not applicable: the server does not search with POST ({exchange.status})")
    if exchange.status != 200:
        pytest.skip(f"control failed: searching with POST with the client's own credentials answered "
                    f"{exchange.status or exchange.error}, so no refusal would prove anything")


@when(parsers.parse("the client searches with POST {how}"), target_fixture="attempt")
def _(how: str, control, search_by_post, secret_registry) -> Attempt:
    authorization, sent = _credentials_for(how, control.credentials, secret_registry)
    return Attempt(search_by_post(authorization), sent, client_id=control.credentials.client_id)


# --- secrets that only a whole comparison tells apart -----------------------------------------------

@given("a client registered with a secret of 100 characters whose own credentials are accepted",
       target_fixture="control")
def _(provisioner, secret_registry, search_with, seed_data) -> Control:
    credentials = register_allowed_client(provisioner, secret_registry, f"long-{fresh_secret(6).lower()}",
                                          secret=long_secret())
    return positive_control(search_with, credentials, seed_data.ids())


@given("the administrator reads the client's stored secret back", target_fixture="stored_secret")
def _(control, provisioner) -> str:
    """What the admin API shows in the secret's place (Aidbox: a `__sha256:` digest). It is no secret to the
    server, but the suite treats it as one in its outputs (the provisioner registers every `secret` it is
    shown): a server that accepts it made it one."""
    client = provisioner.get(f"/Client/{quote(control.credentials.client_id, safe='')}").json()
    shown = client.get("secret") if isinstance(client, dict) else None
    if not isinstance(shown, str) or not shown or shown == control.credentials.secret:
        pytest.skip("not applicable: reading the client back shows no stored form of its secret")
    return shown


@when("the client authenticates with the stored form of its secret", target_fixture="attempt")
def _(control, stored_secret, attempt_as) -> Attempt:
    return attempt_as(Credentials(control.credentials.client_id, stored_secret), control.credentials.secret)


@when("the client authenticates with that secret as it is", target_fixture="attempt")
def _(control, attempt_as) -> Attempt:
    return attempt_as(control.credentials, check=checks.secret_accepted_as_sent)
