"""Brings the real servers in line with the stored services, in the background.

The store says what should be (a service being created, restarted, switched over, restored,
deleted; a config or password or access-rule generation not yet applied; an haType without
its standbys; a backup that is due); the reconciler makes the backend do it and records that
it is done.  It is the only caller of the slow backend operations, so HTTP handlers never
wait on a server start, and after a crash it simply finds the work still to do.  (Promotion
is the exception: the API answers once the replica is writable, see `promote`.)
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import access, backups
from .backend.base import Backend
from .store import Store

log = logging.getLogger("chc_emulator")

_READY_TIMEOUT = 60.0
_STANDBYS = {"async": 1, "sync": 2}  # haType -> standbys (reference §5.2); none and unknown types: 0
_BACKUP_RETRY = 30.0  # after a backup failed (the log says why)


class Reconciler:
    def __init__(
        self,
        store: Store,
        backend: Backend,
        *,
        workers: int = 4,
        interval: float = 0.1,
        backup_interval: float = backups.INTERVAL,
        backup_retention: float = backups.RETENTION,
    ):
        self.store = store
        self.backend = backend
        self.interval = interval
        self.backup_interval = backup_interval
        self.backup_retention = backup_retention
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._busy: set[str] = set()
        self._live: set[str] = set()  # servers started by this process
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _lock(self, service_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(service_id, threading.Lock())

    # --- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for doc in self.store.all():
                if self._needs_work(doc):
                    self._submit(doc["id"])

    def _needs_work(self, doc: dict) -> bool:
        transition = doc.get("transition")
        if transition and transition.get("error"):
            return False  # left `unavailable`, as a broken cloud server would be
        if transition and not transition["backendDone"]:
            return True
        if doc["state"] == "deleting":
            return False
        return doc["id"] not in self._live or self._out_of_sync(doc) or self._standbys_differ(doc) or self._backups_due(doc)

    @staticmethod
    def _out_of_sync(doc: dict) -> bool:
        return (
            doc["configGeneration"] != doc["appliedConfig"]
            or doc["passwordGeneration"] != doc["appliedPassword"]
            or doc["accessGeneration"] != doc["appliedAccess"]
        )

    @staticmethod
    def _standbys_differ(doc: dict) -> bool:
        return doc.get("haType", "none") != doc.get("appliedHaType", "none")

    def _backups_due(self, doc: dict) -> bool:
        if doc["state"] != "running" or not doc.get("isPrimary", True):
            return False
        now = self.store.clock()
        due = doc.get("backupDue")
        return (due is not None and now >= due) or backups.kept(doc["backups"], now, self.backup_retention) != doc["backups"]

    def _submit(self, service_id: str) -> None:
        with self._guard:
            if service_id in self._busy or self._stop.is_set():
                return
            self._busy.add(service_id)
        self._pool.submit(self._work, service_id)

    def _work(self, service_id: str) -> None:
        try:
            with self._lock(service_id):
                self._reconcile(service_id)
        except Exception as exc:  # a broken server must not stop the loop
            log.exception("service %s: backend failed", service_id)
            self._record_error(service_id, exc)
        finally:
            with self._guard:
                self._busy.discard(service_id)

    def _reconcile(self, service_id: str) -> None:
        doc = self.store.find(service_id)
        if doc is None:
            return
        transition = doc.get("transition")
        kind = transition["kind"] if transition and not transition["backendDone"] else None
        if kind == "delete":
            self.backend.destroy(service_id)
            self._live.discard(service_id)
        elif kind == "restart":
            self._apply_changes(doc)
            self.backend.restart(service_id)
            self._wait_ready(service_id)
            self._live.add(service_id)
        elif kind == "switchover":
            self._start(service_id)
            self._apply_changes(doc)
            self._apply_standbys(doc)  # an haType change that came just before: switch over to its standby
            self.backend.switchover(service_id)
            self._wait_ready(service_id)
        else:
            self._start(service_id)
            if kind == "restore":
                self._mark_progress(service_id, transition, 1)  # replaying WAL
                self.backend.finish_restore(service_id)
                self._mark_progress(service_id, transition, 2)  # promoted; the password and settings follow
            self._apply_changes(doc)
            self._apply_standbys(doc)
            self._keep_backups(service_id)
        if kind is not None:
            # Only the transition this pass worked on: a delete that came in meanwhile still needs its pass.
            started = (transition["kind"], transition["since"])

            def done(d: dict) -> None:
                current = d.get("transition")
                if current and (current["kind"], current["since"]) == started:
                    current["backendDone"] = True

            self._mark(service_id, done)

    def _start(self, service_id: str) -> None:
        if service_id not in self._live:
            self.backend.start(service_id)
            self._wait_ready(service_id)
            self._live.add(service_id)

    def _mark_progress(self, service_id: str, transition: dict, progress: int) -> None:
        """How far a restore got (store.settle shows no state before its step is reached)."""

        def mark(doc: dict) -> None:
            current = doc.get("transition")
            if current and (current["kind"], current["since"]) == (transition["kind"], transition["since"]):
                current["progress"] = progress

        self._mark(service_id, mark)

    def _wait_ready(self, service_id: str) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while not self.backend.is_ready(service_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"server of {service_id} not ready after {_READY_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def _apply_changes(self, doc: dict) -> None:
        service_id = doc["id"]
        if doc["configGeneration"] != doc["appliedConfig"]:
            outcome = self.backend.apply_config(service_id, doc["pgConfig"])
            if outcome.not_applied:
                log.info("service %s: stored but not applied (unknown to this PostgreSQL): %s", service_id, ", ".join(outcome.not_applied))
            self._mark(service_id, lambda d, g=doc["configGeneration"]: d.update(appliedConfig=g))
        if doc["passwordGeneration"] != doc["appliedPassword"]:
            self.backend.set_password(service_id, doc["password"])
            self._mark(service_id, lambda d, g=doc["passwordGeneration"]: d.update(appliedPassword=g))
        if doc["accessGeneration"] != doc["appliedAccess"]:
            self.backend.apply_access(service_id, access.postgres_sources(doc["ipAccessList"]))
            self._mark(service_id, lambda d, g=doc["accessGeneration"]: d.update(appliedAccess=g))

    def _apply_standbys(self, doc: dict) -> None:
        """As many HA standbys as the haType that has come into effect asks for (a replica: none)."""
        if not self._standbys_differ(doc):
            return
        ha_type = doc["haType"]
        self.backend.set_standbys(doc["id"], _STANDBYS.get(ha_type, 0) if doc["isPrimary"] else 0, synchronous=ha_type == "sync")
        self._mark(doc["id"], lambda d: d.update(appliedHaType=ha_type))

    def _keep_backups(self, service_id: str) -> None:
        """Take the backup that is due, and let go of those the retention window no longer needs.

        A backup is recorded after the backend has it, and forgotten before the backend removes
        it, so a crash between the two leaves a backup nobody lists, removed the next time.
        """
        doc = self.store.find(service_id)
        if doc is None or not self._backups_due(doc):
            return
        now = self.store.clock()
        if doc["backupDue"] is not None and now >= doc["backupDue"]:
            try:
                backup = self.backend.take_backup(service_id)
            except Exception:
                log.exception("service %s: backup failed; trying again in %.0f s", service_id, _BACKUP_RETRY)
                self._mark(service_id, lambda d: d.update(backupDue=self.store.clock() + _BACKUP_RETRY))
                return

            def record(d: dict) -> None:
                d["backups"].insert(0, {"key": backup.key, "takenAt": backup.taken_at})
                d["backupDue"] = backup.taken_at + self.backup_interval

            self._mark(service_id, record)
        keep = backups.kept(self.store.get(service_id)["backups"], self.store.clock(), self.backup_retention)
        self._mark(service_id, lambda d: d.update(backups=keep))
        self.backend.retain_backups(service_id, [backup["key"] for backup in keep])

    def _mark(self, service_id: str, change) -> None:
        with self.store.lock:
            doc = self.store.find(service_id)
            if doc is not None:
                change(doc)
                self.store.save(doc)

    def _record_error(self, service_id: str, exc: Exception) -> None:
        def mark(doc: dict) -> None:
            if doc.get("transition"):
                doc["transition"]["error"] = str(exc)

        self._mark(service_id, mark)

    # --- synchronous path ----------------------------------------------------------------

    def promote(self, service_id: str) -> None:
        """Make the replica a primary now: the API says it is one when it answers."""
        with self._lock(service_id):
            self.backend.promote(service_id)

    def sync(self, service_id: str) -> None:
        """Apply config and password now when the server is up, so a reload-only setting is
        live by the time the API answers; otherwise the loop applies them once it is."""
        if service_id not in self._live:
            return
        with self._lock(service_id):
            doc = self.store.find(service_id)
            if doc is not None and doc["state"] not in ("deleting",):
                self._apply_changes(doc)
