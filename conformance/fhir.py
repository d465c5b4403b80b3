"""FHIR and JSON Schema validation: fhir.resources for the resources, the project's schemas for the rest.

Validators are built once and reused: compiling a JSON Schema per Bundle would dominate the cost.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import import_module
from pathlib import Path

import jsonschema
from pydantic import ValidationError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# R4 has no package of its own in fhir.resources 8: its R4B models are the closest (DESIGN.md §3).
_MODEL_PACKAGES = {"R4": "fhir.resources.R4B", "R4B": "fhir.resources.R4B", "R5": "fhir.resources"}


@lru_cache(maxsize=None)
def schema_validator(name: str) -> jsonschema.protocols.Validator:
    """The compiled validator of schemas/<name>.schema.json."""
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def schema_errors(name: str, instance) -> list[str]:
    """Every way instance breaks the schema, as 'path: message' lines (empty when valid)."""
    errors = sorted(schema_validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


@lru_cache(maxsize=None)
def resource_model(fhir_version: str, resource_type: str):
    """The fhir.resources model class for a resource type, or None when the version has no such type."""
    package = _MODEL_PACKAGES[fhir_version]
    try:
        module = import_module(f"{package}.{resource_type.lower()}")
        return getattr(module, resource_type)
    except (ImportError, AttributeError):
        return None


def model_errors(fhir_version: str, resource: dict) -> list[str]:
    """Validate a resource with fhir.resources; errors as 'location: message' lines."""
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    model = resource_model(fhir_version, resource_type) if isinstance(resource_type, str) else None
    if model is None:
        return [f"(root): resourceType {resource_type!r} is not a FHIR {fhir_version} resource"]
    try:
        model.model_validate(resource)
    except ValidationError as error:
        return [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in error.errors()]
    except (TypeError, ValueError) as error:
        return [f"(root): {error}"]
    return []
