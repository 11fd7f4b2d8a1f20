# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory plugin as users run it: ``ansible-inventory --graph/--list`` against the emulator."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import yaml
from ansible_collections.clickhouse.cloud.plugins.inventory.postgres import (
    LISTED_FIELDS,
    default_group_names,
    host_record,
    unique_names,
    wanted,
)
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import emulator_env, run, tool

# The collection this test file belongs to: the checkout, or ansible-test's copy of it.
COLLECTION_ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def collections_path(tmp_path_factory):
    """An ansible_collections tree holding only this collection, wherever the tests run from."""
    root = tmp_path_factory.mktemp("collections")
    (root / "ansible_collections" / "clickhouse").mkdir(parents=True)
    (root / "ansible_collections" / "clickhouse" / "cloud").symlink_to(COLLECTION_ROOT)
    return root


def client(emu):
    return PostgresApi(Transport(emu.url, *emu.admin_key), emu.org_id)


def plain(value):
    """``ansible-inventory --list`` output without ansible-core 2.19's ``__ansible_unsafe`` wrappers."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class Inventory:
    """Writes an inventory source and runs ansible-inventory on it, with the emulator's credentials in the
    environment (as AWX injects them)."""

    def __init__(self, emu, directory, collections):
        self.directory = directory
        self.source = directory / "clickhouse.postgres.yml"
        self.env = emulator_env(emu, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_HOME=str(directory / "ansible-home"),
                                ANSIBLE_INVENTORY_ENABLED="auto", ANSIBLE_INVENTORY_UNPARSED_FAILED="true")

    def run(self, config, *args):
        self.source.write_text(yaml.safe_dump(dict({"plugin": "clickhouse.cloud.postgres"}, **config)))
        return run([tool("ansible-inventory"), "-i", self.source, *args], self.env)

    def list(self, config, *args):
        return plain(json.loads(self.run(config, "--list", *args)))


@pytest.fixture
def inventory(emulator, tmp_path, collections_path):
    return Inventory(emulator, tmp_path, collections_path)


@pytest.fixture(scope="module")
def fleet(emulator_process):
    """Three services of this module's own (a name prefix no other test uses): ``(prefix, {name: id})``."""
    api = client(emulator_process)
    prefix = "inv-%s-" % uuid.uuid4().hex[:8]
    made = {}
    for name, size, tags in (("orders", "r8gd.large", {"env": "prod", "tier": "oltp"}),
                             ("payments", "r8gd.large", {"env": "prod", "tier": "oltp", "pci": "true"}),
                             ("reporting", "r8gd.xlarge", {"env": "dev", "tier": "analytics"})):
        made[prefix + name] = api.create_service(dict(name=prefix + name, provider="aws", region="us-east-1",
                                                      size=size, postgres_version="18", tags=tags)).id
    deadline = time.monotonic() + 30
    while any(api.get_service(i).state != "running" for i in made.values()):
        assert time.monotonic() < deadline, "the fleet did not start"
        time.sleep(0.1)
    return prefix, made


def groups_of(listing, host):
    return sorted(name for name, group in listing.items() if name != "_meta" and host in group.get("hosts", []))


def test_hosts_variables_and_default_groups(inventory, fleet, emulator_process):
    prefix, ids = fleet
    listing = inventory.list({"name_pattern": "^" + prefix})
    hostvars = listing["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(ids)
    orders = hostvars[prefix + "orders"]
    assert orders["postgres_id"] == ids[prefix + "orders"]
    assert orders["postgres_tags"] == {"env": "prod", "tier": "oltp"}
    assert (orders["postgres_state"], orders["postgres_provider"], orders["postgres_region"]) == ("running", "aws", "us-east-1")
    assert (orders["postgres_size"], orders["postgres_version"], orders["postgres_ha_type"]) == ("r8gd.large", "18", "none")
    assert orders["postgres_is_primary"] is True and orders["postgres_hostname"] and orders["postgres_username"]
    assert {rule["port_range"] for rule in orders["postgres_access_rules"]} == {"5432", "6432"}
    assert groups_of(listing, prefix + "orders") == [
        "postgres_primary", "postgres_provider_aws", "postgres_region_us_east_1", "postgres_services",
        "postgres_state_running", "postgres_version_18"]
    # the emulator returns each service's password and connection string, as an organization without redaction
    password = client(emulator_process).get_service(ids[prefix + "orders"]).password
    assert password and password not in json.dumps(listing)
    assert not any(key.endswith(("password", "connection_string")) for key in orders)


def test_graph(inventory, fleet):
    prefix = fleet[0]
    graph = inventory.run({"name_pattern": "^" + prefix, "details": False}, "--graph")
    assert "@postgres_services:" in graph and "@postgres_region_us_east_1:" in graph
    assert "|--%sreporting" % prefix in graph


def test_constructed_features(inventory, fleet):
    prefix = fleet[0]
    listing = inventory.list({
        "name_pattern": "^" + prefix, "details": False, "strict": True,
        "name_template": "{{ postgres_name | replace('%s', '') }}-{{ postgres_region }}" % prefix,
        "compose": {"postgres_fleet_name": "postgres_name", "postgres_fleet_size": "postgres_size"},
        "keyed_groups": [{"key": "postgres_tags.tier", "prefix": "tier"}],
        "groups": {"pci": "postgres_tags.pci | default('false') == 'true'"},
    })
    hostvars = listing["_meta"]["hostvars"]
    assert sorted(hostvars) == ["orders-us-east-1", "payments-us-east-1", "reporting-us-east-1"]
    assert hostvars["orders-us-east-1"]["postgres_fleet_name"] == prefix + "orders"
    assert hostvars["reporting-us-east-1"]["postgres_fleet_size"] == "r8gd.xlarge"
    assert listing["tier_oltp"]["hosts"] == ["orders-us-east-1", "payments-us-east-1"]
    assert listing["tier_analytics"]["hosts"] == ["reporting-us-east-1"]
    assert listing["pci"]["hosts"] == ["payments-us-east-1"]


def test_filters(inventory, fleet):
    prefix = fleet[0]

    def hosts(**config):
        return sorted(inventory.list(dict(config, details=False))["_meta"]["hostvars"])

    assert hosts(name_pattern="^%s(orders|reporting)$" % prefix) == [prefix + "orders", prefix + "reporting"]
    assert hosts(name_pattern="^" + prefix, tags={"env": "prod"}) == [prefix + "orders", prefix + "payments"]
    assert hosts(name_pattern="^" + prefix, tags={"pci": None}) == [prefix + "payments"]
    assert hosts(name_pattern="^" + prefix, states=["stopped"]) == []


def test_cache_hit_costs_no_api_call(inventory, fleet, writes, emulator_process):
    prefix, ids = fleet
    cache_dir = inventory.directory / "cache"
    config = {"name_pattern": "^" + prefix, "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
              "cache_connection": str(cache_dir), "cache_timeout": 3600}
    first = inventory.list(config)
    assert writes.calls() == 1 + len(ids)  # the listing, and one read of each service for its details
    writes.mark()
    assert inventory.list(config) == first
    assert writes.calls() == 0
    inventory.list(config, "--flush-cache")
    assert writes.calls() == 1 + len(ids)
    writes.mark()
    narrower = inventory.list(dict(config, tags={"tier": "analytics"}))  # another query: not the cached one
    assert sorted(narrower["_meta"]["hostvars"]) == [prefix + "reporting"]
    assert writes.calls() == 2
    cached = "".join(path.read_text() for path in cache_dir.iterdir())
    password = client(emulator_process).get_service(ids[prefix + "reporting"]).password
    assert ids[prefix + "reporting"] in cached and password not in cached and emulator_process.admin_key[1] not in cached


def test_missing_credentials_fail_naming_the_option(inventory, fleet):
    del inventory.env["CLICKHOUSE_CLOUD_API_SECRET"]
    with pytest.raises(AssertionError, match="api_key_secret"):
        inventory.run({}, "--list")


def test_shared_names_get_their_ids():
    names, shared = unique_names(["a", "b", "a"], ["1", "2", "3"])
    assert names == ["a_1", "b", "a_3"] and shared == ["a"]


def test_records_keep_only_allowlisted_fields():
    service = {"id": "1", "name": "a", "password": "p", "connection_string": "postgres://x", "postgres_version": "18",
               "tags": {"env": "prod"}, "is_primary": False}
    record = host_record(service, LISTED_FIELDS)
    assert record == {"id": "1", "name": "a", "version": "18", "tags": {"env": "prod"}, "is_primary": False}
    assert default_group_names(dict(record, region="eu-west-1"), "pg_") == ["pg_region_eu_west_1", "pg_version_18", "pg_replica"]
    assert wanted(record, [], {"env": None}, None) and not wanted(record, ["running"], {}, None)


def test_a_thousand_services(emulator_class, tmp_path, collections_path):
    """Scale: the listing alone and with every service read; the times are printed, not asserted."""
    with emulator_class(no_postgres=True, rate_limit="off", provisioning_seconds=0.1) as emu:
        api = client(emu)
        started = time.monotonic()
        for number in range(1000):
            api.create_service(dict(name="scale-%04d" % number, provider="aws", region="us-east-1", size="r8gd.large",
                                    tags={"shard": str(number % 10)}))
        created = time.monotonic() - started
        inventory = Inventory(emu, tmp_path, collections_path)
        timings = {}
        for details in (False, True):
            started = time.monotonic()
            listing = inventory.list({"details": details, "keyed_groups": [{"key": "postgres_tags.shard", "prefix": "shard"}]})
            timings[details] = time.monotonic() - started
            assert len(listing["_meta"]["hostvars"]) == 1000
            assert len(listing["shard_7"]["hosts"]) == 100
        print("\n1000 services: created in %.1f s; ansible-inventory --list %.1f s (listing only), %.1f s (with details)"
              % (created, timings[False], timings[True]))
