#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: slow_query_patterns
short_description: Query insights of a ClickHouse Cloud Managed Postgres service
version_added: 0.1.0
description:
  - Lists the query patterns (normalised statements, literals shown as C($1), C($2)...) a service ran in a time
    window, with their call counts, errors, durations, rows, blocks, CPU and WAL, sorted the way you ask.
  - With O(query_id), gets one pattern and its recent executions instead.
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
    default: 24h
  to:
    default: now
  sort_by:
    description:
      - What to sort the patterns by. Patterns with the same value are ordered by query ID, database, user, operation
        and application, so the order is the same on every run.
    type: str
    choices: [total_duration, avg_duration, call_count, error_count, max_duration, p50_duration, p95_duration,
              p99_duration, total_rows, total_blks_read, total_shared_blks_hit, total_cpu_time, total_wal_bytes]
    default: total_duration
  sort_order:
    description:
      - V(desc) puts the largest first (the slowest, for durations).
    type: str
    choices: [asc, desc]
    default: desc
  db_name:
    description:
      - Only patterns run in this database. Required with O(query_id).
    type: str
  db_user:
    description:
      - Only patterns run by this user. Required with O(query_id).
    type: str
  db_operation:
    description:
      - Only patterns of this kind of statement, for example V(SELECT), V(INSERT), V(UPDATE), V(DELETE) or V(UTILITY)
        (upper-cased before it is sent). Required with O(query_id).
    type: str
  app:
    description:
      - Only patterns run by clients with this C(application_name).
    type: str
  limit:
    description:
      - How many patterns to return at most. The API gives at most 500 per call; more are fetched page by page, one
        API call per 500.
    type: int
    default: 20
  offset:
    description:
      - How many patterns of the sorted list to skip, for paging through them yourself.
    type: int
    default: 0
  query_id:
    description:
      - Get this one pattern with its recent executions, as RV(pattern). Requires O(db_name), O(db_user) and
        O(db_operation), which identify the pattern together with the ID (RV(patterns) gives all four).
      - Query IDs are signed 64-bit numbers written as text, often negative. Quote them in YAML; they are sent exactly
        as given and never converted to a number.
    type: str
  timestamp:
    description:
      - With O(query_id), the moment whose recent executions to read, as O(from) takes it (V(now), V(1h), RFC 3339);
        the API's default is now.
    type: str
notes:
  - The window includes O(from) and excludes O(to). With O(query_id) there is no window (the endpoint has none), and
    O(from), O(to), O(sort_by), O(sort_order), O(limit) and O(offset) are ignored.
  - One API call to find the service, then one per page of patterns, or one for O(query_id).
  - Durations are in microseconds (C(_us)).
seealso:
  - module: clickhouse.cloud.postgres_logs_info
  - module: clickhouse.cloud.postgres_metrics_info
  - name: Query insights
    description: ClickHouse's documentation of the counters.
    link: https://clickhouse.com/docs/cloud/managed-postgres/monitoring/query-insights
"""

EXAMPLES = r"""
- name: The ten slowest patterns of the last day
  clickhouse.cloud.slow_query_patterns:
    name: orders
    limit: 10
  register: slow

- name: The most frequent SELECTs of the reporting app in the last hour
  clickhouse.cloud.slow_query_patterns:
    name: orders
    from: 1h
    db_operation: SELECT
    app: reporting
    sort_by: call_count
  register: frequent

- name: A fixed window, every pattern (paged by the module)
  clickhouse.cloud.slow_query_patterns:
    name: orders
    from: "2026-03-30T00:00:00Z"
    to: "2026-03-31T00:00:00Z"
    limit: 5000
  register: all_patterns

- name: Recent executions of the slowest pattern
  clickhouse.cloud.slow_query_patterns:
    name: orders
    query_id: "{{ slow.patterns[0].query_id }}"
    db_name: "{{ slow.patterns[0].db_name }}"
    db_user: "{{ slow.patterns[0].db_user }}"
    db_operation: "{{ slow.patterns[0].db_operation }}"
  register: one
  when: slow.patterns | length > 0
"""

RETURN = r"""
patterns:
  description:
    - The patterns, sorted as asked, with snake_case keys; V([]) when none match.
    - With O(query_id), the one pattern's aggregate (V([]) when it does not exist).
  returned: always
  type: list
  elements: dict
  contains:
    query_id:
      description: Signed 64-bit ID of the pattern, as text.
      type: str
      sample: "-4748036479882663975"
    query_text:
      description: Normalised statement, literals replaced by C($1), C($2)...
      type: str
      sample: "SELECT * FROM orders WHERE id = $1"
    db_name:
      description: Database.
      type: str
      sample: postgres
    db_user:
      description: User.
      type: str
      sample: app
    db_operation:
      description: Kind of statement.
      type: str
      sample: SELECT
    app:
      description: C(application_name) of the clients.
      type: str
      sample: reporting
    call_count:
      description: Executions in the window.
      type: int
      sample: 1042
    error_count:
      description: Executions that failed.
      type: int
      sample: 0
    total_duration_us:
      description: Sum of the durations, microseconds.
      type: int
      sample: 5230411
    avg_duration_us:
      description: Mean duration, microseconds.
      type: int
      sample: 5019
    max_duration_us:
      description: Longest duration, microseconds.
      type: int
      sample: 80211
    p50_duration_us:
      description: Median duration, microseconds.
      type: int
      sample: 3120
    p95_duration_us:
      description: 95th percentile of the durations, microseconds.
      type: int
      sample: 15002
    p99_duration_us:
      description: 99th percentile of the durations, microseconds.
      type: int
      sample: 40210
    total_rows:
      description: Rows returned or affected.
      type: int
      sample: 1042
    total_shared_blks_read:
      description: Shared blocks read from disk.
      type: int
      sample: 12
    total_shared_blks_hit:
      description: Shared blocks found in the buffer cache.
      type: int
      sample: 4410
    total_cpu_time_us:
      description: CPU time (user and system), microseconds.
      type: int
      sample: 90112
    total_wal_bytes:
      description: WAL written, bytes.
      type: int
      sample: 0
pattern:
  description: With O(query_id), the pattern; V(null) when it does not exist.
  returned: with O(query_id)
  type: dict
  contains:
    aggregate:
      description: The pattern's counters, the same keys as an item of RV(patterns).
      type: dict
    recent_executions:
      description:
        - Its recent executions, newest first, each with C(timestamp), C(pid) (text), C(duration_us), C(rows), the
          block, I/O time, WAL, CPU, JIT and parallel-worker counters, C(server_role), and C(err_message),
          C(err_sqlstate), C(err_elevel) for failed ones.
      type: list
      elements: dict
      sample: [{"timestamp": "2026-03-31T18:17:37Z", "pid": "4242", "duration_us": 5120, "rows": 1,
                "server_role": "primary", "shared_blks_hit": 4}]
window:
  description: The window the patterns were read from, in UTC.
  returned: without O(query_id)
  type: dict
  sample: {"from": "2026-03-30T18:17:37Z", "to": "2026-03-31T18:17:37Z"}
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ApiError
from ansible_collections.clickhouse.cloud.plugins.module_utils._insights import SORT_FIELDS, check_query_id, top_patterns
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule
from ansible_collections.clickhouse.cloud.plugins.module_utils._timestamps import API_FORMAT
from ansible_collections.clickhouse.cloud.plugins.module_utils._windows import check_paging, moment, now_utc, window, window_argument_spec


def filters(params):
    operation = params["db_operation"]
    return dict(db_name=params["db_name"], db_user=params["db_user"], app=params["app"],
                db_operation=operation.upper() if operation else None)


def one_pattern(module, service_id, at=None):
    p = module.params
    found = filters(p)
    try:
        detail = module.api.get_slow_query_pattern(service_id, p["query_id"], timestamp=at, **found).to_result()
    except ApiError as exc:
        if exc.not_found:
            return {"changed": False, "patterns": [], "pattern": None}
        raise
    detail["recent_executions"] = sorted(detail.get("recent_executions") or [],
                                         key=lambda e: (e.get("timestamp") or "", e.get("pid") or ""), reverse=True)
    return {"changed": False, "patterns": [detail["aggregate"]] if detail.get("aggregate") else [], "pattern": detail}


def run(module):
    p = module.params
    check_paging(p["limit"], p["offset"])
    at = None
    if p["query_id"] is not None:
        check_query_id(p["query_id"])
        if p["timestamp"] is not None:
            at = moment(p["timestamp"], "timestamp", now_utc()).strftime(API_FORMAT)
    else:
        span = window(p["from"], p["to"])
    service = module.find_service()
    if p["query_id"] is not None:
        return one_pattern(module, service["id"], at)
    return {"changed": False, "window": span,
            "patterns": top_patterns(module.api, service["id"], span, p["sort_by"], p["limit"], p["sort_order"],
                                     p["offset"], **filters(p))}


def main():
    module = ServiceModule(
        argument_spec={
            **window_argument_spec("24h"),
            "sort_by": dict(type="str", default="total_duration", choices=list(SORT_FIELDS)),
            "sort_order": dict(type="str", default="desc", choices=["asc", "desc"]),
            "db_name": dict(type="str"),
            "db_user": dict(type="str"),
            "db_operation": dict(type="str"),
            "app": dict(type="str"),
            "limit": dict(type="int", default=20),
            "offset": dict(type="int", default=0),
            "query_id": dict(type="str"),
            "timestamp": dict(type="str"),
        },
        required_by={"query_id": ("db_name", "db_user", "db_operation"), "timestamp": ("query_id",)},
    )
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
