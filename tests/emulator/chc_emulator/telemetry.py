"""Metrics and Prometheus text from the real servers' statistics.

A sampler stores a snapshot of each running server's counters every few seconds; the
metrics endpoint turns the samples in a window into bucketed series (rates for counters,
averages for gauges), and the Prometheus endpoints render a live snapshot.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping

from . import validation
from .backend.base import Backend
from .store import Store

log = logging.getLogger("chc_emulator")

_MAX_POINTS = 250
_KEEP_SECONDS = 8 * 86400

# key, name, unit, description, source metric, how (gauge|rate|cpu), label for unlabelled values
_SERIES = (
    ("cpu_usage", "CPU usage", "%", "CPU time used by the server, by mode", "PostgresServer_CPUSeconds_Total", "cpu", None),
    ("memory_usage", "Memory usage", "%", "Memory in use", "PostgresServer_MemoryUsedPercent", "gauge", "Used"),
    ("filesystem_usage", "Disk usage", "%", "Filesystem space in use", "PostgresServer_FilesystemUsedPercent", "gauge", "Used"),
    ("connection_count", "Connections", "count", "Client connections by state", "PostgresServer_ActiveConnections", "gauge", None),
    ("cache_hit_ratio", "Cache hit ratio", "%", "Buffer cache hit ratio", "PostgresServer_CacheHitRatio", "gauge", "Hit ratio"),
    ("disk_reads", "Disk reads", "IOPS", "Blocks read from disk per second", "PostgresServer_DiskReads_Total", "rate", "Reads"),
    ("disk_writes", "Disk writes", "IOPS", "Blocks written per second", "PostgresServer_DiskWrites_Total", "rate", "Writes"),
    ("transactions_committed", "Commits", "count/s", "Transactions committed per second", "PostgresServer_TransactionsCommitted_Total", "rate", "Committed"),
    (
        "transactions_rolled_back", "Rollbacks", "count/s", "Transactions rolled back per second",
        "PostgresServer_TransactionsRolledBack_Total", "rate", "Rolled back",
    ),
    ("rows_fetched", "Rows fetched", "count/s", "Rows fetched per second", "PostgresServer_TuplesFetched_Total", "rate", "Fetched"),
    ("rows_inserted", "Rows inserted", "count/s", "Rows inserted per second", "PostgresServer_TuplesInserted_Total", "rate", "Inserted"),
    ("rows_updated", "Rows updated", "count/s", "Rows updated per second", "PostgresServer_TuplesUpdated_Total", "rate", "Updated"),
    ("rows_deleted", "Rows deleted", "count/s", "Rows deleted per second", "PostgresServer_TuplesDeleted_Total", "rate", "Deleted"),
    ("database_size", "Database size", "bytes", "Size of each database", "PostgresServer_DatabaseSizeBytes", "gauge", None),
)  # fmt: skip

# Which label a labelled Prometheus metric carries.
_LABEL_NAMES = {
    "PostgresServer_CPUSeconds_Total": "mode",
    "PostgresServer_ActiveConnections": "state",
    "PostgresServer_DatabaseSizeBytes": "database",
}


def _labelled(value: float | Mapping[str, float], default_label: str | None) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    return {default_label or "value": float(value)}


class Sampler:
    def __init__(self, store: Store, backend: Backend, *, interval: float):
        self.store = store
        self.backend = backend
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started: a failed emulator start may never have
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for doc in self.store.all():
                if doc["state"] != "running":
                    continue
                try:
                    stats = self.backend.stats(doc["id"])
                except Exception as exc:  # a server mid-restart has no stats; try next round
                    log.debug("service %s: no stats: %s", doc["id"], exc)
                    continue
                self.store.add_sample(doc["id"], self.store.clock(), stats, keep_seconds=_KEEP_SECONDS)


class Telemetry:
    def __init__(self, store: Store, backend: Backend, *, org_id: str, sample_interval: float):
        self.store = store
        self.backend = backend
        self.org_id = org_id
        self.sample_interval = sample_interval

    def metrics(self, service_id: str, query: Mapping[str, str]) -> dict:
        self.store.get(service_id)
        since, until = validation.parse_window(query)
        window = (until - since).total_seconds()
        bucket = validation.parse_int("bucket_size_seconds", query.get("bucket_size_seconds"), default=None, low=1)
        smallest = math.ceil(window / _MAX_POINTS)
        bucket = max(bucket or max(smallest, math.ceil(self.sample_interval)), smallest)
        samples = self.store.samples(service_id, since.timestamp() - self.sample_interval * 2, until.timestamp())
        start = since.timestamp()
        metrics = []
        for key, name, unit, description, source, how, default_label in _SERIES:
            points: dict[str, dict[int, list[float]]] = {}
            for (t0, s0), (t1, s1) in zip([(None, None), *samples], samples):
                if t1 < start or source not in s1:
                    continue
                if how == "gauge":
                    values = _labelled(s1[source], default_label)
                elif t0 is None or source not in s0 or t1 <= t0:
                    continue
                else:
                    now, before = _labelled(s1[source], default_label), _labelled(s0[source], default_label)
                    rates = {k: max(0.0, (v - before.get(k, v)) / (t1 - t0)) for k, v in now.items()}
                    if how == "cpu":
                        cores = float(s1.get("PostgresServer_CPUCores", 1) or 1)
                        rates = {k: 100.0 * v / cores for k, v in rates.items()}
                    values = rates
                slot = int(start + (t1 - start) // bucket * bucket)
                for label, value in values.items():
                    points.setdefault(label, {}).setdefault(slot, []).append(value)
            series = [
                {"label": label, "dataPoints": [{"timestamp": ts, "value": round(sum(v) / len(v), 6)} for ts, v in sorted(by_slot.items())]}
                for label, by_slot in sorted(points.items())
            ]
            metrics.append({"key": key, "name": name, "unit": unit, "description": description, "series": series})
        return {"metrics": metrics}

    def prometheus(self, service_ids: list[str] | None = None) -> str:
        docs = self.store.all() if service_ids is None else [self.store.get(i) for i in service_ids]
        families: dict[str, list[str]] = {}
        for doc in docs[:100]:
            common = f'clickhouse_org="{self.org_id}",postgres_service="{doc["id"]}",postgres_service_name="{_escape(doc["name"])}"'
            families.setdefault("PostgresServiceInfo", []).append(
                f'PostgresServiceInfo{{{common},postgres_status="{doc["state"]}",postgres_version="{doc["postgresVersion"]}"}} 1'
            )
            if doc["state"] != "running":
                continue
            try:
                stats = self.backend.stats(doc["id"])
            except Exception as exc:  # the info line still says what state it is in
                log.debug("service %s: no stats: %s", doc["id"], exc)
                continue
            for metric, value in sorted(stats.items()):
                lines = families.setdefault(metric, [])
                if isinstance(value, Mapping):
                    label = _LABEL_NAMES.get(metric, "label")
                    lines += [f'{metric}{{{common},{label}="{_escape(str(k))}"}} {_number(v)}' for k, v in sorted(value.items())]
                else:
                    lines.append(f"{metric}{{{common}}} {_number(value)}")
        out = []
        for metric, lines in families.items():
            kind = "counter" if metric.endswith("_Total") else "gauge"
            out += [f"# HELP {metric} {metric.replace('_', ' ')}", f"# TYPE {metric} {kind}", *lines]
        return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) and not float(value).is_integer() else str(int(value))
