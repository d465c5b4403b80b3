"""HTTP exchanges with the server under test, recorded so failures can show what was sent and seen.

Every request goes through `HttpAgent.send`, which never follows redirects (a redirect to another
origin must never receive the client's credentials), always has a timeout, reads at most MAX_BODY
bytes of an answer, and stops waiting on a server that has left several requests in a row unanswered
(DESIGN.md §5: a hung or garbage-answering server yields clear failures, never a hang).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from conformance.redaction import SecretRegistry

BODY_SHOWN = 2000  # characters of a body quoted in a failure message
MAX_BODY = 4 * 1024 * 1024  # bytes of an answer's body the suite reads; the suite's own answers are a few kB
UNANSWERED_IN_A_ROW = 3     # after this many requests in a row time out, the suite stops sending to the server
# A 429 whose Retry-After asks for at most this many seconds is waited out and the request sent again, at most
# THROTTLE_RETRIES times (RFC 6585 §4): a rate limit is the server pacing the run, not an answer to judge.
THROTTLE_WAIT_LIMIT_S = 5
THROTTLE_RETRIES = 3

# What an exchange was for, as the reports label it: the one a Then step judged, and the controls before it.
UNDER_TEST = "request under test"
POSITIVE_CONTROL = "positive control"  # the same request with the right credentials, which must succeed first
NEGATIVE_CONTROL = "negative control"  # a wrong secret, which must be refused before acceptance proves anything


@dataclass
class Exchange:
    """One request and the response to it (or the transport error instead of a response)."""

    method: str
    url: str
    request_headers: dict[str, str] = field(repr=False)  # carries Authorization: never in a repr
    request_body: str = field(repr=False)
    response: httpx.Response | None = field(repr=False)
    error: str | None = None
    role: str = ""  # UNDER_TEST, POSITIVE_CONTROL, NEGATIVE_CONTROL, or "" where the suite names none
    sent_at: float = field(default_factory=time.monotonic, repr=False)  # orders the client's and the admin's

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def text(self) -> str:
        return self.response.text if self.response is not None else ""

    def header(self, name: str) -> str | None:
        return self.response.headers.get(name) if self.response is not None else None

    def json(self):
        """The response body as JSON, or None when it is not JSON."""
        try:
            return self.response.json() if self.response is not None else None
        except (ValueError, UnicodeDecodeError, RecursionError):  # ValueError: bad JSON, or an int of 4,300+ digits
            return None

    def describe(self, redactor: SecretRegistry) -> str:
        """A redacted, curl-like account of the exchange, fit for a failure message or a report."""
        lines = [f"> {self.method} {self.url}"]
        lines += [f"> {name}: {value}" for name, value in self.request_headers.items()]
        # Bodies are redacted before they are cut: a secret cut in two would match no registered form.
        if self.request_body:
            lines.append(f"> {_trim(redactor.redact(self.request_body))}")
        if self.response is None:
            lines.append(f"< no response: {self.error}")
        else:
            lines.append(f"< {self.response.status_code} {self.response.reason_phrase}")
            lines += [f"< {name}: {value}" for name, value in self.response.headers.items()]
            if self.response.content:
                lines.append(f"< {_trim(redactor.redact(self.text))}")
        return redactor.redact("\n".join(lines))


def _trim(body: str) -> str:
    return body if len(body) <= BODY_SHOWN else body[:BODY_SHOWN] + f"... [{len(body) - BODY_SHOWN} more characters]"


def throttled_for(response: httpx.Response | None) -> float | None:
    """Seconds a 429 answer asks the client to wait (Retry-After in seconds; 1 when it names none or a date);
    None for any other answer."""
    if response is None or response.status_code != 429:
        return None
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else 1.0


def without_userinfo(url: str) -> str:
    """A URL as it may be printed: any user:password@ in it taken out."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


@dataclass
class HttpAgent:
    """Sends requests to one server for one scenario and keeps the exchanges it made."""

    client: httpx.Client
    server_url: str
    journal: list[Exchange] = field(default_factory=list)

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.server_url + path_or_url

    def resolve(self, link: str, page_url: str) -> str:
        """A link as the server gave it (absolute, or relative to the page it was on), made absolute."""
        return urljoin(page_url, link)

    def send(self, method: str, path_or_url: str, *, headers: dict[str, str] | None = None,
             json_body=None, form_body: str | None = None) -> Exchange:
        """Send one request; a transport failure becomes an Exchange without a response, not an exception.
        `form_body` is an application/x-www-form-urlencoded body, already encoded (token requests)."""
        url = self.url(path_or_url)
        headers = {"accept": "application/json", **(headers or {})}
        content = None
        if json_body is not None:
            content = json.dumps(json_body).encode("utf-8")
            headers.setdefault("content-type", "application/json")
        elif form_body is not None:
            content = form_body.encode("utf-8")
            headers.setdefault("content-type", "application/x-www-form-urlencoded")
        exchange = Exchange(method, url, headers, content.decode("utf-8") if content else "", None)
        for _attempt in range(THROTTLE_RETRIES + 1):
            exchange.response, exchange.error = receive(self.client, method, url, headers, content)
            wait = throttled_for(exchange.response)
            if wait is None or wait > THROTTLE_WAIT_LIMIT_S:
                break
            time.sleep(wait)
        self.journal.append(exchange)
        return exchange

    def same_origin(self, url: str) -> bool:
        """Credentials go only to the server under test, never to a link pointing elsewhere."""
        return origin(url) == origin(self.server_url)


class SuiteClient(httpx.Client):
    """The run's httpx client, remembering how many requests in a row the server left unanswered."""

    def __init__(self, timeout: float, **options):
        super().__init__(timeout=timeout, follow_redirects=False, **options)
        self.timeout_s = timeout
        self.unanswered_in_a_row = 0

    def give_another_chance(self) -> None:
        """Send again to a server that stopped answering (the cleanup at the end tries once more)."""
        self.unanswered_in_a_row = 0


def build_http_client(timeout: float, verify, proxy: str | None) -> SuiteClient:
    """One connection pool per run; redirects are never followed automatically.
    `verify`: True (system CAs), False (--insecure), or an ssl.SSLContext / CA file (--ca-bundle)."""
    return SuiteClient(timeout, verify=verify, proxy=proxy)


class _Abandoned(Exception):
    """The answer was not read to its end on purpose: too large, or still arriving past the timeout."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


def receive(client: httpx.Client, method: str, url: str, headers: dict[str, str],
            content: bytes | None) -> tuple[httpx.Response | None, str | None]:
    """Send one request and read its answer within the suite's limits: (response, None), or (None, why not).

    Every failure to get a usable answer -- refused connection, TLS, timeout, a connection closed
    mid-answer, a body past MAX_BODY, a body still trickling in past the timeout -- comes back as a
    sentence naming the problem, never as an exception."""
    timeout = getattr(client, "timeout_s", None) or client.timeout.read or 10.0
    unanswered = getattr(client, "unanswered_in_a_row", 0)
    if unanswered >= UNANSWERED_IN_A_ROW:
        return None, (f"not sent: the server left the last {unanswered} requests unanswered within "
                      f"--http-timeout ({timeout:g} s), so the suite stopped waiting on it")
    try:
        request = client.build_request(method, url, headers=headers, content=content)
        response = client.send(request, stream=True)
        try:
            response._content = _read_within_limits(response, time.monotonic() + timeout, timeout)  # what Response.read() sets
        finally:
            response.close()
    except _Abandoned as abandoned:
        _note_answer(client, answered=not abandoned.timed_out)
        return None, str(abandoned)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        _note_answer(client, answered=not isinstance(error, httpx.TimeoutException))
        return None, explain_transport_error(error, timeout)
    _note_answer(client, answered=True)
    return response, None


def _note_answer(client, answered: bool) -> None:
    if hasattr(client, "unanswered_in_a_row"):
        client.unanswered_in_a_row = 0 if answered else client.unanswered_in_a_row + 1


def _read_within_limits(response: httpx.Response, deadline: float, timeout: float) -> bytes:
    status = f"{response.status_code} {response.reason_phrase}".strip()
    declared = response.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > MAX_BODY:
        raise _Abandoned(f"the server answered {status} with a body of {int(declared):,} bytes (Content-Length), "
                         f"more than the {_megabytes(MAX_BODY)} the suite reads; the body was not read")
    chunks, size = [], 0
    for chunk in response.iter_bytes():  # decoded: a small compressed body cannot expand past the limit either
        size += len(chunk)
        if size > MAX_BODY:
            raise _Abandoned(f"the server answered {status} with a body of more than {_megabytes(MAX_BODY)}, "
                             f"the most the suite reads; it stopped reading after {size:,} bytes")
        if time.monotonic() > deadline:
            raise _Abandoned(f"the server answered {status} but its body was still arriving after --http-timeout "
                             f"({timeout:g} s), {size:,} bytes in; the suite stopped waiting", timed_out=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


NOT_CONNECTED = ("could not connect to the server", "the server's TLS certificate could not be verified",
                 "the proxy did not pass the request on", "the URL cannot be requested")


def never_connected(error: str | None) -> bool:
    """True when the error says no connection to the server was made at all (wrong URL or port, TLS not
    verified, proxy failing): a matter of the run's settings rather than of how the server behaves."""
    return bool(error) and error.startswith(NOT_CONNECTED)


def explain_transport_error(error: Exception, timeout: float) -> str:
    """A sentence a server operator can act on, with httpx's own words after it."""
    detail = f"{type(error).__name__}: {error}"
    text = str(error)
    if isinstance(error, httpx.TimeoutException):
        return f"no answer within --http-timeout ({timeout:g} s) ({detail})"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (f"the server's TLS certificate could not be verified ({detail}); if you trust it, give its CA "
                "with --ca-bundle=FILE, or --insecure to skip verification")
    if isinstance(error, httpx.ProxyError):
        return f"the proxy did not pass the request on ({detail})"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"the server broke off or garbled the HTTP answer, e.g. closed the connection mid-answer ({detail})"
    if isinstance(error, httpx.ConnectError):
        return f"could not connect to the server ({detail})"
    if isinstance(error, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return f"the URL cannot be requested ({detail})"
    if isinstance(error, httpx.DecodingError):
        return f"the answer's body could not be decoded as its Content-Encoding says ({detail})"
    return detail
