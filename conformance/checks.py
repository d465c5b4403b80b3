"""Named checks. Each enforces one requirement of features/requirements.csv, cited in its decorator,
and raises Violation(expected, actual) when the server breaks it. Levels live in the register, not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from conformance.exchange import Exchange
from conformance.fhir import model_errors, schema_errors
from conformance.redaction import FRAGMENT, SecretRegistry
from conformance.verdicts import NotApplicable, Violation, check

FHIR_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


def _status(exchange: Exchange) -> str:
    if exchange.response is None:
        return f"no response ({exchange.error})"
    if 300 <= exchange.status < 400 and exchange.header("location"):
        return (f"status {exchange.status}, a redirect to {exchange.header('location')} (never followed: "
                "credentials go only to the server under test)")
    return f"status {exchange.status}"


def _media_type(exchange: Exchange) -> str:
    return (exchange.header("content-type") or "").split(";")[0].strip().lower()


def _entries(bundle) -> list:
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    return entries if isinstance(entries, list) else []


def _search_mode(entry) -> str | None:
    search = entry.get("search") if isinstance(entry, dict) else None
    return search.get("mode") if isinstance(search, dict) else None


def _match_entries(bundle: dict) -> list[dict]:
    """Entries that count as matches: every entry but an outcome message or an included resource (FHIR R4
    search §_count: "_count ... does not include included resources or operation outcomes")."""
    return [e for e in _entries(bundle) if isinstance(e, dict) and _search_mode(e) not in ("outcome", "include")]


# --- success -------------------------------------------------------------------------------------

def _expect_success(exchange: Exchange, what: str) -> None:
    if exchange.status is None or not 200 <= exchange.status < 300:
        raise Violation(f"{what} to succeed (2xx)", _status(exchange), exchange=exchange)


@check("SEED-CLIENT-REGISTER")
def client_registration_accepted(exchange: Exchange) -> None:
    """Seed Step 1: PUT /Client/{id} with a secret and grant_types [basic] registers the client."""
    _expect_success(exchange, "the Client registration")
    body = exchange.json()
    if body is not None and (errors := schema_errors("client", body)):
        raise Violation("the answer to be the stored Client", "; ".join(errors), exchange=exchange)


@check("SEED-POLICY-CREATE")
def policy_creation_accepted(exchange: Exchange) -> None:
    """Seed Step 2: PUT /AccessPolicy/{id} with engine allow and a link to the Client is accepted."""
    _expect_success(exchange, "the AccessPolicy creation")
    body = exchange.json()
    if body is not None and (errors := schema_errors("access-policy", body)):
        raise Violation("the answer to be the stored AccessPolicy", "; ".join(errors), exchange=exchange)


@check("SECRET-NOT-DISCLOSED")
def secret_not_disclosed(exchange: Exchange, secret: str) -> None:
    """Reading a registered Client back must not disclose its plain secret."""
    _expect_success(exchange, "reading the Client back")
    if _contains_any(exchange, [secret]):
        raise Violation("the Client without its plain secret", "the plain secret in the answer", exchange=exchange)


@check("SEED-SEARCH-BASIC")
def search_succeeded(exchange: Exchange, hint: str = "") -> None:
    """Seed Step 3: the search with the client's Basic credentials answers 200 OK. `hint`: what to check first
    when the credentials are the user's own (a wrong secret reads like a refusing server)."""
    if exchange.status != 200:
        raise Violation("200 OK", _status(exchange) + (f" ({hint})" if hint else ""), exchange=exchange)


@check("FHIR-MIME-JSON")
def fhir_json_content_type(exchange: Exchange) -> None:
    """FHIR R4 http: a JSON FHIR answer carries a JSON media type (application/fhir+json)."""
    if _media_type(exchange) not in FHIR_JSON_TYPES:
        raise Violation(f"a content type of {' or '.join(FHIR_JSON_TYPES)}",
                        repr(exchange.header("content-type")), exchange=exchange)
    if exchange.json() is None:
        raise Violation("a JSON body", "a body that is not JSON", exchange=exchange)


@check("RFC9110-11.1-SCHEME")
def scheme_spelling_accepted(exchange: Exchange) -> None:
    """RFC 9110 §11.1: the authentication scheme is a case-insensitive token."""
    _expect_success(exchange, "the same credentials under another spelling of 'Basic'")


@check("RFC7617-2-FIRST-COLON")
def colon_secret_accepted(exchange: Exchange) -> None:
    """RFC 7617 §2: the user-id ends at the first colon; the password may contain colons."""
    _expect_success(exchange, "a secret containing colons")


@check("RFC7617-2.1-UTF8")
def utf8_secret_accepted(exchange: Exchange) -> None:
    """RFC 7617 §2.1: with charset="UTF-8" advertised, credentials are UTF-8."""
    _expect_success(exchange, "a non-ASCII secret sent as UTF-8")


@check("RFC7617-2-PASSWORD-AS-SENT")
def secret_accepted_as_sent(exchange: Exchange) -> None:
    """RFC 7617 §2: the password is what was base64-encoded, not its URL-decoded form."""
    _expect_success(exchange, "a secret containing + and %2B, sent as it is")


# --- the search answer ---------------------------------------------------------------------------

@check("FHIR-BUNDLE-VALID")
def valid_fhir_bundle(bundle, fhir_version: str) -> None:
    """The answer is a valid FHIR Bundle: fhir.resources' models, and the envelope schema for the coded
    values the models do not check (Bundle.type "search-set" passes the models)."""
    if not isinstance(bundle, dict):
        raise Violation("a JSON object", type(bundle).__name__)
    errors = schema_errors("searchset-bundle", bundle) + model_errors(fhir_version, bundle)
    if errors:
        shown = errors[:10] + ([f"... {len(errors) - 10} more"] if len(errors) > 10 else [])
        raise Violation(f"a valid FHIR {fhir_version} Bundle", "; ".join(shown))


@check("FHIR-SEARCH-SEARCHSET")
def bundle_is_searchset(bundle: dict) -> None:
    """FHIR R4 http §search: the answer to a search is a Bundle of type searchset."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
        raise Violation("a Bundle of type 'searchset'",
                        f"resourceType {bundle.get('resourceType')!r}, type {bundle.get('type')!r}")


@check("FHIR-SEARCH-COUNT")
def page_within_count(bundle: dict, count: int) -> NotApplicable | None:
    """FHIR R4 search §_count: no more matches in one page than _count asked for."""
    matches = len(_match_entries(bundle))
    if not matches:
        return NotApplicable("the page has no match to count")
    if matches > count:
        raise Violation(f"at most {count} matches in the page (_count={count})", f"{matches}")


def self_link_params(bundle: dict) -> set[str]:
    """The search parameters the server says it applied (FHIR R4 search §3.1.1.6: encoded in the self link)."""
    for link in _links(bundle):
        if isinstance(link, dict) and link.get("relation") == "self" and isinstance(link.get("url"), str):
            return {name for name, _value in parse_qsl(urlsplit(link["url"]).query, keep_blank_values=True)}
    return set()


def _filter_broken(bundle_or_none, parameter: str, expected: str, actual: str) -> Violation:
    """A filter not applied breaks SHOULD-level support -- but if the self link claims the parameter was
    applied, the server misreports its criteria, which FHIR R4 search §3.1.1.6 makes a SHALL."""
    violation = Violation(expected, actual)
    if bundle_or_none is not None and parameter in self_link_params(bundle_or_none):
        violation = Violation(expected, f"{actual}, though the self link says {parameter} was applied",
                              requirement_id="FHIR-SEARCH-SELF-LINK")
    return violation


@check("SEED-SEARCH-CODE")
def matches_carry_code(bundle: dict, resource_type: str, system: str | None, code: str) -> NotApplicable | None:
    """Seed Step 3: every match of code=4548-4 is an Observation carrying that code. A bare code matches
    "irrespective of the value of the system" (FHIR R4 search §token), so system None accepts any."""
    if not _match_entries(bundle):
        return NotApplicable("the answer has no match to look at")
    wrong = []
    for entry in _match_entries(bundle):
        resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
        code_element = resource.get("code") if isinstance(resource.get("code"), dict) else {}
        codings = code_element.get("coding") if isinstance(code_element.get("coding"), list) else []
        has_code = any(isinstance(c, dict) and c.get("code") == code and (system is None or c.get("system") == system)
                       for c in codings)
        if resource.get("resourceType") != resource_type or not has_code:
            wrong.append(f"{resource.get('resourceType')}/{resource.get('id')}")
    if wrong:
        raise _filter_broken(bundle, "code", f"only {resource_type} resources coded {f'{system}|' if system else ''}{code}",
                             f"also {', '.join(wrong)}")


@check("FHIR-SEARCH-MODE")
def entries_have_match_mode(bundle: dict) -> NotApplicable | None:
    """FHIR R4 search: each entry says why it is there; matches carry search.mode = match. An OperationOutcome
    entry is marked "outcome" instead (FHIR R4 http §search: it "SHALL be marked" so)."""
    if not _entries(bundle):
        return NotApplicable("the answer has no entry to look at")
    def marked_right(entry) -> bool:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        is_outcome = isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome"
        return _search_mode(entry) == ("outcome" if is_outcome else "match")

    wrong = [f"entry {i}: {_search_mode(e)!r}" for i, e in enumerate(_entries(bundle)) if not marked_right(e)]
    if wrong:
        raise Violation("search.mode 'match' on every match, 'outcome' on an OperationOutcome "
                        "(the suite asked for no _include)", "; ".join(wrong))


# FHIR R4 Bundle.entry.fullUrl: a URL that "does look like a RESTful server URL (e.g. meets the regex)" must end
# with the resource's id: [base/]Type/id, optionally /_history/version. The regex of the spec, types generalised.
_RESTFUL_TAIL = re.compile(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def _full_url_problem(entry) -> str | None:
    full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
    resource = entry.get("resource") if isinstance(entry, dict) else None
    resource = resource if isinstance(resource, dict) else {}
    expected = f"{resource.get('resourceType')}/{resource.get('id')}"
    if isinstance(full_url, str) and full_url.startswith(("urn:uuid:", "urn:oid:")):
        return None  # FHIR R4 Bundle: "the fullURL might be a URN"; the id rule is for RESTful URLs
    if not isinstance(full_url, str) or not urlsplit(full_url).scheme:
        return f"{full_url!r} (expected an absolute URL)"
    restful = _RESTFUL_TAIL.search(full_url)
    if restful and "/".join(restful.groups()) != expected:
        return f"{full_url!r} (a RESTful URL, so expected it to end with {expected})"
    return None


@check("FHIR-BUNDLE-FULLURL")
def entries_have_absolute_full_url(bundle: dict) -> NotApplicable | None:
    """FHIR R4 Bundle: entry.fullUrl is an absolute URL (or a URN); a RESTful one ends with the resource's
    type and id (a version-specific /_history/v after them is still that resource). An outcome entry is
    exempt: "results from operations might involve resources that are not identified"."""
    if not any(_search_mode(entry) != "outcome" for entry in _entries(bundle)):
        return NotApplicable("the answer has no entry to look at")
    wrong = [f"entry {index}: {problem}" for index, entry in enumerate(_entries(bundle))
             if _search_mode(entry) != "outcome" and (problem := _full_url_problem(entry))]
    if wrong:
        raise Violation("an absolute fullUrl, ending with type/id where it is RESTful, on every entry", "; ".join(wrong))


@check("FHIR-BUNDLE-FULLURL-BASE")
def full_urls_under_fhir_base(bundle: dict, fhir_base_url: str) -> NotApplicable | None:
    """FHIR R4 http §search: matches MAY live on another server than the one searched. Noted, never failed:
    a reader of the report learns the entries' fullUrls are not under the FHIR base searched."""
    if not _match_entries(bundle):
        return NotApplicable("the answer has no match to look at")
    outside = [e.get("fullUrl") for e in _match_entries(bundle)
               if isinstance(e.get("fullUrl"), str) and not e["fullUrl"].startswith(fhir_base_url + "/")]
    if outside:
        raise Violation(f"fullUrl under {fhir_base_url}/", ", ".join(map(str, outside[:5])))


@check("FHIR-SEARCH-TOTAL")
def bundle_has_total(bundle: dict) -> None:
    """FHIR R4 search: a searchset says how many matches there are in Bundle.total."""
    if not isinstance(bundle.get("total"), int):
        raise Violation("Bundle.total", repr(bundle.get("total")))


@check("FHIR-SEARCH-SELF-LINK")
def bundle_has_self_link(bundle: dict) -> None:
    """FHIR R4 search: a searchset carries a self link saying which parameters were applied."""
    if not any(isinstance(link, dict) and link.get("relation") == "self" for link in _links(bundle)):
        raise Violation("a link with relation 'self'", repr(bundle.get("link")))


def bundle_validation_checks(bundle, *, fhir_version: str, count: int | None = None):
    """What a search answer must be on its own: a valid FHIR Bundle, of type searchset, within _count."""
    checks = [(valid_fhir_bundle, bundle, fhir_version)]
    if isinstance(bundle, dict):
        checks.append((bundle_is_searchset, bundle))
        if count is not None:
            checks.append((page_within_count, bundle, count))
    return checks


def entry_checks(bundle: dict, *, resource_type: str, system: str, code: str):
    """What each entry of the seed's search must be: a match with that code, marked and addressed right."""
    return [(matches_carry_code, bundle, resource_type, system, code), (entries_have_match_mode, bundle),
            (entries_have_absolute_full_url, bundle)]


def search_reporting_checks(bundle: dict, *, fhir_base_url: str):
    """What the answer tells about the search: the criteria applied (self link), the total, where entries live."""
    return [(bundle_has_self_link, bundle), (bundle_has_total, bundle), (full_urls_under_fhir_base, bundle, fhir_base_url)]


def match_ids(bundle: dict) -> list[str]:
    """'Type/id' of every match in a page, in order."""
    resources = [e.get("resource") for e in _match_entries(bundle)]
    return [f"{r.get('resourceType')}/{r.get('id')}" if isinstance(r, dict) else "(no resource)" for r in resources]


def _links(bundle) -> list:
    links = bundle.get("link") if isinstance(bundle, dict) else None
    return links if isinstance(links, list) else []


def next_link(bundle: dict) -> str | None:
    for link in _links(bundle):
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


# --- paging --------------------------------------------------------------------------------------

@check("FHIR-SEARCH-PAGING")
def next_link_on_same_server(url: str, server_url: str, same_origin: bool) -> None:
    """FHIR R4 http §paging: next links lead to further pages of the same server (credentials go nowhere else)."""
    if not same_origin:
        raise Violation(f"a next link on {server_url}", f"{url} (not followed: credentials would leave the server; "
                        "if that is this server under another name, its links and --server-url disagree: run with "
                        "--server-url set to the name its links use)")


@check("FHIR-SEARCH-PAGING")
def page_answered(exchange: Exchange) -> None:
    """FHIR R4 http §paging: a next link, followed with the same credentials, answers the next page."""
    if exchange.status != 200 or not isinstance(exchange.json(), dict):
        raise Violation("200 OK with the next page", _status(exchange), exchange=exchange)


@check("FHIR-SEARCH-PAGING")
def each_match_found_once(found: list[str], expected: set[str]) -> None:
    """FHIR R4 http §paging: following next links visits every match exactly once."""
    repeated = sorted({i for i in found if found.count(i) > 1})
    missing = sorted(expected - set(found))
    if repeated or missing:
        raise Violation(f"each of {sorted(expected)} exactly once across the pages",
                        f"missing {missing}, repeated {repeated}")


@check("FHIR-SEARCH-REFERENCE")
def only_that_patients_matches(found: list[str], other_patients: set[str], first_page: dict | None) -> NotApplicable | None:
    """FHIR R4 search §reference: subject=Patient/x restricts matches to that patient."""
    if not found:
        return NotApplicable("the search found nothing to look at")
    strays = sorted(set(found) & other_patients)
    if strays:
        raise _filter_broken(first_page, "subject", "only the patient's own Observations", f"another patient's {strays}")


@check("SEED-SEARCH-CODE")
def only_coded_matches(found: list[str], other_codes: set[str], first_page: dict | None) -> NotApplicable | None:
    """Seed Step 3: the code filter excludes Observations with other codes."""
    if not found:
        return NotApplicable("the search found nothing to look at")
    strays = sorted(set(found) & other_codes)
    if strays:
        raise _filter_broken(first_page, "code", "only Observations coded 4548-4", f"also {strays}")


# --- refusals ------------------------------------------------------------------------------------

def _contains_any(exchange: Exchange, secrets: Iterable[str]) -> bool:
    """True when the status line, a header or the body shows any form of any of the secrets, or a piece of
    one FRAGMENT characters long (what redaction replaces: the one helper, SecretRegistry.shown_in)."""
    if exchange.response is None:
        return False
    response = exchange.response
    text = "\n".join([response.reason_phrase, *(f"{k}: {v}" for k, v in response.headers.items()), exchange.text])
    shown = SecretRegistry()
    shown.add(*secrets)
    return shown.shown_in(text)


def _expect_refusal(exchange: Exchange) -> None:
    if exchange.response is None:
        raise Violation("a refusal", _status(exchange), exchange=exchange)
    if 200 <= exchange.status < 300:
        raise Violation("a refusal (4xx)", f"{_status(exchange)}: the request was served", exchange=exchange)


@check("RFC7617-2-VALIDATE")
def request_not_served(exchange: Exchange) -> None:
    """RFC 7617 §2: the server services the request only if it can validate the user-id and password."""
    _expect_refusal(exchange)


@check("RFC4648-3.3-ALPHABET")
def non_base64_not_served(exchange: Exchange) -> None:
    """RFC 4648 §3.3: base64 with characters outside the alphabet is rejected, not decoded leniently."""
    _expect_refusal(exchange)


@check("RFC9110-11.4-SYNTAX")
def malformed_credentials_not_served(exchange: Exchange) -> None:
    """RFC 9110 §11.4: credentials are a scheme and one token68; a quoted value or trailing text is not."""
    _expect_refusal(exchange)


@check("SEED-BASIC-GRANT")
def grantless_client_not_served(exchange: Exchange) -> None:
    """Aidbox: a Client uses Basic auth only with "basic" in its grant_types."""
    _expect_refusal(exchange)


@check("SEED-POLICY-REQUIRED")
def no_data_without_policy(exchange: Exchange, resource_ids: Iterable[str]) -> None:
    """Aidbox: without an allowing AccessPolicy the request is denied. FHIR R4 security also allows an empty
    answer, so what must not happen is data being served."""
    if exchange.status is not None and 200 <= exchange.status < 300:
        body = exchange.json()
        served = [rid for rid in resource_ids if rid in exchange.text]
        if served or (isinstance(body, dict) and body.get("entry")):
            raise Violation("no data for a client no policy allows", f"{_status(exchange)} with resources",
                            exchange=exchange)


@check("NO-5XX-ON-BAD-INPUT")
def no_server_error(exchange: Exchange) -> None:
    """RFC 9110 §15.5/§15.6: bad client input is a client error (4xx), not a server error (5xx)."""
    if exchange.status is not None and exchange.status >= 500:
        raise Violation("a 4xx refusal", _status(exchange), exchange=exchange)


@check("RFC9110-11.4-401")
def refused_as_unauthenticated(exchange: Exchange) -> None:
    """RFC 9110 §11.4: missing or invalid credentials are answered 401 (Unauthorized)."""
    if exchange.status != 401:
        raise Violation("401 Unauthorized", _status(exchange), exchange=exchange)


_NO_401 = NotApplicable("the answer is not a 401, which alone carries a challenge")
_CHALLENGE_SCHEME = re.compile(r"(?:^|,)\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?=\s|$|,)")
_QUOTED_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')  # RFC 9110 §5.6.4


def challenge_schemes(header_values: list[str]) -> list[str]:
    """The auth-schemes named in WWW-Authenticate values, lower-cased (parameters are skipped, and so is
    anything inside a quoted parameter value: error_description="Basic auth failed" names no scheme)."""
    schemes = []
    for value in header_values:
        value = _QUOTED_STRING.sub('""', value)
        for match in _CHALLENGE_SCHEME.finditer(value):
            token = match.group(1)
            following = value[match.end():].lstrip()
            if not following.startswith("="):  # 'realm=...' is a parameter, not a scheme
                schemes.append(token.lower())
    return schemes


@check("RFC9110-11.6.1")
def challenges_at_all(exchange: Exchange) -> NotApplicable | None:
    """RFC 9110 §11.6.1: a server generating a 401 MUST send WWW-Authenticate with at least one challenge."""
    if exchange.status != 401:
        return _NO_401
    if not challenge_schemes(exchange.response.headers.get_list("www-authenticate")):
        raise Violation("WWW-Authenticate with at least one challenge", "no challenge", exchange=exchange)


def _request_scheme(exchange: Exchange) -> str | None:
    """The auth-scheme the request's Authorization header named, lower-cased; None without one."""
    value = next((v for name, v in exchange.request_headers.items() if name.lower() == "authorization"), "")
    scheme = value.strip().split(" ", 1)[0].lower()
    return scheme or None


@check("RFC9110-11.4-CHALLENGE")
def challenges_basic(exchange: Exchange) -> NotApplicable | None:
    """RFC 9110 §11.4: the 401's challenge is one applicable to the resource -- for this API, Basic; or the scheme
    the request itself used, where the server offers that too (a Bearer challenge to a Bearer request, RFC 6750
    §3)."""
    if exchange.status != 401:
        return _NO_401
    values = exchange.response.headers.get_list("www-authenticate")
    offered = challenge_schemes(values)
    if "basic" not in offered and _request_scheme(exchange) not in offered:
        raise Violation("a Basic challenge in WWW-Authenticate", repr(values) if values else "no WWW-Authenticate",
                        exchange=exchange)


@check("RFC9110-15.5.4-403")
def refused_as_forbidden(exchange: Exchange) -> None:
    """RFC 9110 §11.4, §15.5.4: valid credentials without permission are answered 403, not 401; a server
    hiding what exists may answer 404 instead (see forbidden_hidden_as_not_found)."""
    if exchange.status not in (403, 404):
        raise Violation("403 Forbidden (or 404, hiding the resource)", _status(exchange), exchange=exchange)


@check("RFC9110-15.5.4-404")
def forbidden_hidden_as_not_found(exchange: Exchange) -> None:
    """RFC 9110 §15.5.4: a server MAY answer 404 instead of 403 to hide a forbidden resource. Noted, so the
    report says which of the two allowed answers the server gave."""
    if exchange.status == 404:
        raise Violation("403 Forbidden", "404 Not Found: allowed, the server hides what the client may not see",
                        exchange=exchange)


@check("FHIR-OO-ON-ERROR")
def refusal_is_operation_outcome(exchange: Exchange) -> NotApplicable | None:
    """FHIR R4 http: an error answer carries an OperationOutcome, with a FHIR or JSON content type.
    A request that was served is not an error answer: the refusal checks say what is wrong with that."""
    if exchange.response is None or exchange.status < 400:
        return NotApplicable(f"no error answer to look at ({_status(exchange)})")
    body = exchange.json()
    if _media_type(exchange) not in FHIR_JSON_TYPES or body is None:
        raise Violation("an OperationOutcome (FHIR JSON)", f"content type {exchange.header('content-type')!r}",
                        exchange=exchange)
    if errors := schema_errors("operation-outcome", body):
        raise Violation("an OperationOutcome", "; ".join(errors[:5]), exchange=exchange)


def _sent_credentials(exchange: Exchange) -> list[str]:
    """What the request's Authorization header carried after its scheme (a Basic token, say): a server that
    echoes it back echoes the secret inside it."""
    values = [value for name, value in exchange.request_headers.items() if name.lower() == "authorization"]
    return [value.split(" ", 1)[-1].strip() for value in values if len(value.split(" ", 1)[-1].strip()) >= 8]


@check("NO-SECRET-IN-RESPONSE")
def secret_not_echoed(exchange: Exchange, secrets: Iterable[str]) -> NotApplicable | None:
    """No response repeats the secret that was sent (or the client's real one), or the credentials the
    Authorization header carried, in its status line, headers or body -- whole, or a piece of FRAGMENT
    characters or more (a server quoting the start of a secret it was given shows part of the real one
    when the secret sent was the real one with a character more or less)."""
    if exchange.response is None:
        return NotApplicable(f"no answer to look at ({_status(exchange)})")
    if _contains_any(exchange, [*secrets, *_sent_credentials(exchange)]):
        raise Violation("no trace of the secret in the response",
                        f"the secret, or a piece of {FRAGMENT} or more characters of it, in the response", exchange=exchange)


def _resources_within(body) -> list[str]:
    """Every resource a JSON body holds, at any depth (contained, entries, parameters), but OperationOutcomes
    and a Bundle with no entries, which carry no data. Bounded in depth and count: a hostile body stays cheap."""
    found, stack = [], [(body, 0)]
    while stack and len(found) < 20:
        node, depth = stack.pop()
        if depth > 64:
            continue
        if isinstance(node, dict):
            kind = node.get("resourceType")
            if isinstance(kind, str) and kind != "OperationOutcome" and not (kind == "Bundle" and not node.get("entry")):
                found.append(f"a {kind} resource" + (f" ({node['id']})" if isinstance(node.get("id"), str) else ""))
            stack += [(value, depth + 1) for value in node.values() if isinstance(value, (dict, list))]
        elif isinstance(node, list):
            stack += [(value, depth + 1) for value in node if isinstance(value, (dict, list))]
    return found


@check("NO-DATA-IN-REFUSAL")
def refusal_carries_no_data(exchange: Exchange, resource_ids: Iterable[str]) -> NotApplicable | None:
    """RFC 9110 §15.5.2/§15.5.4: a refused request was not applied, so its answer carries no resource data --
    no resource at any depth, no id of what the search found (but one the request's own URL named: a refusal may
    quote what was asked for). An answer that served the request is not a refusal: the check of why it must
    not be served reports it, at its own level."""
    if exchange.status is None or 200 <= exchange.status < 300:
        return NotApplicable(f"no refusal to look at ({_status(exchange)})")
    leaks = _resources_within(exchange.json())
    leaks += [f"id {rid}" for rid in resource_ids if rid and rid in exchange.text and rid not in exchange.url]
    if leaks:
        raise Violation("a refusal without resource data", ", ".join(dict.fromkeys(leaks)), exchange=exchange)


@check("FHIR-SEARCH-FAILURE-4XX")
def search_failed_with_client_error(exchange: Exchange) -> NotApplicable | None:
    """FHIR R4 http §search: a search that cannot be executed answers 4xx or 5xx -- not a redirect to a
    login page, which an API client cannot follow."""
    if exchange.status is None or 200 <= exchange.status < 300:
        return NotApplicable(f"the search was not refused ({_status(exchange)})")
    if exchange.status is not None and exchange.status < 400 and not 200 <= exchange.status < 300:
        raise Violation("a 4xx refusal", _status(exchange), exchange=exchange)


def _basic_challenges(exchange: Exchange) -> list[str]:
    """The Basic challenges of a 401, each as its text from the scheme to the next challenge or the end."""
    values = exchange.response.headers.get_list("www-authenticate") if exchange.response is not None else []
    challenges = []
    for value in values:
        blanked = _QUOTED_STRING.sub(lambda m: "\0" * len(m.group()), value)  # same offsets, no commas inside
        starts = [m.start(1) for m in _CHALLENGE_SCHEME.finditer(blanked)
                  if not blanked[m.end():].lstrip().startswith("=")]
        for start, end in zip(starts, starts[1:] + [len(value)]):
            if value[start:].lower().startswith("basic"):
                challenges.append(value[start:end])
    return challenges


_REALM_PARAMETER = re.compile(r"(?:^|[\s,])realm\s*=", re.IGNORECASE)


@check("RFC7617-2-REALM")
def basic_challenge_has_realm(exchange: Exchange) -> NotApplicable | None:
    """RFC 7617 §2: the Basic scheme's realm parameter is REQUIRED."""
    if exchange.status != 401:
        return _NO_401
    challenges = _basic_challenges(exchange)
    if not challenges:
        return NotApplicable("the 401 carries no Basic challenge to look for a realm in")
    missing = [challenge for challenge in challenges if not _REALM_PARAMETER.search(challenge[5:])]
    if missing:
        raise Violation('a Basic challenge with realm="..."', repr(missing), exchange=exchange)


# Request ids, trace ids and timestamps differ between any two answers: runs of hex with a digit, and long
# letter-and-digit tokens (a random trace id).
_VOLATILE_TOKEN = re.compile(r"\b(?=[0-9a-fA-F:.-]*\d)[0-9a-fA-F:.-]{6,}\b"
                             r"|\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}\b")


@check("NO-CLIENT-ENUMERATION")
def refusals_alike(unknown: Exchange, wrong: Exchange, unknown_id: str, known_id: str) -> None:
    """An unknown client id and a wrong secret are refused alike: no way to learn which ids exist."""
    def shape(exchange: Exchange, client_id: str):
        """What a client can tell refusals apart by: status, challenges (error_description and all) and body,
        with the client id and volatile tokens blanked out."""
        def blank(text: str) -> str:
            return _VOLATILE_TOKEN.sub("#", text.replace(client_id, "<client-id>"))

        body = exchange.json()
        if isinstance(body, dict):
            text = json.dumps({k: v for k, v in body.items() if k not in ("id", "meta")}, sort_keys=True)
        else:
            text = exchange.text
        challenges = [blank(v) for v in exchange.response.headers.get_list("www-authenticate")] if exchange.response else None
        return exchange.status, challenges, blank(text)

    unknown_shape, wrong_shape = shape(unknown, unknown_id), shape(wrong, known_id)
    if unknown_shape != wrong_shape:
        raise Violation("the same status, challenge and body for an unknown id and a wrong secret",
                        f"unknown id -> {unknown_shape[0]} {unknown_shape[2][:200]!r}; "
                        f"wrong secret -> {wrong_shape[0]} {wrong_shape[2][:200]!r}", exchange=unknown)


def refusal_checks(exchange: Exchange, *, sent_secrets: Iterable[str], resource_ids: Iterable[str],
                   not_served=request_not_served):
    """The checks every refusal of bad credentials answers to; `not_served` names the requirement that
    makes serving this request wrong."""
    return [
        (not_served, exchange),
        (search_failed_with_client_error, exchange),
        (no_server_error, exchange),
        (refused_as_unauthenticated, exchange),
        (challenges_at_all, exchange),
        (challenges_basic, exchange),
        (basic_challenge_has_realm, exchange),
        (refusal_is_operation_outcome, exchange),
        (secret_not_echoed, exchange, list(sent_secrets)),
        (refusal_carries_no_data, exchange, list(resource_ids)),
    ]
