"""Configuration of one reference server instance, shared by the CLI and in-process tests."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerConfig:
    """Everything that varies between server instances.

    `admin_secret` is required: a server with a guessable default admin secret would be a
    trap for anyone who runs it outside a test; it is left out of the repr so it never lands
    in a traceback or log. `db_path` None means an in-memory database that disappears with
    the process (the embedded run must leave nothing behind).
    """

    admin_secret: str = field(repr=False)
    admin_client_id: str = "root"
    host: str = "127.0.0.1"
    port: int = 8888
    db_path: str | None = None
    faults: frozenset[str] = frozenset()
    latency_ms: int = 0
    token_ttl: int = 300  # seconds an access token of the token endpoint lives (refserver/smart.py)
    throttle_every: int = 0  # every nth request answers 429 (Retry-After: 0); 0: off
    lockout_after: int = 0  # failed logins of one client id within LOCKOUT_SECONDS before it gets 429; 0: off
