"""`python -m refserver`: run the reference server standalone or as the suite's subprocess.

The parent learns the URL from one stdout line, printed only once uvicorn accepts
connections; with `--port 0` the OS picks a free port, so parallel runs never collide.
"""

import argparse
import os
import signal
import socket
import sys

import uvicorn

from . import faults as F
from .app import create_app
from .config import ServerConfig


def parse_args(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m refserver", description="Reference FHIR server (Aidbox subset).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888, help="0 picks a free port")
    parser.add_argument("--admin-client-id", default="root")
    parser.add_argument(
        "--admin-secret", help="prefer the REFSERVER_ADMIN_SECRET env var: command lines show in ps"
    )
    parser.add_argument("--db", help="SQLite file (default: in-memory, gone at exit)")
    parser.add_argument("--fault", action="append", default=[], help="enable a fault mode (repeatable)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every answer by N ms")
    parser.add_argument("--token-ttl", type=int, default=300, help="seconds an access token lives [300]")
    parser.add_argument("--lockout-after", type=int, default=0, metavar="N",
                        help="after N failed logins of a client id within a minute, answer it 429 for that minute "
                             "(brute-force protection, as many servers have; 0: off) [0]")
    parser.add_argument("--throttle-every", type=int, default=0, metavar="N",
                        help="answer every Nth request 429 with Retry-After: 0, as a rate-limiting gateway does (0: off) [0]")
    parser.add_argument("--list-faults", action="store_true", help="list fault modes and exit")
    parser.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM; with --ssl-keyfile)")
    parser.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    return parser, parser.parse_args(argv)


def build_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ServerConfig:
    """Options override env vars; every usage error exits 2 (argparse's convention)."""
    secret = args.admin_secret or os.environ.get("REFSERVER_ADMIN_SECRET")
    if not secret:
        parser.error("an admin secret is required: set REFSERVER_ADMIN_SECRET (or --admin-secret)")
    names = args.fault + os.environ.get("REFSERVER_FAULTS", "").split(",")
    try:
        faults = F.parse_names(names)
    except ValueError as error:
        parser.error(str(error))
    if args.latency_ms < 0:
        parser.error("--latency-ms must be >= 0")
    if args.throttle_every < 0:
        parser.error("--throttle-every must be >= 0")
    if args.lockout_after < 0:
        parser.error("--lockout-after must be >= 0")
    if args.token_ttl <= 0:
        parser.error("--token-ttl must be > 0")
    return ServerConfig(
        admin_secret=secret,
        admin_client_id=args.admin_client_id,
        host=args.host,
        port=args.port,
        db_path=args.db,
        faults=faults,
        latency_ms=args.latency_ms,
        token_ttl=args.token_ttl,
        lockout_after=args.lockout_after,
        throttle_every=args.throttle_every,
    )


class AnnouncingServer(uvicorn.Server):
    """Prints the listening line right after uvicorn starts serving the bound socket."""

    def __init__(self, config: uvicorn.Config, url: str):
        super().__init__(config)
        self.url = url

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if self.started:
            print(f"refserver listening on {self.url}", flush=True)


def _exit_cleanly(signum, frame):
    """uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; end with status 0."""
    raise SystemExit(0)


def serve(config: ServerConfig, ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio then sets TCP_NODELAY (no 40 ms stalls)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    host, port = sock.getsockname()[:2]
    app = create_app(config)
    uvicorn_config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                    ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    server = AnnouncingServer(uvicorn_config, f"{'https' if ssl_certfile else 'http'}://{host}:{port}")
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_cleanly)
    try:
        server.run(sockets=[sock])
    finally:
        app.state.server.store.close()
        sock.close()


def main(argv: list[str] | None = None) -> int:
    parser, args = parse_args(argv)
    if args.list_faults:
        for name, description in F.FAULTS.items():
            print(f"{name}  {description}")
        return 0
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        parser.error("--ssl-certfile and --ssl-keyfile go together")
    serve(build_config(parser, args), args.ssl_certfile, args.ssl_keyfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
