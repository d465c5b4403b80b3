"""SQLite storage: every resource (FHIR data, Client, AccessPolicy) plus client credentials.

One table holds all resources as JSON; `seq` records insertion order, which search uses as
its stable sort so paging never skips or repeats. Secrets live apart from the Client JSON,
as a per-client random salt and sha256(salt + secret), so no read path can return them.
A single connection guarded by a lock keeps this usable from uvicorn and test threads alike.
"""

import hashlib
import hmac
import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (type, id)
);
CREATE TABLE IF NOT EXISTS credentials (
    client_id TEXT PRIMARY KEY,
    salt TEXT NOT NULL,
    digest TEXT NOT NULL,
    plain TEXT
);
"""


@dataclass(frozen=True)
class Credential:
    """A stored secret: salt and digest, plus the plain text only under faults needing it."""

    salt: str
    digest: str
    plain: str | None = field(default=None, repr=False)

    @classmethod
    def for_secret(cls, secret: str, keep_plain: bool = False) -> "Credential":
        """Hash a new secret with a fresh 128-bit salt."""
        salt = os.urandom(16).hex()
        return cls(salt, _digest(salt, secret), secret if keep_plain else None)

    def matches(self, secret: str) -> bool:
        """Constant-time comparison of whole digests, so timing reveals no prefix length."""
        return hmac.compare_digest(self.digest, _digest(self.salt, secret))

    @property
    def masked(self) -> str:
        """What the admin API shows instead of the secret (Aidbox's `__sha256:` form)."""
        return f"__sha256:{self.digest}"


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    """FHIR instant in UTC with a Z suffix."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stamp(kind: str, resource_id: str, resource: dict, version: int) -> dict:
    """The stored form: path id wins, meta.versionId/lastUpdated set by the server."""
    meta = dict(resource.get("meta") or {})
    meta.update(versionId=str(version), lastUpdated=_now())
    body = {key: value for key, value in resource.items() if key not in ("resourceType", "id", "meta")}
    return {"resourceType": kind, "id": resource_id, "meta": meta, **body}


class Store:
    """Resources and credentials in one SQLite database (a file, or in-memory when path is None)."""

    def __init__(self, path: str | None = None, keep_plain_secrets: bool = False):
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._keep_plain = keep_plain_secrets

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def read(self, kind: str, resource_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT json FROM resources WHERE type = ? AND id = ?", (kind, resource_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def resources(self, kind: str) -> list[dict]:
        """All resources of one type in insertion order."""
        with self._lock:
            rows = self._db.execute("SELECT json FROM resources WHERE type = ? ORDER BY seq", (kind,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def put(self, kind: str, resource_id: str, resource: dict, create_only: bool = False) -> tuple[dict | None, bool]:
        """Create or replace; returns (stored resource, created). An update keeps the row (and
        so its place in search order) and increments the version. With create_only an
        existing resource is left alone and (None, False) is returned."""
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT version FROM resources WHERE type = ? AND id = ?", (kind, resource_id)
            ).fetchone()
            if row and create_only:
                return None, False
            version = row[0] + 1 if row else 1
            stored = _stamp(kind, resource_id, resource, version)
            text = json.dumps(stored, ensure_ascii=False, allow_nan=False)
            if row:
                self._db.execute(
                    "UPDATE resources SET version = ?, json = ? WHERE type = ? AND id = ?",
                    (version, text, kind, resource_id),
                )
            else:
                self._db.execute(
                    "INSERT INTO resources (type, id, version, json) VALUES (?, ?, ?, ?)",
                    (kind, resource_id, version, text),
                )
        return stored, row is None

    def delete(self, kind: str, resource_id: str) -> dict | None:
        """Remove a resource; returns what was removed, or None if there was nothing."""
        with self._lock, self._db:
            row = self._db.execute(
                "DELETE FROM resources WHERE type = ? AND id = ? RETURNING json", (kind, resource_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def credential(self, client_id: str) -> Credential | None:
        with self._lock:
            row = self._db.execute(
                "SELECT salt, digest, plain FROM credentials WHERE client_id = ?", (client_id,)
            ).fetchone()
        return Credential(*row) if row else None

    def credentials(self) -> list[Credential]:
        """Every stored credential (only the accept-any-clients-secret fault needs this)."""
        with self._lock:
            rows = self._db.execute("SELECT salt, digest, plain FROM credentials").fetchall()
        return [Credential(*row) for row in rows]

    def set_secret(self, client_id: str, secret: str | None) -> None:
        """Replace a client's secret at once (rotation), or remove it when secret is None."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM credentials WHERE client_id = ?", (client_id,))
            if secret is not None:
                cred = Credential.for_secret(secret, keep_plain=self._keep_plain)
                self._db.execute(
                    "INSERT INTO credentials (client_id, salt, digest, plain) VALUES (?, ?, ?, ?)",
                    (client_id, cred.salt, cred.digest, cred.plain),
                )
