#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_service
short_description: Manage ClickHouse Cloud Managed Postgres services
version_added: 0.1.0
description:
  - Create, update, restart, promote, switch over and delete Managed Postgres services of a ClickHouse Cloud
    organization.
  - A service is found by O(id), or by O(name), which must be unique in the organization.
  - Only options that are set are compared; unset options leave the service as it is.
  - Creates a read replica with O(replica_of), or a point-in-time restore with O(restore_from) and O(restore_target).
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Sends no write; returns the predicted service.
  diff_mode:
    support: full
    details: Shows only the keys that change, never the password or connection string.
options:
  state:
    description:
      - V(present) creates the service or updates what differs.
      - V(absent) deletes it; a service that does not exist is left alone (unchanged).
      - V(restarted) restarts it. Always reports a change.
      - V(promoted) turns a read replica into a primary; unchanged when it already is one.
      - V(switched_over) switches a primary over to its standby (or to a newly provisioned server when it has
        none). Always reports a change.
    type: str
    choices: [present, absent, restarted, promoted, switched_over]
    default: present
  id:
    description:
      - ID (UUID) of the service. Takes precedence over O(name) for finding it; O(name) then renames it, which fails
        before any write when another service has that name.
      - With any other O(state), a O(name) that is not the service's fails before anything is changed.
    type: str
  name:
    description:
      - Name of the service, 1 to 50 characters, unique in the organization.
      - Required to create a service.
    type: str
  provider:
    description:
      - Cloud provider, for example V(aws). Required to create a primary; cannot change afterwards.
    type: str
  region:
    description:
      - Provider region, for example V(us-east-1). Required to create a primary; cannot change afterwards.
    type: str
  size:
    description:
      - VM size, for example V(r8gd.large). Required to create a primary. Changing it resizes the service
        (a new standby and a failover, about 30 seconds of downtime).
      - Sizes are checked by the API, whose list changes; an unknown size fails with the API's message.
    type: str
  postgres_version:
    description:
      - Major Postgres version, for example V(17) or V(18). The API defaults to V(17). Cannot change afterwards.
    type: str
  ha_type:
    description:
      - High availability. V(none) has no standby, V(async) one asynchronous standby, V(sync) two standbys
        with synchronous commit to at least one. The API defaults to V(none).
      - Only these values are accepted as input, so a typo fails before any request. The returned
        RV(service.ha_type) is the API's value verbatim, also one this collection does not know yet.
    type: str
    choices: [none, async, sync]
  tags:
    description:
      - Tags as a dictionary. Keys are 1 to 128 and values 1 to 256 characters of letters, digits, C(.), C(_)
        or C(-); keys starting with C(chc_) are reserved. At most 50 tags.
      - The whole tag list is always sent, because the API replaces it.
    type: dict
  purge_tags:
    description:
      - Remove tags that are not listed in O(tags). Only applies when O(tags) is set.
    type: bool
    default: true
  ip_access_list:
    description:
      - The IPv4 addresses that may connect, as access rules of the live API. Each rule admits a source address or
        CIDR block on a port or port range. On the API's servers, 5432 is Postgres and 6432 PgBouncer.
      - Compared rule by rule, by source and ports (V(10.0.0.1) is V(10.0.0.1/32)). A changed description is an
        update. The change is sent as the rules to add and the ids of those to remove, and takes effect without a
        restart.
      - V([]) creates the service with no public access, or removes every rule of an existing one.
      - Not given, a new service gets the API's default, which is open to all addresses on 5432 and 6432, and the
        rules of an existing service are left alone. Give the rules you mean.
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
    description:
      - Remove rules that are not listed in O(ip_access_list). Only applies when O(ip_access_list) is set.
    type: bool
    default: true
  pg_config:
    description:
      - Postgres settings to create the service with, for example C(max_connections). Only used on creation;
        manage them later with M(clickhouse.cloud.postgres_config).
      - Checked and sent as M(clickhouse.cloud.postgres_config) checks and sends its O(clickhouse.cloud.postgres_config#module:pg_config)
        (the keys the API accepts, units, minimums, enum spellings such as an unquoted YAML V(on) for C(wal_compression)),
        on every run; invalid settings fail the task before any request.
    type: dict
  pg_bouncer_config:
    description:
      - PgBouncer settings to create the service with. Only used on creation.
      - Checked and sent as M(clickhouse.cloud.postgres_config) does (at most 64, text values, booleans as V(1) and V(0)).
    type: dict
  replica_of:
    description:
      - ID or unique name of a primary service. When the service does not exist it is created as a read replica of
        that primary; it inherits provider, region, version and size, so those options cannot be set with it.
      - A fresh primary accepts replicas only after its first backup, about 10 minutes after creation; with
        O(wait) the module keeps asking until O(wait_timeout).
      - The API rejects size, HA and tag changes on replicas.
    type: str
  restore_from:
    description:
      - ID or unique name of a service to restore from. When the service does not exist it is created as a
        point-in-time restore of that service at O(restore_target); the source is not touched.
      - The restored service has the source's provider, region, version and backup size; change the size in a
        later task.
    type: str
  restore_target:
    description:
      - Point in time to restore to, as an RFC 3339 date-time such as V(2026-03-31T18:17:37Z), within the last
        7 days. Required with O(restore_from).
    type: str
  credentials_file:
    description:
      - File to write a new service's connection details to (C(id), C(host), C(port), C(database), C(username),
        C(password), C(connection_string)) as JSON, mode C(0600), atomically, as soon as the create answers and before
        the module waits. The API shows the password only in that answer.
      - Written only when the task creates the service; an existing file is replaced. Its directory must exist.
      - Without it, the password is returned in RV(service.password) (put C(no_log) on the task). When the task fails
        after the create, for example while waiting, the failure never shows the password. The details are then in
        this file or, without it, in C(~/.ansible/clickhouse-cloud/credentials/<id>.json), and the failure says
        where.
    type: path
  wait:
    description:
      - Wait until the service is V(running) and shows the requested values (or is gone, for V(absent)).
      - Use V(false) for fleet runs; the returned service then shows the state the API answered with.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait, counted from the write. Creating takes minutes; a replica can take more than 30.
    type: int
    default: 1800
notes:
  - >-
    The password and connection string are only returned when the API sends them, which is on creation
    (and on reads when the organization has no credential redaction). Put C(no_log: true) on the creating task
    and store the password at once, for example in a vault; see the collection's C(docs/credentials.md).
  - A create whose answer was lost is not repeated; the module finds the new service by name instead, and
    warns that its password was lost with the answer.
  - Idempotent runs cost one API call when the service is found by O(id), two by O(name) (a list, then the
    service's details).
seealso:
  - module: clickhouse.cloud.postgres_info
"""

EXAMPLES = r"""
- name: Set the connection options once
  module_defaults:
    group/clickhouse.cloud.all:
      organization_id: "{{ clickhouse_org_id }}"
      api_key_id: "{{ clickhouse_key_id }}"
      api_key_secret: "{{ clickhouse_key_secret }}"
  block:
    - name: Create a service and keep its password out of the logs
      clickhouse.cloud.postgres_service:
        name: orders
        provider: aws
        region: us-east-1
        size: r8gd.large
        postgres_version: "18"
        ha_type: async
        tags:
          env: prod
          team: payments
      register: orders
      no_log: true

    - name: Store the password, which the API shows only now
      ansible.builtin.copy:
        content: "{{ orders.service.password }}"
        dest: /etc/orders/pg-password
        mode: "0600"
      when: orders.service.password is defined
      no_log: true

- name: Resize and add a tag, keeping the other tags
  clickhouse.cloud.postgres_service:
    name: orders
    size: r8gd.xlarge
    tags:
      cost_center: "4711"
    purge_tags: false

- name: Restart without waiting
  clickhouse.cloud.postgres_service:
    name: orders
    state: restarted
    wait: false

- name: Only the office network and the VPN may connect, on Postgres and PgBouncer
  clickhouse.cloud.postgres_service:
    name: orders
    ip_access_list:
      - source: 10.0.0.0/8
        ports: "5432..6432"
        description: office
      - source: 192.0.2.10
        description: vpn gateway

- name: A service with no public access at all
  clickhouse.cloud.postgres_service:
    name: internal
    provider: aws
    region: us-east-1
    size: r8gd.large
    ip_access_list: []

- name: Create a read replica
  clickhouse.cloud.postgres_service:
    name: orders-replica
    replica_of: orders
    tags:
      env: prod

- name: Restore yesterday's state into a new service
  clickhouse.cloud.postgres_service:
    name: orders-restored
    restore_from: orders
    restore_target: "2026-03-31T18:17:37Z"

- name: Promote the replica
  clickhouse.cloud.postgres_service:
    name: orders-replica
    state: promoted

- name: Delete a service
  clickhouse.cloud.postgres_service:
    name: orders-restored
    state: absent
"""

RETURN = r"""
service:
  description:
    - The service after the task, with snake_case keys. In check mode, the predicted service.
    - For V(absent), the service as it was before it was deleted, or V(null) when it did not exist.
    - Fields the API adds later are returned too, in snake_case.
  returned: always
  type: dict
  contains:
    id:
      description: ID of the service. V(null) in check mode for a service not yet created.
      type: str
      sample: 67b4bc12-8582-45d0-8806-fe9b2e5a54e6
    name:
      description: Name of the service.
      type: str
      sample: orders
    provider:
      description: Cloud provider.
      type: str
      sample: aws
    region:
      description: Provider region.
      type: str
      sample: us-east-1
    postgres_version:
      description: Major Postgres version.
      type: str
      sample: "18"
    size:
      description: VM size.
      type: str
      sample: r8gd.large
    storage_size:
      description: Storage in GiB, set by the size.
      type: int
      sample: 118
    ha_type:
      description: High availability type.
      type: str
      sample: async
    tags:
      description: Tags as a dictionary.
      type: dict
      sample: {"env": "prod", "team": "payments"}
    state:
      description:
        - State as the API reports it, passed through verbatim, for example V(creating), V(running),
          V(restarting), V(deleting).
      type: str
      sample: running
    is_primary:
      description: False for read replicas.
      type: bool
      sample: true
    created_at:
      description: Creation time.
      type: str
      sample: "2026-05-25T16:42:16+00:00"
    ip_access_list:
      description: The access rules (C(id), C(source), C(port_range), C(description)), when the API returns them.
      type: list
      elements: dict
      sample: [{"id": "8a9d6c1e-4b7f-4f3e-9c2d-1a2b3c4d5e6f", "source": "10.0.0.0/8", "port_range": "5432"}]
    earliest_restore_time:
      description: The oldest point in time a restore of this service can reach; V(null) before its first backup.
      type: str
      sample: "2026-11-24T09:12:40.123Z"
    hostname:
      description: Host to connect to, on port 5432.
      type: str
      sample: orders-6d8d2e3e.67b4bc12-8582-45d0-8806-fe9b2e5a54e6.c0.us-east-1.aws.pg.clickhouse.cloud
    username:
      description: Superuser name.
      type: str
      sample: postgres
    password:
      description:
        - B(Sensitive.) Superuser password, returned only by the task that created the service (from the create's
          answer), never after a tag change, resize, restart or delete, even when the API's reads carry it. Never
          shown in the diff, nor in a failure.
      type: str
      returned: when the task created the service and the API returned it
      sample: vV6cfEr2p_-TzkCDrZOx
    connection_string:
      description:
        - B(Sensitive.) C(postgres://) URL embedding the password; same rules as RV(service.password).
      type: str
      returned: when the task created the service and the API returned it
      sample: postgres://postgres:vV6cfEr2p_-TzkCDrZOx@orders-6d8d2e3e.c0.us-east-1.aws.pg.clickhouse.cloud:5432/postgres
credentials_file:
  description: The file the new service's connection details were written to.
  returned: when the task created a service and O(credentials_file) was set
  type: str
  sample: /etc/orders/postgres.json
waited:
  description: How long the module waited, for what, and the states it saw on the way.
  returned: when the module waited
  type: dict
  sample: {"for": "Postgres service 'orders' to be running", "seconds": 184.2, "polls": 14,
           "states": ["creating", "running"]}
diff:
  description: Before and after of the keys that change (without secrets).
  returned: when diff mode is on
  type: dict
  sample: {"before": {"size": "r8gd.large"}, "after": {"size": "r8gd.xlarge"}}
"""

import datetime

from ansible_collections.clickhouse.cloud.plugins.module_utils._create_lock import CreateLock
from ansible_collections.clickhouse.cloud.plugins.module_utils._credentials import write_details
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError, InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._module import wait_argument_spec
from ansible_collections.clickhouse.cloud.plugins.module_utils._resources import SERVICE
from ansible_collections.clickhouse.cloud.plugins.module_utils._restarts import OwedRestarts
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import (
    ServiceModule,
    retry_not_ready,
    settled_after_command,
)
from ansible_collections.clickhouse.cloud.plugins.module_utils._timestamps import API_FORMAT, check_timestamp, parse_timestamp

COMMANDS = {
    # state: (API command, predicted fields, wait goal)
    "restarted": ("restart", {"state": "running"}, "to restart and be running"),
    "switched_over": ("switchover", {"state": "running"}, "to switch over and be running"),
    "promoted": ("promote", {"is_primary": True, "state": "running"}, "to be a running primary"),
}
ORIGINS = ("replica_of", "restore_from")


def argument_spec():
    spec = dict(
        state=dict(type="str", default="present", choices=["present", "absent", "restarted", "promoted", "switched_over"]),
        replica_of=dict(type="str"),
        restore_from=dict(type="str"),
        restore_target=dict(type="str"),
        credentials_file=dict(type="path"),
    )
    spec.update(SERVICE.argument_spec())
    spec.update(wait_argument_spec(default_timeout=1800))
    return spec


def creator(module, ops, desired):
    """``(create, inherited)`` for this task: a new primary, a read replica or a restore, and what its origin gives."""
    p = module.params
    origin = next((option for option in ORIGINS if p[option]), None)
    missing = SERVICE.missing_to_create(desired, origin=origin is not None)
    if missing:
        raise InputError("To create a Postgres service, set %s%s." % (
            ", ".join(missing), "" if origin else " (or replica_of / restore_from)"), missing=missing)
    if origin is None:
        return ops.create, {}
    source = ops.resolve(p[origin], origin)
    inherited = {k: source.get(k) for k in SERVICE.inherited}
    if origin == "replica_of":
        inherited.pop("ha_type", None)  # a replica has no standby of its own
        inherited["is_primary"] = False

        def create(wanted):
            return retry_not_ready(lambda: module.api.create_read_replica(source["id"], wanted).to_result(),
                                   p["wait_timeout"] if p["wait"] else 0, module.log)
        return create, inherited
    target = check_restore_target(p["restore_target"], source, engine_ops=ops)

    def create(wanted):
        return module.api.restore_service(source["id"], wanted, target).to_result()
    return create, inherited


def check_restore_target(text, source, engine_ops, now=None):
    """A restore target the API can reach: not in the future, not before the source's earliest restore time."""
    target = check_timestamp(text, "restore_target")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if parse_timestamp(target) > now:
        raise InputError("restore_target %s is in the future (now is %s)." % (target, now.strftime(API_FORMAT)))
    earliest = source.get("earliest_restore_time")
    if earliest is None and source.get("id"):  # list items lack it: read the source
        earliest = (engine_ops.get(source["id"]) or {}).get("earliest_restore_time")
    # compared to the millisecond: the API's earliest restore time is not a whole second
    if earliest and parse_timestamp(target) < datetime.datetime.fromisoformat(earliest.replace("Z", "+00:00")):
        raise InputError("restore_target %s is before %r's earliest restore time %s; nothing was created." % (
            target, source.get("name"), earliest), earliest_restore_time=earliest)
    return target


def check_identity(module, engine, current):
    """``id`` and ``name`` together must not mean two services: only a rename may change the name, onto a free one."""
    p = module.params
    if current is None or not p["id"] or not p["name"] or current.get("name") == p["name"]:
        return
    if p["state"] != "present":
        raise InputError("The service with id %s is named %r, not %r: nothing was %s. Give the id alone, or the name "
                         "that goes with it." % (p["id"], current.get("name"), p["name"],
                                                 "deleted" if p["state"] == "absent" else "changed"))
    taken = [s["id"] for s in engine.ops.list() if s.get("name") == p["name"] and s.get("id") != current["id"]]
    if taken:
        raise InputError("Cannot rename %r to %r: the service %s already has that name, and two services with one name "
                         "would make every later task by name fail. Nothing was changed." % (
                             current.get("name"), p["name"], ", ".join(taken)), ids=taken)


def credentials_keeper(module, lock):
    """The engine's ``on_created``: the name's create lock goes, and the connection details go to
    ``credentials_file``, as soon as the create answers."""
    path = module.params["credentials_file"]

    def keep(answer):
        lock.release()
        if not path or answer.get("password") is None:
            return None
        try:
            return write_details(path, answer)
        except OSError as exc:
            raise ClickHouseError("The service was created, but credentials_file %s cannot be written: %s" % (path, exc))
    return keep


def run(module):
    p = module.params
    desired = SERVICE.desired(p)  # checked before any request; the options stay as given
    lock = CreateLock(module.api.transport.base_url, p["organization_id"])
    if p["state"] == "present" and not p["id"] and not module.check_mode:
        lock.acquire([p["name"]])  # held from the look-up until the create answers (another run may create it)
    with lock:
        return apply(module, desired, lock)


def apply(module, desired, lock):
    p = module.params
    engine = module.resource(SERVICE, on_created=credentials_keeper(module, lock))
    current = engine.find(p["id"], p["name"])
    if current is not None:
        lock.release()  # nothing to create: other runs need not wait for this one's update
    state = p["state"]
    check_identity(module, engine, current)

    if state == "absent":
        engine.absent(current, wait=p["wait"])
        return engine.result(current)
    if current is None and (p["id"] or state != "present"):
        raise InputError("No Postgres service %s in organization %s." % (
            "with id %s" % p["id"] if p["id"] else "named %r" % p["name"], p["organization_id"]))
    if state == "present":
        purge = SERVICE.purge(p)
        if current is None:
            create, inherited = creator(module, engine.ops, desired)
            created = engine.present(None, desired, purge, create, wait=p["wait"], inherited=inherited)
            return engine.result(created, **({"credentials_file": engine.kept_in} if engine.kept_in else {}))
        return engine.result(engine.present(current, desired, purge, wait=p["wait"]))
    if state == "promoted" and current.get("is_primary") is True:
        return engine.result(current)
    command, predicted, goal = COMMANDS[state]
    obj = engine.command(current, engine.ops.command(command), predicted, settled_after_command(command),
                         "%s %r %s" % (SERVICE.kind, current.get("name"), goal), wait=p["wait"])
    if command in ("restart", "switchover") and not module.check_mode:
        # the server now runs what the API holds: no restart is owed any more (see postgres_config)
        OwedRestarts(module.api.transport.base_url, p["organization_id"]).settle(current["id"])
    return engine.result(obj)


def main():
    module = ServiceModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[ORIGINS] + [(origin, option) for origin in ORIGINS for option in SERVICE.inherited],
        required_together=[("restore_from", "restore_target")],
    )
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
