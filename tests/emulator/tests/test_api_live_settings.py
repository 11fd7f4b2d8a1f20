"""The 29 pgConfig keys of the live API (60 in all), over HTTP and on the real server.

Keys PostgreSQL 15 knows are written and take effect; keys it does not know (io_method and
io_workers are PostgreSQL 18's, shared_memory_percent is ClickHouse's own) are stored and
returned, never written into the server's configuration.
"""

from __future__ import annotations

import pytest
from emutest import emulator_fixture, error_of, needs_postgres, psql, sql_value

pytestmark = needs_postgres

emu = emulator_fixture(postgres=True, provisioning_seconds=0.3, restart_seconds=0.3, deletion_seconds=0.3)

RESTART = "require a database restart to take effect: {keys}. "


def config(body: dict) -> dict:
    return {"pgConfig": body, "pgBouncerConfig": {}}


@pytest.fixture(scope="module")
def svc(api):
    return api.running("live settings")


@pytest.mark.parametrize(
    "key, value",
    [
        ("io_method", "aio"),
        ("io_method", 1),
        ("enable_parallel_hash", True),
        ("enable_parallel_hash", "yes"),
        ("log_lock_waits", "true"),
        ("default_toast_compression", "zstd"),
        ("bgwriter_delay", "bogus-x"),
        ("hash_mem_multiplier", "two"),
        ("log_min_duration_statement", 1.5),
    ],
)
def test_values_of_the_new_keys_are_checked(api, svc, key, value):
    before = api.config(svc["id"])
    text = error_of(api.patch(f"/{svc['id']}/config", config({key: value})), 400)
    assert f"pgConfig.{key}" in text, text
    assert api.config(svc["id"]) == before


def test_log_min_duration_statement_is_written_and_live(api, svc):
    result = api.patch(f"/{svc['id']}/config", config({"log_min_duration_statement": "250ms", "log_lock_waits": "on"})).json()["result"]
    assert result["pgConfig"]["log_min_duration_statement"] == "250ms" and "message" not in result
    assert sql_value(svc["connectionString"], "SHOW log_min_duration_statement") == "250ms"
    assert sql_value(svc["connectionString"], "SHOW log_lock_waits") == "on"
    api.patch(f"/{svc['id']}/config", config({"log_min_duration_statement": None, "log_lock_waits": None}))
    assert sql_value(svc["connectionString"], "SHOW log_min_duration_statement") == "0", "back to the emulator's own setting"


@pytest.mark.parametrize("key, value", [("io_method", "worker"), ("io_workers", 3), ("shared_memory_percent", 25)])
def test_a_key_postgres_15_does_not_know_is_stored_not_written(api, emu, svc, key, value):
    result = api.patch(f"/{svc['id']}/config", config({key: value, "work_mem": "7MB"})).json()["result"]
    assert result["pgConfig"][key] == str(value)
    assert api.config(svc["id"])["pgConfig"][key] == str(value)
    assert sql_value(svc["connectionString"], "SHOW work_mem") == "7MB", "the known key beside it is applied"
    unknown = psql(svc["connectionString"], f"SHOW {key}")
    assert unknown.returncode != 0 and f'unrecognized configuration parameter "{key}"' in unknown.stderr
    user_conf = (emu.data_dir / "postgres" / "services" / svc["id"] / "pgdata" / "chc_user.conf").read_text()
    assert key not in user_conf and "work_mem" in user_conf
    assert "not a parameter of this PostgreSQL" in emu.log_text()
    api.patch(f"/{svc['id']}/config", config({key: None}))


@pytest.mark.parametrize(
    "version, keys, restart",
    [
        ("17", {"max_wal_senders": 5}, "max_wal_senders"),
        ("17", {"wal_buffers": "1MB", "track_activity_query_size": 2048}, "track_activity_query_size, wal_buffers"),
        ("18", {"io_method": "sync", "io_workers": 4}, "io_method"),
        ("17", {"checkpoint_timeout": "10min", "temp_buffers": "16MB"}, None),
    ],
)
def test_the_restart_message_names_the_new_restart_only_keys(api, version, keys, restart):
    sid = api.create(f"restart {version}", postgresVersion=version)["id"]
    result = api.post(f"/{sid}/config", config(keys)).json()["result"]
    if restart is None:
        assert "message" not in result
    else:
        assert RESTART.format(keys=restart) in result["message"]
    api.remove(sid)
