# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_config values read the way PostgreSQL reads them, checked against the spec before anything is sent."""

from __future__ import annotations

import json

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._settings import (
    CONTRACT_SETTINGS,
    LIVE_SETTINGS,
    PG_SETTINGS,
    Enum,
    Memory,
    Real,
    Time,
    bouncer_canonical,
    canonical,
    check_pg_bouncer_config,
    check_pg_config,
    restart_only,
)

from ansible_collections.clickhouse.cloud.tests.unit.openapi import load_spec

# (key, spellings that must all read as the same value, that value in the base unit)
SAME = [
    ("work_mem", ["1GB", "1024MB", "1048576kB", 1048576, "1048576", " 1GB ", "1 GB", "1073741824B"], 1048576),
    ("work_mem", ["1.5GB", "1536MB"], 1572864),
    ("work_mem", ["100000B", "98kB", 98], 98),  # rounded to the base unit (kB), as PostgreSQL does
    ("effective_cache_size", ["4GB", "4096MB", 524288, "524288"], 524288),  # 8kB blocks
    ("min_wal_size", ["1GB", "1024MB", 1024, "1048576kB"], 1024),  # MB
    ("max_slot_wal_keep_size", ["-1", -1, "-1MB"], -1),
    ("statement_timeout", ["60s", "1min", 60000, "60000", "60000ms", "60000000us"], 60000),
    ("idle_in_transaction_session_timeout", ["2h", "120min", "7200s", 7200000], 7200000),
    ("autovacuum_naptime", ["1min", "60s", 60, "60000ms"], 60),  # seconds
    ("autovacuum_vacuum_cost_delay", ["2ms", 2, "2000us", "0.002s", 2.0], 2.0),  # a real with a unit
    ("max_connections", [500, "500", "500.0", "5e2", " 500", "0x1F4", "0764"], 500),  # strtol base 0: hex, octal
    ("max_connections", ["500.4", 499.6], 500),  # rounded like rint()
    ("random_page_cost", [1.1, "1.1", "1.10", "11e-1"], 1.1),
    ("autovacuum_vacuum_scale_factor", [0, "0", "0.0", 0.0], 0.0),
    ("default_transaction_isolation", ["read committed", "READ COMMITTED", "Read Committed"], "read committed"),
    ("ssl_min_protocol_version", ["TLSv1.2", "tlsv1.2", "TLSV1.2"], "TLSv1.2"),
    ("wal_compression", ["off", "OFF", False, "false", "no", "0", 0], "off"),
    ("wal_compression", ["on", True, "true", "yes", "1", 1, "pglz"], "on"),
    ("wal_compression", ["lz4", "LZ4"], "lz4"),
]


@pytest.mark.parametrize("key, spellings, expected", SAME, ids=["%s=%s" % (k, e) for k, _s, e in SAME])
def test_spellings_of_one_value_normalise_alike(key, spellings, expected):
    assert {repr(canonical(key, v)) for v in spellings} == {repr(expected)}


@pytest.mark.parametrize("key, a, b", [
    ("work_mem", "1GB", "1000MB"),
    ("statement_timeout", "60s", "60min"),
    ("max_connections", 100, 101),
    ("wal_compression", "on", "lz4"),
    ("work_mem", "8MB", "8mb"),  # units are case-sensitive: "8mb" is not a value PostgreSQL reads
])
def test_different_values_stay_different(key, a, b):
    assert canonical(key, a) != canonical(key, b)


def test_unreadable_server_values_compare_as_text():
    assert canonical("work_mem", "lots") == ("text", "lots")
    assert canonical("not_a_key", " x ") == ("text", "x")


@pytest.mark.parametrize("values, fragment", [
    ({"shared_buffers": "1GB"}, "unknown key 'shared_buffers'"),
    ({"max_conections": 5}, "unknown key 'max_conections' (did you mean 'max_connections'?)"),
    ({"work_mem": "4MiB"}, "work_mem: '4MiB' has an invalid unit 'MiB'; valid memory units are TB, GB, MB, kB, B"),
    ({"statement_timeout": "5MB"}, "valid time units are d, h, min, s, ms, us"),
    ({"statement_timeout": "2m"}, "invalid unit 'm'; valid time units are d, h, min, s, ms, us (PostgreSQL writes minutes as min)"),
    ({"max_connections": "10 connections"}, "takes no unit"),
    ({"max_connections": 0}, "max_connections: 0 is below the minimum of 1"),
    ({"max_connections": "abc"}, "is not an integer"),
    ({"max_connections": 2 ** 31}, "out of range"),
    # strtod overflows to infinity (ERANGE): refused, not a traceback nor an infinite value
    ({"max_connections": "1e400"}, "max_connections: '1e400' is out of range"),
    ({"work_mem": "1e400kB"}, "work_mem: '1e400kB' is out of range"),
    ({"work_mem": "1e308TB"}, "work_mem: '1e308TB' is out of range"),  # finite, but not once in kB
    ({"random_page_cost": "1e400"}, "random_page_cost: '1e400' is out of range"),
    ({"autovacuum_vacuum_cost_delay": "-1e400"}, "autovacuum_vacuum_cost_delay: '-1e400' is out of range"),
    ({"max_connections": True}, "max_connections must be an integer, got True"),
    ({"work_mem": "32kB"}, "below the minimum of 64kB"),
    ({"min_wal_size": "16MB"}, "below the minimum of 32768kB"),
    ({"wal_keep_size": -1}, "below the minimum of 0kB"),
    ({"autovacuum_vacuum_cost_limit": 0}, "below the minimum of 1 (or -1)"),
    ({"random_page_cost": "-0.5"}, "below the minimum of 0"),
    ({"wal_compression": "gzip"}, "must be one of off, on, lz4, zstd"),
    ({"default_transaction_isolation": "read uncommitted"}, "must be one of read committed, repeatable read, serializable"),
    ({"work_mem": None}, "work_mem has no value; use mode=replace to remove a setting"),
    ({"work_mem": {"a": 1}}, "work_mem must be an integer with an optional memory unit"),
])
def test_bad_values_are_refused_naming_the_key(values, fragment):
    with pytest.raises(InputError) as raised:
        check_pg_config(values)
    assert fragment in raised.value.message
    assert raised.value.message.endswith("Nothing was changed.")


def test_unknown_keys_list_the_allowed_set():
    with pytest.raises(InputError) as raised:
        check_pg_config({"shared_buffers": "1GB", "work_mem": "bad", "max_connections": 10})
    message = raised.value.message
    assert "Allowed keys: %s, %s" % tuple(sorted(PG_SETTINGS)[:2]) in message
    assert all(key in message for key in PG_SETTINGS)
    assert raised.value.failure()["unknown_keys"] == ["shared_buffers"]
    assert len(raised.value.failure()["invalid"]) == 2  # every problem at once


def test_wire_values_are_text_in_the_apis_spelling():
    wire = check_pg_config({"max_connections": 500, "work_mem": " 16MB ", "random_page_cost": 1.1, "wal_compression": False,
                            "ssl_min_protocol_version": "tlsv1.3", "default_transaction_isolation": "SERIALIZABLE",
                            "max_slot_wal_keep_size": -1})
    assert wire == {"max_connections": "500", "work_mem": "16MB", "random_page_cost": "1.1", "wal_compression": "off",
                    "ssl_min_protocol_version": "TLSv1.3", "default_transaction_isolation": "serializable",
                    "max_slot_wal_keep_size": "-1"}


def test_pg_bouncer_values_are_text():
    assert check_pg_bouncer_config({"default_pool_size": 16, "pool_mode": " transaction ", "server_reset_query_always": True}) == {
        "default_pool_size": "16", "pool_mode": "transaction", "server_reset_query_always": "1"}
    assert bouncer_canonical("default_pool_size", 16) == bouncer_canonical("default_pool_size", "16")
    with pytest.raises(InputError, match="at most 64"):
        check_pg_bouncer_config({"k%d" % i: "1" for i in range(65)})
    with pytest.raises(InputError, match="strings or numbers: a"):
        check_pg_bouncer_config({"a": None})


def test_restart_only_keys_follow_the_major_version():
    postmaster = {"max_connections", "max_worker_processes", "autovacuum_freeze_max_age", "max_logical_replication_workers",
                  "max_replication_slots", "max_wal_senders", "track_activity_query_size", "wal_buffers",
                  "shared_memory_percent"}
    assert restart_only("17") == postmaster | {"autovacuum_max_workers"}
    assert restart_only("18") == postmaster | {"io_method"}  # autovacuum_max_workers reloads; io_method is 18's
    assert restart_only(None) == restart_only("17")  # unknown: assume the stricter rules


# -- the catalogue against the spec -----------------------------------------------------


@pytest.fixture(scope="module")
def spec_settings():
    return load_spec()["components"]["schemas"]["pgConfig"]["properties"]


@pytest.fixture(scope="module")
def live_settings(emulator_class):
    """The live API's keys as the emulator's spec copy marks them (``x-live-api-2026-10``)."""
    from importlib import resources

    copy = json.loads(resources.files("chc_emulator").joinpath("openapi-postgres.json").read_text(encoding="utf-8"))
    pg_config = copy["components"]["schemas"]["pgConfig"]
    return {key: pg_config["properties"][key] for key in pg_config["x-live-api-2026-10"]["properties"]}


def test_catalogue_has_exactly_the_specs_keys_and_the_live_apis(spec_settings):
    assert sorted(CONTRACT_SETTINGS) == sorted(spec_settings)
    assert len(CONTRACT_SETTINGS) == 31 and len(LIVE_SETTINGS) == 29 and len(PG_SETTINGS) == 60


def test_the_live_keys_and_enums_are_the_emulators(live_settings):
    """The emulator models the live API from the same document: the two must not drift apart."""
    assert sorted(LIVE_SETTINGS) == sorted(live_settings)
    for key, prop in live_settings.items():
        if "enum" in prop:
            assert list(LIVE_SETTINGS[key].choices) == prop["enum"], key


# PostgreSQL's type wins where the spec says otherwise: this one is a real (2.5ms is valid) that the spec types integer.
REAL_IN_POSTGRES = {"autovacuum_vacuum_cost_delay"}
# Spec examples PostgreSQL itself refuses: its unit for minutes is "min", not "m".
BAD_SPEC_EXAMPLES = {"idle_session_timeout": "2m", "wal_sender_timeout": "120m"}


def test_catalogue_matches_the_specs_types_enums_and_minimums(spec_settings):
    for key, prop in spec_settings.items():
        setting = PG_SETTINGS[key]
        if "enum" in prop:
            assert isinstance(setting, Enum) and list(setting.choices) == prop["enum"], key
            continue
        assert setting.minimum == prop["minimum"], key
        real = "number" in prop["type"] or key in REAL_IN_POSTGRES
        assert (setting.kind == "real") == real, key
        if isinstance(setting, (Memory, Time)):
            assert setting.kind == ("real" if real else "integer"), key
        elif real:
            assert isinstance(setting, Real), key


def test_the_specs_own_examples_are_valid_but_the_two_postgres_refuses(spec_settings):
    examples = {key: prop["example"] for key, prop in spec_settings.items()}
    assert {key: examples[key] for key in BAD_SPEC_EXAMPLES} == BAD_SPEC_EXAMPLES
    good = {key: value for key, value in examples.items() if key not in BAD_SPEC_EXAMPLES}
    wire = check_pg_config(good)
    assert sorted(wire) == sorted(good)
    assert json.dumps(wire)  # all text
    with pytest.raises(InputError, match="writes minutes as min"):
        check_pg_config(BAD_SPEC_EXAMPLES)


def test_a_value_too_long_to_read_compares_as_text_and_is_refused_as_input():
    huge = "9" * 5000
    assert canonical("work_mem", huge) == ("text", huge)  # what a broken server holds: different, never a crash
    with pytest.raises(InputError, match=r"is 5000 characters long"):
        check_pg_config({"work_mem": huge})


@pytest.mark.parametrize("value", ["100.5", 100.5, "1e-1"])
def test_an_integer_setting_takes_whole_numbers_only(value):
    with pytest.raises(InputError, match="must be a whole number"):
        check_pg_config({"max_connections": value})


def test_unknown_keys_pass_as_text_only_when_allowed():
    with pytest.raises(InputError, match="unknown key 'brand_new_knob'"):
        check_pg_config({"brand_new_knob": 5})
    assert check_pg_config({"brand_new_knob": 5, "work_mem": "8MB"}, allow_unknown=True) == {"brand_new_knob": "5", "work_mem": "8MB"}
    with pytest.raises(InputError, match="brand_new_knob must be a number or a string"):
        check_pg_config({"brand_new_knob": [1]}, allow_unknown=True)


@pytest.mark.parametrize("key, value, wire", [
    ("log_min_duration_statement", "250ms", "250ms"),
    ("log_lock_waits", True, "on"),
    ("default_toast_compression", "LZ4", "lz4"),
    ("track_activity_query_size", "2kB", "2kB"),
    ("shared_memory_percent", 25, "25"),
    ("checkpoint_timeout", "5min", "5min"),
])
def test_the_live_keys(key, value, wire):
    assert check_pg_config({key: value}) == {key: wire}
