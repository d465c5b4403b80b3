"""What the user asked for on the command line (DESIGN.md §3), read once into a frozen value."""

from __future__ import annotations

import os
from dataclasses import dataclass


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
