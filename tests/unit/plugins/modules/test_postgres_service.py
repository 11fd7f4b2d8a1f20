# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_service: input errors that send nothing, and check/diff/idempotence against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils import _module
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.plugins.modules import postgres_config, postgres_service

NEW = {"provider": "aws", "region": "us-east-1", "size": "r8gd.large"}


@pytest.fixture
def emu_args(emu_args):
    return dict(emu_args, wait_timeout=60)


@pytest.mark.parametrize("args, text", [
    ({"name": "x", "tags": {"bad key": "v"}, **NEW}, "key 'bad key' must be"),
    ({"name": "x", "tags": {"chc_owner": "v"}, **NEW}, "reserved prefix 'chc_'"),
    ({"name": "x", "tags": {"env": ""}, **NEW}, "value '' of 'env' must be"),
    ({"name": "x" * 51, **NEW}, "name must be 1-50 characters"),
    ({"name": "x", "replica_of": "y", "size": "r8gd.large"}, "mutually exclusive"),
    ({"name": "x", "restore_from": "y"}, "restore_target"),
    ({"size": "r8gd.large"}, "one of the following is required: id, name"),
    ({"name": "x", "wait_timeout": 0}, "wait_timeout must be a positive number"),
    ({"name": "x", "pg_config": {"max_conections": 5}, **NEW}, "unknown key 'max_conections' (did you mean 'max_connections'?)"),
    ({"name": "x", "pg_config": {"wal_compression": "gzip"}, **NEW}, "wal_compression: 'gzip' must be one of off, on, lz4"),
    ({"name": "x", "pg_bouncer_config": {"pool": {"nested": 1}}, **NEW}, "must be strings or numbers: pool"),
])
def test_bad_input_fails_before_any_request(run_module, dead_api, args, text):
    result = run_module(postgres_service, dict(dead_api, **args))
    assert result["failed"] and text in result["msg"]
    assert "cannot connect" not in result["msg"]


@pytest.mark.parametrize("settings", [
    {"pg_config": {"work_mem": "8 MiB", "shared_buffers": "1GB", "max_connections": "1e400"}},
    {"pg_bouncer_config": {"k%d" % i: 1 for i in range(65)}},
])
def test_settings_at_creation_fail_as_postgres_config_fails(run_module, dead_api, settings):
    created = run_module(postgres_service, dict(dead_api, name="x", **dict(NEW, **settings)))
    configured = run_module(postgres_config, dict(dead_api, name="x", **settings))
    assert created["failed"] and created["msg"] == configured["msg"] and created["failure"] == configured["failure"]


def test_missing_credentials_is_one_clear_line(run_module, monkeypatch):
    for name in ("CLICKHOUSE_ORG_ID", "CLICKHOUSE_CLOUD_API_KEY", "CLICKHOUSE_TOKEN_KEY",
                 "CLICKHOUSE_CLOUD_API_SECRET", "CLICKHOUSE_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = run_module(postgres_service, {"name": "x"})
    assert result["msg"] == "missing required arguments: api_key_id, api_key_secret, organization_id"


def test_env_fallbacks_include_the_terraform_names(run_module, monkeypatch, dead_api):
    monkeypatch.setenv("CLICKHOUSE_TOKEN_KEY", "old-key")
    monkeypatch.setenv("CLICKHOUSE_TOKEN_SECRET", "old-secret")
    monkeypatch.setenv("CLICKHOUSE_ORG_ID", dead_api["organization_id"])
    result = run_module(postgres_service, {"name": "x", "api_url": dead_api["api_url"], "api_retries": 0})
    assert "cannot connect" in result["msg"]  # the credentials were found: it got as far as calling the API
    assert "status" not in result["failure"]


def test_missing_library_is_reported_plainly(run_module, monkeypatch, dead_api):
    monkeypatch.setattr(_module, "HAS_HTTPX", False)
    result = run_module(postgres_service, dict(dead_api, name="x"))
    assert result["failed"] and "Failed to import the required Python library (httpx)" in result["msg"]


# -- against the emulator -----------------------------------------------------------


def test_lifecycle_check_diff_idempotence(run_module, emu_args, writes):
    args = dict(emu_args, name="unit lifecycle", tags={"env": "dev"}, **NEW)

    checked = run_module(postgres_service, dict(args, _ansible_check_mode=True, _ansible_diff=True))
    assert checked["changed"] and checked["service"]["state"] == "running" and checked["service"]["id"] is None
    assert checked["diff"]["before"] == {} and checked["diff"]["after"]["size"] == "r8gd.large"
    assert writes() == []

    created = run_module(postgres_service, args)
    assert created["changed"] and created["service"]["state"] == "running"
    assert created["service"]["password"] and created["waited"]["states"][-1] == "running"
    assert len(writes()) == 1

    writes.mark()
    again = run_module(postgres_service, dict(args, _ansible_diff=True))
    assert not again["changed"] and again["diff"] == {"before": {}, "after": {}}
    assert writes() == [] and writes.calls() == 2  # list to find the name, GET for the full service
    by_id = run_module(postgres_service, dict(args, id=created["service"]["id"]))
    assert not by_id["changed"] and writes.calls() == 3  # one GET

    change = dict(emu_args, name="unit lifecycle", size="r8gd.xlarge", tags={"team": "db"}, purge_tags=False)
    predicted = run_module(postgres_service, dict(change, _ansible_check_mode=True, _ansible_diff=True))
    assert predicted["changed"] and predicted["service"]["size"] == "r8gd.xlarge"
    assert predicted["diff"] == {"before": {"size": "r8gd.large", "tags": {"env": "dev"}},
                                 "after": {"size": "r8gd.xlarge", "tags": {"env": "dev", "team": "db"}}}
    assert writes() == []

    changed = run_module(postgres_service, dict(change, _ansible_diff=True))
    assert changed["diff"] == predicted["diff"]
    assert changed["service"]["size"] == "r8gd.xlarge" and changed["service"]["tags"] == {"env": "dev", "team": "db"}
    assert [m for m, _p in writes()] == ["PATCH"]

    immutable = run_module(postgres_service, dict(emu_args, name="unit lifecycle", region="eu-west-1"))
    assert immutable["failed"] and "Cannot change region" in immutable["msg"] and not immutable["changed"]

    restart_check = run_module(postgres_service, dict(emu_args, name="unit lifecycle", state="restarted", _ansible_check_mode=True))
    assert restart_check["changed"]
    restarted = run_module(postgres_service, dict(emu_args, name="unit lifecycle", state="restarted"))
    assert restarted["changed"] and restarted["service"]["state"] == "running"
    assert len(restarted["waited"]["states"]) >= 1

    gone_check = run_module(postgres_service, dict(emu_args, name="unit lifecycle", state="absent", _ansible_check_mode=True))
    assert gone_check["changed"]
    assert [m for m, _p in writes()] == ["PATCH", "PATCH"]
    gone = run_module(postgres_service, dict(emu_args, name="unit lifecycle", state="absent"))
    assert gone["changed"] and gone["service"]["name"] == "unit lifecycle"
    again = run_module(postgres_service, dict(emu_args, name="unit lifecycle", state="absent"))
    assert not again["changed"] and again["service"] is None
    assert [m for m, _p in writes()] == ["PATCH", "PATCH", "DELETE"]


def test_settings_at_creation_are_sent_as_postgres_config_sends_them(run_module, emu_args, emulator):
    from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
    from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport

    # wal_compression: on in YAML is a boolean; the API refuses "true" for it (HTTP 400)
    settings = {"pg_config": {"wal_compression": True, "default_transaction_isolation": "SERIALIZABLE", "work_mem": " 8MB "},
                "pg_bouncer_config": {"server_reset_query_always": True, "default_pool_size": 16}}
    created = run_module(postgres_service, dict(emu_args, name="unit created tuned", wait=False, **dict(NEW, **settings)))
    assert created["changed"], created.get("msg")
    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    assert api.get_config(created["service"]["id"]).to_result() == {
        "pg_config": {"wal_compression": "on", "default_transaction_isolation": "serializable", "work_mem": "8MB"},
        "pg_bouncer_config": {"server_reset_query_always": "1", "default_pool_size": "16"}}


def test_ambiguous_name_lists_the_ids(run_module, emu_args, emulator, writes):
    # the API lets two services share a name (the module refuses to make that happen; another client may not)
    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    ids = [api.create_service(dict(name="twin", **NEW)).id for _n in range(2)]
    writes.mark()
    result = run_module(postgres_service, dict(emu_args, name="twin", size="r8gd.xlarge"))
    assert result["failed"] and "2 Postgres services are named 'twin'" in result["msg"]
    assert sorted(result["failure"]["ids"]) == sorted(ids)
    assert writes() == []


def test_server_validation_error_is_surfaced(run_module, emu_args):
    result = run_module(postgres_service, dict(emu_args, name="bad size", provider="aws", region="us-east-1",
                                               size="x9.nonexistent"))
    assert result["failed"] and "HTTP 400" in result["msg"] and "requestId" in result["msg"]
    assert result["failure"]["status"] == 400 and result["failure"]["request_id"]
    assert not result["changed"]


def test_unknown_id_is_an_error_not_a_create(run_module, emu_args, writes):
    result = run_module(postgres_service, dict(emu_args, id="00000000-0000-4000-8000-000000000000", **NEW))
    assert result["failed"] and "No Postgres service with id" in result["msg"]
    assert writes() == []


def test_read_only_key_fails_cleanly(run_module, emu_args, emulator):
    args = dict(emu_args, api_key_id=emulator.readonly_key[0], api_key_secret=emulator.readonly_key[1],
                name="read only", **NEW)
    result = run_module(postgres_service, args)
    assert result["failed"] and "HTTP 403" in result["msg"] and not result["changed"]


@pytest.fixture(scope="module")
def backed_up(emulator_class):
    """An emulator whose primaries have a backup almost at once, for replicas and restores."""
    with emulator_class(no_postgres=True, rate_limit="off", provisioning_seconds=0.3, first_backup_seconds=1,
                        update_seconds=0.2, restart_seconds=0.2, deletion_seconds=0.2) as emu:
        yield emu


def test_replica_promote_and_restore(run_module, backed_up):
    base = {"api_url": backed_up.url, "api_key_id": backed_up.admin_key[0], "api_key_secret": backed_up.admin_key[1],
            "organization_id": backed_up.org_id, "wait_timeout": 60}
    primary = run_module(postgres_service, dict(base, name="primary", **NEW))["service"]

    predicted = run_module(postgres_service, dict(base, name="replica", replica_of="primary", _ansible_check_mode=True))
    assert predicted["changed"] and predicted["service"]["is_primary"] is False
    assert predicted["service"]["size"] == primary["size"]

    replica = run_module(postgres_service, dict(base, name="replica", replica_of="primary"))
    assert replica["changed"] and replica["service"]["is_primary"] is False and replica["service"]["state"] == "running"
    assert not run_module(postgres_service, dict(base, name="replica", replica_of="primary"))["changed"]

    promoted = run_module(postgres_service, dict(base, name="replica", state="promoted"))
    assert promoted["changed"] and promoted["service"]["is_primary"] is True
    assert not run_module(postgres_service, dict(base, name="replica", state="promoted"))["changed"]

    logged = len(backed_up.requests())
    restored = run_module(postgres_service, dict(base, name="restored", restore_from=primary["id"],
                                                 restore_target="2000-01-01T00:00:00Z"))
    assert restored["failed"] and "before 'primary''s earliest restore time" in restored["msg"] and not restored["changed"]
    future = run_module(postgres_service, dict(base, name="restored", restore_from=primary["id"],
                                               restore_target="2999-01-01T00:00:00Z"))
    assert future["failed"] and "is in the future" in future["msg"]
    assert [r["method"] for r in backed_up.requests()[logged:] if r["method"] != "GET"] == []  # refused, nothing sent
    time.sleep(1.5)  # the restore target must not be older than the first backup
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    restored = run_module(postgres_service, dict(base, name="restored", restore_from=primary["id"], restore_target=now))
    assert restored["changed"] and restored["service"]["state"] == "running"
    assert restored["service"]["id"] != primary["id"]


def test_a_rename_onto_a_taken_name_is_refused_before_any_write(run_module, emu_args, writes):
    first = run_module(postgres_service, dict(emu_args, name="unit rename a", wait=False, **NEW))["service"]
    run_module(postgres_service, dict(emu_args, name="unit rename b", wait=False, **NEW))
    writes.mark()
    result = run_module(postgres_service, dict(emu_args, id=first["id"], name="unit rename b"))
    assert result["failed"] and "already has that name" in result["msg"] and not result["changed"]
    assert writes() == []


def test_an_id_and_a_name_of_two_services_delete_nothing(run_module, emu_args, writes):
    one = run_module(postgres_service, dict(emu_args, name="unit keep me", wait=False, **NEW))["service"]
    writes.mark()
    result = run_module(postgres_service, dict(emu_args, id=one["id"], name="unit someone else", state="absent"))
    assert result["failed"] and "is named 'unit keep me', not 'unit someone else'" in result["msg"]
    assert writes() == [] and not result["changed"]


@pytest.mark.parametrize("args, text", [
    ({"name": "bad\nname"}, "control characters (U+000A)"),
    # ansible-core 2.21 refuses a NUL itself, when it logs the invocation, before the module's own check
    ({"name": "nul\x00"}, ("control characters (U+0000)", "embedded null character")),
    ({"name": " padded"}, "white space"),
    ({"name": "x", "size": ["r8gd.large", 2]}, "size must be a string, got a list"),
    ({"name": "x", "pg_config": {"max_connections": 100.5}}, "max_connections: 100.5 must be a whole number"),
])
def test_input_the_api_would_mangle_is_refused_before_any_request(run_module, dead_api, args, text):
    result = run_module(postgres_service, dict(dead_api, **dict(NEW, **args)))
    texts = text if isinstance(text, tuple) else (text,)
    assert result["failed"] and any(t in result["msg"] for t in texts) and "cannot connect" not in result["msg"]


@pytest.fixture(scope="module")
def slow_start(emulator_class):
    """An emulator whose services take long to start: a create's wait times out."""
    with emulator_class(no_postgres=True, rate_limit="off", provisioning_seconds=30) as emu:
        yield emu


@pytest.mark.parametrize("with_file", [True, False])
def test_a_failed_wait_after_create_shows_no_secret_and_loses_none(run_module, slow_start, tmp_path, monkeypatch, with_file):
    monkeypatch.setenv("HOME", str(tmp_path))  # where the rescue file goes without credentials_file
    args = {"api_url": slow_start.url, "api_key_id": slow_start.admin_key[0], "api_key_secret": slow_start.admin_key[1],
            "organization_id": slow_start.org_id, "api_rate_limit": "off", "name": "unit slow %s" % with_file,
            "wait_timeout": 1, **NEW}
    if with_file:
        args["credentials_file"] = str(tmp_path / "orders.json")
    result = run_module(postgres_service, args)
    service = PostgresApi(Transport(slow_start.url, *slow_start.admin_key), slow_start.org_id).services_named(args["name"])[0]
    kept = str(tmp_path / "orders.json") if with_file else str(tmp_path / (".ansible/clickhouse-cloud/credentials/%s.json" % service.id))
    assert result["failed"] and result["changed"] and "Timed out" in result["msg"] and kept in result["msg"]
    with open(kept) as handle:
        password = json.load(handle)["password"]
    assert password and password not in json.dumps(result)
    assert oct(os.stat(kept).st_mode & 0o777) == "0o600"


def test_credentials_file_is_written_on_create(run_module, emu_args, tmp_path):
    path = str(tmp_path / "new.json")
    created = run_module(postgres_service, dict(emu_args, name="unit with file", credentials_file=path, wait=False, **NEW))
    assert created["changed"] and created["credentials_file"] == path
    with open(path) as handle:
        assert json.load(handle)["password"] == created["service"]["password"]
    again = run_module(postgres_service, dict(emu_args, name="unit with file", credentials_file=path, wait=False, **NEW))
    assert not again["changed"] and "credentials_file" not in again and "password" not in again["service"]


def test_two_runs_creating_one_name_together_make_one_service(emu_args, tmp_path, emulator):
    """Each holds the name from its look-up until its create answers, so the second one finds the first's service."""
    name = "unit together %s" % os.getpid()
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(emu_args, name=name, wait=False, **NEW)}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    runs = [subprocess.Popen([sys.executable, "-m", postgres_service.__name__, str(args)], stdout=subprocess.PIPE, env=env)
            for _n in range(2)]
    results = [json.loads(run.communicate(timeout=60)[0]) for run in runs]
    assert sorted(r["changed"] for r in results) == [False, True], results
    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    assert len(api.services_named(name)) == 1


def test_access_rules_are_idempotent_and_sent_as_operations(run_module, emu_args, writes):
    base = dict(emu_args, name="unit rules", wait=False, **NEW)
    created = run_module(postgres_service, dict(base, ip_access_list=[{"source": "127.0.0.1", "description": "local"}]))
    assert created["changed"] and [r["source"] for r in created["service"]["ip_access_list"]] == ["127.0.0.1"]
    writes.mark()
    same = run_module(postgres_service, dict(base, ip_access_list=[{"source": "127.0.0.1/32", "ports": 5432,
                                                                    "description": "local"}]))
    assert not same["changed"] and writes() == []
    grown = run_module(postgres_service, dict(base, ip_access_list=[{"source": "10.0.0.0/8"}], purge_ip_access_list=False,
                                              _ansible_diff=True))
    assert grown["changed"] and writes() == [("PATCH", grown["service"]["id"])]
    assert sorted(r["source"] for r in grown["service"]["ip_access_list"]) == ["10.0.0.0/8", "127.0.0.1"]
    closed = run_module(postgres_service, dict(base, ip_access_list=[]))
    assert closed["changed"] and closed["service"]["ip_access_list"] == []
    assert not run_module(postgres_service, dict(base, ip_access_list=[]))["changed"]
