# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet call: planning every member from one listing (tables), and carrying it out against the emulator."""

from __future__ import annotations

import json
import os
import stat
import uuid

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import AmbiguousError, ImmutableError, InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._fleet import (
    FleetRun,
    plan_fleet,
    poll_interval,
    write_credentials,
)
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport

RUNNING = {"id": "id-1", "name": "db1", "provider": "aws", "region": "us-east-1", "postgres_version": "18",
           "size": "r8gd.large", "ha_type": "none", "tags": {"env": "dev"}, "state": "running", "is_primary": True}


def member(host="h1", **fields):
    base = {"host": host, "name": "db1", "provider": "aws", "region": "us-east-1", "postgres_version": "18",
            "size": "r8gd.large", "ha_type": "none", "tags": {"env": "dev"}, "state": "present", "public": True}
    purge_tags = fields.pop("purge_tags", True)
    base.update(fields)
    base["purge"] = {"tags": purge_tags, "ip_access_list": True}
    return base


@pytest.mark.parametrize("listing, wanted, action, changes", [
    ([RUNNING], member(), "none", {}),
    ([RUNNING], member(postgres_version=18), "none", {}),  # numbers compare as the API's text
    ([RUNNING], member(size="r8gd.xlarge"), "update", {"size": "r8gd.xlarge"}),
    ([RUNNING], member(tags={"team": "db"}), "update", {"tags": {"team": "db"}}),
    ([RUNNING], member(tags={"team": "db"}, purge_tags=False), "update", {"tags": {"env": "dev", "team": "db"}}),
    ([RUNNING], member(tags={}, purge_tags=False), "none", {}),
    ([], member(), "create", {}),
    ([RUNNING], member(state="absent"), "delete", {}),
    ([], member(state="absent"), "none", {}),
    ([dict(RUNNING, name="other")], member(), "create", {}),
])
def test_plan_of_one_member(listing, wanted, action, changes):
    (plan,) = plan_fleet(listing, [wanted])
    assert (plan.action, plan.changes, plan.error) == (action, changes, None)
    assert plan.outcome()["changed"] is (action != "none")


def test_a_create_is_predicted_and_diffed_without_secrets():
    (plan,) = plan_fleet([], [member()])
    assert plan.predicted["state"] == "running" and plan.predicted["size"] == "r8gd.large" and plan.predicted["id"] is None
    assert plan.diff["after"]["name"] == "db1" and "password" not in plan.diff["after"]


def test_one_member_failing_leaves_the_others_alone():
    plans = plan_fleet([RUNNING, dict(RUNNING, id="id-2", name="db2")],
                       [member("h1", region="eu-west-1"), member("h2", name="db2", size="r8gd.xlarge"),
                        member("h3", name="db3", provider=None)])
    errors = {p.host: p.error for p in plans}
    assert isinstance(errors["h1"], ImmutableError) and errors["h2"] is None
    assert isinstance(errors["h3"], InputError) and "provider" in errors["h3"].message
    assert [p.action for p in plans] == ["none", "update", "none"]
    outcome = plans[0].outcome()
    assert outcome["failed"] and outcome["msg"].startswith("db1: Cannot change region") and not outcome["changed"]


def test_a_name_two_services_share_names_both_ids_and_the_way_out():
    (plan,) = plan_fleet([RUNNING, dict(RUNNING, id="id-2")], [member()])
    assert isinstance(plan.error, AmbiguousError)
    assert "id-1" in plan.error.message and "id-2" in plan.error.message and "delete or rename" in plan.error.message
    assert plan.error.failure()["ids"] == ["id-1", "id-2"]


def test_two_hosts_naming_one_service_refuse_the_fleet():
    with pytest.raises(InputError, match=r"db1 \(hosts a, b\)"):
        plan_fleet([], [member("a"), member("b")])


@pytest.mark.parametrize("waited, interval", [(0, 1.0), (5, 1.0), (30, 3.0), (100, 10.0), (600, 15.0)])
def test_poll_interval_grows_with_the_wait(waited, interval):
    assert poll_interval(waited) == interval


def test_credentials_are_written_private_and_whole(tmp_path):
    answer = {"id": "id-1", "name": "db1", "hostname": "db1.example", "username": "postgres", "password": "Pw1secret",
              "connection_string": "postgres://postgres:Pw1secret@db1.example:5433/app"}
    path = write_credentials(str(tmp_path), "db1", answer)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as handle:
        details = json.load(handle)
    assert details == {"id": "id-1", "name": "db1", "host": "db1.example", "port": 5433, "database": "app",
                       "username": "postgres", "password": "Pw1secret",
                       "connection_string": "postgres://postgres:Pw1secret@db1.example:5433/app"}
    assert os.listdir(str(tmp_path)) == ["db1.json"]  # no temporary file left behind


# -- against the emulator -------------------------------------------------------------


@pytest.fixture
def api(emulator):
    return PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)


def fleet(prefix, count, **fields):
    return [member("host%d" % i, name="%s-%d" % (prefix, i), **fields) for i in range(count)]


def test_a_fleet_costs_one_listing_and_one_write_per_change(api, writes, tmp_path):
    prefix = "fleet-%s" % uuid.uuid4().hex[:8]
    members = fleet(prefix, 3)

    predicted = FleetRun(api, check_mode=True).run(members)
    assert [p.action for p in predicted] == ["create"] * 3
    assert writes.calls() == 1 and writes() == []

    writes.mark()
    run = FleetRun(api, credentials_dir=str(tmp_path), wait_timeout=60)
    created = run.run(members)
    assert [(p.action, p.error, p.changed) for p in created] == [("create", None, True)] * 3
    assert [method for method, _path in writes()] == ["POST"] * 3
    assert writes.calls() == 1 + 3 + run.polls  # one listing, three creates, then one listing per poll
    for plan in created:
        assert plan.outcome()["service"]["state"] == "running" and "password" not in plan.outcome()["service"]
        assert stat.S_IMODE(os.stat(plan.credentials_file).st_mode) == 0o600
        with open(plan.credentials_file) as handle:
            assert json.load(handle)["password"]

    writes.mark()
    again = FleetRun(api, credentials_dir=str(tmp_path)).run(members)
    assert [p.action for p in again] == ["none"] * 3 and writes.calls() == 1 and writes() == []
    assert all(p.outcome()["warnings"] == [] for p in again)

    writes.mark()
    members[1]["tags"] = {"env": "prod"}
    changed = FleetRun(api, wait_timeout=60).run(members + [member("gone", name=members[2]["name"] + "-x", state="absent")])
    assert [p.action for p in changed] == ["none", "update", "none", "none"]
    assert [method for method, _path in writes()] == ["PATCH"]
    assert changed[1].outcome()["diff"] == {"before": {"tags": {"env": "dev"}}, "after": {"tags": {"env": "prod"}}}

    os.unlink(os.path.join(str(tmp_path), "%s.json" % members[0]["name"]))
    warned = FleetRun(api, credentials_dir=str(tmp_path)).run(members)
    assert "no stored connection details" in " ".join(warned[0].outcome()["warnings"])

    writes.mark()
    deleted = FleetRun(api, wait_timeout=60).run([dict(m, state="absent") for m in members])
    assert [p.action for p in deleted] == ["delete"] * 3 and all(p.error is None for p in deleted)
    assert [method for method, _path in writes()] == ["DELETE"] * 3
    assert not [s for s in api.list_services() if s.name.startswith(prefix)]


def test_without_a_directory_the_new_password_comes_back_once(api):
    (plan,) = FleetRun(api, wait=False).run([member("h", name="fleet-%s" % uuid.uuid4().hex[:8])])
    outcome = plan.outcome()
    assert outcome["credentials"]["password"] and outcome["credentials_file"] is None
    assert "password" not in outcome["service"] and "password" not in json.dumps(outcome["diff"])
    FleetRun(api, wait=False).run([dict(member("h", name=plan.name), state="absent")])


def test_a_refused_create_fails_that_member_only(api, writes):
    prefix = "fleet-%s" % uuid.uuid4().hex[:8]
    members = fleet(prefix, 2)
    members[0]["size"] = "x9.nonexistent"
    plans = FleetRun(api, wait_timeout=60).run(members)
    assert plans[0].error is not None and "HTTP 400" in plans[0].error.message and not plans[0].changed
    assert plans[1].error is None and plans[1].outcome()["service"]["state"] == "running"
    FleetRun(api, wait_timeout=60).run([dict(m, state="absent") for m in members])


def test_a_service_is_never_created_open_to_all_by_omission():
    (plan,) = plan_fleet([], [member(public=False)])
    assert isinstance(plan.error, InputError) and "open to every address" in plan.error.message
    (ruled,) = plan_fleet([], [member(public=False, ip_access_list=[{"source": "10.0.0.0/8", "port_range": "5432"}])])
    assert ruled.action == "create" and ruled.error is None
    (existing,) = plan_fleet([RUNNING], [member(public=False)])  # rules of an existing service are left alone
    assert existing.action == "none" and existing.error is None


def test_declared_rules_are_read_for_existing_services_and_compared(api, writes):
    name = "fleet-rules-%s" % uuid.uuid4().hex[:8]
    rules = [{"source": "127.0.0.1/32", "port_range": "5432"}]
    wanted = member("h", name=name, public=False, ip_access_list=rules)
    created = FleetRun(api, wait=False).run([wanted])
    assert created[0].action == "create" and created[0].error is None
    writes.mark()
    again = FleetRun(api, wait=False).run([wanted])
    assert again[0].action == "none" and writes() == [] and writes.calls() == 2  # the listing, and the service's rules
    changed = FleetRun(api, wait=False).run([dict(wanted, ip_access_list=rules + [{"source": "10.0.0.0/8", "port_range": "5432"}])])
    assert changed[0].action == "update" and [m for m, _p in writes()] == ["PATCH"]
    FleetRun(api, wait=False).run([dict(wanted, state="absent")])
