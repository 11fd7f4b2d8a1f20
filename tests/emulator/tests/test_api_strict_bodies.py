"""Strict bodies: the live API refuses a request body property it does not know (reference
§3.4, "request body property can't be validated"), so an unknown property anywhere in any
body is a 400 naming it, and nothing changes."""

from __future__ import annotations

import pytest
from emutest import emulator_fixture, error_of, wait_until

emu = emulator_fixture(provisioning_seconds=0.2, first_backup_seconds=0.2)

CREATE = {"name": "strict", "provider": "aws", "region": "us-west-2", "size": "r8gd.large"}
TAG = {"key": "env", "value": "prod"}
RULE = {"source": "10.0.0.0/8", "portRange": "5432"}
NOW = "2099-01-01T00:00:00Z"  # never reached: the unknown property must be what is refused


@pytest.fixture(scope="module")
def target(api):
    """A running service past its first backup, so replica and restore bodies get as far as they can."""
    svc = api.running("target")
    return wait_until(lambda: (s := api.service(svc["id"]))["earliestRestoreTime"] and s, 10, "the first backup")["id"]


def bodies(sid: str) -> dict[str, tuple[str, str, dict, str]]:
    """Per case: method, path, a body with one unknown property, the name the error must give."""
    config = {"pgConfig": {"work_mem": "8MB"}, "pgBouncerConfig": {}}
    return {
        "create": ("POST", "", {**CREATE, "color": "blue"}, "color"),
        "create, in a tag": ("POST", "", {**CREATE, "tags": [{**TAG, "note": "x"}]}, "note"),
        "create, in a rule": ("POST", "", {**CREATE, "ipAccessList": [{**RULE, "port": 5432}]}, "port"),
        "patch": ("PATCH", f"/{sid}", {"tags": [TAG], "provider": "gcp"}, "provider"),
        "patch, storageSize": ("PATCH", f"/{sid}", {"storageSize": 118}, "storageSize"),
        "patch, in rule changes": ("PATCH", f"/{sid}", {"ipAccessList": {"add": [], "remove": [], "set": []}}, "set"),
        "patch, in a removal": ("PATCH", f"/{sid}", {"ipAccessList": {"add": [], "remove": [{"id": "x", "why": "old"}]}}, "why"),
        "state": ("PATCH", f"/{sid}/state", {"command": "restart", "force": True}, "force"),
        "password": ("PATCH", f"/{sid}/password", {"password": "Valid-Passw0rd-1", "notify": True}, "notify"),
        "config POST": ("POST", f"/{sid}/config", {**config, "message": "hi"}, "message"),
        "config PATCH": ("PATCH", f"/{sid}/config", {**config, "restart": True}, "restart"),
        "config key": ("PATCH", f"/{sid}/config", {"pgConfig": {"shared_buffers": "1GB"}, "pgBouncerConfig": {}}, "shared_buffers"),
        "read replica": ("POST", f"/{sid}/readReplica", {"name": "r", "size": "r6gd.medium"}, "size"),
        "read replica, rules": ("POST", f"/{sid}/readReplica", {"name": "r", "ipAccessList": [RULE]}, "ipAccessList"),
        "restore": ("POST", f"/{sid}/restoredService", {"name": "r", "restoreTarget": NOW, "region": "eu-west-2"}, "region"),
        "restore, rules": ("POST", f"/{sid}/restoredService", {"name": "r", "restoreTarget": NOW, "ipAccessList": []}, "ipAccessList"),
    }


CASES = list(bodies("x"))


@pytest.mark.parametrize("case", CASES)
def test_an_unknown_property_is_named_and_changes_nothing(api, target, case):
    method, path, body, unknown = bodies(target)[case]
    before = api.snapshot()
    text = error_of(api.call(method, path, json=body), 400)
    assert text.startswith("BAD_REQUEST: ") and unknown in text and "unknown" in text, text
    assert api.snapshot() == before


def test_the_error_lists_what_is_allowed(api, target):
    text = error_of(api.patch(f"/{target}", {"colour": "blue"}), 400)
    assert text == "BAD_REQUEST: body: unknown property colour; allowed: haType, ipAccessList, name, size, tags"


def test_the_deprecated_storage_size_of_older_create_bodies_is_still_accepted(api):
    """The older seed page creates with storageSize (required until the 2026-05-13 snapshot)."""
    created = api.create("older body", storageSize=500)
    assert created["storageSize"] == 118, "ignored: storage follows the size"
    api.wait_state(created["id"], "running")
