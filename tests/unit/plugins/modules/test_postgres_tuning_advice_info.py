# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_tuning_advice_info against the emulator: the calls it makes, and real spills on a real server."""

from __future__ import annotations

import shutil
import threading
import time
import uuid

import pytest
from ansible_collections.clickhouse.cloud.plugins.modules import postgres_tuning_advice_info as module

SORT = "SELECT * FROM advice_rows ORDER BY y OFFSET 99990"


def test_nothing_to_propose_reads_three_calls_and_writes_nothing(run_module, emu_args, running_service, writes):
    writes.mark()
    result = run_module(module, dict(emu_args, name=running_service["name"], **{"from": "1h"}))
    assert result["changed"] is False and set(result["window"]) == {"from", "to"}
    [advice] = result["advice"]
    assert (advice["id"], advice["name"], advice["size"], advice["proposals"]) == (running_service["id"], running_service["name"],
                                                                                   "r8gd.large", [])
    summary = advice["inputs_summary"]
    assert summary["api_calls"] == 3 and summary["patterns_read"] == 0 and summary["window"] == result["window"]
    assert summary["settings"]["work_mem"] == "4MB" and summary["settings_set"] == []
    assert summary["memory_bytes"] == 16 * 1024 ** 3 and summary["memory_source"] == "size r8gd.large"
    assert "accepted" not in advice
    assert writes() == [] and writes.calls() == 1 + 3  # the listing that finds the name, then config, patterns, metrics


def test_check_mode_and_names_in_order(run_module, emu_args, emulator, writes):
    from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
    from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport

    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    names = ["advice %s" % uuid.uuid4().hex[:8], "advice %s" % uuid.uuid4().hex[:8]]
    ids = [api.create_service(dict(name=n, provider="aws", region="us-east-1", size="m6gd.xlarge")).id for n in names]
    writes.mark()
    result = run_module(module, dict(emu_args, names=[names[1], names[0], names[1]], _ansible_check_mode=True,
                                     policy={"allow_restart": False}))
    assert [a["id"] for a in result["advice"]] == [ids[1], ids[0]]
    assert all(a["accepted"] == [] and a["declined"] == [] and a["pg_config"] == {} for a in result["advice"])
    assert all(a["inputs_summary"]["memory_bytes"] == 16 * 1024 ** 3 for a in result["advice"])
    assert writes() == [] and writes.calls() == 1 + 2 * 3  # one listing for all the names


@pytest.mark.parametrize("args, fragment", [
    ({"name": "x", "from": "now", "to": "1h"}, "The window is empty"),
    ({"name": "x", "top_patterns": -1}, "top_patterns must be 0 or more"),
    ({"name": "x", "policy": {"bounds": {"work_mem": "8 MiB"}}}, "not a value work_mem takes"),
    ({"name": "x", "policy": {"bounds": {"shared_buffers": "1GB"}}}, "which no rule raises or lowers"),
    ({"name": "x", "rules": ["work_mem"]}, "value of rules must be one or more of"),
    ({"name": "x", "names": ["y"]}, "mutually exclusive"),
    ({}, "one of the following is required: id, name, names"),
])
def test_bad_input_fails_before_any_request(run_module, dead_api, args, fragment):
    result = run_module(module, dict(dead_api, **args))
    assert result["failed"] and fragment in result["msg"] and "Traceback" not in result["msg"]


def test_unknown_names_fail_cleanly(run_module, emu_args, running_service):
    result = run_module(module, dict(emu_args, names=[running_service["name"], "no such service"]))
    assert result["failed"] and "No Postgres service named 'no such service'" in result["msg"]


# -- a real server: a sort that spills, the proposal, and the spill gone once it is applied ------------------------


@pytest.fixture
def real_server(emulator_class):
    """``new(pg_config=None)``: a running service on an emulator of real PostgreSQL servers (metrics sampled each second)."""
    if shutil.which("psql") is None:
        pytest.skip("PostgreSQL is not installed")
    psycopg = pytest.importorskip("psycopg")
    from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
    from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport

    with emulator_class(no_postgres=False, rate_limit="off", provisioning_seconds=0.2, update_seconds=0.2, sample_seconds=1) as emu:
        api = PostgresApi(Transport(emu.url, *emu.admin_key), emu.org_id)

        def new(pg_config=None):
            created = api.create_service(dict(name="real %s" % uuid.uuid4().hex[:8], provider="aws", region="us-east-1",
                                              size="r8gd.large", pg_config=pg_config or {}))
            deadline = time.monotonic() + 60
            while api.get_service(created.id).state != "running":
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
            args = {"api_url": emu.url, "api_key_id": emu.admin_key[0], "api_key_secret": emu.admin_key[1],
                    "organization_id": emu.org_id, "api_rate_limit": "off", "id": created.id}
            return {"args": args, "api": api, "id": created.id, "dsn": created.connection_string, "psycopg": psycopg}
        yield new


@pytest.fixture
def real_service(real_server):
    """A real service with a table whose sort by ``y`` spills at the default work_mem of 4MB."""
    service = real_server()
    with service["psycopg"].connect(service["dsn"], application_name="advice-test") as conn:
        conn.execute("CREATE TABLE advice_rows AS SELECT g AS x, md5(g::text) AS y FROM generate_series(1, 100000) g")
        conn.commit()
    return service


def sort_pattern(service, runs):
    """Run the spilling sort ``runs`` times; its pattern once the API shows them all."""
    with service["psycopg"].connect(service["dsn"], application_name="advice-test") as conn:
        for _run in range(runs):
            conn.execute(SORT).fetchall()
    deadline = time.monotonic() + 20
    while True:
        listed = service["api"].list_slow_query_patterns(service["id"], "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z",
                                                         app="advice-test", limit=50)
        found = [p for p in listed if "advice_rows ORDER BY" in (p.query_text or "")]
        if found and found[0].call_count >= runs:
            return found[0]
        assert time.monotonic() < deadline, "the sort did not show up in the query insights"
        time.sleep(0.2)


def test_a_real_spill_is_proposed_with_its_evidence_and_gone_once_applied(run_module, real_service):
    pattern = sort_pattern(real_service, 4)
    start = since(600)
    result = run_module(module, dict(real_service["args"], rules=["temp_spill"], **{"from": start}))
    [proposal] = result["advice"][0]["proposals"]
    assert (proposal["rule"], proposal["setting"], proposal["current"], proposal["current_source"]) == \
        ("temp_spill", "work_mem", "4MB", "default")
    assert proposal["proposed"] == "16MB" and proposal["bound"] == "32MB" and proposal["restart_required"] is False
    [evidence] = proposal["evidence"]["patterns"]
    assert evidence["query_id"] == pattern.query_id and evidence["spilling_executions"] == 4 and evidence["calls"] == 4
    assert 400 < evidence["max_temp_blks_written"] < 1000  # 4.6 MB of sort runs at 4MB
    assert result["advice"][0]["inputs_summary"]["api_calls"] <= 6

    limited = run_module(module, dict(real_service["args"], policy={"bounds": {"work_mem": "8MB"}},
                                      inventory_pg_config={"statement_timeout": "1min"}, **{"from": start}))
    assert limited["advice"][0]["pg_config"] == {"work_mem": "8MB"}
    assert limited["advice"][0]["accepted"][0]["limited"] == "lowered from 16MB to the policy's bound 8MB"
    inventory = run_module(module, dict(real_service["args"], inventory_pg_config={"work_mem": "4MB"}, **{"from": start}))
    assert inventory["advice"][0]["pg_config"] == {}
    assert inventory["advice"][0]["declined"][0]["declined"] == "set by inventory (work_mem: 4MB)"

    real_service["api"].patch_config(real_service["id"], {"work_mem": proposal["proposed"]}, {})
    time.sleep(1.1)  # the new window starts after the change
    after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sort_pattern(real_service, 8)  # 4 before and 4 after
    again = run_module(module, dict(real_service["args"], **{"from": after}))
    assert again["advice"][0]["proposals"] == []
    assert again["advice"][0]["inputs_summary"]["settings"]["work_mem"] == "16MB"
    assert again["advice"][0]["inputs_summary"]["settings_set"] == ["work_mem"]


def since(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))


def test_real_lock_waits_and_connections_near_the_limit(run_module, real_server):
    service = real_server({"max_connections": "12"})
    connect = service["psycopg"].connect
    start = since(1)
    with connect(service["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE advice_accounts (id int PRIMARY KEY, n int)")
        conn.execute("INSERT INTO advice_accounts VALUES (1, 0)")
    holders = [connect(service["dsn"], application_name="advice-holder") for _n in range(10)]
    try:
        for _round in range(2):  # twice an UPDATE that waits 1.2 s for the holder's row lock
            holders[0].execute("UPDATE advice_accounts SET n = n + 1 WHERE id = 1")
            with connect(service["dsn"], application_name="advice-waiter", autocommit=True) as waiter:
                waiter.execute("SET lock_timeout = '5s'")
                release = threading.Timer(1.2, holders[0].commit)
                release.start()
                waiter.execute("UPDATE advice_accounts SET n = n + 10 WHERE id = 1")
                release.join()
        time.sleep(2)  # 10 or 11 of 12 connections for 4 s or more: samples each second
    finally:
        for holder in holders:
            holder.close()
    result = run_module(module, dict(service["args"], top_patterns=5, **{"from": start}))
    by_rule = {p["rule"]: p for p in result["advice"][0]["proposals"]}
    assert sorted(by_rule) == ["connections_near_limit", "lock_waits"]
    locks = by_rule["lock_waits"]
    assert (locks["current"], locks["proposed"], locks["restart_required"]) == ("off", "on", False)
    [waiting] = locks["evidence"]["patterns"]
    assert waiting["app"] == "advice-waiter" and waiting["waiting_executions"] == 2 and waiting["db_operation"] == "UPDATE"
    connections = by_rule["connections_near_limit"]
    assert (connections["current"], connections["current_source"], connections["restart_required"]) == ("12", "set", True)
    assert connections["evidence"]["peak_connections"] >= 10 and connections["evidence"]["points_near_limit"] >= 2
    assert int(connections["proposed"]) == 20  # a peak of 10 or 11 at 60%, rounded up to 10
