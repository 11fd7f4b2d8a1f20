# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_service: input errors that send nothing, and check/diff/idempotence against the emulator."""

from __future__ import annotations

import time

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils import _module
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


def test_ambiguous_name_lists_the_ids(run_module, emu_args, writes):
    ids = [run_module(postgres_service, dict(emu_args, id=None, name=n, wait=False, **NEW))["service"]["id"]
           for n in ("twin a", "twin b")]
    for service_id in ids:  # rename both to the same name through their ids
        run_module(postgres_service, dict(emu_args, id=service_id, name="twin", wait=False))
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

    restored = run_module(postgres_service, dict(base, name="restored", restore_from=primary["id"],
                                                 restore_target="2000-01-01T00:00:00Z"))
    assert restored["failed"] and "HTTP 400" in restored["msg"] and not restored["changed"]
    time.sleep(1.5)  # the restore target must not be older than the first backup
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    restored = run_module(postgres_service, dict(base, name="restored", restore_from=primary["id"], restore_target=now))
    assert restored["changed"] and restored["service"]["state"] == "running"
    assert restored["service"]["id"] != primary["id"]
