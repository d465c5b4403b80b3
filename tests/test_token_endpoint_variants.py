"""Token endpoints that differ from the reference server in ways the texts allow are not failed: the scenarios
that do not apply to them are skipped as not applicable, saying why, and none fails.

- One requires a scope (RFC 6749 §3.3: a request without one may "fail ... indicating an invalid scope"; SMART
  Backend Services requires one). The suite asks for no scope, so every scenario that needs a token is skipped.
- One supports client_secret_basic only and ignores client_secret in the body as an unrecognised parameter
  (RFC 6749 §3.2: "The authorization server MUST ignore unrecognized request parameters"), so a request with the
  secret in both the header and the body gets a token: that scenario is skipped.

Each server is the reference server with a thin ASGI layer in front, served by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse

from conformance.credentials import fresh_secret
from refserver.app import create_app
from refserver.config import ServerConfig
from refserver.smart import NO_STORE, TOKEN_PATH, WELL_KNOWN
from tests.suite_runner import run_suite

CONFIGURATION_SCENARIO = "test_smart::test_the_smart_configuration_is_served_without_credentials_and_names_the_token_endpoint"
BOTH_METHODS_SCENARIO = "test_smart::test_a_token_request_with_the_secret_in_both_the_header_and_the_body_is_refused_as_malformed"


async def _body(receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    return body


def _replaying(body: bytes):
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


def _is_token_request(scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == TOKEN_PATH


def requiring_scope(app):
    """`app`, except that a token request whose form has no scope is refused as invalid_scope."""
    async def wrapped(scope, receive, send):
        if not _is_token_request(scope):
            return await app(scope, receive, send)
        body = await _body(receive)
        if "scope" not in dict(parse_qsl(body.decode("utf-8", "replace"))):
            refusal = JSONResponse({"error": "invalid_scope", "error_description": "a scope is required"},
                                   status_code=400, headers=NO_STORE)
            return await refusal(scope, receive, send)
        return await app(scope, _replaying(body), send)
    return wrapped


def basic_only(app):
    """`app`, except that the configuration lists client_secret_basic alone and the token endpoint ignores
    client_secret in the body, as an unrecognised parameter."""
    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith(WELL_KNOWN):
            base = str(Request(scope).base_url).rstrip("/")
            configuration = {"token_endpoint": base + TOKEN_PATH, "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                             "grant_types_supported": ["client_credentials"], "capabilities": ["client-confidential-symmetric"]}
            return await JSONResponse(configuration)(scope, receive, send)
        if not _is_token_request(scope):
            return await app(scope, receive, send)
        form = [(name, value) for name, value in parse_qsl((await _body(receive)).decode("utf-8", "replace"))
                if name != "client_secret"]
        return await app(scope, _replaying(urlencode(form).encode()), send)
    return wrapped


@contextmanager
def served(wrapper, admin_secret: str):
    """The reference server behind `wrapper`, on a free loopback port; yields its URL."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as refserver: TCP_NODELAY
    listening.bind(("127.0.0.1", 0))
    app = wrapper(create_app(ServerConfig(admin_secret=admin_secret)))
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


def run_against(wrapper, workdir):
    admin_secret = fresh_secret()
    with served(wrapper, admin_secret) as url:
        run = run_suite(url, admin_secret, workdir)
    assert run.returncode == 0 and not run.with_outcome("failed"), run.output[-4000:]
    return run


def skip_reasons(run) -> list[str]:
    return [line for line in run.output.splitlines() if line.startswith("SKIPPED")]


def test_a_server_requiring_a_scope_skips_the_token_scenarios_and_fails_none(tmp_path):
    run = run_against(requiring_scope, tmp_path)
    token = {name: outcome for name, outcome in run.outcomes.items()
             if name.startswith("test_smart::") and name != CONFIGURATION_SCENARIO}
    assert len(token) == 17 and set(token.values()) == {"skipped"}, token
    assert run.outcomes[CONFIGURATION_SCENARIO] == "passed"
    scope_reasons = [line for line in skip_reasons(run) if "not applicable: the token endpoint answered invalid_scope" in line]
    assert scope_reasons and all("asks for no scope" in line for line in scope_reasons), skip_reasons(run)


def test_a_server_taking_the_secret_in_the_header_only_skips_the_two_methods_scenario_and_fails_none(tmp_path):
    run = run_against(basic_only, tmp_path)
    assert run.outcomes[BOTH_METHODS_SCENARIO] == "skipped", run.outcomes
    assert run.with_outcome("skipped") == [BOTH_METHODS_SCENARIO], run.with_outcome("skipped")
    assert any("does not list client_secret_post among token_endpoint_auth_methods_supported" in line
               for line in skip_reasons(run)), skip_reasons(run)
