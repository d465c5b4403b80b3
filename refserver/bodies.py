"""Request bodies and ids: everything a client sends is checked here and refused with a 400.

Stored JSON is later searched, stamped and serialised, so anything odd (bad UTF-8, NaN,
deep nesting, wrong field types) is stopped at the door rather than surfacing as a 5xx.
"""

import json
import re

from starlette.requests import Request

from .outcomes import Problem

RESOURCE_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_JSON_DEPTH = 64


def _is_string_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_object_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


# Per admin type: field -> (check, what it must be). A field, if present, must pass (null too).
FIELD_RULES = {
    "Client": {
        "secret": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
        "grant_types": (_is_string_list, "a list of strings"),
    },
    "AccessPolicy": {
        "engine": (lambda v: isinstance(v, str), "a string"),
        "link": (_is_object_list, "a list of objects"),
    },
}


def valid_id(value: object) -> str:
    if not isinstance(value, str) or not RESOURCE_ID.fullmatch(value):
        raise Problem(400, "invalid", "id must be 1-64 characters of A-Z a-z 0-9 - .")
    return value


async def read_resource(request: Request, kind: str, path_id: str | None, type_required: bool) -> dict:
    """The body as a resource of `kind`: a JSON object with the right resourceType (optional
    in the admin API, as in Aidbox), an id equal to the path's, fields of the right types."""
    body = parse_json_object(await request.body())
    resource_type = body.get("resourceType", None if type_required else kind)
    if resource_type != kind:
        raise Problem(400, "invalid", f"resourceType must be {kind}")
    if path_id is not None and "id" in body and body["id"] != path_id:
        raise Problem(400, "invalid", "id in the body does not match the id in the URL")
    if "meta" in body and not isinstance(body["meta"], dict):
        raise Problem(400, "invalid", "meta must be an object")
    for field, (check, expected) in FIELD_RULES.get(kind, {}).items():
        if field in body and not check(body[field]):
            raise Problem(400, "invalid", f"{field} must be {expected}")
    return body


def parse_json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise Problem(400, "structure", "request body is not valid JSON (UTF-8)") from error
    if not isinstance(body, dict):
        raise Problem(400, "structure", "request body must be a JSON object")
    if _too_deep(body):
        raise Problem(400, "structure", f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    return body


def _reject_constant(name: str) -> None:
    """json.loads would accept NaN and Infinity, which are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def _too_deep(value: object) -> bool:
    """Whether JSON nests deeper than MAX_JSON_DEPTH. Deeper input parses, but serialising it
    again could hit Python's recursion limit: refuse it up front instead."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return False
