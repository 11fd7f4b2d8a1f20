# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_config against the emulator: check mode writes nothing, idempotence costs two reads,
restarts only when needed, bad input sends nothing."""

from __future__ import annotations

import json

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.plugins.modules import postgres_config, postgres_service

TUNED = {"max_connections": 150, "work_mem": "8MB", "wal_compression": False, "statement_timeout": "1min"}
# the same values, spelled differently
RESPELLED = {"max_connections": "150", "work_mem": "8192kB", "wal_compression": "OFF", "statement_timeout": 60000}


@pytest.fixture
def args(emu_args, running_service):
    return dict(emu_args, id=running_service["id"], wait_timeout=60)


@pytest.mark.parametrize("extra, fragment", [
    ({"pg_config": {"shared_buffers": "1GB"}}, "unknown key 'shared_buffers'"),
    ({"pg_config": {"work_mem": "8 MiB"}}, "invalid unit 'MiB'"),
    ({"pg_config": {"max_connections": 0}}, "below the minimum of 1"),
    ({"pg_config": {"wal_compression": "gzip"}}, "must be one of off, on, lz4, zstd"),
    ({"pg_config": {"work_mem": None}}, "use mode=replace to remove a setting"),
    ({"pg_bouncer_config": {"pool": {"nested": 1}}}, "must be strings or numbers"),
    ({"pg_config": {}, "mode": "upsert"}, "value of mode must be one of: merge, replace"),
])
def test_bad_input_fails_before_any_request(run_module, dead_api, extra, fragment):
    result = run_module(postgres_config, dict(dead_api, name="x", **extra))
    assert result["failed"] and fragment in result["msg"] and "cannot connect" not in result["msg"]


def test_check_apply_idempotent_and_restart_if_required(run_module, args, writes, running_service):
    wanted = dict(args, pg_config=TUNED, pg_bouncer_config={"default_pool_size": 16}, restart="if_required")

    checked = run_module(postgres_config, dict(wanted, _ansible_check_mode=True, _ansible_diff=True))
    assert checked["changed"] and checked["restarted"] and not checked["restart_required"]
    assert checked["changed_keys"] == ["max_connections", "statement_timeout", "wal_compression", "work_mem", "default_pool_size"]
    assert checked["config"] == {"pg_config": {"max_connections": "150", "work_mem": "8MB", "wal_compression": "off",
                                               "statement_timeout": "1min"},
                                 "pg_bouncer_config": {"default_pool_size": "16"}}
    assert checked["diff"] == {"before": {"pg_config": {}, "pg_bouncer_config": {}}, "after": checked["config"]}
    assert checked["message"] is None and writes() == []

    applied = run_module(postgres_config, dict(wanted, _ansible_diff=True))
    assert applied["changed"] and applied["restarted"] and not applied["restart_required"]
    assert applied["config"] == checked["config"] and applied["diff"] == checked["diff"]
    assert "max_connections" in applied["message"] and applied["waited"]["states"][-1] == "running"
    assert writes() == [("PATCH", "config"), ("PATCH", "state")]

    writes.mark()
    again = run_module(postgres_config, dict(args, pg_config=RESPELLED, pg_bouncer_config={"default_pool_size": "16"},
                                             restart="if_required", _ansible_diff=True))
    assert not again["changed"] and not again["restarted"] and not again["restart_required"]
    assert again["changed_keys"] == [] and again["diff"] == {"before": {}, "after": {}}
    assert again["config"] == checked["config"]  # the server keeps its own spelling
    assert writes() == [] and writes.calls() == 2  # GET the service, GET its configuration

    by_name = run_module(postgres_config, dict(args, id=None, name=running_service["name"], pg_config=RESPELLED))
    assert not by_name["changed"] and writes.calls() == 4  # list, GET configuration


def test_reload_only_change_does_not_restart(run_module, args, writes):
    result = run_module(postgres_config, dict(args, pg_config={"work_mem": "16MB"}, restart="if_required"))
    assert result["changed"] and not result["restarted"] and not result["restart_required"]
    assert result["changed_keys"] == ["work_mem"] and result["message"] is None and "waited" not in result
    assert writes() == [("PATCH", "config")]


def test_restart_never_reports_what_is_owed(run_module, args, writes):
    result = run_module(postgres_config, dict(args, pg_config={"max_connections": 222, "work_mem": "16MB"}))
    assert result["changed"] and result["restart_required"] and not result["restarted"]
    assert writes() == [("PATCH", "config")]
    again = run_module(postgres_config, dict(args, pg_config={"max_connections": 222}))
    # the server still runs the old value: the restart stays owed on later runs, until one restarts
    assert not again["changed"] and again["restart_required"] and again["restart_owed"] == ["max_connections"]
    restarted = run_module(postgres_config, dict(args, pg_config={"max_connections": 222}, restart="if_required"))
    assert restarted["changed"] and restarted["restarted"] and not restarted["restart_required"]
    settled = run_module(postgres_config, dict(args, pg_config={"max_connections": 222}, restart="if_required"))
    assert not settled["changed"] and not settled["restart_required"] and "restart_owed" not in settled


def test_a_refused_restart_stays_owed(run_module, args, emulator, writes):
    """A 500 on the restart fails the task; the re-run must restart, not report the server in line."""
    emulator.inject("500", method="PATCH", path=r".*/state$", count=6)
    failed = run_module(postgres_config, dict(args, pg_config={"max_connections": 233}, restart="if_required",
                                              api_retries=0))
    assert failed["failed"] and failed["changed"]
    emulator.clear_faults()
    rerun = run_module(postgres_config, dict(args, pg_config={"max_connections": 233}, restart="if_required"))
    assert rerun["changed"] and rerun["restarted"] and rerun["restart_owed"] == ["max_connections"]
    assert [w for w in writes() if w == ("PATCH", "state")] == [("PATCH", "state"), ("PATCH", "state")]


def test_restart_always_follows_any_change_but_never_no_change(run_module, args, writes):
    changed = run_module(postgres_config, dict(args, pg_config={"work_mem": "16MB"}, restart="always"))
    assert changed["restarted"] and writes() == [("PATCH", "config"), ("PATCH", "state")]
    same = run_module(postgres_config, dict(args, pg_config={"work_mem": "16MB"}, restart="always"))
    assert not same["changed"] and not same["restarted"] and len(writes()) == 2


def test_replace_removes_unlisted_keys_and_keeps_an_absent_section(run_module, args, writes, running_service):
    running_service["api"].patch_config(running_service["id"], {"work_mem": "8MB", "lock_timeout": "5s"}, {"pool_mode": "session"})
    writes.mark()
    predicted = run_module(postgres_config, dict(args, mode="replace", pg_config={"work_mem": "8192kB"},
                                                 _ansible_check_mode=True, _ansible_diff=True))
    assert predicted["changed_keys"] == ["lock_timeout"]
    assert predicted["diff"] == {"before": {"pg_config": {"lock_timeout": "5s"}}, "after": {"pg_config": {}}}
    assert writes() == []

    replaced = run_module(postgres_config, dict(args, mode="replace", pg_config={"work_mem": "8192kB"}))
    assert replaced["config"] == {"pg_config": {"work_mem": "8MB"}, "pg_bouncer_config": {"pool_mode": "session"}}
    assert replaced["config"] == predicted["config"]
    assert writes() == [("POST", "config")]

    cleared = run_module(postgres_config, dict(args, mode="replace", pg_bouncer_config={}))
    assert cleared["changed_keys"] == ["pool_mode"] and cleared["config"]["pg_bouncer_config"] == {}
    assert cleared["config"]["pg_config"] == {"work_mem": "8MB"}


def test_rejected_by_the_api_reports_nothing_changed(run_module, emu_args, writes):
    result = run_module(postgres_config, dict(emu_args, id="00000000-0000-4000-8000-000000000000",
                                              pg_config={"work_mem": "8MB"}))
    assert result["failed"] and "No Postgres service with id" in result["msg"] and not result["changed"]
    assert writes() == []


def test_read_only_key_fails_without_change(run_module, args, emulator, writes):
    result = run_module(postgres_config, dict(args, api_key_id=emulator.readonly_key[0],
                                              api_key_secret=emulator.readonly_key[1], pg_config={"work_mem": "9MB"}))
    assert result["failed"] and "HTTP 403" in result["msg"] and not result["changed"]
    assert writes() == [("PATCH", "config")]  # refused by the API


@pytest.fixture(scope="module")
def slow_start(emulator_class):
    """An emulator whose services stay ``creating`` for the whole test."""
    with emulator_class(no_postgres=True, rate_limit="off", provisioning_seconds=600) as emu:
        yield emu


@pytest.mark.parametrize("restart", ["if_required", "always"])
def test_check_mode_predicts_no_restart_of_a_service_not_running_without_wait(run_module, slow_start, restart):
    api = PostgresApi(Transport(slow_start.url, *slow_start.admin_key), slow_start.org_id)
    service = api.create_service(dict(name="unit creating %s" % restart, provider="aws", region="us-east-1", size="r8gd.large"))
    args = {"api_url": slow_start.url, "api_key_id": slow_start.admin_key[0], "api_key_secret": slow_start.admin_key[1],
            "organization_id": slow_start.org_id, "id": service.id, "pg_config": {"max_connections": 300},
            "restart": restart, "wait": False}

    predicted = run_module(postgres_config, dict(args, _ansible_check_mode=True))
    applied = run_module(postgres_config, args)
    assert api.get_service(service.id).state == "creating"
    assert predicted["changed"] and applied["changed"]
    assert {k: predicted[k] for k in ("restarted", "restart_required")} == {"restarted": False, "restart_required": True}
    assert {k: applied[k] for k in ("restarted", "restart_required")} == {"restarted": False, "restart_required": True}
    assert "is creating, so it would not be restarted" in json.dumps(predicted["warnings"])
    assert "is creating, so it was not restarted" in json.dumps(applied["warnings"])


def test_a_restart_by_postgres_service_settles_what_was_owed(run_module, args, emu_args, running_service):
    owed = run_module(postgres_config, dict(args, pg_config={"max_connections": 244}))
    assert owed["restart_required"]
    restarted = run_module(postgres_service, dict(emu_args, id=running_service["id"], state="restarted", wait_timeout=60))
    assert restarted["changed"], restarted.get("msg")
    settled = run_module(postgres_config, dict(args, pg_config={"max_connections": 244}, restart="if_required"))
    assert not settled["changed"] and not settled["restart_required"] and "restart_owed" not in settled
