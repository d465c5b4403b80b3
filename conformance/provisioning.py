"""What the suite creates on the server through the Aidbox admin API, and its removal (DESIGN.md §5).

Every id carries the run id (conf-<run>-<purpose>) so parallel runs never collide, and everything
created is remembered so it can be deleted at the end, newest kind first.
"""

from __future__ import annotations

import secrets as random_source
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from conformance.credentials import Credentials, basic_header
from conformance.exchange import Exchange, HttpAgent
from conformance.redaction import SecretRegistry

ID_PREFIX = "conf-"
SUITE_TAG_SYSTEM = "urn:fhir-basic-auth-conformance:run"
PROVISIONED_FHIR_TYPES = ("Observation", "Patient")  # what put_resource is used for; conformance.cleanup looks there


def new_run_id() -> str:
    return random_source.token_hex(4)


def policy_id_for(client_id: str) -> str:
    """The id of the allow policy the suite links to one of its clients."""
    return f"{client_id}-allow"


@dataclass
class Provisioner:
    """Creates Clients, AccessPolicies and FHIR resources as the admin client, and deletes them again."""

    agent: HttpAgent
    admin: Credentials
    run_id: str
    fhir_base: str
    created: list[str] = field(default_factory=list)
    cleaned: bool = False  # set once the cleanup has started (conformance.cleanup.finish): it never runs twice
    # The run's secrets: what the admin API shows in a "secret" field (Aidbox: a `__sha256:` form) is registered
    # the moment the answer arrives, before any report of any process can show it (xdist workers report as they go).
    secret_registry: SecretRegistry | None = None

    def resource_id(self, purpose: str) -> str:
        return f"{ID_PREFIX}{self.run_id}-{purpose}"

    def _as_admin(self, method: str, path: str, body=None) -> Exchange:
        exchange = self.agent.send(method, path, headers={"authorization": basic_header(**vars(self.admin))},
                                   json_body=body)
        register_secret_fields(self.secret_registry, exchange.json())
        return exchange

    def put(self, path: str, body: dict) -> Exchange:
        """PUT as the admin. The path is remembered for cleanup before the request goes out, so neither an
        interrupt nor a lost answer can hide what the server may have created; only an answer that says
        it created nothing (3xx-5xx) forgets it again."""
        new = path not in self.created
        if new:
            self.created.append(path)
        exchange = self._as_admin("PUT", path, body)
        if new and exchange.status is not None and exchange.status >= 300:
            self.created.remove(path)
        return exchange

    def get(self, path: str) -> Exchange:
        return self._as_admin("GET", path)

    def list(self, path: str, max_pages: int = 20) -> tuple[list[dict], str | None]:
        """Every resource a listing returns as the admin, across its pages; and why it stopped short, if it did."""
        return list_all(self.agent, path, basic_header(**vars(self.admin)), max_pages, self.secret_registry)

    def delete(self, path: str) -> Exchange:
        exchange = self._as_admin("DELETE", path)
        if path in self.created and exchange.status is not None and (exchange.status < 300 or exchange.status == 404):
            self.created.remove(path)
        return exchange

    # --- the seed's three kinds of thing ---------------------------------------------------------

    def register_client(self, client_id: str, secret: str | None, grant_types=("basic",)) -> Exchange:
        """Seed Step 1: PUT /Client/{id} with a secret and grant types."""
        body = {"id": client_id, "grant_types": list(grant_types)}
        if secret is not None:
            body["secret"] = secret
        return self.put(f"/Client/{client_id}", body)

    def allow_policy(self, policy_id: str, client_id: str) -> Exchange:
        """Seed Step 2: an allow AccessPolicy linked to the Client."""
        body = {"id": policy_id, "engine": "allow", "link": [{"resourceType": "Client", "id": client_id}]}
        return self.put(f"/AccessPolicy/{policy_id}", body)

    def register_allowed_clients(self, clients: list[Credentials]) -> list[Exchange | None]:
        """Seed Steps 1 and 2 for several clients, a few at a time: every Client, then every policy (a policy's
        link must find its Client). For each client, the first answer that refused it, or None when both held."""
        def refused(exchange: Exchange) -> bool:
            return exchange.status is None or exchange.status >= 300

        registered = concurrently(lambda c: self.register_client(c.client_id, c.secret), clients)
        allowed = concurrently(lambda c: self.allow_policy(policy_id_for(c.client_id), c.client_id),
                               [c for c, exchange in zip(clients, registered) if not refused(exchange)])
        policy_answers = iter(allowed)
        return [exchange if refused(exchange) else (answer if refused(answer := next(policy_answers)) else None)
                for exchange in registered]

    def put_resource(self, resource: dict) -> Exchange:
        """A FHIR resource under the FHIR base, tagged with the run so leftovers can be found."""
        tagged = {**resource, "meta": {"tag": [{"system": SUITE_TAG_SYSTEM, "code": self.run_id}]}}
        return self.put(f"{self.fhir_base}/{resource['resourceType']}/{resource['id']}", tagged)

    def put_resources(self, resources: list[dict]) -> list[Exchange]:
        """put_resource for many, a few at a time: each resource type in turn, in the order given (a
        Patient before the Observations that refer to it), the resources of one type concurrently."""
        exchanges = []
        for wave in _waves(resources, kind=lambda resource: resource["resourceType"]):
            exchanges += concurrently(self.put_resource, wave)
        return exchanges

    def cleanup(self) -> list[str]:
        """Delete everything created; return what could not be deleted. Newest kind first (Observations
        before the Patients they refer to, policies before their clients), the resources of one kind a few
        at a time: against a remote server the cleanup takes a few round trips, not one per resource.
        What is deleted is forgotten, so a second call deletes nothing twice. A server that stopped
        answering gets one more chance; if it still does not answer, the rest is reported without
        waiting on each in turn."""
        left = []
        if hasattr(self.agent.client, "give_another_chance"):
            self.agent.client.give_another_chance()
        for wave in _waves(list(reversed(self.created)), kind=lambda path: path.rsplit("/", 1)[0]):
            for path, exchange in zip(wave, concurrently(self.delete, wave)):
                if exchange.status is None or (exchange.status >= 300 and exchange.status != 404):
                    left.append(f"{path} ({exchange.status or exchange.error})")
        return left


def register_secret_fields(registry: SecretRegistry | None, body) -> None:
    """Register the value of every "secret" field of an admin API answer, at any depth (a Client, a listing)."""
    stack = [body]
    while registry is not None and stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("secret"), str):
                registry.add(node["secret"])
            stack += node.values()
        elif isinstance(node, list):
            stack += node


def list_all(agent: HttpAgent, path: str, authorization: str, max_pages: int,
             secret_registry: SecretRegistry | None = None) -> tuple[list[dict], str | None]:
    """Every resource of a listing (a Bundle), following next links on the same server for at most max_pages
    pages; and the problem that stopped it short ("503", "not a JSON Bundle", "stopped after 20 pages"), if any.
    Each page's "secret" fields are registered in `secret_registry`, if given."""
    url, found = agent.url(path), []
    for _page in range(max_pages):
        exchange = agent.send("GET", url, headers={"authorization": authorization})
        bundle = exchange.json()
        register_secret_fields(secret_registry, bundle)
        if exchange.status != 200 or not isinstance(bundle, dict):
            return found, f"{exchange.status or exchange.error}" + ("" if exchange.status != 200 else " (not a JSON Bundle)")
        entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
        found += [entry["resource"] for entry in entries if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)]
        links = bundle.get("link") if isinstance(bundle.get("link"), list) else []
        next_url = next((link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "next"), None)
        if not isinstance(next_url, str):
            return found, None
        next_url = agent.resolve(next_url, url)
        if not agent.same_origin(next_url) or next_url == url:
            return found, None
        url = next_url
    return found, f"stopped after {max_pages} pages"


CONCURRENT_ADMIN_REQUESTS = 4  # at most this many admin requests at once: quicker, still gentle on a production server


def concurrently(function, items: list) -> list:
    """function(item) for each item, up to CONCURRENT_ADMIN_REQUESTS at once; results in the items' order."""
    if len(items) <= 1:
        return [function(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(CONCURRENT_ADMIN_REQUESTS, len(items)))
    try:
        return list(pool.map(function, items))
    finally:  # on Ctrl-C, what has not started yet is dropped; what is in flight ends within its timeout
        pool.shutdown(wait=True, cancel_futures=True)


def _waves(items: list, kind) -> list[list]:
    """Items grouped by kind, the kinds in the order they first appear."""
    waves: dict[str, list] = {}
    for item in items:
        waves.setdefault(kind(item), []).append(item)
    return list(waves.values())
