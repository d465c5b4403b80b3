"""FHIR search over the resources of one type, and the searchset Bundle with paging links.

Data sets here are small, so matching is plain Python over a type's resources in insertion
order; that order is also what makes offset paging stable. Stored JSON is whatever clients
sent, so every accessor tolerates wrong shapes and treats them as "no match".
"""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from . import faults as F

# The search parameters understood, with their FHIR types (for the CapabilityStatement).
FILTERS = {"_id": "token", "code": "token", "subject": "reference", "patient": "reference", "_tag": "token"}
DEFAULT_COUNT = 100
MAX_COUNT = 1000
# Paging is by offset; `_offset` is the (server-chosen) parameter the next links carry.
PAGING_PARAM = "_offset"
_NON_NEGATIVE = re.compile(r"[0-9]{1,18}")


class InvalidSearch(ValueError):
    """A search parameter value the server cannot use (answered with 400)."""


@dataclass(frozen=True)
class SearchQuery:
    """Recognised filters as sent (in order, repeated names ANDed), page size and offset."""

    filters: tuple[tuple[str, str], ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0


def parse_query(params: Iterable[tuple[str, str]]) -> SearchQuery:
    """Unknown parameters and empty values are ignored (FHIR lets servers ignore them)."""
    filters, count, offset = [], DEFAULT_COUNT, 0
    for name, value in params:
        if name in FILTERS and value != "":
            filters.append((name, value))
        elif name == "_count":
            count = min(_non_negative(name, value), MAX_COUNT)
        elif name == PAGING_PARAM:
            offset = _non_negative(name, value)
    return SearchQuery(tuple(filters), count, offset)


def _non_negative(name: str, value: str) -> int:
    if not _NON_NEGATIVE.fullmatch(value):
        raise InvalidSearch(f"{name} must be a non-negative integer")
    return int(value)


def select(resources: Iterable[dict], query: SearchQuery, faults: frozenset[str] = frozenset()) -> list[dict]:
    """Resources matching every filter; within one filter, comma-separated values are ORed."""
    clauses = [(name, value) for name, value in query.filters if not _ignored(name, faults)]
    return [r for r in resources if all(_matches(r, name, value) for name, value in clauses)]


def _ignored(name: str, faults: frozenset[str]) -> bool:
    if name == "code":
        return F.enabled(faults, "ignore-code-filter")
    if name in ("subject", "patient"):
        return F.enabled(faults, "ignore-patient-filter")
    return False


def _matches(resource: dict, name: str, value: str) -> bool:
    matcher = MATCHERS[name]
    return any(matcher(resource, alternative) for alternative in value.split(","))


def _id_matches(resource: dict, wanted: str) -> bool:
    return resource.get("id") == wanted


def _code_matches(resource: dict, token: str) -> bool:
    return any(_coding_matches(coding, token) for coding in _codings(resource.get("code")))


def _tag_matches(resource: dict, token: str) -> bool:
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    return any(_coding_matches(coding, token) for coding in _dicts(tags))


def _subject_matches(resource: dict, wanted: str) -> bool:
    return _reference_matches(resource.get("subject"), _reference_key(wanted))


def _patient_matches(resource: dict, wanted: str) -> bool:
    """`patient` is a reference search with the type Patient implied."""
    type_name, resource_id = _reference_key(wanted)
    if type_name not in ("", "Patient"):
        return False
    return any(_reference_matches(resource.get(field), ("Patient", resource_id)) for field in ("subject", "patient"))


MATCHERS = {
    "_id": _id_matches,
    "code": _code_matches,
    "_tag": _tag_matches,
    "subject": _subject_matches,
    "patient": _patient_matches,
}


def _coding_matches(coding: dict, token: str) -> bool:
    """FHIR token forms: `code`, `system|code`, `|code` (no system), `system|` (any code)."""
    if "|" not in token:
        return coding.get("code") == token
    system, _, code = token.partition("|")
    system_ok = coding.get("system") is None if system == "" else coding.get("system") == system
    return system_ok and (code == "" or coding.get("code") == code)


def _codings(concept: object) -> list[dict]:
    """The codings of a CodeableConcept (or of a list of them)."""
    concepts = concept if isinstance(concept, list) else [concept]
    return [coding for c in _dicts(concepts) for coding in _dicts(c.get("coding"))]


def _dicts(value: object) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _reference_key(reference: str) -> tuple[str, str]:
    """("Type", "id") from `Type/id` or an absolute URL ending in it; ("", "id") for a bare id."""
    parts = reference.rstrip("/").split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 else ("", parts[-1])


def _reference_matches(element: object, wanted: tuple[str, str]) -> bool:
    reference = element.get("reference") if isinstance(element, dict) else None
    if not isinstance(reference, str):
        return False
    type_name, resource_id = _reference_key(reference)
    return resource_id == wanted[1] and wanted[0] in ("", type_name)


def searchset(matches: list[dict], query: SearchQuery, collection_url: str, faults: frozenset[str] = frozenset()) -> dict:
    """One page of `matches` as a searchset Bundle; `collection_url` is the absolute URL of the
    type's endpoint (e.g. http://host:port/fhir/Observation), the base of fullUrl and links."""
    end = len(matches) if F.enabled(faults, "ignore-count") else query.offset + query.count
    page = matches[query.offset : end]
    links = [{"relation": "self", "url": _page_url(collection_url, query.filters, query.count, query.offset)}]
    next_offset = query.offset + len(page)
    if page and next_offset < len(matches) and not F.enabled(faults, "missing-next-link"):
        filters = () if F.enabled(faults, "next-link-drops-params") else query.filters
        links.append({"relation": "next", "url": _page_url(collection_url, filters, query.count, next_offset)})
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "search-set" if F.enabled(faults, "wrong-bundle-type") else "searchset",
        "total": len(matches),
        "link": links,
    }
    if page:  # FHIR JSON forbids empty arrays
        bundle["entry"] = [_entry(resource, collection_url, faults) for resource in page]
    return bundle


def _page_url(collection_url: str, filters: tuple[tuple[str, str], ...], count: int, offset: int) -> str:
    return f"{collection_url}?{urlencode([*filters, ('_count', count), (PAGING_PARAM, offset)])}"


def _entry(resource: dict, collection_url: str, faults: frozenset[str]) -> dict:
    entry: dict = {}
    if F.enabled(faults, "relative-full-url"):
        entry["fullUrl"] = f"{resource['resourceType']}/{resource['id']}"
    elif not F.enabled(faults, "missing-full-url"):
        entry["fullUrl"] = f"{collection_url}/{resource['id']}"
    entry["resource"] = resource
    if not F.enabled(faults, "missing-search-mode"):
        entry["search"] = {"mode": "match"}
    return entry
