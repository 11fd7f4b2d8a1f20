"""The contract between the emulator's state store and whatever runs the databases.

The store owns the API view of a service (state, tags, config as the API shows it);
a backend owns the real thing behind it.  Every method is keyed by the service id and
must be idempotent, because the reconciler may call it again after a crash or a
restart of the emulator on the same data directory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from typing import Protocol

ALL_SOURCES = ("0.0.0.0/0",)  # a service whose rules let every address reach Postgres


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where a client reaches a service's PostgreSQL server."""

    host: str  # what the API reports as `hostname` and puts in `connectionString`
    port: int


@dataclasses.dataclass(frozen=True)
class Backup:
    """A completed base backup of a service's primary."""

    key: str  # base-YYYYMMDDTHHMMSSZ, from taken_at: backups of one service are at least a second apart
    taken_at: float  # epoch seconds when it completed, rounded up to the millisecond: the earliest moment it restores to

    @classmethod
    def completed(cls, when: float) -> Backup:
        """The backup that completed at `when`; rounding up keeps every commit it holds before taken_at."""
        taken_at = math.ceil(when * 1000) / 1000
        return cls(key="base-" + dt.datetime.fromtimestamp(taken_at, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"), taken_at=taken_at)


@dataclasses.dataclass(frozen=True)
class ConfigOutcome:
    """What applying a pgConfig did on the real server."""

    pending_restart: tuple[str, ...]  # keys written that take effect only after a restart
    not_applied: tuple[str, ...]  # keys the local server does not know (stored by the API only)


@dataclasses.dataclass(frozen=True)
class Execution:
    """One statement the server really ran, read from its own log."""

    timestamp: dt.datetime  # timezone-aware UTC
    query_id: str  # signed 64-bit, as text, verbatim from the server ("0" when unknown)
    query_text: str  # normalised with $1, $2 ... when the server knows the pattern
    db_name: str
    db_user: str
    app: str
    operation: str  # SELECT, INSERT, UPDATE, DELETE or UTILITY
    pid: str
    duration_us: int
    error_message: str | None = None
    error_sqlstate: str | None = None
    error_level: int | None = None
    counters: dict[str, int] = dataclasses.field(default_factory=dict)  # camelCase API names


@dataclasses.dataclass(frozen=True)
class LogEntry:
    timestamp: dt.datetime  # timezone-aware UTC
    severity: str  # DEBUG LOG INFO NOTICE WARNING ERROR FATAL PANIC
    body: str


class Backend(Protocol):
    """What the store needs from the database side.  See NullBackend for the no-op form."""

    def prepare(self) -> None:
        """One-time setup at emulator start (e.g. build the template cluster)."""

    def provision(self, service_id: str, password: str, pg_config: dict[str, str], sources: Sequence[str] = ALL_SOURCES) -> Endpoint:
        """Create the server for a new service (not yet started), admitting only `sources`. Idempotent."""

    def provision_replica(self, service_id: str, primary_id: str, pg_config: dict[str, str], sources: Sequence[str]) -> Endpoint:
        """Create a read replica: a standby that streams from the running primary of primary_id, with a CA
        and port of its own and the primary's roles and passwords (a physical copy). Not yet started."""

    def provision_restore(
        self, service_id: str, source_id: str, backup_key: str, target: float, pg_config: dict[str, str], sources: Sequence[str]
    ) -> Endpoint:
        """Create a service from source_id's backup backup_key that, once started, replays the source's
        archived WAL up to target (epoch seconds) and becomes a primary (see finish_restore).
        The source must be running: its WAL up to now is archived first."""

    def start(self, service_id: str) -> None:
        """Start the server if it is not running; adopt it if it already is."""

    def finish_restore(self, service_id: str) -> None:
        """Wait until a restored service has replayed up to its target and is a primary; at once for any other."""

    def is_ready(self, service_id: str) -> bool:
        """True once the server accepts connections."""

    def restart(self, service_id: str) -> None:
        """Restart the server so that restart-only settings take effect."""

    def stop(self, service_id: str) -> None:
        """Stop the server, leaving its data in place."""

    def destroy(self, service_id: str) -> None:
        """Stop the server and delete its data."""

    def endpoint(self, service_id: str) -> Endpoint: ...

    def ca_certificate(self, service_id: str) -> str:
        """The service's own CA certificate, PEM."""

    def set_password(self, service_id: str, password: str) -> None:
        """Change the password of the `postgres` role on the real server."""

    def apply_config(self, service_id: str, pg_config: dict[str, str]) -> ConfigOutcome:
        """Make pg_config (the whole user-set map, values as strings) the server's settings.

        Keys removed from the map go back to the server default.  Reloadable settings take
        effect at once; restart-only ones are written and reported in pending_restart.
        """

    def apply_access(self, service_id: str, sources: Sequence[str]) -> None:
        """Admit exactly these IPv4 networks (CIDR text) from now on, without a restart.

        Sessions already open stay open; the rules apply to new connections.
        """

    def executions(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[Execution]:
        """Statements run in [since, until), oldest first."""

    def log_entries(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[LogEntry]:
        """Server log lines in [since, until], oldest first."""

    def stats(self, service_id: str) -> dict[str, float | dict[str, float]]:
        """A snapshot of live counters and gauges, keyed by Prometheus metric name (see README)."""

    def take_backup(self, service_id: str) -> Backup:
        """Take a base backup of the running primary now."""

    def retain_backups(self, service_id: str, keys: Sequence[str]) -> None:
        """Keep only these backups, and the archived WAL they need; remove the rest."""

    def promote(self, service_id: str) -> None:
        """Make a read replica a writable primary (idempotent)."""

    def set_standbys(self, service_id: str, count: int, *, synchronous: bool) -> None:
        """Give the primary `count` streaming standbys (HA), committing synchronously to one of them if asked."""

    def switchover(self, service_id: str) -> None:
        """Make a standby the primary, with every committed row, on the service's port; a restart without one."""

    def shutdown(self) -> None:
        """Stop every server this backend started."""
