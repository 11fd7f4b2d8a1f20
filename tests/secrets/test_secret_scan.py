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
import subprocess

import pytest
import yaml
from ansible_collections.clickhouse.cloud.tests.secrets.scan import (
    COLLECTION_ROOT,
    KEY_SECRET,
    NEW_PASSWORD,
    chosen_files,
    collection_tree,
    files_with_secrets,
    leaks,
    passwords,
    run_module_plays,
)
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import emulator_env, tool

CONNECTION = {"api_url": "{{ api_url }}", "api_key_id": "{{ api_key_id }}", "api_key_secret": "{{ api_key_secret }}",
              "organization_id": "{{ organization_id }}", "api_rate_limit": "off"}
VARS_FILE = "vault.yml"  # the user's own secrets, as a vault file would hold them
REPORT_PAGE = "report.html"  # the report playbook's page, with report.md and report.json beside it


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The runs' home and working directory; ansible finds this checkout's collection through a symlink tree."""
    root = tmp_path_factory.mktemp("secret-scan")
    collection_tree(root)
    return root


def ansible_playbook(emu, home, playbook, *args):
    """One ``ansible-playbook -vvvv`` run from ``home``; its stdout and stderr together. The key reaches modules
    both ways a user gives it: the environment (the fleet roles) and options from variables (the module plays)."""
    env = emulator_env(emu, HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(home / "collections"),
                       ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    command = [tool("ansible-playbook"), "-vvvv", str(playbook), *args]
    done = subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, "%s\n%s\n%s" % (" ".join(map(str, command)), done.stdout[-4000:], done.stderr[-3000:])
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def module_runs(emulator, home):
    """Every module (scan.module_plays), the connection from module_defaults and variables from a file, as a vault
    file would hand them over. Returns ``{play: output}``, the secrets seen and the one the first play shows."""
    connection = home / VARS_FILE
    connection.write_text(yaml.safe_dump({"api_url": emulator.url, "api_key_id": emulator.admin_key[0], "api_key_secret": KEY_SECRET,
                                          "organization_id": emulator.org_id, "new_password": NEW_PASSWORD}))

    def run(name, tasks):
        play = home / (name.replace(" ", "-") + ".yml")
        play.write_text(yaml.safe_dump([{"name": name, "hosts": "localhost", "gather_facts": False, "vars": {"home": str(home)},
                                         "module_defaults": {"group/clickhouse.cloud.all": CONNECTION}, "tasks": tasks}],
                                       sort_keys=False))
        return ansible_playbook(emulator, home, play, "-e", "@%s" % connection)

    return run_module_plays(emulator, home, run)


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
    assert files_with_secrets(home, secrets, allowed={home / VARS_FILE}) == {}


@pytest.fixture(scope="module")
def fleet_runs(emulator, home):
    """The fleet's playbooks on the demo inventory: provision and decommission without a credentials directory (the
    role holds new passwords under no_log), then all four with one; the passwords read from the emulator, and the directory's files,
    before each decommission. Returns ``{(where, playbook): output}``, the secrets and the files' passwords."""
    outputs, secrets, kept = {}, {"key secret": KEY_SECRET}, {}
    playbooks = COLLECTION_ROOT / "playbooks"
    directory = home / "creds" / "fleet"
    provision, decommission = ("provision.yml",), ("decommission.yml", "-e", "postgres_decommission_confirm=true")
    # the report in every format: the HTML page's own reads (each service by id for its access rules, the tuning advice)
    tune_and_report = (("tune.yml",), ("report.yml", "-e", "postgres_report_path=%s" % (home / REPORT_PAGE),
                                       "-e", '{"postgres_report_formats": ["html", "markdown", "json"]}'))
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
    # the report's files are scanned below: each format was written, the page with every service and its access rules read
    page = home / REPORT_PAGE
    assert page.read_text().count('<section class="service"') == 3 and "127.0.0.1/32" in page.read_text()
    assert page.with_suffix(".md").is_file() and page.with_suffix(".json").is_file()
    assert files_with_secrets(home, secrets, allowed={home / VARS_FILE}) == {}
