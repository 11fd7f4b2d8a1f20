"""gcp as a provider (live API of October 2026), with sizes of its own, named as clickhousectl
0.5.0 names them (c4a-highmem-lssd-4, z3-highmem-highlssd-8, ...)."""

from __future__ import annotations

import pytest
from emutest import emulator_fixture, error_of, wait_until

emu = emulator_fixture(provisioning_seconds=0.2, update_seconds=0.2, first_backup_seconds=0.2, deletion_seconds=0.2)

GCP = {"name": "on gcp", "provider": "gcp", "region": "us-central1", "size": "c4a-highmem-lssd-4"}


@pytest.mark.parametrize(
    "size, storage",
    [
        ("c4a-highmem-lssd-4", 236),
        ("c4-standard-lssd-288", 16992),
        ("c4d-highmem-lssd-384", 22656),
        ("z3-highmem-highlssd-8", 472),
        ("z3-highmem-standardlssd-176", 10384),
    ],
)
def test_create_on_gcp(api, size, storage):
    created = api.create(**{**GCP, "size": size})
    assert (created["provider"], created["region"], created["size"], created["storageSize"]) == ("gcp", "us-central1", size, storage)
    running = api.wait_state(created["id"], "running")
    assert running["provider"] == "gcp"
    assert {s["id"]: s["provider"] for s in api.services()}[created["id"]] == "gcp"
    api.remove(created["id"])


@pytest.mark.parametrize(
    "provider, size",
    [("gcp", "r8gd.large"), ("aws", "c4a-highmem-lssd-4"), ("gcp", "c4a-highmem-4"), ("gcp", "z3-highlssd-8")],
    ids=["aws size on gcp", "gcp size on aws", "reference.md's name", "reference.md's z3 name"],
)
def test_a_size_of_another_provider_is_refused(api, provider, size):
    before = api.snapshot()
    text = error_of(api.post("", {**GCP, "provider": provider, "size": size}), 400)
    assert "size" in text and size in text, text
    assert api.snapshot() == before


def test_resize_stays_within_the_provider_and_replicas_inherit_it(api):
    svc = api.running("gcp resize", provider="gcp", region="europe-west4", size="c4-highmem-lssd-8")
    before = api.snapshot()
    assert "provider gcp" in error_of(api.patch(f"/{svc['id']}", {"size": "m6gd.xlarge"}), 400)
    assert api.snapshot() == before
    assert api.patch(f"/{svc['id']}", {"size": "c4-highmem-lssd-16"}).status_code == 200
    wait_until(lambda: api.service(svc["id"])["size"] == "c4-highmem-lssd-16", 5, "the resize")
    wait_until(lambda: api.service(svc["id"])["earliestRestoreTime"], 5, "the first backup")
    replica = api.post(f"/{svc['id']}/readReplica", {"name": "gcp replica"}).json()["result"]
    assert (replica["provider"], replica["region"], replica["size"]) == ("gcp", "europe-west4", "c4-highmem-lssd-16")
    api.wait_state(replica["id"], "running")
