"""HTTP exchanges with the server under test, recorded so failures can show what was sent and seen.

Every request goes through `HttpAgent.send`, which never follows redirects (a redirect to another
origin must never receive the client's credentials) and always has a timeout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from conformance.redaction import SecretRegistry

BODY_SHOWN = 2000  # characters of a body quoted in a failure message


@dataclass
class Exchange:
    """One request and the response to it (or the transport error instead of a response)."""

    method: str
    url: str
    request_headers: dict[str, str] = field(repr=False)  # carries Authorization: never in a repr
    request_body: str = field(repr=False)
    response: httpx.Response | None = field(repr=False)
    error: str | None = None

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
        except (json.JSONDecodeError, UnicodeDecodeError):
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
        try:
            exchange.response = self.client.request(method, url, headers=headers, content=content)
        except httpx.HTTPError as error:
            exchange.error = f"{type(error).__name__}: {error}"
        self.journal.append(exchange)
        return exchange

    def same_origin(self, url: str) -> bool:
        """Credentials go only to the server under test, never to a link pointing elsewhere."""
        return origin(url) == origin(self.server_url)


def build_http_client(timeout: float, verify, proxy: str | None) -> httpx.Client:
    """One connection pool per run; redirects are never followed automatically."""
    return httpx.Client(timeout=timeout, verify=verify, proxy=proxy, follow_redirects=False)
