"""The emulator's copy of the spec is the vendored 2026-07-31 snapshot plus the live API's
additions, each marked: `x-source` on what is new, `x-live-api-2026-10` on an existing schema,
naming what it gained.  So a reader (or the collection) can tell contract from live facts."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).resolve().parents[4] / "shared" / "api" / "openapi-postgres.json"  # beside the checkout
MARK = "x-live-api-2026-10"


@pytest.fixture(scope="module")
def copy() -> dict:
    return json.loads(resources.files("chc_emulator").joinpath("openapi-postgres.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def snapshot() -> dict:
    if not SNAPSHOT.exists():
        pytest.skip(f"{SNAPSHOT} is not here")
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_new_paths_and_schemas_are_marked(copy, snapshot):
    new_paths = set(copy["paths"]) - set(snapshot["paths"])
    assert new_paths == {"/v1/organizations/{organizationId}/postgres/{postgresId}/backups"}
    assert all(op["x-source"] for path in new_paths for op in copy["paths"][path].values())
    new_schemas = set(copy["components"]["schemas"]) - set(snapshot["components"]["schemas"])
    assert all(copy["components"]["schemas"][name].get("x-source") for name in new_schemas), new_schemas
    assert set(copy["paths"]) >= set(snapshot["paths"]), "nothing of the contract is dropped"


def test_every_changed_schema_says_what_it_gained(copy, snapshot):
    for name, old in snapshot["components"]["schemas"].items():
        new = copy["components"]["schemas"][name]
        if new == old:
            continue
        added_properties = set(new.get("properties", {})) - set(old.get("properties", {}))
        assert all(new["properties"][prop].get("x-source") for prop in added_properties), (name, added_properties)
        changed_keywords = {k for k in new.keys() | old.keys() if k not in ("properties", MARK) and new.get(k) != old.get(k)}
        assert changed_keywords <= set(new.get(MARK, {})), (name, changed_keywords)
        for prop in set(old.get("properties", {})):
            assert new["properties"][prop] == old["properties"][prop], f"{name}.{prop} of the contract changed"


def test_the_live_facts(copy):
    schemas = copy["components"]["schemas"]
    assert len(schemas["pgConfig"]["properties"]) == 60 and len(schemas["pgConfig"][MARK]["properties"]) == 29
    assert schemas["pgProvider"]["enum"] == ["aws", "gcp"]
    assert len(schemas["pgSize"]["enum"]) == 82 + 61 and schemas["pgSize"][MARK]["provider"] == "gcp"
    enums = {key: prop["enum"] for key, prop in schemas["pgConfig"]["properties"].items() if prop.get("x-source") and "enum" in prop}
    assert enums == {
        "default_toast_compression": ["pglz", "lz4"],
        "enable_parallel_hash": ["on", "off"],
        "io_method": ["sync", "worker", "io_uring"],
        "log_lock_waits": ["on", "off"],
    }
    assert set(schemas["PostgresIpAccessListEntryResponse"]["properties"]) == {"id", "source", "portRange", "description"}
