"""The bench's plumbing, shared by its sections: emulators that leave nothing behind, the request
log they write, ansible-playbook runs in a process group of their own, the figures collected.

A section module (run.py's own sections, fleet.py) takes a Bench, adds Rows or a report of its
own, and appends to bench.problems whatever did not work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".collections"  # ansible_collections/clickhouse/cloud -> this checkout (make setup)
VENV_BIN = Path(sys.executable).parent
BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(COLLECTIONS))

try:
    from chc_emulator.testing import EmulatorProcess, make_data_dir
except ImportError as exc:
    sys.exit(f"bench: {exc}: run it with .venv/bin/python after `make setup` (which makes {COLLECTIONS})")


@dataclass
class Row:
    section: str
    what: str
    count: int | None = None
    seconds: float | None = None
    calls: str = ""
    note: str = ""
    each: float | None = None  # per item when it is not seconds / count (a mean latency)


@dataclass
class Bench:
    args: argparse.Namespace
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    interrupted: bool = False
    # reports of their own (objects with render() -> str and as_json() -> object), printed after the table
    reports: dict[str, object] = field(default_factory=dict)

    def add(self, *args, **kwargs) -> None:
        self.rows.append(Row(*args, **kwargs))


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- emulators and what they log --------------------------------------------------------------


def processes_mentioning(marker: str) -> list[int]:
    """Ids of the processes whose command line holds marker (an emulator's data dir is unique)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def signals_held():
    """A second Ctrl-C or SIGTERM during a cleanup would leave it half done: hold it until the cleanup is over."""
    held = []
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            raise KeyboardInterrupt


@contextlib.contextmanager
def emulator(bench: Bench, **options):
    """An EmulatorProcess; afterwards no process of it (PostgreSQL included) nor its data dir may be left."""
    # a data dir of our own (mode 0755 for PostgreSQL), named so that what a bench leaves is told apart
    emu = EmulatorProcess(make_data_dir("chc-bench-emu-"), startup_timeout=120, **options)
    try:
        yield emu.start()
    finally:
        with signals_held():
            cleanup(bench, emu)


def cleanup(bench: Bench, emu: EmulatorProcess) -> None:
    """Stop the emulator (it stops its PostgreSQL servers), and make sure nothing of it is left."""
    emu.close()  # close() keeps the data dir, which we made
    # An initdb stopped halfway (the emulator interrupted while it starts) may outlive it for a
    # moment, still writing into the data dir: give such processes a moment before removing it.
    deadline = time.monotonic() + 5
    while (left := processes_mentioning(str(emu.data_dir))) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:  # ours: the data dir in their command line is the one this run made
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if left:
        bench.problems.append(f"processes of the emulator in {emu.data_dir} outlived it by 5 s (killed): {left}")
    if not os.environ.get("CHC_KEEP_EMULATOR_DATA"):
        shutil.rmtree(emu.data_dir, ignore_errors=True)
        if emu.data_dir.exists():
            bench.problems.append(f"the emulator's data dir {emu.data_dir} could not be removed")


class Requests:
    """The lines requests.jsonl gained since the last mark: what the clients cost the API."""

    def __init__(self, emu: EmulatorProcess):
        self.emu = emu
        self.seen = len(emu.requests())

    def take(self) -> list[dict]:
        lines = self.emu.requests()
        new, self.seen = lines[self.seen :], len(lines)
        return new

    @staticmethod
    def calls(lines: list[dict]) -> str:
        """Answered calls, and the 429s of the rate limit apart."""
        refused = sum(1 for line in lines if line["status"] == 429)
        return f"{len(lines) - refused}" + (f" +{refused} 429" if refused else "")

    @staticmethod
    def server_ms(lines: list[dict]) -> str:
        return f"server median {statistics.median(line['duration_ms'] for line in lines):.1f} ms" if lines else ""


# --- ansible-playbook ---------------------------------------------------------------------------


def fleet_inventory(path: Path, hosts: int, access: str = "rules") -> Path:
    """An inventory like the demo's with `hosts` services in one group (JSON is YAML). The role creates no service
    open to every address by omission: access "rules" declares the demo's rule, "public" says the services may be open."""
    inventory = {
        "postgres_services": {
            "vars": {
                "postgres_fleet_provider": "aws", "postgres_fleet_region": "us-east-1", "postgres_fleet_postgres_version": "18",
                "postgres_fleet_size": "r8gd.large", "postgres_fleet_tags": {"env": "bench", "managed_by": "ansible"},
                **({"postgres_fleet_ip_access_list": [{"source": "127.0.0.1/32", "description": "this machine"}]} if access == "rules"
                   else {"postgres_fleet_public": True}),
            },
            "hosts": {f"bench-{i:03d}": {"postgres_fleet_host_tags": {"n": str(i)}} for i in range(hosts)},
        }
    }
    path.write_text(json.dumps(inventory, indent=2) + "\n")
    return path


def ansible_env(emu: EmulatorProcess | None, **extra: str) -> dict[str, str]:
    """The environment of an ansible-playbook run: the collection from this checkout, and the credentials as
    tools/emulator-ctl exports them for tools/demo-fleet (the URL with /v1)."""
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_NOCOLOR": "1",
        **extra,
    }
    if emu is not None:
        env.update({
            "CLICKHOUSE_API_URL": emu.url + "/v1",
            "CLICKHOUSE_ORG_ID": emu.org_id,
            "CLICKHOUSE_CLOUD_API_KEY": emu.admin_key[0],
            "CLICKHOUSE_CLOUD_API_SECRET": emu.admin_key[1],
        })
    return env


def recap(output: str) -> dict[str, int]:
    """The PLAY RECAP's counters summed over the hosts."""
    totals: dict[str, int] = {}
    for key, value in re.findall(r"\b(ok|changed|unreachable|failed|skipped|rescued|ignored)=(\d+)", output.split("PLAY RECAP")[-1]):
        totals[key] = totals.get(key, 0) + int(value)
    return totals


def recap_hosts(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP per host: {host: {ok: .., changed: .., failed: .., ...}}."""
    hosts = {}
    if "PLAY RECAP" not in output:
        return hosts
    for line in output.split("PLAY RECAP")[-1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            hosts[match[1]] = {k: int(v) for k, v in re.findall(r"\b(\w+)=(\d+)", match[2])}
    return hosts


def run_process(command: list[str], env: dict[str, str], timeout: float | None = None) -> tuple[int | None, str]:
    """Run a command (ansible-playbook, a shell loop) in a process group of its own, which goes whole if we
    are interrupted or it times out (killing the main process alone would leave its forks running); its exit
    code (None when it timed out) and output."""
    with subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True) as process:
        try:
            output = process.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return None, process.communicate()[0] + f"\n(timed out after {timeout:.0f} s and was killed)"
        except BaseException:
            with signals_held():
                _kill_group(process)
            raise
    return process.returncode, output


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    with contextlib.suppress(ProcessLookupError):  # whatever of the group is still there
        os.killpg(process.pid, signal.SIGKILL)


def playbook(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """ansible-playbook, its exit code and output (see run_process)."""
    return run_process(command, env)
