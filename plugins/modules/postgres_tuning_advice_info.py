#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_tuning_advice_info
short_description: Setting changes for ClickHouse Cloud Managed Postgres services, from their query insights
version_added: 0.2.0
description:
  - Reads what one or more services did in a time window (their slow query patterns, the recent executions of the
    busiest ones, their connection counts) and their current settings, and proposes setting changes a DBA would
    sign, each with its evidence (pattern IDs and figures), its bound and whether it needs a restart.
  - There is never a proposal without evidence, and none when the current value already does what it would.
  - The rules and their thresholds are documented in the collection's C(docs/tuning.md) ("The rules").
  - Never changes anything; apply the proposals with M(clickhouse.cloud.postgres_config) or the
    C(clickhouse.cloud.postgres_tune) role.
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.service
  - clickhouse.cloud.read_only
  - clickhouse.cloud.read_only.window
  - ansible.builtin.action_common_attributes
options:
  id:
    description:
      - ID (UUID) of the service.
      - One of O(id), O(name) and O(names) is required; O(id) wins over O(name), and O(names) goes with neither.
  names:
    description:
      - Several services, by name; each name must match exactly one service. Finding them all costs one API call.
      - RV(advice) follows the order of the names.
    type: list
    elements: str
  from:  # described in the clickhouse.cloud.read_only.window fragment
    default: 24h
  to:
    default: now
  rules:
    description:
      - The rules to evaluate. V(temp_spill) proposes C(work_mem) for sorts and hashes that spill to temp files;
        V(connections_near_limit) a higher C(max_connections) (a restart); V(idle_in_transaction)
        C(idle_in_transaction_session_timeout); V(lock_waits) C(log_lock_waits); V(slow_statements)
        C(log_min_duration_statement).
      - All of them when not given.
    type: list
    elements: str
    choices: [temp_spill, connections_near_limit, idle_in_transaction, lock_waits, slow_statements]
  top_patterns:
    description:
      - How many of the window's patterns (by total duration) have their recent executions read, one API call each.
        The executions carry the temp-block and CPU counters the spill and lock rules need.
    type: int
    default: 3
  policy:
    description:
      - When given, each item of RV(advice) also says which proposals the policy accepts (RV(advice[].accepted),
        RV(advice[].pg_config)) and which it declines, with the reason (RV(advice[].declined)).
    type: dict
    suboptions:
      rules:
        description: The rules whose proposals may be applied; all when not given.
        type: list
        elements: str
        choices: [temp_spill, connections_near_limit, idle_in_transaction, lock_waits, slow_statements]
      bounds:
        description:
          - How far, per setting. For C(work_mem), C(max_connections) and C(hash_mem_multiplier) the highest value a
            proposal may reach; for C(idle_in_transaction_session_timeout) and C(log_min_duration_statement) the
            lowest. A proposal past its bound is lowered (or raised) to it; one the bound leaves no room for is
            declined.
        type: dict
      allow_restart:
        description: Whether proposals that need a restart (C(max_connections)) may be applied.
        type: bool
        default: false
  inventory_pg_config:
    description:
      - Settings the inventory sets for these services. They win, so a proposal for one of them is declined as C(set by
        inventory). Implies the RV(advice[].accepted) and RV(advice[].declined) lists, with no policy limits unless
        O(policy) is given too (and then restarts only as O(policy.allow_restart) says).
    type: dict
notes:
  - Per service, at most 3 + O(top_patterns) API calls after finding the services (one call for O(name) or O(names),
    one for O(id)) - the configuration, one page of 50 patterns, the pattern details and the metrics.
  - The API's configuration lists only the settings a user set; the others count at PostgreSQL's default (for
    example C(work_mem) 4MB, C(max_connections) 100). RV(advice[].proposals[].current_source) says which.
  - The memory behind the C(work_mem) bound comes from the size's name (the API gives none); for a size this
    collection cannot read, the spill rule proposes nothing.
  - The pattern details have no window; their executions outside the window are not counted.
seealso:
  - module: clickhouse.cloud.slow_query_patterns
  - module: clickhouse.cloud.postgres_metrics_info
  - module: clickhouse.cloud.postgres_config
"""

EXAMPLES = r"""
- name: What the last day of orders suggests
  clickhouse.cloud.postgres_tuning_advice_info:
    name: orders
  register: advice

- name: Show each proposal with its reason
  ansible.builtin.debug:
    msg: "{{ item.setting }}: {{ item.current }} -> {{ item.proposed }} ({{ item.reason }})"
  loop: "{{ advice.advice[0].proposals }}"

- name: Spills only, for three services, within a policy and the inventory's settings
  clickhouse.cloud.postgres_tuning_advice_info:
    names: [orders, payments, reporting]
    from: 6h
    rules: [temp_spill, lock_waits]
    policy:
      bounds:
        work_mem: 64MB
      allow_restart: false
    inventory_pg_config:
      statement_timeout: 60s
  register: advice

- name: Apply what the policy accepted for orders
  clickhouse.cloud.postgres_config:
    name: orders
    pg_config: "{{ advice.advice[0].pg_config }}"
  when: advice.advice[0].pg_config | length > 0
"""

RETURN = r"""
advice:
  description: One item per service, in the order asked.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The service's ID.
      type: str
      sample: 5f6a0000-0000-4000-8000-000000000001
    name:
      description: The service's name.
      type: str
      sample: orders
    size:
      description: The service's size.
      type: str
      sample: r8gd.large
    proposals:
      description: Every proposal of the rules evaluated, in the order of the rules; V([]) when nothing calls for one.
      type: list
      elements: dict
      contains:
        rule:
          description: The rule that made it.
          type: str
          sample: temp_spill
        setting:
          description: The setting.
          type: str
          sample: work_mem
        section:
          description: The configuration section it belongs to.
          type: str
          sample: pg_config
        current:
          description: Its value now, in PostgreSQL's spelling.
          type: str
          sample: 4MB
        current_source:
          description: V(set) when the service's configuration lists it, V(default) when it is PostgreSQL's default.
          type: str
          sample: default
        proposed:
          description: The proposed value, ready for O(clickhouse.cloud.postgres_config#module:pg_config).
          type: str
          sample: 32MB
        bound:
          description: The highest value the rule would propose for this service (V(null) for switches and timeouts).
          type: str
          sample: 32MB
        restart_required:
          description: Whether the new value takes effect only after a restart.
          type: bool
          sample: false
        reason:
          description: Why, in one paragraph with the figures.
          type: str
          sample: "1 pattern(s) spilled sorts or hashes to temp files in at least half of their recent executions, up to
            4.5MB per process; ..."
        evidence:
          description:
            - The figures behind it. C(patterns) lists the patterns that made the rule fire (ID, database, user,
              operation, app, text, calls, durations and the rule's counters such as C(spilling_executions) and
              C(max_temp_blks_written)); C(window) the window; other keys are the rule's own figures.
          type: dict
          sample: {"patterns": [{"query_id": "-4748036479882663975", "calls": 20, "spilling_executions": 5,
                   "max_temp_blks_written": 1280}], "needed_kb": 20480, "memory_bytes": 17179869184}
        declined:
          description: Always V(null) here; set in RV(advice[].declined).
          type: str
        limited:
          description: Always V(null) here; set in RV(advice[].accepted) when the policy lowered the value.
          type: str
    accepted:
      description: With O(policy) or O(inventory_pg_config), the proposals that may be applied, as RV(advice[].proposals).
      returned: when O(policy) or O(inventory_pg_config) is given
      type: list
      elements: dict
    declined:
      description: With O(policy) or O(inventory_pg_config), the other proposals, each with C(declined) saying why.
      returned: when O(policy) or O(inventory_pg_config) is given
      type: list
      elements: dict
    pg_config:
      description: The accepted settings as a dict, for O(clickhouse.cloud.postgres_config#module:pg_config).
      returned: when O(policy) or O(inventory_pg_config) is given
      type: dict
      sample: {"work_mem": "32MB"}
    inputs_summary:
      description:
        - What the advice was based on - the window, how many patterns, pattern details and executions were read,
          the number of connection data points, the settings the rules read (C(settings), and C(settings_set), those
          the configuration lists), the memory and where it came from, and the API calls made for the service.
      type: dict
      sample: {"window": {"from": "2026-03-30T18:17:37Z", "to": "2026-03-31T18:17:37Z"}, "patterns_read": 12,
               "patterns_with_executions": 3, "executions_read": 30, "connection_points": 240,
               "settings": {"work_mem": "4MB", "max_connections": "100"}, "settings_set": [],
               "memory_bytes": 17179869184, "memory_source": "size r8gd.large", "api_calls": 6}
window:
  description: The window the advice was read from, in UTC.
  returned: always
  type: dict
  sample: {"from": "2026-03-30T18:17:37Z", "to": "2026-03-31T18:17:37Z"}
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._advisor import RULES, advise, decide, within_policy
from ansible_collections.clickhouse.cloud.plugins.module_utils._advisor_inputs import gather, summary
from ansible_collections.clickhouse.cloud.plugins.module_utils._engine import lookup_names
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._resources import SERVICE_SUMMARY
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule, ServiceOps
from ansible_collections.clickhouse.cloud.plugins.module_utils._windows import window, window_argument_spec


def services_named(module, names):
    """The services of ``names``, in that order, from one listing; every name must match exactly one."""
    found = lookup_names(SERVICE_SUMMARY, ServiceOps(module.api), names)
    missing = [n for n in names if n not in found]
    if missing:
        raise InputError("No Postgres service named %s in organization %s." % (
            ", ".join(repr(n) for n in missing), module.params["organization_id"]))
    return [found[name] for name in dict.fromkeys(names)]


def judged(proposals, params):
    """accepted, declined and pg_config under the inventory and the policy."""
    policy = params["policy"] or {"rules": None, "bounds": None, "allow_restart": True}
    accepted, declined = decide(proposals, policy, params["inventory_pg_config"])
    return {"accepted": [p.to_dict() for p in accepted], "declined": [p.to_dict() for p in declined],
            "pg_config": {p.setting: p.proposed for p in accepted if p.section == "pg_config"}}


def run(module):
    p = module.params
    if p["top_patterns"] < 0:
        raise InputError("top_patterns must be 0 or more, got %d." % p["top_patterns"])
    span = window(p["from"], p["to"])
    judging = p["policy"] is not None or p["inventory_pg_config"] is not None
    if p["policy"] is not None:  # a bad policy fails before any request
        within_policy([], p["policy"])
    services = services_named(module, p["names"]) if p["names"] else [module.find_service()]
    advice = []
    for service in services:
        data = gather(module.api, service, span, top=p["top_patterns"])
        proposals = advise(data, p["rules"])
        item = {"id": service.get("id"), "name": service.get("name"), "size": service.get("size"),
                "proposals": [x.to_dict() for x in proposals], "inputs_summary": summary(data)}
        if judging:
            item.update(judged(proposals, p))
        advice.append(item)
    return {"changed": False, "window": span, "advice": advice}


def main():
    module = ServiceModule(
        argument_spec={
            **window_argument_spec("24h"),
            "names": dict(type="list", elements="str"),
            "rules": dict(type="list", elements="str", choices=list(RULES)),
            "top_patterns": dict(type="int", default=3),
            "policy": dict(type="dict", options={
                "rules": dict(type="list", elements="str", choices=list(RULES)),
                "bounds": dict(type="dict"),
                "allow_restart": dict(type="bool", default=False),
            }),
            "inventory_pg_config": dict(type="dict"),
        },
        service_required=False,
        required_one_of=[("id", "name", "names")],
        mutually_exclusive=[("id", "names"), ("name", "names")],
    )
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
