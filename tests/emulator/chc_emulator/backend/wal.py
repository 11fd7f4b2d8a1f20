"""WAL: archiving it, and the settings that make a node follow a primary or replay to a point in time.

Every node archives into its service's wal-archive (archive_mode=on: only a primary archives,
so a standby starts when it is promoted).  Segments are 1 MB (the template's
`initdb --wal-segsize=1`) and archive_timeout closes a segment after 60 s with writes in it
(reference §3.12: WAL archived every 60 s), so the archive is never far behind.  A restore
does not wait for that: it seals the archive first (`seal`).

A standby streams from the primary of the service it follows and fetches from that
service's archive what it can no longer stream (restore_command), as the cloud's replicas
fetch WAL from object storage; `recovery_target_timeline=latest` lets it follow a
switchover's new timeline.  All of this goes into a node's chc_service.conf, which is
written from the service's state whenever the node starts (postgres.py).

Directories are given relative to the node's data directory, the server's working
directory: PostgreSQL 15 cuts an archive_command at 1024 bytes once %p and %f are filled in,
and a data directory's path may be long (as a restore_command path would make one).
"""

from __future__ import annotations

import datetime as dt
import pathlib
import re
import shlex
import time
from collections.abc import Iterable

import psycopg

ARCHIVE_TIMEOUT = "60s"
_SEGMENT = re.compile(r"[0-9A-F]{24}")  # timeline, log, segment: 8 hex digits each
_HISTORY = re.compile(r"[0-9A-F]{8}\.history")
_OLD_FILE = re.compile(r"([0-9A-F]{24})\.(partial|[0-9A-F]{8}\.backup)")  # kept beside segments, go with them
_POLL = 0.05


class ArchiveError(RuntimeError):
    pass


def archiving(archive: str) -> dict[str, str]:
    """Archive each completed segment into `archive` once; a file already there must be the same
    (a crash can make the archiver send a segment again), never overwritten."""
    into = shlex.quote(str(archive))
    command = f"if test -f {into}/%f; then cmp -s %p {into}/%f; else cp %p {into}/%f.part && mv {into}/%f.part {into}/%f; fi"
    return {"archive_mode": "on", "archive_command": command, "archive_timeout": ARCHIVE_TIMEOUT}


def _fetching(directory: str) -> str:
    """restore_command: the file from directory, or a quiet failure (PostgreSQL asks for files that may not exist)."""
    source = shlex.quote(str(directory))
    return f"test -f {source}/%f && cp {source}/%f %p"


def following(conninfo: str, archive: str) -> dict[str, str]:
    """A standby's settings: stream with conninfo, fetch older WAL from archive, follow new timelines."""
    return {
        "primary_conninfo": conninfo,
        "restore_command": _fetching(archive),
        "recovery_target_timeline": "latest",
        "wal_retrieve_retry_interval": "1s",  # back on the primary's port within a second of a switchover
    }


def replaying(wal: str, target: float) -> dict[str, str]:
    """A restore's settings: replay the WAL in `wal` up to the target time (epoch seconds), then become a primary."""
    return {
        "restore_command": _fetching(wal),
        "recovery_target_time": dt.datetime.fromtimestamp(target, dt.timezone.utc).isoformat(timespec="microseconds"),
        "recovery_target_action": "promote",
        "recovery_target_timeline": "latest",
    }


def synchronous(standbys: Iterable[str]) -> dict[str, str]:
    """haType sync: a commit waits for any one of the standbys (named by their application_name)."""
    return {"synchronous_standby_names": "ANY 1 (" + ", ".join(f'"{name}"' for name in sorted(standbys)) + ")"}


def position(segment: str) -> str:
    """A segment's place in the WAL whatever its timeline: comparable as text."""
    return segment[8:]


def needed(archive: pathlib.Path, first: str, last: str) -> list[pathlib.Path]:
    """What a recovery from segment `first` to `last` can ask for: those segments on every timeline,
    and every timeline history file."""
    wanted = []
    for path in archive.iterdir():
        if _HISTORY.fullmatch(path.name) or (_SEGMENT.fullmatch(path.name) and position(first) <= position(path.name) <= position(last)):
            wanted.append(path)
    return sorted(wanted)


def prune(archive: pathlib.Path, first: str) -> int:
    """Remove what no recovery from segment `first` on needs; history files stay. How many went."""
    removed = 0
    for path in archive.iterdir():
        match = _SEGMENT.fullmatch(path.name) or _OLD_FILE.fullmatch(path.name)
        segment = match.group(1) if match and match.groups() else path.name if match else None
        if segment is not None and position(segment) < position(first):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def seal(conn: psycopg.Connection) -> str:
    """Commit a transaction and close its segment, so every moment until now is in archived WAL.

    A recovery to a time stops at the first commit after it, and fails if the WAL ends before
    one (PostgreSQL 13+: "recovery ended before configured recovery target was reached"): this
    commit, later than any target the API accepts, is that stop.  It changes no data.
    Returns the name of the segment to wait for.
    """
    conn.execute("SELECT pg_current_xact_id()")  # an xid of its own, so the commit is written to WAL
    segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_insert_lsn() - 1)").fetchone()[0]
    conn.execute("SELECT pg_switch_wal()")
    return segment


def wait_archived(archive: pathlib.Path, segment: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not (archive / segment).exists():
        if time.monotonic() > deadline:
            raise ArchiveError(f"WAL segment {segment} was not archived within {timeout:.0f}s (see the server log)")
        time.sleep(_POLL)
