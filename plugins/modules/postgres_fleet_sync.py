#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/postgres_fleet_sync.py),
# on the controller; this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_fleet_sync
short_description: Create, update and delete a whole fleet of ClickHouse Cloud Managed Postgres services in one call
version_added: 0.2.0
description:
  - Brings every service listed in O(services) in line with its description in one controller-side call. It lists
    the organization once, compares each service with the same rules as M(clickhouse.cloud.postgres_service), and
    sends exactly the writes needed. That is one POST per missing service, one PATCH per service that drifted and
    one DELETE per service with O(services[].state=absent). No second lookup is made unless an answer was lost.
  - The writes are paced under the API's rate limit (see O(api_rate_limit)). With O(wait), one listing per poll
    then waits for all of them together, and the progress is shown as services settle.
  - A new service's password, which the API shows only in the answer to its create, is written to
    O(credentials_dir) as soon as that answer arrives, before the next write.
  - Each member's outcome (its change, diff, failure and warnings) is returned under RV(members), keyed by
    O(services[].host). M(clickhouse.cloud.postgres_fleet_outcome) reports it per host. The
    P(clickhouse.cloud.postgres_fleet#role) role uses the two together.
  - One member's failure (a change to an immutable field, a name two services share, a refused write) fails only
    that member; the others go on.
  - A member with O(services[].replica_of) is a read replica of that primary, which is another member or a service
    of the organization. Its create waits until the primary runs, and it is asked for again (paced, every 5 to
    30 seconds) while the API refuses it because the primary has no backup yet. Other work does not wait for it, and
    the progress is shown. A primary this call deletes waits until the replicas it deletes are gone, because the API
    refuses to delete a primary that has replicas.
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
    details: Lists the services once and predicts every member's outcome (RV(members)), with no write.
  diff_mode:
    support: full
    details: Each member's diff is in RV(members); M(clickhouse.cloud.postgres_fleet_outcome) shows it per host.
options:
  services:
    description:
      - The fleet, one entry per service. The service options of M(clickhouse.cloud.postgres_service) are
        checked the same way. Nothing is sent for an invalid entry, which fails only that entry's host.
      - Two entries naming one service fail the whole call before anything is sent.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: The inventory host the service belongs to; the key of its outcome in RV(members).
        type: str
        required: true
      name:
        description: Name of the service, unique in the organization.
        type: str
        required: true
      replica_of:
        description:
          - Name or ID of the primary this service is a read replica of. It is created as a replica of that primary.
            The primary can be another entry of O(services), which is then created or changed first, or a service of
            the organization. If it is neither, or is a replica itself, only this entry fails and nothing is sent for
            it.
          - A replica takes provider, region, Postgres version and size from its primary and has no standbys. Values
            of O(services[].provider), O(services[].region), O(services[].postgres_version) and O(services[].size)
            that differ from the primary's, or an O(services[].ha_type) other than V(none), fail the entry before
            anything is sent.
          - The API takes the tags of a replica only when the replica is created. A later change of
            O(services[].tags) fails the entry.
          - A replica starts with a copy of its primary's access rules. If O(services[].ip_access_list) gives other
            rules, one PATCH right after the create sets them.
          - An existing service of that name is compared as a replica. If it is a primary (it was promoted), the entry
            fails. The API does not say which primary a replica belongs to, so this is not checked.
        type: str
      state:
        description: V(present) creates or updates the service; V(absent) deletes it.
        type: str
        choices: [present, absent]
        default: present
      provider:
        description: Cloud provider, for example V(aws). Required to create; cannot change.
        type: str
      region:
        description: Provider region. Required to create; cannot change.
        type: str
      size:
        description: VM size. Required to create; a different size resizes the service.
        type: str
      postgres_version:
        description: Major Postgres version. Cannot change.
        type: str
      ha_type:
        description: High availability.
        type: str
        choices: [none, async, sync]
      tags:
        description: Tags as a dictionary, checked as M(clickhouse.cloud.postgres_service) checks them.
        type: dict
      purge_tags:
        description: Remove tags not listed in O(services[].tags).
        type: bool
        default: true
      pg_config:
        description: Postgres settings to create the service with; only used on creation.
        type: dict
      pg_bouncer_config:
        description: PgBouncer settings to create the service with; only used on creation.
        type: dict
      ip_access_list:
        description:
          - The addresses that may connect, as access rules, compared rule by rule as
            M(clickhouse.cloud.postgres_service) compares them.
          - Not given, a new service is refused unless O(services[].public) is true, and the rules of an existing
            service are left alone. A read replica starts with a copy of its primary's rules.
        type: list
        elements: dict
        suboptions:
          source:
            description: An IPv4 address or CIDR block, for example V(10.0.0.0/8).
            type: str
            required: true
          ports:
            description: A port, or a range V(A..B), within 1-65535.
            type: str
            default: "5432"
            aliases: [port_range]
          description:
            description: What the rule is for.
            type: str
      purge_ip_access_list:
        description: Remove rules not listed in O(services[].ip_access_list).
        type: bool
        default: true
      public:
        description: Say that a new service without O(services[].ip_access_list) may be open to every address.
        type: bool
        default: false
  credentials_dir:
    description:
      - Directory for the connection details of services this call creates, one C(<name>.json) file each, mode
        C(0600), written atomically right after each create. Created with mode C(0700) when missing.
      - Without it, a new service's connection details are returned in its member's C(credentials) only, once.
      - With it, every run warns about a managed service that has no file there (its password was lost).
    type: path
  wait:
    description: Wait until every changed service runs as described (or is gone).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait, counted from the last write.
      - Writes that must wait for others (a replica for its primary, a primary's delete for its replicas) wait for
        them within this time even with O(wait=false). If the time runs out, such an entry fails and nothing was
        sent for it.
    type: int
    default: 1800
notes:
  - "API calls: one listing, one write per service that needs one, and one listing per poll while waiting. A run
    that changes nothing costs one call."
  - Polls come every 1 second at first and then every tenth of the time waited so far, at most every 15 seconds,
    so the last one is at most about 10 % late.
  - "A replica: one POST once its primary runs, and one more for each time the API answers that the primary has no
    backup yet (the first backup comes about 10 minutes after a primary is created)."
seealso:
  - module: clickhouse.cloud.postgres_fleet_outcome
  - module: clickhouse.cloud.postgres_service
"""

EXAMPLES = r"""
- name: The fleet of this play in one call
  clickhouse.cloud.postgres_fleet_sync:
    services: >-
      {{ ansible_play_hosts | map('extract', hostvars, 'my_service') | list }}
    credentials_dir: ~/.pg-fleet
  run_once: true
  register: fleet
  no_log: "{{ fleet_credentials_dir is not defined }}"

- name: A primary and its read replica, created in that order in one call
  clickhouse.cloud.postgres_fleet_sync:
    services:
      - {host: orders, name: orders, provider: aws, region: us-east-1, size: r8gd.large,
         ip_access_list: [{source: 10.0.0.0/8}]}
      - {host: orders-replica, name: orders-replica, replica_of: orders}
    credentials_dir: ~/.pg-fleet
  run_once: true

- name: Each host's own outcome
  clickhouse.cloud.postgres_fleet_outcome:
    outcome: "{{ fleet.members[inventory_hostname] }}"
"""

RETURN = r"""
members:
  description:
    - Per member, keyed by its host. Each outcome has C(name), C(action) (V(create), V(update), V(delete) or V(none)),
      C(changed), C(diff), C(service) (without secrets), C(credentials_file), C(failed), C(msg) and C(failure)
      (when it failed), C(warnings), and C(credentials) (a new service's connection details, only when there was
      no O(credentials_dir) to keep them).
  returned: always
  type: dict
  sample: {"db1": {"name": "db1", "action": "create", "changed": true, "failed": false,
           "credentials_file": "/root/.pg-fleet/db1.json", "warnings": [],
           "diff": {"before": {}, "after": {"name": "db1", "size": "r8gd.large"}},
           "service": {"id": "67b4bc12-8582-45d0-8806-fe9b2e5a54e6", "name": "db1", "state": "running"}}}
summary:
  description: How many members had each outcome (the action, or C(failed)).
  returned: always
  type: dict
  sample: {"create": 2, "none": 48}
polls:
  description: Listings made while waiting.
  returned: always
  type: int
  sample: 6
api_requests:
  description: HTTP requests this call sent, retries included.
  returned: always
  type: int
  sample: 9
"""
