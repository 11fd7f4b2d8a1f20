# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One declaration per field: the argument spec, bodies, comparison, diff and prediction all come from it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils import _api
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._engine import Resource, plan_update
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._fields import IMMUTABLE, Field, ResourceSpec
from ansible_collections.clickhouse.cloud.plugins.module_utils._resources import SERVICE
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Response
from ansible_collections.clickhouse.cloud.plugins.modules import postgres_service

CURRENT = {"id": "0b1e3f6a-0000-4000-8000-000000000001", "name": "orders", "provider": "aws", "region": "us-east-1",
           "postgres_version": "17", "size": "r8gd.large", "ha_type": "none", "tags": {"env": "dev"},
           "state": "running", "is_primary": True, "maintenance_window": "sun:03:00"}


class Recorder:
    """A transport that answers every request with the service and remembers the bodies."""

    def __init__(self):
        self.bodies = []

    def request(self, method, path, body=None, params=None, reconcile=None, text=False):
        self.bodies.append((method, body))
        return Response(200, {"id": CURRENT["id"], "name": "orders", "state": "running"})


@pytest.fixture
def extended(monkeypatch):
    """The service with one new updatable field, declared in one place, as the client sees it."""
    spec = SERVICE.but(fields=SERVICE.fields + (Field("maintenance_window", check=str.strip),))
    monkeypatch.setattr(_api, "SERVICE", spec)
    return spec


def test_a_new_field_is_an_option_with_its_type(extended):
    assert extended.argument_spec()["maintenance_window"] == {"type": "str"}
    assert "maintenance_window" not in SERVICE.argument_spec()


def test_a_new_field_is_checked_into_the_desired_state_without_touching_the_options(extended):
    params = {"name": "orders", "maintenance_window": " mon:04:00 ", "tags": None}
    desired = extended.desired(params)
    assert desired["maintenance_window"] == "mon:04:00"
    assert params["maintenance_window"] == " mon:04:00 "  # the options stay as given


def test_a_new_field_goes_into_the_create_and_patch_bodies(extended):
    recorder = Recorder()
    api = PostgresApi(recorder, "org")
    api.create_service({"name": "orders", "provider": "aws", "region": "us-east-1", "size": "r8gd.large",
                        "maintenance_window": "sun:03:00"})
    api.patch_service(CURRENT["id"], {"maintenance_window": "mon:04:00"}, CURRENT)
    (_post, created), (_patch, patched) = recorder.bodies
    assert created["maintenanceWindow"] == "sun:03:00"
    # tags are resent with any PATCH of a primary, because the API replaces them
    assert patched == {"maintenanceWindow": "mon:04:00", "tags": [{"key": "env", "value": "dev"}]}


def test_a_new_field_is_compared_diffed_and_predicted(extended):
    assert not plan_update(extended, CURRENT, {"maintenance_window": "sun:03:00"}).changed
    ops = SimpleNamespace(update=None)  # check mode: nothing may be sent
    engine = Resource(extended, ops, check_mode=True, diff=True)
    predicted = engine.present(CURRENT, {"maintenance_window": "mon:04:00"})
    assert predicted["maintenance_window"] == "mon:04:00" and engine.changed
    assert engine.diff == {"before": {"maintenance_window": "sun:03:00"}, "after": {"maintenance_window": "mon:04:00"}}

    created = Resource(extended, ops, check_mode=True).present(None, {"name": "new", "maintenance_window": "sun:03:00"})
    assert created["maintenance_window"] == "sun:03:00" and created["postgres_version"] == "17"


def test_the_service_module_argument_spec_is_the_declaration():
    spec = postgres_service.argument_spec()
    for field in SERVICE.options:
        assert spec[field.name] == field.option_spec()
    assert spec["purge_tags"] == {"type": "bool", "default": True}
    assert spec["ha_type"]["choices"] == ["none", "async", "sync"]
    assert not {"password", "connection_string", "is_primary"} & set(spec)  # returned, never options


@pytest.mark.parametrize("desired, origin, missing", [
    ({"name": "x", "provider": "aws", "region": "r", "size": "s"}, False, []),
    ({"name": "x"}, False, ["provider", "region", "size"]),
    ({"name": "x", "provider": "", "region": "r", "size": "s"}, False, ["provider"]),
    ({"name": "x"}, True, []),  # a replica or restore inherits the rest
    ({}, True, ["name"]),
])
def test_what_a_create_still_needs(desired, origin, missing):
    assert SERVICE.missing_to_create(desired, origin=origin) == missing


@pytest.mark.parametrize("current, sent", [
    (CURRENT, {"size": "r8gd.xlarge", "tags": {"env": "dev"}}),
    (dict(CURRENT, is_primary=False), {"size": "r8gd.xlarge"}),  # a replica's tags are not the PATCH's to resend
    (dict(CURRENT, tags=None), {"size": "r8gd.xlarge"}),
])
def test_patch_resends_what_the_api_replaces_wholesale(current, sent):
    assert SERVICE.patch_values({"size": "r8gd.xlarge"}, current) == sent


def test_origin_bodies_leave_out_inherited_fields():
    body = SERVICE.create_body({"name": "r", "size": "r8gd.large", "tags": {"a": "1"}, "pg_config": {}}, origin=True)
    assert body == {"name": "r", "tags": [{"key": "a", "value": "1"}]}  # empty settings are not sent either


def test_a_field_declared_twice_is_refused():
    with pytest.raises(ValueError, match="declares a field twice"):
        ResourceSpec("thing", "thing", (Field("a"), Field("a", IMMUTABLE)))


def test_checks_raise_input_errors_before_anything_is_sent():
    with pytest.raises(InputError, match="name must be 1-50 characters"):
        SERVICE.desired({"name": "x" * 51})


def test_ids_are_quoted_into_one_path_segment():
    recorder = Recorder()
    PostgresApi(recorder, "../../x?y=1#").get_service("a/b")
    assert recorder.bodies == [("GET", None)]
    assert PostgresApi(recorder, "../../x?y=1#")._path("a/b") == "/organizations/..%2F..%2Fx%3Fy%3D1%23/postgres/a%2Fb"


# -- access rules: a list field compared rule by rule and sent as add / remove ---------------

LOCAL = {"id": "r1", "source": "127.0.0.1/32", "port_range": "5432", "description": "local"}
OFFICE = {"id": "r2", "source": "10.0.0.0/8", "port_range": "5432..6432"}
RULES = SERVICE.field("ip_access_list")


@pytest.mark.parametrize("desired, purge, differs", [
    ([{"source": "127.0.0.1", "ports": "5432", "description": "local"}, {"source": "10.0.0.0/8", "ports": "5432..6432"}],
     True, False),  # an address is its /32; order does not matter
    ([{"source": "127.0.0.1/32", "ports": "5432", "description": "local"}], True, True),  # the office rule goes
    ([{"source": "127.0.0.1/32", "ports": "5432", "description": "local"}], False, False),  # kept without purge
    ([{"source": "127.0.0.1/32", "ports": "5432", "description": "laptop"}, {"source": "10.0.0.0/8", "ports": "5432..6432"}],
     True, True),  # a new description is a change
    ([], True, True),  # no public access at all
])
def test_rules_compare_by_source_and_ports(desired, purge, differs):
    differs_, _after = RULES.plan([LOCAL, OFFICE], RULES.check(desired), purge)
    assert differs_ is differs


def test_a_rule_change_is_sent_as_add_and_remove_with_the_apis_ids():
    wanted = RULES.check([{"source": "127.0.0.1/32", "ports": "5432", "description": "laptop"},
                          {"source": "192.168.1.0/24", "ports": "5432"}])
    after = RULES.plan([LOCAL, OFFICE], wanted, True)[1]
    assert RULES.patch_wire([LOCAL, OFFICE], after) == {
        "add": [{"source": "127.0.0.1/32", "portRange": "5432", "description": "laptop"},
                {"source": "192.168.1.0/24", "portRange": "5432"}],
        "remove": [{"id": "r1"}, {"id": "r2"}]}
    assert SERVICE.create_body({"ip_access_list": RULES.check([{"source": "10.1.2.3", "ports": 5432}])}) == {
        "ipAccessList": [{"source": "10.1.2.3", "portRange": "5432"}]}


@pytest.mark.parametrize("rule, text", [
    ({"source": "10.0.0.0/33", "ports": "5432"}, "not an IPv4 address or CIDR block"),
    ({"source": "::1", "ports": "5432"}, "not an IPv4 address"),
    ({"source": "10.0.0.1", "ports": "70000"}, "within 1-65535"),
    ({"source": "10.0.0.1", "ports": "6432..5432"}, "within 1-65535"),
])
def test_bad_rules_fail_before_anything_is_sent(rule, text):
    with pytest.raises(InputError, match=text):
        RULES.check([rule])
