"""Timestamps as the API writes them: RFC 3339, UTC, milliseconds, `Z`."""

from __future__ import annotations

import datetime as dt


def rfc3339(moment: dt.datetime | float) -> str:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
