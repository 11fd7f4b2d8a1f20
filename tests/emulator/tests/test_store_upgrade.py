"""A data directory from before the access rules and the real backups: its services come back with
the default rules, and the reconciler writes their servers' pg_hba.conf from them (with the
replication line backups need) and takes the backup that was due."""

from __future__ import annotations

import json
import sqlite3

from chc_emulator.backend import NullBackend
from chc_emulator.reconciler import Reconciler
from chc_emulator.store import Store
from emutest import wait_until


class RecordingBackend(NullBackend):
    def __init__(self, data_dir):
        super().__init__(data_dir)
        self.admitted: dict[str, list[str]] = {}

    def apply_access(self, service_id, sources):
        self.admitted[service_id] = list(sources)


def old_database(tmp_path, *docs: dict) -> Store:
    Store(tmp_path / "state.db").close()  # the schema
    with sqlite3.connect(tmp_path / "state.db") as db:
        for doc in docs:
            db.execute("INSERT INTO services VALUES (?, ?, ?)", (doc["id"], doc["seq"], json.dumps(doc)))
    return Store(tmp_path / "state.db")


def test_an_old_service_gets_the_default_rules_and_its_server_the_file(tmp_path):
    old = {
        "id": "old-service", "seq": 1, "state": "running", "transition": None, "pending": [],
        "configGeneration": 1, "appliedConfig": 1, "passwordGeneration": 1, "appliedPassword": 1,
    }  # fmt: skip
    store = old_database(tmp_path, old)
    doc = store.get("old-service")
    assert [(r["source"], r["portRange"]) for r in doc["ipAccessList"]] == [("0.0.0.0/0", "5432"), ("0.0.0.0/0", "6432")]
    backend = RecordingBackend(tmp_path / "null")
    reconciler = Reconciler(store, backend, interval=0.01)
    reconciler.start()
    try:
        wait_until(lambda: backend.admitted.get("old-service") == ["0.0.0.0/0"], 5, "the old server's pg_hba.conf")
        wait_until(lambda: store.get("old-service")["appliedAccess"] == 1, 5, "the rules to count as applied")
    finally:
        reconciler.stop()
        store.close()


def test_an_old_primary_gets_the_backup_it_was_due(tmp_path):
    old = {
        "id": "old-primary", "seq": 1, "state": "running", "transition": None, "pending": [], "isPrimary": True, "haType": "none",
        "configGeneration": 1, "appliedConfig": 1, "passwordGeneration": 1, "appliedPassword": 1,
        "ipAccessList": [], "accessGeneration": 1, "appliedAccess": 1, "backupAt": 1_000_000.0,
    }  # fmt: skip
    store = old_database(tmp_path, old)
    assert store.get("old-primary")["appliedAccess"] == 0, "its pg_hba.conf is written again, with the replication line"
    reconciler = Reconciler(store, RecordingBackend(tmp_path / "null"), interval=0.01)
    reconciler.start()
    try:
        taken = wait_until(lambda: store.get("old-primary")["backups"], 5, "the backup that was due")
        assert len(taken) == 1 and store.get("old-primary")["backupDue"] > taken[0]["takenAt"]
    finally:
        reconciler.stop()
        store.close()
