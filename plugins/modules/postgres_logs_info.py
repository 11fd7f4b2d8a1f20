#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_logs_info
short_description: Read the server logs of a ClickHouse Cloud Managed Postgres service
version_added: 0.1.0
description:
  - Returns the Postgres server log entries of a service in a time window, filtered by severity and text.
  - Never changes anything.
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.service
  - clickhouse.cloud.read_only
  - clickhouse.cloud.read_only.window
  - ansible.builtin.action_common_attributes
options:
  from:  # described in the clickhouse.cloud.read_only.window fragment
    default: 1h
  to:
    default: now
  severity:
    description:
      - Only entries of this severity.
    type: str
    choices: [DEBUG, LOG, INFO, NOTICE, WARNING, ERROR, FATAL, PANIC]
  body_contains:
    description:
      - Only entries whose text contains this (case-sensitive).
    type: str
  sort_order:
    description:
      - V(desc) returns the newest entries first, V(asc) the oldest.
    type: str
    choices: [asc, desc]
    default: desc
  limit:
    description:
      - How many entries to return at most. The API gives at most 2000 per call; more are fetched page by page.
    type: int
    default: 100
  offset:
    description:
      - How many entries to skip, for paging through them yourself.
    type: int
    default: 0
notes:
  - The window includes both ends and may span at most 30 days (the API's limit), checked before any request.
  - One API call to find the service, then one per 2000 entries.
seealso:
  - module: clickhouse.cloud.slow_query_patterns
"""

EXAMPLES = r"""
- name: Errors of the last day
  clickhouse.cloud.postgres_logs_info:
    name: orders
    from: 24h
    severity: ERROR
  register: errors

- name: Fail when a deadlock was logged in the last hour
  clickhouse.cloud.postgres_logs_info:
    name: orders
    body_contains: deadlock detected
    limit: 1
  register: deadlocks
  failed_when: deadlocks.entries | length > 0
"""

RETURN = r"""
entries:
  description: The log entries, in the order asked for; V([]) when none match.
  returned: always
  type: list
  elements: dict
  contains:
    timestamp:
      description: When it was logged (RFC 3339).
      type: str
      sample: "2026-03-31T18:17:37.123Z"
    severity:
      description: V(DEBUG), V(LOG), V(INFO), V(NOTICE), V(WARNING), V(ERROR), V(FATAL) or V(PANIC).
      type: str
      sample: ERROR
    body:
      description: The message; structured bodies are JSON text.
      type: str
      sample: 'relation "missing_table" does not exist'
window:
  description: The window the entries were read from, in UTC.
  returned: always
  type: dict
  sample: {"from": "2026-03-31T17:17:37Z", "to": "2026-03-31T18:17:37Z"}
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule
from ansible_collections.clickhouse.cloud.plugins.module_utils._windows import check_paging, window, window_argument_spec

PAGE_SIZE = 2000  # the API's largest limit
MAX_DAYS = 30


def run(module):
    p = module.params
    check_paging(p["limit"], p["offset"])
    span = window(p["from"], p["to"], max_days=MAX_DAYS)
    service = module.find_service()
    entries = module.api.iter_logs(service["id"], span["from"], span["to"], page_size=PAGE_SIZE, max_entries=p["limit"],
                                   offset=p["offset"], severity=p["severity"], body_contains=p["body_contains"] or None,
                                   sort_order=p["sort_order"])
    return {"changed": False, "window": span, "entries": [entry.to_result() for entry in entries]}


def main():
    module = ServiceModule(
        argument_spec={
            **window_argument_spec("1h"),
            "severity": dict(type="str", choices=["DEBUG", "LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC"]),
            "body_contains": dict(type="str"),
            "sort_order": dict(type="str", default="desc", choices=["asc", "desc"]),
            "limit": dict(type="int", default=100),
            "offset": dict(type="int", default=0),
        },
    )
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
