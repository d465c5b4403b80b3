"""SMART on FHIR for confidential clients with a secret: discovery, the token endpoint, Bearer tokens.

- ``GET /.well-known/smart-configuration`` (and under ``/fhir``, the FHIR base, where SMART App Launch
  puts it), public: the token endpoint, ``client_secret_basic``/``client_secret_post``, the
  ``client_credentials`` grant and the ``client-confidential-symmetric`` capability.
- ``POST /auth/token`` (Aidbox's path): ``grant_type=client_credentials`` for a Client whose
  ``grant_types`` include ``client_credentials``, authenticated with HTTP Basic (RFC 6749 §2.3.1: id and
  secret are form-urlencoded before base64, so they are form-urldecoded here) or with ``client_id`` and
  ``client_secret`` in the form body. Errors are RFC 6749 §5.2 JSON with ``Cache-Control: no-store``;
  failed client authentication is ``invalid_client``, 401 with a Basic challenge.
- Tokens are random, stored as digests with their expiry (SQLite, beside the server's own database) and
  accepted as ``Authorization: Bearer`` wherever Basic credentials are, under the same AccessPolicies.
  A token dies when it expires, and with the secret that obtained it: when its Client is deleted or
  given a new secret.

Fault modes for the verdict matrix sit here, each in one guarded branch, like the Basic ones in auth.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import faults as F
from .auth import Credentials, MalformedHeader, Principal, parse_authorization
from .outcomes import CHALLENGE, LOGIN_PAGE, unauthorized
from .store import Credential, Store

TOKEN_PATH = "/auth/token"
BEARER_PREFIX = 16  # what the bearer-token-prefix-match fault compares
WELL_KNOWN = "/.well-known/smart-configuration"
GRANT = "client_credentials"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_BODY = 64 * 1024

TOKEN_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_tokens (
    digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    salt TEXT NOT NULL,
    expires REAL NOT NULL
);
"""


class TokenError(Exception):
    """An RFC 6749 §5.2 error answer: its code, a description, and whether the Authorization header was used."""

    def __init__(self, error: str, description: str, header_used: bool = False):
        super().__init__(description)
        self.error = error
        self.description = description
        self.header_used = header_used


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    salt: str  # the salt of the secret that obtained it: a new or removed secret ends the token
    expires: float


class TokenStore:
    """Access tokens by sha256 digest (the token itself is never stored), in their own SQLite connection:
    the server's database file when it has one, otherwise an in-memory database of their own."""

    def __init__(self, path: str | None):
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self._db.executescript(TOKEN_SCHEMA)
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

    def add(self, token: str, issued: IssuedToken) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM access_tokens WHERE expires < ?", (time.time() - 3600,))
            self._db.execute("INSERT INTO access_tokens (digest, client_id, salt, expires) VALUES (?, ?, ?, ?)",
                             (self._digest(token), issued.client_id, issued.salt, issued.expires))

    def get(self, token: str) -> IssuedToken | None:
        with self._lock:
            row = self._db.execute("SELECT client_id, salt, expires FROM access_tokens WHERE digest = ?",
                                   (self._digest(token),)).fetchone()
        return IssuedToken(*row) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SmartEndpoints:
    """Discovery, the token endpoint and Bearer authentication for one RefServer."""

    def __init__(self, store: Store, config):
        self.store = store
        self.faults: frozenset[str] = config.faults
        self.ttl: int = config.token_ttl
        self.tokens = TokenStore(config.db_path)
        self.clock = time.time  # tests move time forward by replacing this
        self._dummy = Credential.for_secret(os.urandom(16).hex())

    def routes(self) -> list[Route]:
        """Before the FHIR routes: /fhir/.well-known/... would otherwise look like /fhir/{type}/{id}."""
        return [
            Route(WELL_KNOWN, self.configuration, methods=["GET"]),
            Route(f"/fhir{WELL_KNOWN}", self.configuration, methods=["GET"]),
            Route(TOKEN_PATH, self.token, methods=["POST"]),
        ]

    # --- discovery ------------------------------------------------------------------------

    async def configuration(self, request: Request) -> Response:
        """SMART App Launch §conformance: JSON, absolute endpoint URLs, no credentials needed."""
        if F.enabled(self.faults, "discovery-requires-credentials") and not request.headers.get("authorization"):
            return unauthorized(request)
        methods = ["client_secret_basic", "client_secret_post"]
        if F.enabled(self.faults, "discovery-omits-client-secret-basic"):
            methods.remove("client_secret_basic")
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "token_endpoint": base + TOKEN_PATH,
            "token_endpoint_auth_methods_supported": methods,
            "grant_types_supported": [GRANT],
            "capabilities": ["client-confidential-symmetric"],
        }, media_type="application/json")

    # --- the token endpoint -----------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        try:
            form = await _read_form(request)
            client_id = self._authenticate(request, form)
            self._check_grant(form, client_id)
        except TokenError as error:
            return self._error(error)
        return self._issue(client_id)

    def _authenticate(self, request: Request, form: dict[str, str]) -> str:
        """The client id, once its secret verified; RFC 6749 §2.3: one authentication method per request."""
        header_values = request.headers.getlist("authorization")
        if header_values:
            if "client_secret" in form and not F.enabled(self.faults, "token-accepts-header-and-body"):
                raise TokenError("invalid_request", "client credentials in both the Authorization header and the body")
            credentials = self._basic_credentials(header_values)
            return self._verify(credentials, header_used=True)
        if "client_secret" in form:
            if "client_id" not in form:
                raise TokenError("invalid_request", "client_secret without client_id")
            if F.enabled(self.faults, "token-post-skips-secret") and self.store.read("Client", form["client_id"]):
                return form["client_id"]
            return self._verify(Credentials(form["client_id"], form["client_secret"]), header_used=False)
        if F.enabled(self.faults, "token-post-client-id-only") and self.store.read("Client", form.get("client_id", "")):
            return form["client_id"]
        raise TokenError("invalid_client", "no client authentication included", header_used=False)

    def _basic_credentials(self, header_values: list[str]) -> Credentials:
        """RFC 6749 §2.3.1: base64 of form-urlencoded id ':' form-urlencoded secret (Basic, RFC 7617)."""
        try:
            parsed = parse_authorization(header_values)  # no FHIR-API faults: this endpoint parses on its own
        except MalformedHeader:
            raise TokenError("invalid_client", "client authentication failed", header_used=True) from None
        if F.enabled(self.faults, "token-raw-secret-in-basic"):
            return parsed
        return Credentials(unquote_plus(parsed.client_id), unquote_plus(parsed.secret))

    def _verify(self, credentials: Credentials, header_used: bool) -> str:
        """The same work (one digest) and the same invalid_client for an unknown id and a wrong secret."""
        failed = TokenError("invalid_client", "client authentication failed", header_used)
        client = self.store.read("Client", credentials.client_id)
        credential = self.store.credential(credentials.client_id) if client is not None else None
        matches = (credential or self._dummy).matches(credentials.secret)
        if F.enabled(self.faults, "token-endpoint-accepts-any-secret"):
            matches = True
        if credential is not None and credential.plain is not None:
            matches = matches or self._weakly_matches(credential.plain, credentials.secret)
        if client is None or credential is None or not matches:
            raise failed
        return credentials.client_id

    def _weakly_matches(self, real: str, given: str) -> bool:
        """The faulty comparisons of the token endpoint's secret-comparison faults (the plain secret is kept
        only while one of them is on)."""
        weak = {
            "token-accepts-empty-secret": given == "",
            "token-secret-case-insensitive": given.lower() == real.lower(),
            "token-accepts-secret-prefix": given != "" and real.startswith(given),
            "token-secret-last-char-ignored": len(given) == len(real) and given[:-1] == real[:-1],
        }
        return any(F.enabled(self.faults, name) and result for name, result in weak.items())

    def _check_grant(self, form: dict[str, str], client_id: str) -> None:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise TokenError("invalid_request", "grant_type is required")
        if grant_type != GRANT and not F.enabled(self.faults, "token-any-grant-type"):
            raise TokenError("unsupported_grant_type", f"only {GRANT} is supported")
        client = self.store.read("Client", client_id) or {}
        if GRANT not in (client.get("grant_types") or []) and not F.enabled(self.faults, "token-ignores-grant-types"):
            raise TokenError("unauthorized_client", f"the client may not use the {GRANT} grant")

    def _issue(self, client_id: str) -> Response:
        credential = self.store.credential(client_id)
        token = secrets.token_urlsafe(32)
        issued = IssuedToken(client_id, credential.salt if credential else "", self.clock() + self.ttl)
        if F.enabled(self.faults, "token-unverified-signature"):
            token = _jwt_shaped(client_id, issued.expires)
        self.tokens.add(self._unsigned_part(token), issued)
        if F.enabled(self.faults, "bearer-token-prefix-match"):
            self.tokens.add(token[:BEARER_PREFIX], issued)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl}
        if F.enabled(self.faults, "token-without-expires-in"):
            del body["expires_in"]
        if F.enabled(self.faults, "token-issues-refresh-token"):
            body["refresh_token"] = secrets.token_urlsafe(32)  # RFC 6749 §4.4.3: SHOULD NOT be included
        headers = {} if F.enabled(self.faults, "token-missing-no-store") else dict(NO_STORE)
        return JSONResponse(body, headers=headers, media_type="application/json")

    def _error(self, error: TokenError) -> Response:
        """RFC 6749 §5.2: 400 unless said otherwise; invalid_client is 401 with a challenge matching the
        scheme the client used (Basic) -- and for no credentials at all, the 401 names the scheme supported."""
        status, headers = 400, dict(NO_STORE)
        if error.error == "invalid_client" and F.enabled(self.faults, "token-failed-client-redirects"):
            return Response(status_code=302, headers={"Location": LOGIN_PAGE, **NO_STORE})
        if error.error == "invalid_client":
            status = 401
            if not F.enabled(self.faults, "token-no-www-authenticate"):
                headers["WWW-Authenticate"] = CHALLENGE
            if F.enabled(self.faults, "token-invalid-client-as-400"):
                error = TokenError("invalid_request", error.description)
                status, headers = 400, dict(NO_STORE)
        return JSONResponse({"error": error.error, "error_description": error.description}, status_code=status,
                            headers=headers, media_type="application/json")

    # --- Bearer tokens on the protected API --------------------------------------------------

    def _unsigned_part(self, token: str) -> str:
        """What identifies a token: all of it, or under the token-unverified-signature fault what comes before
        its last dot (a JWT's header and payload), so any signature is accepted."""
        if F.enabled(self.faults, "token-unverified-signature"):
            return token.rpartition(".")[0] or token
        return token

    def bearer_principal(self, header_values: list[str]) -> Principal | None:
        """The client a valid `Bearer <token>` stands for; None for anything else (Basic, an unknown or
        expired token, a token whose client or secret is gone), which then takes the Basic path and its 401."""
        if len(header_values) != 1 or F.enabled(self.faults, "fhir-refuses-bearer"):
            return None
        scheme, _, token = header_values[0].partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            return None
        issued = self.tokens.get(self._unsigned_part(token))
        if issued is None and F.enabled(self.faults, "bearer-token-prefix-match"):
            issued = self.tokens.get(token[:BEARER_PREFIX])
        if issued is None or self.clock() >= issued.expires:
            return None
        if not F.enabled(self.faults, "token-survives-client-deletion"):
            credential = self.store.credential(issued.client_id)
            if self.store.read("Client", issued.client_id) is None or credential is None or credential.salt != issued.salt:
                return None
        return Principal(issued.client_id)


def _jwt_shaped(client_id: str, expires: float) -> str:
    """header.payload.signature in base64url, as a server issuing JWT access tokens would (RFC 7515 compact form;
    the token-unverified-signature fault): a random jti in the payload, a random signature no one checks."""
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {"sub": client_id, "exp": int(expires), "jti": secrets.token_urlsafe(32)}
    parts = [json.dumps(part, separators=(",", ":")).encode() for part in (header, payload)] + [os.urandom(32)]
    return ".".join(base64.urlsafe_b64encode(part).decode("ascii").rstrip("=") for part in parts)


async def _read_form(request: Request) -> dict[str, str]:
    """The application/x-www-form-urlencoded body (RFC 6749 §4.4.2), as one value per name: a repeated
    parameter is an invalid_request (§3.2), an empty one counts as omitted."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise TokenError("invalid_request", "the body must be application/x-www-form-urlencoded")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise TokenError("invalid_request", "the body is too large")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise TokenError("invalid_request", "the body must be UTF-8 form-urlencoded") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise TokenError("invalid_request", f"parameter {name} repeated")
        if value != "":
            form[name] = value
    return form
