# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""What the tuning advisor reads about a service, from the API (the I/O half of ``_advisor``).

``gather(api, service, span)`` makes ``3 + top`` calls at most: the service's config, one page of
its slow query patterns in the window (sorted by total duration), the pattern detail (recent
executions, which carry the temp-block counters the list does not) of the ``top`` patterns, and
the window's metrics (connection counts by state). Finding the service is the caller's, so a
fleet run that already listed its services spends nothing more on that.
"""

from __future__ import annotations

from ._advisor import AdvisorInput
from ._errors import ApiError
from ._insights import top_patterns

PATTERN_LIMIT = 50  # one page of patterns: p99 and call counts of the busiest 50
TOP_PATTERNS = 3  # patterns whose recent executions are read (one call each)
CONNECTION_METRIC = "connection_count"


def calls(top=TOP_PATTERNS):
    """The most API calls ``gather`` makes for one service."""
    return 3 + top


def connection_series(metrics):
    """``{state: [[unix seconds, value], ...]}`` of the ``connection_count`` metric (None when the API has none)."""
    for metric in metrics.metrics:
        if metric.key == CONNECTION_METRIC:
            return {series.label or "": [[p.timestamp, p.value] for p in series.data_points
                                         if p.timestamp is not None and p.value is not None]
                    for series in metric.series}
    return None


def _detail(api, service_id, pattern):
    """The pattern with its ``recent_executions``; without them when the API no longer has it (404)."""
    try:
        detail = api.get_slow_query_pattern(service_id, pattern["query_id"], pattern.get("db_name"), pattern.get("db_user"),
                                            pattern.get("db_operation"), app=pattern.get("app") or None)
    except ApiError as exc:
        if exc.not_found:
            return dict(pattern, recent_executions=[])
        raise
    return dict(pattern, recent_executions=[e.to_result() for e in detail.recent_executions])


def gather(api, service, span, top=TOP_PATTERNS, pattern_limit=PATTERN_LIMIT, metrics=True):
    """The ``AdvisorInput`` of one service (a snake_case dict with ``id``, as the modules return it) over ``span``."""
    service_id = service["id"]
    config = api.get_config(service_id)
    patterns = top_patterns(api, service_id, span, sort_by="total_duration", limit=pattern_limit)
    patterns = [_detail(api, service_id, p) if n < top and p.get("query_id") else p for n, p in enumerate(patterns)]
    detailed = sum(1 for p in patterns if "recent_executions" in p)
    connections = connection_series(api.get_metrics(service_id, span["from"], span["to"])) if metrics else None
    return AdvisorInput(
        service_id=service_id, name=service.get("name"), size=service.get("size"),
        postgres_version=service.get("postgres_version"), window=dict(span),
        pg_config=dict(config.pg_config or {}), pg_bouncer_config=dict(config.pg_bouncer_config or {}),
        patterns=patterns, connections=connections, api_calls=2 + detailed + bool(metrics))


def summary(data):
    """What the advice was based on, for a result: counts and the settings the rules read."""
    memory, memory_source = data.memory()
    return {
        "window": dict(data.window),
        "patterns_read": len(data.patterns),
        "patterns_with_executions": sum(1 for p in data.patterns if "recent_executions" in p),
        "executions_read": sum(len(p.get("recent_executions") or ()) for p in data.patterns),
        "connection_points": max((len(v) for v in (data.connections or {}).values()), default=0),
        "settings": data.effective_settings(),
        "settings_set": sorted(k for k in data.effective_settings() if data.setting(k)[1] == "set"),
        "memory_bytes": memory,
        "memory_source": memory_source,
        "api_calls": data.api_calls,
    }
