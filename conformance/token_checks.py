"""Named checks of the SMART token endpoint and discovery (features/smart/). Each enforces one requirement of
features/requirements.csv, cited in its decorator, and raises Violation(expected, actual) when the server
breaks it, as in conformance/checks.py. Error codes are named as RFC 6749 §5.2 names them, so a failure reads
"expected invalid_client; got invalid_request (status 400)"."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from conformance import checks
from conformance.exchange import Exchange
from conformance.oauth import BASIC_METHOD, SYMMETRIC_CAPABILITY
from conformance.verdicts import NotApplicable, Violation, check

JSON_TYPES = ("application/json",)
ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §5.2: the characters an error code may use


def _status(exchange: Exchange) -> str:
    return f"status {exchange.status}" if exchange.response is not None else f"no response ({exchange.error})"


def _media_type(exchange: Exchange) -> str:
    return (exchange.header("content-type") or "").split(";")[0].strip().lower()


def _body(exchange: Exchange) -> dict:
    body = exchange.json()
    return body if isinstance(body, dict) else {}


_NO_TOKEN_RESPONSE = NotApplicable("the answer is not a 200 carrying a token")


def _served(exchange: Exchange) -> bool:
    return exchange.status is not None and 200 <= exchange.status < 300


def _refused(exchange: Exchange) -> bool:
    """Answered, but not served: a 4xx or 5xx, and also a redirect (to a login page, say), which RFC 6749
    §5.2 does not allow for an error, so the checks below judge it like any other refusal."""
    return exchange.status is not None and not 200 <= exchange.status < 300


def issued_token(exchange: Exchange) -> str | None:
    """The access token an answer carries, if it is a success with one."""
    token = _body(exchange).get("access_token") if exchange.status == 200 else None
    return token if isinstance(token, str) and token else None


def tokens_in(exchange: Exchange) -> list[str]:
    """Every token an answer's JSON carries, whatever its status: each text field whose name ends in "token"
    (access_token, refresh_token, id_token, a server's own), for redaction the moment it arrives."""
    return [value for name, value in _body(exchange).items() if name.lower().endswith("token") and isinstance(value, str)]


def error_code(exchange: Exchange) -> str | None:
    code = _body(exchange).get("error")
    return code if isinstance(code, str) else None


def scope_required(exchange: Exchange) -> str | None:
    """Why an answer gives no token that tells anything about client authentication: the server refused the
    request as invalid_scope. The suite asks for no scope, and RFC 6749 §3.3 lets a server refuse that (SMART
    Backend Services requires a scope). None for any other answer."""
    if not _refused(exchange) or error_code(exchange) != "invalid_scope":
        return None
    return (f"the token endpoint answered invalid_scope ({_status(exchange)}) to a token request that asks for no "
            "scope, as every token request of the suite does; RFC 6749 §3.3 lets a server \"fail the request "
            "indicating an invalid scope\" when the client omits it, so there is no token to judge")


def _got(exchange: Exchange) -> str:
    """An answer as an error code and its status, for messages: 'invalid_request (status 400)'."""
    code = error_code(exchange)
    if code is not None:
        return f"{code} ({_status(exchange)})"
    if _served(exchange):
        return f"a token ({_status(exchange)}: the request was served)" if issued_token(exchange) else _status(exchange)
    return f"no error code ({_status(exchange)}, body {'JSON without error' if exchange.json() is not None else 'not JSON'})"


def _expect_code(exchange: Exchange, wanted: str) -> None:
    """RFC 6749 §5.2: error REQUIRED, the code that names the case. Judged on refusals only: a served request
    is the refusal check's to report."""
    if not _refused(exchange):
        return
    got = error_code(exchange)
    if got != wanted:
        raise Violation(wanted, _got(exchange), exchange=exchange)  # reads "expected invalid_client; got invalid_request (status 400)"


def _expect_no_token(exchange: Exchange, why: str) -> None:
    if exchange.response is None:
        raise Violation(f"a refusal ({why})", _status(exchange), exchange=exchange)
    if _served(exchange):
        raise Violation(f"no token ({why})", _got(exchange), exchange=exchange)


# --- discovery -------------------------------------------------------------------------------------

@check("SMART-DISCOVERY")
def configuration_served(exchange: Exchange) -> None:
    """SMART App Launch: the SMART configuration is served under the FHIR base, as application/json, to a
    request without credentials."""
    if exchange.status != 200:
        raise Violation("200 OK with the SMART configuration, without credentials", _status(exchange), exchange=exchange)
    if _media_type(exchange) not in JSON_TYPES:
        raise Violation("content type application/json", repr(exchange.header("content-type")), exchange=exchange)
    if not isinstance(exchange.json(), dict):
        raise Violation("a JSON object", "a body that is not a JSON object", exchange=exchange)


@check("SMART-DISCOVERY-FIELDS")
def configuration_fields(exchange: Exchange) -> None:
    """SMART App Launch: token_endpoint (an absolute URL), grant_types_supported and capabilities (arrays of
    strings) are REQUIRED."""
    body = exchange.json()
    if not isinstance(body, dict):
        return  # not a configuration at all: configuration_served reports it
    wrong = []
    endpoint = body.get("token_endpoint")
    if not isinstance(endpoint, str) or not urlsplit(endpoint).scheme or not urlsplit(endpoint).netloc:
        wrong.append(f"token_endpoint {endpoint!r} (expected an absolute URL)")
    for field in ("grant_types_supported", "capabilities"):
        value = body.get(field)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            wrong.append(f"{field} {value!r} (expected an array of strings)")
    if wrong:
        raise Violation("token_endpoint, grant_types_supported and capabilities", "; ".join(wrong), exchange=exchange)


@check("SMART-DISCOVERY-CAPABILITIES")
def symmetric_capability_advertised(configuration: dict, configuration_answer: Exchange) -> None:
    """SMART App Launch: a server conveys the capabilities it supports; a token endpoint that takes a client
    secret in HTTP Basic is client-confidential-symmetric."""
    capabilities = configuration.get("capabilities")
    if not isinstance(capabilities, list) or SYMMETRIC_CAPABILITY not in capabilities:
        raise Violation(f"capabilities listing {SYMMETRIC_CAPABILITY} (the token endpoint accepted a client secret "
                        "in HTTP Basic)", repr(capabilities), exchange=configuration_answer)


@check("SMART-DISCOVERY-AUTH-METHODS")
def basic_method_advertised(configuration: dict, configuration_answer: Exchange) -> None:
    """SMART App Launch: token_endpoint_auth_methods_supported, where present, lists the methods the token
    endpoint supports -- client_secret_basic among them when it accepts it."""
    methods = configuration.get("token_endpoint_auth_methods_supported")
    if methods is not None and (not isinstance(methods, list) or BASIC_METHOD not in methods):
        raise Violation(f"token_endpoint_auth_methods_supported listing {BASIC_METHOD} (the token endpoint accepted "
                        "it)", repr(methods), exchange=configuration_answer)


# --- tokens issued ---------------------------------------------------------------------------------

@check("RFC6749-2.3.1-BASIC")
def token_issued_for_basic(exchange: Exchange) -> None:
    """RFC 6749 §2.3.1: the token endpoint supports HTTP Basic for clients issued a password."""
    if issued_token(exchange) is None:
        raise Violation("200 OK with an access_token for the client's own secret in HTTP Basic", _got(exchange),
                        exchange=exchange)


@check("RFC6749-2.3.1-FORM-ENCODED")
def token_issued_for_form_encoded_secret(exchange: Exchange) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before base64, so the server decodes them."""
    if issued_token(exchange) is None:
        raise Violation("a token for the secret with reserved characters, form-urlencoded in HTTP Basic",
                        _got(exchange), exchange=exchange)


@check("RFC6749-5.1-TOKEN")
def token_response_fields(exchange: Exchange) -> None:
    """RFC 6749 §5.1, SMART: a JSON answer with access_token and token_type Bearer (case-insensitive)."""
    if exchange.status != 200:
        return  # no token at all: token_issued_for_basic reports it
    body = exchange.json()
    if _media_type(exchange) not in JSON_TYPES or not isinstance(body, dict):
        raise Violation("an application/json object", f"content type {exchange.header('content-type')!r}",
                        exchange=exchange)
    wrong = []
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        wrong.append(f"access_token {type(body.get('access_token')).__name__}")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        wrong.append(f"token_type {token_type!r}")
    if wrong:
        raise Violation("access_token and token_type Bearer", "; ".join(wrong), exchange=exchange)


@check("RFC6749-5.1-EXPIRES-IN")
def token_lifetime(exchange: Exchange) -> NotApplicable | None:
    """RFC 6749 §5.1: expires_in, the token's lifetime in seconds, is RECOMMENDED."""
    if exchange.status != 200:
        return _NO_TOKEN_RESPONSE
    expires_in = _body(exchange).get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        raise Violation("expires_in, a positive number of seconds", repr(expires_in), exchange=exchange)


@check("RFC6749-4.4.3-NO-REFRESH-TOKEN")
def no_refresh_token(exchange: Exchange) -> None:
    """RFC 6749 §4.4.3: the answer to a client_credentials request SHOULD NOT include a refresh token."""
    if exchange.status == 200 and "refresh_token" in _body(exchange):
        raise Violation("no refresh_token in the answer to a client_credentials request",
                        "a refresh_token", exchange=exchange)


@check("RFC6749-5.1-NO-STORE")
def token_not_stored(exchange: Exchange) -> NotApplicable | None:
    """RFC 6749 §5.1: a response carrying a token has Cache-Control: no-store."""
    if exchange.status != 200:
        return _NO_TOKEN_RESPONSE
    directives = [d.strip().lower() for d in (exchange.header("cache-control") or "").split(",")]
    if "no-store" not in directives:
        raise Violation("Cache-Control: no-store", repr(exchange.header("cache-control")), exchange=exchange)


@check("RFC6749-5.1-PRAGMA")
def token_pragma_no_cache(exchange: Exchange) -> NotApplicable | None:
    """RFC 6749 §5.1: a response carrying a token has Pragma: no-cache."""
    if exchange.status != 200:
        return _NO_TOKEN_RESPONSE
    if "no-cache" not in (exchange.header("pragma") or "").lower():
        raise Violation("Pragma: no-cache", repr(exchange.header("pragma")), exchange=exchange)


def issued_checks(exchange: Exchange, issued=token_issued_for_basic):
    """What a token answer must be: issued, with its fields and lifetime, no refresh token, and marked not to
    be stored."""
    return [(issued, exchange), (token_response_fields, exchange), (token_lifetime, exchange),
            (no_refresh_token, exchange), (token_not_stored, exchange), (token_pragma_no_cache, exchange)]


@check("RFC6750-2.1-BEARER")
def bearer_search_served(exchange: Exchange) -> None:
    """RFC 6750 §2.1: the access token, as Authorization: Bearer, serves the FHIR search."""
    body = exchange.json()
    if exchange.status != 200 or not isinstance(body, dict) or body.get("type") != "searchset":
        raise Violation("200 OK with a searchset Bundle for the search with the Bearer token", _status(exchange),
                        exchange=exchange)


@check("RFC6749-7-VALIDATE-TOKEN")
def changed_token_refused(exchange: Exchange) -> None:
    """RFC 6749 §7: the resource server MUST validate the access token -- one it did not issue serves nothing."""
    if exchange.response is None or _served(exchange):
        raise Violation("the changed token refused", _status(exchange) + (
            ": a token the server never issued served the search" if _served(exchange) else ""), exchange=exchange)


@check("TOKEN-ENDS-WITH-CLIENT")
def token_refused_after_client_deleted(exchange: Exchange) -> None:
    """ASVS 5.0 V7.4.2: a deleted client's sessions end -- its access token no longer serves requests."""
    if exchange.response is None or _served(exchange):
        raise Violation("the token refused once its client was deleted", _status(exchange) + (
            ": the deleted client's token still served the search" if _served(exchange) else ""), exchange=exchange)


# --- refusals (RFC 6749 §5.2) ----------------------------------------------------------------------

@check("RFC6749-4.4-AUTHENTICATE")
def no_token_without_authentication(exchange: Exchange) -> None:
    """RFC 6749 §4.4.2: the authorization server MUST authenticate the client."""
    _expect_no_token(exchange, "client authentication failed")


@check("RFC6749-5.2-INVALID-CLIENT")
def invalid_client(exchange: Exchange) -> None:
    """RFC 6749 §5.2: failed client authentication is invalid_client."""
    _expect_code(exchange, "invalid_client")


@check("RFC6749-5.2-INVALID-CLIENT-401")
def invalid_client_challenges(exchange: Exchange) -> NotApplicable | None:
    """RFC 6749 §5.2: credentials sent in the Authorization header and refused: 401 with a WWW-Authenticate
    challenge of the scheme the client used (Basic)."""
    if not _refused(exchange):
        return NotApplicable(f"no refusal to look at ({_status(exchange)})")
    values = exchange.response.headers.get_list("www-authenticate")
    if exchange.status != 401 or "basic" not in checks.challenge_schemes(values):
        raise Violation("401 with a Basic challenge in WWW-Authenticate",
                        f"{_status(exchange)}, WWW-Authenticate {values!r}" if values else
                        f"{_status(exchange)}, no WWW-Authenticate", exchange=exchange)


@check("RFC6749-5.2-401-OPTIONAL")
def invalid_client_names_schemes(exchange: Exchange) -> NotApplicable | None:
    """RFC 6749 §5.2: without an Authorization header, invalid_client MAY be a 401 naming the schemes
    supported; a 400 is allowed too, and noted so the report says which was seen."""
    if not _refused(exchange):
        return NotApplicable(f"no refusal to look at ({_status(exchange)})")
    if exchange.status != 401:
        raise Violation("401 naming the supported schemes (optional; 400 is allowed)", _got(exchange),
                        exchange=exchange)


@check("RFC6749-5.2-INVALID-REQUEST")
def two_methods_refused(exchange: Exchange) -> None:
    """RFC 6749 §2.3, §5.2: a request using more than one client authentication method is invalid_request."""
    _expect_no_token(exchange, "the client used two authentication methods at once")
    _expect_code(exchange, "invalid_request")


@check("RFC6749-5.2-UNAUTHORIZED-CLIENT")
def grantless_client_refused(exchange: Exchange) -> None:
    """RFC 6749 §5.2; Aidbox: a client without client_credentials in grant_types is unauthorized_client."""
    _expect_no_token(exchange, "the client is not allowed the client_credentials grant")
    _expect_code(exchange, "unauthorized_client")


@check("RFC6749-5.2-UNSUPPORTED-GRANT-TYPE")
def unoffered_grant_refused(exchange: Exchange) -> None:
    """RFC 6749 §5.2: a grant type the server does not support is unsupported_grant_type."""
    _expect_no_token(exchange, "the grant type is not one the server offers")
    _expect_code(exchange, "unsupported_grant_type")


@check("RFC6749-5.2-ERROR-RESPONSE")
def error_response_shape(exchange: Exchange, invalid_client_expected: bool) -> NotApplicable | None:
    """RFC 6749 §5.2: an error answer is 400 (401 allowed for invalid_client), application/json, with a
    REQUIRED error code of printable ASCII."""
    if not _refused(exchange):
        return NotApplicable(f"no refusal to look at ({_status(exchange)})")
    allowed = (400, 401) if invalid_client_expected else (400,)
    wrong = []
    if exchange.status not in allowed:
        wrong.append(f"{_status(exchange)} (expected {' or '.join(map(str, allowed))})")
    if _media_type(exchange) not in JSON_TYPES or not isinstance(exchange.json(), dict):
        wrong.append(f"content type {exchange.header('content-type')!r}, body {'not ' if exchange.json() is None else ''}JSON")
    code = error_code(exchange)
    if code is None or not ERROR_CODE.fullmatch(code):
        wrong.append(f"error {code!r}")
    if wrong:
        raise Violation("an RFC 6749 §5.2 error answer", "; ".join(wrong), exchange=exchange)


REFUSED_BECAUSE = {
    "invalid_client": no_token_without_authentication,
    "invalid_request": two_methods_refused,
    "unauthorized_client": grantless_client_refused,
    "unsupported_grant_type": unoffered_grant_refused,
}


def refusal_checks(exchange: Exchange, *, error: str, header_used: bool, sent_secrets: Iterable[str]):
    """The checks a refused token request answers to: no token, no 5xx, an RFC 6749 §5.2 error answer with
    the code that names the mistake; for invalid_client, 401 and a Basic challenge when the header was used
    (else 400 or 401, with a challenge if 401); and no trace of the secret."""
    refusal = [(REFUSED_BECAUSE[error], exchange), (checks.no_server_error, exchange),
               (error_response_shape, exchange, error == "invalid_client")]
    if error == "invalid_client":
        refusal.append((invalid_client, exchange))
        if header_used:
            refusal += [(invalid_client_challenges, exchange), (checks.basic_challenge_has_realm, exchange)]
        else:
            refusal += [(invalid_client_names_schemes, exchange), (checks.challenges_at_all, exchange),
                        (checks.basic_challenge_has_realm, exchange)]
    refusal.append((checks.secret_not_echoed, exchange, list(sent_secrets)))
    return refusal
