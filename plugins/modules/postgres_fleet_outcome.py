#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/postgres_fleet_outcome.py);
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_fleet_outcome
short_description: Report one host's share of a clickhouse.cloud fleet call
version_added: 0.2.0
description:
  - Reports what a M(clickhouse.cloud.postgres_fleet_sync) or M(clickhouse.cloud.postgres_fleet_config) call did for one host's
    service, so that the play recap
    counts C(changed) per service and C(--diff) shows each service's own diff. Hosts stay the unit of the play.
  - The host fails with the member's message when its service failed, and shows the member's warnings.
  - Sets the fact C(postgres_fleet_service) (the service without secrets). When a new service's connection
    details had nowhere else to go, returns them as RV(credentials), never as a fact (facts reach the fact cache,
    and AWX's fact storage keeps that in its database). Put C(no_log) on the task in that case.
  - Makes no API call.
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - clickhouse.cloud.fleet
attributes:
  check_mode:
    support: full
    details: Reports the predicted outcome of a check-mode fleet call.
  diff_mode:
    support: full
    details: The member's diff.
  platform:
    platforms: all
options:
  outcome:
    description:
      - One entry of the RV(clickhouse.cloud.postgres_fleet_sync#module:members) or
        RV(clickhouse.cloud.postgres_fleet_config#module:members) of a fleet call.
      - Its fields other than secrets are returned as they are (for example C(changed_keys) and C(restarted)).
    type: dict
    required: true
seealso:
  - module: clickhouse.cloud.postgres_fleet_sync
  - module: clickhouse.cloud.postgres_fleet_config
"""

EXAMPLES = r"""
- name: Each host's own outcome of the fleet call
  clickhouse.cloud.postgres_fleet_outcome:
    outcome: "{{ fleet.members[inventory_hostname] }}"
"""

RETURN = r"""
name:
  description: Name of the service.
  returned: always
  type: str
  sample: db1
action:
  description: What the fleet call did, V(create), V(update), V(delete) or V(none).
  returned: always
  type: str
  sample: update
credentials_file:
  description: The file holding the connection details of a service this run created.
  returned: always
  type: str
  sample: /root/.pg-fleet/db1.json
credentials:
  description: The connection details of a service this run created, with its password, when they had nowhere else to go.
  returned: when the fleet call created the service without a credentials directory
  type: dict
  sample: {"id": "67b4bc12-8582-45d0-8806-fe9b2e5a54e6", "name": "db1", "password": "..."}
ansible_facts:
  description: C(postgres_fleet_service).
  returned: always
  type: dict
  sample: {"postgres_fleet_service": {"id": "67b4bc12-8582-45d0-8806-fe9b2e5a54e6", "name": "db1", "state": "running"}}
"""
