#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/postgres_fleet_config.py),
# on the controller; this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_fleet_config
short_description: Set the Postgres and PgBouncer settings of a whole fleet in one call, restarting in waves
version_added: 0.2.0
description:
  - Sets the settings of every service listed in O(services) in one controller-side call. It lists the organization
    once and reads the configuration of each service that has settings in O(services). Values are compared as
    M(clickhouse.cloud.postgres_config) compares them (V(1GB) equals V(1024MB)). Only the services whose settings
    differ get a write.
  - Services whose change needs a restart (see O(restart)) are restarted O(max_restarting) at a time. Each wave is
    waited for, with one listing per poll, before the next starts, so a tuning run never takes the whole fleet down
    together.
  - Each member's outcome (changed keys, restart, diff, failure) is returned under RV(members), keyed by
    O(services[].host). M(clickhouse.cloud.postgres_fleet_outcome) reports it per host, as the
    P(clickhouse.cloud.postgres_tune#role) role does.
  - With O(advice), it also reads each service's query insights and metrics over a window, and adds the tuning
    advisor's proposals (docs/tuning.md lists its rules) to the settings, only those the policy allows (which rules,
    how far, whether a restart is allowed), and never one for a setting O(services[].pg_config) lists, since the
    inventory wins. Each proposal, with its evidence and what became of it, is in the member's outcome under
    C(advice). In check mode that is a dry run; every proposal is listed and nothing is written.
  - Runs on the controller as an action plugin; run it once per play (C(run_once)).
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - ansible.builtin.action_common_attributes
  - clickhouse.cloud.fleet
attributes:
  check_mode:
    support: full
    details: Lists and reads, then predicts every member's changes and restarts, with no write.
  diff_mode:
    support: full
    details: Each member's diff (one line per changed setting) is in RV(members).
options:
  services:
    description:
      - The fleet, one entry per service. Settings are checked as M(clickhouse.cloud.postgres_config) checks them.
        Nothing is sent for an invalid entry, which fails only that entry's host.
      - An entry with no settings, or only empty ones, costs no API call.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: The inventory host the service belongs to; the key of its outcome in RV(members).
        type: str
        required: true
      name:
        description: Name of the service.
        type: str
        required: true
      pg_config:
        description: Postgres settings; empty or not given, they are left alone.
        type: dict
      pg_bouncer_config:
        description: PgBouncer settings; empty or not given, they are left alone.
        type: dict
      advice:
        description:
          - This service's advice policy, with the keys of O(advice); the keys it gives replace those of O(advice).
          - Given here or in O(advice), the service gets advice.
        type: dict
        suboptions:
          rules:
            description: As O(advice.rules).
            type: list
            elements: str
          bounds:
            description: As O(advice.bounds).
            type: dict
          allow_restart:
            description: As O(advice.allow_restart).
            type: bool
          window:
            description: As O(advice.window).
            type: str
  advice:
    description:
      - The advice policy of every service in O(services) (a service's own O(services[].advice) keys win). Not given
        (here or for a service), that service gets no advice and costs no extra call.
      - Needs O(mode=merge).
      - A proposal the policy declines is still listed, with the reason it was declined.
    type: dict
    suboptions:
      rules:
        description:
          - The advisor's rules whose proposals may be applied, out of V(temp_spill) (C(work_mem)),
            V(connections_near_limit) (C(max_connections)), V(idle_in_transaction)
            (C(idle_in_transaction_session_timeout)), V(lock_waits) (C(log_lock_waits)) and V(slow_statements)
            (C(log_min_duration_statement)).
          - Not given, every rule. V([]) lists the proposals and applies none.
        type: list
        elements: str
      bounds:
        description:
          - How far a proposal may go, per setting. For a setting the rules raise (C(work_mem), C(max_connections)),
            the highest value allowed; for one they lower (C(idle_in_transaction_session_timeout),
            C(log_min_duration_statement)), the lowest. A proposal beyond its bound is lowered (or raised) to it; one
            the bound does not leave room for is declined.
          - The advisor applies bounds of its own too, such as C(work_mem) times C(max_connections) within a quarter of
            the size's memory.
        type: dict
      allow_restart:
        description:
          - Apply proposals for settings that take effect only on restart (such as C(max_connections)). Without it
            they are listed and declined. Whether and when the service restarts still follows O(restart).
        type: bool
        default: false
      window:
        description:
          - How far back the insights are read, as the O(clickhouse.cloud.slow_query_patterns#module:from) of
            M(clickhouse.cloud.slow_query_patterns), such as V(24h), V(30m), V(7d), or an RFC 3339 date-time. The window
            ends now.
        type: str
        default: 24h
  mode:
    description: As M(clickhouse.cloud.postgres_config)'s O(clickhouse.cloud.postgres_config#module:mode).
    type: str
    choices: [merge, replace]
    default: merge
  restart:
    description: As M(clickhouse.cloud.postgres_config)'s O(clickhouse.cloud.postgres_config#module:restart).
    type: str
    choices: [never, if_required, always]
    default: if_required
  max_restarting:
    description:
      - How many services may restart at the same time, at least V(1). The default restarts one at a time.
    type: int
    default: 1
  wait:
    description:
      - Wait for each wave of restarts to run again before the next one. Without it, the restarts of a service that
        is not running are left owed (RV(members) says C(restart_required)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for one wave of restarts.
    type: int
    default: 600
notes:
  - "API calls: one listing, one configuration read per service with settings, one write per service whose
    settings differ, one restart per service that needs one, and one listing per poll while a wave restarts."
  - "With advice, each service with advice costs the calls that read its insights as well: its slow query patterns,
    the recent executions of each of them, and its connection metrics (docs/tuning.md)."
seealso:
  - module: clickhouse.cloud.postgres_config
  - module: clickhouse.cloud.postgres_fleet_outcome
"""

EXAMPLES = r"""
- name: The settings of the play's services in one call, two restarting at a time
  clickhouse.cloud.postgres_fleet_config:
    services:
      - {host: orders, name: orders, pg_config: {max_connections: 300, work_mem: 8MB}}
      - {host: payments, name: payments, pg_config: {max_connections: 300}}
    max_restarting: 2
  run_once: true
  register: tuned

- name: Each host's own outcome
  clickhouse.cloud.postgres_fleet_outcome:
    outcome: "{{ tuned.members[inventory_hostname] }}"

- name: Settings from the last day's query insights, work_mem at most 64MB, no restart
  clickhouse.cloud.postgres_fleet_config:
    services:
      - {host: orders, name: orders}
      - {host: payments, name: payments, pg_config: {work_mem: 8MB}}  # the inventory wins: no work_mem advice
    advice:
      rules: [temp_spill, lock_waits]
      bounds: {work_mem: 64MB}
  run_once: true
  register: advised

- name: What was proposed, with its evidence, and what became of it
  ansible.builtin.debug:
    msg: "{{ advised.members['orders'].advice.lines }}"
"""

RETURN = r"""
members:
  description:
    - Per member, keyed by its host. Each outcome has C(name), C(action) (V(configure) or V(none)), C(changed),
      C(diff), C(config) (the settings after the call), C(changed_keys), C(restarted), C(restart_required),
      C(message) (the API's), C(service), C(failed), C(msg) and C(failure) when it failed, and C(warnings).
    - With advice, C(advice) too. C(advice.window) is the window read (C(from), C(to)). C(advice.proposals) lists
      every proposal, each with C(rule), C(setting), C(section), C(current), C(current_source) (V(set), or
      V(default) when the API lists no value), C(proposed), C(bound), C(restart_required), C(reason),
      C(evidence) (the patterns with their figures, and the other figures the rule read), C(limited) (how a policy
      bound lowered it, or null), C(declined) (why it was not applied, or null) and C(status), which is V(apply)
      (in check mode), V(applied), V(not_applied) (the member failed before its write), V(uncertain) (its write failed
      after it may have landed; the next run shows) or V(declined).
      C(advice.lines) says the same in lines a person reads.
  returned: always
  type: dict
  sample: {"orders": {"name": "orders", "action": "configure", "changed": true, "changed_keys": ["max_connections"],
           "restarted": true, "restart_required": false, "failed": false, "warnings": [],
           "diff": {"before": {"pg_config": {"max_connections": "100"}}, "after": {"pg_config": {"max_connections": "300"}}}}}
summary:
  description: How many members had each outcome (the action, or C(failed)).
  returned: always
  type: dict
  sample: {"configure": 2, "none": 1}
polls:
  description: Listings made while restarts were waited for.
  returned: always
  type: int
  sample: 4
api_requests:
  description: HTTP requests this call sent, retries included.
  returned: always
  type: int
  sample: 9
"""
