"""Executions assembled from a server's log records.

With the template's settings a statement run by a client leaves up to three LOG lines in
its backend's log, each carrying the backend's pid and the statement's query_id:

* `duration: X ms  statement: ...` (or `execute <portal>: ...` for the extended protocol)
  from log_min_duration_statement=0: the execution itself, its text and duration;
* `duration: X ms  plan: {json}` from auto_explain (log_analyze, log_buffers, log_wal,
  JSON): rows, shared/local/temp blocks, I/O times, WAL, parallel workers, JIT;
* `QUERY STATISTICS` / `EXECUTE MESSAGE STATISTICS` from log_statement_stats: the
  backend's getrusage for the statement, i.e. CPU user/system time.

The plan line comes before the duration line for the simple protocol and after it for the
extended one (the portal ends later), so both orders are matched per backend.  A statement
that fails leaves only an ERROR line; with a query_id it becomes an execution carrying the
error.  What PostgreSQL cannot tell per execution is not put in `counters` (see
README-backend.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from .base import Execution
from .csvlog import Record
from .sqlops import operation

_DURATION = re.compile(
    r"duration: (?P<ms>[0-9.]+) ms  (?:plan:\n(?P<plan>.*)|(?P<kind>statement|execute [^:]*|parse [^:]*|bind [^:]*): (?P<sql>.*))", re.DOTALL
)
_RUSAGE = re.compile(r"([0-9.]+) s user, ([0-9.]+) s system")
_STATEMENT_USAGE = {"QUERY STATISTICS", "EXECUTE MESSAGE STATISTICS"}
_PHASE_USAGE = {"PARSE MESSAGE STATISTICS", "BIND MESSAGE STATISTICS"}
ERROR_LEVELS = {"ERROR": 21, "FATAL": 22, "PANIC": 23}  # PostgreSQL 15's elevel numbers
_MAX_TRACKED_BACKENDS = 4096

_PLAN_BLOCKS = {
    "sharedBlksHit": "Shared Hit Blocks",
    "sharedBlksRead": "Shared Read Blocks",
    "sharedBlksDirtied": "Shared Dirtied Blocks",
    "sharedBlksWritten": "Shared Written Blocks",
    "localBlksHit": "Local Hit Blocks",
    "localBlksRead": "Local Read Blocks",
    "localBlksDirtied": "Local Dirtied Blocks",
    "localBlksWritten": "Local Written Blocks",
    "tempBlksRead": "Temp Read Blocks",
    "tempBlksWritten": "Temp Written Blocks",
    "walRecords": "WAL Records",
    "walFpi": "WAL FPI",
    "walBytes": "WAL Bytes",
}
_PLAN_TIMES_MS = {  # PostgreSQL 15 reports shared+local I/O time together as "I/O Read/Write Time"
    "sharedBlkReadTimeUs": "I/O Read Time",
    "sharedBlkWriteTimeUs": "I/O Write Time",
    "tempBlkReadTimeUs": "Temp I/O Read Time",
    "tempBlkWriteTimeUs": "Temp I/O Write Time",
}
_JIT_TIMES_MS = {"jitGenerationTimeUs": "Generation", "jitInliningTimeUs": "Inlining", "jitOptimizationTimeUs": "Optimization", "jitEmissionTimeUs": "Emission"}


def is_instrumentation(record: Record) -> bool:
    """Plan and usage lines: folded into executions, not shown as log entries."""
    if record.severity != "LOG":
        return False
    message = record.message
    return message in _STATEMENT_USAGE or message in _PHASE_USAGE or (message.startswith("duration: ") and " ms  plan:\n" in message[:48])


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def _rows(plan: dict) -> int:
    """Rows returned, or for INSERT/UPDATE/DELETE the rows fed into the modification."""
    if plan["Node Type"] == "ModifyTable":
        if "Tuples Inserted" in plan:  # INSERT ... ON CONFLICT says exactly
            return int(plan["Tuples Inserted"])
        if plan.get("Plans"):
            plan = plan["Plans"][0]
    return round(plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1))


def plan_counters(plan_json: str) -> dict[str, int]:
    explained = json.loads(plan_json)
    plan = explained["Plan"]
    counters = {"rows": _rows(plan)}
    counters.update({name: int(plan.get(key, 0)) for name, key in _PLAN_BLOCKS.items()})
    counters.update({name: round(plan[key] * 1000) for name, key in _PLAN_TIMES_MS.items() if key in plan})
    nodes = list(_nodes(plan))
    counters["parallelWorkersPlanned"] = sum(int(node.get("Workers Planned", 0)) for node in nodes)
    counters["parallelWorkersLaunched"] = sum(int(node.get("Workers Launched", 0)) for node in nodes)
    jit = explained.get("JIT", {})
    counters["jitFunctions"] = int(jit.get("Functions", 0))
    timing = jit.get("Timing", {})  # present only when JIT ran and per-node timing is on
    counters.update({name: round(timing[key] * 1000) for name, key in _JIT_TIMES_MS.items() if key in timing})
    return counters


def usage_counters(detail: str) -> dict[str, int]:
    found = _RUSAGE.search(detail)
    if not found:
        return {}
    return {"cpuUserTimeUs": round(float(found[1]) * 1e6), "cpuSysTimeUs": round(float(found[2]) * 1e6)}


def _remember(table: dict, pid: str, value) -> None:
    table.pop(pid, None)
    table[pid] = value
    if len(table) > _MAX_TRACKED_BACKENDS:
        table.pop(next(iter(table)))


class ExecutionAssembler:
    """Feed records in log order; get an Execution for each statement (counters may arrive later)."""

    def __init__(self, texts: Mapping[str, str]):
        """texts: normalised query text by query id, used instead of the logged text when known."""
        self._texts = texts
        self._last: dict[str, Execution] = {}  # pid -> its latest execution
        self._early_plans: dict[str, tuple[str, dict[str, int]]] = {}  # pid -> (query_id, counters)

    def feed(self, record: Record) -> Execution | None:
        if record.severity in ERROR_LEVELS:
            return self._failed(record)
        if record.severity != "LOG":
            return None
        if record.message in _STATEMENT_USAGE:
            last = self._last.get(record.pid)
            if last is not None and last.query_id == record.query_id:
                last.counters.update(usage_counters(record.detail))
            return None
        found = _DURATION.match(record.message)
        if not found:
            return None
        if found["plan"] is not None:
            self._attach_plan(record, plan_counters(found["plan"]))
            return None
        if not found["kind"].startswith(("statement", "execute")):
            return None  # parse/bind phases of the extended protocol; their execute line follows
        execution = Execution(
            timestamp=record.time,
            query_id=record.query_id,
            query_text=self._texts.get(record.query_id, found["sql"]),
            db_name=record.database,
            db_user=record.user,
            app=record.app,
            operation=operation(found["sql"]),
            pid=record.pid,
            duration_us=round(float(found["ms"]) * 1000),
            counters={},
        )
        early = self._early_plans.pop(record.pid, None)
        if early and early[0] == record.query_id:
            execution.counters.update(early[1])
        _remember(self._last, record.pid, execution)
        return execution

    def _attach_plan(self, record: Record, counters: dict[str, int]) -> None:
        last = self._last.get(record.pid)
        if last is not None and last.query_id == record.query_id and "rows" not in last.counters:  # no plan yet
            last.counters.update(counters)  # extended protocol: the plan follows its execution
        else:
            _remember(self._early_plans, record.pid, (record.query_id, counters))

    def _failed(self, record: Record) -> Execution | None:
        if record.query_id == "0" or not record.query:
            return None
        return Execution(
            timestamp=record.time,
            query_id=record.query_id,
            query_text=self._texts.get(record.query_id, record.query),
            db_name=record.database,
            db_user=record.user,
            app=record.app,
            operation=operation(record.query),
            pid=record.pid,
            duration_us=0,
            error_message=record.message,
            error_sqlstate=record.sqlstate or None,
            error_level=ERROR_LEVELS[record.severity],
        )
