"""A snapshot of one server's Prometheus metrics (reference section 7), cheaply.

Keys are metric names; values a float, or {label value: float} for labelled metrics.
Sources: the server's own statistics views (one round trip on one connection), /proc of
the postmaster and its children, and the host.  The "machine" of a local service is the
host, so CPUCores, MemoryLimitBytes, StorageLimitBytes, FilesystemUsedPercent and
MemoryCachePercent describe the host (memory limited by the cgroup if there is one).
Network counters stay 0: nothing local separates a server's traffic.  See README-backend.md.
"""

from __future__ import annotations

import os
import pathlib
import shutil

CPU_MODES = ("user", "system", "iowait", "softirq", "steal", "irq", "nice", "idle")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_DATABASE_SQL = """
SELECT
  (SELECT coalesce(json_object_agg(state, n), '{}') FROM (
     SELECT coalesce(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND application_name <> %(hidden_app)s GROUP BY 1) AS s),
  (SELECT coalesce(json_object_agg(datname, pg_database_size(oid)), '{}') FROM pg_database WHERE NOT datistemplate),
  sum(tup_fetched), sum(tup_inserted), sum(tup_updated), sum(tup_deleted),
  sum(xact_commit), sum(xact_rollback), sum(deadlocks), sum(blks_read), sum(blks_hit),
  (SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter)
FROM pg_stat_database
"""


def zero_stats() -> dict[str, float | dict[str, float]]:
    """Every metric, at zero: what a server that is not running reports."""
    return {
        "PostgresServer_CPUCores": 0.0,
        "PostgresServer_MemoryLimitBytes": 0.0,
        "PostgresServer_StorageLimitBytes": 0.0,
        "PostgresServer_CPUSeconds_Total": {mode: 0.0 for mode in CPU_MODES},
        "PostgresServer_MemoryUsedPercent": 0.0,
        "PostgresServer_MemoryCachePercent": 0.0,
        "PostgresServer_FilesystemUsedPercent": 0.0,
        "PostgresServer_DiskReads_Total": 0.0,
        "PostgresServer_DiskWrites_Total": 0.0,
        "PostgresServer_NetworkReceiveBytes_Total": 0.0,
        "PostgresServer_NetworkTransmitBytes_Total": 0.0,
        "PostgresServer_TuplesFetched_Total": 0.0,
        "PostgresServer_TuplesInserted_Total": 0.0,
        "PostgresServer_TuplesUpdated_Total": 0.0,
        "PostgresServer_TuplesDeleted_Total": 0.0,
        "PostgresServer_TransactionsCommitted_Total": 0.0,
        "PostgresServer_TransactionsRolledBack_Total": 0.0,
        "PostgresServer_Deadlocks_Total": 0.0,
        "PostgresServer_ActiveConnections": {"active": 0.0, "idle": 0.0},
        "PostgresServer_CacheHitRatio": 0.0,
        "PostgresServer_DatabaseSizeBytes": {},
    }


def _meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    info = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, _, value = line.partition(":")
            info[name] = int(value.split()[0]) * 1024
    return info


def _memory_limit(meminfo: dict[str, int]) -> int:
    try:
        cgroup_max = pathlib.Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        cgroup_max = "max"
    return min(meminfo["MemTotal"], int(cgroup_max)) if cgroup_max.isdigit() else meminfo["MemTotal"]


def host_stats(path: pathlib.Path) -> dict[str, float]:
    """What the host offers the server whose data lives at path."""
    meminfo = _meminfo()
    disk = shutil.disk_usage(path)
    return {
        "PostgresServer_CPUCores": float(os.cpu_count() or 1),
        "PostgresServer_MemoryLimitBytes": float(_memory_limit(meminfo)),
        "PostgresServer_StorageLimitBytes": float(disk.total),
        "PostgresServer_FilesystemUsedPercent": 100.0 * disk.used / disk.total,
        "PostgresServer_MemoryCachePercent": 100.0 * (meminfo["Buffers"] + meminfo["Cached"]) / meminfo["MemTotal"],
    }


def _server_pids(postmaster_pid: int) -> list[int]:
    children = pathlib.Path(f"/proc/{postmaster_pid}/task/{postmaster_pid}/children").read_text().split()
    return [postmaster_pid, *map(int, children)]


def _cpu_ticks(pid: int) -> tuple[int, int]:
    """(user, system) ticks of pid including its reaped children (the postmaster's exited backends)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return utime + cutime, stime + cstime


def _pss_bytes(pid: int) -> int:
    """Proportional set size: shared memory counted once across the server's processes."""
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def process_stats(postmaster_pid: int, memory_limit: float) -> dict[str, float | dict[str, float]]:
    user = system = memory = 0
    for pid in _server_pids(postmaster_pid):
        try:
            ticks = _cpu_ticks(pid)
            memory += _pss_bytes(pid)
        except (FileNotFoundError, ProcessLookupError):  # exited meanwhile; the postmaster has its ticks
            continue
        user += ticks[0]
        system += ticks[1]
    cpu = {mode: 0.0 for mode in CPU_MODES} | {"user": user / _CLOCK_TICKS, "system": system / _CLOCK_TICKS}
    return {"PostgresServer_CPUSeconds_Total": cpu, "PostgresServer_MemoryUsedPercent": 100.0 * memory / memory_limit}


def database_stats(conn, hidden_app: str) -> dict[str, float | dict[str, float]]:
    """From the server's statistics views; hidden_app's sessions (the backend's own) are not counted."""
    row = conn.execute(_DATABASE_SQL, {"hidden_app": hidden_app}).fetchone()
    states, sizes, fetched, inserted, updated, deleted, commits, rollbacks, deadlocks, reads, hits, writes = row
    return {
        "PostgresServer_ActiveConnections": {"active": 0.0, "idle": 0.0} | {s: float(n) for s, n in states.items()},
        "PostgresServer_DatabaseSizeBytes": {name: float(size) for name, size in sizes.items()},
        "PostgresServer_TuplesFetched_Total": float(fetched),
        "PostgresServer_TuplesInserted_Total": float(inserted),
        "PostgresServer_TuplesUpdated_Total": float(updated),
        "PostgresServer_TuplesDeleted_Total": float(deleted),
        "PostgresServer_TransactionsCommitted_Total": float(commits),
        "PostgresServer_TransactionsRolledBack_Total": float(rollbacks),
        "PostgresServer_Deadlocks_Total": float(deadlocks),
        "PostgresServer_CacheHitRatio": 100.0 * float(hits) / float(hits + reads) if hits + reads else 100.0,
        "PostgresServer_DiskReads_Total": float(reads),
        "PostgresServer_DiskWrites_Total": float(writes),
    }
