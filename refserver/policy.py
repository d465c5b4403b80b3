"""The AccessPolicy `allow` engine, as a pure function so it can be unit tested alone.

Aidbox semantics: a request by a (non-admin) client is allowed iff some policy with engine
"allow" applies to it. A policy without links applies to every request; otherwise its link
entries are ORed, each naming a client as {resourceType, id} or {reference: "Client/<id>"}.
Policies with other engines are stored but never allow anything here.
"""

from collections.abc import Iterable


def is_allowed(client_id: str, policies: Iterable[dict]) -> bool:
    return any(policy.get("engine") == "allow" and applies_to(policy, client_id) for policy in policies)


def applies_to(policy: dict, client_id: str) -> bool:
    links = policy.get("link")
    if links is None or links == []:
        return True
    return isinstance(links, list) and any(_links_client(link, client_id) for link in links)


def _links_client(link: object, client_id: str) -> bool:
    if not isinstance(link, dict):
        return False
    by_id = link.get("resourceType") == "Client" and link.get("id") == client_id
    return by_id or link.get("reference") == f"Client/{client_id}"
