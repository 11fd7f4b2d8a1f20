"""Starting the emulator as a process: a data dir the PostgreSQL user cannot reach works,
a start that cannot work says why in one line and exits 1, and nothing prints a secret."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from chc_emulator.app import remove_data_dir
from chc_emulator.backend.layout import RELOCATION_PARENTS
from chc_emulator.testing import EmulatorProcess
from emutest import Api, needs_postgres, postgres_processes_under, wait_until

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the servers run as another user only when the emulator is root")


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A 0700 directory of root's, like /root or a `mktemp -d`: the `postgres` user cannot enter it."""
    parent = Path(tempfile.mkdtemp(prefix="chc-emu-private-"))
    yield parent
    remove_data_dir(parent / "data")
    shutil.rmtree(parent, ignore_errors=True)


def start_failure(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chc_emulator", *args], capture_output=True, text=True, timeout=60)


def assert_one_line_failure(ran: subprocess.CompletedProcess, reason: str) -> None:
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr and "Traceback" not in ran.stdout
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot start: " in lines[0] and reason in lines[0], ran.stderr


def rows(connection_string: str, sql: str) -> list[tuple]:
    with psycopg.connect(connection_string, connect_timeout=10) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


@needs_root
@needs_postgres
def test_a_data_dir_under_a_0700_directory_serves_real_servers_and_survives_sigkill(private_dir):
    emu = EmulatorProcess(private_dir / "data", provisioning_seconds=0.5)
    try:
        api = Api(emu.start())
        svc = api.running("private")
        rows(svc["connectionString"], "CREATE TABLE kept AS SELECT 'before the crash' AS v")

        servers = (emu.data_dir / "postgres").resolve()
        assert servers.parent in RELOCATION_PARENTS, f"the servers must live where their user can reach them, not in {servers}"
        owner = servers.stat()
        assert (owner.st_uid, stat.S_IMODE(owner.st_mode)) == (pwd.getpwnam("postgres").pw_uid, 0o700)
        assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700, "the user's directory must not be chmodded"
        assert f"in {servers} " in emu.log_text(), "the banner says where the servers are"
        assert postgres_processes_under(servers), "the /proc scan must see the running server (control)"
        api.close()

        assert emu.stop(signal.SIGKILL) == -signal.SIGKILL
        wait_until(lambda: not postgres_processes_under(servers), 10, "the servers of a killed emulator to exit")
        api = Api(emu.start())
        again = api.wait_state(svc["id"], "running")
        assert (emu.data_dir / "postgres").resolve() == servers
        value = wait_until(lambda: _answer(again["connectionString"], "SELECT v FROM kept"), 30, "the server to answer again")
        assert value == [("before the crash",)]
        api.close()
    finally:
        emu.stop()


def _answer(connection_string: str, sql: str) -> list[tuple] | None:
    try:
        return rows(connection_string, sql)
    except psycopg.OperationalError:
        return None



@needs_root
@needs_postgres
def test_a_umask_of_077_still_lets_the_servers_into_their_directories(spawn):
    umask = os.umask(0o077)  # the emulator inherits it; hardened root accounts have 027 or 077
    try:
        emu = spawn(postgres=True, provisioning_seconds=0.5)
    finally:
        os.umask(umask)
    api = Api(emu)
    svc = api.running("masked")
    assert rows(svc["connectionString"], "SELECT 1") == [(1,)]
    assert stat.S_IMODE((emu.data_dir / "state.db").stat().st_mode) == 0o600, "files keep the umask"
    api.close()

def test_a_data_dir_that_is_a_file_fails_in_one_line(tmp_path):
    file = tmp_path / "not-a-dir"
    file.write_text("")
    ran = start_failure("--data-dir", str(file), "--port", "0")
    assert_one_line_failure(ran, "is not a directory")


def test_a_taken_port_fails_in_one_line_before_any_server_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = start_failure("--data-dir", str(tmp_path / "data"), "--port", str(port), "--host", "127.0.0.1")
    try:
        assert_one_line_failure(ran, f"cannot listen on 127.0.0.1:{port}")
        assert not (tmp_path / "data" / "postgres" / "template").exists(), "nothing is prepared before the port is open"
    finally:
        remove_data_dir(tmp_path / "data")



def test_the_banner_names_keys_and_roles_but_no_secret(spawn):
    emu = spawn()
    banner = emu.log_text()
    assert f"{emu.admin_key[0]} (admin)" in banner and f"{emu.readonly_key[0]} (developer)" in banner
    for _, secret in (emu.admin_key, emu.readonly_key):
        assert secret not in banner


def test_keys_from_the_environment_work_and_stay_off_the_command_line(tmp_path):
    env_file = tmp_path / "data" / "emulator.env"
    ctl = Path(__file__).resolve().parents[3] / "tools" / "emulator-ctl"
    started = subprocess.run(
        [str(ctl), "start", str(env_file.parent)], capture_output=True, text=True, timeout=90,
        env={**os.environ, "CHC_EMULATOR_ARGS": "--no-postgres --rate-limit off"},
    )
    try:
        assert started.returncode == 0, started.stderr
        env = dict(line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines())
        secrets = (env["CLICKHOUSE_CLOUD_API_SECRET"], env["CHC_TEST_RO_SECRET"])
        for holder in (env_file, env_file.with_name("emulator-vars.yml")):
            assert stat.S_IMODE(holder.stat().st_mode) == 0o600, f"{holder.name} holds the admin secret"
        command_line = Path(f"/proc/{env['CHC_EMULATOR_PID']}/cmdline").read_bytes().decode()
        log = env_file.with_name("emulator.log").read_text()
        assert env["CLICKHOUSE_CLOUD_API_KEY"] in log and env["CHC_TEST_RO_KEY"] in log
        assert not [s for s in secrets if s in command_line or s in log]
        org = f"{env['CLICKHOUSE_API_URL']}/organizations/{env['CLICKHOUSE_ORG_ID']}/postgres"
        for key, secret, status in ((env["CLICKHOUSE_CLOUD_API_KEY"], secrets[0], 200), (env["CHC_TEST_RO_KEY"], secrets[1], 200),
                                    (env["CLICKHOUSE_CLOUD_API_KEY"], secrets[1], 401)):
            assert httpx.get(org, auth=(key, secret), timeout=10).status_code == status
    finally:
        subprocess.run([str(ctl), "stop", str(env_file.parent)], capture_output=True, timeout=90, check=False)


def test_a_malformed_key_in_the_environment_is_a_usage_error():
    ran = subprocess.run([sys.executable, "-m", "chc_emulator", "--no-postgres"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "CHC_EMULATOR_KEYS": "id-without-secret"})
    assert ran.returncode == 2 and "CHC_EMULATOR_KEYS: expected ID:SECRET" in ran.stderr and "Traceback" not in ran.stderr


def test_a_failed_start_in_a_with_block_leaves_no_data_dir_behind():
    emu = EmulatorProcess(no_postgres=True, rate_limit="nonsense")
    with pytest.raises(RuntimeError, match="exited with 2"):
        with emu:
            pass
    assert not emu.data_dir.exists()
