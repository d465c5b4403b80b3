"""A token endpoint that requires a scope (RFC 6749 §3.3: a request without one may "fail ... indicating an
invalid scope"; SMART Backend Services requires one) does nothing wrong. The suite asks for no scope, so against
such a server every scenario that needs a token is skipped as not applicable, naming invalid_scope -- none fails.

The server here is the reference server with a thin ASGI layer in front that answers 400 invalid_scope to every
token request without a scope, served by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import parse_qs

import uvicorn
from starlette.responses import JSONResponse

from conformance.credentials import fresh_secret
from refserver.app import create_app
from refserver.config import ServerConfig
from refserver.smart import NO_STORE, TOKEN_PATH
from tests.suite_runner import run_suite

CONFIGURATION_SCENARIO = "test_smart::test_the_smart_configuration_is_served_without_credentials_and_names_the_token_endpoint"


def requiring_scope(app):
    """`app`, except that a token request whose form has no scope is refused as invalid_scope."""
    async def wrapped(scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != TOKEN_PATH:
            return await app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if "scope" not in parse_qs(body.decode("utf-8", "replace")):
            refusal = JSONResponse({"error": "invalid_scope", "error_description": "a scope is required"},
                                   status_code=400, headers=NO_STORE)
            return await refusal(scope, receive, send)

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}
        return await app(scope, replay, send)
    return wrapped


@contextmanager
def scope_requiring_server(admin_secret: str):
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as refserver: TCP_NODELAY
    listening.bind(("127.0.0.1", 0))
    app = requiring_scope(create_app(ServerConfig(admin_secret=admin_secret)))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield "http://127.0.0.1:%d" % listening.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        listening.close()


def test_a_server_requiring_a_scope_skips_the_token_scenarios_and_fails_none(tmp_path):
    admin_secret = fresh_secret()
    with scope_requiring_server(admin_secret) as url:
        run = run_suite(url, admin_secret, tmp_path)
    assert run.returncode == 0 and not run.with_outcome("failed"), run.output[-4000:]
    token = {name: outcome for name, outcome in run.outcomes.items()
             if name.startswith("test_smart::") and name != CONFIGURATION_SCENARIO}
    assert len(token) == 17 and set(token.values()) == {"skipped"}, token
    assert run.outcomes[CONFIGURATION_SCENARIO] == "passed"
    reasons = [line for line in run.output.splitlines() if line.startswith("SKIPPED")]
    scope_reasons = [line for line in reasons if "not applicable: the token endpoint answered invalid_scope" in line]
    assert scope_reasons and all("asks for no scope" in line for line in scope_reasons), reasons
