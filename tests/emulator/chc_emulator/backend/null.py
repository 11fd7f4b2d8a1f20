"""NullBackend: the backend contract with no servers at all, for --no-postgres scale runs.

Every service "runs" at once on the same endpoint; nothing is ever executed or logged, and
every statistic is zero.  Backups are taken at once and hold nothing; replicas, standbys,
promotions, switchovers and restores are instant.  The CA certificate is a real one, made once
per process.
"""

from __future__ import annotations

import datetime as dt
import functools
import pathlib
import time
from collections.abc import Sequence

from . import certs, stats
from .base import ALL_SOURCES, Backup, ConfigOutcome, Endpoint, Execution, LogEntry

# PostgreSQL 15's postmaster-context keys among the API's pgConfig keys (`postgres --describe-config`).
RESTART_KEYS = frozenset(
    {
        "max_connections", "max_worker_processes", "autovacuum_max_workers", "autovacuum_freeze_max_age",
        "max_logical_replication_workers", "max_replication_slots", "max_wal_senders", "track_activity_query_size", "wal_buffers",
    }
)  # fmt: skip


@functools.cache
def _ca_pem() -> str:
    return certs.to_pem(certs.new_ca("chc-emulator CA (no servers)")[1])


class NullBackend:
    def __init__(self, data_dir: pathlib.Path, host: str = "localhost", port: int = 5432):
        """Built like PostgresBackend; data_dir is only created, nothing is stored in it."""
        self.data_dir = data_dir
        self.host = host
        self.port = port

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def provision(self, service_id: str, password: str, pg_config: dict[str, str], sources: Sequence[str] = ALL_SOURCES) -> Endpoint:
        return self.endpoint(service_id)

    def provision_replica(self, service_id: str, primary_id: str, pg_config: dict[str, str], sources: Sequence[str]) -> Endpoint:
        return self.endpoint(service_id)

    def provision_restore(
        self, service_id: str, source_id: str, backup_key: str, target: float, pg_config: dict[str, str], sources: Sequence[str]
    ) -> Endpoint:
        return self.endpoint(service_id)

    def start(self, service_id: str) -> None:
        pass

    def finish_restore(self, service_id: str) -> None:
        pass

    def is_ready(self, service_id: str) -> bool:
        return True

    def restart(self, service_id: str) -> None:
        pass

    def stop(self, service_id: str) -> None:
        pass

    def destroy(self, service_id: str) -> None:
        pass

    def endpoint(self, service_id: str) -> Endpoint:
        return Endpoint(self.host, self.port)

    def ca_certificate(self, service_id: str) -> str:
        return _ca_pem()

    def set_password(self, service_id: str, password: str) -> None:
        pass

    def apply_config(self, service_id: str, pg_config: dict[str, str]) -> ConfigOutcome:
        """Reports the keys a real PostgreSQL 15 would need a restart for, so the API says the same."""
        return ConfigOutcome(pending_restart=tuple(sorted(RESTART_KEYS & pg_config.keys())), not_applied=())

    def apply_access(self, service_id: str, sources: Sequence[str]) -> None:
        pass

    def executions(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[Execution]:
        return []

    def log_entries(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[LogEntry]:
        return []

    def stats(self, service_id: str) -> dict[str, float | dict[str, float]]:
        return stats.zero_stats()

    def take_backup(self, service_id: str) -> Backup:
        return Backup.completed(time.time())

    def retain_backups(self, service_id: str, keys: Sequence[str]) -> None:
        pass

    def promote(self, service_id: str) -> None:
        pass

    def set_standbys(self, service_id: str, count: int, *, synchronous: bool) -> None:
        pass

    def switchover(self, service_id: str) -> None:
        pass

    def shutdown(self) -> None:
        pass
