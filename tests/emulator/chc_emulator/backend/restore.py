"""Point-in-time restore: a cluster made from a base backup that replays archived WAL up to a target.

The new cluster is a copy of the backup (PostgreSQL changes data files in place, so it cannot
share them) with `recovery.signal`, and the WAL it may ask for in a directory of its own:
hard links to the source's archived files, which are never changed once archived, so the
restore costs no copy of the WAL and does not depend on the source any more (it may be
deleted meanwhile).  The recovery settings (wal.replaying) go into the node's config when it
starts; PostgreSQL removes recovery.signal when it has reached the target and promoted, which
is how a restore that a crash interrupted is told from a finished one.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

from . import basebackup, wal
from .pgexec import PgExec

SIGNAL = "recovery.signal"


def prepare(pg: PgExec, backup: pathlib.Path, archive: pathlib.Path, last_segment: str, pgdata: pathlib.Path, wal_dir: pathlib.Path) -> int:
    """Fill pgdata from the backup and wal_dir with the archived WAL from it to last_segment; how many WAL files."""
    subprocess.run(["cp", "-a", str(backup), str(pgdata)], check=True)
    (pgdata / SIGNAL).touch()
    pg.own(pgdata / SIGNAL)
    wal_dir.mkdir(mode=0o700)
    pg.own(wal_dir)
    files = wal.needed(archive, basebackup.start_segment(backup), last_segment)
    for path in files:
        try:
            os.link(path, wal_dir / path.name)
        except OSError:  # another file system
            shutil.copy2(path, wal_dir / path.name)
            pg.own(wal_dir / path.name)
    return len(files)


def in_progress(pgdata: pathlib.Path) -> bool:
    return (pgdata / SIGNAL).exists()
