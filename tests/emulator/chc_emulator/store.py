"""Durable state of the emulated organisation: services and telemetry samples, in SQLite.

A service is a JSON document kept in memory and written through on every change, so that
an emulator killed with SIGKILL and started again on the same directory finds everything
as it was.  Time-driven changes (a create that becomes `running`, a resize that lands) are
stored as due times and settled lazily, so they survive restarts too.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import access
from .errors import not_found

_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (service_id TEXT NOT NULL, ts REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS samples_by_service ON samples (service_id, ts);
"""

_RESTORE_PHASES = ("restoring_backup", "replaying_wal", "finalizing_restore")


def upgrade(doc: dict) -> dict:
    """A document stored by an older emulator.

    Before the live API's access rules: it had the default rules, and its server must get the
    pg_hba.conf written from them.  Before real backups: it had a backup time (backupAt) but
    no backup, and a pg_hba.conf that refuses the replication connections backups need.
    """
    if "ipAccessList" not in doc:
        doc.update(ipAccessList=access.default_rules(), accessGeneration=1, appliedAccess=0)
    if "backups" not in doc:
        due = doc.pop("backupAt", None) if doc.get("isPrimary", True) else None
        doc.update(backups=[], backupDue=due, appliedAccess=0)
    return doc


def settle(doc: dict, now: float) -> bool:
    """Apply what has come due by `now`; True if the document changed."""
    changed = False
    still_pending = []
    for change in doc.get("pending", []):
        if change["due"] <= now:
            doc.update(change["fields"])
            changed = True
        else:
            still_pending.append(change)
    doc["pending"] = still_pending

    transition = doc.get("transition")
    if not transition:
        return changed
    if transition.get("error"):
        if doc["state"] != "unavailable":
            doc["state"] = "unavailable"
            changed = True
        return changed
    if transition["backendDone"] and now >= transition["notBefore"]:
        if transition["kind"] == "delete":
            doc["gone"] = True
        else:
            doc["state"] = "running"
            doc["transition"] = None
        return True
    if transition["kind"] == "restore":
        # Each phase lasts a third of the provisioning time at least, and no phase is shown
        # before the backend reached it (progress: 1 replaying WAL, 2 promoted).
        span = max(transition["notBefore"] - transition["since"], 1e-9)
        phase = _RESTORE_PHASES[min(int((now - transition["since"]) / span * 3), 2, transition.get("progress", 2))]
        if doc["state"] != phase:
            doc["state"] = phase
            changed = True
    return changed


class Store:
    """Services and samples.  One lock guards memory and the database; hold it briefly."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._docs: dict[str, dict] = {}
        for service_id, doc in self._db.execute("SELECT id, doc FROM services ORDER BY seq"):
            self._docs[service_id] = upgrade(json.loads(doc))
        self._seq = max((d["seq"] for d in self._docs.values()), default=0)

    # --- services -------------------------------------------------------------------------

    def next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    def save(self, doc: dict) -> None:
        with self.lock:
            if doc.get("gone"):
                self._docs.pop(doc["id"], None)
                self._db.execute("DELETE FROM services WHERE id = ?", (doc["id"],))
                self._db.execute("DELETE FROM samples WHERE service_id = ?", (doc["id"],))
                return
            self._docs[doc["id"]] = doc
            self._db.execute(
                "INSERT INTO services (id, seq, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                (doc["id"], doc["seq"], json.dumps(doc)),
            )

    def _settled(self, doc: dict) -> dict | None:
        if settle(doc, self.clock()):
            self.save(doc)
        return None if doc.get("gone") else doc

    def find(self, service_id: str) -> dict | None:
        with self.lock:
            doc = self._docs.get(service_id)
            return self._settled(doc) if doc is not None else None

    def get(self, service_id: str) -> dict:
        doc = self.find(service_id)
        if doc is None:
            raise not_found(f"Postgres service {service_id}")
        return doc

    def all(self) -> list[dict]:
        with self.lock:
            return [d for d in (self._settled(doc) for doc in list(self._docs.values())) if d is not None]

    @contextmanager
    def editing(self, service_id: str) -> Iterator[dict]:
        """Read-modify-write one service under the lock; saved only when the block succeeds,
        so a request rejected halfway leaves the service as it was."""
        with self.lock:
            doc = copy.deepcopy(self.get(service_id))
            yield doc
            self.save(doc)

    # --- telemetry samples ----------------------------------------------------------------

    def add_sample(self, service_id: str, ts: float, data: dict, *, keep_seconds: float) -> None:
        with self.lock:
            self._db.execute("INSERT INTO samples VALUES (?, ?, ?)", (service_id, ts, json.dumps(data)))
            self._db.execute("DELETE FROM samples WHERE service_id = ? AND ts < ?", (service_id, ts - keep_seconds))

    def samples(self, service_id: str, since: float, until: float) -> list[tuple[float, dict]]:
        with self.lock:
            rows = self._db.execute(
                "SELECT ts, data FROM samples WHERE service_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (service_id, since, until),
            ).fetchall()
        return [(ts, json.loads(data)) for ts, data in rows]

    def close(self) -> None:
        with self.lock:
            self._db.close()
