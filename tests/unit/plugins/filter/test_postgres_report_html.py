# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML fleet report's renderer: escaping, truncation, chart geometry, the settings that differ from the
defaults, the run's changes, proposals, and a page that is the same bytes for the same fleet."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.clickhouse.cloud.plugins.filter.postgres_report_html import FilterModule, postgres_report_html
from ansible_collections.clickhouse.cloud.plugins.plugin_utils import _report_html as r

SCRIPT = "<script>alert('x')</script>"


def pattern(query_id, total_us, calls=1, text="SELECT 1", **more):
    return dict(dict(query_id=query_id, query_text=text, total_duration_us=total_us, call_count=calls,
                     avg_duration_us=total_us // max(calls, 1), p95_duration_us=total_us, error_count=0,
                     db_name="postgres", db_user="postgres", app="psql"), **more)


def service(name, **more):
    base = dict(id="id-" + name, name=name, state="running", size="r8gd.large", ha_type="none", provider="aws",
                region="us-east-1", postgres_version="18", tags={"env": "test"},
                config={"pg_config": {}, "pg_bouncer_config": {}}, slow_query_patterns=[])
    base.update(more)
    return base


class Elements(HTMLParser):
    """Every start tag of a document, as (tag, attributes)."""

    def __init__(self, page):
        super().__init__()
        self.tags = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("value, shown", [
    (None, ""),
    (True, "true"),
    (12, "12"),
    ("plain", "plain"),
    (SCRIPT, "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"),
    ('a "quoted" & <b>', "a &quot;quoted&quot; &amp; &lt;b&gt;"),
    ("nul\x00bell\x07del\x7f", "nul\ufffdbell\ufffddel\ufffd"),
    ("tab\tnewline\n", "tab\tnewline\n"),
    ("lone \ud800 surrogate", "lone \ufffd surrogate"),
])
def test_escaping(value, shown):
    assert r.esc(value) == shown


@pytest.mark.parametrize("value, most, shown", [
    ("SELECT  1\n FROM\tt", 80, "SELECT 1 FROM t"),
    ("x" * 10, 10, "x" * 10),
    ("x" * 11, 10, "x" * 9 + "\u2026"),
    ("abc   def ghi", 8, "abc def\u2026"),
    (None, 5, ""),
])
def test_one_line_cuts_long_texts(value, most, shown):
    assert r.one_line(value, most) == shown


@pytest.mark.parametrize("us, shown", [
    (0, "0.00 ms"), (420, "0.42 ms"), (12300, "12.30 ms"), (999999, "1000.00 ms"), (3210000, "3.21 s"),
    (120000000, "2.0 min"), (3_540_000_000, "59.0 min"), (3_600_000_000, "1.0 h"), (100_000_000_000, "27.8 h"),
    (None, "0.00 ms"), ("7000", "7.00 ms"), ("junk", "0.00 ms"), ("inf", "0.00 ms"),
    (float("nan"), "0.00 ms"), (True, "0.00 ms"),
])
def test_durations(us, shown):
    assert r.duration(us) == shown


def test_patterns_sort_by_total_time_then_identity_whatever_the_api_order():
    patterns = [pattern("3", 100), pattern("1", 500), pattern("2", 100), {"not": "a pattern"} and pattern("9", 0)]
    assert [p["query_id"] for p in r.top_patterns(patterns)] == ["1", "2", "3", "9"]
    assert [p["query_id"] for p in r.top_patterns(list(reversed(patterns)), top=2)] == ["1", "2"]
    assert r.top_patterns(None) == [] and r.top_patterns(["junk", 3]) == []


@pytest.mark.parametrize("totals, widths", [
    ([1000, 500, 250], [560.0, 280.0, 140.0]),
    ([1000000, 1], [560.0, 2.0]),  # any time at all shows
    ([0, 0], [0.0, 0.0]),  # nothing to scale by
    ([100, -5, "inf"], [560.0, 0.0, 0.0]),  # nonsense from the API draws no bar
    ([], []),
])
def test_chart_bars_scale_to_the_largest_total(totals, widths):
    geometry = r.chart_geometry([{"query_id": str(i), "total_duration_us": t} for i, t in enumerate(totals)])
    assert geometry["span"] == r.CHART_WIDTH - r.CHART_VALUE_SPACE == 560
    assert [row["bar_width"] for row in geometry["rows"]] == widths
    assert [row["label_y"] for row in geometry["rows"]] == [20 + i * r.CHART_ROW for i in range(len(totals))]
    assert geometry["height"] == 8 + max(len(totals), 1) * r.CHART_ROW + 4


def test_chart_labels_are_escaped_and_cut_with_the_full_text_as_a_tooltip():
    long_query = "SELECT '%s' FROM t WHERE " % SCRIPT + " AND ".join("c%d = $%d" % (i, i) for i in range(100))
    svg = r.chart_svg(SCRIPT, [pattern("1", 5000, calls=1, text=long_query), pattern("2", 2500, calls=3)])
    assert "<script" not in svg and "&lt;script&gt;" in svg
    texts = re.findall(r"<text x=\"0\" y=\"\d+\">(.*?)</text>", svg)
    assert len(texts) == 2 and texts[0].endswith("\u2026") and len(texts[0]) < 200
    assert "5.00 ms \u00b7 1 call<" in svg and "2.50 ms \u00b7 3 calls<" in svg
    assert svg.count('class="bar top"') == 1 and svg.count('class="bar"') == 1
    tags = Elements(svg).tags
    assert tags[0] == ("svg", tags[0][1]) and tags[0][1]["data-service"] == SCRIPT
    assert [tag for tag, _attrs in tags].count("rect") == 4


@pytest.mark.parametrize("value, shown", [
    ("SELECT 1", "SELECT 1"),
    ("x" * 90, "x" * 90),
    ("x" * 91, "x" * 89 + "\u2026"),
    ("\u9867" * 45, "\u9867" * 45),  # wide characters count twice: 90 of the chart's width
    ("\u9867" * 60, "\u9867" * 44 + "\u2026"),
    ("SELECT " + "\uff21" * 60, "SELECT " + "\uff21" * 41 + "\u2026"),  # fullwidth Latin too
])
def test_chart_labels_are_cut_by_their_width(value, shown):
    """SVG text does not wrap: 90 CJK characters are about 1,080 px at 12 px, past the 760 px chart."""
    assert r.chart_label(value, r.CHART_LABEL_CHARS) == shown
    assert r.chart_geometry([{"query_text": value}])["rows"][0]["label"] == shown


def test_the_figures_of_a_busy_pattern_fit_right_of_the_longest_bar():
    """A billion calls of 0.1 ms in a day: at about 6.2 px a character (DejaVu Sans, 12 px, as Chromium draws it) the
    figures must fit in the space right of the longest bar, or the SVG clips them ("1666.7 min" did)."""
    [row] = r.chart_geometry([{"query_id": "1", "total_duration_us": 100_000_000_000, "call_count": 1_000_000_000}])["rows"]
    assert row["figures"] == "27.8 h \u00b7 1,000,000,000 calls"
    assert row["value_x"] + len(row["figures"]) * 6.5 <= r.CHART_WIDTH


def test_an_empty_chart_says_so():
    svg = r.chart_svg("orders", [])
    assert svg.startswith('<svg class="chart"') and "No query patterns in the window." in svg


@pytest.mark.parametrize("config, rows", [
    (None, []),
    ({"pg_config": {"work_mem": "4096kB"}}, [("postgres", "work_mem", "4096kB", "4MB", False)]),  # the default, spelt otherwise
    ({"pg_config": {"work_mem": "8MB"}}, [("postgres", "work_mem", "8MB", "4MB", True)]),
    ({"pg_config": {"max_connections": 100, "random_page_cost": "1.1"}},
     [("postgres", "max_connections", 100, "100", False), ("postgres", "random_page_cost", "1.1", "4", True)]),
    ({"pg_config": {"effective_io_concurrency": "200"}},  # its default moved between versions: unknown
     [("postgres", "effective_io_concurrency", "200", None, True)]),
    ({"pg_config": {"statement_timeout": "30s"}, "pg_bouncer_config": {"default_pool_size": "40"}},
     [("postgres", "statement_timeout", "30s", "0", True), ("pgbouncer", "default_pool_size", "40", None, True)]),
])
def test_settings_that_differ_from_the_defaults(config, rows):
    assert r.setting_rows(config) == rows


def test_every_default_reads_as_its_setting():
    from ansible_collections.clickhouse.cloud.plugins.module_utils._settings import PG_SETTINGS

    assert set(r.PG_DEFAULTS) <= set(PG_SETTINGS)
    for key, value in r.PG_DEFAULTS.items():
        assert PG_SETTINGS[key].canonical(value) is not None, key


@pytest.mark.parametrize("rules, shown", [
    (None, None),
    ([], []),
    ([{"source": "10.0.0.0/8", "ports": "5432..6432"}, {"source": "127.0.0.1/32", "description": "me"}],
     ["10.0.0.0/8 port 5432..6432", "127.0.0.1/32 \u2013 me"]),
    ([{"source": "0.0.0.0/0", "ports": "5432"}, "junk"], ["0.0.0.0/0 (every address)"]),
])
def test_access_rules(rules, shown):
    assert r.access_rules(rules) == shown


@pytest.mark.parametrize("access, listed, cell", [
    ({}, None, r.NOT_READ),
    ({"db": None}, None, r.NOT_RETURNED),
    ({"db": []}, None, "no rule: nobody can connect"),
    ({"db": [{"source": "1.2.3.4/32", "description": SCRIPT}]}, None, "1.2.3.4/32 \u2013 &lt;script&gt;"),
    ({}, [{"source": "5.6.7.8/32"}], "5.6.7.8/32"),  # a service entry that carries its rules
])
def test_the_access_rules_cell(access, listed, cell):
    entry = service("db") if listed is None else service("db", ip_access_list=listed)
    assert cell in r.access_html(entry, access)


@pytest.mark.parametrize("entry, outcome", [
    (None, None),
    ({"skipped": True, "changed": False}, None),
    ({"changed": False, "failed": False, "action": "none", "diff": {"before": {}, "after": {}}},
     {"changed": False, "failed": False, "action": "none", "keys": []}),
    ({"changed": True, "failed": False, "action": "configure", "changed_keys": ["work_mem", "max_connections"], "restarted": True},
     {"changed": True, "failed": False, "action": "configure", "keys": ["max_connections", "work_mem"], "restarted": True}),
    # the names of the fields a diff changes, never a secret's, never a value
    ({"changed": True, "action": "update", "credentials": {"password": "pw"},
      "diff": {"before": {"size": "a", "tags": {"x": "1"}, "password": None}, "after": {"size": "b", "tags": {"x": "1"}, "password": "pw"}}},
     {"changed": True, "failed": False, "action": "update", "keys": ["size"]}),
    ({"changed": False, "failed": True, "msg": "boom"}, {"changed": False, "failed": True, "keys": []}),
    # the tune role's advice: what it applied (or would, in check mode), not what it declined
    ({"changed": True, "changed_keys": ["work_mem"], "advice": {"window": {"from": "x"}, "proposals": [
        {"rule": "temp_spill", "setting": "work_mem", "current": "4MB", "proposed": "16MB", "status": "applied"},
        {"rule": "lock_waits", "setting": "log_lock_waits", "current": "off", "proposed": "on", "status": "apply"},
        {"rule": "connections_near_limit", "setting": "max_connections", "status": "declined", "declined": "restart"}]}},
     {"changed": True, "failed": False, "keys": ["work_mem"],
      "advice": ["log_lock_waits off \u2192 on (lock_waits, would apply)", "work_mem 4MB \u2192 16MB (temp_spill)"]}),
])
def test_what_a_role_did(entry, outcome):
    assert r.run_outcome(entry) == outcome


@pytest.mark.parametrize("proposal, status", [
    ({"setting": "work_mem"}, "pending"),
    ({"setting": "work_mem", "status": "apply"}, "would apply"),
    ({"setting": "work_mem", "status": "applied"}, "applied"),
    ({"setting": "work_mem", "status": "declined", "declined": "restart not allowed"}, "declined"),
    ({"setting": "work_mem", "declined": "the inventory sets it"}, "declined"),
])
def test_proposal_status(proposal, status):
    assert r.proposal_status(proposal) == status


@pytest.mark.parametrize("evidence, shown", [
    ({"patterns": [{"query_id": "-1"}, {"query_id": "7"}], "needed_kb": 16384,
      "window": {"from": "2026-12-01T10:00:00Z", "to": "2026-12-01T11:00:00Z"}, "memory_source": "size r8gd.large"},
     "needed_kb=16384; patterns -1, 7"),  # the window's ends are the run's time: never on the page
    ({"peak": 95, "points": [1, 2]}, "peak=95; points=1, 2"),
    ("just text", "just text"),
    (None, ""),
])
def test_evidence_in_one_line(evidence, shown):
    assert r.evidence_text(evidence) == shown


RUNS_CHANGED = {"orders": {"fleet": {"changed": True, "action": "create"}, "tune": {"changed": True, "changed_keys": ["work_mem"]}}}
RUNS_QUIET = {"orders": {"fleet": {"changed": False, "action": "none"}, "tune": {"changed": False, "changed_keys": []}}}


def fleet(runs=None, **more):
    report = {
        "services": [service("payments", config={"pg_config": {"statement_timeout": "30s", "work_mem": "4MB"}}),
                     service("orders", slow_query_patterns=[pattern("2", 100), pattern("1", 900, calls=3)])],
        "missing": ["ghost"], "not_in_inventory": ["stray"], "window": "24h", "sorted_by": "total_duration",
        "slow_queries": 5, "runs": runs if runs is not None else {}, "proposals": None, "generated": None,
    }
    report.update(more)
    return report


def section(page, start, end="</section>"):
    begin = page.index(start)
    return page[begin:page.index(end, begin)]


def test_the_page_has_the_fleet_at_a_glance():
    page = r.render(fleet())
    glance = section(page, '<section id="fleet">')
    assert glance.index(">orders<") < glance.index(">payments<")  # sorted by name
    assert "<code>statement_timeout=30s</code>" in glance and "work_mem=4MB" not in glance  # 4MB is the default
    assert "Missing from the organization:</strong> ghost" in glance and "not in the inventory:</strong> stray" in glance
    tags = Elements(page).tags
    assert [a["data-service"] for t, a in tags if t == "section" and a.get("class") == "service"] == ["orders", "payments"]
    assert [a["data-service"] for t, a in tags if t == "svg"] == ["orders", "payments"]
    assert not [tag for tag, _attrs in tags if tag in ("script", "img", "link", "iframe", "object")]


def test_long_values_wrap_in_their_own_cells():
    """Seen in Chromium: a comma-joined tag line took the glance table's width and squeezed the settings to a letter a
    line, and a long database or user name squeezed the query text; each now wraps in its own cell."""
    page = r.render(fleet(services=[service("orders", tags={"team": "data-platform", "env": "test"},
                                            slow_query_patterns=[pattern("1", 9, db_name="a_long_database_name")])]))
    glance = section(page, '<section id="fleet">')
    assert '<td class="tags"><ul class="compact"><li>env=test</li><li>team=data-platform</li></ul></td>' in glance
    assert '<td class="settings">' in glance and '<td class="access">' in glance
    assert '<td class="ident">a_long_database_name</td>' in page and '<td class="query"><code>SELECT 1</code></td>' in page
    for rule in ("td.ident{overflow-wrap:anywhere", "td.query{width:45%}", "table.glance td.settings{min-width:16em}"):
        assert rule in page


def test_hostile_strings_are_text_everywhere():
    hostile = fleet(
        services=[service(SCRIPT, state=SCRIPT, size=SCRIPT, tags={SCRIPT: SCRIPT}, ip_access_list=[{"source": SCRIPT, "description": SCRIPT}],
                          config={"pg_config": {SCRIPT: SCRIPT}, "pg_bouncer_config": {SCRIPT: SCRIPT}},
                          slow_query_patterns=[pattern(SCRIPT, 10, text=SCRIPT, db_name=SCRIPT)])],
        missing=[SCRIPT], not_in_inventory=[SCRIPT], window=SCRIPT, sorted_by=SCRIPT,
        runs={SCRIPT: {"fleet": {"changed": True, "action": SCRIPT, "changed_keys": [SCRIPT]}, "tune": None}},
        proposals={SCRIPT: [{"rule": SCRIPT, "setting": SCRIPT, "current": SCRIPT, "proposed": SCRIPT, "bound": SCRIPT,
                             "reason": SCRIPT, "evidence": {SCRIPT: SCRIPT}, "status": SCRIPT}]},
        generated=SCRIPT)
    page = r.render(hostile)
    assert "<script" not in page and "alert('x')" not in page
    assert page.count("&lt;script&gt;") >= 20
    assert not [tag for tag, _attrs in Elements(page).tags if tag == "script"]


def test_the_same_fleet_gives_the_same_bytes_whatever_the_order():
    one = r.render(fleet(runs=RUNS_CHANGED))
    shuffled = fleet(runs=RUNS_CHANGED)
    shuffled["services"] = list(reversed(shuffled["services"]))
    shuffled["services"][0]["slow_query_patterns"] = list(reversed(shuffled["services"][0]["slow_query_patterns"]))
    shuffled["services"][1]["config"]["pg_config"] = dict(reversed(list(shuffled["services"][1]["config"]["pg_config"].items())))
    assert r.render(shuffled) == one
    assert not re.search(r"\d{4}-\d\d-\d\d", one)
    assert "Generated 2026-12-01T12:00:00Z." in r.render(fleet(generated="2026-12-01T12:00:00Z"))


def test_what_changed_is_kept_until_a_run_changes_something():
    first = r.render(fleet(runs=RUNS_CHANGED))
    changes = section(first, '<section id="changes">')
    assert '<span class="badge warn">create</span>' in changes and "<code>work_mem</code>" in changes
    # a run that changed nothing, or ran neither role, leaves the page as it was
    assert r.render(fleet(runs=RUNS_QUIET), previous=first) == first
    assert r.render(fleet(), previous=first) == first
    # without an earlier page, it says what this run did
    quiet = section(r.render(fleet(runs=RUNS_QUIET)), '<section id="changes">')
    assert quiet.count("no change") == 2
    untouched = section(r.render(fleet()), '<section id="changes">')
    assert "fleet not run in this play" in untouched and "tune not run in this play" in untouched
    # a run that changes something replaces it
    later = {"orders": {"fleet": None, "tune": {"changed": True, "changed_keys": ["statement_timeout"], "restarted": True}}}
    replaced = section(r.render(fleet(runs=later), previous=first), '<section id="changes">')
    assert "statement_timeout" in replaced and "work_mem" not in replaced and "(restarted)" in replaced
    # a failure counts as something that happened
    failed = {"orders": {"fleet": {"changed": False, "failed": True}, "tune": None}}
    assert "badge bad" in section(r.render(fleet(runs=failed), previous=first), '<section id="changes">')
    assert r.previous_changes("<html>no markers</html>") is None and r.previous_changes(None) is None


def test_the_changes_heading_names_the_run_it_describes_not_this_one():
    """A quiet run keeps the section verbatim, so its words must stay true then: no bare "What changed" that reads as
    this run's, and with a time asked for, the time of the run that wrote it, not of the run that kept it."""
    def heading(page):
        return re.search(r'<section id="changes"><h2>(.*?)</h2><p class="muted">(.*?)</p>', page).groups()

    first = r.render(fleet(runs=RUNS_CHANGED, generated="2026-12-01T12:00:00Z"))
    title, lead = heading(first)
    assert title == "What changed in the last run that changed something"
    assert "(2026-12-01T12:00:00Z)" in lead and "kept it as it was" in lead
    kept = r.render(fleet(runs=RUNS_QUIET, generated="2026-12-02T08:00:00Z"), previous=first)
    assert heading(kept) == (title, lead) and "Generated 2026-12-02T08:00:00Z." in kept
    title, lead = heading(r.render(fleet(runs=RUNS_QUIET)))
    assert title == "What changed: nothing, in the runs that wrote this page" and "kept it since" in lead


def test_tuning_proposals_per_service():
    proposal = {"rule": "temp_spill", "setting": "work_mem", "current": "4MB", "proposed": "16MB", "bound": "64MB",
                "restart_required": False, "reason": "2 pattern(s) spilled", "evidence": {"patterns": [{"query_id": "-5"}]},
                "status": "apply", "limited": "brought down to the policy's 64MB"}
    page = r.render(fleet(proposals={"orders": [proposal], "payments": []}))
    orders, payments = section(page, 'id="svc-1" data-service="orders">'), section(page, 'id="svc-2" data-service="payments">')
    assert '<span class="badge pending">would apply</span>' in orders  # amber like pending, not a stopped service's purple
    assert "print-color-adjust:exact" in page  # the badges keep their colours on paper
    assert "would apply" in orders and "<code>4MB</code> \u2192 <code>16MB</code>" in orders and "patterns -5" in orders
    assert "Limited: brought down" in orders
    assert "No tuning proposals" in payments
    assert "Tuning advice not read." in r.render(fleet())


def test_no_patterns_read():
    page = r.render(fleet(slow_queries=0))
    assert "<svg" not in page and page.count("Query patterns not read") == 2


def test_the_filter():
    assert FilterModule().filters()["postgres_report_html"] is postgres_report_html
    assert postgres_report_html(fleet(), None, "3").startswith("<!DOCTYPE html>")
    for bad, args in ((["not", "a", "dict"], ()), ({}, (12,)), ({}, (None, "many"))):
        with pytest.raises(AnsibleFilterError):
            postgres_report_html(bad, *args)
