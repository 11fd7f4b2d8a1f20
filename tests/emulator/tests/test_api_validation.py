"""Request validation: every rejection is a 400 naming the offending field, and changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import pytest
from emutest import emulator_fixture, error_of

emu = emulator_fixture(provisioning_seconds=0.2, update_seconds=0.2, restart_seconds=0.2, deletion_seconds=0.2, first_backup_seconds=0.2)

CREATE = {"name": "valid name", "provider": "aws", "region": "us-west-2", "size": "r8gd.large"}
PG_CONFIG_SCHEMA = json.loads(resources.files("chc_emulator").joinpath("openapi-postgres.json").read_text())["components"]["schemas"]["pgConfig"]


def tags(count: int) -> list[dict]:
    return [{"key": f"k{i}", "value": f"v{i}"} for i in range(count)]


@pytest.fixture(scope="module")
def victim(api):
    """A running service with tags and config: what a rejected request must leave alone."""
    svc = api.running("victim", tags=[{"key": "env", "value": "prod"}], pgConfig={"work_mem": "8MB"}, pgBouncerConfig={"pool_mode": "session"})
    return svc["id"]


@pytest.fixture
def unchanged(api, victim):
    """Assert that the test changes nothing in the organisation."""
    before = api.snapshot()
    yield
    assert api.snapshot() == before, "a rejected request changed state"


def rejected(response, *fields: str) -> str:
    text = error_of(response, 400)
    assert text.startswith("BAD_REQUEST: "), text
    for field in fields:
        assert field in text, f"{field!r} not named in {text!r}"
    return text


# --- create ---------------------------------------------------------------------------------

CREATE_CASES = {
    "empty name": ({"name": ""}, ["name"]),
    "51-char name": ({"name": "n" * 51}, ["name"]),
    "name not a string": ({"name": 42}, ["name"]),
    "size outside enum": ({"size": "m7i.large"}, ["size", "m7i.large"]),
    "provider outside enum": ({"provider": "azure"}, ["provider", "azure"]),
    "version 16": ({"postgresVersion": "16"}, ["postgresVersion", "16"]),
    "version as number": ({"postgresVersion": 18}, ["postgresVersion"]),
    "haType outside enum": ({"haType": "multi"}, ["haType", "multi"]),
    "51 tags": ({"tags": tags(51)}, ["tags"]),
    "tag key pattern": ({"tags": [{"key": "bad key", "value": "x"}]}, ["tags[0].key"]),
    "tag value pattern": ({"tags": [{"key": "ok", "value": "a b"}]}, ["tags[0].value"]),
    "tag key too long": ({"tags": [{"key": "k" * 129, "value": "x"}]}, ["tags[0].key"]),
    "reserved chc_ key": ({"tags": [{"key": "chc_owner", "value": "x"}]}, ["tags[0].key", "chc_"]),
    "tag without value": ({"tags": [{"key": "a", "value": "1"}, {"key": "lonely"}]}, ["tags[1].value"]),
    "duplicate tag key": ({"tags": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}, ["tags[1].key", "duplicate"]),
    "explicit empty pgConfig": ({"pgConfig": {}}, ["pgConfig"]),
    "explicit empty pgBouncerConfig": ({"pgBouncerConfig": {}}, ["pgBouncerConfig"]),
    "unknown pgConfig key": ({"pgConfig": {"shared_buffers": "1GB"}}, ["pgConfig", "shared_buffers"]),
    "pgConfig enum": ({"pgConfig": {"wal_compression": "gzip"}}, ["wal_compression", "gzip"]),
    "pgConfig minimum": ({"pgConfig": {"max_connections": 0}}, ["max_connections"]),
    "pgConfig malformed": ({"pgConfig": {"work_mem": "abc"}}, ["work_mem", "abc"]),
    "pgBouncer number value": ({"pgBouncerConfig": {"default_pool_size": 16}}, ["pgBouncerConfig", "default_pool_size"]),
    "65 pgBouncer keys": ({"pgBouncerConfig": {f"k{i}": "1" for i in range(65)}}, ["pgBouncerConfig"]),
}


@pytest.mark.parametrize("change, fields", CREATE_CASES.values(), ids=CREATE_CASES.keys())
def test_create_rejects(api, unchanged, change, fields):
    rejected(api.post("", {**CREATE, **change}), *fields)


@pytest.mark.parametrize("missing", ["name", "provider", "region", "size"])
def test_create_requires(api, unchanged, missing):
    body = {k: v for k, v in CREATE.items() if k != missing}
    rejected(api.post("", body), missing)


def test_create_rejects_a_non_object_body(api, unchanged):
    rejected(api.post("", ["not", "an", "object"]), "body")


@pytest.mark.parametrize(
    "change",
    [
        {"name": "n" * 50},
        {"name": "x"},
        {"postgresVersion": "18", "haType": "sync"},
        {"storageSize": 118},  # the older seed's create body
        {"tags": tags(50)},
        {"pgBouncerConfig": {f"k{i}": str(i) for i in range(64)}},
        {"pgConfig": {"max_connections": "0", "max_slot_wal_keep_size": "-1"}},  # minimum applies to numbers only
    ],
    ids=["50-char name", "1-char name", "18 and sync", "storageSize", "50 tags", "64 pgBouncer keys", "string below minimum"],
)
def test_create_accepts_the_limits(api, change):
    svc = api.create(**{**CREATE, **change})
    assert svc["state"] == "creating"
    for key in ("name", "postgresVersion", "haType"):
        if key in change:
            assert svc[key] == change[key]
    api.remove(svc["id"])


# Two of the document's examples are not PostgreSQL syntax (PostgreSQL's minute unit is
# "min"); the emulator reads values as PostgreSQL would and rejects them (see the next test).
NOT_POSTGRES_SYNTAX = {"idle_session_timeout": "2m", "wal_sender_timeout": "120m"}


def test_all_60_pg_config_keys_are_accepted_and_echoed_as_strings(api):
    """Every key of the document (the contract's 31, the live API's 29), with the document's
    own example value (minutes spelt "min")."""
    examples = {key: prop["example"] for key, prop in PG_CONFIG_SCHEMA["properties"].items()}
    assert len(examples) == 60
    assert len([key for key, prop in PG_CONFIG_SCHEMA["properties"].items() if prop.get("x-source") == "live-api-2026-10"]) == 29
    assert {key: examples[key] for key in NOT_POSTGRES_SYNTAX} == NOT_POSTGRES_SYNTAX
    examples.update(idle_session_timeout="2min", wal_sender_timeout="120min")
    svc = api.create(**CREATE, pgConfig=examples)
    config = api.config(svc["id"])["pgConfig"]
    assert config == {key: format(value, "g") if isinstance(value, float) else str(value) for key, value in examples.items()}
    assert all(isinstance(v, str) for v in config.values())
    api.remove(svc["id"])


@pytest.mark.parametrize("key, value", NOT_POSTGRES_SYNTAX.items())
def test_document_examples_in_minutes_are_rejected(api, unchanged, key, value):
    """Recorded behaviour, not a documented rule: PostgreSQL itself refuses "2m"."""
    rejected(api.post("", {**CREATE, "pgConfig": {key: value}}), key, value)


# --- patch ----------------------------------------------------------------------------------

PATCH_CASES = {
    "51-char name": ({"name": "n" * 51}, ["name"]),
    "size outside enum": ({"size": "t3.micro"}, ["size"]),
    "haType outside enum": ({"haType": "double"}, ["haType"]),
    "reserved chc_ key": ({"tags": [{"key": "chc_x", "value": "1"}]}, ["tags[0].key"]),
    "tag without value": ({"tags": [{"key": "solo"}]}, ["tags[0].value"]),
    "duplicate tag key": ({"tags": [{"key": "d", "value": "1"}, {"key": "d", "value": "1"}]}, ["tags[1].key"]),
    "51 tags": ({"tags": tags(51)}, ["tags"]),
    "tags not a list": ({"tags": {"env": "prod"}}, ["tags"]),
    "valid tags but bad size": ({"tags": [{"key": "new", "value": "1"}], "size": "nope"}, ["size"]),
}


@pytest.mark.parametrize("body, fields", PATCH_CASES.values(), ids=PATCH_CASES.keys())
def test_patch_rejects(api, victim, unchanged, body, fields):
    rejected(api.patch(f"/{victim}", body), *fields)


# --- config ---------------------------------------------------------------------------------

CONFIG_CASES = {
    "unknown key": ({"pgConfig": {"work_mem": "4MB", "bogus_setting": "1"}, "pgBouncerConfig": {}}, ["bogus_setting"]),
    "isolation enum": ({"pgConfig": {"default_transaction_isolation": "chaos"}, "pgBouncerConfig": {}}, ["default_transaction_isolation"]),
    "tls enum": ({"pgConfig": {"ssl_min_protocol_version": "SSLv3"}, "pgBouncerConfig": {}}, ["ssl_min_protocol_version"]),
    "min_wal_size minimum": ({"pgConfig": {"min_wal_size": 100}, "pgBouncerConfig": {}}, ["min_wal_size"]),
    "work_mem minimum": ({"pgConfig": {"work_mem": 10}, "pgBouncerConfig": {}}, ["work_mem"]),
    "negative real": ({"pgConfig": {"random_page_cost": -1.5}, "pgBouncerConfig": {}}, ["random_page_cost"]),
    "integer malformed": ({"pgConfig": {"max_connections": "abc"}, "pgBouncerConfig": {}}, ["max_connections", "abc"]),
    "real malformed": ({"pgConfig": {"random_page_cost": "abc"}, "pgBouncerConfig": {}}, ["random_page_cost", "abc"]),
    "unit malformed": ({"pgConfig": {"statement_timeout": "10 parsecs"}, "pgBouncerConfig": {}}, ["statement_timeout"]),
    "float for integer": ({"pgConfig": {"max_connections": 1.5}, "pgBouncerConfig": {}}, ["max_connections"]),
    "boolean value": ({"pgConfig": {"max_connections": True}, "pgBouncerConfig": {}}, ["max_connections"]),
    "pgBouncer number": ({"pgConfig": {}, "pgBouncerConfig": {"max_client_conn": 100}}, ["max_client_conn"]),
    "pgBouncer boolean": ({"pgConfig": {}, "pgBouncerConfig": {"ignore_startup_parameters": False}}, ["ignore_startup_parameters"]),
    "65 pgBouncer keys": ({"pgConfig": {}, "pgBouncerConfig": {f"k{i}": "1" for i in range(65)}}, ["pgBouncerConfig"]),
    "pgConfig missing": ({"pgBouncerConfig": {}}, ["pgConfig"]),
    "pgBouncerConfig missing": ({"pgConfig": {"work_mem": "4MB"}}, ["pgBouncerConfig"]),
    "section not an object": ({"pgConfig": "work_mem=4MB", "pgBouncerConfig": {}}, ["pgConfig"]),
}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("body, fields", CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_config_rejects(api, victim, unchanged, method, body, fields):
    rejected(api.call(method, f"/{victim}/config", json=body), *fields)


# --- password, state, replica, restore, query parameters -------------------------------------


@pytest.mark.parametrize(
    "password",
    ["Short1abc", "alllowercase123", "ALLUPPERCASE123", "NoDigitsAtAllHere", "Aa1" + "x" * 1022, 123456789012],
    ids=["11 chars", "no upper", "no lower", "no digit", "1025 chars", "not a string"],
)
def test_password_rejects(api, victim, unchanged, password):
    rejected(api.patch(f"/{victim}/password", {"password": password}), "password")


@pytest.mark.parametrize("body", [{"command": "stop"}, {}, {"command": None}], ids=["stop", "empty", "null"])
def test_state_rejects(api, victim, unchanged, body):
    rejected(api.patch(f"/{victim}/state", body), "command")


def test_replica_and_restore_bodies(api, victim, unchanged):
    rejected(api.post(f"/{victim}/readReplica", {}), "name")
    rejected(api.post(f"/{victim}/readReplica", {"name": "r", "tags": [{"key": "chc_a", "value": "b"}]}), "tags[0].key")
    rejected(api.post(f"/{victim}/restoredService", {"name": "r"}), "restoreTarget")
    rejected(api.post(f"/{victim}/restoredService", {"name": "r", "restoreTarget": "yesterday"}), "restoreTarget")


def _window(**extra) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    return {"from_date": (now - dt.timedelta(hours=1)).isoformat(), "to_date": now.isoformat(), **extra}


@pytest.mark.parametrize(
    "endpoint, params, field",
    [
        ("slowQueryPatterns", {}, "from_date"),
        ("slowQueryPatterns", {"from_date": "2026-01-01T00:00:00Z"}, "to_date"),
        ("slowQueryPatterns", {"from_date": "not a date", "to_date": "2026-01-02T00:00:00Z"}, "from_date"),
        ("slowQueryPatterns", {"from_date": "2026-01-02T00:00:00Z", "to_date": "2026-01-01T00:00:00Z"}, "to_date"),
        ("slowQueryPatterns", _window(limit="0"), "limit"),
        ("slowQueryPatterns", _window(limit="501"), "limit"),
        ("slowQueryPatterns", _window(offset="-1"), "offset"),
        ("slowQueryPatterns", _window(sort_by="speed"), "sort_by"),
        ("slowQueryPatterns", _window(sort_order="up"), "sort_order"),
        ("slowQueryPatterns/123", {"db_name": "postgres", "db_user": "postgres"}, "db_operation"),
        ("logs", _window(severity="info"), "severity"),
        ("logs", _window(limit="2001"), "limit"),
        ("logs", {"from_date": "2026-01-01T00:00:00Z", "to_date": "2026-03-01T00:00:00Z"}, "to_date"),
        ("metrics", {"from_date": "2026-01-01T00:00:00Z"}, "to_date"),
        ("metrics", _window(bucket_size_seconds="0"), "bucket_size_seconds"),
    ],
)
def test_query_parameters(api, victim, endpoint, params, field):
    rejected(api.get(f"/{victim}/{endpoint}", params=params), field)
