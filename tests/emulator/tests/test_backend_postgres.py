"""PostgresBackend against real PostgreSQL 15 servers (run as root to exercise the postgres-user path).

One template and one main service are shared by the module; tests that stop, break or kill
servers use services of their own.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse

import psycopg
import pytest
from chc_emulator.backend import BackendError, NullBackend, PostgresBackend
from chc_emulator.backend.stats import zero_stats

PASSWORD = "Main-Passw0rd-123"
EMULATOR_ROOT = pathlib.Path(__file__).resolve().parents[1]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def psql(conninfo: str, sql: str, app: str = "psql", password: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PGAPPNAME": app, "PGCONNECT_TIMEOUT": "5"}
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(["/usr/bin/psql", "-X", "-v", "ON_ERROR_STOP=0", "-tA", conninfo, "-c", sql], capture_output=True, text=True, env=env, timeout=30)


def url(backend: PostgresBackend, service_id: str, password: str = PASSWORD) -> str:
    """The API's connectionString (for the ASCII passwords the API generates, verbatim)."""
    endpoint = backend.endpoint(service_id)
    return f"postgres://postgres:{urllib.parse.quote(password, safe='')}@{endpoint.host}:{endpoint.port}/postgres?channel_binding=require"


def processes_in(pgdata: pathlib.Path) -> list[int]:
    """Pids of processes working in pgdata: a postmaster and all of its children."""
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if pathlib.Path(os.readlink(proc / "cwd")) == pgdata:
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


def wait_for(condition, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture(scope="module")
def data_dir():
    base = pathlib.Path(tempfile.mkdtemp(dir="/tmp", prefix="chc-backend-"))
    base.chmod(0o755)
    # Longer than a Unix socket path may be (107 bytes): the servers must not need one.
    path = base / ("d" * 60) / ("e" * 60)
    path.mkdir(parents=True)
    for parent in (path, path.parent):
        parent.chmod(0o755)
    yield path
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def messages():
    return []


@pytest.fixture(scope="module")
def backend(data_dir, messages):
    started = time.monotonic()
    backend = PostgresBackend(data_dir, log=messages.append)
    backend.prepare()
    print(f"\nprepare (template build): {time.monotonic() - started:.2f}s")
    yield backend
    backend.shutdown()
    assert not any(processes_in(service.pgdata) for service in backend.data.existing_services())


@pytest.fixture(scope="module")
def main(backend):
    started = time.monotonic()
    backend.provision("main", PASSWORD, {"work_mem": "8MB"})
    backend.start("main")
    assert backend.is_ready("main")
    print(f"\nprovision+start+ready: {time.monotonic() - started:.2f}s")
    return "main"


def fresh_service(backend: PostgresBackend, name: str, password: str = PASSWORD) -> str:
    backend.provision(name, password, {})
    backend.start(name)
    return name


# -- connecting ----------------------------------------------------------------------------


def test_connection_string_works_verbatim_with_psql(backend, main):
    ran = psql(url(backend, main), "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "postgres|t"
    assert len(str(backend.data.root)) > 107


def test_verify_full_with_the_service_ca(backend, main, tmp_path):
    port = backend.endpoint(main).port
    ca_file = backend.data.service(main).ca_file
    for host in ("127.0.0.1", "localhost"):
        ran = psql(f"host={host} port={port} dbname=postgres user=postgres sslmode=verify-full sslrootcert={ca_file}", "SELECT 1", password=PASSWORD)
        assert ran.returncode == 0, f"{host}: {ran.stderr}"
    assert backend.ca_certificate(main) == ca_file.read_text()
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(NullBackend(tmp_path).ca_certificate("x"))
    ran = psql(f"host=localhost port={port} dbname=postgres user=postgres sslmode=verify-full sslrootcert={other_ca}", "SELECT 1", password=PASSWORD)
    assert ran.returncode != 0 and "certificate verify failed" in ran.stderr


def test_connections_without_ssl_are_rejected(backend, main):
    port = backend.endpoint(main).port
    ran = psql(f"host=localhost port={port} dbname=postgres user=postgres sslmode=disable", "SELECT 1", password=PASSWORD)
    assert ran.returncode != 0 and "pg_hba.conf rejects connection" in ran.stderr


def test_server_runs_as_postgres_and_survives_the_thread_that_started_it(backend):
    service_id = "thread-start"
    backend.provision(service_id, PASSWORD, {})
    starter = threading.Thread(target=backend.start, args=(service_id,))
    starter.start()
    starter.join()
    time.sleep(0.5)  # a death signal tied to the exited thread would have fired by now
    assert backend.is_ready(service_id)
    pids = processes_in(backend.data.service(service_id).pgdata)
    uids = {pathlib.Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0] for pid in pids}
    assert uids == {str(backend._pg.uid)}
    backend.destroy(service_id)


def test_lifecycle_calls_are_idempotent(backend):
    service_id = "idempotent"
    first = backend.provision(service_id, PASSWORD, {})
    assert backend.provision(service_id, "Other-Passw0rd-999", {"work_mem": "1MB"}) == first
    assert not backend.is_ready(service_id)
    backend.start(service_id)
    backend.start(service_id)
    assert backend.is_ready(service_id)
    backend.stop(service_id)
    backend.stop(service_id)
    assert not backend.is_ready(service_id)
    assert psql(url(backend, service_id), "SELECT 1").returncode != 0
    backend.destroy(service_id)
    backend.destroy(service_id)
    assert not backend.data.service(service_id).root.exists()
    with pytest.raises(KeyError):
        backend.endpoint(service_id)


def test_start_waits_out_a_port_held_for_a_moment(backend, messages):
    """A just-stopped server's port can still be held briefly: the start waits, not fails (or drops settings)."""
    service_id = fresh_service(backend, "busy-port")
    backend.stop(service_id)
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", backend.endpoint(service_id).port))
    holder.listen()
    threading.Timer(1.0, holder.close).start()
    backend.start(service_id)
    assert backend.is_ready(service_id) and psql(url(backend, service_id), "SELECT 1").returncode == 0
    assert any(service_id in m and "still in use" in m for m in messages)
    assert not any(service_id in m and "did not start with the new pgConfig" in m for m in messages)
    backend.destroy(service_id)


# -- password and configuration ------------------------------------------------------------


def test_set_password_running_and_stopped(backend):
    service_id = fresh_service(backend, "password")
    new_password = "New-Passw0rd-456"
    backend.set_password(service_id, new_password)
    assert psql(url(backend, service_id), "SELECT 1").returncode != 0
    assert psql(url(backend, service_id, new_password), "SELECT 1").returncode == 0
    backend.stop(service_id)
    stopped_password = "Stöpped\u00a0Pässw0rd-\ufb01"  # SASLprep maps NBSP to space and NFKCs the ligature
    backend.set_password(service_id, stopped_password)
    backend.start(service_id)
    assert psql(url(backend, service_id, new_password), "SELECT 1").returncode != 0
    assert psql(url(backend, service_id, stopped_password), "SELECT 1").returncode == 0
    logged = "".join(path.read_text() for path in (backend.data.service(service_id).pgdata / "log").iterdir())
    assert new_password not in logged and "ALTER ROLE" not in logged and "SCRAM-SHA-256$" not in logged
    stored = psql(url(backend, service_id, stopped_password), "SELECT count(*) FROM pg_stat_statements WHERE query ILIKE '%ALTER ROLE%'")
    assert stored.stdout.strip() == "0"
    backend.destroy(service_id)


def test_apply_config_reloads_or_waits_for_restart(backend, messages):
    service_id = fresh_service(backend, "config")
    show = lambda name: psql(url(backend, service_id), f"SHOW {name}").stdout.strip()  # noqa: E731
    assert show("work_mem") == "4MB" and show("max_connections") == "100"

    outcome = backend.apply_config(service_id, {"work_mem": "16MB", "max_connections": "50", "transaction_timeout": "120s"})
    assert outcome.pending_restart == ("max_connections",)
    assert outcome.not_applied == ("transaction_timeout",)
    assert any("transaction_timeout" in message and "not applied" in message for message in messages)
    assert show("work_mem") == "16MB"
    assert show("max_connections") == "100"
    backend.restart(service_id)
    assert show("max_connections") == "50"

    outcome = backend.apply_config(service_id, {})  # keys removed go back to the server default
    assert outcome.pending_restart == ("max_connections",)
    assert show("work_mem") == "4MB"
    backend.destroy(service_id)


def test_values_the_server_rejects_are_not_applied(backend, messages):
    service_id = fresh_service(backend, "rejects")
    outcome = backend.apply_config(service_id, {"work_mem": "4XB", "lock_timeout": "5s"})
    assert outcome.not_applied == ("work_mem",)
    assert any("work_mem='4XB' rejected" in message for message in messages)
    backend.restart(service_id)
    assert psql(url(backend, service_id), "SHOW lock_timeout").stdout.strip() == "5s"

    # Valid alone, fatal at startup (superuser_reserved_connections must stay below it):
    # the restart falls back to the settings the server last started with.
    outcome = backend.apply_config(service_id, {"max_connections": "2"})
    assert outcome.pending_restart == ("max_connections",)
    backend.restart(service_id)
    assert backend.is_ready(service_id)
    assert psql(url(backend, service_id), "SHOW lock_timeout").stdout.strip() == "5s"
    assert any("last ran with" in message for message in messages)
    backend.destroy(service_id)


# -- what the server did -------------------------------------------------------------------


def _executions_until(backend, service_id, since, predicate, timeout=3.0):
    found = wait_for(lambda: predicate(backend.executions(service_id, since, utcnow())) or None, timeout)
    return backend.executions(service_id, since, utcnow()) if found else None


def test_executions_from_the_server_log(backend, main):
    since = utcnow()
    script = (
        "CREATE TABLE IF NOT EXISTS items(id int, name text);"
        "INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 1000) g;"
        "SELECT count(*) FROM items WHERE id > 5;"
        "SELECT count(*) FROM items WHERE id > 7;"
        "WITH x AS (SELECT id FROM items WHERE id < 3) SELECT count(*) FROM x;"
        "UPDATE items SET name = 'z' WHERE id <= 10;"
        "DELETE FROM items WHERE id > 990;"
        "EXPLAIN SELECT 1;"
        "SELECT 1/0;"
    )
    ran = subprocess.run(
        ["/usr/bin/psql", "-X", "-tA", url(backend, main)],
        input=script.replace(";", ";\n"),
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "PGAPPNAME": "myapp"},
    )
    assert "division by zero" in ran.stderr
    ran_at = time.monotonic()
    with psycopg.connect(url(backend, main), application_name="extended", autocommit=True) as conn:  # extended protocol
        assert conn.execute("SELECT count(*) FROM items WHERE id > %s", [3]).fetchone() == (987,)

    executions = _executions_until(backend, main, since, lambda found: any(e.app == "extended" for e in found))
    assert executions is not None, "statements did not reach the log in time"
    print(f"\nexecutions visible after {time.monotonic() - ran_at:.2f}s")
    assert all(e.app != "chc-emulator" for e in executions)
    mine = [e for e in executions if e.app == "myapp"]
    assert {(e.db_name, e.db_user) for e in mine} == {("postgres", "postgres")}
    assert [e.operation for e in mine] == ["UTILITY", "INSERT", "SELECT", "SELECT", "SELECT", "UPDATE", "DELETE", "UTILITY", "SELECT"]
    create, insert, above_5, above_7, with_select, update, delete, explain, failed = mine
    assert above_5.query_id == above_7.query_id != "0"
    assert above_5.query_text == "SELECT count(*) FROM items WHERE id > $1"
    stored = psql(url(backend, main), "SELECT queryid FROM pg_stat_statements WHERE query = 'SELECT count(*) FROM items WHERE id > $1'")
    assert above_5.query_id in stored.stdout.split()
    assert all(e.duration_us > 0 and e.pid.isdigit() and e.error_message is None for e in mine[:-1])
    assert all(since <= e.timestamp <= utcnow() for e in mine)
    assert above_5.counters["rows"] == 1 and above_5.counters["sharedBlksHit"] + above_5.counters["sharedBlksRead"] > 0
    assert insert.counters["rows"] == 1000 and insert.counters["walBytes"] > 0 and insert.counters["walRecords"] >= 1000
    assert update.counters["rows"] == 10 and delete.counters["rows"] == 10
    assert "cpuUserTimeUs" in create.counters and "rows" not in create.counters  # utility: no plan
    assert set(above_5.counters) >= {"parallelWorkersPlanned", "jitFunctions", "cpuUserTimeUs", "cpuSysTimeUs"}
    assert failed.error_message == "division by zero" and failed.error_sqlstate == "22012"
    assert failed.error_level == 21 and failed.duration_us == 0 and failed.query_id != "0"

    (extended,) = [e for e in executions if e.app == "extended"]
    assert extended.query_text == above_5.query_text  # (a bigint parameter: another query id)
    assert extended.query_id in stored.stdout.split()
    assert extended.counters["rows"] == 1  # its plan is logged after its execute line


def test_log_entries(backend, main):
    since = utcnow()
    psql(url(backend, main), "DO $$ BEGIN RAISE WARNING 'careful now'; END $$")
    psql(url(backend, main), "SELECT * FROM no_such_table")
    found = wait_for(lambda: [e for e in backend.log_entries(main, since, utcnow()) if e.severity == "ERROR"])
    assert found and 'relation "no_such_table" does not exist' in found[0].body
    entries = backend.log_entries(main, since, utcnow())
    assert any(e.severity == "WARNING" and e.body == "careful now" for e in entries)
    assert {e.severity for e in entries} <= {"DEBUG", "LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC"}
    assert not any("plan:" in e.body or "STATISTICS" in e.body for e in entries)
    everything = backend.log_entries(main, since - dt.timedelta(hours=1), utcnow())
    assert any(e.body == "database system is ready to accept connections" for e in everything)
    assert [e.timestamp for e in everything] == sorted(e.timestamp for e in everything)


def test_stats(backend, main):
    with psycopg.connect(url(backend, main), application_name="idler", autocommit=True) as conn:
        conn.execute("SELECT 1")
        snapshot = backend.stats(main)
    assert snapshot.keys() == zero_stats().keys()
    assert snapshot["PostgresServer_ActiveConnections"]["idle"] >= 1
    assert snapshot["PostgresServer_DatabaseSizeBytes"]["postgres"] > 1_000_000
    assert "template0" not in snapshot["PostgresServer_DatabaseSizeBytes"]
    assert snapshot["PostgresServer_TransactionsCommitted_Total"] > 0
    assert 0 < snapshot["PostgresServer_CacheHitRatio"] <= 100
    assert sum(snapshot["PostgresServer_CPUSeconds_Total"].values()) > 0
    assert 0 < snapshot["PostgresServer_MemoryUsedPercent"] < 100
    assert snapshot["PostgresServer_CPUCores"] == os.cpu_count()
    assert 0 < snapshot["PostgresServer_FilesystemUsedPercent"] < 100


# -- WAL, backups, replicas, restores --------------------------------------------------------


def test_archiving_a_replica_and_a_restore_under_a_long_data_dir_path(backend):
    """PostgreSQL 15 cuts an archive_command (and keeps 1024 bytes of a conninfo) at 1024 bytes:
    with this module's long data dir path, absolute paths in them would break archiving."""
    source = fresh_service(backend, "archiving")
    backup = backend.take_backup(source)
    assert psql(url(backend, source), "CREATE TABLE t (v text); INSERT INTO t VALUES ('before')").returncode == 0
    segment = psql(url(backend, source), "SELECT pg_walfile_name(pg_switch_wal() - 1)").stdout.strip()
    archive = backend.data.service(source).root / "wal-archive"
    assert wait_for(lambda: (archive / segment).exists()), sorted(path.name for path in archive.iterdir())
    backend.provision_replica("archiving-replica", source, {}, ["0.0.0.0/0"])
    backend.start("archiving-replica")
    assert psql(url(backend, source), "INSERT INTO t VALUES ('streamed')").returncode == 0
    assert wait_for(lambda: psql(url(backend, "archiving-replica"), "SELECT count(*) FROM t").stdout.strip() == "2")
    target = time.time()
    time.sleep(0.05)
    assert psql(url(backend, source), "INSERT INTO t VALUES ('after the target')").returncode == 0
    backend.provision_restore("archiving-restored", source, backup.key, target, {}, ["0.0.0.0/0"])
    backend.start("archiving-restored")
    backend.finish_restore("archiving-restored")
    assert psql(url(backend, "archiving-restored"), "SELECT string_agg(v, ',' ORDER BY v) FROM t").stdout.strip() == "before,streamed"
    for service_id in ("archiving-restored", "archiving-replica", source):
        backend.destroy(service_id)


# -- surviving restarts and crashes ---------------------------------------------------------


def test_data_and_port_survive_a_new_backend_on_the_same_dir(backend, data_dir):
    first = PostgresBackend(data_dir, log=lambda message: None)
    first.prepare()
    endpoint = first.provision("persist", PASSWORD, {"work_mem": "2MB"})
    first.start("persist")
    assert psql(url(first, "persist"), "CREATE TABLE kept AS SELECT 42 AS answer").returncode == 0
    first.shutdown()
    pgdata = first.data.service("persist").pgdata
    assert processes_in(pgdata) == []

    second = PostgresBackend(data_dir, log=lambda message: None)
    second.prepare()
    try:
        assert not second.is_ready("persist")
        second.start("persist")
        assert second.endpoint("persist") == endpoint
        assert psql(url(second, "persist"), "SELECT answer FROM kept").stdout.strip() == "42"
        assert psql(url(second, "persist"), "SHOW work_mem").stdout.strip() == "2MB"
        assert second.stats("persist")["PostgresServer_TuplesInserted_Total"] >= 1
    finally:
        second.destroy("persist")
        second.shutdown()


_OWNER_SCRIPT = textwrap.dedent("""
    import sys, time
    from chc_emulator.backend import PostgresBackend
    backend = PostgresBackend(sys.argv[1], log=lambda message: None)
    backend.prepare()
    backend.provision("orphan", "Main-Passw0rd-123", {})
    backend.start("orphan")
    print("ready", flush=True)
    time.sleep(600)
""")


def test_sigkill_of_the_owner_leaves_no_server_behind(backend, data_dir):
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, str(data_dir)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(EMULATOR_ROOT)}
    )
    pgdata = backend.data.service("orphan").pgdata
    try:
        assert owner.stdout.readline().strip() == "ready"
        with psycopg.connect(url(backend, "orphan"), autocommit=True) as conn:  # a client backend must die too
            conn.execute("SELECT 1")
            assert len(processes_in(pgdata)) >= 6
            owner.kill()
            owner.wait()
            assert wait_for(lambda: processes_in(pgdata) == [], timeout=5), processes_in(pgdata)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()

    # The dead owner may leave a postmaster.pid behind; one naming a live process that is
    # not a postmaster of this directory (our own pid) must not stop the next start either.
    (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{pgdata}\n")
    backend.start("orphan")
    assert psql(url(backend, "orphan"), "SELECT 1").stdout.strip() == "1"
    backend.destroy("orphan")


def test_prepare_fails_clearly_when_postgres_cannot_reach_the_dir():
    if os.geteuid() != 0:
        pytest.skip("only root switches to the postgres user")
    private = pathlib.Path(tempfile.mkdtemp(dir="/tmp"))  # 0700, owned by root
    try:
        with pytest.raises(BackendError, match="cannot reach"):
            PostgresBackend(private / "data").prepare()
    finally:
        shutil.rmtree(private)
