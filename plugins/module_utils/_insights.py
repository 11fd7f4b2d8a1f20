# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Query insights: how patterns sort, what identifies one, and reading a service's top patterns.

Shared by slow_query_patterns (one service, every filter) and postgres_info (the top patterns
of many services in one call, for reports).
"""

from __future__ import annotations

import re

from ._errors import InputError

# sort_by -> the result field it sorts on
SORT_FIELDS = {
    "total_duration": "total_duration_us",
    "avg_duration": "avg_duration_us",
    "call_count": "call_count",
    "error_count": "error_count",
    "max_duration": "max_duration_us",
    "p50_duration": "p50_duration_us",
    "p95_duration": "p95_duration_us",
    "p99_duration": "p99_duration_us",
    "total_rows": "total_rows",
    "total_blks_read": "total_shared_blks_read",
    "total_shared_blks_hit": "total_shared_blks_hit",
    "total_cpu_time": "total_cpu_time_us",
    "total_wal_bytes": "total_wal_bytes",
}
IDENTITY = ("query_id", "db_name", "db_user", "db_operation", "app")
QUERY_ID = re.compile(r"^-?(0|[1-9][0-9]{0,18})$")
INT64 = 2 ** 63


def check_query_id(text):
    """A signed 64-bit integer written as text; it is sent untouched (never through a number)."""
    if not QUERY_ID.match(text) or not -INT64 <= int(text) < INT64:
        raise InputError("query_id must be a signed 64-bit integer written as text, such as '-4748036479882663975'; "
                         "got %r" % text)


def identity(pattern):
    """Sort key of what identifies a pattern; ids in numeric order (the value itself stays text)."""
    query_id = pattern.get("query_id") or ""
    number = int(query_id) if QUERY_ID.match(query_id) else 0
    return (number, query_id) + tuple(str(pattern.get(k) or "") for k in IDENTITY[1:])


def in_order(patterns, sort_by, sort_order):
    """The API's order made deterministic: ties broken by the pattern's identity."""
    field = SORT_FIELDS[sort_by]
    return sorted(sorted(patterns, key=identity), key=lambda p: p.get(field) or 0, reverse=sort_order == "desc")


def top_patterns(api, service_id, span, sort_by="total_duration", limit=5, sort_order="desc", offset=0, **filters):
    """The top ``limit`` patterns of one service in the window ``span`` (``{'from', 'to'}``), in a stable order."""
    patterns = api.iter_slow_query_patterns(service_id, span["from"], span["to"], max_patterns=limit, offset=offset,
                                            sort_by=sort_by, sort_order=sort_order, **filters)
    return in_order([item.to_result() for item in patterns], sort_by, sort_order)
