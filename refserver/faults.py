"""Named fault modes: switches that make the reference server wrong in one specific way.

They exist so the suite's self-tests can show that each scenario fails against a server with
the fault it guards against. Each fault is applied by one small ``if enabled(...)`` branch at
the single place where the behaviour it names lives; the clean server runs none of them.
The names are a contract with the suite's verdict matrix: do not rename them.
"""

FAULTS: dict[str, str] = {
    "accept-any-secret": "any secret is accepted for a known client id",
    "accept-secret-prefix": "a non-empty prefix of the right secret is accepted (truncated comparison)",
    "ignore-secret-suffix": "only the first len(real secret) chars are compared: right secret + extra chars accepted",
    "secret-case-insensitive": "secrets compared case-insensitively",
    "accept-empty-secret": "an empty secret is accepted for a known client",
    "secret-last-char-ignored": "the secret's last character is not compared (a partial comparison)",
    "secret-truncated-at-72-bytes": "only the first 72 bytes of a secret count, as bcrypt hashes them",
    "accept-stored-hash": "the __sha256: form the admin API shows is accepted as the secret (pass-the-hash)",
    "basic-secret-url-decoded": "the FHIR API form-urldecodes the password of Basic credentials, as only the token endpoint may",
    "secret-whitespace-trimmed": "the secret given is stripped of surrounding whitespace before it is compared",
    "secret-ends-at-nul": "the secret given ends at its first NUL character (read as a C string)",
    "accept-any-clients-secret": "a known client id with ANY registered client's secret is accepted",
    "scheme-spelling-skips-secret": 'the secret is not checked when the scheme is spelled other than "Basic" (basic, BASIC)',
    "admin-secret-opens-any-client": "the admin client's secret is accepted for any client id",
    "ignore-grant-types": 'clients without "basic" in grant_types may use Basic auth',
    "ignore-access-policy": "every authenticated client is allowed (no 403 ever)",
    "no-www-authenticate": "401 responses lack WWW-Authenticate",
    "challenge-without-realm": 'the Basic challenge has no realm (WWW-Authenticate: Basic charset="UTF-8")',
    "unauthenticated-redirects-to-login": "bad or missing credentials on the FHIR API answer 302 to a login page",
    "crash-on-malformed-header": "an Authorization header that fails to parse answers 500 (garbage body)",
    "scheme-case-sensitive": 'only the exact scheme "Basic" is recognised ("basic"/"BASIC" refused)',
    "split-at-every-colon": "user-pass split at every colon: password = text between 1st and 2nd colon",
    "latin1-credentials": "credentials decoded as Latin-1 instead of UTF-8 (challenge still says UTF-8)",
    "stale-secret-after-rotation": "the previous secret keeps working after the secret is changed (a cache)",
    "deleted-client-accepted": "a deleted client still authenticates and is allowed (a cache)",
    "unauthenticated-as-403": "bad/missing credentials answer 403 instead of 401",
    "forbidden-as-401": "authenticated but not allowed answers 401 (with challenge) instead of 403",
    "echo-secret-in-error": "the 401 body diagnostics echo the decoded credentials (id:secret)",
    "echo-secret-prefix-in-error": "the 401 body diagnostics quote the first 16 characters of the secret received",
    "echo-authorization-in-header": "401 answers repeat the Authorization value received, unpadded, in X-Received-Authorization",
    "reveal-unknown-client": 'an unknown client id answers 404 "Client <id> not found" (wrong secret still 401)',
    "lenient-base64": "characters outside the base64 alphabet are skipped when decoding (validate=False)",
    "accept-quoted-header": "a header value wrapped in double quotes is unwrapped and accepted",
    "ignore-trailing-text": "text after the base64 token is ignored",
    "any-scheme-accepted": "any scheme (Bearer, Digest, ...) whose token decodes as id:secret is accepted",
    "anonymous-access": "a request without Authorization is served as if allowed",
    "read-unauthenticated": "reading a FHIR resource by id needs no credentials (only search is protected)",
    "post-search-unauthenticated": "FHIR search by POST (_search) needs no credentials",
    "refusal-names-matching-subjects": "the 401 of a search names the subjects (Patient/...) of what it would have found",
    "resources-in-refusal": "403 bodies include the search Bundle the client was refused (leaks data)",
    "refusal-not-operation-outcome": '401/403 bodies are {"error": "..."} JSON, not an OperationOutcome',
    "plain-secret-returned": "GET/PUT /Client answers show the plain secret",
    "ignore-count": "_count is ignored (all matches on one page)",
    "ignore-code-filter": "the code parameter is ignored",
    "ignore-patient-filter": "the subject/patient parameters are ignored",
    "wrong-bundle-type": 'searchset Bundles say type "search-set"',
    "missing-search-mode": "entries lack search.mode",
    "missing-full-url": "entries lack fullUrl",
    "relative-full-url": 'fullUrl is relative ("Observation/<id>")',
    "next-link-drops-params": "next links keep _count/_offset but drop the other search params",
    "missing-next-link": "no next link even when more matches exist",
    "wrong-content-type": "FHIR responses say content-type text/plain",
    # the SMART token endpoint and discovery (refserver/smart.py)
    "token-endpoint-accepts-any-secret": "the token endpoint issues a token for any secret of a known client",
    "token-invalid-client-as-400": "failed client authentication at the token endpoint answers 400 invalid_request, not 401 invalid_client",
    "token-missing-no-store": "token responses lack Cache-Control: no-store (and Pragma: no-cache)",
    "token-no-www-authenticate": "401 invalid_client answers of the token endpoint lack WWW-Authenticate",
    "token-failed-client-redirects": "failed client authentication at the token endpoint answers 302 to a login page",
    "token-ignores-grant-types": "clients without client_credentials in grant_types get tokens",
    "token-survives-client-deletion": "a token keeps working after its Client is deleted (or its secret replaced)",
    "token-raw-secret-in-basic": "the token endpoint does not form-urldecode the id and secret in Basic credentials",
    "token-accepts-header-and-body": "credentials in both the Authorization header and the body are accepted (the body ignored)",
    "token-any-grant-type": "any grant_type gets a client_credentials token (no unsupported_grant_type)",
    "token-without-expires-in": "token responses lack expires_in",
    "token-accepts-empty-secret": "the token endpoint accepts an empty secret for a known client",
    "token-secret-case-insensitive": "the token endpoint compares secrets case-insensitively",
    "token-accepts-secret-prefix": "the token endpoint accepts any non-empty prefix of the secret",
    "token-secret-last-char-ignored": "the token endpoint does not compare the secret's last character",
    "token-post-client-id-only": "a client_id in the body with no secret gets a token (taken for a public client)",
    "token-post-skips-secret": "client_secret in the body (client_secret_post) is not checked",
    "bearer-token-prefix-match": "a Bearer token is matched on its first 16 characters only (a tampered token works)",
    "token-unverified-signature": "access tokens are JWT-shaped (header.payload.signature) and any signature is accepted",
    "token-issues-refresh-token": "client_credentials token responses include a refresh_token",
    "fhir-refuses-bearer": "access tokens are not accepted as Bearer credentials on the FHIR API",
    "discovery-omits-client-secret-basic": "the SMART configuration lists client_secret_post only, though Basic works",
    "discovery-requires-credentials": "the SMART configuration answers 401 to a request without credentials",
}

# Faults that compare against (or show) the plain secret. Only when one of them is on does
# the store keep plain secrets at all; the clean server keeps salted digests only.
NEEDS_PLAIN_SECRET = frozenset(
    {"accept-secret-prefix", "ignore-secret-suffix", "secret-case-insensitive", "secret-last-char-ignored",
     "secret-truncated-at-72-bytes", "plain-secret-returned", "token-accepts-empty-secret",
     "token-secret-case-insensitive", "token-accepts-secret-prefix", "token-secret-last-char-ignored"}
)


def enabled(active: frozenset[str], name: str) -> bool:
    """Whether fault `name` is on. Raises KeyError on a misspelt name so a typo cannot
    silently disable a fault branch."""
    if name not in FAULTS:
        raise KeyError(f"unknown fault {name!r}")
    return name in active


def parse_names(names: list[str]) -> frozenset[str]:
    """Turn user-given fault names into the active set; ValueError names the unknown ones."""
    cleaned = {name.strip() for name in names if name.strip()}
    unknown = sorted(cleaned - FAULTS.keys())
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)}; valid: {', '.join(FAULTS)}")
    return frozenset(cleaned)


def keeps_plain_secrets(active: frozenset[str]) -> bool:
    """Whether the active faults need the store to remember plain secrets."""
    return bool(active & NEEDS_PLAIN_SECRET)
