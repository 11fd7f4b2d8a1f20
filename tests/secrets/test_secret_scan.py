# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The promises of docs/credentials.md, checked where a leak would land: every module and the fleet playbooks run
by ``ansible-playbook -vvvv`` against an emulator, with a key secret of this run's own and the services' passwords
read back from the emulator (which, like an organization without credential redaction, returns them on every GET).
No secret may appear in any output, nor in any file of the run's home and working directory but the 0600 files
the user chose (``credentials_file``, ``postgres_fleet_credentials_dir``) and the documented rescue directory.

Run by ``make secret-scan`` (``pytest tests/secrets``) with the collection importable from ``.collections``.
"""

from __future__ import annotations

import json
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import FAST_EMULATOR, emulator_env, tool

EmulatorProcess = pytest.importorskip("chc_emulator.testing").EmulatorProcess

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
KEY_SECRET = "scan-secret-%s" % uuid.uuid4().hex  # nothing else in any output can hold this by chance
NEW_PASSWORD = "Scan-Set-%s" % uuid.uuid4().hex  # what postgres_password sets: a module option marked no_log
CONNECTION = {"api_url": "{{ api_url }}", "api_key_id": "{{ api_key_id }}", "api_key_secret": "{{ api_key_secret }}",
              "organization_id": "{{ organization_id }}", "api_rate_limit": "off"}
VARS_FILE = "vault.yml"  # the user's own secrets, as a vault file would hold them
SERVICE = {"provider": "aws", "region": "us-east-1", "size": "r8gd.large", "ip_access_list": [{"source": "127.0.0.1/32"}]}


@pytest.fixture(scope="module")
def emulator():
    # state changes slow enough that a one-second wait after a create times out (the rescue case below)
    emu = EmulatorProcess(**dict(FAST_EMULATOR, provisioning_seconds=2))
    emu.admin_key = ("scan-key", KEY_SECRET)
    with emu:
        yield emu


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The runs' home and working directory; ansible finds this checkout's collection through a symlink tree."""
    root = tmp_path_factory.mktemp("secret-scan")
    (root / "collections" / "ansible_collections" / "clickhouse").mkdir(parents=True)
    (root / "collections" / "ansible_collections" / "clickhouse" / "cloud").symlink_to(COLLECTION_ROOT)
    return root


def passwords(emu):
    """Every service's password as the emulator holds it now."""
    api = PostgresApi(Transport(emu.url, *emu.admin_key), emu.org_id)
    return {s.name: api.get_service(s.id).password for s in api.list_services()}


def ansible_playbook(emu, home, playbook, *args):
    """One ``ansible-playbook -vvvv`` run from ``home``; its stdout and stderr together. The key reaches modules
    both ways a user gives it: the environment (the fleet roles) and options from variables (the module plays)."""
    env = emulator_env(emu, HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(home / "collections"),
                       ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    command = [tool("ansible-playbook"), "-vvvv", str(playbook), *args]
    done = subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, "%s\n%s\n%s" % (" ".join(command), done.stdout[-4000:], done.stderr[-3000:])
    return done.stdout + done.stderr


def module_play(home, name, tasks):
    """A play on localhost whose module tasks get the connection from module_defaults; written to ``home/name``."""
    play = [{"name": name, "hosts": "localhost", "gather_facts": False,
             "vars": {"home": str(home)},
             "module_defaults": {"group/clickhouse.cloud.all": CONNECTION}, "tasks": tasks}]
    path = home / (name + ".yml")
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return path


def module_vars(emu, home):
    """The connection and the password to set as extra variables from a file, as a vault file would hand them over."""
    path = home / VARS_FILE
    path.write_text(yaml.safe_dump({"api_url": emu.url, "api_key_id": emu.admin_key[0], "api_key_secret": KEY_SECRET,
                                    "organization_id": emu.org_id, "new_password": NEW_PASSWORD}))
    return "@%s" % path


def task(module, **args):
    return {"clickhouse.cloud." + module: args}


def chosen_files(home):
    """The 0600 files the user chose (or the documented rescue directory) for passwords; each must be 0600."""
    files = [p for p in (home / "creds").rglob("*") if p.is_file()] + list((home / ".ansible" / "clickhouse-cloud").rglob("*.json"))
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    return set(files)


def leaks(secrets, text):
    return sorted({name for name, secret in secrets.items() if secret and secret in text})


def files_with_secrets(home, secrets):
    """Files under ``home`` holding a secret, but for the chosen ones."""
    allowed = chosen_files(home)
    found = {}
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in allowed and path.name != VARS_FILE:
            hit = leaks(secrets, path.read_text(errors="replace"))
            if hit:
                found[str(path.relative_to(home))] = hit
    return found


@pytest.fixture(scope="module")
def module_runs(emulator, home):
    """Every module, in three runs: a create shown in full (the control), the rest, then the deletes.

    Returns ``{run: output}`` and the secrets seen: the key secret and every password any service had."""
    connection = module_vars(emulator, home)
    (home / "creds").mkdir(mode=0o700)
    outputs, secrets = {}, {"key secret": KEY_SECRET, "set password": NEW_PASSWORD}

    def note_passwords():
        secrets.update({"password of %s (%d)" % (n, len(secrets)): p for n, p in passwords(emulator).items()})

    # 1. The documented exception: without no_log, the create's result shows the new password.
    outputs["create without no_log"] = ansible_playbook(emulator, home, module_play(home, "shown", [
        dict(name="create, the result shown", **task("postgres_service", name="scan-shown", **SERVICE))]), "-e", connection)
    note_passwords()
    shown = {"password of scan-shown": passwords(emulator)["scan-shown"]}

    # 2. Everything else; only tasks that are told no_log get secrets in their results.
    outputs["every module"] = ansible_playbook(emulator, home, module_play(home, "modules", [
        dict(name="create with no_log", no_log=True, register="hidden",
             **task("postgres_service", name="scan-hidden", credentials_file="{{ home }}/creds/scan-hidden.json", **SERVICE)),
        dict(name="a create whose wait fails: no password in the failure", ignore_errors=True,
             **task("postgres_service", name="scan-rescued", wait_timeout=1, **SERVICE)),
        dict(name="tags", **task("postgres_service", name="scan-shown", tags={"scan": "yes"})),
        dict(name="resize in check mode with diff", check_mode=True, diff=True,
             **task("postgres_service", name="scan-shown", size="r8gd.xlarge")),
        dict(name="restart", **task("postgres_service", name="scan-shown", state="restarted")),
        dict(name="settings with a restart", diff=True,
             **task("postgres_config", name="scan-shown", pg_config={"max_connections": 150}, restart="if_required")),
        dict(name="list", **task("postgres_info")),
        dict(name="one, with config and CA", **task("postgres_info", name="scan-hidden", include_config=True,
                                                    include_ca_certificate=True)),
        dict(name="set a password", **task("postgres_password", name="scan-shown", password="{{ new_password }}")),
        dict(name="rotate a password, returned under no_log", no_log=True, register="rotated",
             **task("postgres_password", name="scan-hidden", return_password=True)),
        dict(name="keep it where the user chose", no_log=True,
             **{"ansible.builtin.copy": {"content": "{{ rotated.password }}", "dest": "{{ home }}/creds/rotated", "mode": "0600"}}),
        dict(name="certificate file", **task("postgres_certificate", name="scan-hidden", dest="{{ home }}/ca.pem")),
        dict(name="certificate", **task("postgres_certificate_info", name="scan-hidden")),
        dict(name="backups", **task("postgres_backups_info", name="scan-hidden")),
        dict(name="logs", **task("postgres_logs_info", name="scan-hidden")),
        dict(name="metrics", **task("postgres_metrics_info", name="scan-hidden")),
        dict(name="prometheus", **task("postgres_prometheus_info", name="scan-hidden")),
        dict(name="slow queries", **task("slow_query_patterns", name="scan-hidden")),
    ]), "-e", connection)
    note_passwords()  # scan-hidden's rotated password; its first is in its credentials_file only
    secrets.update({"kept in " + p.name: json.loads(p.read_text())["password"] for p in chosen_files(home) if p.suffix == ".json"})

    # 3. The deletes, without no_log.
    outputs["deletes"] = ansible_playbook(emulator, home, module_play(home, "deletes", [
        dict(name="delete %s" % name, **task("postgres_service", name=name, state="absent"))
        for name in ("scan-shown", "scan-hidden", "scan-rescued")]), "-e", connection)
    assert passwords(emulator) == {}
    return outputs, secrets, shown


def test_the_scan_sees_a_password_that_is_shown(module_runs):
    """The control: the one documented place where a password is shown at -vvvv is found by this scan."""
    outputs, _secrets, shown = module_runs
    assert leaks(shown, outputs["create without no_log"]) == ["password of scan-shown"]


def test_no_module_prints_a_secret_but_the_create_without_no_log(module_runs):
    outputs, secrets, shown = module_runs
    assert len(secrets) >= 6 and all(secrets.values())  # the key, the set password, 3 services' passwords, a rotation
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in outputs["every module"]  # -vvvv shows the invocations
    assert "the output has been hidden" in outputs["every module"]  # no_log tasks ran
    assert "scan-rescued" in outputs["every module"] and "Timed out after 1 s" in outputs["every module"]  # the failure ran
    hidden = {k: v for k, v in secrets.items() if v not in shown.values()}
    assert leaks(hidden, outputs["create without no_log"]) == []
    for run in ("every module", "deletes"):
        assert leaks(secrets, outputs[run]) == [], run


def test_the_passwords_are_kept_only_in_the_files_the_user_chose(module_runs, home):
    _outputs, secrets, _shown = module_runs
    kept = "".join(path.read_text() for path in chosen_files(home))
    assert [p for p in chosen_files(home) if "clickhouse-cloud" in p.parts], "the failed create's rescue file"
    assert len(leaks(secrets, kept)) >= 3  # scan-hidden's create and rotation, scan-rescued's rescue
    assert files_with_secrets(home, secrets) == {}


@pytest.fixture(scope="module")
def fleet_runs(emulator, home):
    """The fleet's playbooks on the demo inventory: provision and decommission without a credentials directory (the
    role holds new passwords under no_log), then all four with one; the passwords read from the emulator, and the directory's files,
    before each decommission. Returns ``{(where, playbook): output}``, the secrets and the files' passwords."""
    outputs, secrets, kept = {}, {"key secret": KEY_SECRET}, {}
    playbooks = COLLECTION_ROOT / "playbooks"
    directory = home / "creds" / "fleet"
    provision, decommission = ("provision.yml",), ("decommission.yml", "-e", "postgres_decommission_confirm=true")
    tune_and_report = (("tune.yml",), ("report.yml", "-e", "postgres_report_path=%s" % (home / "report.md")))
    for where, runs in (("no directory", (provision, decommission)), ("directory", (provision, *tune_and_report, decommission))):
        extra = ["-e", "postgres_fleet_credentials_dir=%s" % directory] if where == "directory" else []
        for name, *args in runs:
            if name == "decommission.yml":
                secrets.update({"%s (%s)" % (n, where): p for n, p in passwords(emulator).items()})
                kept.update({p.stem: json.loads(p.read_text())["password"] for p in directory.glob("*.json")})
                chosen_files(home)  # each 0600
            outputs[(where, name)] = ansible_playbook(emulator, home, playbooks / name, "-i", playbooks / "inventory" / "demo.yml",
                                                      *args, *extra)
    return outputs, secrets, kept


def test_no_fleet_playbook_prints_a_secret(fleet_runs):
    outputs, secrets, _kept = fleet_runs
    assert len(secrets) == 1 + 2 * 3 and all(secrets.values())
    for run, text in outputs.items():
        assert "PLAY RECAP" in text
        assert leaks(secrets, text) == [], run


def test_the_fleet_keeps_passwords_only_in_its_credentials_directory(fleet_runs, home, emulator):
    """The directory held each new service's password until decommission removed the files with the services."""
    _outputs, secrets, kept = fleet_runs
    assert kept == dict((k.split(" (")[0], v) for k, v in secrets.items() if k.endswith("(directory)"))
    assert passwords(emulator) == {} and not list((home / "creds" / "fleet").glob("*.json"))
    assert files_with_secrets(home, secrets) == {}
