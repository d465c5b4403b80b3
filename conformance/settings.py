"""What the user asked for on the command line (DESIGN.md §3), read once into a frozen value."""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")  # what httpx can send through


@dataclass(frozen=True)
class Settings:
    server_url: str | None
    fhir_base: str
    admin_client_id: str
    admin_client_secret: str | None
    provisioning: str
    client_id: str | None
    client_secret: str | None
    fhir_version: str
    fail_on_should: bool
    http_timeout: float
    ca_bundle: str | None
    insecure: bool
    proxy: str | None
    keep_resources: bool

    @property
    def provisions(self) -> bool:
        """True when the suite registers its own clients, policies and data."""
        return self.provisioning == "aidbox"


def _option_or_env(config, option: str, env: str, default=None):
    value = config.getoption(option)
    if value is None:
        value = os.environ.get(env) or default
    return value


def settings_from_config(config) -> Settings:
    """Options win over environment variables; secrets are best given through the environment."""
    server_url = _option_or_env(config, "server_url", "CONFORMANCE_SERVER_URL")
    fhir_base = "/" + config.getoption("fhir_base").strip("/")
    return Settings(
        server_url=server_url.rstrip("/") if server_url else None,
        fhir_base="" if fhir_base == "/" else fhir_base,
        admin_client_id=_option_or_env(config, "admin_client_id", "CONFORMANCE_ADMIN_CLIENT_ID", "root"),
        admin_client_secret=_option_or_env(config, "admin_client_secret", "CONFORMANCE_ADMIN_CLIENT_SECRET"),
        provisioning=config.getoption("provisioning"),
        client_id=_option_or_env(config, "client_id", "CONFORMANCE_CLIENT_ID"),
        client_secret=_option_or_env(config, "client_secret", "CONFORMANCE_CLIENT_SECRET"),
        fhir_version=config.getoption("fhir_version"),
        fail_on_should=config.getoption("fail_on_should"),
        http_timeout=config.getoption("http_timeout"),
        ca_bundle=config.getoption("ca_bundle"),
        insecure=config.getoption("insecure"),
        proxy=config.getoption("proxy"),
        keep_resources=config.getoption("keep_resources"),
    )


def setting_problem(settings: Settings) -> str | None:
    """What makes a setting unusable, said before anything runs; otherwise httpx would raise it in every scenario."""
    return (server_url_problem(settings.server_url) or http_timeout_problem(settings.http_timeout)
            or proxy_problem(settings.proxy) or ca_bundle_problem(settings.ca_bundle))


def server_url_problem(server_url: str | None) -> str | None:
    """Not shown either. httpx sends a URL's user:password@ as Basic credentials in place of the Authorization
    header each scenario sets, so every scenario would test those instead of its own."""
    if server_url is None:
        return None
    parts = urlsplit(server_url)
    if not _is_url(parts, ("http", "https")):
        return "--server-url: not a server URL; expected http(s)://HOST[:PORT][/PATH], e.g. --server-url=https://fhir.example.org"
    if "@" in parts.netloc:
        return ("--server-url: a URL with user:password@ would send those credentials in place of the ones each "
                "scenario sets; give the URL without them, and secrets through CONFORMANCE_ADMIN_CLIENT_SECRET "
                "or CONFORMANCE_CLIENT_SECRET")
    return None


def http_timeout_problem(seconds: float) -> str | None:
    if math.isfinite(seconds) and seconds > 0:
        return None
    return f"--http-timeout={seconds:g}: expected a number of seconds greater than 0 (and finite), e.g. --http-timeout=10"


def proxy_problem(proxy: str | None) -> str | None:
    """The proxy URL itself is not shown: it may carry a password."""
    if proxy is None:
        return None
    parts = urlsplit(proxy)
    if not _is_url(parts, PROXY_SCHEMES):
        return ("--proxy: not a proxy URL; expected SCHEME://HOST[:PORT] with SCHEME one of "
                f"{', '.join(PROXY_SCHEMES)}, e.g. --proxy=http://proxy.example:3128")
    if parts.scheme.lower().startswith("socks") and importlib.util.find_spec("socksio") is None:
        return "--proxy: a SOCKS proxy needs the socksio package (pip install 'httpx[socks]'); or use an http:// proxy"
    return None


def _is_url(parts, schemes) -> bool:
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number, or out of range
        port_ok = False
    return parts.scheme.lower() in schemes and bool(parts.hostname) and port_ok


def ca_bundle_problem(ca_bundle: str | None) -> str | None:
    if ca_bundle and not os.path.isfile(ca_bundle):
        return f"--ca-bundle: no such file: {ca_bundle}"
    return None
