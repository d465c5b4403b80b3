"""A deliberately broken HTTP server for self-tests of the suite's robustness (issue 5).

Each mode breaks one thing for every request it gets. The server listens on a free 127.0.0.1 port,
serves from daemon threads, and every wait in it is bounded, so a test that forgets to stop it cannot
hang the process. A second server, the `Recorder`, stands for "another origin": it answers like a
friendly FHIR server and remembers every request and Authorization header it received.

    with hostile_server("hang") as url: ...
    python -m tests.hostile_server MODE     # to poke at one by hand
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = {
    "html": "200 with an HTML page for every request",
    "invalid-json": "200 application/fhir+json whose body is not JSON",
    "wrong-type": "200 application/fhir+json: a Patient, whatever was asked",
    "error-500": "500 Internal Server Error for every request",
    "hang": "reads the request and never answers",
    "close-mid-response": "promises a body of 10,000 bytes, sends 20 and closes the connection",
    "huge-body": "200 application/fhir+json with a 50 MB body, chunked (no Content-Length)",
    "huge-declared": "200 application/fhir+json announcing Content-Length 50 MB",
    "drip": "200, then a body of one byte every 0.3 s",
    "redirect": "307 to the same path on another origin (the Recorder)",
    "foreign-next-link": "200 with a searchset Bundle whose next link is on another origin (the Recorder)",
}

HUGE = 50 * 1024 * 1024
MAX_WAIT = 60.0  # no handler waits longer than this, whatever the test does


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler, mode: str = "", redirect_to: str = ""):
        super().__init__(("127.0.0.1", 0), handler)
        self.mode = mode
        self.redirect_to = redirect_to
        self.stopping = threading.Event()
        self.received: list[dict] = []  # method, path, authorization: what reached this server
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        # Headers and body leave in separate writes: without this, each answer waits on a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _record_and_read(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(min(length, 1_000_000))
        with self.server.lock:
            self.server.received.append({"method": self.command, "path": self.path,
                                         "authorization": self.headers.get("authorization")})

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client gave up: expected in several modes

    def do_GET(self):
        self._record_and_read()
        self.answer()

    do_PUT = do_POST = do_DELETE = do_PATCH = do_GET

    def answer(self) -> None:
        getattr(self, "mode_" + self.server.mode.replace("-", "_"))()

    def mode_html(self):
        self._send(200, b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>", "text/html")

    def mode_invalid_json(self):
        self._send(200, b'{"resourceType": "Bundle", "type": "searchset", "entry": [', "application/fhir+json")

    def mode_wrong_type(self):
        body = {"resourceType": "Patient", "id": "not-what-you-asked", "name": [{"family": "Hostile"}]}
        self._send(200, json.dumps(body).encode(), "application/fhir+json")

    def mode_error_500(self):
        body = {"resourceType": "OperationOutcome",
                "issue": [{"severity": "fatal", "code": "exception", "diagnostics": "broken on purpose"}]}
        self._send(500, json.dumps(body).encode(), "application/fhir+json")

    def mode_hang(self):
        self.server.stopping.wait(MAX_WAIT)
        self.close_connection = True

    def mode_close_mid_response(self):
        self.send_response(200)
        self.send_header("content-type", "application/fhir+json")
        self.send_header("content-length", "10000")
        self.end_headers()
        self.wfile.write(b'{"resourceType": "Bu')
        self.wfile.flush()
        self.close_connection = True

    def mode_huge_body(self):
        self.send_response(200)
        self.send_header("content-type", "application/fhir+json")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        chunk = b'{"resourceType": "Observation", "status": "final", "code": {"text": "padding"}},' * 800
        self._chunk(b'{"resourceType": "Bundle", "type": "searchset", "entry": [')
        sent = 0
        started = time.monotonic()
        while sent < HUGE and not self.server.stopping.is_set() and time.monotonic() - started < MAX_WAIT:
            self._chunk(chunk)
            sent += len(chunk)
        self._chunk(b"]}")
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def mode_huge_declared(self):
        self.send_response(200)
        self.send_header("content-type", "application/fhir+json")
        self.send_header("content-length", str(HUGE))
        self.end_headers()
        block = b" " * 65536
        sent = 0
        started = time.monotonic()
        while sent < HUGE and not self.server.stopping.is_set() and time.monotonic() - started < MAX_WAIT:
            self.wfile.write(block)
            sent += len(block)
        self.close_connection = True

    def mode_drip(self):
        body = b'{"resourceType": "Bundle", "type": "searchset", "total": 0}' + b" " * 400
        self.send_response(200)
        self.send_header("content-type", "application/fhir+json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        started = time.monotonic()
        for byte in body:
            if self.server.stopping.wait(0.3) or time.monotonic() - started > MAX_WAIT:
                break
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
        self.close_connection = True

    def mode_foreign_next_link(self):
        observation = {"resourceType": "Observation", "id": "hostile-1", "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}}
        body = {"resourceType": "Bundle", "type": "searchset", "total": 3,
                "link": [{"relation": "self", "url": f"{self.server.url}{self.path}"},
                         {"relation": "next", "url": f"{self.server.redirect_to}/fhir/Observation?page=2"}],
                "entry": [{"fullUrl": f"{self.server.url}/fhir/Observation/hostile-1", "resource": observation,
                           "search": {"mode": "match"}}]}
        self._send(200, json.dumps(body).encode(), "application/fhir+json")

    def mode_redirect(self):
        self._send(307, b"", "text/plain", {"location": self.server.redirect_to + self.path})


class _RecorderHandler(_Handler):
    """Another origin: answers every request with an empty searchset and records who sent what."""

    def answer(self) -> None:
        body = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}
        self._send(200, json.dumps(body).encode(), "application/fhir+json")


@contextmanager
def _running(server: _Server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def recorder():
    """Another origin that records every request it receives; yields the server (.url, .received)."""
    with _running(_Server(_RecorderHandler, "recorder")) as server:
        yield server


@contextmanager
def hostile_server(mode: str, redirect_to: str = ""):
    """A server broken in one way (see MODES); yields the server (.url, .received)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    with _running(_Server(_Handler, mode, redirect_to)) as server:
        yield server


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in MODES:
        for name, description in MODES.items():
            print(f"{name:20} {description}")
        return 2
    with recorder() as other, hostile_server(argv[0], other.url) as server:
        print(f"hostile server ({argv[0]}) on {server.url}; other origin on {other.url}; Ctrl-C stops", flush=True)
        try:
            threading.Event().wait(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
