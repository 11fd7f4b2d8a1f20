"""Backups, read replicas, HA standbys, switchover and point-in-time restore on the real servers,
proven with SQL through the connection strings the API returns."""

from __future__ import annotations

import datetime as dt
import signal
import time
from pathlib import Path

import pytest
from emutest import emulator_fixture, error_of, needs_postgres, postgres_processes_under, psql, sql_value, wait_until

pytestmark = needs_postgres

emu = emulator_fixture(postgres=True, provisioning_seconds=0.3, update_seconds=0.3, restart_seconds=0.3, deletion_seconds=0.2, first_backup_seconds=0.5)
READ_ONLY = "cannot execute INSERT in a read-only transaction"
TIMELINE = "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"  # the primary's current timeline
STREAMING = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"  # its standbys and read replicas


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run(target: str, sql: str) -> str:
    ran = psql(target, sql)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


def backed_up(api, name: str, **fields) -> dict:
    """A running primary past its first backup (replicas and restores need one)."""
    created = api.running(name, **fields)
    return wait_until(lambda: (s := api.service(created["id"]))["earliestRestoreTime"] and s, 10, f"the first backup of {name}")


def created(api, path: str, body: dict) -> dict:
    answer = api.post(path, body)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def server_dir(emu, service_id: str) -> Path:
    return emu.data_dir / "postgres" / "services" / service_id


@pytest.fixture(scope="module")
def primary(api) -> dict:
    service = backed_up(api, "primary")
    run(service["connectionString"], "CREATE TABLE items (v text)")
    return service


def test_a_replica_reads_the_primary_rows_within_seconds_refuses_writes_and_writes_once_promoted(api, primary, tmp_path):
    replica = created(api, f"/{primary['id']}/readReplica", {"name": "reader"})
    replica = api.wait_state(replica["id"], "running")
    source, copy = primary["connectionString"], replica["connectionString"]
    assert replica["connectionString"] != source and replica["password"] == primary["password"], "own port, the primary's password"
    assert run(copy, "SELECT pg_is_in_recovery()") == "t"

    run(source, "INSERT INTO items VALUES ('streamed')")
    written = time.monotonic()
    wait_until(lambda: psql(copy, "SELECT 1 FROM items WHERE v = 'streamed'").stdout.strip() == "1", 5, "the row on the replica")
    print(f"\nrow on the replica {time.monotonic() - written:.2f}s after the primary's commit")
    refused = psql(copy, "INSERT INTO items VALUES ('on the replica')")
    assert refused.returncode != 0 and READ_ONLY in refused.stderr

    ca = tmp_path / "replica-ca.pem"
    ca.write_text(api.get(f"/{replica['id']}/caCertificates").text)
    assert ca.read_text() != api.get(f"/{primary['id']}/caCertificates").text, "a CA of its own"
    assert run(f"{copy}&sslmode=verify-full&sslrootcert={ca}", "SELECT 1") == "1"
    assert "certificate verify failed" in psql(f"{source}&sslmode=verify-full&sslrootcert={ca}").stderr

    assert replica["id"] in error_of(api.delete(f"/{primary['id']}"), 409)
    promoted = api.patch(f"/{replica['id']}/state", {"command": "promote"}).json()["result"]
    assert promoted["isPrimary"] is True and promoted["earliestRestoreTime"] is None, "no backup of its own yet"
    assert run(copy, "INSERT INTO items VALUES ('after the promotion') RETURNING v") == "after the promotion\nINSERT 0 1"
    assert run(copy, "SELECT pg_is_in_recovery()") == "f"
    run(source, "INSERT INTO items VALUES ('primary only')")
    time.sleep(0.5)
    assert run(copy, "SELECT count(*) FROM items WHERE v = 'primary only'") == "0", "it follows the primary no more"
    wait_until(lambda: api.service(replica["id"])["earliestRestoreTime"], 10, "the promoted replica's own first backup")
    api.remove(replica["id"])


def test_switchover_of_an_ha_primary_keeps_every_row_and_the_connection_string(api):
    service = backed_up(api, "ha", haType="async")
    target = service["connectionString"]
    assert run(target, STREAMING) == "1", "its standby streams"
    replica = api.wait_state(created(api, f"/{service['id']}/readReplica", {"name": "ha reader"})["id"], "running")
    run(target, "CREATE TABLE rows (n int); " + " ".join(f"INSERT INTO rows VALUES ({n});" for n in range(1, 51)))
    before = run(target, f"SELECT pg_postmaster_start_time(), ({TIMELINE})")

    for timeline, n in (("00000002", 51), ("00000003", 52)):
        assert api.patch(f"/{service['id']}/state", {"command": "switchover"}).json()["result"]["state"] == "restarting"
        started = time.monotonic()
        switched = api.wait_state(service["id"], "running", 30)
        print(f"\nswitchover to timeline {timeline}: running after {time.monotonic() - started:.2f}s")
        assert switched["connectionString"] == target
        assert run(target, "SELECT count(*), sum(n) FROM rows") == f"{n - 1}|{(n - 1) * n // 2}", "every committed row"
        assert run(target, TIMELINE) == timeline, "another server: the promoted standby"
        assert run(target, f"INSERT INTO rows VALUES ({n}) RETURNING n") == f"{n}\nINSERT 0 1"
        wait_until(lambda: sql_value(target, STREAMING) == "2", 10, "the old primary and the read replica to follow")
        row = f"SELECT count(*) FROM rows WHERE n = {n}"
        wait_until(lambda row=row: psql(replica["connectionString"], row).stdout.strip() == "1", 10, "the row on the read replica")
    assert run(target, "SELECT pg_postmaster_start_time()") != before.split("|")[0]
    api.remove(replica["id"])
    api.remove(service["id"])


def test_ha_sync_commits_on_a_quorum_of_two_standbys_and_none_removes_them(api):
    service = api.running("ha sync")
    target = service["connectionString"]
    standbys = "SELECT string_agg(sync_state, ',' ORDER BY application_name) FROM pg_stat_replication WHERE state = 'streaming'"
    assert run(target, standbys) == ""
    api.patch(f"/{service['id']}", {"haType": "sync"})
    wait_until(lambda: sql_value(target, standbys) == "quorum,quorum", 15, "two synchronous standbys")
    assert run(target, "SHOW synchronous_standby_names").startswith("ANY 1 (")
    assert run(target, "CREATE TABLE t AS SELECT 1 AS n; SELECT count(*) FROM t").endswith("1")
    api.patch(f"/{service['id']}", {"haType": "none"})
    wait_until(lambda: sql_value(target, standbys) == "", 15, "the standbys to go")
    assert run(target, "SHOW synchronous_standby_names") == ""
    assert run(target, "INSERT INTO t VALUES (2); SELECT count(*) FROM t").endswith("2")
    api.remove(service["id"])


def test_a_restore_to_a_time_between_two_inserts_holds_exactly_the_first(api, primary):
    source = primary["connectionString"]
    run(source, "CREATE TABLE pitr (v text); INSERT INTO pitr VALUES ('first')")
    time.sleep(0.3)
    target = iso(dt.datetime.now(dt.timezone.utc))
    time.sleep(0.3)
    run(source, "INSERT INTO pitr VALUES ('second')")

    before = api.snapshot()
    future = iso(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
    too_early = iso(dt.datetime.fromisoformat(primary["earliestRestoreTime"].replace("Z", "+00:00")) - dt.timedelta(milliseconds=1))
    for refused in (future, too_early):
        assert "restoreTarget" in error_of(api.post(f"/{primary['id']}/restoredService", {"name": "refused", "restoreTarget": refused}), 400)
    assert api.snapshot() == before, "nothing created"

    restored = created(api, f"/{primary['id']}/restoredService", {"name": "restored", "restoreTarget": target})
    started, seen = time.monotonic(), [restored["state"]]
    while seen[-1] != "running":
        assert time.monotonic() - started < 30, seen
        state = api.service(restored["id"])["state"]
        if state != seen[-1]:
            seen.append(state)
        time.sleep(0.02)
    print(f"\nrestore running after {time.monotonic() - started:.2f}s")
    assert seen == ["restoring_backup", "replaying_wal", "finalizing_restore", "running"]
    copy = restored["connectionString"]
    assert run(copy, "SELECT string_agg(v, ',') FROM pitr") == "first"
    assert run(copy, "INSERT INTO pitr VALUES ('written after the restore'); SELECT count(*) FROM pitr").endswith("2")
    assert run(source, "SELECT string_agg(v, ',' ORDER BY v) FROM pitr") == "first,second", "the source is untouched"
    api.remove(restored["id"])


def test_the_backups_list_is_what_exists_and_old_wal_goes_with_old_backups(spawn, client):
    emu = spawn(postgres=True, provisioning_seconds=0.3, first_backup_seconds=0.3, backup_interval_seconds=1, backup_retention_seconds=2)
    api = client(emu)
    service = api.running("backed up")
    backups_dir, archive = server_dir(emu, service["id"]) / "backups", server_dir(emu, service["id"]) / "wal-archive"
    run(service["connectionString"], "CREATE TABLE t (n int)")

    def listed_is_on_disk() -> bool:
        run(service["connectionString"], "INSERT INTO t VALUES (1); SELECT pg_switch_wal()")  # a segment a second to archive
        listed = [b["key"] for b in api.result(f"/{service['id']}/backups")]
        on_disk = sorted((path.name for path in backups_dir.iterdir()), reverse=True)
        return len(listed) >= 3 and listed == on_disk and listed == [b["key"] for b in api.result(f"/{service['id']}/backups")]

    wait_until(listed_is_on_disk, 15, "three backups, listed as they are on disk", interval=0.3)
    oldest = api.result(f"/{service['id']}/backups")[-1]["key"]
    start = (backups_dir / oldest / "backup_label").read_text().split("(file ")[1][:24]
    segments = sorted(path.name for path in archive.iterdir() if len(path.name) == 24)
    assert segments and min(name[8:] for name in segments) >= start[8:], "no archived WAL older than the oldest backup needs"


def test_sigkill_and_restart_keep_the_replica_streaming_the_standby_and_the_backups(spawn, client):
    emu = spawn(postgres=True, provisioning_seconds=0.3, first_backup_seconds=0.3)
    api = client(emu)
    service = backed_up(api, "durable", haType="async")
    replica = api.wait_state(created(api, f"/{service['id']}/readReplica", {"name": "durable reader"})["id"], "running")
    run(service["connectionString"], "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before the crash')")
    backups = api.result(f"/{service['id']}/backups")
    api.close()

    assert emu.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_until(lambda: not postgres_processes_under(emu.data_dir), 10, "the servers of a killed emulator to exit")
    emu.start()
    api = client(emu)
    for svc in (service, replica):
        api.wait_state(svc["id"], "running")
    source, copy = service["connectionString"], replica["connectionString"]
    wait_until(lambda: psql(source, "INSERT INTO kept VALUES ('after the restart')").returncode == 0, 30, "the primary to take writes")
    both = "after the restart,before the crash"
    wait_until(lambda: psql(copy, "SELECT string_agg(v, ',' ORDER BY v) FROM kept").stdout.strip() == both, 10, "the row on the replica")
    assert READ_ONLY in psql(copy, "INSERT INTO kept VALUES ('x')").stderr
    wait_until(lambda: sql_value(source, STREAMING) == "2", 10, "the standby and the replica")
    assert api.result(f"/{service['id']}/backups") == backups
