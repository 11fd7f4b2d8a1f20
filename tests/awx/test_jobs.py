# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jobs run the way AWX runs them: ansible-runner, a private data dir, the credential type's environment,
survey answers as extra vars, against the emulator; then the job events are read as AWX stores them.

Run by ``make awx-test`` (``pytest tests/awx``) with the collection importable from ``.collections``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.tests.secrets.scan import files_with_secrets, job_events
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import FAST_EMULATOR, clean_env, run, tool
from ansible_collections.clickhouse.cloud.tests.unit.awx_credential import injected_env

EmulatorProcess = pytest.importorskip("chc_emulator.testing").EmulatorProcess

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
DEMO_FLEET = ("orders", "payments", "reporting")  # playbooks/inventory/demo.yml
# The survey of each job template in docs/awx.md, answered; AWX passes the answers as extra vars.
SURVEYS = {
    "provision": {"postgres_fleet_wait_timeout": 300},
    "tune": {"postgres_tune_restart": "if_required", "postgres_tune_max_restarting": 2},
    "report": {"postgres_report_format": "json", "postgres_report_slow_queries": 3},
}
# docs/awx.md's inventory source: the services that exist, set up for the roles
DYNAMIC_SOURCE = {"plugin": "clickhouse.cloud.postgres", "details": False, "compose": {"postgres_fleet_name": "postgres_name"}}


@pytest.fixture(scope="module")
def emulator():
    with EmulatorProcess(**FAST_EMULATOR) as emu:
        yield emu


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, emulator):
    """A private data dir as AWX lays one out: the project (one-line playbooks importing the collection's, and
    the collection where a project's collections/requirements.yml would install it), the inventory, and the
    credential's environment."""
    root = tmp_path_factory.mktemp("awx-job")
    project = root / "project"
    (project / "collections" / "ansible_collections" / "clickhouse").mkdir(parents=True)
    (project / "collections" / "ansible_collections" / "clickhouse" / "cloud").symlink_to(COLLECTION_ROOT)
    for job in SURVEYS:
        (project / (job + ".yml")).write_text(yaml.safe_dump([{"ansible.builtin.import_playbook": "clickhouse.cloud." + job}]))
    (root / "inventory").mkdir()
    shutil.copy(COLLECTION_ROOT / "playbooks" / "inventory" / "demo.yml", root / "inventory" / "hosts.yml")
    (root / "dynamic").mkdir()
    (root / "dynamic" / "clickhouse.postgres.yml").write_text(yaml.safe_dump(DYNAMIC_SOURCE))
    (root / "env").mkdir()
    credential = {"organization_id": emulator.org_id, "api_key_id": emulator.admin_key[0],
                  "api_key_secret": emulator.admin_key[1], "api_url": emulator.url, "api_rate_limit": "off"}
    (root / "env" / "envvars").write_text(yaml.safe_dump(injected_env(credential)))
    return root


def run_job(data_dir, job, inventory="inventory/hosts.yml", survey=None):
    """``ansible-runner run`` of one job template; returns its artifacts directory."""
    (data_dir / "env" / "extravars").write_text(yaml.safe_dump(survey if survey is not None else SURVEYS[job]))
    ident = "%s-%s" % (job, Path(inventory).parts[0])
    # the job's environment is env/envvars (the credential) on top of the runner's own: none of this checkout's
    run([tool("ansible-runner"), "run", data_dir, "-p", job + ".yml", "--ident", ident, "--inventory", data_dir / inventory,
         "--forks", "5", "-vvvv"], clean_env())  # the job template's highest verbosity: the most a secret could show in
    artifacts = data_dir / "artifacts" / ident
    assert (artifacts / "status").read_text() == "successful"
    return artifacts


def artifact_data(artifacts):
    """What AWX stores as the job's artifacts: the set_stats data of the playbook_on_stats event."""
    [stats] = [e for e in job_events(artifacts) if e["event"] == "playbook_on_stats"]
    return stats["event_data"]["artifact_data"]


@pytest.fixture(scope="module")
def jobs(data_dir, emulator):
    """Provision, tune and report, as three job templates of a workflow; then report over the dynamic inventory."""
    report = data_dir / "fleet-report.json"
    ran = {"provision": run_job(data_dir, "provision"), "tune": run_job(data_dir, "tune"),
           "report": run_job(data_dir, "report", survey=dict(SURVEYS["report"], postgres_report_path=str(report)))}
    ran["report-dynamic"] = run_job(data_dir, "report", inventory="dynamic/clickhouse.postgres.yml",
                                    survey=dict(SURVEYS["report"], postgres_report_path=str(data_dir / "dynamic-report.json")))
    return ran


def test_no_secret_in_any_job_event_output_or_fact_cache(jobs, emulator, data_dir):
    """What AWX keeps of a job: its events and output, and with fact storage on, each host's fact cache; every other
    artifact is scanned too but ansible-runner's own ``artifacts/<job>/command``, which holds the job's environment,
    the key secret included (AWX removes the private data dir after the job; tests/secrets/test_runner_scan.py)."""
    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    services = {s.name: s for s in api.list_services()}
    assert sorted(services) == sorted(DEMO_FLEET)
    # the emulator returns passwords on reads, as an organization without credential redaction
    secrets = {"key secret": emulator.admin_key[1], **{"password of " + n: api.get_service(s.id).password for n, s in services.items()}}
    assert all(secrets.values())
    for artifacts in jobs.values():
        assert len(job_events(artifacts)) > 10
        assert files_with_secrets(artifacts, secrets, allowed={artifacts / "command"}, home=data_dir) == {}, artifacts


def test_provision_hands_on_each_service(jobs, emulator):
    handed = artifact_data(jobs["provision"])["postgres_fleet_services"]
    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    ids = {s.name: s.id for s in api.list_services()}
    assert sorted(handed) == sorted(DEMO_FLEET)
    for host, service in handed.items():
        assert service["id"] == ids[host] and service["name"] == host and service["state"] == "running"
        assert set(service) == {"id", "name", "state"}


def test_report_hands_on_where_it_is(jobs, data_dir):
    handed = artifact_data(jobs["report"])["postgres_report"]
    assert handed == {"path": str(data_dir / "fleet-report.json"), "format": "json", "services": len(DEMO_FLEET)}
    assert Path(handed["path"]).is_file()


def test_tune_ran_per_host_and_forks(jobs):
    events = job_events(jobs["tune"])
    hosts = {e["event_data"].get("host") for e in events if e["event"] == "runner_on_ok"}
    assert set(DEMO_FLEET) <= hosts
    [start] = [e for e in events if e["event"] == "playbook_on_start"]
    assert start["event_data"]["playbook"] == "tune.yml"


def test_the_dynamic_inventory_reports_on_the_services_that_exist(jobs, data_dir):
    handed = artifact_data(jobs["report-dynamic"])["postgres_report"]
    assert handed["services"] == len(DEMO_FLEET)
    report = json.loads((data_dir / "dynamic-report.json").read_text())
    static = json.loads((data_dir / "fleet-report.json").read_text())
    assert report == static
