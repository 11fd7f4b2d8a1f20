"""ipAccessList over HTTP (live API of October 2026): what create, GET and PATCH store and show,
and the rules the CLI checks, refused with a 400 that changes nothing.  Every test leaves its
services settled (running or gone), so the snapshots of the refusal tests compare still states.

Whether the real server admits what the rules say is test_api_access_enforced.py.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from emutest import emulator_fixture, error_of, wait_until

emu = emulator_fixture(provisioning_seconds=0.2, first_backup_seconds=0.2, deletion_seconds=0.2)

LOCAL = {"source": "127.0.0.1/32", "portRange": "5432", "description": "local"}
OFFICE = {"source": "10.0.0.0/8", "portRange": "5432..6432"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def without_ids(rules: list[dict]) -> list[dict]:
    assert all(UUID.match(rule["id"]) for rule in rules), rules
    return [{k: v for k, v in rule.items() if k != "id"} for rule in rules]


def rule_changes(add: list[dict] | None = None, remove: list[str] | None = None) -> dict:
    """The PATCH body clickhousectl sends for --add-ip-allow / --remove-ip-allow."""
    return {"ipAccessList": {"add": add or [], "remove": [{"id": rule_id} for rule_id in remove or []]}}


@pytest.fixture(scope="module")
def guarded(api):
    """A service with two rules of its own, past its first backup (replicas and restores need one)."""
    svc = api.running("guarded", ipAccessList=[LOCAL, OFFICE])
    return wait_until(lambda: (s := api.service(svc["id"]))["earliestRestoreTime"] and s, 10, "the first backup")


def test_create_without_rules_allows_all_on_5432_and_6432(api):
    created = api.running("open")
    assert without_ids(created["ipAccessList"]) == [{"source": "0.0.0.0/0", "portRange": "5432"}, {"source": "0.0.0.0/0", "portRange": "6432"}]
    assert api.service(created["id"])["ipAccessList"] == created["ipAccessList"]


def test_create_with_rules_keeps_them_as_given(api, guarded):
    assert without_ids(guarded["ipAccessList"]) == [LOCAL, OFFICE], "a description only where one was given"
    assert len({rule["id"] for rule in guarded["ipAccessList"]}) == 2


def test_create_with_an_empty_list_blocks_all_public_access(api):
    assert api.running("closed", ipAccessList=[])["ipAccessList"] == []


def test_list_items_carry_no_rules(api, guarded):
    """The live list item is still the contract's: clickhousectl drops ipAccessList there."""
    item = {s["id"]: s for s in api.services()}[guarded["id"]]
    assert "ipAccessList" not in item and "earliestRestoreTime" not in item


def test_patch_removes_then_adds(api):
    svc = api.running("patched", ipAccessList=[LOCAL, OFFICE])
    local_id, office_id = (rule["id"] for rule in svc["ipAccessList"])
    added = {"source": "192.0.2.7", "portRange": "6432", "description": "with spaces in it"}
    result = api.patch(f"/{svc['id']}", {**rule_changes([added], [local_id]), "tags": []}).json()["result"]
    assert [rule["id"] for rule in result["ipAccessList"]][0] == office_id
    assert without_ids(result["ipAccessList"]) == [OFFICE, added]
    assert api.service(svc["id"])["ipAccessList"] == result["ipAccessList"]
    # 30 rules in one PATCH, as the CLI sends them
    many = [{"source": f"198.51.100.{n}/32", "portRange": "5432"} for n in range(30)]
    result = api.patch(f"/{svc['id']}", rule_changes(many, [r["id"] for r in result["ipAccessList"]])).json()["result"]
    assert without_ids(result["ipAccessList"]) == many
    assert api.patch(f"/{svc['id']}", rule_changes([], [r["id"] for r in result["ipAccessList"]])).json()["result"]["ipAccessList"] == []


def test_patch_without_rules_keeps_them(api, guarded):
    assert api.patch(f"/{guarded['id']}", {"tags": [{"key": "k", "value": "v"}]}).json()["result"]["ipAccessList"] == guarded["ipAccessList"]
    assert api.patch(f"/{guarded['id']}", {"ipAccessList": {}}).json()["result"]["ipAccessList"] == guarded["ipAccessList"]


def test_patch_while_creating_is_kept(api):
    """clickhousectl's restore PATCHes the new service's rules right after creating it."""
    svc = api.create("young")
    assert svc["state"] == "creating"
    result = api.patch(f"/{svc['id']}", rule_changes([LOCAL], [r["id"] for r in svc["ipAccessList"]])).json()["result"]
    assert without_ids(result["ipAccessList"]) == [LOCAL]
    assert without_ids(api.wait_state(svc["id"], "running")["ipAccessList"]) == [LOCAL]


def test_read_replica_copies_the_primary_rules_with_ids_of_its_own(api, guarded):
    replica = api.post(f"/{guarded['id']}/readReplica", {"name": "copy"})
    assert replica.status_code == 200, replica.text
    rules = replica.json()["result"]["ipAccessList"]
    assert without_ids(rules) == without_ids(guarded["ipAccessList"])
    assert not {r["id"] for r in rules} & {r["id"] for r in guarded["ipAccessList"]}
    api.remove(replica.json()["result"]["id"])


def test_restored_service_comes_with_the_default_rules(api, guarded):
    target = dt.datetime.now(dt.timezone.utc).isoformat()
    restored = api.post(f"/{guarded['id']}/restoredService", {"name": "restored", "restoreTarget": target})
    assert restored.status_code == 200, restored.text
    assert [r["source"] for r in restored.json()["result"]["ipAccessList"]] == ["0.0.0.0/0", "0.0.0.0/0"]
    api.wait_state(restored.json()["result"]["id"], "running")


# --- what is refused -------------------------------------------------------------------------

BAD_RULES = {
    "IPv6": ({"source": "::1/128", "portRange": "5432"}, "source"),
    "octet 300": ({"source": "300.1.1.1", "portRange": "5432"}, "source"),
    "prefix 33": ({"source": "1.2.3.4/33", "portRange": "5432"}, "source"),
    "host name": ({"source": "example.com", "portRange": "5432"}, "source"),
    "port 0": ({"source": "1.2.3.4", "portRange": "0"}, "portRange"),
    "port 65536": ({"source": "1.2.3.4", "portRange": "65536"}, "portRange"),
    "range backwards": ({"source": "1.2.3.4", "portRange": "6432..5432"}, "portRange"),
    "range with a dash": ({"source": "1.2.3.4", "portRange": "5432-6432"}, "portRange"),
    "port as a number": ({"source": "1.2.3.4", "portRange": 5432}, "portRange"),
    "no portRange": ({"source": "1.2.3.4"}, "portRange"),
    "no source": ({"portRange": "5432"}, "source"),
    "description not a string": ({"source": "1.2.3.4", "portRange": "5432", "description": 7}, "description"),
    "unknown field": ({"source": "1.2.3.4", "portRange": "5432", "note": "x"}, "note"),
}


@pytest.mark.parametrize("rule, field", BAD_RULES.values(), ids=BAD_RULES.keys())
def test_create_refuses_a_bad_rule(api, guarded, rule, field):
    before = api.snapshot()
    text = error_of(api.post("", {"name": "bad", "provider": "aws", "region": "us-west-2", "size": "r8gd.large", "ipAccessList": [LOCAL, rule]}), 400)
    assert "ipAccessList[1]" in text and field in text, text
    assert api.snapshot() == before


@pytest.mark.parametrize("rule, field", BAD_RULES.values(), ids=BAD_RULES.keys())
def test_patch_refuses_a_bad_rule(api, guarded, rule, field):
    before = api.snapshot()
    text = error_of(api.patch(f"/{guarded['id']}", {**rule_changes([LOCAL, rule]), "tags": [{"key": "new", "value": "tag"}]}), 400)
    assert "ipAccessList.add[1]" in text and field in text, text
    assert api.snapshot() == before, "not even the tags of the same PATCH"


@pytest.mark.parametrize(
    "change, named",
    [
        ({"add": [], "remove": [{"id": "no-such-rule"}]}, ["ipAccessList.remove[0].id", "no-such-rule"]),
        ({"add": [], "remove": [{"id": 5}]}, ["ipAccessList.remove[0].id"]),
        ({"add": [], "remove": [{}]}, ["ipAccessList.remove[0]", "id"]),
        ({"add": [], "remove": ["a-rule-id"]}, ["ipAccessList.remove[0]"]),
        ({"add": [], "remove": [], "replace": []}, ["ipAccessList", "replace"]),
        ([LOCAL], ["ipAccessList"]),
        ({"add": LOCAL}, ["ipAccessList.add"]),
    ],
    ids=["unknown id", "id a number", "no id", "id not in an object", "unknown key", "a list, as on create", "add not a list"],
)
def test_patch_refuses_bad_changes(api, guarded, change, named):
    before = api.snapshot()
    text = error_of(api.patch(f"/{guarded['id']}", {"ipAccessList": change}), 400)
    assert all(part in text for part in named), text
    assert api.snapshot() == before


def test_a_rule_of_another_service_cannot_be_removed(api, guarded):
    other = api.running("other")
    before = api.snapshot()
    text = error_of(api.patch(f"/{guarded['id']}", rule_changes(remove=[other["ipAccessList"][0]["id"]])), 400)
    assert other["ipAccessList"][0]["id"] in text
    assert api.snapshot() == before
