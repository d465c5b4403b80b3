"""Routes of the reference server: the Aidbox-style admin API and the FHIR API.

Both APIs share one set of CRUD and search handlers; they differ only in where they live
(/Client vs /fhir/Observation), their content type (chosen by path in outcomes.py) and, for
Client, in keeping the secret out of the resource JSON. Every route but /health and
/fhir/metadata goes through `_protected`: authenticate (401), then AccessPolicy (403).
"""

import asyncio
import re
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import faults as F
from .auth import Authenticator, LockedOut, MalformedHeader, Refused, UnknownClientRevealed
from .bodies import read_resource, valid_id
from .config import ServerConfig
from .outcomes import (CHALLENGE, Problem, forbidden, is_fhir_path, json_response, outcome_response, problem_response,
                       unauthorized)
from .policy import is_allowed
from .search import FILTERS, InvalidSearch, parse_query, searchset, select
from .smart import SmartEndpoints
from .store import Store

FHIR_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
# Admin resources live only in the admin API: /fhir/Client and /fhir/AccessPolicy are 404.
ADMIN_TYPES = ("Client", "AccessPolicy")
GARBAGE_500 = b"\x00\xff<html>Internal Server Error: Traceback (most recent call last)"


class RefServer:
    """One server instance: its store, authenticator and endpoints."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.faults = config.faults
        self.store = Store(config.db_path, keep_plain_secrets=F.keeps_plain_secrets(config.faults))
        self.auth = Authenticator(self.store, config.admin_client_id, config.admin_secret, config.faults,
                                  config.lockout_after)
        self.smart = SmartEndpoints(self.store, config)  # SMART discovery, token endpoint, Bearer tokens
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")

    def routes(self) -> list[Route]:
        routes = [
            *self.smart.routes(),
            Route("/health", self.health, methods=["GET"]),
            Route("/fhir/metadata", self.metadata, methods=["GET"]),
            Route("/fhir/{type}", self._protected(self.fhir_collection), methods=["GET", "POST"]),
            Route("/fhir/{type}/_search", self._protected(self.fhir_search_post), methods=["POST"]),
            Route("/fhir/{type}/{id}", self._protected(self.fhir_instance), methods=["GET", "PUT", "DELETE"]),
        ]
        for kind in ADMIN_TYPES:
            routes += self._admin_routes(kind)
        return routes

    def _admin_routes(self, kind: str) -> list[Route]:
        async def collection(request: Request) -> Response:
            return await self._collection(request, kind, f"{request.base_url}{kind}")

        async def instance(request: Request) -> Response:
            return await self._instance(request, kind)

        return [
            Route(f"/{kind}", self._protected(collection), methods=["GET", "POST"]),
            Route(f"/{kind}/{{id}}", self._protected(instance), methods=["GET", "PUT", "DELETE"]),
        ]

    # --- access control -------------------------------------------------------------------

    def _protected(self, handler):
        """Wrap an endpoint: authenticate, then check AccessPolicies, then run it."""

        async def endpoint(request: Request) -> Response:
            refusal = self._refusal(request)
            return refusal if refusal is not None else await handler(request)

        return endpoint

    def _refusal(self, request: Request) -> Response | None:
        """The 401/403 (or fault-distorted) answer for this request, or None to serve it."""
        if self._left_open(request):
            return None
        try:
            values = request.headers.getlist("authorization")
            principal = self.smart.bearer_principal(values) or self.auth.authenticate(values)
        except MalformedHeader:
            if F.enabled(self.faults, "crash-on-malformed-header"):
                return Response(GARBAGE_500, status_code=500, media_type="text/html")
            return unauthorized(request)
        except Refused as refused:
            if F.enabled(self.faults, "refusal-names-matching-subjects") and "id" not in request.path_params:
                return self._refusal_naming_subjects(request)
            return unauthorized(request, refused.credentials)
        except LockedOut as locked:
            return outcome_response(request, 429, "throttled", "Too many failed logins; try again later",
                                    {"Retry-After": str(locked.retry_after)})
        except UnknownClientRevealed as revealed:
            return outcome_response(request, 404, "not-found", str(revealed))
        if principal.policy_exempt or F.enabled(self.faults, "ignore-access-policy"):
            return None
        if is_allowed(principal.client_id, self.store.resources("AccessPolicy")):
            return None
        return forbidden(request, self._refused_results(request))

    def _refusal_naming_subjects(self, request: Request) -> Response:
        """Only under refusal-names-matching-subjects: a 401 whose diagnostics tell whose data the search
        would have found -- no resource in it, but data all the same."""
        found = self._searchset(request.query_params.multi_items(), _fhir_type(request), "")
        subjects = sorted({str((entry["resource"].get("subject") or {}).get("reference")) for entry in found.get("entry", [])})
        diagnostics = f"Authentication failed; this search would have shown data of {', '.join(subjects)}"
        return outcome_response(request, 401, "login", diagnostics, {"WWW-Authenticate": CHALLENGE})

    def _left_open(self, request: Request) -> bool:
        """Only under the faults that protect the GET search alone: the other ways of reading FHIR data."""
        if not is_fhir_path(request):
            return False
        if F.enabled(self.faults, "read-unauthenticated") and request.method == "GET" and "id" in request.path_params:
            return True
        return F.enabled(self.faults, "post-search-unauthenticated") and request.url.path.endswith("/_search")

    def _refused_results(self, request: Request) -> dict | None:
        """Only under resources-in-refusal: the Bundle a refused FHIR search would have returned."""
        if not F.enabled(self.faults, "resources-in-refusal") or request.method != "GET":
            return None
        if set(request.path_params) != {"type"}:
            return None
        kind = _fhir_type(request)
        return self._searchset(request.query_params.multi_items(), kind, f"{request.base_url}fhir/{kind}")

    # --- public endpoints -----------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metadata(self, request: Request) -> Response:
        """A minimal CapabilityStatement: any resource type, and the search parameters."""
        search_params = [{"name": name, "type": kind} for name, kind in FILTERS.items()]
        rest = {
            "mode": "server",
            "security": {"description": "HTTP Basic authentication of registered Clients (RFC 7617)"},
            "searchParam": search_params,
        }
        body = {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": self.started,
            "kind": "instance",
            "software": {"name": "refserver"},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [rest],
        }
        return json_response(request, body)

    # --- FHIR endpoints -------------------------------------------------------------------

    async def fhir_collection(self, request: Request) -> Response:
        kind = _fhir_type(request)
        return await self._collection(request, kind, f"{request.base_url}fhir/{kind}")

    async def fhir_search_post(self, request: Request) -> Response:
        """POST [type]/_search: parameters from the query string and the form body together."""
        kind = _fhir_type(request)
        try:
            form = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
        except ValueError as error:
            raise Problem(400, "invalid", "form body must be UTF-8 URL-encoded") from error
        params = request.query_params.multi_items() + form
        return json_response(request, self._searchset(params, kind, f"{request.base_url}fhir/{kind}"))

    async def fhir_instance(self, request: Request) -> Response:
        return await self._instance(request, _fhir_type(request))

    # --- CRUD and search, shared by both APIs ---------------------------------------------

    async def _collection(self, request: Request, kind: str, collection_url: str) -> Response:
        if request.method == "GET":
            return json_response(request, self._searchset(request.query_params.multi_items(), kind, collection_url))
        return await self._create(request, kind, collection_url)

    async def _instance(self, request: Request, kind: str) -> Response:
        resource_id = valid_id(request.path_params["id"])
        if request.method == "GET":
            return json_response(request, self._read(kind, resource_id))
        if request.method == "PUT":
            body = await read_resource(request, kind, resource_id, type_required=kind not in ADMIN_TYPES)
            stored, created = self._save(kind, resource_id, body)
            return json_response(request, stored, 201 if created else 200)
        return json_response(request, self._delete(kind, resource_id))

    async def _create(self, request: Request, kind: str, collection_url: str) -> Response:
        """FHIR create always assigns a new id; the admin API takes the body's id if it has one
        (409 if that id exists)."""
        body = await read_resource(request, kind, None, type_required=kind not in ADMIN_TYPES)
        new_id = str(uuid.uuid4())
        if kind in ADMIN_TYPES and "id" in body:
            new_id = valid_id(body["id"])
        stored, _ = self._save(kind, new_id, body, create_only=True)
        return json_response(request, stored, 201, {"Location": f"{collection_url}/{new_id}"})

    def _read(self, kind: str, resource_id: str) -> dict:
        resource = self.store.read(kind, resource_id)
        if resource is None:
            raise Problem(404, "not-found", f"{kind}/{resource_id} not found")
        return self._present(resource)

    def _delete(self, kind: str, resource_id: str) -> dict:
        """DELETE answers 200 with the deleted resource (a Client's secret masked), or 404."""
        deleted = self.store.delete(kind, resource_id)
        if deleted is None:
            raise Problem(404, "not-found", f"{kind}/{resource_id} not found")
        shown = self._present(deleted)
        if kind == "Client":
            self.store.set_secret(resource_id, None)
        return shown

    def _save(self, kind: str, resource_id: str, body: dict, create_only: bool = False) -> tuple[dict, bool]:
        """Store a checked body. A Client's secret goes to the credential table, never into the
        JSON; PUT replaces the whole Client, so a PUT without secret removes it. Sending back
        the masked form unchanged (GET, edit, PUT) keeps the current secret."""
        if kind == "Client" and resource_id == self.config.admin_client_id:
            raise Problem(400, "invalid", f"Client id {resource_id} is reserved for the admin client")
        secret = body.pop("secret", None) if kind == "Client" else None
        stored, created = self.store.put(kind, resource_id, body, create_only)
        if stored is None:
            raise Problem(409, "duplicate", f"{kind}/{resource_id} already exists")
        if kind == "Client" and not self._is_current_mask(resource_id, secret):
            self.store.set_secret(resource_id, secret)
        return self._present(stored), created

    def _is_current_mask(self, client_id: str, secret: str | None) -> bool:
        current = self.store.credential(client_id)
        return current is not None and secret == current.masked

    def _present(self, resource: dict) -> dict:
        """A resource as the APIs show it: a Client's secret only ever in `__sha256:` form."""
        if resource.get("resourceType") != "Client":
            return resource
        credential = self.store.credential(resource["id"])
        if credential is None:
            return resource
        shown = credential.masked
        if F.enabled(self.faults, "plain-secret-returned") and credential.plain is not None:
            shown = credential.plain
        return {**resource, "secret": shown}

    def _searchset(self, params: list[tuple[str, str]], kind: str, collection_url: str) -> dict:
        try:
            query = parse_query(params)
        except InvalidSearch as error:
            raise Problem(400, "invalid", str(error)) from error
        resources = [self._present(resource) for resource in self.store.resources(kind)]
        return searchset(select(resources, query, self.faults), query, collection_url, self.faults)


def _fhir_type(request: Request) -> str:
    kind = request.path_params["type"]
    if not FHIR_TYPE.fullmatch(kind) or kind in ADMIN_TYPES:
        raise Problem(404, "not-found", "unknown resource type")
    return kind


async def _http_exception(request: Request, error: HTTPException) -> Response:
    """Routing errors (404 unknown route, 405 wrong method) as OperationOutcomes."""
    code = {404: "not-found", 405: "not-supported"}.get(error.status_code, "processing")
    return outcome_response(request, error.status_code, code, str(error.detail), error.headers)


async def _internal_error(request: Request, error: Exception) -> Response:
    """Only real bugs get here; bad input is answered with a 4xx before it can."""
    return outcome_response(request, 500, "exception", "internal server error")


class LatencyMiddleware:
    """Delays every request, so benchmarks can model a slow remote server."""

    def __init__(self, app, latency_ms: int):
        self.app = app
        self.delay = latency_ms / 1000

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


class ThrottleMiddleware:
    """Every nth request (but /health) answers 429 Too Many Requests with Retry-After: 0, the way a rate-limited
    gateway paces its clients: a correct behaviour the suite must ride out (--throttle-every N)."""

    def __init__(self, app, every: int):
        self.app, self.every, self.seen = app, every, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != "/health":
            self.seen += 1
            if self.seen % self.every == 0:
                response = Response(status_code=429, headers={"Retry-After": "0"})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(config: ServerConfig) -> Starlette:
    """The ASGI app for `config`; usable in-process (httpx ASGITransport) or under uvicorn."""
    server = RefServer(config)
    middleware = [Middleware(LatencyMiddleware, latency_ms=config.latency_ms)] if config.latency_ms > 0 else []
    if config.throttle_every > 0:
        middleware.append(Middleware(ThrottleMiddleware, every=config.throttle_every))
    app = Starlette(
        routes=server.routes(),
        middleware=middleware,
        exception_handlers={Problem: problem_response, HTTPException: _http_exception, Exception: _internal_error},
    )
    app.state.config = config
    app.state.server = server
    return app
