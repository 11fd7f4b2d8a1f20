"""Streaming replication: copying a running primary, and what a standby has received.

The emulator's own replication clients (pg_basebackup, a standby's walreceiver) run as the
servers' user and log in to a primary as `chc_admin` over TCP+SSL from 127.0.0.1, checking
the server against its service's CA (ca.pem is world-readable for that).  The password goes
in the environment or in the standby's own 0700 data directory, never on a command line.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shutil

import psycopg

from .pgexec import PgExec
from .template import ADMIN_APP, ADMIN_ROLE

_CHECKPOINT = re.compile(r"^Latest checkpoint location:\s+([0-9A-F]+/[0-9A-F]+)$", re.MULTILINE)
_SHUT_DOWN = re.compile(r"^Database cluster state:\s+shut down$", re.MULTILINE)
_COPY_LEFTOVERS = ("log", "current_logfiles")  # the source's server log, not the copy's


class ReplicationError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Upstream:
    """How the emulator's replication clients reach a service's primary."""

    port: int
    admin_password: str
    ca_file: pathlib.Path

    def conninfo(self, application_name: str, pgdata: pathlib.Path) -> str:
        """primary_conninfo of a standby in pgdata; application_name is how the primary knows it
        (synchronous_standby_names).  The CA's path is relative to pgdata, the server's working
        directory: PostgreSQL 15 keeps only 1024 bytes of it."""
        fields = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": ADMIN_ROLE,
            "password": self.admin_password,
            "sslmode": "verify-full",
            "sslrootcert": os.path.relpath(self.ca_file, pgdata),
            "application_name": application_name,
        }
        return " ".join(f"{key}={_quoted(str(value))}" for key, value in fields.items())

    def environment(self) -> dict[str, str]:
        return {
            "PGPASSWORD": self.admin_password,
            "PGSSLMODE": "verify-full",
            "PGSSLROOTCERT": str(self.ca_file),
            "PGAPPNAME": ADMIN_APP,
            "PGCONNECT_TIMEOUT": "10",
        }


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def copy_cluster(pg: PgExec, upstream: Upstream, target: pathlib.Path, label: str) -> None:
    """A consistent copy of the upstream's cluster in `target` (an empty 0700 directory of the
    servers' user), with the WAL it needs, but not the upstream's server log."""
    copied = pg.run(
        "pg_basebackup",
        "--host=127.0.0.1",
        f"--port={upstream.port}",
        f"--username={ADMIN_ROLE}",
        f"--pgdata={target}",
        "--checkpoint=fast",
        "--wal-method=stream",
        "--no-sync",
        "--no-manifest",
        "--no-password",
        f"--label={label}",
        env=upstream.environment(),
    )
    if copied.returncode != 0:
        raise ReplicationError(f"pg_basebackup from port {upstream.port} failed: {copied.stderr.strip() or copied.stdout.strip()}")
    for leftover in _COPY_LEFTOVERS:
        path = target / leftover
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def lsn(text: str) -> int:
    high, low = text.split("/")
    return int(high, 16) << 32 | int(low, 16)


def shutdown_checkpoint(pg: PgExec, pgdata: pathlib.Path) -> int:
    """Where the WAL of a cleanly stopped cluster ends: its shutdown checkpoint."""
    control = pg.run("pg_controldata", "-D", str(pgdata)).stdout
    found = _CHECKPOINT.search(control)
    if not _SHUT_DOWN.search(control) or found is None:
        raise ReplicationError(f"{pgdata} was not shut down cleanly")
    return lsn(found.group(1))


def received(conn: psycopg.Connection) -> int:
    """How far a standby has WAL: streamed, or replayed from the archive."""
    streamed, replayed = conn.execute("SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text").fetchone()
    return max(lsn(value) for value in (streamed, replayed, "0/0") if value)


def streaming(conn: psycopg.Connection, application_name: str) -> bool:
    """Whether the standby of that name streams from this primary."""
    row = conn.execute("SELECT 1 FROM pg_stat_replication WHERE application_name = %s AND state = 'streaming'", [application_name]).fetchone()
    return row is not None


def promote(conn: psycopg.Connection) -> bool:
    """End recovery: the server becomes a primary on a new timeline. False if it already was one."""
    if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
        return False
    if not conn.execute("SELECT pg_promote(true, 60)").fetchone()[0]:
        raise ReplicationError("the server did not finish its promotion within 60s")
    return True
