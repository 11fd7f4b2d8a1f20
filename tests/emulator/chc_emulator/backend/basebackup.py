"""Base backups of a service's primary, kept in the service's directory until retention lets them go.

    <service>/backups/<key>/   a plain-format copy made by pg_basebackup, WAL included;
                               its backup_label says where its WAL starts

A backup is made in backups/.new and renamed to its key once complete, so a backup that is
there is whole.  Together with the service's wal-archive, a backup restores to any moment
from its completion on (restore.py).
"""

from __future__ import annotations

import pathlib
import re
import shutil
import time

from . import wal
from .base import Backup
from .pgexec import PgExec
from .replication import Upstream, copy_cluster

_START = re.compile(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$", re.MULTILINE)
_IN_PROGRESS = ".new"


def take(pg: PgExec, upstream: Upstream, backups: pathlib.Path) -> Backup:
    """A base backup of the primary at upstream, now."""
    partial = backups / _IN_PROGRESS
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    pg.own(partial)
    try:
        copy_cluster(pg, upstream, partial, label="chc-emulator base backup")
        backup = Backup.completed(time.time())
        partial.rename(backups / backup.key)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return backup


def start_segment(backup: pathlib.Path) -> str:
    """The first WAL segment a recovery from this backup reads."""
    found = _START.search((backup / "backup_label").read_text())
    if found is None:
        raise RuntimeError(f"{backup}/backup_label names no start segment")
    return found.group(1)


def keep_only(backups: pathlib.Path, keys: set[str]) -> str | None:
    """Remove every backup but these (and one a crash left half-made); the start segment of the oldest kept."""
    starts = []
    for path in sorted(backups.iterdir()) if backups.is_dir() else []:
        if path.name in keys:
            starts.append(start_segment(path))
        else:
            shutil.rmtree(path, ignore_errors=True)
    return min(starts, key=wal.position, default=None)
