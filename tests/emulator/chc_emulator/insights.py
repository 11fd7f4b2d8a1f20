"""Query insights and server logs, computed from what the real server logged.

Patterns are aggregated on request from the executions in the window, so every number
traces back to statements PostgreSQL really ran.  Per-execution counters the server does
not report are returned as 0 (the schema requires them); README-backend.md lists which.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from . import validation
from .backend.base import Backend, Execution
from .errors import not_found
from .store import Store
from .timefmt import rfc3339

SORT_KEYS = {
    "total_duration": "totalDurationUs",
    "avg_duration": "avgDurationUs",
    "call_count": "callCount",
    "total_blks_read": "totalSharedBlksRead",
    "total_cpu_time": "totalCpuTimeUs",
    "error_count": "errorCount",
    "max_duration": "maxDurationUs",
    "p50_duration": "p50DurationUs",
    "p95_duration": "p95DurationUs",
    "p99_duration": "p99DurationUs",
    "total_rows": "totalRows",
    "total_shared_blks_hit": "totalSharedBlksHit",
    "total_wal_bytes": "totalWalBytes",
}

EXECUTION_COUNTERS = (
    "rows", "sharedBlksHit", "sharedBlksRead", "sharedBlksWritten", "sharedBlksDirtied",
    "sharedBlkReadTimeUs", "sharedBlkWriteTimeUs", "localBlksHit", "localBlksRead", "localBlksWritten",
    "localBlksDirtied", "tempBlksRead", "tempBlksWritten", "tempBlkReadTimeUs", "tempBlkWriteTimeUs",
    "walRecords", "walBytes", "walFpi", "cpuUserTimeUs", "cpuSysTimeUs", "jitFunctions",
    "jitGenerationTimeUs", "jitInliningTimeUs", "jitOptimizationTimeUs", "jitEmissionTimeUs",
    "jitDeformTimeUs", "parallelWorkersPlanned", "parallelWorkersLaunched",
)  # fmt: skip

_FILTERS = {"db_name": "db_name", "db_user": "db_user", "db_operation": "operation", "app": "app"}
# The pattern endpoint has no window; it looks back as far as query insights keep data.
_DETAIL_LOOKBACK = dt.timedelta(days=7)
_RECENT_EXECUTIONS = 10


def _percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _matches(execution: Execution, filters: Mapping[str, str]) -> bool:
    return all(getattr(execution, _FILTERS[name]) == value for name, value in filters.items() if value)


def _aggregate(executions: list[Execution]) -> dict:
    first = executions[-1]  # the newest statement text represents the pattern
    durations = sorted(e.duration_us for e in executions)

    def total(counter: str) -> int:
        return sum(e.counters.get(counter, 0) for e in executions)

    return {
        "queryId": first.query_id,
        "queryText": first.query_text,
        "dbName": first.db_name,
        "dbUser": first.db_user,
        "dbOperation": first.operation,
        "app": first.app,
        "callCount": len(executions),
        "errorCount": sum(1 for e in executions if e.error_message is not None),
        "totalDurationUs": sum(durations),
        "avgDurationUs": sum(durations) // len(durations),
        "maxDurationUs": durations[-1],
        "p50DurationUs": _percentile(durations, 0.50),
        "p95DurationUs": _percentile(durations, 0.95),
        "p99DurationUs": _percentile(durations, 0.99),
        "totalRows": total("rows"),
        "totalSharedBlksRead": total("sharedBlksRead"),
        "totalSharedBlksHit": total("sharedBlksHit"),
        "totalCpuTimeUs": total("cpuUserTimeUs") + total("cpuSysTimeUs"),
        "totalWalBytes": total("walBytes"),
    }


def _group(executions: list[Execution]) -> dict[tuple, list[Execution]]:
    groups: dict[tuple, list[Execution]] = {}
    for execution in executions:
        key = (execution.query_id, execution.db_name, execution.db_user, execution.operation, execution.app)
        groups.setdefault(key, []).append(execution)
    return groups


def _execution_view(execution: Execution, role: str) -> dict:
    view = {
        "timestamp": rfc3339(execution.timestamp),
        "queryId": execution.query_id,
        "dbName": execution.db_name,
        "dbUser": execution.db_user,
        "dbOperation": execution.operation,
        "app": execution.app,
        "queryText": execution.query_text,
        "pid": execution.pid,
        "durationUs": execution.duration_us,
    }
    view.update({name: int(execution.counters.get(name, 0)) for name in EXECUTION_COUNTERS})
    if execution.error_message is not None:
        view["errMessage"] = execution.error_message
        if execution.error_sqlstate:
            view["errSqlstate"] = execution.error_sqlstate
        if execution.error_level is not None:
            view["errElevel"] = execution.error_level
    view["serverRole"] = role
    return view


class Insights:
    def __init__(self, store: Store, backend: Backend):
        self.store = store
        self.backend = backend

    def _server_role(self, service_id: str) -> str:
        return "primary" if self.store.get(service_id)["isPrimary"] else "standby"

    def patterns(self, service_id: str, query: Mapping[str, str]) -> list[dict]:
        self.store.get(service_id)
        since, until = validation.parse_window(query)
        sort_by = validation.parse_choice("sort_by", query.get("sort_by"), SORT_KEYS, default="total_duration")
        order = validation.parse_choice("sort_order", query.get("sort_order"), ("asc", "desc"), default="desc")
        limit = validation.parse_int("limit", query.get("limit"), default=20, low=1, high=500)
        offset = validation.parse_int("offset", query.get("offset"), default=0, low=0)
        filters = {name: query.get(name, "") for name in _FILTERS}
        executions = [e for e in self.backend.executions(service_id, since, until) if _matches(e, filters)]
        rows = [_aggregate(group) for group in _group(executions).values()]
        field = SORT_KEYS[sort_by]
        # A stable tie-break keeps pages deterministic.
        rows.sort(key=lambda r: (r["queryId"], r["dbName"], r["dbUser"], r["dbOperation"], r["app"]))
        rows.sort(key=lambda r: r[field], reverse=order == "desc")
        return rows[offset : offset + limit]

    def pattern(self, service_id: str, query_id: str, query: Mapping[str, str]) -> dict:
        role = self._server_role(service_id)
        for name in ("db_name", "db_user", "db_operation"):
            if not query.get(name):
                raise validation.bad_request(f"{name}: required query parameter is missing")
        at = validation.parse_datetime("timestamp", query.get("timestamp"), required=False)
        until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        filters = {name: query.get(name, "") for name in _FILTERS}
        executions = [
            e for e in self.backend.executions(service_id, until - _DETAIL_LOOKBACK, until)
            if e.query_id == query_id and _matches(e, filters)
        ]  # fmt: skip
        if not executions:
            raise not_found(f"query pattern {query_id}")
        recent = list(reversed(executions))
        if at is not None:
            recent = [e for e in recent if abs((e.timestamp - at).total_seconds()) < 0.001] or recent[:0]
        views = [_execution_view(e, role) for e in recent[:_RECENT_EXECUTIONS]]
        return {"aggregate": _aggregate(executions), "recentExecutions": views}

    def logs(self, service_id: str, query: Mapping[str, str]) -> list[dict]:
        self.store.get(service_id)
        since, until = validation.parse_window(query, max_days=30)
        severity = validation.parse_choice(
            "severity", query.get("severity"), ("DEBUG", "LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC"), default=None
        )
        order = validation.parse_choice("sort_order", query.get("sort_order"), ("asc", "desc"), default="desc")
        limit = validation.parse_int("limit", query.get("limit"), default=50, low=1, high=2000)
        offset = validation.parse_int("offset", query.get("offset"), default=0, low=0)
        contains = query.get("body_contains") or ""
        entries = [
            e for e in self.backend.log_entries(service_id, since, until)
            if (severity is None or e.severity == severity) and contains in e.body
        ]  # fmt: skip
        if order == "desc":
            entries.reverse()
        return [
            {"timestamp": rfc3339(e.timestamp), "severity": e.severity, "body": e.body}
            for e in entries[offset : offset + limit]
        ]
