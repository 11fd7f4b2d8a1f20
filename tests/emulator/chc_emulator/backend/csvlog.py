"""Incremental reading of a server's csvlog directory.

Each call returns only the records written since the previous call: the reader remembers,
per file, the byte offset after the last complete record, so a busy server's log is parsed
once.  A record still being written (its quoted fields may span lines) is left for the next
call.  Old files beyond a byte budget are deleted, oldest first, never the one being written.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import io
import pathlib

# PostgreSQL 15's csvlog columns, in order.
COLUMNS = (
    "log_time", "user_name", "database_name", "process_id", "connection_from", "session_id", "session_line_num",
    "command_tag", "session_start_time", "virtual_transaction_id", "transaction_id", "error_severity", "sql_state_code",
    "message", "detail", "hint", "internal_query", "internal_query_pos", "context", "query", "query_pos", "location",
    "application_name", "backend_type", "leader_pid", "query_id",
)  # fmt: skip
_AT = {name: i for i, name in enumerate(COLUMNS)}


@dataclasses.dataclass(frozen=True)
class Record:
    """The columns of one log line the backend uses."""

    time: dt.datetime
    user: str
    database: str
    pid: str
    severity: str
    sqlstate: str
    message: str
    detail: str
    query: str
    app: str
    query_id: str

    @classmethod
    def from_row(cls, row: list[str]) -> Record:
        # log_timezone is UTC: "2026-01-02 03:04:05.678 UTC"
        time = dt.datetime.fromisoformat(row[_AT["log_time"]].removesuffix(" UTC")).replace(tzinfo=dt.timezone.utc)
        return cls(
            time=time,
            user=row[_AT["user_name"]],
            database=row[_AT["database_name"]],
            pid=row[_AT["process_id"]],
            severity=row[_AT["error_severity"]],
            sqlstate=row[_AT["sql_state_code"]],
            message=row[_AT["message"]],
            detail=row[_AT["detail"]],
            query=row[_AT["query"]],
            app=row[_AT["application_name"]],
            query_id=row[_AT["query_id"]] or "0",
        )


class CsvLogReader:
    def __init__(self, log_dir: pathlib.Path, keep_bytes: int):
        self.log_dir = log_dir
        self.keep_bytes = keep_bytes
        self._offsets: dict[str, int] = {}

    def _files(self) -> list[pathlib.Path]:
        try:
            return sorted(self.log_dir.glob("*.csv"))  # names embed their start time, so this is oldest first
        except OSError:
            return []

    def read_new(self) -> list[tuple[str, Record]]:
        """(file name, record) for every complete record not returned before, oldest first."""
        new: list[tuple[str, Record]] = []
        files = self._files()
        for path in files:
            offset = self._offsets.get(path.name, 0)
            try:
                with open(path, "rb") as log_file:
                    log_file.seek(offset)
                    data = log_file.read()
            except FileNotFoundError:
                continue
            records, consumed = _complete_records(data)
            # Only the newest file still grows: whatever is left in an older one was cut short by a crash.
            self._offsets[path.name] = offset + (consumed if path == files[-1] else len(data))
            new.extend((path.name, record) for record in records)
        return new

    def prune(self) -> list[str]:
        """Delete the oldest files while the directory exceeds the budget; returns their names."""
        sizes = {}
        for path in self._files():
            with contextlib.suppress(FileNotFoundError):  # the service may be being destroyed
                sizes[path] = path.stat().st_size
        total = sum(sizes.values())
        removed = []
        for path, size in list(sizes.items())[:-1]:
            if total <= self.keep_bytes:
                break
            path.unlink(missing_ok=True)
            path.with_suffix(".log").unlink(missing_ok=True)  # the stderr twin of a csvlog file
            total -= size
            self._offsets.pop(path.name, None)
            removed.append(path.name)
        return removed


def _complete_records(data: bytes) -> tuple[list[Record], int]:
    """The complete records at the start of data, and how many bytes they span."""
    complete_lines = data[: data.rfind(b"\n") + 1]  # a line after the last newline is still being written
    reader = csv.reader(io.StringIO(complete_lines.decode("utf-8", errors="replace")), strict=True)
    records = []
    lines_used = 0
    try:
        for row in reader:
            if len(row) != len(COLUMNS):
                break
            records.append(Record.from_row(row))
            lines_used = reader.line_num
        else:
            return records, len(complete_lines)
    except csv.Error:  # a record cut short by the end of the data (inside a quoted field)
        pass
    return records, sum(map(len, data.split(b"\n", lines_used)[:lines_used])) + lines_used
