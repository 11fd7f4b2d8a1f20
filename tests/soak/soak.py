"""`make soak` (issue 14): the fleet playbooks under seeded faults, checked against the emulator after every step.

Each round is a fresh emulator with random faults drawn from its own seed (FAULTS: 5xx, 429, answers lost after
the request committed, latency) and the live API's credential redaction, so a lost create answer loses the
password for good. Real `ansible-playbook` runs the collection's playbooks and roles on a generated inventory:

  provision     playbooks/provision.yml from nothing
  change        the same with a tag changed on every service and a bigger size on every fourth
  tune          playbooks/tune.yml (postgres_tune): two reloadable settings on every service and a restart-only
                one (max_connections) on every fifth
  again         provision.yml and tune.yml once more: nothing may change
  decommission  playbooks/decommission.yml -e postgres_decommission_confirm=true

After each step the runner reads the emulator's own state (its SQLite store and requests.jsonl), the credentials
directory and, in the config round (real PostgreSQL servers), `SHOW <setting>` on every server. A step whose run
fails a task is run once more, so that the next steps start from a converged fleet. A failure whose message says to
run again ("run again", "re-run") counts as a re-run; any other failure, and any failure of the second run, as a
failed task.

The fault rounds run without PostgreSQL servers (--no-postgres) and without the emulator's rate limit (10/10):
its 429s come from the fault injection instead, which keeps a 20-service round to a minute or two. The config
round runs the same steps on real servers, with the same faults.

    .venv/bin/python tests/soak/soak.py                 # make soak: 5 rounds of 20 services and a config round
    .venv/bin/python tests/soak/soak.py --smoke         # make soak-smoke (in make test)
    .venv/bin/python tests/soak/soak.py --help

Prints one table and exits 1 when a target is missed (README.md beside this file says how each figure is counted).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import harness  # noqa: E402  (tests/bench/harness.py: emulators, ansible-playbook runs, PLAY RECAPs)
from chc_emulator.app import servers_link  # noqa: E402
from chc_emulator.store import settle  # noqa: E402

ROOT = harness.ROOT
# about 5 % 5xx, 5 % 429, 2 % answers lost after the request committed, 5 % of requests 300 ms late
FAULTS = "500=0.017,502=0.017,503=0.016,429=0.05,drop=0.02,latency=0.05"
FAULT_LATENCY_MS = 300
RETRIED_FAULTS = ("500", "502", "503", "429", "drop")
# what a failure says when the documented way out is to run the playbook again
RERUN_HINTS = ("run again", "re-run", "rerun")
SIZES = ("r8gd.large", "r8gd.xlarge")
# what a run says of a service whose password it holds nowhere: the run that lost it, and every later run
WARNED = ("{name} was created, but the answer that carries its password", "{name} has no stored connection details")
PLAYBOOKS = {"provision": ["provision.yml"], "change": ["provision.yml"], "tune": ["tune.yml"], "again": ["provision.yml", "tune.yml"],
             "decommission": ["decommission.yml"]}
STEPS = tuple(PLAYBOOKS)


def say(text: str) -> None:
    harness.say(text)


# --- the inventory each step wants -------------------------------------------------------------


def desired(hosts: list[str], step: str) -> dict[str, dict]:
    """Per host: size, tags and (from tune on) pg_config, as the inventory of `step` says."""
    changed = STEPS.index(step) >= STEPS.index("change")
    tuned = STEPS.index(step) >= STEPS.index("tune")
    want = {}
    for i, host in enumerate(hosts):
        pg_config = {"work_mem": "8MB", "statement_timeout": "30s"} if tuned else {}
        if tuned and i % 5 == 2:
            pg_config["max_connections"] = "150"  # restart-only
        want[host] = {
            "size": SIZES[1] if changed and i % 4 == 1 else SIZES[0],
            "tags": {"env": "soak", "n": str(i), "stage": "2" if changed else "1"},
            "pg_config": pg_config,
        }
    return want


def write_inventory(path: Path, want: dict[str, dict], credentials: Path) -> None:
    hosts = {host: {"postgres_fleet_size": w["size"], "postgres_fleet_tags": w["tags"], "postgres_tune_pg_config": w["pg_config"]}
             for host, w in want.items()}
    inventory = {"postgres_services": {
        "vars": {
            "postgres_fleet_provider": "aws", "postgres_fleet_region": "us-east-1", "postgres_fleet_postgres_version": "18",
            "postgres_fleet_ip_access_list": [{"source": "127.0.0.1/32", "description": "this machine"}],
            "postgres_fleet_credentials_dir": str(credentials), "postgres_fleet_wait_timeout": 600,
            "postgres_tune_wait_timeout": 600, "postgres_tune_max_restarting": 2,
        },
        "hosts": hosts,
    }}
    path.write_text(json.dumps(inventory, indent=2) + "\n")


# --- what a run printed -------------------------------------------------------------------------


@dataclass
class Run:
    step: str
    attempt: int
    rc: int | None
    output: str
    seconds: float
    requests: list[dict]

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return harness.recap_hosts(self.output)

    @property
    def tasks(self) -> int:
        return sum(h.get("ok", 0) + h.get("failed", 0) + h.get("skipped", 0) for h in self.recap.values())

    def failures(self) -> list[tuple[str, str]]:
        """(host, message) of each failed task; a run that died without a recap is one failure."""
        found = []
        for match in re.finditer(r"^fatal: \[([^\]]+)\]: FAILED! => (.*)$", self.output, re.M):
            try:
                message = json.loads(match[2]).get("msg", match[2])
            except ValueError:
                message = match[2]
            found.append((match[1], str(message)))
        if not found and (self.rc != 0 or sum(h.get("failed", 0) for h in self.recap.values())):
            found.append(("(run)", "exit code %s, no task failure printed: %s" % (self.rc, self.output[-500:])))
        return found


# --- the emulator's state -----------------------------------------------------------------------


def services(data_dir: Path) -> list[dict]:
    """The services of the emulator's store, settled as the emulator would show them now (without asking it: its
    API injects faults)."""
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'state.db'}?mode=ro", uri=True)) as db:
        docs = [json.loads(doc) for (doc,) in db.execute("SELECT doc FROM services ORDER BY seq")]
    now = time.time()
    for doc in docs:
        settle(doc, now)
    return [doc for doc in docs if not doc.get("gone")]


def show(details: dict, keys: list[str]) -> dict[str, str]:
    """SHOW each setting on a server, connected with `details` (a credentials file's, or the store's)."""
    import psycopg  # the emulator's dependency: in .venv after make setup

    with psycopg.connect(host=details["host"], port=details["port"], user=details["username"], password=details["password"],
                         dbname=details.get("database", "postgres"), connect_timeout=10) as conn:
        return {key: conn.execute("SHOW %s" % key).fetchone()[0] for key in keys}  # keys: the runner's own names


def server_leftovers(data_dir: Path, emulator_pid: int | None) -> tuple[list[str], list[int]]:
    """Service directories of the backend (services/<id>, wherever the servers live) and processes running from them."""
    dirs = []
    root = servers_link(data_dir)
    if (root / "services").is_dir():
        dirs = sorted(p.name for p in (root / "services").iterdir() if not p.name.startswith("."))
    marker = str((root / "services").resolve())
    processes = [pid for pid in harness.processes_mentioning(marker) if pid != emulator_pid]
    return dirs, processes


# --- one round ----------------------------------------------------------------------------------


@dataclass
class Round:
    label: str
    seed: int
    services: int
    postgres: bool
    runs: list[Run] = field(default_factory=list)
    figures: collections.Counter = field(default_factory=collections.Counter)
    problems: list[str] = field(default_factory=list)
    lost: dict[str, str] = field(default_factory=dict)  # host -> the step after which its password was found lost
    seconds: float = 0.0

    def note(self, figure: str, count: int, what: str) -> None:
        self.figures[figure] += count
        if count:
            self.problems.append(f"{self.label}: {what}")

    def outputs(self, step: str | None = None) -> str:
        """The runs' output (of one step's runs), as one line of words: warnings wrap."""
        return " ".join(" ".join(run.output.split()) for run in self.runs if step in (None, run.step))


def play(rnd: Round, emu, work: Path, step: str, env: dict[str, str]) -> None:
    """The step's playbook; once more when it failed and every failure says to run it again."""
    command = [str(harness.VENV_BIN / "ansible-playbook"), "-i", str(work / "inventory.json"), *(str(ROOT / "playbooks" / p) for p in PLAYBOOKS[step])]
    if step == "decommission":
        command += ["-e", "postgres_decommission_confirm=true"]
    for attempt in (1, 2):
        mark = len(emu.requests())
        started = time.monotonic()
        rc, output = harness.run_process(command, env, timeout=1200)
        run = Run(step, attempt, rc, output, time.monotonic() - started, emu.requests()[mark:])
        rnd.runs.append(run)
        (work / f"{step}-{attempt}.log").write_text(output)
        failures = run.failures()
        say(f"{rnd.label} {step} run {attempt}: rc {rc}, {len(failures)} failed, {len(run.requests)} requests, {run.seconds:.0f} s")
        if not failures:
            if step == "again":
                changed = sorted(host for host, counts in run.recap.items() if counts.get("changed"))
                rnd.note("changes on the second run", len(changed), f"the second run of provision.yml and tune.yml changed {changed}")
            return
        documented = attempt == 1 and all(any(hint in message.lower() for hint in RERUN_HINTS) for _, message in failures)
        for host, message in failures:
            if documented:
                rnd.figures["re-runs"] += 1
                rnd.problems.append(f"{rnd.label}: (re-run, allowed) {step} {host}: {message[:300]}")
            else:
                rnd.note("failed tasks", 1, f"{step} run {attempt} {host}: {message[:600]}")
        if attempt == 1 and not documented:
            rnd.figures["re-runs"] += 1  # still run it again, so that the later steps start from a converged fleet
            rnd.problems.append(f"{rnd.label}: {step} run again after a failure that did not say to")


def check(rnd: Round, emu, work: Path, step: str, hosts: list[str]) -> None:
    """Duplicates, drift (API, and server in the config round), lost passwords; after decommission, leftovers."""
    docs = services(emu.data_dir)
    by_name = collections.defaultdict(list)
    for doc in docs:
        by_name[doc["name"]].append(doc)
    dups = {name: len(same) for name, same in by_name.items() if len(same) > 1}
    rnd.note("duplicates", sum(n - 1 for n in dups.values()), f"after {step}: services sharing a name: {dups}")
    if step == "decommission":
        rnd.note("leftover services", len(docs), f"after decommission the API still has {[d['name'] for d in docs]}")
        dirs, processes = server_leftovers(emu.data_dir, emu.process.pid if emu.process else None)
        rnd.note("leftover servers and data dirs", len(dirs) + len(processes), f"after decommission: service dirs {dirs}, processes {processes}")
        files = sorted(p.name for p in (work / "credentials").glob("*.json")) if (work / "credentials").exists() else []
        rnd.note("leftover credential files", len(files), f"after decommission: credential files {files}")
        return
    want = desired(hosts, step)
    api_drift, config_drift, server_drift = [], [], []
    for host, w in want.items():
        same = by_name.get(host, [])
        if not same:
            api_drift.append(f"{host} missing")
            continue
        doc = same[0]
        tags = {t["key"]: t["value"] for t in doc.get("tags", [])}
        if doc["state"] != "running" or doc["size"] != w["size"] or tags != w["tags"]:
            api_drift.append(f"{host}: {doc['state']} {doc['size']} {tags}")
        stored = {k: doc["pgConfig"].get(k) for k in w["pg_config"]}
        if stored != w["pg_config"]:
            config_drift.append(f"{host}: API {stored}")
        path = work / "credentials" / f"{host}.json"
        details = json.loads(path.read_text()) if path.exists() else {}
        if details.get("password") != doc["password"]:
            rnd.lost.setdefault(host, step)
            details = {"host": "127.0.0.1", "port": doc["port"], "username": "postgres", "password": doc["password"]}
        if rnd.postgres:
            # the stored file's details must let one in (a lost password must not hide drift: then the store's)
            try:
                running = show(details, sorted(w["pg_config"]) or ["server_version"])
            except Exception as exc:  # noqa: BLE001 - any failure to read the server is drift to report
                running = {"error": str(exc)[:200]}
            rnd.figures["servers checked (SHOW)"] += 1
            if w["pg_config"] and running != w["pg_config"] or "error" in running:
                server_drift.append(f"{host}: server {running}")
    rnd.note("drift size/tags/state (API)", len(api_drift), f"after {step}: {api_drift}")
    rnd.note("drift config (API)", len(config_drift), f"after {step}: {config_drift}")
    rnd.note("drift config (server)", len(server_drift), f"after {step}: {server_drift}")



def warned(name: str, output: str) -> bool:
    """The output says the service's password is stored nowhere (Ansible may wrap a warning's lines)."""
    words = " ".join(output.split())
    return any(" ".join(phrase.format(name=name).split()) in words for phrase in WARNED)

def soak_round(label: str, seed: int, hosts: list[str], postgres: bool, keep: bool) -> Round:
    rnd = Round(label, seed, len(hosts), postgres)
    work = Path(tempfile.mkdtemp(prefix=f"chc-soak-{label}-"))
    (work / "home").mkdir()
    started = time.monotonic()
    options = dict(no_postgres=not postgres, rate_limit="off", faults=FAULTS, fault_latency_ms=FAULT_LATENCY_MS, seed=seed,
                   redact_credentials=True, provisioning_seconds=3, update_seconds=1, restart_seconds=1, deletion_seconds=1)
    bench = types.SimpleNamespace(problems=[])  # what harness.cleanup finds left of the emulator
    emu = harness.EmulatorProcess(harness.make_data_dir("chc-soak-emu-"), startup_timeout=120, **options)
    try:
        emu.start()
        # the emulator's limit is off, so the client's pacer is too (CLICKHOUSE_API_RATE_LIMIT)
        env = harness.ansible_env(emu, HOME=str(work / "home"), CLICKHOUSE_API_RATE_LIMIT="off")
        for step in STEPS:
            write_inventory(work / "inventory.json", desired(hosts, step), work / "credentials")
            play(rnd, emu, work, step, env)
            check(rnd, emu, work, step, hosts)
        rows = emu.requests()
    except BaseException:
        say(f"{label}: stopped; its logs and inventory are in {work}")
        raise
    finally:
        with harness.signals_held():
            harness.cleanup(bench, emu)
    rnd.note("leftover servers and data dirs", len(bench.problems), f"after the emulator stopped: {bench.problems}")
    text = rnd.outputs()
    at_once = sorted(name for name, step in rnd.lost.items() if warned(name, rnd.outputs(step)))
    later = sorted(name for name in rnd.lost if name not in at_once and warned(name, text))
    never = sorted(set(rnd.lost) - set(at_once) - set(later))
    rnd.figures["passwords lost, warned"] = len(at_once)
    if at_once:
        rnd.problems.append(f"{label}: (warned) passwords lost and warned by the run that lost them: {at_once}")
    rnd.note("passwords lost, warned only later", len(later),
             "passwords lost without a warning from the run that lost them, warned by a later run: "
             + ", ".join(f"{name} (lost in {rnd.lost[name]})" for name in later))
    rnd.note("passwords lost, never warned", len(never), f"passwords lost and never warned: {never}")
    faults = collections.Counter(row.get("fault") for row in rows if row.get("fault"))
    rnd.figures["requests"] = len(rows)
    rnd.figures["tasks"] = sum(run.tasks for run in rnd.runs)
    rnd.figures["faults 5xx"] = faults["500"] + faults["502"] + faults["503"]
    rnd.figures["faults 429"] = faults["429"]
    rnd.figures["faults lost answer"] = faults["drop"]
    rnd.figures["of them after a write"] = sum(1 for row in rows if row.get("fault") == "drop" and row["method"] != "GET")
    rnd.figures["faults latency"] = faults["latency"]
    rnd.figures["retries"] = sum(faults[kind] for kind in RETRIED_FAULTS)
    rnd.seconds = time.monotonic() - started
    if keep or any(not p.startswith(f"{label}: (") for p in rnd.problems):
        say(f"{label}: logs and inventory kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return rnd


# --- the table ----------------------------------------------------------------------------------

# figure, target (None: reported, no target)
ROWS = (
    ("tasks", None), ("requests", None), ("faults 5xx", None), ("faults 429", None), ("faults lost answer", None),
    ("of them after a write", None), ("faults latency", None), ("retries", None), ("re-runs", None), ("failed tasks", 0), ("duplicates", 0),
    ("changes on the second run", 0), ("drift size/tags/state (API)", 0), ("drift config (API)", 0), ("drift config (server)", 0),
    ("servers checked (SHOW)", None), ("passwords lost, warned", None), ("passwords lost, warned only later", 0),
    ("passwords lost, never warned", 0), ("leftover services", 0),
    ("leftover servers and data dirs", 0), ("leftover credential files", 0),
)


def table(rounds: list[Round]) -> tuple[str, bool]:
    heads = [f"{r.label} (seed {r.seed}{', PG' if r.postgres else ''})" for r in rounds]
    lines = ["| figure | " + " | ".join(heads) + " | total | target | met |", "|---" * (len(rounds) + 4) + "|"]
    ok = True
    for figure, target in ROWS:
        values = []
        for r in rounds:
            values.append("-" if figure in ("drift config (server)", "servers checked (SHOW)") and not r.postgres else str(r.figures[figure]))
        total = sum(r.figures[figure] for r in rounds)
        met = "" if target is None else ("yes" if total <= target else "NO")
        ok = ok and met != "NO"
        lines.append(f"| {figure} | " + " | ".join(values) + f" | {total} | {'-' if target is None else target} | {met} |")
    lines.append("| wall time s | " + " | ".join(f"{r.seconds:.0f}" for r in rounds) + f" | {sum(r.seconds for r in rounds):.0f} | - | |")
    return "\n".join(lines), ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="fault rounds without PostgreSQL (default %(default)s)")
    p.add_argument("--services", type=int, default=20, help="services per fault round (default %(default)s)")
    p.add_argument("--seeds", default="", help="comma-separated seeds of the fault rounds (default 1..ROUNDS)")
    p.add_argument("--pg-services", type=int, default=20, help="services of the config round on real PostgreSQL, 0: none (default %(default)s)")
    p.add_argument("--pg-seed", type=int, default=100, help="seed of the config round (default %(default)s)")
    p.add_argument("--smoke", action="store_true", help="make test's round: one fault round of 5 services and a config round of 3")
    p.add_argument("--keep", action="store_true", help="keep every round's logs and inventory (kept anyway when a target is missed)")
    args = p.parse_args(argv)
    if args.smoke:
        args.rounds, args.services, args.pg_services, args.seeds = 1, 5, 3, args.seeds or "7"
    args.seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(range(1, args.rounds + 1))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    say(f"soak: faults {FAULTS}, latency {FAULT_LATENCY_MS} ms; rounds {args.seeds} of {args.services} services"
        + (f", config round of {args.pg_services} on PostgreSQL (seed {args.pg_seed})" if args.pg_services else ""))
    rounds = []
    try:
        for seed in args.seeds:
            rounds.append(soak_round(f"r{seed}", seed, [f"soak-{seed}-{i:02d}" for i in range(args.services)], False, args.keep))
        if args.pg_services:
            rounds.append(soak_round("pg", args.pg_seed, [f"soak-pg-{i:02d}" for i in range(args.pg_services)], True, args.keep))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    text, ok = table(rounds)
    print(text)
    for r in rounds:
        for problem in r.problems:
            print("  " + problem)
    print("soak: every target met" if ok else "soak: TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
