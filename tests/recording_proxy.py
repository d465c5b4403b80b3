"""A tiny forwarding HTTP proxy for self-tests of --proxy: it forwards plain-HTTP requests (absolute-form
request targets) and tunnels CONNECT, on a free 127.0.0.1 port, and records what passed through it.

`refuse` names methods it answers with 503 instead of forwarding (to make a run's cleanup fail); `rewrite`, if
given, turns each plain-HTTP answer's body into the one the client gets (to add what a server might send)."""

from __future__ import annotations

import http.client
import select
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "proxy-connection"}
TUNNEL_IDLE = 30.0  # seconds a CONNECT tunnel may stay silent before the proxy closes it


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, refuse: frozenset[str], rewrite=None):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.refuse = refuse
        self.rewrite = rewrite or (lambda payload: payload)
        self.seen: list[tuple[str, str]] = []  # (method, absolute URL or CONNECT host:port)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Proxy

    def log_message(self, format, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _note(self, target: str) -> None:
        with self.server.lock:
            self.server.seen.append((self.command, target))

    def do_CONNECT(self):
        self._note(self.path)
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            self.send_error(502)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        sockets = [self.connection, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], TUNNEL_IDLE)
                if not readable:
                    break
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.connection else self.connection).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()
            self.close_connection = True

    def _forward(self):
        self._note(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command in self.server.refuse:
            self._answer(503, [("content-type", "text/plain")], b"refused by the test proxy")
            return
        target = urlsplit(self.path)
        if target.scheme != "http":
            self.send_error(400, "absolute-form http:// request targets only")
            return
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path or "/", body=body, headers=headers)
            response = upstream.getresponse()
            payload = self.server.rewrite(response.read())
            self._answer(response.status, [(k, v) for k, v in response.getheaders()
                                           if k.lower() not in HOP_BY_HOP | {"content-length"}], payload)
        except OSError:
            self.send_error(502)
        finally:
            upstream.close()

    def _answer(self, status: int, headers, payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _forward


@contextmanager
def recording_proxy(refuse=(), rewrite=None):
    """Yields the proxy (.url, .seen); forwards everything but the methods in `refuse`, each answer's body
    through `rewrite` (bytes -> bytes) if given."""
    proxy = _Proxy(frozenset(refuse), rewrite)
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(5)
