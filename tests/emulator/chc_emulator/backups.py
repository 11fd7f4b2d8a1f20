"""A service's backups, as a schedule: no data is copied yet, only the times are modelled.

The first full backup is taken `first_backup` seconds after the service runs (the stored
`backupAt`), then one a day (reference §3.12: daily full backups, WAL archived in between,
7 days retention).  Every point from the earliest restore time to now is restorable; the
backups kept are those needed for that window: the newest one at or before its start, and
every later one.
"""

from __future__ import annotations

import datetime as dt
import math

from .errors import bad_request
from .timefmt import rfc3339

RETENTION = dt.timedelta(days=7)
_INTERVAL = dt.timedelta(days=1).total_seconds()
STATUS = "completed"  # the live doc gives the field's type only; an open set


def earliest_restore_time(doc: dict, now: float) -> float | None:
    """The earliest restorable moment (epoch seconds), or None before the first backup."""
    first = doc["backupAt"]
    if now < first:
        return None
    return max(first, now - RETENTION.total_seconds())


def covers(doc: dict, now: float, target: float) -> bool:
    """Whether target (epoch seconds) is restorable, to the millisecond the API shows times in,
    so that the earliestRestoreTime a client read is itself a target it can use."""
    earliest = earliest_restore_time(doc, now)
    return earliest is not None and round(target * 1000) >= math.floor(earliest * 1000)


def backup_times(doc: dict, now: float) -> list[float]:
    """When the kept backups were taken, newest first."""
    earliest = earliest_restore_time(doc, now)
    if earliest is None:
        return []
    first = doc["backupAt"]
    oldest_kept = math.floor((earliest - first) / _INTERVAL)
    newest = math.floor((now - first) / _INTERVAL)
    return [first + n * _INTERVAL for n in range(newest, oldest_kept - 1, -1)]


def key(taken_at: float) -> str:
    return "base-" + dt.datetime.fromtimestamp(taken_at, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def page(doc: dict, now: float, *, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
    """One page of the list and the cursor of the next (None on the last page).

    The cursor is the key of the page's first backup, so pages stay put while new backups
    are taken; a cursor whose backup has aged out is a 400.
    """
    items = [{"key": key(t), "status": STATUS, "lastModified": rfc3339(t)} for t in backup_times(doc, now)]
    start = 0
    if cursor:
        keys = [item["key"] for item in items]
        if cursor not in keys:
            raise bad_request(f"cursor: {cursor!r} is not a cursor of this list (or its backup is past the retention)")
        start = keys.index(cursor)
    rest = items[start:]
    return rest[:limit], rest[limit]["key"] if len(rest) > limit else None
