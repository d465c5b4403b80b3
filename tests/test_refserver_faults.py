"""Each fault mode changes the one behaviour it names, and the clean server does not have it.

Every probe sets up what it needs on a freshly provisioned server and returns True when it
observes the faulty behaviour; the test runs it against the clean server and the faulty one.
"""

import base64
from urllib.parse import quote_plus

import pytest

from refserver.config import ServerConfig
from refserver.faults import FAULTS, enabled, parse_names
from refserver.testing import basic, client, register_client

ADMIN_SECRET = "admin-secret"
ADMIN = basic("root", ADMIN_SECRET)
APP_SECRET = "s3cret-App"
APP = basic("app", APP_SECRET)
TOKEN = base64.b64encode(f"app:{APP_SECRET}".encode()).decode()
OBS = "/fhir/Observation"


def provision(http) -> None:
    """Clients of every kind, and five Observations: three 4548-4 for Patient/p1, two others."""
    register_client(http, ADMIN, "app", APP_SECRET)
    register_client(http, ADMIN, "other", "0ther-Secret")
    register_client(http, ADMIN, "no-basic", "nb-Secret", grant_types=("client_credentials",))
    register_client(http, ADMIN, "denied", "denied-Secret", allow=False)
    register_client(http, ADMIN, "colon", "pa:ss")
    register_client(http, ADMIN, "utf", "pässwörd")
    for code, patient in [("4548-4", "p1")] * 3 + [("718-7", "p2")] * 2:
        body = {"resourceType": "Observation", "code": {"coding": [{"code": code}]}, "subject": {"reference": f"Patient/{patient}"}}
        http.post(OBS, json=body, headers=ADMIN).raise_for_status()


def status(http, headers=None, path=OBS) -> int:
    return http.get(path, headers=headers or {}).status_code


def raw(value: str) -> dict:
    return {"Authorization": value}


def bundle(http, query: str) -> dict:
    return http.get(f"{OBS}?{query}", headers=APP).json()


def rotated_secret_still_works(http) -> bool:
    assert status(http, APP) == 200
    http.put("/Client/app", json={"secret": "n3w-Secret", "grant_types": ["basic"]}, headers=ADMIN).raise_for_status()
    return status(http, APP) == 200


def deleted_client_still_works(http) -> bool:
    assert status(http, APP) == 200
    http.delete("/Client/app", headers=ADMIN).raise_for_status()
    return status(http, APP) == 200


def refusal_leaks_resources(http) -> bool:
    response = http.get(OBS, headers=basic("denied", "denied-Secret"))
    return response.status_code == 403 and "Observation" in response.text


def next_link(http, query: str) -> str | None:
    return next((link["url"] for link in bundle(http, query)["link"] if link["relation"] == "next"), None)


def cc_client(http, client_id="cc", secret="cc-Secret", grant_types=("client_credentials",)) -> dict:
    """A client for the token endpoint; returns its Basic header (RFC 6749 §2.3.1: parts form-urlencoded)."""
    register_client(http, ADMIN, client_id, secret, grant_types=grant_types)
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def token_answer(http, headers, **form):
    return http.post("/auth/token", data={"grant_type": "client_credentials", **form}, headers=headers)


def token_of(http) -> str:
    return token_answer(http, cc_client(http)).json()["access_token"]


def token_survives_deletion(http) -> bool:
    token = token_of(http)
    http.delete("/Client/cc", headers=ADMIN).raise_for_status()
    return status(http, {"Authorization": f"Bearer {token}"}) == 200


def first_observation_id(http) -> str:
    return bundle(http, "code=4548-4")["entry"][0]["resource"]["id"]


def long_secret_truncated(http) -> bool:
    register_client(http, ADMIN, "long", "L" * 80)
    return status(http, basic("long", "L" * 72 + "Z" * 8)) == 200


def url_decoded_secret(http) -> bool:
    register_client(http, ADMIN, "plus", "a+b%2Bc")
    return status(http, basic("plus", "a+b%2Bc")) == 401


def stored_hash_accepted(http) -> bool:
    return status(http, basic("app", http.get("/Client/app", headers=ADMIN).json()["secret"])) == 200


def changed_token_works(http) -> bool:
    token = token_of(http)
    changed = token[:20] + ("B" if token[20] == "A" else "A") + token[21:]
    return status(http, {"Authorization": f"Bearer {changed}"}) == 200


def changed_signature_works(http) -> bool:
    """The token's last dot-separated part (a JWT's signature, or all of an opaque token) changed in its middle."""
    head, dot, signature = token_of(http).rpartition(".")
    middle = len(signature) // 2
    changed = signature[:middle] + ("1" if signature[middle] == "0" else "0") + signature[middle + 1:]
    return status(http, {"Authorization": f"Bearer {head}{dot}{changed}"}) == 200


def smart_configuration(http) -> dict:
    return http.get("/fhir/.well-known/smart-configuration").json()


PROBES = {
    "accept-any-secret": lambda h: status(h, basic("app", "wrong")) == 200,
    "accept-secret-prefix": lambda h: status(h, basic("app", APP_SECRET[:3])) == 200,
    "ignore-secret-suffix": lambda h: status(h, basic("app", APP_SECRET + "xyz")) == 200,
    "secret-case-insensitive": lambda h: status(h, basic("app", APP_SECRET.upper())) == 200,
    "accept-empty-secret": lambda h: status(h, basic("app", "")) == 200,
    "secret-whitespace-trimmed": lambda h: status(h, basic("app", APP_SECRET + " ")) == 200,
    "secret-ends-at-nul": lambda h: status(h, basic("app", APP_SECRET + "\0x")) == 200,
    "secret-last-char-ignored": lambda h: status(h, basic("app", APP_SECRET[:-1] + "X")) == 200,
    "secret-truncated-at-72-bytes": long_secret_truncated,
    "accept-stored-hash": stored_hash_accepted,
    "basic-secret-url-decoded": url_decoded_secret,
    "read-unauthenticated": lambda h: status(h, path=f"{OBS}/{first_observation_id(h)}") == 200,
    "post-search-unauthenticated": lambda h: h.post(f"{OBS}/_search", data={"code": "4548-4"}).status_code == 200,
    "refusal-names-matching-subjects": lambda h: "Patient/p1" in h.get(f"{OBS}?code=4548-4").text,
    "accept-any-clients-secret": lambda h: status(h, basic("app", "0ther-Secret")) == 200,
    "scheme-spelling-skips-secret": lambda h: status(h, raw("basic " + basic("app", "wrong")["Authorization"].split()[1])) == 200,
    "admin-secret-opens-any-client": lambda h: status(h, basic("app", ADMIN_SECRET)) == 200,
    "ignore-grant-types": lambda h: status(h, basic("no-basic", "nb-Secret")) == 200,
    "ignore-access-policy": lambda h: status(h, basic("denied", "denied-Secret")) == 200,
    "no-www-authenticate": lambda h: "www-authenticate" not in h.get(OBS).headers,
    "challenge-without-realm": lambda h: "realm=" not in h.get(OBS).headers.get("www-authenticate", "realm="),
    "unauthenticated-redirects-to-login": lambda h: status(h) == 302,
    "echo-authorization-in-header": lambda h: "x-received-authorization" in h.get(OBS, headers=basic("app", "wr0ng")).headers,
    "crash-on-malformed-header": lambda h: status(h, raw("Basic !!!")) == 500,
    "scheme-case-sensitive": lambda h: status(h, raw(f"basic {TOKEN}")) == 401,
    "split-at-every-colon": lambda h: status(h, basic("colon", "pa:ss")) == 401,
    "latin1-credentials": lambda h: status(h, basic("utf", "pässwörd")) == 401,
    "stale-secret-after-rotation": rotated_secret_still_works,
    "deleted-client-accepted": deleted_client_still_works,
    "unauthenticated-as-403": lambda h: status(h) == 403,
    "forbidden-as-401": lambda h: status(h, basic("denied", "denied-Secret")) == 401,
    "echo-secret-in-error": lambda h: "wr0ng-Guess" in h.get(OBS, headers=basic("app", "wr0ng-Guess")).text,
    "echo-secret-prefix-in-error": lambda h: "wr0ng-Guess-0123" in h.get(OBS, headers=basic("app", "wr0ng-Guess-0123456789")).text,
    "reveal-unknown-client": lambda h: status(h, basic("ghost", "x")) == 404,
    "lenient-base64": lambda h: status(h, raw(f"Basic {TOKEN[:4]}!{TOKEN[4:]}")) == 200,
    "accept-quoted-header": lambda h: status(h, raw(f'"Basic {TOKEN}"')) == 200,
    "ignore-trailing-text": lambda h: status(h, raw(f"Basic {TOKEN} trailing")) == 200,
    "any-scheme-accepted": lambda h: status(h, raw(f"Bearer {TOKEN}")) == 200,
    "anonymous-access": lambda h: status(h) == 200,
    "resources-in-refusal": refusal_leaks_resources,
    "refusal-not-operation-outcome": lambda h: h.get(OBS).json().get("resourceType") != "OperationOutcome",
    "plain-secret-returned": lambda h: h.get("/Client/app", headers=ADMIN).json()["secret"] == APP_SECRET,
    "ignore-count": lambda h: len(bundle(h, "_count=2")["entry"]) > 2,
    "ignore-code-filter": lambda h: bundle(h, "code=4548-4")["total"] != 3,
    "ignore-patient-filter": lambda h: bundle(h, "patient=p1")["total"] != 3,
    "wrong-bundle-type": lambda h: bundle(h, "")["type"] != "searchset",
    "missing-search-mode": lambda h: any("search" not in e for e in bundle(h, "")["entry"]),
    "missing-full-url": lambda h: any("fullUrl" not in e for e in bundle(h, "")["entry"]),
    "relative-full-url": lambda h: not bundle(h, "")["entry"][0].get("fullUrl", "http").startswith("http"),
    "next-link-drops-params": lambda h: "code=" not in next_link(h, "code=4548-4&_count=1"),
    "missing-next-link": lambda h: next_link(h, "_count=1") is None,
    "wrong-content-type": lambda h: h.get(OBS, headers=APP).headers["content-type"].startswith("text/plain"),
    "token-endpoint-accepts-any-secret": lambda h: token_answer(h, {**cc_client(h), **basic("cc", "wrong")}).status_code == 200,
    "token-invalid-client-as-400": lambda h: token_answer(h, basic("ghost", "x")).json()["error"] == "invalid_request",
    "token-missing-no-store": lambda h: "cache-control" not in token_answer(h, cc_client(h)).headers,
    "token-no-www-authenticate": lambda h: "www-authenticate" not in token_answer(h, basic("ghost", "x")).headers,
    "token-failed-client-redirects": lambda h: token_answer(h, basic("ghost", "x")).status_code == 302,
    "token-accepts-empty-secret": lambda h: token_answer(h, {**cc_client(h), **basic("cc", "")}).status_code == 200,
    "token-secret-case-insensitive": lambda h: token_answer(h, {**cc_client(h), **basic("cc", "CC-sECRET")}).status_code == 200,
    "token-accepts-secret-prefix": lambda h: token_answer(h, {**cc_client(h), **basic("cc", "cc-Secre")}).status_code == 200,
    "token-secret-last-char-ignored": lambda h: token_answer(h, {**cc_client(h), **basic("cc", "cc-SecreX")}).status_code == 200,
    "token-post-client-id-only": lambda h: cc_client(h) and token_answer(h, {}, client_id="cc").status_code == 200,
    "token-post-skips-secret": lambda h: cc_client(h) and token_answer(h, {}, client_id="cc", client_secret="x").status_code == 200,
    "bearer-token-prefix-match": changed_token_works,
    "token-unverified-signature": changed_signature_works,
    "token-issues-refresh-token": lambda h: "refresh_token" in token_answer(h, cc_client(h)).json(),
    "token-ignores-grant-types": lambda h: token_answer(h, cc_client(h, grant_types=("basic",))).status_code == 200,
    "token-survives-client-deletion": token_survives_deletion,
    "token-raw-secret-in-basic": lambda h: token_answer(h, cc_client(h, secret="a+b/c=d%e f")).status_code == 401,
    "token-accepts-header-and-body": lambda h: token_answer(h, cc_client(h), client_id="cc", client_secret="cc-Secret").status_code == 200,
    "token-any-grant-type": lambda h: token_answer(h, cc_client(h), grant_type="password").status_code == 200,
    "token-without-expires-in": lambda h: "expires_in" not in token_answer(h, cc_client(h)).json(),
    "fhir-refuses-bearer": lambda h: status(h, {"Authorization": f"Bearer {token_of(h)}"}) == 401,
    "discovery-omits-client-secret-basic": lambda h: "client_secret_basic" not in smart_configuration(h)["token_endpoint_auth_methods_supported"],
    "discovery-requires-credentials": lambda h: h.get("/fhir/.well-known/smart-configuration").status_code == 401,
}


def observe(faults: frozenset[str], probe) -> bool:
    with client(ServerConfig(admin_secret="admin-secret", faults=faults)) as http:
        provision(http)
        return probe(http)


@pytest.mark.parametrize("name", FAULTS)
def test_fault_changes_its_behaviour(name):
    probe = PROBES[name]
    assert not observe(frozenset(), probe), f"clean server shows {name}"
    assert observe(frozenset({name}), probe), f"{name} has no effect"


def test_every_fault_has_a_probe():
    assert set(PROBES) == set(FAULTS)


def test_fault_names_are_checked():
    assert parse_names(["ignore-count", " missing-next-link ", ""]) == {"ignore-count", "missing-next-link"}
    with pytest.raises(ValueError, match="no-such-fault"):
        parse_names(["no-such-fault"])
    with pytest.raises(KeyError):
        enabled(frozenset(), "misspelt-fault")
