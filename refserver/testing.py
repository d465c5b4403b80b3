"""In-process access to a reference server for tests: no sockets, no ports, no threads.

httpx's sync Client cannot drive an ASGI app by itself, and Starlette's TestClient now warns
that it is moving to another package; this transport runs each request to completion on a
fresh event loop instead. App errors propagate to the test, so a real bug is never hidden.
"""

import asyncio
import base64

import httpx

from .app import create_app
from .config import ServerConfig


class SyncASGITransport(httpx.BaseTransport):
    """A sync httpx transport over httpx.ASGITransport."""

    def __init__(self, app):
        self._transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def exchange() -> httpx.Response:
            response = await self._transport.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run(exchange())


def client(config: ServerConfig) -> httpx.Client:
    """A sync httpx client talking to a new server built from `config`, at http://testserver."""
    return httpx.Client(transport=SyncASGITransport(create_app(config)), base_url="http://testserver")


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An Authorization header for Basic credentials, encoded as RFC 7617 says (UTF-8)."""
    token = base64.b64encode(f"{client_id}:{secret}".encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def register_client(
    http: httpx.Client,
    admin: dict[str, str],
    client_id: str,
    secret: str,
    grant_types: tuple[str, ...] = ("basic",),
    allow: bool = True,
) -> None:
    """The seed's steps 1 and 2: PUT a Client and, if `allow`, an allow AccessPolicy linked to it."""
    client = {"id": client_id, "secret": secret, "grant_types": list(grant_types)}
    http.put(f"/Client/{client_id}", json=client, headers=admin).raise_for_status()
    if allow:
        policy = {"id": f"{client_id}-allow", "engine": "allow", "link": [{"resourceType": "Client", "id": client_id}]}
        http.put(f"/AccessPolicy/{client_id}-allow", json=policy, headers=admin).raise_for_status()
