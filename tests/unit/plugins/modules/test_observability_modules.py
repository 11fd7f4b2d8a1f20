# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only modules against the emulator: metrics, logs, Prometheus samples, the CA certificate."""

from __future__ import annotations

import os
import stat
from urllib.parse import parse_qs

import pytest

from ansible_collections.clickhouse.cloud.plugins.modules import (
    postgres_certificate,
    postgres_certificate_info,
    postgres_logs_info,
    postgres_metrics_info,
    postgres_prometheus_info,
)


@pytest.fixture
def args(emu_args, running_service):
    return dict(emu_args, id=running_service["id"])


def last_query(emulator):
    return {k: v[0] for k, v in parse_qs(emulator.requests()[-1]["query"]).items()}


def test_metrics(run_module, args, emulator, writes):
    result = run_module(postgres_metrics_info, dict(args, bucket_size=60, _ansible_check_mode=True))
    assert not result["changed"] and writes() == [] and writes.calls() == 2
    keys = [m["key"] for m in result["metrics"]]
    assert keys == sorted(keys) and "cpu_usage" in keys
    assert all({"key", "name", "unit", "description", "series"} <= set(m) for m in result["metrics"])
    query = last_query(emulator)
    assert query["bucket_size_seconds"] == "60" and query["from_date"] == result["window"]["from"]

    only = run_module(postgres_metrics_info, dict(args, keys=["connection_count", "no_such_metric"]))
    assert [m["key"] for m in only["metrics"]] == ["connection_count"]


def test_metrics_bad_bucket(run_module, dead_api):
    result = run_module(postgres_metrics_info, dict(dead_api, name="x", bucket_size=0))
    assert result["failed"] and "bucket_size must be at least 1" in result["msg"]


def test_logs(run_module, args, emulator):
    result = run_module(postgres_logs_info, dict(args, severity="ERROR", body_contains="deadlock", sort_order="asc",
                                                 limit=3000, offset=5, **{"from": "2d"}))
    assert not result["changed"] and result["entries"] == []
    query = last_query(emulator)
    assert query == {"from_date": result["window"]["from"], "to_date": result["window"]["to"], "severity": "ERROR",
                     "body_contains": "deadlock", "sort_order": "asc", "limit": "2000", "offset": "5"}


def test_logs_window_is_at_most_30_days(run_module, dead_api):
    result = run_module(postgres_logs_info, dict(dead_api, name="x", **{"from": "31d"}))
    assert result["failed"] and "longer than the API's 30 days" in result["msg"]


def test_prometheus_org_and_one_service(run_module, args, emu_args, running_service, writes):
    org = run_module(postgres_prometheus_info, dict(emu_args, metric_names=["PostgresServiceInfo"], include_text=True))
    assert writes.calls() == 1 and "PostgresServiceInfo" in org["text"]
    mine = [s for s in org["samples"] if s["labels"]["postgres_service"] == running_service["id"]]
    assert len(mine) == 1 and mine[0]["value"] == 1.0 and mine[0]["type"] == "gauge"
    assert mine[0]["labels"]["postgres_status"] == "running" and mine[0]["labels"]["postgres_service_name"] == running_service["name"]
    assert {s["name"] for s in org["samples"]} == {"PostgresServiceInfo"}

    one = run_module(postgres_prometheus_info, args)
    assert writes.calls() == 2 and "text" not in one
    assert {s["labels"]["postgres_service"] for s in one["samples"]} == {running_service["id"]}
    assert "PostgresServer_CPUSeconds_Total" in {s["name"] for s in one["samples"]}

    by_name = run_module(postgres_prometheus_info, dict(emu_args, name=running_service["name"]))
    assert writes.calls() == 4 and len(by_name["samples"]) == len(one["samples"])
    assert writes() == []


def test_certificate_written_0600_and_idempotent(run_module, args, tmp_path, writes):
    dest = str(tmp_path / "ca.pem")
    read = run_module(postgres_certificate_info, args)
    assert not read["changed"] and read["certificate"].startswith("-----BEGIN CERTIFICATE-----") and "dest" not in read

    predicted = run_module(postgres_certificate, dict(args, dest=dest, _ansible_check_mode=True, _ansible_diff=True))
    assert predicted["changed"] and not os.path.exists(dest)
    assert predicted["diff"][0]["after"] == read["certificate"] and predicted["diff"][0]["before"] == ""

    written = run_module(postgres_certificate, dict(args, dest=dest))
    assert written["changed"] and written["dest"] == dest
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    with open(dest) as handle:
        assert handle.read() == read["certificate"]

    again = run_module(postgres_certificate, dict(args, dest=dest, _ansible_diff=True))
    assert not again["changed"] and "diff" not in again

    os.chmod(dest, 0o644)
    fixed = run_module(postgres_certificate, dict(args, dest=dest, _ansible_diff=True))
    assert fixed["changed"] and fixed["diff"] == [{"before": {"mode": "0644"}, "after": {"mode": "0600"}}]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600

    wider = run_module(postgres_certificate, dict(args, dest=dest, mode="0644"))
    assert wider["changed"] and stat.S_IMODE(os.stat(dest).st_mode) == 0o644

    with open(dest, "w") as handle:
        handle.write("stale\n")
    replaced = run_module(postgres_certificate, dict(args, dest=dest, mode="0644", _ansible_diff=True))
    assert replaced["changed"] and replaced["diff"][0]["before"] == "stale\n"
    assert writes() == []


@pytest.mark.parametrize("dest, fragment", [("missing-dir/ca.pem", "does not exist"), (".", "is a directory")])
def test_certificate_bad_dest(run_module, args, tmp_path, dest, fragment):
    result = run_module(postgres_certificate, dict(args, dest=str(tmp_path / dest)))
    assert result["failed"] and fragment in result["msg"]


def test_certificate_info_only_reads(run_module, args, tmp_path):
    result = run_module(postgres_certificate_info, dict(args, dest=str(tmp_path / "ca.pem")))
    assert result["failed"] and "Unsupported parameters" in result["msg"] and "dest" in result["msg"]
    assert not os.path.exists(str(tmp_path / "ca.pem"))
