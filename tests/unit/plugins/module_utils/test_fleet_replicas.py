# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read replicas in the fleet call: the order of the work (tables), and carrying it out against the emulator."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from ansible_collections.clickhouse.cloud.plugins.module_utils import _fleet
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._fleet import FleetRun, plan_fleet, replica_retry_delay
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport

PRIMARY = {"id": "id-p", "name": "orders", "provider": "aws", "region": "us-east-1", "postgres_version": "18",
           "size": "r8gd.xlarge", "ha_type": "async", "tags": {"env": "prod"}, "state": "running", "is_primary": True}
REPLICA = {"id": "id-r", "name": "orders-ro", "provider": "aws", "region": "us-east-1", "postgres_version": "18",
           "size": "r8gd.xlarge", "ha_type": "none", "tags": {"env": "prod"}, "state": "running", "is_primary": False}


def member(host, name, **fields):
    base = {"host": host, "name": name, "provider": "aws", "region": "us-east-1", "postgres_version": "18",
            "size": "r8gd.xlarge", "ha_type": "none", "tags": {"env": "prod"}, "state": "present", "public": True,
            "purge": {"tags": True, "ip_access_list": True}}
    base.update(fields)
    return base


def primary(host="orders", name="orders", **fields):
    return member(host, name, **dict({"ha_type": "async"}, **fields))


def replica(host="orders-ro", name="orders-ro", of="orders", **fields):
    return member(host, name, replica_of=of, **fields)


def plans_by_host(listing, members):
    return {p.host: p for p in plan_fleet(listing, members)}


@pytest.mark.parametrize("listing, members, wanted", [
    # both new: the primary's create goes first, the replica's waits for it
    ([], [replica(), primary()], {"orders": ("create", False), "orders-ro": ("create", True)}),
    # the primary exists (a host of the play or not): the replica still waits for it to run and take replicas
    ([PRIMARY], [primary(), replica()], {"orders": ("none", False), "orders-ro": ("create", True)}),
    ([PRIMARY], [replica()], {"orders-ro": ("create", True)}),
    ([PRIMARY], [replica(of="id-p")], {"orders-ro": ("create", True)}),  # by id
    # an existing replica is not created again
    ([PRIMARY, REPLICA], [primary(), replica()], {"orders": ("none", False), "orders-ro": ("none", False)}),
    ([PRIMARY, REPLICA], [replica(ha_type=None, size=None)], {"orders-ro": ("none", False)}),
    # its access rules are its own to change
    ([PRIMARY, dict(REPLICA, ip_access_list=[])], [replica(ip_access_list=[{"source": "10.0.0.0/8", "port_range": "5432"}])],
     {"orders-ro": ("update", False)}),
    # decommission: the replicas go first, the primaries once they are gone
    ([PRIMARY, REPLICA], [primary(state="absent"), replica(state="absent")],
     {"orders": ("delete", True), "orders-ro": ("delete", False)}),
    ([PRIMARY, REPLICA], [primary(state="absent"), member("orders-ro", "orders-ro", state="absent")],
     {"orders": ("delete", True), "orders-ro": ("delete", False)}),
    ([PRIMARY], [primary(state="absent")], {"orders": ("delete", False)}),
    ([PRIMARY], [primary(state="absent"), replica(state="absent")], {"orders": ("delete", False), "orders-ro": ("none", False)}),
])
def test_the_order_of_the_work(listing, members, wanted):
    plans = plans_by_host(listing, members)
    assert {host: (p.action, p.deferred) for host, p in plans.items()} == wanted
    assert all(p.error is None for p in plans.values())


def test_a_new_replica_is_predicted_from_its_primary():
    plans = plans_by_host([], [primary(size="r8gd.2xlarge"), replica(size="r8gd.2xlarge")])
    predicted = plans["orders-ro"].predicted
    assert predicted["is_primary"] is False and predicted["ha_type"] == "none" and predicted["size"] == "r8gd.2xlarge"
    assert plans["orders-ro"].primary is plans["orders"]
    assert plans["orders-ro"].outcome()["diff"]["after"]["is_primary"] is False

    (listed,) = plan_fleet([dict(PRIMARY, ip_access_list=[{"id": "r1", "source": "10.0.0.0/8", "port_range": "5432"}])],
                           [replica(public=False)])  # it copies its primary's rules: never open by omission
    assert listed.error is None and listed.primary_service["id"] == "id-p"
    assert listed.predicted["ip_access_list"][0]["source"] == "10.0.0.0/8"


@pytest.mark.parametrize("listing, members, words", [
    ([], [replica()], ["its primary 'orders' is neither a host of this play nor a service of the organization",
                       "nothing was sent"]),
    ([PRIMARY, dict(PRIMARY, id="id-2")], [replica()], ["2 services are named 'orders'", "id-p, id-2", "by its id"]),
    ([REPLICA], [replica("r2", "r2", of="orders-ro")], ["read replica itself"]),
    ([], [primary(), replica(), replica("r2", "r2", of="orders-ro")], ["its primary orders-ro is a read replica itself"]),
    ([], [primary(provider=None), replica()], ["its primary orders fails", "provider"]),
    ([PRIMARY], [primary(state="absent"), replica()], ["deleted by this same call"]),
    # what only the primary has
    ([PRIMARY], [replica(size="r8gd.large")], ["size r8gd.large (the primary's is r8gd.xlarge)", "nothing was sent"]),
    ([PRIMARY], [replica(region="eu-west-1", postgres_version="17")], ["region eu-west-1", "postgres_version 17"]),
    ([PRIMARY], [replica(ha_type="async")], ["ha_type async (a read replica has no standbys)"]),
    ([PRIMARY, REPLICA], [replica(size="r8gd.large")], ["size r8gd.large (it has r8gd.xlarge)", "the values it has"]),
    # a primary resized with its group: the replica keeps its size, and the message says whose value is whose
    ([PRIMARY, REPLICA], [primary(size="r8gd.2xlarge"), replica(size="r8gd.2xlarge")],
     ["size r8gd.2xlarge (it has r8gd.xlarge)", "keeps the provider, region, Postgres version and size it was created"]),
    # what the API does not change on a replica, and a replica that is one no more
    ([PRIMARY, REPLICA], [replica(tags={"env": "dev"})], ["does not change the tags of a read replica"]),
    ([PRIMARY, dict(REPLICA, is_primary=True)], [replica()], ["it is a primary, not a read replica of orders",
                                                              "postgres_fleet_replica_of"]),
])
def test_what_a_replica_cannot_be_fails_it_before_anything_is_sent(listing, members, words):
    plans = plan_fleet(listing, members)
    failed = plans[-1]
    assert isinstance(failed.error, InputError) and failed.action == "none" and not failed.changed
    message = failed.outcome()["msg"]
    for word in words:
        assert word in message


@pytest.mark.parametrize("listed, wanted, action", [
    (REPLICA, {}, "none"),
    (dict(REPLICA, ip_access_list=[]), {"ip_access_list": [{"source": "10.0.0.0/8", "port_range": "5432"}]}, "update"),
])
def test_an_existing_replica_does_not_fail_with_its_primary(listed, wanted, action):
    """A member's failure is that member's only: a primary's refused change leaves its existing replica alone."""
    plans = plans_by_host([PRIMARY, listed], [primary(region="eu-west-1"), replica(**wanted)])
    assert "Cannot change region" in plans["orders"].error.message
    assert (plans["orders-ro"].error, plans["orders-ro"].action) == (None, action)


def test_two_hosts_naming_one_service_refuse_the_fleet_with_replicas_too():
    with pytest.raises(InputError, match="orders"):
        plan_fleet([], [primary(), replica(name="orders")])


@pytest.mark.parametrize("waited, delay", [(0, 5.0), (80, 8.0), (600, 30.0)])
def test_a_refused_replica_is_asked_for_again_later_and_later(waited, delay):
    assert replica_retry_delay(waited) == delay


# -- against the emulator -------------------------------------------------------------


class Log:
    """``log()``: (method, last path segment) of the writes since ``mark()``, once the log has stopped growing."""

    def __init__(self, emu):
        self.emu = emu
        self.mark()

    def _settled(self):
        seen, previous = self.emu.requests(), None
        while previous is None or len(seen) != len(previous):
            time.sleep(0.05)
            previous, seen = seen, self.emu.requests()
        return seen

    def mark(self):
        self.start = len(self._settled())

    def __call__(self):
        return [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in self._settled()[self.start:] if r["method"] != "GET"]


@pytest.fixture(scope="module")
def backed_up(emulator_class):
    """Primaries have their first backup a second after they run, so replicas are taken soon."""
    with emulator_class(no_postgres=True, rate_limit="off", provisioning_seconds=0.3, first_backup_seconds=1,
                        update_seconds=0.2, restart_seconds=0.2, deletion_seconds=0.3) as emu:
        yield emu


def test_one_call_makes_the_primary_then_its_replica_and_deletes_them_the_other_way(backed_up, tmp_path, monkeypatch):
    monkeypatch.setattr(_fleet, "replica_retry_delay", lambda waited: 0.5)  # the emulator's first backup comes in 1 s
    api = PostgresApi(Transport(backed_up.url, *backed_up.admin_key), backed_up.org_id)
    writes = Log(backed_up)
    name = "fr-%s" % uuid.uuid4().hex[:6]
    rules = [{"source": "127.0.0.1/32", "port_range": "5432"}]
    more = rules + [{"source": "10.0.0.0/8", "port_range": "5432"}]
    members = [replica(name + "-ro", name + "-ro", of=name, size="r8gd.large", ha_type="none", ip_access_list=more),
               primary(name=name, host=name, size="r8gd.large", ip_access_list=rules)]
    said = []

    predicted = FleetRun(api, check_mode=True).run(members)
    assert [(p.action, p.error) for p in predicted] == [("create", None)] * 2 and writes() == []
    assert len(predicted[0].predicted["ip_access_list"]) == 2

    run = FleetRun(api, credentials_dir=str(tmp_path), wait_timeout=60, say=said.append)
    made = {p.host: p for p in run.run(members)}
    assert [(p.action, p.error) for p in made.values()] == [("create", None)] * 2
    ro = made[name + "-ro"].outcome()["service"]
    sent = writes()
    assert sent[0] == ("POST", "postgres")  # the primary first
    assert sent[1:-1] == [("POST", "readReplica")] * (len(sent) - 2)  # asked for again while refused
    assert len(sent) - 3 == sum("asking again" in line for line in said)  # and each refusal was said
    assert sent[-1] == ("PATCH", ro["id"])  # its rules of its own, right after its create
    assert ro["is_primary"] is False and ro["state"] == "running" and len(ro["ip_access_list"]) == 2
    with open(made[name + "-ro"].credentials_file) as handle:
        details = json.load(handle)
    with open(made[name].credentials_file) as handle:
        assert details["password"] == json.load(handle)["password"]  # a replica is a copy of its primary

    writes.mark()
    again = FleetRun(api, credentials_dir=str(tmp_path)).run(members)
    assert [p.action for p in again] == ["none"] * 2 and writes() == []

    # the listing has no access rules: a change of them settles with the PATCH's answer, not never
    members[1]["ip_access_list"] = more
    changed = FleetRun(api, credentials_dir=str(tmp_path), wait_timeout=10).run(members)
    assert [(p.action, p.error) for p in changed] == [("none", None), ("update", None)]

    writes.mark()
    gone = FleetRun(api, credentials_dir=str(tmp_path), wait_timeout=60, say=said.append).run(
        [dict(m, state="absent") for m in members])
    assert [(p.action, p.error) for p in gone] == [("delete", None)] * 2
    assert writes() == [("DELETE", ro["id"]), ("DELETE", made[name].outcome()["service"]["id"])]
    assert not [s for s in api.list_services() if s.name.startswith(name)]
    assert list(tmp_path.iterdir()) == []


def test_a_replica_of_a_primary_with_no_backup_yet_times_out_with_nothing_sent(emulator, writes):
    """The shared emulator takes a primary's first backup a minute after it runs: longer than this wait."""
    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    name = "fr-%s" % uuid.uuid4().hex[:6]
    members = [primary(name=name, host=name, ha_type="none"), replica(name + "-ro", name + "-ro", of=name)]
    plans = {p.host: p for p in FleetRun(api, wait_timeout=2).run(members)}
    assert plans[name].error is None and plans[name].outcome()["service"]["state"] == "running"
    late = plans[name + "-ro"].outcome()
    assert late["failed"] and not late["changed"] and "the API accepted nothing for it" in late["msg"]
    assert "does not take replicas of %s yet" % name in late["msg"] and "no backups" in late["msg"]
    assert [w for w in writes() if w[1] == "readReplica"] == [("POST", "readReplica")]  # refused once, 400
    FleetRun(api, wait=False).run([dict(members[0], state="absent")])


def test_a_replica_whose_primary_is_refused_is_not_sent(emulator, writes):
    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    name = "fr-%s" % uuid.uuid4().hex[:6]
    members = [primary(name=name, host=name, size="x9.nonexistent"), replica(name + "-ro", name + "-ro", of=name, size=None)]
    refused, late = FleetRun(api, wait_timeout=30).run(members)
    assert "HTTP 400" in refused.error.message and not refused.changed
    assert late.outcome()["msg"].startswith("%s-ro: its primary %s failed (" % (name, name))
    assert "nothing was sent for it" in late.outcome()["msg"] and not late.changed
    assert writes() == [("POST", "postgres")]


def test_without_wait_the_replica_is_still_created_in_the_same_call(backed_up, monkeypatch):
    monkeypatch.setattr(_fleet, "replica_retry_delay", lambda waited: 0.5)
    api = PostgresApi(Transport(backed_up.url, *backed_up.admin_key), backed_up.org_id)
    name = "fr-%s" % uuid.uuid4().hex[:6]
    members = [primary(name=name, host=name, size="r8gd.large"), replica(name + "-ro", name + "-ro", of=name, size="r8gd.large")]
    first, second = FleetRun(api, wait=False, wait_timeout=30).run(members)
    assert (first.error, second.error) == (None, None) and second.outcome()["service"]["is_primary"] is False
    assert second.outcome()["credentials"]["password"]  # no directory: handed back, once
    gone = FleetRun(api, wait=False, wait_timeout=30).run([dict(m, state="absent") for m in members])
    assert [(p.action, p.error) for p in gone] == [("delete", None)] * 2  # the primary once its replica was gone
