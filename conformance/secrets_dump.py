"""For the suite's own no-secrets self-test only: with CONFORMANCE_SECRETS_DUMP=<file> set, every
credential the run actually sends, and every secret the admin API shows, is appended to that file, one
JSON string per line.

What is recorded is taken from the wire -- each request's Authorization value, its token, the
user-pass it decodes to and the password part, any "secret" in a request body, and any "secret" in an
answer of the admin API (/Client...: Aidbox shows a `__sha256:` form there, which a scenario sends as
a password) -- not from the redactor's registry, so the self-test that searches every output for these
values also catches a secret the redactor was never told about. Without the variable nothing is
recorded or written.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading

import httpx
import pytest

DUMP_ENV = "CONFORMANCE_SECRETS_DUMP"
MIN_LENGTH = 8  # shorter values ("Basic", an empty secret) are not secrets worth searching for
_BASE64_CHARS = re.compile(r"[^A-Za-z0-9+/=]")


def credential_values(authorization: str) -> set[str]:
    """The secret-bearing parts of one Authorization value, however malformed it is: each token, the
    user-pass it decodes to and the password in it. A user-pass with an empty password carries no
    secret (only the client id), so neither it nor its token is recorded."""
    found: set[str] = set()
    for part in authorization.strip().strip('"').split():
        part = part.strip('"')
        try:
            decoded = base64.b64decode(_BASE64_CHARS.sub("", part) + "==", validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            decoded = ""
        if ":" in decoded:
            password = decoded.split(":", 1)[1]
            if password:
                found |= {part, decoded, password}
        elif decoded:
            found |= {part, decoded}  # e.g. base64 of id and secret with no colon between them
        else:
            found.add(part)
    if any(part in authorization for part in found if len(part) >= MIN_LENGTH):
        found.add(authorization)
    return {value for value in found if len(value) >= MIN_LENGTH}


def body_secrets(body: bytes) -> set[str]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return set()
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "secret" and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return {value for value in found if len(value) >= MIN_LENGTH}


class SecretsDump:
    def __init__(self, path: str):
        self.path = path
        self.seen: set[str] = set()
        self.lock = threading.Lock()  # the admin's requests go a few at a time

    def on_request(self, request: httpx.Request) -> None:
        values: set[str] = set()
        for name in ("authorization", "proxy-authorization"):
            for value in request.headers.get_list(name):
                values |= credential_values(value)
        if request.content:
            values |= body_secrets(request.content)
        self._record(values)

    def on_response(self, response: httpx.Response) -> None:
        """An answer of the admin API is read here, before the suite reads it (it then reads what was read)."""
        if "/Client" in response.request.url.path:
            self._record(body_secrets(response.read()))

    def _record(self, values: set[str]) -> None:
        with self.lock:
            new = values - self.seen
            if new:
                self.seen |= new
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.writelines(json.dumps(value) + "\n" for value in sorted(new))


@pytest.fixture(scope="session", autouse=True)
def _dump_sent_secrets(request):
    """Only when CONFORMANCE_SECRETS_DUMP is set: listen to the run's HTTP client."""
    path = os.environ.get(DUMP_ENV)
    if not path:
        return
    client: httpx.Client = request.getfixturevalue("http_client")
    dump = SecretsDump(path)
    client.event_hooks["request"].append(dump.on_request)
    client.event_hooks["response"].append(dump.on_response)


def read_dump(path) -> set[str]:
    """The values a run dumped (for the self-test)."""
    with open(path, encoding="utf-8") as handle:
        return {json.loads(line) for line in handle if line.strip()}
