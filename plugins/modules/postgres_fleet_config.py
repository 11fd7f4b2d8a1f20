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
"""

RETURN = r"""
members:
  description:
    - Per member, keyed by its host. Each outcome has C(name), C(action) (V(configure) or V(none)), C(changed),
      C(diff), C(config) (the settings after the call), C(changed_keys), C(restarted), C(restart_required),
      C(message) (the API's), C(service), C(failed), C(msg) and C(failure) when it failed, and C(warnings).
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
