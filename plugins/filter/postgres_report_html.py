# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: postgres_report_html
short_description: The fleet report as one self-contained HTML page
version_added: 0.2.0
description:
  - Renders what the P(clickhouse.cloud.postgres_report#role) role gathers about a fleet of Managed Postgres services
    as one HTML page with inline CSS and SVG charts. The page needs no network and no JavaScript; its
    Content-Security-Policy allows neither.
  - "The page has the fleet at a glance (state, size, HA, place, Postgres version, access rules, the settings that differ
    from PostgreSQL's defaults, tags), what the latest run that changed something did (from the results of the
    P(clickhouse.cloud.postgres_fleet#role) and P(clickhouse.cloud.postgres_tune#role) roles), and per service a bar
    chart of its top query patterns by total time, the patterns' figures, its settings and its tuning proposals."
  - Every text from the API or the inventory is escaped, so a service name or a query with markup in it shows as
    text. Query texts are put on one line and cut short (90 characters in the chart, 240 in the table).
  - The output is deterministic; it holds no time unless C(generated) is set. When the run changed nothing,
    the "What changed" section of O(previous) is kept, so an unchanged fleet gives a byte-identical page. Its heading
    names the run it describes (the last that changed something, with C(generated) the time of that run), so a kept
    section does not read as the latest run's.
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
positional: previous, top
options:
  _input:
    description:
      - What the role gathered, a dictionary with the keys below; each may be missing.
      - C(services), the entries of RV(clickhouse.cloud.postgres_info#module:services), with C(config) and
        C(slow_query_patterns).
      - C(missing) and C(not_in_inventory), lists of service names.
      - C(window) and C(sorted_by), how the patterns were read; C(slow_queries), how many per service (V(0) for none).
      - C(runs), per service name a dictionary with C(fleet) and C(tune), the registered per-host results of the fleet
        and tune roles in this play, or V(null) where the role did not run. Only their C(changed), C(failed),
        C(action), C(changed_keys) (or the names of the fields their diff changes) and C(restarted) are shown.
      - C(proposals), per service name a list of tuning proposals (C(rule), C(setting), C(current), C(proposed),
        C(bound), C(restart_required), C(evidence), C(reason), and C(status), C(declined) and C(limited) as the
        P(clickhouse.cloud.postgres_tune#role) role gives them); a service it does not name had no advice read.
      - C(advice_error), why the advice could not be read, or V(null).
      - C(generated), a time to print in the footer, or V(null) for none.
    type: dict
    required: true
  previous:
    description:
      - The text of the page an earlier run wrote, or V(null). Only its "What changed" section is used, and only when
        nothing changed in this run.
    type: str
  top:
    description: How many query patterns the chart and the table show per service, the largest total time first.
    type: int
    default: 10
seealso:
  - module: clickhouse.cloud.postgres_info
"""

EXAMPLES = r"""
- name: Write the fleet report as HTML
  ansible.builtin.copy:
    dest: /srv/reports/fleet.html
    mode: "0644"
    content: >-
      {{ {'services': listing.services, 'window': '24h', 'sorted_by': 'total_duration', 'runs': {}, 'proposals': none}
         | clickhouse.cloud.postgres_report_html }}
"""

RETURN = r"""
_value:
  description: The page, an HTML document ending in a newline.
  type: str
  sample: "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">..."
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.clickhouse.cloud.plugins.plugin_utils._report_html import render


def postgres_report_html(report, previous=None, top=10):
    if not isinstance(report, dict):
        raise AnsibleFilterError("postgres_report_html wants a dictionary of what the report gathered, got %s"
                                 % type(report).__name__)
    if previous is not None and not isinstance(previous, str):
        raise AnsibleFilterError("postgres_report_html: previous must be the text of an earlier page or null")
    try:
        top = int(top)
    except (TypeError, ValueError):
        raise AnsibleFilterError("postgres_report_html: top must be an integer, got %r" % (top,)) from None
    return render(report, previous=previous, top=top)


class FilterModule:
    def filters(self):
        return {"postgres_report_html": postgres_report_html}
