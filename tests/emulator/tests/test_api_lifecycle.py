"""Asynchronous life of a service: create, resize, tags, restart, delete, config, password,
and credential redaction."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from emutest import Api, emulator_fixture, error_of, wait_until

PROVISIONING, UPDATE, RESTART, DELETION = 0.6, 0.6, 0.4, 0.4
emu = emulator_fixture(provisioning_seconds=PROVISIONING, update_seconds=UPDATE, restart_seconds=RESTART, deletion_seconds=DELETION, first_backup_seconds=60)
SEED = Path("/work/shared/seeds/000_4b07e85ef9958e9b.txt")
# The restart sentence of the seeds' config example, for one key.
SEED_MESSAGE = (
    "The changes in the following parameters require a database restart to take effect: max_connections. "
    "You can restart the database by using the restart endpoint."
)


def states_until(api: Api, service_id: str, final: str, timeout: float = 10) -> list[tuple[float, str]]:
    """(elapsed seconds, state) at each change, until `final`."""
    start, seen = time.monotonic(), []
    while True:
        state = api.service(service_id)["state"]
        if not seen or seen[-1][1] != state:
            seen.append((time.monotonic() - start, state))
        if state == final:
            return seen
        assert time.monotonic() - start < timeout, f"stuck in {seen}"
        time.sleep(0.03)


def test_create_returns_creating_with_credentials_then_runs(api):
    started = time.monotonic()
    svc = api.create("life one", postgresVersion="18")
    assert svc["state"] == "creating" and svc["isPrimary"] is True
    assert svc["username"] == "postgres"
    assert re.fullmatch(r"[A-Za-z0-9_-]{12,}", svc["password"])
    url = urlsplit(svc["connectionString"])
    assert (url.scheme, url.username, url.password, url.hostname) == ("postgres", "postgres", svc["password"], svc["hostname"])
    assert (url.path, url.query) == ("/postgres", "channel_binding=require") and url.port
    assert (svc["postgresVersion"], svc["haType"], svc["tags"], svc["storageSize"]) == ("18", "none", [], 118)
    seen = states_until(api, svc["id"], "running")
    assert [state for _, state in seen] == ["creating", "running"]
    assert time.monotonic() - started >= PROVISIONING
    listed = {s["id"]: s for s in api.services()}[svc["id"]]
    assert listed["state"] == "running" and "password" not in listed and "connectionString" not in listed


def test_defaults(api):
    svc = api.create("defaults")
    assert (svc["postgresVersion"], svc["haType"], svc["provider"]) == ("17", "none", "aws")


@pytest.mark.parametrize("field, new", [("size", "r6gd.medium"), ("haType", "async")])
def test_resize_and_ha_show_old_values_until_applied(api, field, new):
    svc = api.running(f"change {field}")
    old = svc[field]
    changed_at = time.monotonic()
    response = api.patch(f"/{svc['id']}", {field: new})
    assert response.status_code == 200
    assert response.json()["result"][field] == old, "the change must not show at once"
    assert api.service(svc["id"])[field] == old
    assert {s["id"]: s for s in api.services()}[svc["id"]][field] == old
    wait_until(lambda: api.service(svc["id"])[field] == new, 5, f"{field} to become {new}")
    assert time.monotonic() - changed_at >= UPDATE
    after = api.service(svc["id"])
    assert after["state"] == "running"
    if field == "size":
        assert after["storageSize"] == 59  # r6gd.medium, as in the docs' list example


def test_tags_replace_the_whole_set(api):
    svc = api.running("tagged", tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    result = api.patch(f"/{svc['id']}", {"tags": [{"key": "Environment", "value": "production"}]}).json()["result"]
    assert result["tags"] == [{"key": "Environment", "value": "production"}]
    assert api.service(svc["id"])["tags"] == [{"key": "Environment", "value": "production"}]
    assert api.patch(f"/{svc['id']}", {"name": "renamed"}).json()["result"]["tags"] == [{"key": "Environment", "value": "production"}]
    assert api.service(svc["id"])["name"] == "renamed"
    assert api.patch(f"/{svc['id']}", {"tags": []}).json()["result"]["tags"] == []
    assert api.service(svc["id"])["tags"] == []


def test_restart_passes_restarting(api):
    svc = api.running("restart me")
    result = api.patch(f"/{svc['id']}/state", {"command": "restart"}).json()["result"]
    assert result["state"] == "restarting"
    seen = states_until(api, svc["id"], "running")
    assert [state for _, state in seen] == ["restarting", "running"]
    assert seen[-1][0] >= RESTART * 0.8


def test_state_commands_need_a_running_service(api):
    svc = api.create("still creating")
    assert error_of(api.patch(f"/{svc['id']}/state", {"command": "restart"}), 409).startswith("CONFLICT: ")
    api.wait_state(svc["id"], "running")
    assert "promote" in error_of(api.patch(f"/{svc['id']}/state", {"command": "promote"}), 400)


def test_switchover_on_a_primary(api):
    svc = api.running("switch")
    assert api.patch(f"/{svc['id']}/state", {"command": "switchover"}).json()["result"]["state"] == "restarting"
    assert [s for _, s in states_until(api, svc["id"], "running")] == ["restarting", "running"]


def test_delete_passes_deleting_then_404(api):
    svc = api.running("delete me")
    assert api.delete(f"/{svc['id']}").status_code == 200
    assert api.service(svc["id"])["state"] == "deleting"
    assert {s["id"]: s["state"] for s in api.services()}[svc["id"]] == "deleting"
    assert error_of(api.delete(f"/{svc['id']}"), 409).startswith("CONFLICT: ")
    assert error_of(api.patch(f"/{svc['id']}", {"tags": []}), 409)
    wait_until(lambda: api.get(f"/{svc['id']}").status_code == 404, 5, "deletion")
    assert svc["id"] not in {s["id"] for s in api.services()}
    assert error_of(api.get(f"/{svc['id']}/config"), 404)


# --- config ---------------------------------------------------------------------------------


def test_config_returns_user_set_keys_as_strings(api):
    svc = api.create("configured", pgConfig={"max_connections": 42, "random_page_cost": 1.5, "work_mem": "4MB"}, pgBouncerConfig={"default_pool_size": "16"})
    assert api.config(svc["id"]) == {
        "pgConfig": {"max_connections": "42", "random_page_cost": "1.5", "work_mem": "4MB"},
        "pgBouncerConfig": {"default_pool_size": "16"},
    }
    fresh = api.create("unconfigured")
    assert api.config(fresh["id"]) == {"pgConfig": {}, "pgBouncerConfig": {}}


def test_post_config_replaces_and_patch_merges(api):
    sid = api.running("config modes", pgConfig={"work_mem": "4MB", "lock_timeout": "10s"}, pgBouncerConfig={"pool_mode": "session"})["id"]
    replaced = api.post(f"/{sid}/config", {"pgConfig": {"statement_timeout": 60000}, "pgBouncerConfig": {}}).json()["result"]
    assert replaced == {"pgConfig": {"statement_timeout": "60000"}, "pgBouncerConfig": {}}
    assert api.config(sid) == {"pgConfig": {"statement_timeout": "60000"}, "pgBouncerConfig": {}}
    merged = api.patch(f"/{sid}/config", {"pgConfig": {"work_mem": "8MB"}, "pgBouncerConfig": {"default_pool_size": "20"}}).json()["result"]
    assert merged == {"pgConfig": {"statement_timeout": "60000", "work_mem": "8MB"}, "pgBouncerConfig": {"default_pool_size": "20"}}
    removed = api.patch(f"/{sid}/config", {"pgConfig": {"statement_timeout": None}, "pgBouncerConfig": {"default_pool_size": None}}).json()["result"]
    assert removed == {"pgConfig": {"work_mem": "8MB"}, "pgBouncerConfig": {}}
    assert api.config(sid) == removed
    assert api.patch(f"/{sid}/config", {"pgConfig": {}, "pgBouncerConfig": {}}).json()["result"] == removed
    assert api.post(f"/{sid}/config", {"pgConfig": {}, "pgBouncerConfig": {}}).json()["result"] == {"pgConfig": {}, "pgBouncerConfig": {}}


def test_restart_message_is_the_seeds_sentence(api):
    assert SEED_MESSAGE in SEED.read_text(encoding="utf-8"), "the seed's own text"
    sid = api.running("messages", postgresVersion="18")["id"]
    # The seed's exact call and answer.
    result = api.post(f"/{sid}/config", {"pgConfig": {"max_connections": "42"}, "pgBouncerConfig": {}}).json()["result"]
    assert result == {"pgConfig": {"max_connections": "42"}, "pgBouncerConfig": {}, "message": SEED_MESSAGE}
    patched = api.patch(f"/{sid}/config", {"pgConfig": {"max_connections": 100}, "pgBouncerConfig": {}}).json()["result"]
    assert patched["message"] == SEED_MESSAGE
    reload_only = api.patch(f"/{sid}/config", {"pgConfig": {"work_mem": "16MB"}, "pgBouncerConfig": {}}).json()["result"]
    assert "message" not in reload_only
    bouncer_only = api.post(f"/{sid}/config", {"pgConfig": {"max_connections": "100", "work_mem": "16MB"}, "pgBouncerConfig": {"pool_mode": "transaction"}})
    assert "message" not in bouncer_only.json()["result"]
    two = api.patch(f"/{sid}/config", {"pgConfig": {"max_connections": 7, "max_worker_processes": 4}, "pgBouncerConfig": {}}).json()["result"]
    assert two["message"] == SEED_MESSAGE.replace(": max_connections.", ": max_connections, max_worker_processes.")


# --- password -------------------------------------------------------------------------------


def test_password_reset(api):
    svc = api.running("passwords")
    first = api.patch(f"/{svc['id']}/password", {}).json()["result"]
    second = api.patch(f"/{svc['id']}/password", {}).json()["result"]
    assert set(first) == {"password"} and set(second) == {"password"}
    assert len({svc["password"], first["password"], second["password"]}) == 3
    for password in (first["password"], second["password"]):
        assert len(password) >= 12 and re.search("[a-z]", password) and re.search("[A-Z]", password) and re.search("[0-9]", password)
    assert api.service(svc["id"])["password"] == second["password"]
    assert api.patch(f"/{svc['id']}/password", {"password": "Chosen-Passw0rd"}).json()["result"] == {}
    now = api.service(svc["id"])
    assert now["password"] == "Chosen-Passw0rd" and ":Chosen-Passw0rd@" in now["connectionString"]


# --- redaction ------------------------------------------------------------------------------


def test_credentials_redacted_when_asked(spawn, client):
    api = client(spawn(redact_credentials=True, provisioning_seconds=0.2))
    created = api.create("secret")
    assert created["password"] and created["connectionString"]
    sid = created["id"]
    got = api.wait_state(sid, "running")
    assert "password" not in got and "connectionString" not in got
    assert got["username"] == "postgres" and got["hostname"]
    patched = api.patch(f"/{sid}", {"tags": [{"key": "a", "value": "b"}]}).json()["result"]
    assert "password" not in patched and "connectionString" not in patched
    restarted = api.patch(f"/{sid}/state", {"command": "restart"}).json()["result"]
    assert "password" not in restarted and "connectionString" not in restarted
    assert all("password" not in s and "connectionString" not in s for s in api.services())
    reset = api.patch(f"/{sid}/password", {}).json()["result"]
    assert reset["password"] and reset["password"] != created["password"]
    assert "password" not in api.service(sid)
