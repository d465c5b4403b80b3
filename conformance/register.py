"""The requirement register, features/requirements.csv (DESIGN.md §4)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REGISTER_PATH = Path(__file__).resolve().parent.parent / "features" / "requirements.csv"
LEVELS = ("MUST", "SHOULD", "MAY")


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    source: str
    url: str
    text: str
    untestable: str = ""


@lru_cache(maxsize=None)
def load_register(path: Path = REGISTER_PATH) -> dict[str, Requirement]:
    """Requirements by id; a malformed row is an error, not something to skip."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    register = {}
    for number, row in enumerate(rows, start=2):
        requirement = Requirement(**{key: (value or "").strip() for key, value in row.items() if key})
        if requirement.level not in LEVELS:
            raise ValueError(f"{path}:{number}: level {requirement.level!r} is not one of {LEVELS}")
        if requirement.id in register:
            raise ValueError(f"{path}:{number}: duplicate id {requirement.id}")
        register[requirement.id] = requirement
    return register


def requirement(requirement_id: str) -> Requirement:
    try:
        return load_register()[requirement_id]
    except KeyError:
        raise KeyError(f"requirement {requirement_id!r} is not in {REGISTER_PATH.name}") from None
