"""Building token requests and reading SMART configurations (RFC 6749, SMART App Launch), for the steps of
features/smart/. Credential builders only: what is right or wrong about an answer is in token_checks.py."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlencode, urljoin

from conformance.credentials import fresh_secret

WELL_KNOWN = "/.well-known/smart-configuration"
CLIENT_CREDENTIALS = "client_credentials"
SYMMETRIC_CAPABILITY = "client-confidential-symmetric"
BASIC_METHOD = "client_secret_basic"
POST_METHOD = "client_secret_post"
UNOFFERED_GRANT = "urn:example:conformance:no-such-grant"  # RFC 6749 §4.5: extension grants are absolute URIs
RESERVED_SECRET_SHAPE = "{a}+/=%41:% ñ日 {b}"  # every character RFC 6749 §2.3.1's form-urlencoding changes
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")  # RFC 7515 compact: header.payload.signature
# A changed character stays in its class (a hex letter stays a hex letter) and never becomes the same letter in
# the other case, which a server reading hex or a UUID case-insensitively would take for the same token.
CHARACTER_CLASSES = ("0123456789", "abcdef", "ghijklmnopqrstuvwxyz", "ABCDEF", "GHIJKLMNOPQRSTUVWXYZ")


def form_encoded_pair(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: id and secret each encoded with application/x-www-form-urlencoded (Appendix B)."""
    return f"{quote_plus(client_id)}:{quote_plus(secret)}"


def token_basic_token(client_id: str, secret: str) -> str:
    """The token68 of a token endpoint's Basic credentials: base64 of the form-encoded pair, as UTF-8."""
    return base64.b64encode(form_encoded_pair(client_id, secret).encode("utf-8")).decode("ascii")


def token_basic_header(client_id: str, secret: str) -> str:
    return f"Basic {token_basic_token(client_id, secret)}"


def token_request_body(grant_type: str | None = CLIENT_CREDENTIALS, **parameters: str) -> str:
    """An application/x-www-form-urlencoded token request body (RFC 6749 §4.4.2)."""
    fields = ({"grant_type": grant_type} if grant_type is not None else {}) | parameters
    return urlencode(fields)


def _other_in_class(character: str) -> str | None:
    """The next character of the same class, or None for a character of none (-, _, +, /, ...)."""
    for characters in CHARACTER_CLASSES:
        if character in characters:
            return characters[(characters.index(character) + 1) % len(characters)]
    return None


def changed_in_one_character(token: str) -> str:
    """The token with one letter or digit replaced, as near the middle of the part that must be verified as
    possible: for a JWT-shaped token (three base64url segments), the signature, so a server that never checks
    signatures is caught; for any other token, the whole of it. In the middle, because every base64 character
    there carries six bits, so the change survives any decoding (the last one may carry only padding bits)."""
    start = token.rindex(".") + 1 if JWT_SHAPE.fullmatch(token) else 0
    middle = start + (len(token) - start) // 2
    for index in sorted(range(start, len(token)), key=lambda i: abs(i - middle)):
        if (replacement := _other_in_class(token[index])) is not None:
            return token[:index] + replacement + token[index + 1:]
    return token + "A"


def reserved_secret() -> str:
    """A fresh secret holding + / = % : space and non-ASCII characters."""
    return RESERVED_SECRET_SHAPE.format(a=fresh_secret(12), b=fresh_secret(12))


@dataclass(frozen=True)
class TokenEndpoint:
    """Where the SMART configuration says tokens are issued, and the configuration itself."""

    url: str
    configuration: dict
    answer: object = field(default=None, repr=False, compare=False)  # the Exchange that served the configuration


def endpoint_url(configuration: dict, fhir_base_url: str) -> str | None:
    """The token endpoint as an absolute URL (SMART: clients resolve a relative one against the FHIR base)."""
    value = configuration.get("token_endpoint")
    if not isinstance(value, str) or not value.strip():
        return None
    return urljoin(fhir_base_url.rstrip("/") + "/", value.strip())


def _listed(configuration: dict, field: str) -> list | None:
    value = configuration.get(field)
    return value if isinstance(value, list) else None


def not_advertised(configuration: dict) -> str | None:
    """Why the token endpoint scenarios do not apply to this server, or None when they do: the configuration
    must name a token endpoint and the client-confidential-symmetric capability, and where it lists auth
    methods or grant types, client_secret_basic and client_credentials among them."""
    if not isinstance(configuration.get("token_endpoint"), str):
        return "the SMART configuration names no token endpoint"
    if SYMMETRIC_CAPABILITY not in (_listed(configuration, "capabilities") or []):
        return f"the SMART configuration does not list the {SYMMETRIC_CAPABILITY} capability"
    methods = _listed(configuration, "token_endpoint_auth_methods_supported")
    if methods is not None and BASIC_METHOD not in methods:
        return f"the SMART configuration does not list {BASIC_METHOD} among its token endpoint auth methods"
    grants = _listed(configuration, "grant_types_supported")
    if grants is not None and CLIENT_CREDENTIALS not in grants:
        return f"the SMART configuration does not list the {CLIENT_CREDENTIALS} grant type"
    return None


def post_not_advertised(configuration: dict) -> str | None:
    """Why a request with the secret in both the header and the body proves nothing here, or None: only a server
    that takes client_secret in the body (client_secret_post, listed in the configuration) sees two methods in it.
    Any other server may take client_secret for an unrecognised parameter, which RFC 6749 §3.2 says it MUST ignore."""
    methods = _listed(configuration, "token_endpoint_auth_methods_supported")
    if methods is not None and POST_METHOD in methods:
        return None
    listed = "lists no token_endpoint_auth_methods_supported" if methods is None else f"lists {methods}"
    return (f"the SMART configuration does not list {POST_METHOD} among token_endpoint_auth_methods_supported "
            f"(it {listed}), so the token endpoint may take client_secret in the body for an unrecognised "
            "parameter, which RFC 6749 §3.2 says it MUST ignore, and a token for the header alone is allowed")
