"""A service's backups as the API shows them: those the backend took, kept for the retention window.

The reconciler takes a primary's first base backup `first_backup` seconds after it runs (the
stored `backupDue`), then one every `backup_interval` (reference §3.12: daily full backups,
WAL archived in between, 7 days retention), and records each in the service's `backups`,
newest first (`key`, `takenAt`).  A replica has none; a promoted one starts its own.
Every moment from the earliest restore time to now is restorable, from the newest backup at
or before it and the archived WAL after it.  The backups kept are those that window needs:
the newest one at or before its start, and every later one.

Times are compared in whole milliseconds, as the API shows them, so the earliestRestoreTime
a client read is itself a target it can use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .errors import bad_request
from .timefmt import rfc3339

STATUS = "completed"  # the live doc gives the field's type only; an open set
INTERVAL = 86400.0  # reference §3.12: daily full backups,
RETENTION = 7 * 86400.0  # kept for 7 days


def _ms(moment: float) -> int:
    return round(moment * 1000)


def earliest_restore_time(doc: dict, now: float, retention: float) -> float | None:
    """The earliest restorable moment (epoch seconds), or None before the first backup."""
    if not doc.get("backups"):
        return None
    return max(doc["backups"][-1]["takenAt"], math.floor((now - retention) * 1000) / 1000)


def covers(doc: dict, now: float, target: float, retention: float) -> bool:
    """Whether target (epoch seconds) is restorable."""
    earliest = earliest_restore_time(doc, now, retention)
    return earliest is not None and _ms(target) >= _ms(earliest)


def restored_from(doc: dict, target: float) -> dict | None:
    """The backup a restore to target starts from: the newest taken at or before it."""
    return next((backup for backup in doc.get("backups", []) if _ms(backup["takenAt"]) <= _ms(target)), None)


def kept(backups: Iterable[dict], now: float, retention: float) -> list[dict]:
    """Of these backups (newest first), those the window [now - retention, now] needs."""
    start = now - retention
    backups = list(backups)
    newer = [backup for backup in backups if backup["takenAt"] > start]
    return newer + [backup for backup in backups if backup["takenAt"] <= start][:1]


def page(doc: dict, *, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
    """One page of the list and the cursor of the next (None on the last page).

    The cursor is the key of the page's first backup, so pages stay put while new backups
    are taken; a cursor whose backup has aged out is a 400.
    """
    items = [{"key": backup["key"], "status": STATUS, "lastModified": rfc3339(backup["takenAt"])} for backup in doc.get("backups", [])]
    start = 0
    if cursor:
        keys = [item["key"] for item in items]
        if cursor not in keys:
            raise bad_request(f"cursor: {cursor!r} is not a cursor of this list (or its backup is past the retention)")
        start = keys.index(cursor)
    rest = items[start:]
    return rest[:limit], rest[limit]["key"] if len(rest) > limit else None
