"""Rules about the real PostgreSQL server behind a service: connecting, TLS, configuration,
passwords, query insights, logs, metrics and Prometheus."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from emutest import Api, emulator_fixture, needs_postgres, postgres_processes_under, wait_until

pytestmark = needs_postgres

emu = emulator_fixture(postgres=True, provisioning_seconds=0.5, update_seconds=0.5, restart_seconds=0.5, deletion_seconds=0.3, sample_seconds=1)
INT64 = range(-(2**63), 2**63)


def psql(target: str, sql: str | None = None, *, app: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    env.pop("PGAPPNAME", None)
    if app:
        env["PGAPPNAME"] = app
    args = ["psql", target, "-X", "-v", "ON_ERROR_STOP=1", "-At"] + (["-c", sql] if sql is not None else [])
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, env=env)


def value(target: str, sql: str) -> str:
    ran = psql(target, sql)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


def window(seconds: float = 300) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    return {"from_date": (now - dt.timedelta(seconds=seconds)).isoformat(), "to_date": (now + dt.timedelta(seconds=60)).isoformat()}


@pytest.fixture(scope="module")
def main(api):
    """A running service shared by the tests that do not restart it or change its password."""
    return api.running("real main", postgresVersion="18")


# --- connecting -----------------------------------------------------------------------------


def test_connection_string_works_verbatim_over_tls_with_scram(main):
    assert main["connectionString"].endswith("?channel_binding=require")
    # channel_binding=require only succeeds with SCRAM-SHA-256-PLUS over TLS.
    assert value(main["connectionString"], "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "t"
    assert value(main["connectionString"], "SHOW password_encryption") == "scram-sha-256"
    wrong = main["connectionString"].replace(main["password"], "Wrong-Passw0rd-123")
    refused = psql(wrong, "SELECT 1")
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr


def test_verify_full_with_the_service_ca(api, main, tmp_path: Path):
    ca = tmp_path / "ca.pem"
    ca.write_text(api.get(f"/{main['id']}/caCertificates").text)
    port = urlsplit(main["connectionString"]).port
    for host in ("127.0.0.1", "localhost"):
        target = f"host={host} port={port} dbname=postgres user=postgres password={main['password']} sslmode=verify-full sslrootcert={ca}"
        assert value(target, "SELECT 1") == "1", host
    other = api.running("other ca")
    other_ca = tmp_path / "other.pem"
    other_ca.write_text(api.get(f"/{other['id']}/caCertificates").text)
    assert other_ca.read_text() != ca.read_text(), "each service has its own CA"
    target = f"host=127.0.0.1 port={port} dbname=postgres user=postgres password={main['password']} sslmode=verify-full sslrootcert={other_ca}"
    assert psql(target, "SELECT 1").returncode != 0, "another service's CA must not verify this server"
    api.remove(other["id"])


# --- configuration --------------------------------------------------------------------------


def test_reloadable_setting_is_live_at_once(api, main):
    assert api.patch(f"/{main['id']}/config", {"pgConfig": {"work_mem": "12MB"}, "pgBouncerConfig": {}}).status_code == 200
    assert value(main["connectionString"], "SHOW work_mem") == "12MB"
    assert api.patch(f"/{main['id']}/config", {"pgConfig": {"work_mem": None}, "pgBouncerConfig": {}}).status_code == 200
    assert value(main["connectionString"], "SHOW work_mem") == "4MB", "a removed key goes back to the default"


def test_restart_only_setting_waits_for_the_restart(api):
    svc = api.running("restart config")
    cs = svc["connectionString"]
    default = value(cs, "SHOW max_connections")
    result = api.patch(f"/{svc['id']}/config", {"pgConfig": {"max_connections": 42}, "pgBouncerConfig": {}}).json()["result"]
    assert "max_connections" in result["message"]
    assert value(cs, "SHOW max_connections") == default
    assert api.patch(f"/{svc['id']}/state", {"command": "restart"}).json()["result"]["state"] == "restarting"
    api.wait_state(svc["id"], "running", 60)
    assert value(cs, "SHOW max_connections") == "42"
    api.remove(svc["id"])


@pytest.mark.parametrize("during", ["running", "restarting", "creating"])
def test_delete_stops_the_server_and_removes_its_files(api, emu, during):
    """Also when the delete lands while the server is still (re)starting: the delete must not be lost."""
    svc = api.running(f"delete {during}") if during != "creating" else api.create(f"delete {during}")
    if during == "restarting":
        assert api.patch(f"/{svc['id']}/state", {"command": "restart"}).status_code == 200
    files = emu.data_dir / "services" / svc["id"]
    api.remove(svc["id"])
    wait_until(lambda: not postgres_processes_under(files) and not files.exists(), 30, f"the server of {svc['id']} to go")


def test_setting_unknown_to_postgres_15_is_stored_and_harmless(api, main):
    body = {"pgConfig": {"transaction_timeout": "120s", "work_mem": "6MB"}, "pgBouncerConfig": {}}
    assert api.patch(f"/{main['id']}/config", body).status_code == 200
    assert api.config(main["id"])["pgConfig"]["transaction_timeout"] == "120s"
    assert value(main["connectionString"], "SHOW work_mem") == "6MB"
    unknown = psql(main["connectionString"], "SHOW transaction_timeout")
    assert unknown.returncode != 0 and "transaction_timeout" in unknown.stderr
    assert api.patch(f"/{main['id']}/state", {"command": "restart"}).status_code == 200
    api.wait_state(main["id"], "running", 60)
    assert value(main["connectionString"], "SELECT 1") == "1", "the server must still start with the key stored"
    assert api.config(main["id"])["pgConfig"]["transaction_timeout"] == "120s"


def test_password_reset_changes_the_real_password(api):
    svc = api.running("password")
    old = svc["connectionString"]
    assert api.patch(f"/{svc['id']}/password", {"password": "Brand-New-Passw0rd"}).json()["result"] == {}
    new = api.service(svc["id"])["connectionString"]
    assert ":Brand-New-Passw0rd@" in new
    assert value(new, "SELECT 1") == "1"
    assert "password authentication failed" in psql(old, "SELECT 1").stderr
    generated = api.patch(f"/{svc['id']}/password", {}).json()["result"]["password"]
    assert value(new.replace("Brand-New-Passw0rd", generated), "SELECT 1") == "1"
    assert psql(new, "SELECT 1").returncode != 0
    api.remove(svc["id"])


# --- query insights, logs, metrics, Prometheus ---------------------------------------------


def _pattern(api: Api, sid: str, text: str, calls: int, **filters) -> dict | None:
    rows = api.get(f"/{sid}/slowQueryPatterns", params={**window(), **filters, "limit": 500}).json()["result"]
    found = [r for r in rows if text in r["queryText"]]
    return found[0] if found and found[0]["callCount"] >= calls else None


def test_statements_show_up_as_slow_query_patterns(api, main):
    sql = (
        "CREATE TABLE IF NOT EXISTS insight_items (id int); INSERT INTO insight_items SELECT generate_series(1, 1000);"
        "SELECT count(*) FROM insight_items WHERE id > 5; SELECT count(*) FROM insight_items WHERE id > 700;"
        "SELECT count(*) FROM insight_items WHERE id > 999;"
    )
    ran = psql(main["connectionString"], app="myapp", stdin=sql.replace(";", ";\n"))
    assert ran.returncode == 0, ran.stderr
    started = time.monotonic()
    pattern = wait_until(lambda: _pattern(api, main["id"], "insight_items WHERE id >", 3, app="myapp"), 10, "the pattern")
    seen_after = time.monotonic() - started
    assert seen_after < 10
    assert (pattern["dbName"], pattern["dbUser"], pattern["app"], pattern["dbOperation"]) == ("postgres", "postgres", "myapp", "SELECT")
    assert pattern["callCount"] == 3 and pattern["errorCount"] == 0
    assert "$1" in pattern["queryText"] and "700" not in pattern["queryText"], "literals are normalised"
    assert re.fullmatch(r"-?\d+", pattern["queryId"]) and int(pattern["queryId"]) in INT64 and pattern["queryId"] != "0"
    assert pattern["totalRows"] == 3
    assert pattern["totalDurationUs"] >= pattern["maxDurationUs"] >= pattern["p99DurationUs"] >= pattern["p95DurationUs"] >= pattern["p50DurationUs"] >= 0
    assert pattern["avgDurationUs"] == pattern["totalDurationUs"] // 3
    assert pattern["maxDurationUs"] < 10_000_000, "microseconds, not nanoseconds"

    inserts = api.get(f"/{main['id']}/slowQueryPatterns", params={**window(), "app": "myapp", "db_operation": "INSERT"}).json()["result"]
    assert inserts and all(r["dbOperation"] == "INSERT" for r in inserts)
    assert any(r["totalRows"] == 1000 for r in inserts)
    others = api.get(f"/{main['id']}/slowQueryPatterns", params={**window(), "app": "nobody"}).json()["result"]
    assert others == []
    by_calls = api.get(f"/{main['id']}/slowQueryPatterns", params={**window(), "app": "myapp", "sort_by": "call_count", "limit": 1}).json()["result"]
    assert len(by_calls) == 1 and by_calls[0]["callCount"] == max(r["callCount"] for r in _all(api, main["id"], app="myapp"))

    detail = api.get(
        f"/{main['id']}/slowQueryPatterns/{pattern['queryId']}",
        params={"db_name": "postgres", "db_user": "postgres", "db_operation": "SELECT", "app": "myapp"},
    ).json()["result"]
    assert detail["aggregate"] == pattern
    executions = detail["recentExecutions"]
    assert len(executions) == 3
    assert [e["timestamp"] for e in executions] == sorted((e["timestamp"] for e in executions), reverse=True)
    for execution in executions:
        assert execution["queryId"] == pattern["queryId"] and execution["serverRole"] == "primary"
        assert (execution["dbName"], execution["dbUser"], execution["app"], execution["dbOperation"]) == ("postgres", "postgres", "myapp", "SELECT")
        assert execution["pid"].isdigit() and execution["rows"] == 1 and execution["durationUs"] >= 0
    missing = api.get(f"/{main['id']}/slowQueryPatterns/12345", params={"db_name": "postgres", "db_user": "postgres", "db_operation": "SELECT"})
    assert missing.status_code == 404


def _all(api: Api, sid: str, **filters) -> list[dict]:
    return api.get(f"/{sid}/slowQueryPatterns", params={**window(), **filters, "limit": 500}).json()["result"]


def test_logs_with_severity_and_body_filters(api, main):
    marker = f"no_such_table_{int(time.time())}"
    assert psql(main["connectionString"], f"SELECT * FROM {marker}").returncode != 0
    params = {**window(), "severity": "ERROR", "body_contains": marker}
    errors = wait_until(lambda: api.get(f"/{main['id']}/logs", params=params).json()["result"], 10, "the error in the log")
    assert all(e["severity"] == "ERROR" and marker in e["body"] for e in errors)
    assert any(f'relation "{marker}" does not exist' in e["body"] for e in errors)
    logs = api.get(f"/{main['id']}/logs", params={**window(), "limit": 2000}).json()["result"]
    assert {"LOG", "ERROR"} <= {e["severity"] for e in logs}
    only_log = api.get(f"/{main['id']}/logs", params={**window(), "severity": "LOG", "limit": 2000}).json()["result"]
    assert only_log and all(e["severity"] == "LOG" for e in only_log)
    assert not [e for e in only_log if f'relation "{marker}"' in e["body"]]
    ascending = api.get(f"/{main['id']}/logs", params={**window(), "sort_order": "asc", "limit": 2000}).json()["result"]
    assert ascending == list(reversed(logs))
    assert len(api.get(f"/{main['id']}/logs", params={**window(), "limit": 2}).json()["result"]) == 2
    assert api.get(f"/{main['id']}/logs", params={**window(), "body_contains": "no-such-text-anywhere"}).json()["result"] == []


def test_metrics_have_data_points(api, main):
    value(main["connectionString"], "SELECT count(*) FROM pg_class")
    params = {**window(120), "bucket_size_seconds": 1}

    def with_points():
        metrics = api.get(f"/{main['id']}/metrics", params=params).json()["result"]["metrics"]
        points = {m["key"]: sum(len(s["dataPoints"]) for s in m["series"]) for m in metrics}
        return metrics if points.get("connection_count", 0) >= 2 and points.get("cpu_usage", 0) >= 2 else None

    metrics = wait_until(with_points, 15, "two samples")
    keys = {m["key"] for m in metrics}
    assert {"cpu_usage", "connection_count", "cache_hit_ratio", "database_size"} <= keys
    low, high = (dt.datetime.fromisoformat(params[k]).timestamp() for k in ("from_date", "to_date"))
    for metric in metrics:
        for series in metric["series"]:
            assert series["label"]
            for point in series["dataPoints"]:
                assert low - 1 <= point["timestamp"] <= high and isinstance(point["value"], (int, float))
    sizes = next(m for m in metrics if m["key"] == "database_size")
    assert "postgres" in {s["label"] for s in sizes["series"]}


def test_prometheus_text(api, emu, main):
    text = api.get(f"/{main['id']}/prometheus").text
    common = f'clickhouse_org="{emu.org_id}",postgres_service="{main["id"]}",postgres_service_name="real main"'
    info = [line for line in text.splitlines() if line.startswith("PostgresServiceInfo{")]
    assert info == [f'PostgresServiceInfo{{{common},postgres_status="running",postgres_version="18"}} 1']
    assert "# TYPE PostgresServiceInfo gauge" in text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(common in line for line in samples)
    assert any(line.startswith("PostgresServer_DatabaseSizeBytes{") and 'database="postgres"' in line for line in samples)
    assert any(line.startswith("PostgresServer_CPUSeconds_Total{") and 'mode="user"' in line for line in samples)
    org = api.get("/prometheus").text
    assert f'postgres_service="{main["id"]}"' in org
