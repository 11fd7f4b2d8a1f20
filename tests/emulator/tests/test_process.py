"""The emulator as a process: crash and restart on the same data directory, clean shutdown,
and no PostgreSQL server outliving it."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from chc_emulator.testing import EmulatorProcess
from emutest import Api, needs_postgres, postgres_processes_under, wait_until


def psql(connection_string: str, sql: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", connection_string, "-v", "ON_ERROR_STOP=1", "-Atc", sql], capture_output=True, text=True, timeout=30, **kwargs)


def settled_snapshot(api: Api) -> dict:
    wait_until(lambda: all(s["state"] == "running" for s in api.services()), 30, "every service to run")
    return api.snapshot()


def test_sigkill_and_restart_keeps_every_service(spawn):
    emu = spawn(provisioning_seconds=0.3, update_seconds=1.0)
    api = Api(emu)
    a = api.running("alpha", tags=[{"key": "env", "value": "prod"}], pgConfig={"max_connections": 42}, pgBouncerConfig={"pool_mode": "session"})
    api.running("beta", postgresVersion="18", haType="sync")
    api.patch(f"/{a['id']}/config", {"pgConfig": {"work_mem": "8MB"}, "pgBouncerConfig": {}})
    api.patch(f"/{a['id']}/password", {"password": "Kept-Passw0rd!"})
    before = settled_snapshot(api)
    api.patch(f"/{a['id']}", {"size": "r6gd.medium"})  # lands after the crash
    creating = api.create("gamma")  # becomes running after the crash
    api.close()

    assert emu.stop(signal.SIGKILL) == -signal.SIGKILL
    emu.start()
    api = Api(emu)
    assert api.service(creating["id"])["name"] == "gamma"
    wait_until(lambda: api.service(a["id"])["size"] == "r6gd.medium", 10, "the resize accepted before the crash")
    after = settled_snapshot(api)
    api.close()
    gamma = after["services"].pop(creating["id"])
    assert gamma["state"] == "running" and after["configs"].pop(creating["id"]) == {"pgConfig": {}, "pgBouncerConfig": {}}
    resized = after["services"][a["id"]]
    assert (resized["size"], resized["storageSize"]) == ("r6gd.medium", 59)
    before["services"][a["id"]].update(size="r6gd.medium", storageSize=59)
    assert after["services"] == before["services"]
    assert after["configs"] == before["configs"]
    assert after["services"][a["id"]]["password"] == "Kept-Passw0rd!"


@needs_postgres
def test_sigkill_leaves_no_server_and_restart_keeps_the_data(spawn):
    emu = spawn(postgres=True, provisioning_seconds=0.5)
    api = Api(emu)
    svc = api.running("durable", tags=[{"key": "keep", "value": "me"}], pgConfig={"work_mem": "5MB"})
    setup = psql(svc["connectionString"], "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before the crash')")
    assert setup.returncode == 0, setup.stderr
    assert postgres_processes_under(emu.data_dir), "the /proc scan must see the running server (control)"
    api.close()

    assert emu.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_until(lambda: not postgres_processes_under(emu.data_dir), 10, "the servers of a killed emulator to exit")

    emu.start()
    api = Api(emu)
    again = api.service(svc["id"])
    assert again["tags"] == [{"key": "keep", "value": "me"}] and api.config(svc["id"])["pgConfig"] == {"work_mem": "5MB"}
    row = wait_until(lambda: (r := psql(again["connectionString"], "SELECT v FROM kept")).returncode == 0 and r, 30, "the server to answer again")
    assert row.stdout.strip() == "before the crash"
    assert psql(again["connectionString"], "SHOW work_mem").stdout.strip() == "5MB"
    api.close()


@needs_postgres
def test_sigterm_stops_every_server_and_exits_0(spawn):
    emu = spawn(postgres=True, provisioning_seconds=0.5)
    api = Api(emu)
    first, second = api.create("one"), api.create("two")
    for svc in (first, second):
        api.wait_state(svc["id"], "running", 60)
        assert psql(svc["connectionString"], "SELECT 1").stdout.strip() == "1"
    api.close()
    postmasters = [cmd for _, cmd in postgres_processes_under(emu.data_dir) if " -D " in cmd]
    assert len(postmasters) == 2, f"the /proc scan must see both servers (control): {postmasters}"
    assert emu.stop(signal.SIGTERM) == 0
    left = postgres_processes_under(emu.data_dir)
    assert not left, f"PostgreSQL processes outlived the emulator: {left}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_no_postgres_exits_0_on_signal(spawn, sig):
    emu = spawn()
    started = time.monotonic()
    assert emu.stop(sig) == 0
    assert time.monotonic() - started < 5


def test_zero_valued_options_reach_the_command_line():
    """0 and 0.0 are values (no provisioning delay), not 'leave the flag out' like False and None."""
    cmd = EmulatorProcess(data_dir="/nonexistent", provisioning_seconds=0.0, rate_limit="off", no_postgres=False,
                          seed=None).command()
    assert cmd[cmd.index("--provisioning-seconds") + 1] == "0.0"
    assert "--no-postgres" not in cmd and "--seed" not in cmd
