"""clickhousectl 0.5.0, ClickHouse's official CLI, as a client of the emulator.

Every `cloud postgres` subcommand runs except `query` (OAuth only; with an API key it refuses
before sending anything).  The CLI is pointed at the emulator with its hidden global
`cloud --url URL` and given the admin key in CLICKHOUSE_CLOUD_API_KEY/_SECRET; `--json`
output is parsed, and what each command did is checked through the API and on the real
server with psql.  If the CLI cannot do something here, the emulator is what gets fixed
(to the live doc, ../shared/api/live-api-2026-10.md), not this file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from emutest import admitted, emulator_fixture, needs_postgres, psql, sql_value, wait_until

VERSION = "clickhousectl 0.5.0"
_BINARY = Path(sys.executable).with_name("clickhousectl")  # installed beside this Python (.venv), else on PATH
if not _BINARY.exists() and shutil.which("clickhousectl"):
    _BINARY = Path(shutil.which("clickhousectl"))


def _missing() -> str | None:
    if not _BINARY.exists():
        return "clickhousectl is not installed: pip install clickhousectl==0.5.0 (in the emulator's test extra and requirements-dev.txt; a binary wheel)"
    version = subprocess.run([str(_BINARY), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return None if version == VERSION else f"{_BINARY} is {version!r}, these tests are for {VERSION}"


pytestmark = [needs_postgres, pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]

FIRST_BACKUP = 1.0
emu = emulator_fixture(
    postgres=True,
    provisioning_seconds=0.5,
    update_seconds=0.5,
    restart_seconds=0.5,
    deletion_seconds=0.3,
    first_backup_seconds=FIRST_BACKUP,
    sample_seconds=1,
)

LOCAL = "127.0.0.1/32:5432=this host"
ELSEWHERE = "10.0.0.0/8:5432..6432"


class Cli:
    """Runs clickhousectl against one emulator with its admin key, in a home of its own."""

    def __init__(self, emu, home: Path):
        self.emu = emu
        key_id, secret = emu.admin_key
        # Nothing of the caller's environment: no saved keys, no agent detection, no telemetry.
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "DO_NOT_TRACK": "1",
            "CLICKHOUSE_CLOUD_API_KEY": key_id,
            "CLICKHOUSE_CLOUD_API_SECRET": secret,
        }

    def run(self, *args: str, org: bool = True, expect: int = 0) -> subprocess.CompletedProcess:
        command = [str(_BINARY), "cloud", "--url", self.emu.url, "--json"] + (["--org-id", self.emu.org_id] if org else []) + ["postgres", *args]
        ran = subprocess.run(command, capture_output=True, text=True, timeout=120, env=self.env)
        assert ran.returncode == expect, f"{' '.join(args)}: exit {ran.returncode}\n{ran.stdout}\n{ran.stderr}"
        return ran

    def json(self, *args: str, **kwargs) -> object:
        return json.loads(self.run(*args, **kwargs).stdout)

    def error(self, *args: str) -> dict:
        """A command the emulator refuses: exit 1 and the CLI's error object, carrying the server's text."""
        return json.loads(self.run(*args, expect=1).stderr)["error"]


@pytest.fixture(scope="module")
def cli(emu, tmp_path_factory) -> Cli:
    return Cli(emu, tmp_path_factory.mktemp("clickhousectl-home"))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli-files")
    (folder / "pg.json").write_text(json.dumps({"work_mem": "8MB", "log_lock_waits": "on"}))
    (folder / "bouncer.json").write_text(json.dumps({"default_pool_size": "16"}))
    return folder


@pytest.fixture(scope="module")
def created(cli, files) -> dict:
    """`create` with every option: what the CLI printed."""
    return cli.json(
        "create", "--name", "cli main", "--region", "us-west-2", "--size", "r8gd.large", "--pg-version", "18", "--ha-type", "none",
        "--tag", "env=test", "--tag", "team=db", "--pg-config-file", str(files / "pg.json"),
        "--pg-bouncer-config-file", str(files / "bouncer.json"), "--ip-allow", LOCAL, "--ip-allow", ELSEWHERE,
    )  # fmt: skip


@pytest.fixture(scope="module")
def main(api, created) -> dict:
    """The created service, running and past its first backup (replicas and restores need one)."""
    api.wait_state(created["id"], "running")
    return wait_until(lambda: (s := api.service(created["id"]))["earliestRestoreTime"] and s, 10, "the first backup")


def rules(service: dict) -> list[tuple]:
    return [(r["source"], r["portRange"], r.get("description")) for r in service["ipAccessList"]]


def window(minutes: int = 10) -> list[str]:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    since, until = (now + dt.timedelta(minutes=m) for m in (-minutes, minutes))
    return ["--from-date", since.isoformat().replace("+00:00", "Z"), "--to-date", until.isoformat().replace("+00:00", "Z")]


def postmaster_started(connection_string: str) -> str:
    return sql_value(connection_string, "SELECT pg_postmaster_start_time()")


# --- create, list, get ----------------------------------------------------------------------


def test_create_sends_rules_tags_version_and_config(api, created, main):
    assert created["state"] == "creating" and created["password"] and created["connectionString"]
    assert (created["name"], created["postgresVersion"], created["provider"]) == ("cli main", "18", "aws")
    assert created["tags"] == [{"key": "env", "value": "test"}, {"key": "team", "value": "db"}]
    assert rules(created) == [("127.0.0.1/32", "5432", "this host"), ("10.0.0.0/8", "5432..6432", None)]
    assert api.config(created["id"]) == {"pgConfig": {"work_mem": "8MB", "log_lock_waits": "on"}, "pgBouncerConfig": {"default_pool_size": "16"}}
    assert admitted(main["connectionString"]), "the 127.0.0.1 rule admits this host"
    assert sql_value(main["connectionString"], "SHOW work_mem") == "8MB"


def test_create_with_public_access_blocked_then_rules_changed_without_a_restart(api, cli):
    made = cli.json("create", "--name", "cli closed", "--region", "eu-west-2", "--size", "r6gd.medium", "--block-public-access")
    assert made["ipAccessList"] == [] and api.service(made["id"])["ipAccessList"] == []
    cs = api.wait_state(made["id"], "running")["connectionString"]
    assert not admitted(cs)
    opened = cli.json("update", made["id"], "--add-ip-allow", "127.0.0.1:5432..6432=me")
    assert rules(opened) == [("127.0.0.1", "5432..6432", "me")] and admitted(cs)
    started = postmaster_started(cs)
    closed = cli.json("update", made["id"], "--remove-ip-allow", opened["ipAccessList"][0]["id"])
    assert closed["ipAccessList"] == [] and not admitted(cs)
    cli.json("update", made["id"], "--add-ip-allow", "127.0.0.0/8:5432")
    assert admitted(cs) and postmaster_started(cs) == started, "reloaded, not restarted"
    gone = cli.json("delete", made["id"])
    assert gone["id"] == made["id"]
    wait_until(lambda: api.get(f"/{made['id']}").status_code == 404, 10, "the deleted service to go")


def test_create_refused_by_the_server_shows_its_message(api, cli):
    before = api.snapshot()
    error = cli.error("create", "--name", "cli bad", "--region", "us-central1", "--size", "r8gd.large", "--provider", "gcp")
    assert error["code"] == "http_4xx" and "size" in error["message"] and "gcp" in error["message"], error
    assert api.snapshot() == before


def test_create_on_gcp(api, cli):
    made = cli.json("create", "--name", "cli gcp", "--region", "us-central1", "--size", "c4a-highmem-lssd-4", "--provider", "gcp")
    assert (made["provider"], made["size"]) == ("gcp", "c4a-highmem-lssd-4")
    assert api.service(made["id"])["provider"] == "gcp"
    cli.json("delete", made["id"])


def test_list_finds_the_one_organisation_and_filters(cli, main):
    listed = cli.json("list", org=False)  # the org id found with GET /v1/organizations
    assert main["id"] in {s["id"] for s in listed}
    running = cli.json("list", "--filter", "state=running", "--filter", "name=cli main")
    assert [s["id"] for s in running] == [main["id"]]


def test_get_by_id_and_by_name(api, cli, main):
    got = cli.json("get", main["id"])
    assert got["ipAccessList"] == api.service(main["id"])["ipAccessList"]
    assert got["earliestRestoreTime"] == main["earliestRestoreTime"]
    assert cli.json("get", "--name", "cli main")["id"] == main["id"]


# --- update ---------------------------------------------------------------------------------


def test_update_sends_name_size_ha_tags_and_rules_in_one_patch(api, cli, emu, main):
    elsewhere = next(r["id"] for r in api.service(main["id"])["ipAccessList"] if r["source"] == "10.0.0.0/8")
    patches_before = sum(1 for r in emu.requests() if r["method"] == "PATCH")
    result = cli.json(
        "update", main["id"], "--new-name", "cli main renamed", "--size", "r6gd.medium", "--ha-type", "async",
        "--add-tag", "stage=2", "--remove-tag", "team", "--add-ip-allow", "192.0.2.0/24:6432=bouncer", "--remove-ip-allow", elsewhere,
    )  # fmt: skip
    assert sum(1 for r in emu.requests() if r["method"] == "PATCH") == patches_before + 1
    assert result["name"] == "cli main renamed"
    assert result["tags"] == [{"key": "env", "value": "test"}, {"key": "stage", "value": "2"}]
    assert rules(result) == [("127.0.0.1/32", "5432", "this host"), ("192.0.2.0/24", "6432", "bouncer")]
    applied = wait_until(lambda: (s := api.service(main["id"]))["size"] == "r6gd.medium" and s["haType"] == "async" and s, 10, "the resize")
    assert applied["name"] == "cli main renamed" and rules(applied) == rules(result)
    assert admitted(applied["connectionString"])
    assert cli.json("update", main["id"], "--clear-tags")["tags"] == []
    assert cli.json("update", main["id"], "--new-name", "cli main")["name"] == "cli main"


# --- certificates, configuration, password --------------------------------------------------


def test_certs_get_writes_the_ca_that_verifies_the_server(api, cli, main, tmp_path):
    pem = api.get(f"/{main['id']}/caCertificates").text
    assert cli.json("certs", "get", main["id"])["certificate"] == pem
    path = tmp_path / "ca.pem"
    assert cli.json("certs", "get", main["id"], "--output", str(path)) == {"path": str(path)}
    assert path.read_text() == pem and stat.S_IMODE(path.stat().st_mode) == 0o600
    port = main["connectionString"].rsplit(":", 1)[1].split("/")[0]
    target = f"host=localhost port={port} dbname=postgres user=postgres password={main['password']} sslmode=verify-full sslrootcert={path}"
    assert sql_value(target, "SELECT 1") == "1"


def test_config_get_patch_and_replace(api, cli, files, tmp_path):
    svc = api.running("cli config", postgresVersion="18", pgConfig={"work_mem": "4MB"})
    sid, cs = svc["id"], svc["connectionString"]
    assert cli.json("config", "get", sid) == api.config(sid)

    patched = cli.json("config", "patch", sid, "--set", "log_min_duration_statement=250", "--set", "io_method=worker", "--set", "max_wal_senders=5")
    assert patched["pgConfig"] == {"work_mem": "4MB", "log_min_duration_statement": "250", "io_method": "worker", "max_wal_senders": "5"}
    assert "io_method, max_wal_senders" in patched["message"]
    assert sql_value(cs, "SHOW log_min_duration_statement") == "250ms", "written and reloaded"
    assert "unrecognized configuration parameter" in psql(cs, "SHOW io_method").stderr, "PostgreSQL 15 has no io_method: stored only"

    document = tmp_path / "config.json"
    document.write_text(json.dumps({"pgConfig": {"statement_timeout": "30s"}, "pgBouncerConfig": {"pool_mode": "transaction"}}))
    replaced = cli.json("config", "replace", sid, "--file", str(document))
    assert (
        api.config(sid)
        == {"pgConfig": {"statement_timeout": "30s"}, "pgBouncerConfig": {"pool_mode": "transaction"}}
        == {k: replaced[k] for k in ("pgConfig", "pgBouncerConfig")}
    )
    assert sql_value(cs, "SHOW statement_timeout") == "30s" and sql_value(cs, "SHOW log_min_duration_statement") == "0"
    document.write_text(json.dumps({"pgConfig": {"work_mem": "12MB"}, "pgBouncerConfig": {}}))
    cli.json("config", "patch", sid, "--file", str(document))
    assert api.config(sid)["pgConfig"] == {"statement_timeout": "30s", "work_mem": "12MB"}
    assert sql_value(cs, "SHOW work_mem") == "12MB"
    refused = cli.error("config", "patch", sid, "--set", "io_method=aio")
    assert "io_method" in refused["message"] or "aio" in refused["message"], refused


def test_reset_password_chosen_and_generated(api, cli):
    svc = api.running("cli password")
    old = svc["connectionString"]
    assert cli.json("reset-password", svc["id"], "--password", "Cli-Chosen-Passw0rd") == {"password": "Cli-Chosen-Passw0rd"}
    chosen = api.service(svc["id"])["connectionString"]
    assert ":Cli-Chosen-Passw0rd@" in chosen and admitted(chosen)
    assert "password authentication failed" in psql(old).stderr
    generated = cli.json("reset-password", svc["id"], "--generate")["password"]
    assert admitted(chosen.replace("Cli-Chosen-Passw0rd", generated))
    assert psql(chosen).returncode != 0


# --- state commands, replicas ---------------------------------------------------------------


def test_restart_starts_the_server_again(api, cli, main):
    before = postmaster_started(main["connectionString"])
    assert cli.json("restart", main["id"])["state"] == "restarting"
    api.wait_state(main["id"], "running", 60)
    assert postmaster_started(main["connectionString"]) > before


def test_switchover(api, cli, main):
    assert cli.json("switchover", main["id"])["state"] == "restarting"
    api.wait_state(main["id"], "running", 60)
    assert admitted(main["connectionString"])


def test_read_replica_then_promote(api, cli, main):
    replica = cli.json("read-replica", "create", main["id"], "--name", "cli replica", "--tag", "role=replica")
    assert replica["isPrimary"] is False and replica["tags"] == [{"key": "role", "value": "replica"}]
    assert rules(replica) == rules(api.service(main["id"])), "the primary's rules"
    running = api.wait_state(replica["id"], "running")
    assert running["isPrimary"] is False and admitted(running["connectionString"])
    cli.json("promote", replica["id"])
    assert api.service(replica["id"])["isPrimary"] is True
    cli.json("delete", replica["id"])


# --- backups and restores -------------------------------------------------------------------


def test_backup_list(cli, main):
    listed = cli.json("backup", "list", main["id"])
    assert [b["status"] for b in listed["result"]] == ["completed"]
    assert listed["result"][0]["lastModified"] == main["earliestRestoreTime"]
    assert cli.json("backup", "list", main["id"], "--limit", "1") == listed
    assert "cursor" in cli.error("backup", "list", main["id"], "--cursor", "no-such-cursor")["message"]


@pytest.mark.parametrize(
    "options, expected",
    [
        ([], "the source's"),
        (["--ip-allow", "10.0.0.0/8:5432"], [("10.0.0.0/8", "5432", None)]),
        (["--block-public-access"], []),
    ],
    ids=["copies the source's rules", "with rules of its own", "blocking public access"],
)
def test_restore(api, cli, main, options, expected):
    source = api.service(main["id"])
    want = rules(source) if expected == "the source's" else expected
    restored = cli.json("restore", main["id"], "--name", f"cli restored {len(want)}", "--restore-target", source["earliestRestoreTime"], *options)
    assert rules(restored) == want and rules(api.service(restored["id"])) == want
    running = api.wait_state(restored["id"], "running")
    assert admitted(running["connectionString"]) == any(rule[0].startswith("127.0.0.1") for rule in want)
    cli.json("delete", restored["id"])


def test_restore_before_the_first_backup_is_refused(api, cli, main):
    before = api.snapshot()
    error = cli.error("restore", main["id"], "--name", "cli too early", "--restore-target", main["createdAt"])
    assert "restoreTarget" in error["message"], error
    assert api.snapshot() == before


# --- observing: metrics, query insights, logs, Prometheus -----------------------------------


def test_metrics(cli, main):
    def sampled():
        metrics = cli.json("metrics", main["id"], *window(), "--bucket-size-seconds", "1")["metrics"]
        return metrics if any(m["key"] == "connection_count" and m["series"] and m["series"][0]["dataPoints"] for m in metrics) else None

    metrics = wait_until(sampled, 15, "a sample")
    assert {"cpu_usage", "connection_count", "database_size"} <= {m["key"] for m in metrics}


def test_slow_queries_list_and_get(cli, main):
    cs = main["connectionString"]
    for low in (5, 7):
        assert psql(cs, f"SELECT count(*) FROM pg_class WHERE relpages > {low}", app="cli-insights").returncode == 0

    def listed():
        rows = cli.json("slow-queries", "list", main["id"], *window(), "--app", "cli-insights", "--sort-by", "call_count")
        return next((r for r in rows if "pg_class WHERE relpages >" in r["queryText"] and r["callCount"] == 2), None)

    pattern = wait_until(listed, 15, "the pattern")
    assert "$1" in pattern["queryText"] and pattern["dbOperation"] == "SELECT"
    detail = cli.json(
        "slow-queries", "get", "--db-name", "postgres", "--db-user", "postgres", "--db-operation", "SELECT", "--app", "cli-insights",
        main["id"], "--", pattern["queryId"],
    )  # fmt: skip
    assert detail["aggregate"]["callCount"] == 2 and len(detail["recentExecutions"]) == 2
    assert {e["app"] for e in detail["recentExecutions"]} == {"cli-insights"}


def test_logs(cli, main):
    marker = "no_such_table_for_the_cli"
    assert psql(main["connectionString"], f"SELECT * FROM {marker}").returncode != 0

    def found():
        return cli.json("logs", main["id"], *window(), "--severity", "ERROR", "--body-contains", marker, "--limit", "5")

    entries = wait_until(found, 10, "the error in the log")
    assert all(e["severity"] == "ERROR" and marker in e["body"] for e in entries)


def test_prometheus_service_and_org(cli, emu, main):
    service = cli.json("prometheus", "service", main["id"])
    assert isinstance(service, str) and f'postgres_service="{main["id"]}"' in service and "PostgresServiceInfo{" in service
    organisation = cli.json("prometheus", "org")
    assert f'clickhouse_org="{emu.org_id}"' in organisation and f'postgres_service="{main["id"]}"' in organisation


def test_query_is_the_one_left_out_it_needs_oauth(cli, emu, main):
    """With an API key the CLI refuses before sending anything (exit 4), so no emulator can serve it."""
    sent = len(emu.requests())
    refused = cli.run("query", main["id"], "--query", "SELECT 1", expect=4)
    assert json.loads(refused.stderr)["error"]["code"] == "auth_required"
    assert len(emu.requests()) == sent


# --- last: delete ---------------------------------------------------------------------------


def test_delete(api, cli, main):
    shown = cli.json("delete", main["id"])
    assert shown["id"] == main["id"] and shown["name"] == "cli main"
    assert api.service(main["id"])["state"] == "deleting"
    wait_until(lambda: api.get(f"/{main['id']}").status_code == 404, 10, "the deleted service to go")
    assert psql(main["connectionString"]).returncode != 0
