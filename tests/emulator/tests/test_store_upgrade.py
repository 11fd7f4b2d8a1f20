"""A data directory from before the access rules: its services come back with the default
rules, and the reconciler writes their servers' pg_hba.conf from them."""

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


def test_an_old_service_gets_the_default_rules_and_its_server_the_file(tmp_path):
    old = {
        "id": "old-service", "seq": 1, "state": "running", "transition": None, "pending": [],
        "configGeneration": 1, "appliedConfig": 1, "passwordGeneration": 1, "appliedPassword": 1,
    }  # fmt: skip
    Store(tmp_path / "state.db").close()  # the schema
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("INSERT INTO services VALUES (?, ?, ?)", (old["id"], old["seq"], json.dumps(old)))
    store = Store(tmp_path / "state.db")
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
