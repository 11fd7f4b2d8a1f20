#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_backups_info
short_description: List the backups of a ClickHouse Cloud Managed Postgres service
version_added: 0.2.0
description:
  - Returns the base backups of a service, newest first, and the earliest point in time a restore of it can reach.
  - A primary's first backup is taken some minutes after it is created; read replicas have none of their own.
  - Never changes anything.
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.service
  - clickhouse.cloud.read_only
  - ansible.builtin.action_common_attributes
options:
  limit:
    description:
      - How many backups to return at most, newest first. Without it, all of them.
    type: int
notes:
  - The API lists up to 100 backups per call; more are fetched page by page (it gives a cursor for the next page).
  - One API call to find the service (two by O(name), as the earliest restore time is only in the service itself),
    then one per 100 backups.
  - A restore targets a point in time, not a backup; give RV(earliest_restore_time) or later to
    O(clickhouse.cloud.postgres_service#module:restore_target).
seealso:
  - module: clickhouse.cloud.postgres_service
  - module: clickhouse.cloud.postgres_info
"""

EXAMPLES = r"""
- name: List the backups of a service
  clickhouse.cloud.postgres_backups_info:
    name: orders
  register: orders_backups

- name: Restore it into a new service as of its oldest restorable point
  clickhouse.cloud.postgres_service:
    name: orders-restored
    restore_from: orders
    restore_target: "{{ orders_backups.earliest_restore_time }}"
  when: orders_backups.earliest_restore_time is not none

- name: Fail when a service has no backup yet
  clickhouse.cloud.postgres_backups_info:
    name: orders
    limit: 1
  register: newest
  failed_when: newest.backups | length == 0
"""

RETURN = r"""
backups:
  description: The backups, newest first; V([]) before the first one.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: The backup's name, as the API gives it.
      type: str
      sample: base-20260331T181737Z
    status:
      description: Its status as the API gives it, for example V(completed); other values are passed through verbatim.
      type: str
      sample: completed
    last_modified:
      description: When it was last written (RFC 3339).
      type: str
      sample: "2026-03-31T18:17:37.123Z"
earliest_restore_time:
  description:
    - The earliest point in time a restore of the service can reach (RFC 3339), or V(null) while it has no backup.
  returned: always
  type: str
  sample: "2026-03-31T18:17:37.123Z"
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._resources import SERVICE_SUMMARY
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule

PAGE_SIZE = 100  # the API's largest limit
# Found by name, a service comes from the list, whose items lack the earliest restore time: read the service too.
WITH_RESTORE_TIME = SERVICE_SUMMARY.but(partial_keys=("earliest_restore_time",))


def run(module):
    limit = module.params["limit"]
    if limit is not None and limit < 1:
        raise InputError("limit must be at least 1, not %d." % limit)
    service = module.find_service(module.resource(WITH_RESTORE_TIME))
    backups = module.api.list_backups(service["id"], page_size=PAGE_SIZE, max_backups=limit)
    return {"changed": False, "backups": [backup.to_result() for backup in backups],
            "earliest_restore_time": service.get("earliest_restore_time")}


def main():
    module = ServiceModule(argument_spec={"limit": dict(type="int")})
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
