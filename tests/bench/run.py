"""`make bench`: how fast the emulator, the collection's API client and the fleet playbook are.

Four sections, each against an emulator of its own that it starts and stops (fleet only when asked for):

  api       --no-postgres emulator, no rate limit: create N services through the collection's
            PostgresApi client, list them, GET a sample; requests per second and the
            emulator's peak memory (VmHWM)
  postgres  emulator with real PostgreSQL servers: per service, the time from the create call
            to `running`, and to the first psycopg connection with the returned connectionString
  ansible   ansible-playbook playbooks/provision.yml against a --no-postgres emulator with the
            API's rate limit (10 requests / 10 s): a first run that creates the fleet and a second
            one that should change nothing, for the demo inventory (3 hosts), then for a
            generated one of --fleet hosts, big enough to meet the rate limit
  fleet     (opt-in, over an hour) N services at the rate limit, from zero, no change, a tag on
            all, decommission: the collection's playbooks, a plain-uri playbook, a clickhousectl
            loop and a one-debug-task play, against the lower bound the limit allows (fleet.py)

It prints figures and asserts nothing about speed: speed targets live here, never in tests.
It exits 1 only when something did not work (a failed call or playbook, a second run that
changed something, an emulator, PostgreSQL server or data dir left behind), 130 when interrupted.
tests/bench/README.md says what each figure is.

    .venv/bin/python tests/bench/run.py [--sections api,postgres,ansible] [--services 2000] ...
    .venv/bin/python tests/bench/run.py --sections fleet --fleet-sizes 10,50 --fleet-tools collection,floor
    make bench BENCH_ARGS="--sections api --services 500"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from harness import COLLECTIONS, ROOT, VENV_BIN, Bench, Requests, Row, ansible_env, emulator, fleet_inventory, playbook, recap, say

try:
    from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
    from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
    from chc_emulator.testing import EmulatorProcess
except ImportError as exc:
    sys.exit(f"bench: {exc}: run it with .venv/bin/python after `make setup` (which makes {COLLECTIONS})")

import fleet

SECTIONS = ("api", "postgres", "ansible", "fleet")
DEFAULT_SECTIONS = ("api", "postgres", "ansible")  # fleet takes over an hour: opt-in
SIZES = ("r8gd.large", "r6gd.medium", "m6gd.xlarge")
LOCATION = {"provider": "aws", "region": "us-east-1", "postgres_version": "18"}


def parallel(function, items, workers: int) -> list:
    """function over items from a pool of threads; on an error or Ctrl-C, what has not started yet never does."""
    pool = ThreadPoolExecutor(workers)
    try:
        return list(pool.map(function, items))
    finally:
        pool.shutdown(cancel_futures=True)


def client(emu: EmulatorProcess) -> PostgresApi:
    return PostgresApi(Transport(emu.url, *emu.admin_key, timeout=60), emu.org_id)


def memory_kib(pid: int, field_name: str) -> int:
    """A field of /proc/PID/status in KiB (VmHWM: peak resident set size, VmRSS: now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


# --- 1. the API without servers ---------------------------------------------------------------


def bench_api(bench: Bench) -> None:
    args = bench.args
    with emulator(bench, no_postgres=True, rate_limit="off", provisioning_seconds=0.5) as emu:
        api, log = client(emu), Requests(emu)
        rss_start = memory_kib(emu.process.pid, "VmRSS")
        workers = f"{args.workers} client thread{'s' if args.workers > 1 else ''}"

        def create(i: int) -> str:
            service = api.create_service(dict(LOCATION, name=f"bench-{i:05d}", size=SIZES[i % len(SIZES)], tags={"bench": "api", "n": str(i)}))
            return service.id

        say(f"api: creating {args.services} services ({workers})")
        started = time.monotonic()
        ids = parallel(create, range(args.services), args.workers)
        took = time.monotonic() - started
        lines = log.take()
        bench.add("api", "create (POST) via PostgresApi", args.services, took, Requests.calls(lines),
                  f"{len(lines) / took:.0f} req/s, {workers}, {Requests.server_ms(lines)}")

        say(f"api: listing them {args.lists} times")
        started = time.monotonic()
        for _round in range(args.lists):
            listed = api.list_services()
        took = time.monotonic() - started
        lines = log.take()
        if {s.id for s in listed} != set(ids):
            bench.problems.append(f"the list holds {len(listed)} services, not the {len(ids)} created")
        bench.add("api", f"list all {len(listed)} (GET)", args.lists, took, Requests.calls(lines),
                  f"{len(listed) * args.lists / took:.0f} services/s parsed, {Requests.server_ms(lines)}")

        sample = random.Random(0).sample(ids, min(args.gets, len(ids)))
        if sample:
            say(f"api: GET {len(sample)} of them ({workers})")
            started = time.monotonic()
            got = parallel(api.get_service, sample, args.workers)
            took = time.monotonic() - started
            lines = log.take()
            if [s.id for s in got] != sample:
                bench.problems.append("GET answered with other services than asked for")
            bench.add("api", "get one (GET)", len(sample), took, Requests.calls(lines),
                      f"{len(lines) / took:.0f} req/s, {workers}, {Requests.server_ms(lines)}")

        peak = memory_kib(emu.process.pid, "VmHWM")
        bench.add("api", "emulator peak RSS (VmHWM)", note=f"{peak / 1024:.0f} MiB with {len(ids)} services (RSS {rss_start / 1024:.0f} MiB at start)")
        api.transport.close()


# --- 2. real PostgreSQL servers ---------------------------------------------------------------


def seconds_list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values) + " s"


def bench_postgres(bench: Bench) -> None:
    args = bench.args
    try:
        import psycopg
    except ImportError as exc:
        bench.problems.append(f"postgres: psycopg is missing ({exc}): section skipped")
        return
    say("postgres: starting an emulator with real PostgreSQL (it builds its template cluster first)")
    started = time.monotonic()
    with emulator(bench, rate_limit="off", provisioning_seconds=args.pg_provisioning_seconds) as emu:
        bench.add("postgres", "emulator start (initdb of the template)", 1, time.monotonic() - started)
        api, log = client(emu), Requests(emu)
        poll = args.poll_seconds

        def one(i: int) -> tuple[float, float, float]:
            """Seconds from the create call to its answer, to `running`, to a working connection."""
            start = time.monotonic()
            created = api.create_service(dict(LOCATION, name=f"bench-pg-{i}", size="r8gd.large"))
            answered = time.monotonic() - start
            deadline = start + args.pg_timeout
            state = created.state
            while state != "running":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{created.name} still {state!r} after {args.pg_timeout} s")
                time.sleep(poll)
                state = api.get_service(created.id).state
            running = time.monotonic() - start
            while True:
                try:
                    with psycopg.connect(created.connection_string, connect_timeout=5) as conn:
                        conn.execute("SELECT 1").fetchone()
                    break
                except psycopg.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(poll)
            return answered, running, time.monotonic() - start

        say(f"postgres: creating {args.pg_services} services at once; polling GET every {poll:g} s, then connecting with psycopg")
        timings = parallel(one, range(args.pg_services), args.pg_services)
        lines = log.take()
        # created together, so total = until the last service; per item = the mean of the services
        posted, running, connected = ([t[i] for t in timings] for i in range(3))
        bench.add("postgres", "create call -> state running", len(running), max(running), "",
                  f"each {seconds_list(running)}; the POST answered in {statistics.mean(posted) * 1000:.0f} ms", each=statistics.mean(running))
        bench.add("postgres", "create call -> psycopg connects", len(connected), max(connected), Requests.calls(lines),
                  f"each {seconds_list(connected)}; calls: the creates and GET polls every {poll:g} s", each=statistics.mean(connected))
        api.transport.close()
        say("postgres: stopping the emulator and its servers")


# --- 3. the fleet playbook --------------------------------------------------------------------


def bench_ansible(bench: Bench) -> None:
    """The demo inventory, then (--fleet N) a generated one big enough to meet the rate limit; an emulator each."""
    with tempfile.TemporaryDirectory(prefix="chc-bench-") as work:
        provision_twice(bench, ROOT / "playbooks/inventory/demo.yml", 3, "demo inventory", Path(work) / "demo")
        if bench.args.fleet:
            inventory = fleet_inventory(Path(work) / "fleet.yml", bench.args.fleet)
            provision_twice(bench, inventory, bench.args.fleet, "generated inventory", Path(work) / "fleet")


def provision_twice(bench: Bench, inventory: Path, hosts: int, label: str, work: Path) -> None:
    args = bench.args
    timings = {"provisioning_seconds": args.ansible_provisioning_seconds, "update_seconds": 1, "restart_seconds": 1, "deletion_seconds": 1}
    with emulator(bench, no_postgres=True, rate_limit=args.rate_limit, **timings) as emu:
        env = ansible_env(emu)  # the credentials as tools/emulator-ctl exports them for tools/demo-fleet
        command = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks/provision.yml"),
                   "-e", f"postgres_fleet_credentials_dir={work}/credentials"]
        if args.wait_delay is not None:
            command += ["-e", f"postgres_fleet_wait_delay={args.wait_delay}"]
        log = Requests(emu)
        for run in ("first run (creates)", "second run (no change)"):
            say(f"ansible: provision.yml, {run}, {label} ({hosts} hosts), rate limit {args.rate_limit}")
            started = time.monotonic()
            returncode, output = playbook(command, env)
            took = time.monotonic() - started
            lines = log.take()
            if returncode != 0:
                bench.problems.append(f"ansible: provision.yml {run} ({label}) failed with {returncode}; its last lines:\n"
                                      + "\n".join(output.splitlines()[-30:]))
                return
            counters = recap(output)
            writes = sum(1 for line in lines if line["method"] != "GET" and line["status"] != 429)
            bench.add("ansible", f"provision.yml {run}", hosts, took, Requests.calls(lines),
                      f"{writes} writes, changed={counters.get('changed', 0)} ok={counters.get('ok', 0)}, {label}")
            if run.startswith("second") and (counters.get("changed") or writes):
                bench.problems.append(f"ansible: the second run ({label}) changed something: changed={counters.get('changed')}, {writes} writes")


# --- the report -------------------------------------------------------------------------------


def per_item(row: Row) -> str:
    if row.each is not None:
        each = row.each
    elif row.seconds is None or not row.count:
        return ""
    else:
        each = row.seconds / row.count
    return f"{each * 1000:.2f} ms" if each < 0.1 else f"{each:.2f} s"


def table(rows: list[Row]) -> str:
    header = ("section", "what", "count", "total s", "per item", "API calls", "notes")
    cells = [header] + [
        (r.section, r.what, "" if r.count is None else str(r.count), "" if r.seconds is None else f"{r.seconds:.2f}", per_item(r), r.calls, r.note)
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    right = {2, 3, 4, 5}
    lines = []
    for n, c in enumerate(cells):
        lines.append("  ".join(c[i].rjust(widths[i]) if i in right else c[i].ljust(widths[i]) for i in range(len(header))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sections", default=",".join(DEFAULT_SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    g = p.add_argument_group("api section (no PostgreSQL, no rate limit)")
    g.add_argument("--services", type=positive, default=2000, help="services to create")
    g.add_argument("--lists", type=positive, default=3, help="times to list them all")
    g.add_argument("--gets", type=int, default=200, help="services to GET one by one")
    g.add_argument("--workers", type=positive, default=4, help="client threads for the creates and GETs (one shared client)")
    g = p.add_argument_group("postgres section (real PostgreSQL servers)")
    g.add_argument("--pg-services", type=positive, default=3, help="services to create at once")
    g.add_argument("--pg-provisioning-seconds", type=float, default=0.0,
                   help="the emulator's minimum time in creating (0: only the server start counts)")
    g.add_argument("--poll-seconds", type=float, default=0.02, help="interval of the state polls and connection attempts")
    g.add_argument("--pg-timeout", type=float, default=120.0, help="give up on a service after this many seconds")
    g = p.add_argument_group("ansible section (playbooks/provision.yml, no PostgreSQL)")
    g.add_argument("--fleet", type=int, default=12, help="after the demo inventory's 3 hosts, the same with a generated inventory of this many (0: no)")
    g.add_argument("--rate-limit", default="10/10", help="the emulator's rate limit in the ansible and fleet sections, N/SECONDS or off (the API's is 10/10)")
    g.add_argument("--ansible-provisioning-seconds", type=float, default=1.0, help="the emulator's time in creating")
    g.add_argument("--wait-delay", type=int, help="postgres_fleet_wait_delay (default: the role's, 5 s)")
    fleet.add_arguments(p)
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    return args


def interrupted(signum, frame):
    """SIGTERM unwinds like Ctrl-C, so that the emulators, servers and temporary files go too."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    bench = Bench(parse_args(argv))
    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    try:
        for name in bench.args.sections:
            section_started = time.monotonic()
            try:
                {"api": bench_api, "postgres": bench_postgres, "ansible": bench_ansible, "fleet": fleet.bench_fleet}[name](bench)
            except Exception as exc:  # noqa: BLE001 - one section failing must not hide the others' figures
                bench.problems.append(f"{name}: {type(exc).__name__}: {exc}")
            say(f"{name}: done in {time.monotonic() - section_started:.1f} s")
    except KeyboardInterrupt:  # the section's emulator, servers and files are gone by now
        bench.interrupted = True
    wall = time.monotonic() - started

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"\nclickhouse.cloud bench, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: {os.cpu_count()} CPUs, load {load}, "
          f"Python {platform.python_version()}, {platform.platform(terse=True)}")
    if bench.rows:
        print(table(bench.rows))
    for report in bench.reports.values():
        print(report.render())
    print(f"wall time {wall:.1f} s" + (" (interrupted: the figures so far)" if bench.interrupted else ""))
    if bench.args.json:
        figures = {"wall_seconds": wall, "rows": [asdict(r) for r in bench.rows], "problems": bench.problems,
                   **{name: report.as_json() for name, report in bench.reports.items()}}
        bench.args.json.write_text(json.dumps(figures, indent=2) + "\n")
    for problem in bench.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 130 if bench.interrupted else 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
