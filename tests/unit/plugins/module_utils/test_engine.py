# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine: normalise, compare, predict, diff, wait, and what a failed run still reports. No HTTP."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._compare import normalize, plan_map
from ansible_collections.clickhouse.cloud.plugins.module_utils._engine import (
    Resource,
    Waiter,
    diff_of,
    lookup_names,
    plan_update,
)
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import (
    AmbiguousError,
    ApiError,
    ImmutableError,
    LostAnswerError,
    WaitTimeoutError,
)
from ansible_collections.clickhouse.cloud.plugins.module_utils._resources import SERVICE

CURRENT = {
    "id": "0b1e3f6a-0000-4000-8000-000000000001",
    "name": "orders",
    "provider": "aws",
    "region": "us-east-1",
    "postgres_version": "17",
    "size": "r8gd.large",
    "ha_type": "none",
    "tags": {"env": "dev", "team": "db"},
    "state": "running",
    "is_primary": True,
    "password": "s3cretPassw0rd",
    "connection_string": "postgres://postgres:s3cretPassw0rd@h:5432/postgres",
}


@pytest.mark.parametrize("value, expected", [
    (17, "17"),
    ("17", "17"),
    (" r8gd.large ", "r8gd.large"),
    (1.0, "1"),
    (0.2, "0.2"),
    (True, True),
    (None, None),
    ({"a": 1}, {"a": "1"}),
    ([1, "x"], ["1", "x"]),
])
def test_normalize(value, expected):
    assert normalize(value) == expected


@pytest.mark.parametrize("current, desired, purge, after, changed, removed", [
    ({"a": "1"}, {"a": "1"}, True, {"a": "1"}, [], []),
    ({"a": "1"}, {"a": 1}, True, {"a": 1}, [], []),  # numbers read back as strings
    ({"a": "1"}, {"a": "2"}, True, {"a": "2"}, ["a"], []),
    ({"a": "1", "b": "2"}, {"a": "1"}, True, {"a": "1"}, [], ["b"]),
    ({"a": "1", "b": "2"}, {"a": "1"}, False, {"a": "1", "b": "2"}, [], []),
    ({"a": "1"}, {"c": "3"}, False, {"a": "1", "c": "3"}, ["c"], []),
    ({}, {}, True, {}, [], []),
    (None, {"a": "1"}, True, {"a": "1"}, ["a"], []),
])
def test_plan_map(current, desired, purge, after, changed, removed):
    plan = plan_map(current, desired, purge=purge)
    assert plan.after == after
    assert plan.changed_keys == changed
    assert plan.removed_keys == removed
    assert plan.changed == bool(changed or removed)


def test_plan_map_custom_normaliser():
    to_kb = {"64MB": 65536, "65536kB": 65536}
    plan = plan_map({"work_mem": "64MB"}, {"work_mem": "65536kB"}, canon_value=lambda k, v: to_kb[v])
    assert not plan.changed


@pytest.mark.parametrize("desired, purge, changes", [
    ({}, True, {}),
    ({"size": "r8gd.large", "postgres_version": 17}, True, {}),
    ({"size": "r8gd.xlarge"}, True, {"size": "r8gd.xlarge"}),
    ({"ha_type": "async", "size": None}, True, {"ha_type": "async"}),
    ({"tags": {"env": "dev", "team": "db"}}, True, {}),
    ({"tags": {"env": "prod"}}, True, {"tags": {"env": "prod"}}),
    ({"tags": {"env": "prod"}}, False, {"tags": {"env": "prod", "team": "db"}}),
    ({"tags": {"team": "db"}}, False, {}),
    ({"tags": {}}, True, {"tags": {}}),
    ({"pg_config": {"max_connections": "50"}}, True, {}),  # create-only: never compared
    ({"name": "orders-2"}, True, {"name": "orders-2"}),
])
def test_plan_update(desired, purge, changes):
    plan = plan_update(SERVICE, CURRENT, desired, {"tags": purge})
    assert plan.changes == changes
    assert plan.changed == bool(changes)
    assert plan.before == {k: CURRENT[k] for k in changes}
    assert plan.predicted == dict(CURRENT, **changes)


def test_plan_update_immutable_lists_every_conflict_and_sends_nothing():
    with pytest.raises(ImmutableError) as err:
        plan_update(SERVICE, CURRENT, {"region": "eu-west-1", "postgres_version": "18", "size": "r8gd.xlarge"})
    assert "postgres_version" in err.value.message and "region" in err.value.message
    assert err.value.failure()["immutable"]["region"] == {"current": "us-east-1", "wanted": "eu-west-1"}


@pytest.mark.parametrize("before, after, expected", [
    ({"size": "a", "name": "x"}, {"size": "b", "name": "x"}, {"before": {"size": "a"}, "after": {"size": "b"}}),
    ({"size": "a"}, {"size": "a"}, {"before": {}, "after": {}}),
    ({}, {"name": "x", "id": None}, {"before": {}, "after": {"name": "x"}}),
    ({"name": "x"}, {}, {"before": {"name": "x"}, "after": {}}),
    ({"v": "17"}, {"v": 17}, {"before": {}, "after": {}}),
])
def test_diff_only_changed_keys(before, after, expected):
    assert diff_of(before, after) == expected


def test_diff_never_shows_secrets():
    diff = diff_of({}, CURRENT, SERVICE.secrets)
    assert "password" not in diff["after"] and "connection_string" not in diff["after"]
    assert "s3cret" not in repr(diff)


def test_matches():
    matches = SERVICE.matches
    assert matches(CURRENT, {"size": "r8gd.large", "tags": {"env": "dev", "team": "db"}})
    assert not matches(CURRENT, {"size": "r8gd.xlarge"})
    assert not matches(None, {"size": "r8gd.large"})


def test_waiter_backs_off_and_reports_states(fake_clock):
    clock = fake_clock
    reads = iter([{"state": "creating"}, {"state": "creating"}, {"state": "running"}])
    waiter = Waiter(60, first=2, factor=2, cap=5, clock=clock.clock, sleep=clock.sleep)
    obj, report = waiter.until(lambda: next(reads), lambda o, r: o["state"] == "running", "running",
                               initial={"state": "creating"})
    assert obj == {"state": "running"}
    assert clock.sleeps == [2, 4, 5]
    assert report.as_dict() == {"for": "running", "seconds": 11.0, "polls": 3, "states": ["creating", "running"]}


def test_waiter_times_out_at_the_deadline_not_after_it(fake_clock):
    clock = fake_clock
    waiter = Waiter(10, first=4, factor=2, cap=30, clock=clock.clock, sleep=clock.sleep)
    with pytest.raises(WaitTimeoutError) as err:
        waiter.until(lambda: {"state": "creating"}, lambda o, r: False, "running")
    assert clock.sleeps == [4, 6]  # the last sleep is cut to the deadline
    assert err.value.report.seconds == 10
    assert err.value.last == {"state": "creating"}
    assert "creating" in err.value.message and "10 s" in err.value.message


def test_waiter_reports_gone(fake_clock):
    clock = fake_clock
    obj, report = Waiter(10, clock=clock.clock, sleep=clock.sleep).until(
        lambda: None, lambda o, r: o is None, "gone", initial={"state": "deleting"})
    assert obj is None and report.states == ["deleting", "gone"]


# -- what a failed run reports --------------------------------------------------


DESIRED = {"name": "orders", "provider": "aws", "region": "us-east-1", "size": "r8gd.large"}


def engine(fake_clock, get):
    ops = SimpleNamespace(get=get)
    return Resource(SERVICE, ops, waiter=Waiter(10, clock=fake_clock.clock, sleep=fake_clock.sleep))


def test_failed_wait_after_create_keeps_the_password_out_of_the_failure(fake_clock):
    """The create answer is the only one with the password (GETs are redacted): a timeout must not lose it,
    and must not print it either. The failure carries the answer for the module to keep safe."""
    created = {"id": CURRENT["id"], "name": "orders", "state": "creating", "password": "s3cretPassw0rd"}
    resource = engine(fake_clock, get=lambda sid: {"id": sid, "name": "orders", "state": "creating"})
    with pytest.raises(WaitTimeoutError) as err:
        resource.present(None, DESIRED, create=lambda desired: dict(created))
    partial = err.value.partial
    assert partial["changed"] is True and partial["service"]["state"] == "creating"
    assert "s3cret" not in repr(partial)
    assert err.value.created["password"] == "s3cretPassw0rd"


def test_api_error_while_waiting_keeps_the_write_answer(fake_clock):
    def get(sid):
        raise ApiError("GET", "/x", status=403, error="FORBIDDEN")

    resource = engine(fake_clock, get)
    with pytest.raises(ApiError) as err:
        resource.present(None, DESIRED, create=lambda desired: {"id": CURRENT["id"], "name": "orders", "password": "p4ssWord123"})
    assert err.value.created["password"] == "p4ssWord123" and "p4ss" not in repr(err.value.partial)


def test_secrets_come_back_only_from_the_create(fake_clock):
    """A read that carries the password (no redaction) is no reason to return it after a tag change."""
    resource = Resource(SERVICE, SimpleNamespace(update=lambda sid, changes, current: dict(CURRENT, **changes)), check_mode=False,
                        waiter=Waiter(10, clock=fake_clock.clock, sleep=fake_clock.sleep))
    updated = resource.result(resource.present(CURRENT, {"tags": {"env": "prod"}}, wait=False))
    assert updated["changed"] and "password" not in updated["service"] and "connection_string" not in updated["service"]
    unchanged = Resource(SERVICE, None).result(CURRENT)
    assert "password" not in unchanged["service"]


@pytest.mark.parametrize("error, changed", [
    (ApiError("POST", "/postgres", status=400, error="BAD_REQUEST: size"), False),  # refused: nothing happened
    (ApiError("POST", "/postgres", status=503, error="unavailable"), True),  # may hide a committed write
    (ApiError("GET", "/postgres", status=None, error="cannot connect"), True),  # the look-up after a lost answer
    (LostAnswerError("POST", "/postgres", status=504), True),
])
def test_a_failed_write_reports_changed_unless_the_api_refused_it(fake_clock, error, changed):
    def create(desired):
        raise error

    resource = engine(fake_clock, get=None)
    with pytest.raises(ApiError) as err:
        resource.present(None, DESIRED, create=create)
    assert err.value.partial["changed"] is changed


@pytest.mark.parametrize("listed, names, found", [
    ([{"id": "1", "name": "a"}, {"id": "2", "name": "b"}], ["b", "a"], {"a": "1", "b": "2"}),
    ([{"id": "1", "name": "a"}], ["a", "missing"], {"a": "1"}),  # the caller says what is missing
    ([{"id": "1", "name": "a"}, {"id": "2", "name": "a"}], ["b"], {}),  # a shared name nobody asked for is fine
])
def test_lookup_names_from_one_listing(listed, names, found):
    calls = []
    ops = SimpleNamespace(list=lambda: calls.append("list") or listed)
    assert {name: item["id"] for name, item in lookup_names(SERVICE, ops, names).items()} == found
    assert calls == ["list"]


def test_lookup_names_refuses_a_shared_name_listing_the_ids():
    ops = SimpleNamespace(list=lambda: [{"id": "1", "name": "a"}, {"id": "2", "name": "a"}])
    with pytest.raises(AmbiguousError) as raised:
        lookup_names(SERVICE, ops, ["a"])
    assert "1" in raised.value.message and "2" in raised.value.message
