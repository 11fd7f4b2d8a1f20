# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crashes in the middle of a fleet create, then the run again: no duplicate, nothing lost without a word.

``playbooks/provision.yml`` creates a 10-host fleet against an emulator whose creates take a moment each (a
scripted latency on every POST) and whose services provision for seconds, at the API's rate limit of 10
requests / 10 s. Once the first creates are in the emulator's request log, either ansible-playbook (with every
process it started: its workers run in sessions of their own and would otherwise finish the job) or the
emulator gets SIGKILL; the emulator comes back on the
same data directory. The re-run must converge to one service per host, each with its connection details in
the credentials directory or named in a warning of the re-run.

Run by ``make crash-test`` (``pytest tests/crash``) with the collection importable from ``.collections``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import emulator_env, tool

EmulatorProcess = pytest.importorskip("chc_emulator.testing").EmulatorProcess

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
HOSTS = ["crash-%02d" % i for i in range(10)]
CREATES_BEFORE_THE_CRASH = 2
CREATE_LATENCY_MS = 600  # spreads the creates over about 6 s, so a crash lands among them


@pytest.fixture
def emulator():
    with EmulatorProcess(no_postgres=True, rate_limit="10/10", provisioning_seconds=5, update_seconds=0.3,
                         restart_seconds=0.3, deletion_seconds=0.3) as emu:
        emu.inject("latency", method="POST", path="/postgres$", count=100, latency_ms=CREATE_LATENCY_MS)
        yield emu


@pytest.fixture
def fleet(tmp_path):
    """A generated 10-host inventory that admits this machine, and the run's home and credentials directory."""
    (tmp_path / "collections" / "ansible_collections" / "clickhouse").mkdir(parents=True)
    (tmp_path / "collections" / "ansible_collections" / "clickhouse" / "cloud").symlink_to(COLLECTION_ROOT)
    inventory = {"postgres_services": {
        "vars": {"postgres_fleet_provider": "aws", "postgres_fleet_region": "us-east-1", "postgres_fleet_size": "r8gd.large",
                 "postgres_fleet_ip_access_list": [{"source": "127.0.0.1/32"}],
                 "postgres_fleet_credentials_dir": str(tmp_path / "credentials"), "postgres_fleet_wait_timeout": 120},
        "hosts": {host: {} for host in HOSTS}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return tmp_path


def provision(emu, home):
    """``ansible-playbook playbooks/provision.yml`` on the fleet, started; its output goes to a file of the run."""
    env = emulator_env(emu, HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(home / "collections"), ANSIBLE_NOCOLOR="1")
    env["CLICKHOUSE_API_RATE_LIMIT"] = "10/10"  # paced as the API limits it
    runs = len(list(home.glob("run-*.log")))
    output = (home / ("run-%d.log" % runs)).open("w")
    command = [tool("ansible-playbook"), "-i", str(home / "inventory.yml"), str(COLLECTION_ROOT / "playbooks" / "provision.yml")]
    return subprocess.Popen(command, env=env, cwd=home, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


def output_of(home, run):
    """The output of the ``run``-th run, as one line of words (warnings wrap)."""
    return " ".join((home / ("run-%d.log" % run)).read_text().split())


def process_tree(pid):
    """``pid`` and every process descended from it (ansible's workers start sessions of their own)."""
    children = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def kill_tree(process):
    """SIGKILL of a run and all its processes at once, as a crash of the controller: nothing of it goes on."""
    tree = process_tree(process.pid)
    for pid in tree:
        os.kill(pid, signal.SIGSTOP)  # frozen first, so none forks or finishes a write while the others die
    for pid in process_tree(process.pid):
        os.kill(pid, signal.SIGKILL)
    return len(tree)


def answered_creates(emu):
    """The creates the emulator has answered (it logs a request once it has answered it)."""
    return sum(1 for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/postgres"))


def wait_for_creates(emu, count, timeout=60):
    """Until ``count`` creates have answered."""
    deadline = time.monotonic() + timeout
    while answered_creates(emu) < count:
        assert time.monotonic() < deadline, "no %d creates after %d s" % (count, timeout)
        time.sleep(0.05)


def services_by_name(emu):
    api = PostgresApi(Transport(emu.url, *emu.admin_key), emu.org_id)
    by_name = {}
    for service in api.list_services():
        by_name.setdefault(service.name, []).append(api.get_service(service.id))
    return by_name


def assert_converged(emu, home, rerun):
    """One running service per host; each with its password in the credentials directory, or named by a warning."""
    services = services_by_name(emu)
    assert sorted(services) == HOSTS
    assert {name: len(same) for name, same in services.items() if len(same) > 1} == {}, "duplicates"
    assert all(same[0].state == "running" for same in services.values())
    text = output_of(home, rerun)
    kept, warned = [], []
    for name, [service] in services.items():
        path = home / "credentials" / (name + ".json")
        if path.exists():
            assert json.loads(path.read_text())["password"] == service.password, name
            kept.append(name)
        else:
            assert "%s has no stored connection details in %s" % (name, home / "credentials") in text, name
            warned.append(name)
    print("kept %d, lost and warned %d (%s)" % (len(kept), len(warned), ", ".join(warned) or "none"))
    return kept, warned


def test_sigkill_of_ansible_playbook_during_the_creates(emulator, fleet):
    killed = provision(emulator, fleet)
    wait_for_creates(emulator, CREATES_BEFORE_THE_CRASH)
    assert kill_tree(killed) > 1, "the worker running the fleet call is killed with ansible-playbook"
    assert killed.wait(30) == -signal.SIGKILL
    time.sleep(CREATE_LATENCY_MS / 1000 + 0.5)  # a create the emulator had in hand commits with nobody to answer
    before = services_by_name(emulator)
    assert CREATES_BEFORE_THE_CRASH <= len(before) < len(HOSTS), "the crash must land among the creates"

    rerun = provision(emulator, fleet)
    assert rerun.wait(180) == 0, output_of(fleet, 1)[-3000:]
    _kept, warned = assert_converged(emulator, fleet, 1)
    assert set(warned) <= set(before), "every create of the re-run keeps its password"


def test_sigkill_of_the_emulator_during_the_creates(emulator, fleet):
    interrupted = provision(emulator, fleet)
    wait_for_creates(emulator, CREATES_BEFORE_THE_CRASH)
    assert emulator.stop(signal.SIGKILL) == -signal.SIGKILL
    assert answered_creates(emulator) < len(HOSTS), "the crash must land among the creates"
    emulator.start()  # the same data directory and port
    emulator.inject("latency", method="POST", path="/postgres$", count=100, latency_ms=CREATE_LATENCY_MS)
    interrupted.wait(180)  # it may ride out the crash through its retries, or fail: either way the re-run converges

    rerun = provision(emulator, fleet)
    assert rerun.wait(180) == 0, output_of(fleet, 1)[-3000:]
    assert_converged(emulator, fleet, 1)
