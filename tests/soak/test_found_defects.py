"""The two defects `make soak` found (docs/reliability.md, Soak), each reproduced with one host and one scripted fault.

Both failed before their fixes (a lost create answer went unsaid by the run that lost it; a refused restart's
failure did not say that a run again does the owed restart) and stay here so they stay fixed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak  # noqa: E402

harness = soak.harness


@pytest.fixture
def emu():
    with harness.EmulatorProcess(no_postgres=True, redact_credentials=True, provisioning_seconds=0.5, update_seconds=0.3,
                                 restart_seconds=0.5, deletion_seconds=0.3) as emulator:
        yield emulator


def play(emu, work: Path, playbook: str, pg_config: dict | None = None) -> tuple[int, str]:
    """One host, r-00, with a credentials directory; the output as one line of words."""
    inventory = {"postgres_services": {
        "vars": {"postgres_fleet_ip_access_list": [{"source": "127.0.0.1/32"}], "postgres_fleet_credentials_dir": str(work / "credentials")},
        "hosts": {"r-00": {"postgres_tune_pg_config": pg_config or {}}}}}
    (work / "inventory.json").write_text(json.dumps(inventory))
    env = harness.ansible_env(emu, HOME=str(work), CLICKHOUSE_API_RATE_LIMIT="off")
    rc, output = harness.run_process([str(harness.VENV_BIN / "ansible-playbook"), "-i", str(work / "inventory.json"),
                                      str(soak.ROOT / "playbooks" / playbook)], env, timeout=300)
    return rc, " ".join(output.split())


def test_a_lost_create_answer_is_warned_by_the_run_that_lost_it(emu, tmp_path):
    emu.inject("drop", method="POST", path="/postgres$")
    rc, output = play(emu, tmp_path, "provision.yml")
    assert rc == 0, output[-2000:]
    assert not (tmp_path / "credentials" / "r-00.json").exists()  # the password went with the answer
    rc, again = play(emu, tmp_path, "provision.yml")
    assert "r-00 has no stored connection details" in again  # the next run says so
    warnings = [chunk[:400].lower() for chunk in output.split("[WARNING]")[1:]]
    assert any("r-00" in w and ("password" in w or "connection details" in w) for w in warnings), "the run that lost it must say so too"


def test_a_refused_restart_says_to_run_again(emu, tmp_path):
    assert play(emu, tmp_path, "provision.yml")[0] == 0
    emu.inject("503", method="PATCH", path="/state$")
    rc, output = play(emu, tmp_path, "tune.yml", {"max_connections": 150})
    assert rc != 0 and "PATCH" in output
    rc, again = play(emu, tmp_path, "tune.yml", {"max_connections": 150})
    assert rc == 0 and "restarting r-00" in again, "the re-run does the owed restart"
    failure = output.split("fatal:", 1)[1][:3000].lower()
    assert any(hint in failure for hint in soak.RERUN_HINTS), "the failure must say to run again"
