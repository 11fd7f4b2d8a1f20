# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML fleet report as a person sees it: the fleet job run against an emulator whose services are real
PostgreSQL servers with some query activity, then the page rendered by headless Chromium (Debian's package) to
a PNG and to its DOM.

Run by ``make report-test`` (``pytest tests/report``) with the collection importable from ``.collections``.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import yaml
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import emulator_env, run, tool

EmulatorProcess = pytest.importorskip("chc_emulator.testing").EmulatorProcess

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = COLLECTION_ROOT / "playbooks"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# A service name and a tag with markup in them: the page must show them as text. (No "/" in the name: the
# fleet role names the service's credentials file after it.)
HOSTILE_NAME = '<script>alert("name")'
HOSTILE_RULE = "<img src=x onerror=alert(1)>"  # tags take letters, digits and ._- only; rule descriptions anything
HOSTILE_COLUMN = "</text><script>alert(2)</script>"
FLEET = {
    "orders": {"postgres_tune_pg_config": {"work_mem": "8MB", "effective_cache_size": "4GB"}},
    "payments": {"postgres_tune_pg_config": {"statement_timeout": "30s"}},
    "xss": {"postgres_fleet_name": HOSTILE_NAME,
            "postgres_fleet_ip_access_list": [{"source": "127.0.0.1/32", "description": HOSTILE_RULE}]},
}
NAMES = {"orders": "orders", "payments": "payments", "xss": HOSTILE_NAME}
# Statements each service runs: a sort that spills to temp files at PostgreSQL's default work_mem of 4MB (60,000
# rows need about 6.5MB, tests/integration/targets/postgres_tune_advice), three times; a join, and a query whose
# text has markup in it.
WORKLOAD = [
    "CREATE TABLE report_items AS SELECT g AS id, g % 17 AS grp, md5(g::text) AS note FROM generate_series(1, 60000) AS g",
    "ANALYZE report_items",
] + ["SELECT id FROM report_items ORDER BY note OFFSET 59999"] * 3 + [
    "SELECT a.grp, count(*) FROM report_items a JOIN report_items b ON a.id = b.id + 1 GROUP BY a.grp",
    'SELECT count(*) AS "%s" FROM report_items WHERE grp > 3' % HOSTILE_COLUMN,
]


@pytest.fixture(scope="module")
def emulator():
    with EmulatorProcess(rate_limit="off", provisioning_seconds=0.5, update_seconds=0.3, restart_seconds=0.3,
                         deletion_seconds=0.3) as emu:
        yield emu


@pytest.fixture(scope="module")
def job(tmp_path_factory, emulator):
    """The fleet provisioned, a workload run on each service, then the whole fleet job (site.yml) with the HTML
    report beside Markdown and JSON; then the report playbook alone, twice."""
    root = tmp_path_factory.mktemp("report")
    hosts = {host: dict(vars_, postgres_fleet_host_tags=dict(vars_.get("postgres_fleet_host_tags", {}), team=host))
             for host, vars_ in FLEET.items()}
    inventory = root / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"postgres_services": {"hosts": hosts, "vars": {
        "postgres_fleet_provider": "aws", "postgres_fleet_region": "us-east-1", "postgres_fleet_size": "r8gd.large",
        "postgres_fleet_postgres_version": "18", "postgres_fleet_tags": {"env": "test"},
        "postgres_fleet_ip_access_list": [{"source": "127.0.0.1/32", "description": "this machine"}],
        "postgres_fleet_credentials_dir": str(root / "credentials"),
        "postgres_report_formats": ["html", "markdown", "json"], "postgres_report_path": str(root / "fleet.html"),
    }}}))
    env = emulator_env(emulator, ANSIBLE_COLLECTIONS_PATH=str(COLLECTION_ROOT / ".collections"))
    playbook = [tool("ansible-playbook"), "-i", inventory]
    run(playbook + [PLAYBOOKS / "provision.yml"], env, root)
    for host in FLEET:
        connection = json.loads((root / "credentials" / ("%s.json" % NAMES[host])).read_text())
        command = ["psql", "--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1", "--host", connection["host"],
                   "--port", str(connection["port"]), "--username", connection["username"], "--dbname", connection["database"]]
        for statement in WORKLOAD:
            command += ["-c", statement]
        subprocess.run(command, env=dict(env, PGPASSWORD=connection["password"], PGAPPNAME="report-test"), check=True,
                       capture_output=True, timeout=120)
    outputs = {"site": run(playbook + [PLAYBOOKS / "site.yml"], env, root)}
    pages = {"site": (root / "fleet.html").read_bytes()}
    for again in ("report", "report-again"):
        outputs[again] = run(playbook + [PLAYBOOKS / "report.yml"], env, root)
        pages[again] = (root / "fleet.html").read_bytes()
    return {"root": root, "outputs": outputs, "pages": pages}


def chromium(*args, tmp_path):
    """Debian's chromium, headless, with a fresh profile and nothing that reaches the network; its stdout."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--disable-extensions", "--user-data-dir=%s" % profile, *args],
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def png_colours(path):
    """The distinct colours of an 8-bit RGB or RGBA PNG, read with zlib (no imaging library in the venv)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = {}, 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.setdefault(kind, []).append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    stride = width * channels
    previous, colours = bytearray(stride), set()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, channels * 4))  # every 4th pixel is plenty
        previous = line
    return width, height, colours


def test_the_page_is_self_contained_and_escapes_what_the_api_returns(job):
    page = job["pages"]["site"].decode()
    assert page.startswith("<!DOCTYPE html>")
    # no script, no network: nothing to fetch, and the policy forbids it anyway
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page
    assert "&lt;script&gt;alert(&quot;name&quot;)" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/text&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    # no timestamp unless asked
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", page)


def test_an_unchanged_fleet_leaves_the_page_byte_identical(job):
    pages, outputs = job["pages"], job["outputs"]
    assert pages["report"] == pages["site"], "the report playbook alone rewrote the page"
    assert pages["report-again"] == pages["site"]
    for name in ("report", "report-again"):
        recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", outputs[name])
        hosts = re.findall(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", outputs[name], re.M)
        assert hosts and all(changed == "0" for _host, changed in hosts), outputs[name][-2000:]
        assert recap is None or recap.group(1) == "0"
    # the Markdown and JSON beside it
    report = json.loads((job["root"] / "fleet.json").read_text())
    assert sorted(s["name"] for s in report["services"]) == sorted(NAMES.values())
    assert "orders" in (job["root"] / "fleet.md").read_text()


def test_the_changes_of_the_run_are_on_the_page(job):
    page = job["pages"]["site"].decode()
    changes = page[page.index('<section id="changes">'):page.index("</section>", page.index('<section id="changes">'))]
    # site.yml provisioned nothing new (provision.yml did) and tuned orders and payments
    assert changes.count("not run in this play") == 0
    assert "<code>work_mem</code>" in changes and "<code>statement_timeout</code>" in changes


def test_chromium_renders_every_service_with_a_chart(job, tmp_path):
    page = job["root"] / "fleet.html"
    shot = tmp_path / "fleet.png"
    chromium("--screenshot=%s" % shot, "--window-size=1200,2000", "--hide-scrollbars", page.as_uri(), tmp_path=tmp_path)
    assert shot.stat().st_size > 20000
    width, height, colours = png_colours(shot)
    assert (width, height) == (1200, 2000)
    assert len(colours) > 50, "the screenshot is nearly blank: %d colours" % len(colours)
    shutil.copy(shot, job["root"] / "fleet.png")  # for a person to look at
    dom = chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path)
    sections = re.findall(r'<section class="service" id="svc-\d+" data-service="([^"]*)">(.*?)</section>', dom, re.S)
    shown = {name.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&") for name, _body in sections}
    assert shown == set(NAMES.values())
    for name, body in sections:
        charts = re.findall(r'<svg class="chart".*?</svg>', body, re.S)
        assert len(charts) == 1, name
        assert charts[0].count('class="bar') >= 3, "fewer than 3 query patterns charted for %s" % name
    # the hostile strings are text in the rendered document, never elements
    assert "<script" not in dom
    assert "&lt;script&gt;alert(\"name\")" in dom
    assert dom.count('<table class="glance">') == 1
