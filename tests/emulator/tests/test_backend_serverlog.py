"""The log-reading parts of the PostgreSQL backend that need no server: csvlog increments, pruning, dbOperation."""

from __future__ import annotations

import csv
import io

import pytest
from chc_emulator.backend.csvlog import COLUMNS, CsvLogReader
from chc_emulator.backend.sqlops import operation


def csv_line(message: str, second: int = 0) -> bytes:
    row = dict.fromkeys(COLUMNS, "")
    row.update(log_time=f"2026-01-02 03:04:{second:02d}.500 UTC", error_severity="LOG", message=message, query_id="0")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row.values())
    return out.getvalue().encode()


def test_records_are_returned_once_and_only_when_complete(tmp_path):
    log = tmp_path / "postgresql-20260102-030400.csv"
    first, second = csv_line("one"), csv_line("two\nlines", 1)
    cut = second.index(b"\n") + 1  # the writer is inside the quoted, multi-line message
    log.write_bytes(first + second[:cut])
    reader = CsvLogReader(tmp_path, keep_bytes=1 << 20)
    assert [record.message for _, record in reader.read_new()] == ["one"]
    assert reader.read_new() == []
    with open(log, "ab") as out:
        out.write(second[cut:])
    (record,) = [record for _, record in reader.read_new()]
    assert record.message == "two\nlines" and record.time.isoformat() == "2026-01-02T03:04:01.500000+00:00"


def test_old_files_are_pruned_beyond_the_budget_but_never_the_newest(tmp_path):
    names = [f"postgresql-20260102-03040{i}.csv" for i in range(3)]
    for name in names:
        (tmp_path / name).write_bytes(csv_line("x" * 100))
    reader = CsvLogReader(tmp_path, keep_bytes=1)
    assert reader.prune() == names[:2]
    assert sorted(path.name for path in tmp_path.iterdir()) == names[2:]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1", "SELECT"),
        ("  -- hi\n/* c */ SELECT 'update'", "SELECT"),
        ("(SELECT 1) UNION (SELECT 2)", "SELECT"),
        ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "SELECT"),
        ("with recursive r(n) as (select 1) insert into t select n from r", "INSERT"),
        ("WITH x AS (SELECT ')' AS p) UPDATE t SET a = 1", "UPDATE"),
        ("DELETE FROM t", "DELETE"),
        ("VALUES (1)", "SELECT"),
        ("TABLE t", "SELECT"),
        ("EXPLAIN SELECT 1", "UTILITY"),
        ("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "UTILITY"),
        ("CREATE TABLE t(a int)", "UTILITY"),
        ("", "UTILITY"),
    ],
)
def test_operation(sql, expected):
    assert operation(sql) == expected
