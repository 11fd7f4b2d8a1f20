"""The soak's own checks see what they are there to see: a duplicate, drift, a lost password, leftovers, a failed task.

A fault-free emulator is given a fleet made by hand that is wrong in known ways; soak.check() must count each.
Run by `make soak-smoke` before the smoke round itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak  # noqa: E402

HOSTS = ["t-00", "t-01", "t-02"]


@pytest.fixture
def emu():
    with soak.harness.EmulatorProcess(no_postgres=True, provisioning_seconds=0.2) as emulator:
        yield emulator


def create(emu, name, tags):
    body = {"name": name, "provider": "aws", "region": "us-east-1", "size": "r8gd.large",
            "tags": [{"key": k, "value": v} for k, v in tags.items()]}
    response = httpx.post(f"{emu.url}/v1/organizations/{emu.org_id}/postgres", json=body, auth=emu.admin_key, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_check_counts_duplicates_drift_lost_passwords_and_leftovers(emu, tmp_path):
    want = soak.desired(HOSTS, "provision")
    kept = create(emu, "t-00", want["t-00"]["tags"])
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "t-00.json").write_text(json.dumps({"password": kept["password"]}))
    create(emu, "t-01", want["t-01"]["tags"])
    create(emu, "t-01", want["t-01"]["tags"])  # a duplicate, and no credentials file
    create(emu, "t-02", dict(want["t-02"]["tags"], stage="2"))  # drift, and no credentials file
    soak.time.sleep(0.5)  # running

    rnd = soak.Round("t", 0, len(HOSTS), postgres=False)
    soak.check(rnd, emu, tmp_path, "provision", HOSTS)
    assert rnd.figures["duplicates"] == 1
    assert rnd.figures["drift size/tags/state (API)"] == 1
    assert rnd.figures["drift config (API)"] == 0
    assert set(rnd.lost) == {"t-01", "t-02"}

    soak.check(rnd, emu, tmp_path, "decommission", HOSTS)
    assert rnd.figures["leftover services"] == 4
    assert rnd.figures["leftover credential files"] == 1
    assert rnd.figures["leftover servers and data dirs"] == 0  # --no-postgres: no servers


def test_failures_and_the_table():
    output = ('fatal: [a -> localhost]: FAILED! => {"changed": false, "msg": "timed out ...: run again to keep waiting"}\n'
              "PLAY RECAP ***\na : ok=2 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0\n")
    run = soak.Run("tune", 1, 2, output, 1.0, [])
    assert run.failures() == [("a -> localhost", "timed out ...: run again to keep waiting")]
    assert run.tasks == 3
    assert soak.Run("tune", 1, 250, "ERROR! something", 1.0, []).failures()[0][0] == "(run)"

    rnd = soak.Round("t", 0, 1, postgres=False)
    assert soak.table([rnd])[1] is True
    rnd.figures["failed tasks"] = 1
    text, ok = soak.table([rnd])
    assert not ok and "| failed tasks | 1 | 1 | 0 | NO |" in text
