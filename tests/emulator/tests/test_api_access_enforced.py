"""ipAccessList enforced by the real PostgreSQL server: its pg_hba.conf admits only the sources
whose rule covers the Postgres port (5432), and a PATCH takes effect with a reload, no restart.

Everything here connects from 127.0.0.1, so a rule for 10.0.0.0/8 alone refuses psql and
psycopg, and a rule for 127.0.0.1/32 admits them.
"""

from __future__ import annotations

import psycopg
import pytest
from emutest import admitted, emulator_fixture, needs_postgres, sql_value, wait_until

pytestmark = needs_postgres

emu = emulator_fixture(postgres=True, provisioning_seconds=0.3, restart_seconds=0.3, deletion_seconds=0.3)

LOCAL = {"source": "127.0.0.1/32", "portRange": "5432", "description": "this host"}
ELSEWHERE = {"source": "10.0.0.0/8", "portRange": "5432..6432"}


def started_at(connection_string: str) -> str:
    return sql_value(connection_string, "SELECT pg_postmaster_start_time()")


def change_rules(api, sid: str, add: list[dict] = (), remove: list[str] = ()) -> list[dict]:
    response = api.patch(f"/{sid}", {"ipAccessList": {"add": list(add), "remove": [{"id": i} for i in remove]}})
    assert response.status_code == 200, response.text
    return response.json()["result"]["ipAccessList"]


def test_without_rules_every_address_is_admitted(api):
    svc = api.running("open")
    assert admitted(svc["connectionString"])


def test_an_empty_list_admits_nobody_yet_the_emulator_still_manages_the_server(api):
    svc = api.running("closed", ipAccessList=[])
    assert not admitted(svc["connectionString"])
    # its own sessions are not the API's: config, password and statistics still reach the server
    assert api.patch(f"/{svc['id']}/config", {"pgConfig": {"work_mem": "9MB"}, "pgBouncerConfig": {}}).status_code == 200
    assert api.patch(f"/{svc['id']}/password", {"password": "Closed-Passw0rd-9"}).status_code == 200
    assert 'postgres_status="running"' in api.get(f"/{svc['id']}/prometheus").text
    opened = change_rules(api, svc["id"], add=[LOCAL])
    cs = api.service(svc["id"])["connectionString"]
    assert ":Closed-Passw0rd-9@" in cs and admitted(cs)
    assert sql_value(cs, "SHOW work_mem") == "9MB"
    assert opened[0]["source"] == "127.0.0.1/32"


def test_a_rule_elsewhere_refuses_and_an_added_rule_admits_without_a_restart(api):
    svc = api.running("guarded", ipAccessList=[ELSEWHERE])
    cs = svc["connectionString"]
    assert not admitted(cs)
    rules = change_rules(api, svc["id"], add=[LOCAL])
    assert admitted(cs), "live when the PATCH answers"
    started = started_at(cs)
    assert api.service(svc["id"])["state"] == "running"

    local_id = next(rule["id"] for rule in rules if rule["source"] == LOCAL["source"])
    change_rules(api, svc["id"], remove=[local_id])
    assert not admitted(cs)
    change_rules(api, svc["id"], add=[{"source": "127.0.0.0/8", "portRange": "1..65535"}])
    assert admitted(cs)
    assert started_at(cs) == started, "pg_hba.conf reloaded, the server not restarted"


def test_only_rules_that_cover_5432_count(api):
    """6432 is PgBouncer's port; the emulator's server stands for 5432 only."""
    svc = api.running("bouncer only", ipAccessList=[{"source": "127.0.0.1", "portRange": "6432"}, {"source": "0.0.0.0/0", "portRange": "5433..6432"}])
    assert not admitted(svc["connectionString"])
    change_rules(api, svc["id"], add=[{"source": "0.0.0.0/0", "portRange": "5000..5432"}])
    assert admitted(svc["connectionString"])


def test_an_open_session_outlives_a_removed_rule(api):
    """pg_hba.conf is read when a connection starts, as a firewall rule change is for new flows."""
    svc = api.running("session", ipAccessList=[LOCAL])
    with psycopg.connect(svc["connectionString"], connect_timeout=10) as conn:
        change_rules(api, svc["id"], remove=[svc["ipAccessList"][0]["id"]])
        assert not admitted(svc["connectionString"])
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_rules_survive_a_restart(api):
    svc = api.running("restarted", ipAccessList=[ELSEWHERE])
    assert api.patch(f"/{svc['id']}/state", {"command": "restart"}).status_code == 200
    api.wait_state(svc["id"], "running", 60)
    assert not admitted(svc["connectionString"])
    change_rules(api, svc["id"], add=[LOCAL])
    assert api.patch(f"/{svc['id']}/state", {"command": "restart"}).status_code == 200
    api.wait_state(svc["id"], "running", 60)
    assert admitted(svc["connectionString"])


def test_a_patch_while_creating_is_what_the_server_starts_with(api):
    svc = api.create("young", ipAccessList=[LOCAL])
    change_rules(api, svc["id"], add=[ELSEWHERE], remove=[svc["ipAccessList"][0]["id"]])
    api.wait_state(svc["id"], "running")
    wait_until(lambda: not admitted(svc["connectionString"]), 10, "the server to follow the rules it was given while creating")


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.1/32", "127.0.0.0/8", "0.0.0.0/0", "127.0.0.1/8"])
def test_sources_that_cover_this_host(api, source):
    svc = api.running(f"covers {source}", ipAccessList=[{"source": source, "portRange": "5432"}])
    assert admitted(svc["connectionString"])
    api.remove(svc["id"])
