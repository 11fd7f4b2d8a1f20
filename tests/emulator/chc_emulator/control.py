"""The Managed Postgres control plane: what each service operation does to the state.

HTTP-free: handlers in `http_api` parse the request and call one method here; every method
validates completely before it changes anything.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import string
import uuid
from collections.abc import Callable

from . import access, backups, validation, views
from .backend.base import Backend, Endpoint
from .errors import ApiError, bad_request, conflict
from .reconciler import Reconciler
from .store import Store
from .timefmt import rfc3339

log = logging.getLogger("chc_emulator")

_PASSWORD_ALPHABET = string.ascii_letters + string.digits + "_-"
# pgConfig keys of PostgreSQL's postmaster context (pg_settings.context), so a change waits for a restart.
_RESTART_ONLY = frozenset(
    {
        "max_connections", "max_worker_processes", "autovacuum_freeze_max_age", "max_logical_replication_workers",
        "max_replication_slots", "max_wal_senders", "track_activity_query_size", "wal_buffers",
        "shared_memory_percent",  # not a PostgreSQL parameter: inferred, as shared memory is sized at server start
    }
)  # fmt: skip
# autovacuum_max_workers became reloadable in PostgreSQL 18; io_method exists from 18 on.
_RESTART_ONLY_BY_VERSION = {"17": _RESTART_ONLY | {"autovacuum_max_workers"}, "18": _RESTART_ONLY | {"io_method"}}
_RESTART_MESSAGE = (
    "The changes in the following parameters require a database restart to take effect: {keys}. "
    "You can restart the database by using the restart endpoint."
)
_REPLICA_NOT_READY = "Parent server is not ready for read replicas. There are no backups, yet."


@dataclasses.dataclass
class Timings:
    """Seconds each asynchronous step takes, as seen by clients."""

    provisioning: float = 5.0
    update: float = 3.0
    restart: float = 2.0
    deletion: float = 2.0
    first_backup: float = 60.0
    backup_interval: float = backups.INTERVAL
    backup_retention: float = backups.RETENTION


def generate_password() -> str:
    while True:
        password = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(20))
        if any(c.islower() for c in password) and any(c.isupper() for c in password) and any(c.isdigit() for c in password):
            return password


def restart_only_keys(postgres_version: str) -> frozenset[str]:
    return _RESTART_ONLY_BY_VERSION.get(postgres_version, _RESTART_ONLY)


class ControlPlane:
    def __init__(self, store: Store, backend: Backend, reconciler: Reconciler, timings: Timings, *, redact: bool):
        self.store = store
        self.backend = backend
        self.reconciler = reconciler
        self.timings = timings
        self.redact = redact

    # --- reads ---------------------------------------------------------------------------

    def list_services(self) -> list[dict]:
        return [views.list_item(doc) for doc in self.store.all()]

    def get_service(self, service_id: str) -> dict:
        return self._view(self.store.get(service_id))

    def list_backups(self, service_id: str, query: dict[str, str]) -> tuple[list[dict], str | None]:
        limit = validation.parse_int("limit", query.get("limit"), default=100, low=1, high=100)
        return backups.page(self.store.get(service_id), cursor=query.get("cursor"), limit=limit)

    def _view(self, doc: dict, *, credentials: bool | None = None) -> dict:
        """The service as GET shows it; credentials unless redacted (or as asked)."""
        shown = not self.redact if credentials is None else credentials
        earliest = backups.earliest_restore_time(doc, self.store.clock(), self.timings.backup_retention)
        return views.service(doc, credentials=shown, earliest_restore=earliest)

    def get_config(self, service_id: str) -> dict:
        return views.config(self.store.get(service_id))

    def ca_certificate(self, service_id: str) -> str:
        self.store.get(service_id)
        return self.backend.ca_certificate(service_id)

    # --- creation ------------------------------------------------------------------------

    def create_service(self, body: object) -> dict:
        body = validation.require_object(body)
        validation.check_schema("PostgresServicePostRequest", body)
        validation.check_size(body["provider"], body["size"])
        if "ipAccessList" in body:
            access.check_rules(body["ipAccessList"], "ipAccessList")
            rules = access.new_rules(body["ipAccessList"])
        else:
            rules = access.default_rules()
        fields = {
            "name": body["name"],
            "provider": body["provider"],
            "region": body["region"],
            "size": body["size"],
            "postgresVersion": body.get("postgresVersion", "17"),
            "haType": body.get("haType", "none"),
            "isPrimary": True,
            "ipAccessList": rules,
        }
        password = generate_password()
        return self._new_service(body, fields, kind="provision", password=password, provision=functools.partial(self.backend.provision, password=password))

    def create_replica(self, primary_id: str, body: object) -> dict:
        body = validation.require_object(body)
        validation.check_schema("PostgresServiceReadReplicaRequest", body)
        primary = self.store.get(primary_id)
        if not primary["isPrimary"]:
            raise bad_request("a read replica cannot have read replicas of its own")
        self._require_state(primary, "running")
        if not primary["backups"]:
            raise bad_request(_REPLICA_NOT_READY)
        fields = {key: primary[key] for key in ("provider", "region", "size", "postgresVersion")}
        fields.update(name=body["name"], haType="none", isPrimary=False, primaryId=primary_id, ipAccessList=access.copied(primary["ipAccessList"]))
        # A physical copy: the primary's roles, so its password, and they change with the primary's.
        provision = functools.partial(self.backend.provision_replica, primary_id=primary_id)
        return self._new_service(body, fields, kind="provision", password=primary["password"], provision=provision)

    def restore_service(self, source_id: str, body: object) -> dict:
        body = validation.require_object(body)
        validation.check_schema("PostgresServiceRestoreRequest", body)
        source = self.store.get(source_id)
        target = validation.parse_datetime("restoreTarget", body["restoreTarget"]).timestamp()
        now = self.store.clock()
        retention = self.timings.backup_retention
        earliest = backups.earliest_restore_time(source, now, retention)
        if target > now:
            raise bad_request("restoreTarget: must not be in the future")
        if earliest is None:
            raise bad_request("restoreTarget: the service has no backup yet")
        if not backups.covers(source, now, target, retention):
            raise bad_request(f"restoreTarget: no backup covers this time; the earliest restorable time is {rfc3339(earliest)}")
        self._require_state(source, "running")  # its WAL up to now is archived before the restore starts
        backup = backups.restored_from(source, target)
        fields = {key: source[key] for key in ("provider", "region", "size", "postgresVersion", "haType")}
        # A restored service comes with the default rules; clients copy the source's over (live doc §2).
        fields.update(name=body["name"], isPrimary=True, restoredFrom=source_id, restoreTarget=rfc3339(target), ipAccessList=access.default_rules())
        provision = functools.partial(self.backend.provision_restore, source_id=source_id, backup_key=backup["key"], target=target)
        return self._new_service(body, fields, kind="restore", password=source["password"], provision=provision)

    def _new_service(self, body: dict, fields: dict, *, kind: str, password: str, provision: Callable[..., Endpoint]) -> dict:
        """Validate what is left of the body, have the backend build the server (provision(service_id, pg_config, sources)),
        and store the service."""
        tags = body.get("tags", [])
        validation.check_tags(tags)
        pg_config = validation.normalise_pg_config(body.get("pgConfig", {}))
        service_id = str(uuid.uuid4())
        endpoint = provision(service_id, pg_config=pg_config, sources=access.postgres_sources(fields["ipAccessList"]))
        now = self.store.clock()
        doc = {
            "id": service_id,
            "seq": self.store.next_seq(),
            **fields,
            "tags": [{"key": t["key"], "value": t["value"]} for t in tags],
            "state": "restoring_backup" if kind == "restore" else "creating",
            "createdAt": rfc3339(now),
            "password": password,
            "host": endpoint.host,
            "port": endpoint.port,
            "pgConfig": pg_config,
            "pgBouncerConfig": dict(body.get("pgBouncerConfig", {})),
            "configGeneration": 1,
            "appliedConfig": 1,
            # A restore's data has the password of its target time: the current one is set once it runs.
            "passwordGeneration": 2 if kind == "restore" else 1,
            "appliedPassword": 1,
            "accessGeneration": 1,
            "appliedAccess": 1,
            "appliedHaType": "none",  # the reconciler gives a primary its standbys
            "backups": [],
            "backupDue": now + self.timings.provisioning + self.timings.first_backup if fields["isPrimary"] else None,
            "pending": [],
            "transition": self._transition(kind, now, self.timings.provisioning),
        }
        self.store.save(doc)
        log.info("service %s (%s) created, %s", service_id, doc["name"], kind)
        return self._view(doc, credentials=True)

    @staticmethod
    def _transition(kind: str, now: float, seconds: float) -> dict:
        transition = {"kind": kind, "since": now, "notBefore": now + seconds, "backendDone": False}
        return transition | {"progress": 0} if kind == "restore" else transition

    # --- changes -------------------------------------------------------------------------

    def patch_service(self, service_id: str, body: object) -> dict:
        body = validation.require_object(body)
        validation.check_schema("PostgresServicePatchRequest", body)
        if "tags" in body:
            validation.check_tags(body["tags"])
        with self.store.editing(service_id) as doc:
            self._require_not_deleting(doc)
            if "size" in body:
                validation.check_size(doc["provider"], body["size"])
            deferred = {key: body[key] for key in ("size", "haType") if key in body and body[key] != doc[key]}
            if not doc["isPrimary"] and (deferred or "tags" in body):
                raise bad_request("read replicas take size, haType and tags from their primary; they cannot be changed")
            if deferred:
                self._require_state(doc, "running")
                due = self.store.clock() + self.timings.update
                doc["pending"] = [c for c in doc["pending"] if not set(c["fields"]) & set(deferred)]
                doc["pending"].append({"due": due, "fields": deferred})
            if "tags" in body:
                doc["tags"] = [{"key": t["key"], "value": t["value"]} for t in body["tags"]]
            if "name" in body:
                doc["name"] = body["name"]
            if "ipAccessList" in body:
                doc["ipAccessList"] = access.patched(doc["ipAccessList"], body["ipAccessList"])
                doc["accessGeneration"] += 1
        if "ipAccessList" in body:
            self.reconciler.sync(service_id)
        return self._view(doc)

    def delete_service(self, service_id: str) -> None:
        with self.store.editing(service_id) as doc:
            self._require_not_deleting(doc)
            replicas = sorted(d["id"] for d in self.store.all() if d.get("primaryId") == service_id)
            if replicas:
                raise conflict(f"cannot delete a primary with dependent read replicas: {', '.join(replicas)}")
            doc["state"] = "deleting"
            doc["pending"] = []
            doc["transition"] = self._transition("delete", self.store.clock(), self.timings.deletion)

    def run_command(self, service_id: str, body: object) -> dict:
        body = validation.require_object(body)
        validation.check_schema("PostgresServiceSetState", body)
        command = body.get("command")
        if command is None:
            raise bad_request("command: required property is missing")
        doc = self.store.get(service_id)
        self._require_state(doc, "running")
        if command == "promote":
            if doc["isPrimary"]:
                raise bad_request("command: promote applies to read replicas only")
            self.reconciler.promote(service_id)  # writable by the time the answer says it is a primary
        elif command == "switchover" and not doc["isPrimary"]:
            raise bad_request("command: switchover applies to primaries only")
        with self.store.editing(service_id) as doc:
            now = self.store.clock()
            if command == "promote":
                doc.update(isPrimary=True, backupDue=now + self.timings.first_backup)
                doc.pop("primaryId", None)
            else:
                self._require_state(doc, "running")
                doc["state"] = "restarting"
                doc["transition"] = self._transition(command, now, self.timings.restart)
        return self._view(doc)

    def set_password(self, service_id: str, body: object) -> dict:
        body = validation.require_object(body)
        validation.check_schema("PostgresServiceSetPassword", body)
        generated = "password" not in body
        with self.store.editing(service_id) as doc:
            self._require_not_deleting(doc)
            if not doc["isPrimary"]:
                raise bad_request("a read replica has its primary's password (it is a copy of the primary); set the primary's")
            doc["password"] = generate_password() if generated else body["password"]
            doc["passwordGeneration"] += 1
        self.reconciler.sync(service_id)
        for replica in [d["id"] for d in self.store.all() if d.get("primaryId") == service_id]:
            with self.store.editing(replica) as copy:  # the change reached it through the primary's WAL
                copy["password"] = doc["password"]
        return {"password": doc["password"]} if generated else {}

    def write_config(self, service_id: str, body: object, *, merge: bool) -> dict:
        body = validation.require_object(body)
        if merge:
            # RFC 7396: a null removes the key.
            # A section that is not an object is left for the schema check to reject.
            removals = {
                section: [k for k, v in value.items() if v is None] if isinstance(value := body.get(section), dict) else []
                for section in ("pgConfig", "pgBouncerConfig")
            }
            body = {section: {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value for section, value in body.items()}
        validation.check_schema("postgresInstanceConfig", body, allow_empty_config=True)
        pg_config = validation.normalise_pg_config(body["pgConfig"])
        bouncer = dict(body["pgBouncerConfig"])
        with self.store.editing(service_id) as doc:
            self._require_not_deleting(doc)
            before = dict(doc["pgConfig"])
            if merge:
                for key in removals["pgConfig"]:
                    doc["pgConfig"].pop(key, None)
                for key in removals["pgBouncerConfig"]:
                    doc["pgBouncerConfig"].pop(key, None)
                doc["pgConfig"].update(pg_config)
                doc["pgBouncerConfig"].update(bouncer)
            else:
                doc["pgConfig"], doc["pgBouncerConfig"] = pg_config, bouncer
            if doc["pgConfig"] != before:
                doc["configGeneration"] += 1
        self.reconciler.sync(service_id)
        changed = {key for key in before.keys() | doc["pgConfig"].keys() if before.get(key) != doc["pgConfig"].get(key)}
        result = views.config(doc)
        needs_restart = sorted(changed & restart_only_keys(doc["postgresVersion"]))
        if needs_restart:
            result["message"] = _RESTART_MESSAGE.format(keys=", ".join(needs_restart))
        return result

    # --- guards --------------------------------------------------------------------------

    @staticmethod
    def _require_not_deleting(doc: dict) -> None:
        if doc["state"] == "deleting":
            raise conflict(f"service {doc['id']} is being deleted")

    @staticmethod
    def _require_state(doc: dict, state: str) -> None:
        if doc["state"] != state:
            raise ApiError(409, f"service {doc['id']} is {doc['state']}; this operation needs it {state}")
