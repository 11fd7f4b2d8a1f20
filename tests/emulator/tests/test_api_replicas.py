"""Read replicas and point-in-time restore."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from emutest import emulator_fixture, error_of, wait_until

PROVISIONING, FIRST_BACKUP = 0.9, 1.5
emu = emulator_fixture(provisioning_seconds=PROVISIONING, first_backup_seconds=FIRST_BACKUP, deletion_seconds=0.3, update_seconds=0.3)
NOT_READY = "BAD_REQUEST: Parent server is not ready for read replicas. There are no backups, yet."


def parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def first_backup_due(service: dict) -> dt.datetime:
    return parse(service["createdAt"]) + dt.timedelta(seconds=PROVISIONING + FIRST_BACKUP)


def wait_for_backup(api, service: dict) -> dt.datetime:
    """When the first backup was taken (the reconciler takes it once it is due)."""
    return parse(wait_until(lambda: api.service(service["id"])["earliestRestoreTime"], 10, "the first backup"))


@pytest.fixture(scope="module")
def primary(api):
    return api.running("primary", postgresVersion="18", size="m6gd.xlarge", region="eu-west-2", tags=[{"key": "role", "value": "main"}])


def test_replica_refused_until_the_first_backup(api, primary):
    assert dt.datetime.now(dt.timezone.utc) < first_backup_due(primary), "too slow to see the refusal"
    before = api.snapshot()
    assert error_of(api.post(f"/{primary['id']}/readReplica", {"name": "early"}), 400) == NOT_READY
    assert api.snapshot() == before
    wait_for_backup(api, primary)
    assert api.post(f"/{primary['id']}/readReplica", {"name": "on time"}).status_code == 200


def test_replica_inherits_and_is_not_primary(api, primary):
    wait_for_backup(api, primary)
    replica = api.post(f"/{primary['id']}/readReplica", {"name": "reader", "tags": [{"key": "role", "value": "replica"}], "pgConfig": {"work_mem": "8MB"}})
    result = replica.json()["result"]
    assert result["isPrimary"] is False and result["state"] == "creating" and result["name"] == "reader"
    assert {k: result[k] for k in ("provider", "region", "postgresVersion", "size")} == {
        "provider": "aws", "region": "eu-west-2", "postgresVersion": "18", "size": "m6gd.xlarge"
    }  # fmt: skip
    assert result["tags"] == [{"key": "role", "value": "replica"}]
    assert result["password"] and result["connectionString"]
    running = api.wait_state(result["id"], "running")
    assert running["isPrimary"] is False
    assert {s["id"]: s["isPrimary"] for s in api.services()}[result["id"]] is False
    assert api.config(result["id"])["pgConfig"] == {"work_mem": "8MB"}


def test_replica_cannot_change_size_ha_or_tags(api, primary):
    wait_for_backup(api, primary)
    rid = api.post(f"/{primary['id']}/readReplica", {"name": "fixed"}).json()["result"]["id"]
    api.wait_state(rid, "running")
    before = api.snapshot()
    for body in ({"size": "r8gd.large"}, {"haType": "sync"}, {"tags": [{"key": "a", "value": "b"}]}, {"tags": []}):
        assert error_of(api.patch(f"/{rid}", body), 400).startswith("BAD_REQUEST: ")
    assert "read replica" in error_of(api.post(f"/{rid}/readReplica", {"name": "grandchild"}), 400)
    assert api.snapshot() == before
    # per-replica configuration is allowed
    assert api.post(f"/{rid}/config", {"pgConfig": {"work_mem": "16MB"}, "pgBouncerConfig": {}}).status_code == 200


def test_delete_primary_with_replica_is_409_until_promoted(api):
    parent = api.running("parent")
    wait_for_backup(api, parent)
    child = api.post(f"/{parent['id']}/readReplica", {"name": "child"}).json()["result"]
    api.wait_state(child["id"], "running")
    text = error_of(api.delete(f"/{parent['id']}"), 409)
    assert text.startswith("CONFLICT: ") and "replica" in text and child["id"] in text
    assert api.service(parent["id"])["state"] == "running"
    promoted = api.patch(f"/{child['id']}/state", {"command": "promote"}).json()["result"]
    assert promoted["isPrimary"] is True
    assert api.service(child["id"])["isPrimary"] is True
    assert api.patch(f"/{child['id']}", {"tags": [{"key": "now", "value": "primary"}]}).status_code == 200
    api.remove(parent["id"])
    assert api.service(child["id"])["state"] == "running"


# --- restore --------------------------------------------------------------------------------


def test_restore_target_must_be_covered_by_a_backup(api, primary):
    wait_for_backup(api, primary)
    before = api.snapshot()
    too_early = iso(parse(primary["createdAt"]) + dt.timedelta(seconds=0.1))
    assert "restoreTarget" in error_of(api.post(f"/{primary['id']}/restoredService", {"name": "early", "restoreTarget": too_early}), 400)
    future = iso(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    assert "restoreTarget" in error_of(api.post(f"/{primary['id']}/restoredService", {"name": "future", "restoreTarget": future}), 400)
    assert api.snapshot() == before


def test_restore_makes_a_new_service_through_the_restore_states(api, primary):
    target = iso(wait_for_backup(api, primary) + dt.timedelta(seconds=0.05))
    source_before = api.service(primary["id"])
    result = api.post(f"/{primary['id']}/restoredService", {"name": "restored", "restoreTarget": target, "tags": [{"key": "from", "value": "pitr"}]}).json()[
        "result"
    ]
    assert result["id"] != primary["id"] and result["name"] == "restored" and result["isPrimary"] is True
    assert {k: result[k] for k in ("region", "postgresVersion", "size")} == {k: primary[k] for k in ("region", "postgresVersion", "size")}
    assert result["tags"] == [{"key": "from", "value": "pitr"}]
    assert result["password"] == primary["password"], "a restore keeps the source backup's password"
    seen = [result["state"]]
    deadline = time.monotonic() + 10
    while seen[-1] != "running":
        assert time.monotonic() < deadline, seen
        state = api.service(result["id"])["state"]
        if state != seen[-1]:
            seen.append(state)
        time.sleep(0.02)
    assert seen == ["restoring_backup", "replaying_wal", "finalizing_restore", "running"]
    assert api.service(primary["id"]) == source_before


def test_restore_of_an_unknown_service_is_404(api):
    target = iso(dt.datetime.now(dt.timezone.utc))
    assert error_of(api.post("/00000000-0000-4000-8000-000000000000/restoredService", {"name": "x", "restoreTarget": target}), 404)


def test_prometheus_lists_every_state(api):
    """One PostgresServiceInfo line per service, postgres_status being its state."""
    text = api.get("/prometheus").text
    for svc in api.services():
        lines = [line for line in text.splitlines() if f'postgres_service="{svc["id"]}"' in line and line.startswith("PostgresServiceInfo")]
        assert len(lines) == 1 and f'postgres_status="{svc["state"]}"' in lines[0], svc
