# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The fleet report as one self-contained HTML page: pure functions, no Ansible, no I/O.

The page is inline CSS and SVG, with no script and no network (its Content-Security-Policy forbids both).
Every string that comes from the API or the inventory is escaped, and long query texts are cut short.
Output is deterministic: everything is sorted, numbers have fixed formats, and nothing of the run itself
(time, host, user) is written unless the caller passes ``generated``. The "What changed" section
shows the latest run that changed something; a run that changes nothing keeps the previous page's
section (``previous``), so a fleet that did not change leaves the page byte-identical. The section's heading
names the run it describes, never "this run", so it stays true when kept.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata

from ansible_collections.clickhouse.cloud.plugins.module_utils._settings import PG_DEFAULTS, canonical


CHART_WIDTH = 760
CHART_ROW = 36
CHART_VALUE_SPACE = 200  # right of the longest bar: its figures
CHART_LABEL_CHARS = 90
TABLE_QUERY_CHARS = 240
TITLE_QUERY_CHARS = 2000
DEFAULT_TOP = 10

CHANGES_BEGIN = "<!-- postgres-report:changes -->"
CHANGES_END = "<!-- /postgres-report:changes -->"
_CHANGES = re.compile(re.escape(CHANGES_BEGIN) + ".*?" + re.escape(CHANGES_END), re.S)
# characters HTML does not allow in text (C0 controls but tab, newline and carriage return; DEL; C1; lone surrogates)
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# fields of a fleet member's diff that are never shown, whatever the diff holds
_SECRET_FIELDS = frozenset(("password", "connection_string", "credentials"))

STATE_CLASS = {"running": "ok", "stopped": "off", "failed": "bad", "degraded": "bad"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1100px;
padding:0 16px;color:#1d232b;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:2px solid #dde3ea;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}p.lead{color:#4a5561;margin:0 0 16px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #dde3ea;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f1f4f7;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;background:#f6f8fa;padding:0 3px;border-radius:3px;
word-break:break-word}
.badge{display:inline-block;white-space:nowrap;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;background:#e4e8ed;color:#34404c}
.badge.ok{background:#d5f1dc;color:#14602b}.badge.bad{background:#fbd9d6;color:#8e1b10}.badge.off{background:#e9e3f5;color:#4b3482}
.badge.warn{background:#fdecc8;color:#7a4b00}.badge.pending{background:#fdecc8;color:#7a4b00}
.badge.applied{background:#d5f1dc;color:#14602b}
.muted{color:#6b7682}.at-default{color:#6b7682}
section.service{border:1px solid #dde3ea;border-radius:8px;padding:4px 16px 10px;margin:18px 0}
svg.chart{display:block;max-width:100%;height:auto;margin:6px 0}
svg.chart text{font:12px "DejaVu Sans",sans-serif;fill:#1d232b}svg.chart text.value{fill:#4a5561}
svg.chart rect.track{fill:#eef2f6}svg.chart rect.bar{fill:#2f6fb3}svg.chart rect.bar.top{fill:#c2410c}
ul.compact{margin:0;padding-left:18px}td.nowrap,td.nowrap code{white-space:nowrap;word-break:normal}footer{margin-top:28px;color:#6b7682;font-size:12px}
@media print{body{margin:0 auto}.badge,th,svg.chart{-webkit-print-color-adjust:exact;print-color-adjust:exact}
tr,svg.chart{break-inside:avoid}h2,h3{break-after:avoid}a{color:inherit}}
td.ident{overflow-wrap:anywhere;min-width:6em;max-width:12em}td.query{width:45%}td.access{min-width:11em}
table.glance td.settings{min-width:16em}table.glance td.tags{overflow-wrap:anywhere;min-width:13em}table.glance tbody th{min-width:8em}
"""


def text(value):
    """A value as text: None is empty; characters HTML cannot carry become U+FFFD."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_TEXT.sub("\ufffd", value if isinstance(value, str) else str(value))


def esc(value):
    """Escaped for HTML text and attribute values (quotes too)."""
    return html.escape(text(value), quote=True)


def one_line(value, most):
    """Whitespace collapsed to single spaces, cut to ``most`` characters with an ellipsis."""
    flat = " ".join(text(value).split())
    return flat if len(flat) <= most else flat[:max(most - 1, 0)].rstrip() + "\u2026"


def chart_label(value, most):
    """``one_line`` for SVG text, which never wraps: a wide character (CJK, fullwidth) counts as two of ``most``, as
    it takes about twice the width, so a label of them is not clipped at the chart's edge."""
    flat = " ".join(text(value).split())
    widths = [2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in flat]
    if sum(widths) <= most:
        return flat
    used, end = 0, 0
    while used + widths[end] <= most - 1:
        used += widths[end]
        end += 1
    return flat[:end].rstrip() + "\u2026"


def duration(us):
    """Microseconds for people: ``0.42 ms``, ``12.30 ms``, ``3.21 s``, ``2.0 min``, ``27.8 h``."""
    us = number(us)
    if us >= 3_600_000_000:
        return "%.1f h" % (us / 3_600_000_000)
    if us >= 60_000_000:
        return "%.1f min" % (us / 60_000_000)
    if us >= 1_000_000:
        return "%.2f s" % (us / 1_000_000)
    return "%.2f ms" % (us / 1000)


def number(value):
    """An API counter as a number (missing or unreadable counts as 0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        number_ = float(value)
    except (TypeError, ValueError):
        return 0
    return number_ if math.isfinite(number_) else 0


def count(value):
    return "{:,}".format(int(number(value)))


def calls(value):
    return "%s call%s" % (count(value), "" if int(number(value)) == 1 else "s")


def pattern_key(pattern):
    """Largest total time first; ties by query id and text, so the order never depends on the API's."""
    return (-number(pattern.get("total_duration_us")), text(pattern.get("query_id")), text(pattern.get("query_text")))


def top_patterns(patterns, top=DEFAULT_TOP):
    return sorted((p for p in patterns or [] if isinstance(p, dict)), key=pattern_key)[:max(int(top), 0)]


def chart_geometry(patterns, width=CHART_WIDTH):
    """Bars of the patterns by total time: dicts of y (label baseline), bar_y, bar_width and the figures.

    The longest bar is the largest total; a pattern with any time at all gets at least 2 px, so it shows.
    """
    span = width - CHART_VALUE_SPACE
    largest = max((number(p.get("total_duration_us")) for p in patterns), default=0)
    rows = []
    for index, pattern in enumerate(patterns):
        total = number(pattern.get("total_duration_us"))
        length = 0.0 if largest <= 0 else max(span * total / largest, 2.0 if total > 0 else 0.0)
        top = 8 + index * CHART_ROW
        rows.append({
            "label_y": top + 12,
            "bar_y": top + 17,
            "bar_width": round(length, 1),
            "value_x": round(length + 6, 1),
            "label": chart_label(pattern.get("query_text"), CHART_LABEL_CHARS),
            "title": one_line(pattern.get("query_text"), TITLE_QUERY_CHARS),
            "figures": "%s \u00b7 %s" % (duration(total), calls(pattern.get("call_count"))),
        })
    height = 8 + max(len(rows), 1) * CHART_ROW + 4
    return {"width": width, "height": height, "span": span, "rows": rows}


def chart_svg(name, patterns):
    """One SVG bar chart of the service's top patterns by total time (an empty chart says so)."""
    geometry = chart_geometry(patterns)
    label = "Top query patterns of %s by total time" % text(name)
    parts = ['<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" data-service="%s" width="%d" height="%d" '
             'viewBox="0 0 %d %d" aria-label="%s"><title>%s</title>'
             % (esc(name), geometry["width"], geometry["height"], geometry["width"], geometry["height"], esc(label), esc(label))]
    if not geometry["rows"]:
        parts.append('<text x="8" y="26" class="value">No query patterns in the window.</text>')
    for index, row in enumerate(geometry["rows"]):
        parts.append(
            '<g class="pattern"><title>%s</title>'
            '<text x="0" y="%d">%s</text>'
            '<rect class="track" x="0" y="%d" width="%d" height="12" rx="2"/>'
            '<rect class="bar%s" x="0" y="%d" width="%s" height="12" rx="2"/>'
            '<text class="value" x="%s" y="%d">%s</text></g>'
            % (esc(row["title"]), row["label_y"], esc(row["label"]), row["bar_y"], geometry["span"],
               " top" if index == 0 else "", row["bar_y"], _num(row["bar_width"]), _num(row["value_x"]), row["bar_y"] + 11,
               esc(row["figures"])))
    parts.append("</svg>")
    return "\n".join(parts)


def _num(value):
    return ("%.1f" % value).rstrip("0").rstrip(".")


def setting_rows(config):
    """The settings set on a service: (scope, key, value, default or None, differs) sorted by scope and key."""
    config = config if isinstance(config, dict) else {}
    rows = []
    for key, value in sorted((config.get("pg_config") or {}).items()):
        default = PG_DEFAULTS.get(key)
        differs = default is None or canonical(key, value) != canonical(key, default)
        rows.append(("postgres", key, value, default, differs))
    for key, value in sorted((config.get("pg_bouncer_config") or {}).items()):
        rows.append(("pgbouncer", key, value, None, True))
    return rows


NOT_READ = "not read"
NOT_RETURNED = "not returned by the API: every address may connect"


def access_rules(rules):
    """The access rules as short texts, sorted; an open rule says so. ``rules`` is None when the API gave none."""
    if rules is None:
        return None
    shown = []
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        source = text(rule.get("source"))
        ports = text(rule.get("ports") or rule.get("port_range"))
        words = source + ((" port " + ports) if ports and ports != "5432" else "")
        if source in ("0.0.0.0/0", "0.0.0.0"):
            words += " (every address)"
        if rule.get("description"):
            words += " \u2013 " + text(rule.get("description"))
        shown.append(words)
    return sorted(shown)


def access_html(service, access):
    """The glance table's cell: the rules from the service's own read (``access``, by name) or its listing entry."""
    name = text(service.get("name"))
    if name in access:
        rules = access[name]
    elif "ip_access_list" in service:
        rules = service["ip_access_list"]
    else:
        return '<span class="muted">%s</span>' % NOT_READ
    shown = access_rules(rules if isinstance(rules, list) or rules is None else [])
    if shown is None:
        return '<span class="badge warn">%s</span>' % NOT_RETURNED
    return _list([esc(r) for r in shown], "no rule: nobody can connect")


def advice_line(proposal):
    """``work_mem 4MB -> 16MB (temp_spill)``: one proposal the tune role applied (or would, in check mode)."""
    check_mode = "" if proposal.get("status") == "applied" else ", would apply"
    return "%s %s \u2192 %s (%s%s)" % (
        text(proposal.get("setting")), text(proposal.get("current")), text(proposal.get("proposed")), text(proposal.get("rule")), check_mode)


def run_outcome(entry):
    """A role's registered per-host result reduced to what the page shows (never its secrets or values)."""
    if not isinstance(entry, dict) or entry.get("skipped"):
        return None
    outcome = {"changed": bool(entry.get("changed")), "failed": bool(entry.get("failed"))}
    if entry.get("action"):
        outcome["action"] = text(entry["action"])
    keys = entry.get("changed_keys")
    if keys is None:
        diff = entry.get("diff") if isinstance(entry.get("diff"), dict) else {}
        before, after = diff.get("before"), diff.get("after")
        if isinstance(before, dict) and isinstance(after, dict):
            keys = [k for k in set(before) | set(after) if before.get(k) != after.get(k)]
    outcome["keys"] = sorted(text(k) for k in keys or [] if text(k) not in _SECRET_FIELDS)
    if entry.get("restarted"):
        outcome["restarted"] = True
    advice = entry.get("advice") if isinstance(entry.get("advice"), dict) else {}
    advised = sorted((p for p in advice.get("proposals") or [] if isinstance(p, dict) and p.get("status") in ("applied", "apply")),
                     key=proposal_key)
    if advised:
        outcome["advice"] = [advice_line(p) for p in advised]
    return outcome


def _outcome_html(role, outcome):
    if outcome is None:
        return '<span class="muted">%s not run in this play</span>' % role
    if outcome["failed"]:
        words = '<span class="badge bad">failed</span>'
    elif outcome["changed"]:
        words = '<span class="badge warn">%s</span>' % esc(outcome.get("action") or "changed")
    else:
        words = '<span class="badge">no change</span>'
    if outcome["keys"]:
        words += " " + ", ".join("<code>%s</code>" % esc(k) for k in outcome["keys"])
    if outcome.get("restarted"):
        words += " (restarted)"
    if outcome.get("advice"):
        words += '<br><span class="muted">advice: %s</span>' % esc("; ".join(outcome["advice"]))
    return words


def changes_section(names, runs, generated=None):
    """The run's changes per service, between markers so that a later run that changes nothing can keep them.

    A later run keeps the section verbatim, so its heading and lead are worded to stay true then: they name the
    run they describe (the last that changed something, with its time when ``generated`` is given), never "this run".
    """
    rows = []
    for name in names:
        run = runs.get(name) or {}
        rows.append("<tr><th>%s</th><td>%s</td><td>%s</td></tr>"
                    % (esc(name), _outcome_html("fleet", run.get("fleet")), _outcome_html("tune", run.get("tune"))))
    stamp = " (%s)" % esc(generated) if generated else ""
    if anything_changed(runs):
        heading = "What changed in the last run that changed something"
        lead = ("That run%s wrote this section; runs since that changed nothing kept it as it was, so it can be older "
                "than the rest of the page (&ldquo;in this play&rdquo; means that run)." % stamp)
    else:
        heading = "What changed: nothing, in the runs that wrote this page"
        lead = ("Neither role changed or failed on a service in the run%s that wrote this section, nor in the runs that "
                "kept it since (&ldquo;in this play&rdquo; means that first run)." % stamp)
    body = ('<section id="changes"><h2>%s</h2><p class="muted">%s</p>'
            '<table><thead><tr><th>service</th><th>fleet (postgres_fleet)</th><th>settings (postgres_tune)</th></tr></thead>'
            "<tbody>%s</tbody></table></section>" % (heading, lead, "\n".join(rows)))
    return "%s\n%s\n%s" % (CHANGES_BEGIN, body, CHANGES_END)


def anything_changed(runs):
    return any((run or {}).get(role) and (run[role]["changed"] or run[role]["failed"])
               for run in runs.values() for role in ("fleet", "tune"))


def previous_changes(previous):
    """The changes section of an earlier page, verbatim, or None."""
    match = _CHANGES.search(previous) if isinstance(previous, str) else None
    return match.group(0) if match else None


# the tune role's statuses (postgres_fleet_config's advice entries) in words
STATUS_WORDS = {"apply": "would apply", "applied": "applied", "declined": "declined"}


# a proposal's badge: applied green, still to apply amber, declined (or a status of the future) neutral grey
PROPOSAL_CLASS = {"applied": "applied", "would apply": "pending", "pending": "pending"}


def proposal_status(proposal):
    """``declined`` (by the policy or the inventory), else the proposal's own status in words, else ``pending``."""
    if proposal.get("declined"):
        return "declined"
    status = text(proposal.get("status"))
    return STATUS_WORDS.get(status, status) or "pending"


# evidence keys that hold the time of the run (the window's ends) or a copy of another column: never shown
_EVIDENCE_HIDDEN = frozenset(("window", "memory_source"))


def evidence_text(evidence, most=300):
    """The evidence as one short line: the patterns' ids and the figures, in key order; times of the run left out."""
    if not isinstance(evidence, dict):
        return one_line(evidence_value(evidence), most)
    parts = []
    for key in sorted(evidence, key=text):
        value = evidence[key]
        if key in _EVIDENCE_HIDDEN:
            continue
        if key == "patterns" and isinstance(value, list):
            ids = [text(p.get("query_id")) for p in value if isinstance(p, dict)]
            parts.append("patterns %s" % (", ".join(ids) if ids else "none"))
        elif not isinstance(value, dict):
            parts.append("%s=%s" % (text(key), evidence_value(value)))
    return one_line("; ".join(parts), most)


def evidence_value(value):
    if isinstance(value, (list, tuple)):
        return ", ".join(evidence_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join("%s=%s" % (text(k), evidence_value(v)) for k, v in sorted(value.items(), key=lambda kv: text(kv[0])))
    return text(value)


def proposal_key(proposal):
    return (text(proposal.get("setting")), text(proposal.get("rule")))


def proposal_reason(proposal):
    words = text(proposal.get("reason"))
    for key, lead in (("limited", "Limited"), ("declined", "Declined")):
        if proposal.get(key):
            words += " %s: %s" % (lead, text(proposal[key]))
    return words


def proposals_html(proposals, error=None):
    if proposals is None:
        return '<p class="muted">Tuning advice not read%s.</p>' % (": " + esc(one_line(error, 300)) if error else "")
    proposals = sorted((p for p in proposals if isinstance(p, dict)), key=proposal_key)
    if not proposals:
        return '<p class="muted">No tuning proposals: no rule found evidence for a change.</p>'
    rows = []
    for p in proposals:
        status = proposal_status(p)
        rows.append('<tr><td><span class="badge %s">%s</span></td><td class="nowrap"><code>%s</code></td><td class="nowrap"><code>%s</code></td>'
                    '<td class="nowrap"><code>%s</code> \u2192 <code>%s</code></td><td>%s</td><td>%s</td><td>%s<br><span class="muted">%s</span></td></tr>'
                    % (esc(PROPOSAL_CLASS.get(status, "")), esc(status), esc(p.get("setting")),
                       esc(p.get("rule")), esc(p.get("current")), esc(p.get("proposed")), esc(p.get("bound")),
                       "yes" if p.get("restart_required") else "no", esc(one_line(proposal_reason(p), 500)),
                       esc(evidence_text(p.get("evidence")))))
    return ("<table><thead><tr><th>status</th><th>setting</th><th>rule</th><th>current \u2192 proposed</th><th>bound</th>"
            "<th>restart</th><th>why (evidence)</th></tr></thead><tbody>%s</tbody></table>" % "\n".join(rows))


def patterns_table(patterns):
    rows = []
    for p in patterns:
        rows.append('<tr><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td>'
                    '<td class="num">%s</td><td class="ident">%s</td><td class="ident">%s</td><td class="ident">%s</td>'
                    '<td class="query"><code>%s</code></td></tr>'
                    % (esc(duration(p.get("total_duration_us"))), esc(count(p.get("call_count"))),
                       esc(duration(p.get("avg_duration_us"))), esc(duration(p.get("p95_duration_us"))),
                       esc(count(p.get("error_count"))), esc(p.get("db_name")), esc(p.get("db_user")), esc(p.get("app")),
                       esc(one_line(p.get("query_text"), TABLE_QUERY_CHARS))))
    return ('<table><thead><tr><th>total</th><th>calls</th><th>avg</th><th>p95</th><th>errors</th><th>database</th>'
            "<th>user</th><th>app</th><th>query</th></tr></thead><tbody>%s</tbody></table>" % "\n".join(rows))


def settings_html(rows):
    if not rows:
        return '<p class="muted">No settings set: every setting at the service\'s default.</p>'
    body = []
    for scope, key, value, default, differs in rows:
        shown = "unknown" if default is None else "<code>%s</code>" % esc(default)
        body.append('<tr%s><td>%s</td><td class="nowrap"><code>%s</code></td><td><code>%s</code></td><td>%s</td><td>%s</td></tr>'
                    % ("" if differs else ' class="at-default"', esc(scope), esc(key), esc(value), shown,
                       "differs" if differs else "same as the default"))
    return ("<table><thead><tr><th>scope</th><th>setting</th><th>value</th><th>PostgreSQL default</th><th></th></tr></thead>"
            "<tbody>%s</tbody></table>" % "\n".join(body))


def _badge_state(state):
    return '<span class="badge %s">%s</span>' % (esc(STATE_CLASS.get(text(state), "warn")), esc(state))


def _list(items, empty="none"):
    if not items:
        return '<span class="muted">%s</span>' % empty
    return '<ul class="compact">%s</ul>' % "".join("<li>%s</li>" % item for item in items)


def _differing(rows):
    return ["<code>%s=%s</code>" % (esc(("pgbouncer." if scope == "pgbouncer" else "") + key), esc(value))
            for scope, key, value, _default, differs in rows if differs]


def glance_table(services, access):
    rows = []
    for index, s in enumerate(services):
        settings = setting_rows(s.get("config"))
        tags = ["%s=%s" % (esc(k), esc(v)) for k, v in sorted((s.get("tags") or {}).items(), key=lambda kv: text(kv[0]))]
        rows.append('<tr data-service="%s"><th><a href="#svc-%d">%s</a></th><td>%s</td><td class="nowrap">%s</td><td>%s</td>'
                    '<td class="nowrap">%s %s</td><td>%s</td><td class="access">%s</td><td class="settings">%s</td><td class="tags">%s</td></tr>'
                    % (esc(s.get("name")), index + 1, esc(s.get("name")), _badge_state(s.get("state")), esc(s.get("size")),
                       esc(s.get("ha_type")), esc(s.get("provider")), esc(s.get("region")), esc(s.get("postgres_version")),
                       access_html(s, access),
                       _list(_differing(settings), "none" if s.get("config") is not None else "not read"), _list(tags)))
    return ('<table class="glance"><thead><tr><th>service</th><th>state</th><th>size</th><th>HA</th><th>where</th>'
            "<th>Postgres</th><th>access rules</th><th>settings that differ from the defaults</th><th>tags</th></tr></thead>"
            "<tbody>%s</tbody></table>" % "\n".join(rows))


def service_section(index, service, patterns, proposals, slow_queries, advice_error=None):
    name = service.get("name")
    if slow_queries:
        chart = chart_svg(name, patterns)
        table = patterns_table(patterns) if patterns else ""
    else:
        chart, table = '<p class="muted">Query patterns not read (<code>postgres_report_slow_queries</code> is 0).</p>', ""
    return ('<section class="service" id="svc-%d" data-service="%s"><h2>%s %s</h2>'
            '<p class="muted">Service <code>%s</code>; %s, HA %s, %s %s, Postgres %s.</p>'
            "<h3>Top query patterns by total time</h3>%s%s<h3>Settings</h3>%s<h3>Tuning proposals</h3>%s</section>"
            % (index, esc(name), esc(name), _badge_state(service.get("state")), esc(service.get("id")), esc(service.get("size")),
               esc(service.get("ha_type")), esc(service.get("provider")), esc(service.get("region")),
               esc(service.get("postgres_version")), chart, table, settings_html(setting_rows(service.get("config"))),
               proposals_html(proposals, advice_error)))


def render(report, previous=None, top=DEFAULT_TOP):
    """The page. ``report`` is what the role gathered:

    ``services`` (postgres_info's entries, with ``config`` and ``slow_query_patterns``), ``missing`` and
    ``not_in_inventory`` (names), ``window`` and ``sorted_by`` (how the patterns were read), ``slow_queries``
    (how many were read; 0 for none), ``runs`` (per service name ``{"fleet": result, "tune": result}``: the
    registered results of the fleet and tune roles, None where they did not run), ``proposals`` (per service name
    a list of tuning proposals, or None when the advice was not read) and ``generated`` (a time to print, or None).
    """
    report = report if isinstance(report, dict) else {}
    services = sorted((s for s in report.get("services") or [] if isinstance(s, dict)),
                      key=lambda s: (text(s.get("name")), text(s.get("id"))))
    names = sorted({text(s.get("name")) for s in services} | {text(n) for n in report.get("runs") or {}})
    runs = {text(name): {role: run_outcome((run or {}).get(role)) for role in ("fleet", "tune")}
            for name, run in (report.get("runs") or {}).items()}
    # per service name; a name missing (or None) had no advice read
    proposals = {text(k): v for k, v in (report.get("proposals") or {}).items() if isinstance(v, list)}
    access = {text(k): v for k, v in (report.get("access_rules") or {}).items()}
    slow_queries = int(number(report.get("slow_queries", DEFAULT_TOP)))
    changes = previous_changes(previous) if not anything_changed(runs) else None
    sections = [service_section(i + 1, s, top_patterns(s.get("slow_query_patterns"), top),
                                proposals.get(text(s.get("name"))), slow_queries,
                                report.get("advice_error"))
                for i, s in enumerate(services)]
    notes = []
    if report.get("missing"):
        notes.append("<p><strong>Missing from the organization:</strong> %s.</p>"
                     % ", ".join(esc(n) for n in sorted(text(n) for n in report["missing"])))
    if report.get("not_in_inventory"):
        notes.append("<p><strong>In the organization but not in the inventory:</strong> %s.</p>"
                     % ", ".join(esc(n) for n in sorted(text(n) for n in report["not_in_inventory"])))
    generated = report.get("generated")
    lead = "%d services; query patterns of the last %s, read by %s." % (
        len(services), text(report.get("window") or "24h"), text(report.get("sorted_by") or "total_duration").replace("_", " "))
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Postgres fleet report</title><style>%s</style></head>\n<body>\n" % CSS.strip(),
        "<h1>Postgres fleet report</h1><p class=\"lead\">%s</p>\n" % esc(lead),
        '<section id="fleet"><h2>Fleet at a glance</h2>%s%s</section>\n' % (glance_table(services, access), "".join(notes)),
        (changes or changes_section(names, runs, generated)) + "\n",
        "\n".join(sections) + "\n",
        "<footer>Written by the clickhouse.cloud.postgres_report role.%s</footer>\n"
        % (" Generated %s." % esc(generated) if generated else ""),
        "</body></html>\n",
    ])
