"""One service's server log as the API sees it: log entries and executions, parsed once, kept per file.

Records of the backend's own admin sessions (application_name `hidden_app`) are dropped.
Plan and usage lines are folded into executions and not listed as log entries.  Query texts
are normalised while parsing: `lookup_texts` (pg_stat_statements, while the server runs) is
asked once per batch for the query ids not seen before.  When old log files are pruned,
what was parsed from them goes too.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import threading
from collections.abc import Callable

from .base import Execution, LogEntry
from .csvlog import CsvLogReader, Record
from .executions import ExecutionAssembler, is_instrumentation

KEEP_LOG_BYTES = 64 * 1024 * 1024
_SEVERITIES = {"LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC"}


def _severity(pg_severity: str) -> str:
    if pg_severity.startswith("DEBUG"):
        return "DEBUG"
    return pg_severity if pg_severity in _SEVERITIES else "LOG"


def _entry(record: Record) -> LogEntry:
    body = f"{record.message}\nDETAIL:  {record.detail}" if record.detail else record.message
    return LogEntry(timestamp=record.time, severity=_severity(record.severity), body=body)


def _timestamp(item: LogEntry | Execution) -> dt.datetime:
    return item.timestamp


class ServerLog:
    def __init__(self, log_dir: pathlib.Path, hidden_app: str, lookup_texts: Callable[[set[str]], dict[str, str]], keep_bytes: int = KEEP_LOG_BYTES):
        self._reader = CsvLogReader(log_dir, keep_bytes)
        self._hidden_app = hidden_app
        self._lookup_texts = lookup_texts
        self._texts: dict[str, str] = {}  # query id -> normalised text
        self._assembler = ExecutionAssembler(self._texts)
        self._entries: dict[str, list[LogEntry]] = {}  # log file name -> its entries
        self._executions: dict[str, list[Execution]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Take in what the server logged since the last call, and prune old files."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        batch = [(name, record) for name, record in self._reader.read_new() if record.app != self._hidden_app]
        unknown = {record.query_id for _, record in batch} - self._texts.keys() - {"0"}
        if unknown:
            self._texts.update(self._lookup_texts(unknown))
        for name, record in batch:
            execution = self._assembler.feed(record)
            if execution is not None:
                self._executions.setdefault(name, []).append(execution)
            if not is_instrumentation(record):
                self._entries.setdefault(name, []).append(_entry(record))
        for name in self._reader.prune():
            self._entries.pop(name, None)
            self._executions.pop(name, None)

    def log_entries(self, since: dt.datetime, until: dt.datetime) -> list[LogEntry]:
        """Entries in [since, until], oldest first."""
        with self._lock:
            self._refresh()
            found = [entry for name in sorted(self._entries) for entry in self._entries[name] if since <= entry.timestamp <= until]
        return sorted(found, key=_timestamp)  # processes' lines may interleave by a hair

    def executions(self, since: dt.datetime, until: dt.datetime) -> list[Execution]:
        """Executions in [since, until), oldest first, with the text the server logged."""
        with self._lock:
            self._refresh()
            found = [execution for name in sorted(self._executions) for execution in self._executions[name] if since <= execution.timestamp < until]
        return sorted(found, key=_timestamp)
