# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module plays of the secret scan (``scan.module_plays``) run as AWX runs a job: ``ansible_runner.run`` with a
private data dir at verbosity 4, the connection only in the environment the collection's credential type injects
(``env/envvars``, from ``extensions/awx/credential_type``), the password to set as a survey answer (``env/extravars``).
Then every file the jobs leave is scanned for the key secret and for every password the services had.

What AWX keeps of a job is its events (``job_events/*.json``, ``event_data.res`` included) and its output; with fact
storage on, the fact cache. None may hold a secret. The private data dir's inputs hold what the user gave
(``env/envvars`` the key secret, ``env/extravars`` the set password), and ansible-runner's ``artifacts/<job>/command``
records the environment the job started with (so the key secret, never a password); AWX removes the private data
dir after the job. Those, and the 0600 files the user chose, are the only places a secret may be. The control: a
job whose tasks show secrets without no_log (the documented create, debugs of the key secret and of the set
password) puts them into its job events, and the scan finds them there.

Run by ``make secret-scan`` (``pytest tests/secrets``) with the collection importable from ``.collections``.
"""

from __future__ import annotations

import json
import os
from unittest import mock

import pytest
import yaml
from ansible_collections.clickhouse.cloud.tests.secrets.scan import (
    KEY_SECRET,
    NEW_PASSWORD,
    collection_tree,
    files_with_secrets,
    job_events,
    leaks,
    run_module_plays,
)
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import clean_env
from ansible_collections.clickhouse.cloud.tests.unit.awx_credential import injected_env

ansible_runner = pytest.importorskip("ansible_runner")

CONTROL = "create without no_log"  # the job that shows secrets on purpose
LEAKING_TASKS = [  # what a careless playbook does: debug secrets without no_log
    {"name": "debug the key secret", "ansible.builtin.debug": {"msg": "{{ lookup('ansible.builtin.env', 'CLICKHOUSE_CLOUD_API_SECRET') }}"}},
    {"name": "debug the survey's password", "ansible.builtin.debug": {"var": "new_password"}},
]

# Facts as a job with fact storage keeps them: gathered in full on localhost they hold the job's environment (ansible_env),
# so the key secret too (the control shows it); without the env subset they hold no secret.
FACTS = {CONTROL: {"gather_facts": True}, "every module": {"gather_facts": True, "gather_subset": ["!env"]}}


@pytest.fixture(scope="module")
def root(tmp_path_factory, emulator):
    """The job's home (``creds/`` in it the user's chosen directory) and in ``job/`` its private data dir: the project
    with the collection where a project's collections/requirements.yml installs it, the inventory, and the inputs."""
    home = tmp_path_factory.mktemp("runner-scan")
    data = home / "job"
    collection_tree(data / "project")
    (data / "inventory").mkdir()
    (data / "inventory" / "hosts").write_text("localhost ansible_connection=local ansible_python_interpreter={{ ansible_playbook_python }}\n")
    (data / "env").mkdir(mode=0o700)
    credential = {"organization_id": emulator.org_id, "api_key_id": emulator.admin_key[0], "api_key_secret": KEY_SECRET,
                  "api_url": emulator.url, "api_rate_limit": "off"}
    for name, values in (("envvars", injected_env(credential)), ("extravars", {"home": str(home), "new_password": NEW_PASSWORD})):
        (data / "env" / name).write_text(yaml.safe_dump(values))
        (data / "env" / name).chmod(0o600)
    return home


def ident(play):
    return play.replace(" ", "-")


@pytest.fixture(scope="module")
def jobs(emulator, root):
    """One job per module play; returns ``{play: artifacts dir}``, the secrets seen and the one the control shows."""
    data = root / "job"

    def run(name, tasks):
        artifacts = data / "artifacts" / ident(name)
        (data / "project" / (ident(name) + ".yml")).write_text(yaml.safe_dump(
            [dict(name=name, hosts="localhost", **FACTS.get(name, {"gather_facts": False}), tasks=tasks)], sort_keys=False))
        # the runner's own environment (none of this checkout's ANSIBLE_* or CLICKHOUSE_* settings), with the fact
        # cache where AWX puts it when the job template's fact storage is on
        env = clean_env(HOME=str(root), ANSIBLE_LOCAL_TEMP=str(root / "tmp"), ANSIBLE_CACHE_PLUGIN="jsonfile",
                        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(artifacts / "fact_cache"))
        with mock.patch.dict(os.environ, env, clear=True):
            done = ansible_runner.run(private_data_dir=str(data), playbook=ident(name) + ".yml", ident=ident(name), verbosity=4,
                                      quiet=True)
        assert done.status == "successful", (artifacts / "stdout").read_text()[-4000:]
        return artifacts

    return run_module_plays(emulator, root, run, control=LEAKING_TASKS)


def test_the_scan_finds_secrets_a_leaking_task_puts_into_job_events(jobs, root):
    """The control: the create without no_log and the debugs put their secrets into the job's events, in the tasks'
    results (``event_data.res``), and the scan of the artifacts finds each there."""
    artifacts, secrets, shown = jobs
    control = dict(shown, **{k: v for k, v in secrets.items() if k in ("key secret", "set password")})
    in_results = {}
    for event in job_events(artifacts[CONTROL]):
        for name in leaks(control, json.dumps(event.get("event_data", {}).get("res", {}))):
            in_results.setdefault(name, set()).add(event["event"])
    assert in_results == {name: {"runner_on_ok"} for name in control}
    found = files_with_secrets(artifacts[CONTROL], control, home=root)
    assert found.pop("stdout") == sorted(control)
    assert found.pop("command") == ["key secret"]  # the environment the job started with
    [facts] = [f for f in found if f.startswith("fact_cache/")]
    assert found.pop(facts) == ["key secret"]  # ansible_env: why a job with fact storage must not gather env on localhost
    assert found and set().union(*found.values()) == set(control) and all(f.startswith("job_events/") for f in found)


def test_no_job_event_or_artifact_holds_a_secret(jobs, root):
    artifacts, secrets, shown = jobs
    assert len(secrets) >= 6 and all(secrets.values())  # the key, the set password, 3 services' passwords, a rotation
    events = [e for play in artifacts.values() for e in job_events(play)]
    assert len(events) > 40 and {"verbose", "runner_on_ok", "runner_on_failed", "playbook_on_stats"} <= {e["event"] for e in events}
    text = json.dumps(events)
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in text  # verbosity 4 shows the invocations, the key from the environment masked
    assert "the output has been hidden" in text and "Timed out after 1 s" in text  # no_log tasks and the failed wait ran
    assert list((artifacts["every module"] / "fact_cache").iterdir()), "the fact cache is scanned"
    not_shown = {k: v for k, v in secrets.items() if v not in shown.values() and k not in ("key secret", "set password")}
    for play, path in artifacts.items():
        found = files_with_secrets(path, not_shown if play == CONTROL else secrets, allowed={path / "command"}, home=root)
        assert found == {}, play


def test_secrets_are_only_in_the_inputs_the_chosen_files_and_the_control(jobs, root):
    """The whole home and private data dir: the inputs hold what the user gave, each ``command`` the key secret (the
    job's environment), and nothing else holds any secret but the control job's artifacts."""
    artifacts, secrets, _shown = jobs
    found = files_with_secrets(root, secrets)
    assert found.pop("job/env/envvars") == ["key secret"]
    assert found.pop("job/env/extravars") == ["set password"]
    for play in artifacts:
        assert found.pop("job/artifacts/%s/command" % ident(play)) == ["key secret"]
    assert [f for f in found if not f.startswith("job/artifacts/%s/" % ident(CONTROL))] == []
