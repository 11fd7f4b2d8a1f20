"""The `fleet` section of `make bench` (issue 9's measurement): what a fleet of N services costs at the API's
rate limit, against the lower bound the limit allows, for the collection's playbooks and for what users
write instead.

For each N and forks, against a fresh --no-postgres emulator with the rate limit (10/10) and a fixed
provisioning time, the tools run these scenarios, one after the other:

  zero          the fleet from nothing (playbooks/provision.yml)
  nochange      the same again: nothing to do
  change        a tag more on every service (-e postgres_fleet_tags=...)
  decommission  playbooks/decommission.yml -e postgres_decommission_confirm=true

  collection    the collection's playbooks (every scenario), on an inventory that declares access rules as
                demo.yml does ("collection rules") and on one that says postgres_fleet_public ("collection public")
  uri           tests/bench/uri_fleet.yml, plain ansible.builtin.uri per host (zero, nochange)
  cli           tests/bench/cli_fleet.sh, a shell loop of the official clickhousectl (zero, nochange; one loop, no forks)
  floor         tests/bench/floor.yml, one ansible.builtin.debug task per host: what a play itself costs
  module        one host: one clickhouse.cloud.postgres_info task against one ansible.builtin.uri GET, --module-runs each

Per run: the wall time, the API calls by kind from the emulator's requests.jsonl, the 429 answers, the
failed hosts (PLAY RECAP), the lower bound (see lower_bound) and the ratio, and the target it is held to
(printed, never asserted: tests/bench/README.md lists them). Before each run the bench waits until the
emulator's rate-limit window holds none of the previous run's requests, so every bound starts from an
empty window.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import tempfile
import time
import urllib.request
from base64 import b64encode
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import BENCH_DIR, ROOT, VENV_BIN, Bench, ansible_env, emulator, fleet_inventory, recap_hosts, run_process, say

SCENARIOS = ("zero", "nochange", "change", "decommission")
TOOLS = ("collection", "uri", "cli", "floor", "module")
ACCESS = ("rules", "public")  # the collection's inventory: access rules declared (demo.yml's style), or postgres_fleet_public
SCENARIO_TEXT = {"zero": "from zero", "nochange": "no change", "change": "tag on all", "decommission": "decommission"}
OTHER_SCENARIOS = ("zero", "nochange")  # what uri_fleet.yml and cli_fleet.sh do
KINDS = ("list", "get", "post", "patch", "delete", "other")
CHANGE_TAGS = {"env": "bench", "managed_by": "ansible", "bench_change": "1"}  # the inventory's group tags, one more
TARGET_RATIO = 1.15  # from zero and change: at most this times the lower bound
NOCHANGE_FLOOR_RATIO = 1.5  # no change: at most this times the floor play of the same N and forks
MODULE_URI_RATIO = 1.3  # one module task: at most this times one uri task


# --- figures ----------------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    scenario: str
    hosts: int
    forks: int | None
    seconds: float | None = None
    outcome: str = ""  # finished / failed (rc N) / timed out
    failed_hosts: int | None = None
    calls: dict[str, int] = field(default_factory=dict)  # answered calls by kind, and "429"
    bound: float | None = None  # seconds
    target: str = ""  # what the run is held to; "" when nothing
    met: bool | None = None
    note: str = ""
    timing: dict | None = None  # where an ansible-playbook run's time went (bench_timing callback)
    load: float | None = None  # the machine's 1-minute load average when the run started
    output_tail: str = field(default="", repr=False)  # the run's last lines, for a problem report

    @property
    def ratio(self) -> float | None:
        """wall / bound, for a run that finished (a run that gave up early beats any bound)."""
        return self.seconds / self.bound if self.seconds is not None and self.bound and self.outcome == "finished" else None

    @property
    def writes(self) -> int:
        return sum(self.calls.get(k, 0) for k in ("post", "patch", "delete", "other"))


@dataclass
class FleetReport:
    runs: list[Run] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def render(self) -> str:
        if not self.runs:
            return ""
        header = ("tool", "scenario", "N", "forks", "wall s", "list", "get", "post", "patch", "delete", "other", "429",
                  "ended", "failed", "bound s", "ratio", "target", "met", "load", "notes")
        cells = [header]
        for r in self.runs:
            c = r.calls
            cells.append((r.tool, SCENARIO_TEXT.get(r.scenario, r.scenario), str(r.hosts), "" if r.forks is None else str(r.forks),
                          "" if r.seconds is None else f"{r.seconds:.2f}", *(str(c.get(k, 0)) if c else "" for k in (*KINDS, "429")),
                          r.outcome, "" if r.failed_hosts is None else str(r.failed_hosts), "" if r.bound is None else f"{r.bound:.2f}",
                          "" if r.ratio is None else f"{r.ratio:.2f}", r.target, {True: "yes", False: "NO", None: ""}[r.met],
                          "" if r.load is None else f"{r.load:.2f}",
                          r.note))
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        right = set(range(2, 12)) | {13, 14, 15, 18}
        lines = ["fleet: " + ", ".join(f"{k} {','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in self.settings.items())]
        for n, row in enumerate(cells):
            lines.append("  ".join(row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i]) for i in range(len(header))).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        met = [r for r in self.runs if r.met is not None]
        if met:
            lines.append(f"targets met: {sum(r.met for r in met)} of {len(met)}"
                         + "".join(f"\n  missed: {r.tool} {SCENARIO_TEXT.get(r.scenario, r.scenario)} N={r.hosts} forks={r.forks}: {r.target}"
                                   for r in met if not r.met))
        where = [r for r in self.runs if r.timing and r.tool.split()[0] in ("collection", "floor")]
        if where:
            lines.append("where the time goes (bench_timing callback: process start to the first task, each task, its end to the exit; s):")
            lines.extend(f"  {r.tool} {SCENARIO_TEXT.get(r.scenario, r.scenario)} N={r.hosts} forks={r.forks}: {timing_text(r.timing)}" for r in where)
        return "\n".join(lines)

    def as_json(self) -> object:
        return {"settings": self.settings, "runs": [{k: v for k, v in dict(asdict(r), ratio=r.ratio).items() if k != "output_tail"} for r in self.runs]}

    @classmethod
    def from_json(cls, *documents: dict) -> FleetReport:
        """The report of one or more --json files' "fleet" parts, in order (to merge runs made apart)."""
        report = cls()
        for doc in documents:
            report.settings.update(doc["settings"])
            report.runs += [Run(**{k: v for k, v in run.items() if k != "ratio"}) for run in doc["runs"]]
        return report

    def markdown(self) -> str:
        """The table as Markdown (for README.md's Performance section)."""
        header = ("tool", "scenario", "N", "forks", "wall s", "list / get / post / patch / delete", "429", "ended", "failed",
                  "bound s", "ratio", "target", "met", "load")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in self.runs:
            c = r.calls
            calls = " / ".join(str(c.get(k, 0)) for k in KINDS[:5]) + (f" + {c['other']} other" if c.get("other") else "") if c else ""
            lines.append("| " + " | ".join((
                r.tool, SCENARIO_TEXT.get(r.scenario, r.scenario), str(r.hosts), "" if r.forks is None else str(r.forks),
                "" if r.seconds is None else f"{r.seconds:.{2 if r.seconds < 10 else 1}f}", calls, str(c.get("429", "")) if c else "",
                r.outcome, "" if r.failed_hosts is None else str(r.failed_hosts), "" if r.bound is None else f"{r.bound:.2f}".rstrip("0").rstrip("."),
                "" if r.ratio is None else f"{r.ratio:.2f}", r.target.replace("<=", "≤").replace(" x ", " × "),
                {True: "yes", False: "**no**", None: ""}[r.met], "" if r.load is None else f"{r.load:.1f}")) + " |")
        return "\n".join(lines)


def timing_text(timing: dict) -> str:
    parts = [f"start {timing['startup']:.2f}"]
    parts += [f"{short(t['name'])} {t['seconds']:.2f}" for t in timing["tasks"]]
    parts.append(f"end {timing['teardown']:.2f}")
    return ", ".join(parts)


def short(task: str, most: int = 48) -> str:
    """A task's name without its role, cut to `most` characters."""
    name = task.split(" : ", 1)[-1]
    return name if len(name) <= most else name[: most - 1] + "…"


def lower_bound(writes: int, limit: tuple[int, float], settle: float, observe: bool = True) -> float:
    """Seconds the fastest possible client needs for one listing and `writes` more requests (the writes, and
    the reads of what the list lacks), then (observe) one more request that sees the last write settled
    `settle` seconds after it.

    The emulator (chc_emulator/ratelimit.py) admits a request when fewer than c requests were admitted in
    the last W seconds (a sliding window; a refused request does not count). From an empty window,
    request k (k = 0 the listing, 1..writes the others) is therefore admitted at W*floor(k/c) at the
    earliest: the last write at W*floor(writes/c). Its service settles `settle` s later, and the request
    that sees it, number writes+1, cannot come before W*floor((writes+1)/c) either:

        bound = max(W*floor(writes/c) + settle, W*floor((writes+1)/c))    (observe)
        bound = W*floor(writes/c)                                          (the last answer is the outcome)
    """
    c, window = limit
    last = window * (writes // c)
    return max(last + settle, window * ((writes + 1) // c)) if observe else last


def count_calls(lines: list[dict], org_id: str) -> dict[str, int]:
    listing = f"/v1/organizations/{org_id}/postgres"
    counts = dict.fromkeys((*KINDS, "429"), 0)
    for line in lines:
        if line["status"] == 429:
            counts["429"] += 1
        elif line["method"] == "GET":
            counts["list" if line["path"] == listing else "get"] += 1
        elif line["method"] in ("POST", "PATCH", "DELETE") and line["path"].startswith(listing):
            is_service = line["path"] == listing or line["path"].count("/") == listing.count("/") + 1
            counts[line["method"].lower() if is_service else "other"] += 1
        else:
            counts["other"] += 1
    return counts


def parse_limit(text: str) -> tuple[int, float]:
    count, _, seconds = text.partition("/")
    return int(count), float(seconds)


# --- running things ---------------------------------------------------------------------------


class Fleet:
    """One fresh emulator with the API's limit, an inventory of N hosts, and the runs against them."""

    def __init__(self, bench: Bench, report: FleetReport, emu, work: Path, hosts: int, access: str = "rules"):
        self.bench, self.report, self.emu, self.work, self.hosts = bench, report, emu, work, hosts
        self.args = bench.args
        self.limit = parse_limit(self.args.rate_limit)
        self.inventory = fleet_inventory(work / "inventory.yml", hosts, access)
        self.credentials = work / "credentials"
        self.seen = 0  # lines of requests.jsonl already accounted for
        self.runs = 0

    def quiet_window(self) -> None:
        """Wait until the rate-limit window holds no request of an earlier run (the bounds start from empty)."""
        lines = self.emu.requests()
        if not lines:
            return
        last = dt.datetime.fromisoformat(lines[-1]["time"]).timestamp()
        pause = last + self.limit[1] + 0.5 - time.time()
        if pause > 0:
            time.sleep(pause)

    def new_lines(self) -> list[dict]:
        lines = self.emu.requests()
        new, self.seen = lines[self.seen :], len(lines)
        return new

    def ansible(self, tool: str, scenario: str, playbook: Path, forks: int, extra: list[str]) -> Run:
        """ansible-playbook on the inventory with -f forks; its Run (calls, failed hosts, timings)."""
        self.runs += 1
        timing_file = self.work / f"timing-{self.runs}.json"
        env = ansible_env(self.emu, ANSIBLE_CALLBACK_PLUGINS=str(BENCH_DIR / "callback_plugins"),
                          ANSIBLE_CALLBACKS_ENABLED="bench_timing", BENCH_TIMING_FILE=str(timing_file))
        command = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook), "-f", str(forks), *extra]
        return self.run_command(tool, scenario, forks, command, env, timing_file)

    def run_command(self, tool, scenario, forks, command, env, timing_file=None) -> Run:
        """Run a command (a playbook, the CLI loop) from an empty rate-limit window; its Run."""
        self.quiet_window()
        self.new_lines()
        say(f"fleet: {tool} {SCENARIO_TEXT.get(scenario, scenario)}, N={self.hosts}" + (f", forks {forks}" if forks else ""))
        load, started_wall, started = load1(), time.time(), time.monotonic()
        returncode, output = run_process(command, env, timeout=self.args.fleet_timeout)
        took = time.monotonic() - started
        run = Run(tool, scenario, self.hosts, forks, took, calls=count_calls(self.new_lines(), self.emu.org_id), load=load)
        run.outcome = "finished" if returncode == 0 else "timed out" if returncode is None else f"failed (rc {returncode})"
        hosts = recap_hosts(output)
        if hosts:
            run.failed_hosts = sum(1 for h in hosts.values() if h.get("failed") or h.get("unreachable"))
        elif "SUMMARY" in output:  # the CLI loop's own recap
            run.failed_hosts = int(output.rsplit("SUMMARY", 1)[1].split("failed=")[1].split()[0])
        if timing_file is not None and timing_file.exists():
            run.timing = timings(json.loads(timing_file.read_text()), started_wall, started_wall + took)
        run.output_tail = "\n".join(output.splitlines()[-40:])
        c = run.calls
        say(f"fleet:   {took:.1f} s, {run.outcome}, failed hosts {run.failed_hosts}, calls "
            + ", ".join(f"{k} {c[k]}" for k in (*KINDS, "429") if c.get(k)))
        self.report.runs.append(run)
        return run


def load1() -> float:
    """The 1-minute load average: the figures of a run move with it (colleagues' tests share the machine)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def timings(record: dict, started: float, ended: float) -> dict:
    """The callback's record as seconds: process start to the first task, each task, last task to the exit."""
    tasks = [t for t in record["tasks"] if t["end"] is not None] or record["tasks"]
    out = {"startup": (tasks[0]["start"] if tasks else ended) - started, "tasks": [], "teardown": 0.0}
    for i, task in enumerate(tasks):
        end = task["end"] if task["end"] is not None else (tasks[i + 1]["start"] if i + 1 < len(tasks) else ended)
        nxt = tasks[i + 1]["start"] if i + 1 < len(tasks) else None
        out["tasks"].append({"name": task["name"] + (" (handler)" if task["handler"] else ""), "seconds": (nxt or end) - task["start"],
                             "results": task["results"]})
    if tasks:
        last = tasks[-1]["end"] or tasks[-1]["start"]
        out["teardown"] = ended - last
    return out


# --- the tools --------------------------------------------------------------------------------


def collection(bench: Bench, report: FleetReport, hosts: int, forks: int, floors: dict, access: str) -> None:
    """The collection's playbooks, every scenario in turn, on an inventory that declares access rules (the demo's
    style) or says postgres_fleet_public (none declared)."""
    args = bench.args
    scenarios = args.fleet_scenarios
    tool = f"collection {access}"
    timings_ = {"provisioning_seconds": args.fleet_provisioning_seconds, "deletion_seconds": args.fleet_deletion_seconds,
                "update_seconds": 1, "restart_seconds": 1}
    with tempfile.TemporaryDirectory(prefix="chc-bench-fleet-") as work, \
            emulator(bench, no_postgres=True, rate_limit=args.rate_limit, **timings_) as emu:
        fleet = Fleet(bench, report, emu, Path(work), hosts, access)
        common = ["-e", f"postgres_fleet_credentials_dir={fleet.credentials}"]
        provision, decommission = ROOT / "playbooks/provision.yml", ROOT / "playbooks/decommission.yml"
        limit, p, d = fleet.limit, args.fleet_provisioning_seconds, args.fleet_deletion_seconds
        # the list items carry no access rules: with rules declared, a run must read each existing service
        reads = hosts if access == "rules" else 0

        run = fleet.ansible(tool, "zero", provision, forks, common)
        run.bound = lower_bound(hosts, limit, p)
        if hosts >= 50:
            run.target = f"<= {TARGET_RATIO} x bound, 0 429, 0 failed"
            run.met = run.ratio is not None and run.ratio <= TARGET_RATIO and run.calls["429"] == 0 and run.failed_hosts == 0
        run.note = f"{run.calls['post']} POST of {hosts}"
        if "zero" not in scenarios:
            report.runs.remove(run)  # it only made the fleet for the others
        if not check(bench, run, "the fleet from zero"):
            return

        if "nochange" in scenarios:
            runs = [fleet.ansible(tool, "nochange", provision, forks, common)]
            while runs[0].seconds < 10 and len(runs) < args.fleet_repeat:  # short runs move with the load: take a median
                runs.append(fleet.ansible(tool, "nochange", provision, forks, common))
            run = median_run(report, runs)
            floor = floors.get((hosts, forks))
            run.bound = max(floor or 0.0, lower_bound(reads, limit, 0.0, observe=False)) or None
            run.note = ("median of " + ", ".join(f"{r.seconds:.2f}" for r in runs) + " s; " if len(runs) > 1 else "") \
                + (f"floor {floor:.2f} s" if floor else "no floor measured")
            if hosts == 50 and access == "public":  # issue 9's target: one listing, nothing else
                run.target = f"1 call, 0 writes, <= {NOCHANGE_FLOOR_RATIO} x floor"
                run.met = (floor is not None and all(sum(r.calls.values()) == 1 and r.writes == 0 for r in runs)
                           and run.seconds <= NOCHANGE_FLOOR_RATIO * floor and run.outcome == "finished")
            elif hosts == 50:  # declared rules: the list items lack them, one GET per service is the least (1 + N calls)
                run.target = f"1 + {hosts} calls, 0 writes, <= {TARGET_RATIO} x bound"
                run.met = (all(r.calls["list"] == 1 and r.calls["get"] == reads and r.calls["429"] == 0 and r.writes == 0 for r in runs)
                           and run.ratio is not None and run.ratio <= TARGET_RATIO)
            for r in runs:
                check(bench, r, "no change")
                if r.writes:
                    bench.problems.append(f"fleet: {tool} no change N={hosts} forks={forks} wrote: {r.calls}")

        if "change" in scenarios:
            tags = json.dumps({"postgres_fleet_tags": CHANGE_TAGS})
            run = fleet.ansible(tool, "change", provision, forks, [*common, "-e", tags])
            run.bound = lower_bound(reads + hosts, limit, 0.0, observe=False)  # a tag shows in the PATCH's answer at once
            if hosts >= 50:
                run.target = f"{hosts} PATCH, <= {TARGET_RATIO} x bound"
                run.met = (run.calls["patch"] == hosts and run.writes == hosts and run.ratio is not None and run.ratio <= TARGET_RATIO
                           and run.failed_hosts == 0)
            run.note = f"{run.calls['patch']} PATCH of {hosts}"
            check(bench, run, "a tag on every service")

        if "decommission" in scenarios:
            run = fleet.ansible(tool, "decommission", decommission, forks, [*common, "-e", "postgres_decommission_confirm=true"])
            run.bound = lower_bound(hosts, limit, d)
            run.note = f"{run.calls['delete']} DELETE of {hosts}"
            check(bench, run, "decommission")


def check(bench: Bench, run: Run, what: str) -> bool:
    """A collection run that failed is a problem of the bench's (exit 1); its output's end goes with it."""
    if run.outcome == "finished" and not run.failed_hosts:
        return True
    bench.problems.append(f"fleet: {run.tool} {what} (N={run.hosts}, forks {run.forks}) {run.outcome}, "
                          f"{run.failed_hosts} failed hosts; its last lines:\n{run.output_tail}")
    return False


def median_run(report: FleetReport, runs: list[Run]) -> Run:
    """Keep the run of median wall time in the report, drop the others."""
    keep = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    for r in runs:
        if r is not keep:
            report.runs.remove(r)
    return keep


def floor(bench: Bench, report: FleetReport, hosts: int, forks: int) -> float | None:
    """The one-debug-task play, --fleet-repeat times; the median's seconds (no emulator: it calls nothing)."""
    with tempfile.TemporaryDirectory(prefix="chc-bench-floor-") as work:
        inventory = fleet_inventory(Path(work) / "inventory.yml", hosts)
        timing_file = Path(work) / "timing.json"
        env = ansible_env(None, ANSIBLE_CALLBACK_PLUGINS=str(BENCH_DIR / "callback_plugins"), ANSIBLE_CALLBACKS_ENABLED="bench_timing",
                          BENCH_TIMING_FILE=str(timing_file))
        command = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(BENCH_DIR / "floor.yml"), "-f", str(forks)]
        seconds, timed, load = [], [], load1()
        for _ in range(bench.args.fleet_repeat):
            say(f"fleet: floor (one debug task), N={hosts}, forks {forks}")
            started_wall, started = time.time(), time.monotonic()
            returncode, output = run_process(command, env, timeout=bench.args.fleet_timeout)
            seconds.append(time.monotonic() - started)
            if returncode != 0:
                bench.problems.append(f"fleet: the floor play (N={hosts}, forks {forks}) failed ({returncode}):\n"
                                      + "\n".join(output.splitlines()[-20:]))
                return None
            timed.append(timings(json.loads(timing_file.read_text()), started_wall, started_wall + seconds[-1]))
        median = statistics.median(seconds)
        report.runs.append(Run("floor", "one debug task", hosts, forks, median, outcome="finished", failed_hosts=0,
                               note="median of " + ", ".join(f"{s:.2f}" for s in seconds) + " s", load=load,
                               timing=timed[sorted(range(len(seconds)), key=seconds.__getitem__)[len(seconds) // 2]]))
        return median


def others(bench: Bench, report: FleetReport, tool: str, hosts: int, forks: int | None) -> None:
    """uri_fleet.yml or the clickhousectl loop, from zero then no change, against a fresh emulator: reported as they end."""
    args = bench.args
    with tempfile.TemporaryDirectory(prefix=f"chc-bench-{tool}-") as work, \
            emulator(bench, no_postgres=True, rate_limit=args.rate_limit, provisioning_seconds=args.fleet_provisioning_seconds) as emu:
        fleet = Fleet(bench, report, emu, Path(work), hosts)
        limit, p = fleet.limit, args.fleet_provisioning_seconds
        for scenario in OTHER_SCENARIOS:
            if scenario == "nochange" and "nochange" not in args.fleet_scenarios:
                break
            if tool == "uri":
                run = fleet.ansible("uri", scenario, BENCH_DIR / "uri_fleet.yml", forks, ["-e", f"uri_fleet_credentials_dir={fleet.credentials}"])
            else:
                names = Path(work) / "names.txt"
                names.write_text("".join(f"bench-{i:03d}\n" for i in range(hosts)))
                home = Path(work) / "home"
                home.mkdir(exist_ok=True)
                env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "DO_NOT_TRACK": "1",
                       "CLICKHOUSECTL": str(VENV_BIN / "clickhousectl"), "CHC_CLI_URL": emu.url, "CLICKHOUSE_ORG_ID": emu.org_id,
                       "CLICKHOUSE_CLOUD_API_KEY": emu.admin_key[0], "CLICKHOUSE_CLOUD_API_SECRET": emu.admin_key[1]}
                run = fleet.run_command("cli", scenario, None, ["bash", str(BENCH_DIR / "cli_fleet.sh"), str(names), str(fleet.credentials)], env)
            if scenario == "zero":
                run.bound = lower_bound(hosts, limit, p)
                run.note = f"{run.calls['post']} POST of {hosts}"
            else:
                run.note = f"{sum(run.calls.values()) - run.calls['429']} calls answered"
            # no target: reported as it ends (the ended and failed columns)


def module_vs_uri(bench: Bench, report: FleetReport) -> None:
    """One host, one task, one API GET of the list: the collection's module against ansible.builtin.uri, alternating."""
    args = bench.args
    with tempfile.TemporaryDirectory(prefix="chc-bench-one-") as work, \
            emulator(bench, no_postgres=True, rate_limit=args.rate_limit, provisioning_seconds=0) as emu:
        fleet = Fleet(bench, report, emu, Path(work), 1)
        seed(emu, fleet.limit)  # a list worth parsing: as many services as the limit lets through in one window
        env = ansible_env(emu)
        seconds: dict[str, list[float]] = {"module": [], "uri": []}
        load = load1()
        calls: dict[str, dict[str, int]] = {"module": dict.fromkeys((*KINDS, "429"), 0), "uri": dict.fromkeys((*KINDS, "429"), 0)}
        for _ in range(args.module_runs):
            for tool, book in (("module", "one_module.yml"), ("uri", "one_uri.yml")):
                if calls[tool]["429"]:
                    fleet.quiet_window()
                fleet.new_lines()
                started = time.monotonic()
                returncode, output = run_process([str(VENV_BIN / "ansible-playbook"), str(BENCH_DIR / book)], env, timeout=args.fleet_timeout)
                seconds[tool].append(time.monotonic() - started)
                for k, v in count_calls(fleet.new_lines(), emu.org_id).items():
                    calls[tool][k] += v
                if returncode != 0:
                    bench.problems.append(f"fleet: {book} failed ({returncode}):\n" + "\n".join(output.splitlines()[-20:]))
                    return
        uri_mean = statistics.mean(seconds["uri"])
        for tool in ("uri", "module"):
            mean = statistics.mean(seconds[tool])
            run = Run(f"one {tool} task", "one GET", 1, None, mean, outcome="finished", failed_hosts=0,
                      calls={k: v // args.module_runs for k, v in calls[tool].items()},
                      note=f"mean of {args.module_runs}: " + ", ".join(f"{s:.2f}" for s in seconds[tool]) + " s", load=load)
            if tool == "module":
                run.bound = uri_mean
                run.target, run.met = f"<= {MODULE_URI_RATIO} x one uri task", mean <= MODULE_URI_RATIO * uri_mean
            report.runs.append(run)
            say(f"fleet: one {tool} task: mean {mean:.2f} s")


def seed(emu, limit: tuple[int, float]) -> None:
    """Create one window's worth of services directly, then wait the window out."""
    auth = "Basic " + b64encode(":".join(emu.admin_key).encode()).decode()
    for i in range(limit[0]):
        body = json.dumps({"name": f"seed-{i}", "provider": "aws", "region": "us-east-1", "size": "r8gd.large", "postgresVersion": "18"})
        request = urllib.request.Request(f"{emu.url}/v1/organizations/{emu.org_id}/postgres", data=body.encode(), method="POST",
                                         headers={"Authorization": auth, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10):
            pass
    time.sleep(limit[1] + 0.5)


# --- the section ------------------------------------------------------------------------------


def bench_fleet(bench: Bench) -> None:
    args = bench.args
    report = bench.reports.setdefault("fleet", FleetReport())
    report.settings = {"rate limit": args.rate_limit, "provisioning s": args.fleet_provisioning_seconds,
                       "deletion s": args.fleet_deletion_seconds, "N": args.fleet_sizes, "forks": args.fleet_forks,
                       "uri/cli N": args.fleet_other_sizes, "tools": args.fleet_tools, "scenarios": args.fleet_scenarios,
                       "access": args.fleet_access, "public forks": args.fleet_public_forks}
    tools = args.fleet_tools
    floors: dict[tuple[int, int], float | None] = {}
    if "module" in tools:
        module_vs_uri(bench, report)
    for hosts in args.fleet_sizes:
        for forks in args.fleet_forks:
            if "floor" in tools:
                floors[hosts, forks] = floor(bench, report, hosts, forks)
            if "collection" in tools:
                for access in args.fleet_access:
                    if access == "rules" or forks in args.fleet_public_forks:
                        collection(bench, report, hosts, forks, floors, access)
    for hosts in args.fleet_other_sizes:
        if "uri" in tools:
            for forks in args.fleet_forks:
                others(bench, report, "uri", hosts, forks)
        if "cli" in tools:
            others(bench, report, "cli", hosts, None)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("fleet section (issue 9: N services at the rate limit; opt-in: --sections fleet)")
    g.add_argument("--fleet-sizes", type=numbers, default="10,50,200", help="N: the collection's (and the floor play's) fleet sizes")
    g.add_argument("--fleet-forks", type=numbers, default="5,50", help="ansible-playbook -f values")
    g.add_argument("--fleet-other-sizes", type=numbers, default="10,50", help="N for uri_fleet.yml and the clickhousectl loop (200 takes long)")
    g.add_argument("--fleet-tools", type=names(TOOLS), default=",".join(TOOLS), help=f"comma-separated, of: {', '.join(TOOLS)}")
    g.add_argument("--fleet-scenarios", type=names(SCENARIOS), default=",".join(SCENARIOS),
                   help=f"comma-separated, of: {', '.join(SCENARIOS)} (uri and cli: zero, nochange)")
    g.add_argument("--fleet-access", type=names(ACCESS), default=",".join(ACCESS),
                   help="the collection's inventories: rules (postgres_fleet_ip_access_list, as in demo.yml) or public (postgres_fleet_public)")
    g.add_argument("--fleet-public-forks", type=numbers, default="5", help="the forks values the public inventory runs with")
    g.add_argument("--fleet-provisioning-seconds", type=float, default=20.0, help="the emulator's time in creating")
    g.add_argument("--fleet-deletion-seconds", type=float, default=2.0, help="the emulator's time in deleting")
    g.add_argument("--fleet-repeat", type=int, default=3, help="runs of the floor play and of the no-change run (the median is shown)")
    g.add_argument("--module-runs", type=int, default=5, help="runs of the one-module-task and one-uri-task plays each")
    g.add_argument("--fleet-timeout", type=float, default=1800.0, help="seconds before a run is killed and reported as timed out")


def numbers(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise ValueError(text)
    return values


def names(choices):
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = set(values) - set(choices)
        if unknown:
            raise ValueError(f"unknown: {', '.join(sorted(unknown))}")
        return values

    parse.__name__ = "list"
    return parse
