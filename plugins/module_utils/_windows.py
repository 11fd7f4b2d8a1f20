# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""What the read-only endpoints read: time windows and pages.

Windows are RFC 3339, or relative to now (``24h``, ``7d``, ``now``).

Both ends of a window are resolved against one ``now``, taken once per task and
rounded up to the whole second: the API's windows end before ``to``, so a
statement that ran in the current second is still inside ``to: now``.
"""

from __future__ import annotations

import datetime
import math
import re
import time

from ._errors import InputError
from ._timestamps import API_FORMAT, check_timestamp, parse_timestamp

RELATIVE = re.compile(r"^(?:now)?\s*-?\s*(\d+)\s*(s|sec|m|min|h|d|w)$")
UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def window_argument_spec(default_from):
    """The options of the clickhouse.cloud.read_only.window doc fragment."""
    return {"from": dict(type="str", default=default_from, aliases=["from_date"]),
            "to": dict(type="str", default="now", aliases=["to_date"])}


def now_utc(clock=time.time):
    return datetime.datetime.fromtimestamp(math.ceil(clock()), datetime.timezone.utc)


def moment(value, option, now):
    """One end of a window: ``now``, ``<n><unit>`` before now (s, m/min, h, d, w), or RFC 3339."""
    text = str(value).strip().lower()
    if text == "now":
        return now
    match = RELATIVE.match(text)
    if match:
        return now - datetime.timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])
    try:
        absolute = check_timestamp(str(value), option)
    except InputError:
        raise InputError("%s must be 'now', a time before now such as 24h, 30m or 7d (units s, m, h, d, w), or an "
                         "RFC 3339 date-time such as 2026-03-31T18:17:37Z; got %r" % (option, value))
    return parse_timestamp(absolute)


def window(since, until, max_days=None, clock=time.time):
    """``{'from': ..., 'to': ...}`` in the API's form; InputError when empty or longer than ``max_days``."""
    now = now_utc(clock)
    start, end = moment(since, "from", now), moment(until, "to", now)
    if end <= start:
        raise InputError("The window is empty: to (%s) must be after from (%s)." % (_api(end), _api(start)))
    if max_days is not None and end - start > datetime.timedelta(days=max_days):
        raise InputError("The window from %s to %s is longer than the API's %d days." % (_api(start), _api(end), max_days))
    return {"from": _api(start), "to": _api(end)}


def _api(moment_):
    return moment_.strftime(API_FORMAT)


def check_paging(limit, offset):
    """``limit`` of at least 1 and ``offset`` of at least 0, before any request."""
    if limit < 1 or offset < 0:
        raise InputError("limit must be at least 1 and offset at least 0, got %d and %d" % (limit, offset))
