"""HTTP Basic authentication (RFC 7617 / RFC 9110 §11): parsing the header, verifying the secret.

Every way of failing ends in the same `Refused`, which the app turns into one identical 401,
so a client cannot tell a malformed header from an unknown id or a wrong secret. Fault modes
that loosen parsing or comparison sit here, each at the step it corrupts.
"""

import base64
import hashlib
import math
import os
import re
import time
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from . import faults as F
from .store import Credential, Store

# RFC 9110 §11.4 credentials restricted to one token: scheme, spaces, token, nothing after.
HEADER = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) +(\S+)")
HEADER_IGNORING_TRAILING_TEXT = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) +(\S+)(?:\s.*)?")

# The real comparison is salted and constant-time; these faulty ones need the plain secret.
PLAIN_TEXT_COMPARISONS = {
    "accept-secret-prefix": lambda real, given: given != "" and real.startswith(given),
    "ignore-secret-suffix": lambda real, given: given[: len(real)] == real,
    "secret-case-insensitive": lambda real, given: given.lower() == real.lower(),
    "secret-last-char-ignored": lambda real, given: len(given) == len(real) and given[:-1] == real[:-1],
    "secret-truncated-at-72-bytes": lambda real, given: given.encode()[:72] == real.encode()[:72],
}


@dataclass(frozen=True)
class Credentials:
    """What a request claims: a client id and a secret (never logged or echoed, bar a fault)."""

    client_id: str
    secret: str = field(default="", repr=False)
    scheme: str = field(default="Basic", compare=False)  # as spelled; only the scheme-spelling-skips-secret fault looks


@dataclass(frozen=True)
class Principal:
    """Who a request is made by; policy_exempt for the admin client (and the anonymous fault)."""

    client_id: str
    policy_exempt: bool = False


class Refused(Exception):
    """Authentication failed. `credentials` is kept only for the echo-secret-in-error fault."""

    def __init__(self, credentials: Credentials | None = None):
        super().__init__("authentication failed")
        self.credentials = credentials


class LockedOut(Exception):
    """Too many failed logins of this client id lately: answered 429 (RFC 6585 §4) until the window passes."""

    def __init__(self, retry_after: int):
        super().__init__("too many failed logins")
        self.retry_after = retry_after


class Lockout:
    """Brute-force protection, off unless configured: after `limit` failures of a client id within `window`
    seconds, every request as that id is refused with 429 until the oldest of them is `window` old."""

    def __init__(self, limit: int, window: float = 60.0, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, list[float]] = {}

    def check(self, client_id: str) -> None:
        recent = self._recent(client_id)
        if self.limit and len(recent) >= self.limit:
            raise LockedOut(max(1, math.ceil(recent[0] + self.window - self.clock())))

    def failed(self, client_id: str) -> None:
        if self.limit:
            self._failures[client_id] = [*self._recent(client_id), self.clock()]

    def _recent(self, client_id: str) -> list[float]:
        now = self.clock()
        return [at for at in self._failures.get(client_id, []) if now - at < self.window]


class MalformedHeader(Refused):
    """The Authorization header could not be parsed as Basic credentials."""


class UnknownClientRevealed(Exception):
    """Raised only under the reveal-unknown-client fault: the id is not registered."""

    def __init__(self, client_id: str):
        super().__init__(f"Client {client_id} not found")
        self.client_id = client_id


def parse_authorization(values: list[str], faults: frozenset[str] = frozenset()) -> Credentials | None:
    """Credentials from the Authorization header values; None when there is no header.

    Raises MalformedHeader for anything but exactly one `Basic <base64(id:secret)>` value.
    """
    if not values:
        return None
    if len(values) > 1:
        raise MalformedHeader()
    value = values[0]
    if F.enabled(faults, "accept-quoted-header") and len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    pattern = HEADER_IGNORING_TRAILING_TEXT if F.enabled(faults, "ignore-trailing-text") else HEADER
    match = pattern.fullmatch(value)
    if not match:
        raise MalformedHeader()
    scheme, token = match.groups()
    if not _scheme_accepted(scheme, faults):
        raise MalformedHeader()
    credentials = _split_user_pass(_decode_text(_decode_token(token, faults), faults), faults)
    return Credentials(credentials.client_id, credentials.secret, scheme)


def _scheme_accepted(scheme: str, faults: frozenset[str]) -> bool:
    """Auth schemes are case-insensitive (RFC 9110 §11.1)."""
    if F.enabled(faults, "any-scheme-accepted"):
        return True
    if F.enabled(faults, "scheme-case-sensitive"):
        return scheme == "Basic"
    return scheme.lower() == "basic"


def _decode_token(token: str, faults: frozenset[str]) -> bytes:
    """Strict base64: standard alphabet, padding required, nothing skipped."""
    try:
        return base64.b64decode(token, validate=not F.enabled(faults, "lenient-base64"))
    except ValueError as error:  # binascii.Error, or non-ASCII text
        raise MalformedHeader() from error


def _decode_text(raw: bytes, faults: frozenset[str]) -> str:
    """UTF-8, as announced by charset="UTF-8" in the challenge (RFC 7617 §2.1)."""
    if F.enabled(faults, "latin1-credentials"):
        return raw.decode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedHeader() from error


def _split_user_pass(text: str, faults: frozenset[str]) -> Credentials:
    """The user-id ends at the FIRST colon; the password may contain colons (RFC 7617 §2)."""
    client_id, colon, secret = text.partition(":")
    if F.enabled(faults, "basic-secret-url-decoded"):
        secret = unquote_plus(secret)
    if F.enabled(faults, "split-at-every-colon"):
        secret = secret.split(":")[0]
    if not colon or not client_id:
        raise MalformedHeader()
    return Credentials(client_id, secret)


class Authenticator:
    """Turns Authorization header values into a Principal, or raises Refused."""

    def __init__(self, store: Store, admin_client_id: str, admin_secret: str, faults: frozenset[str],
                 lockout_after: int = 0):
        self._store = store
        self._lockout = Lockout(lockout_after)
        self._faults = faults
        self._admin_id = admin_client_id
        self._admin = Credential.for_secret(admin_secret, keep_plain=F.keeps_plain_secrets(faults))
        self._dummy = Credential.for_secret(os.urandom(16).hex())
        # Credentials that verified once. The clean server never consults this; the
        # stale-secret and deleted-client faults model a cache nobody invalidates.
        self._cache_salt = os.urandom(16)
        self._verified: set[tuple[str, str]] = set()

    def authenticate(self, header_values: list[str]) -> Principal:
        credentials = parse_authorization(header_values, self._faults)
        if credentials is None:
            if F.enabled(self._faults, "anonymous-access"):
                return Principal("anonymous", policy_exempt=True)
            raise Refused()
        self._lockout.check(credentials.client_id)
        try:
            if credentials.client_id == self._admin_id:
                return self._verify_admin(credentials)
            return self._verify_client(credentials)
        except Refused:
            self._lockout.failed(credentials.client_id)
            raise

    def _fingerprint(self, credentials: Credentials) -> tuple[str, str]:
        """How the verified-credentials cache remembers a pair without holding the secret."""
        secret = credentials.secret.encode("utf-8", "surrogatepass")
        return credentials.client_id, hashlib.sha256(self._cache_salt + secret).hexdigest()

    def _verify_admin(self, credentials: Credentials) -> Principal:
        if not self._secret_accepted(credentials, self._admin):
            raise Refused(credentials)
        return Principal(credentials.client_id, policy_exempt=True)

    def _verify_client(self, credentials: Credentials) -> Principal:
        """Same work (one digest) and the same Refused for every failure, known id or not."""
        client = self._store.read("Client", credentials.client_id)
        if client is None:
            return self._verify_unknown(credentials)
        credential = self._store.credential(credentials.client_id)
        accepted = self._secret_accepted(credentials, credential or self._dummy) and credential is not None
        if F.enabled(self._faults, "stale-secret-after-rotation"):
            accepted = accepted or self._fingerprint(credentials) in self._verified
        grant_types = client.get("grant_types") or []
        if "basic" not in grant_types and not F.enabled(self._faults, "ignore-grant-types"):
            accepted = False
        if not accepted:
            raise Refused(credentials)
        self._verified.add(self._fingerprint(credentials))
        return Principal(credentials.client_id)

    def _verify_unknown(self, credentials: Credentials) -> Principal:
        self._dummy.matches(credentials.secret)  # spend the time a real comparison takes
        if F.enabled(self._faults, "deleted-client-accepted"):
            if self._fingerprint(credentials) in self._verified:
                return Principal(credentials.client_id)
        if F.enabled(self._faults, "reveal-unknown-client"):
            raise UnknownClientRevealed(credentials.client_id)
        raise Refused(credentials)

    def _secret_accepted(self, credentials: Credentials, credential: Credential) -> bool:
        """The full-length salted comparison, or whichever weaker one a fault substitutes."""
        given = credentials.secret
        if F.enabled(self._faults, "secret-whitespace-trimmed"):
            given = given.strip()
        if F.enabled(self._faults, "secret-ends-at-nul"):
            given = given.split("\0", 1)[0]
        if F.enabled(self._faults, "accept-any-secret"):
            return True
        if F.enabled(self._faults, "scheme-spelling-skips-secret") and credentials.scheme != "Basic":
            return True
        if F.enabled(self._faults, "admin-secret-opens-any-client") and self._admin.matches(given):
            return True
        if F.enabled(self._faults, "accept-empty-secret") and given == "":
            return True
        if F.enabled(self._faults, "accept-stored-hash") and given == credential.masked:
            return True
        if F.enabled(self._faults, "accept-any-clients-secret"):
            if any(other.matches(given) for other in self._store.credentials()):
                return True
        for name, compare in PLAIN_TEXT_COMPARISONS.items():
            if F.enabled(self._faults, name) and credential.plain is not None and compare(credential.plain, given):
                return True
        return credential.matches(given)
