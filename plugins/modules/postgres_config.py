#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_config
short_description: Manage the Postgres and PgBouncer settings of a ClickHouse Cloud Managed Postgres service
version_added: 0.1.0
description:
  - Sets the Postgres settings (O(pg_config)) and PgBouncer settings (O(pg_bouncer_config)) of an existing Managed
    Postgres service, and restarts it when a setting needs that.
  - Reads the configuration first and sends only what differs. Values are compared the way PostgreSQL reads them,
    so V(1GB), V(1024MB) and V(1048576kB) are the same value, as are V(60s) and V(1min), V(500) and V("500"), and
    V(READ COMMITTED) and V(read committed).
  - Unknown keys and values PostgreSQL or the API would refuse fail the task before anything is sent.
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.service
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Sends no write; returns the predicted configuration and whether a restart would follow.
  diff_mode:
    support: full
    details: One line per changed setting, before and after.
options:
  pg_config:
    description:
      - Postgres settings, for example C(max_connections) or C(work_mem). Values may be numbers or strings.
      - "The API accepts 60 keys. These 31 are in its published contract: C(max_connections),
        C(default_transaction_isolation), C(ssl_min_protocol_version), C(maintenance_work_mem), C(work_mem),
        C(effective_cache_size), C(random_page_cost), C(effective_io_concurrency), C(max_worker_processes),
        C(max_parallel_workers), C(max_parallel_workers_per_gather), C(max_parallel_maintenance_workers),
        C(statement_timeout), C(lock_timeout), C(idle_session_timeout), C(idle_in_transaction_session_timeout),
        C(transaction_timeout), C(wal_sender_timeout), C(wal_keep_size), C(min_wal_size), C(max_wal_size),
        C(max_slot_wal_keep_size), C(wal_compression), C(autovacuum_max_workers), C(autovacuum_naptime),
        C(autovacuum_work_mem), C(autovacuum_vacuum_scale_factor), C(autovacuum_analyze_scale_factor),
        C(autovacuum_vacuum_insert_scale_factor), C(autovacuum_vacuum_cost_limit), C(autovacuum_vacuum_cost_delay)."
      - "These 29 the live API added in 2026: C(autovacuum_analyze_threshold), C(autovacuum_freeze_max_age),
        C(autovacuum_vacuum_insert_threshold), C(autovacuum_vacuum_threshold), C(bgwriter_delay), C(bgwriter_flush_after),
        C(bgwriter_lru_maxpages), C(bgwriter_lru_multiplier), C(checkpoint_timeout), C(default_toast_compression),
        C(enable_parallel_hash), C(hash_mem_multiplier), C(io_method), C(io_workers), C(log_lock_waits),
        C(log_min_duration_statement), C(log_parameter_max_length), C(log_temp_files), C(logical_decoding_work_mem),
        C(maintenance_io_concurrency), C(max_logical_replication_workers), C(max_replication_slots),
        C(max_sync_workers_per_subscription), C(max_wal_senders), C(shared_memory_percent), C(temp_buffers),
        C(track_activity_query_size), C(vacuum_cost_delay), C(wal_buffers). C(io_method) and C(io_workers) exist
        from Postgres 18; C(shared_memory_percent) is not a PostgreSQL setting and is compared as text."
      - A key the collection does not know fails the task, naming the allowed ones, unless
        O(allow_unknown_keys=true).
      - Memory settings take the units C(B), C(kB), C(MB), C(GB) and C(TB) (factors of 1024, case-sensitive); a bare
        number is in the setting's base unit (kB, 8kB blocks for C(effective_cache_size), C(temp_buffers),
        C(wal_buffers) and C(bgwriter_flush_after), MB for the WAL sizes, bytes for C(track_activity_query_size) and
        C(log_parameter_max_length)).
        Time settings take C(us), C(ms), C(s), C(min), C(h) and C(d); a bare number is milliseconds
        (seconds for C(autovacuum_naptime)).
      - The API's minimums are checked; memory minimums are in kB. C(-1) is accepted where PostgreSQL gives it a
        meaning (C(max_slot_wal_keep_size), C(autovacuum_work_mem), C(autovacuum_vacuum_cost_limit),
        C(autovacuum_vacuum_cost_delay)).
      - Enum values are matched case-insensitively and sent in the API's spelling. C(wal_compression) also takes the
        boolean spellings (an unquoted YAML V(off) is a boolean, and means V(off)).
      - Not given, the Postgres settings are left alone.
    type: dict
  pg_bouncer_config:
    description:
      - PgBouncer settings, for example C(default_pool_size). Any PgBouncer parameter; at most 64. Values are sent as
        text (booleans as V(1) and V(0)) and compared as text.
      - Not given, the PgBouncer settings are left alone, also with O(mode=replace).
    type: dict
  allow_unknown_keys:
    description:
      - Send O(pg_config) keys that the collection does not know as they are, as text, and let the API decide, for
        settings the API adds before the collection does. They are compared as text.
      - With V(false), such a key fails the task before anything is sent, naming the keys that are known.
    type: bool
    default: false
  mode:
    description:
      - V(merge) sets the listed keys and keeps the others (a PATCH with only the keys that differ).
      - V(replace) makes the listed keys the whole section, removing the keys not listed (a POST of the whole
        configuration). A section that is not given is kept; give V({}) to empty it.
    type: str
    choices: [merge, replace]
    default: merge
  restart:
    description:
      - Whether to restart the service after changing its configuration. A restart briefly disconnects clients.
      - V(never) does not restart; RV(restart_required) then says when a changed setting only takes effect after a
        restart (do it later with M(clickhouse.cloud.postgres_service) and O(clickhouse.cloud.postgres_service#module:state=restarted)).
      - V(if_required) restarts when a setting that needs it really changed (C(max_connections),
        C(max_worker_processes), C(max_wal_senders), C(max_replication_slots), C(max_logical_replication_workers),
        C(autovacuum_freeze_max_age), C(track_activity_query_size), C(wal_buffers), C(shared_memory_percent),
        C(autovacuum_max_workers) before Postgres 18 and C(io_method) from 18; or any setting the API's message names).
      - V(always) restarts after any change. A run that changes nothing never restarts, whatever this says.
    type: str
    choices: [never, if_required, always]
    default: never
  wait:
    description:
      - After a restart, wait until the service is running again. A restart of a service that is not running yet
        (for example still being created) first waits for it to run.
      - With V(false) the restart is sent without waiting; a service that is not running is then not restarted, and
        RV(restart_required) says so.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the restart.
    type: int
    default: 600
notes:
  - An idempotent run costs two API calls (find the service, read its configuration); a change adds one write, and a
    restart one more write plus the polls while waiting.
  - The API does not report whether a restart is still pending (it names the settings that need one only in the answer
    to the write that changed them). So when a restart that a changed setting needs does not happen, the module keeps
    a record on the controller, in C(~/.ansible/clickhouse-cloud/restarts-owed). That happens with O(restart=never),
    with a service that is not running, or when the restart failed. Later runs then report RV(restart_required) (and
    RV(restart_owed)), and with O(restart=if_required) they restart, until a restart succeeds. A controller whose home
    does not persist (an execution environment) forgets the record with the job, so restart in the same job there.
  - PgBouncer settings are never taken to need a restart.
seealso:
  - module: clickhouse.cloud.postgres_service
  - module: clickhouse.cloud.postgres_info
  - name: PostgreSQL runtime configuration
    description: What each setting does, and its units.
    link: https://www.postgresql.org/docs/current/runtime-config.html
"""

EXAMPLES = r"""
- name: Tune memory and connections, restarting only if max_connections really changed
  clickhouse.cloud.postgres_config:
    name: orders
    pg_config:
      max_connections: 500
      work_mem: 16MB
      effective_cache_size: 12GB
      statement_timeout: 60s
      default_transaction_isolation: read committed
    pg_bouncer_config:
      default_pool_size: 40
    restart: if_required
  register: tuned

- name: Tell when a restart is still owed
  ansible.builtin.debug:
    msg: "Restart {{ tuned.changed_keys | join(', ') }} later"
  when: tuned.restart_required

- name: Make these the only Postgres settings (others go back to the defaults), PgBouncer untouched
  clickhouse.cloud.postgres_config:
    id: 67b4bc12-8582-45d0-8806-fe9b2e5a54e6
    mode: replace
    pg_config:
      max_connections: 200
      wal_compression: lz4
    restart: if_required

- name: Remove every PgBouncer setting
  clickhouse.cloud.postgres_config:
    name: orders
    mode: replace
    pg_bouncer_config: {}

- name: See what a change would do
  clickhouse.cloud.postgres_config:
    name: orders
    pg_config:
      work_mem: 32MB
  check_mode: true
  diff: true
"""

RETURN = r"""
config:
  description:
    - The configuration as the service holds it after the task, values as the API gives them (often text). In check
      mode, the predicted configuration.
  returned: success
  type: dict
  contains:
    pg_config:
      description: Postgres settings that are set; server defaults are not listed.
      type: dict
      sample: {"max_connections": "500", "work_mem": "16MB"}
    pg_bouncer_config:
      description: PgBouncer settings that are set.
      type: dict
      sample: {"default_pool_size": "40"}
changed_keys:
  description: Keys set, changed or removed by the task (or that would be, in check mode); Postgres keys first, then
    PgBouncer keys, each sorted.
  returned: success
  type: list
  elements: str
  sample: [max_connections, work_mem]
restart_required:
  description:
    - True when a setting that only takes effect after a restart changed, on this run or on an earlier one whose
      restart did not happen (see RV(restart_owed)), and no restart followed.
    - False when nothing like that changed, or the task restarted the service.
  returned: success
  type: bool
  sample: false
restart_owed:
  description: The settings whose restart an earlier run owed (recorded on this controller), when there are any.
  returned: when a restart was owed
  type: list
  elements: str
  sample: [max_connections]
restarted:
  description: True when the task restarted the service (in check mode, when it would).
  returned: success
  type: bool
  sample: true
message:
  description: The API's message about the change, for example which settings need a restart; V(null) when it sent
    none or nothing was written.
  returned: success
  type: str
  sample: "The changes in the following parameters require a database restart to take effect: max_connections.
    You can restart the database by using the restart endpoint."
waited:
  description: How long the module waited for the restart, and the states it saw.
  returned: when the module waited
  type: dict
  sample: {"for": "Postgres service 'orders' to restart and be running", "seconds": 6.1, "polls": 3,
           "states": ["restarting", "running"]}
diff:
  description: Before and after of the changed keys only, per section.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"pg_config": {"max_connections": "100"}}, "after": {"pg_config": {"max_connections": "500"}}}
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._config import (
    ConfigPlan,
    desired_sections,
    restart_decision,
    write_config,
)
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError
from ansible_collections.clickhouse.cloud.plugins.module_utils._module import wait_argument_spec
from ansible_collections.clickhouse.cloud.plugins.module_utils._restarts import OwedRestarts
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule, settled_after_command


def restart_outcome(module, plan, restart_keys, service):
    """``{restarted, restart_required}`` (see ``restart_decision``), with a warning when a wanted restart is left owed."""
    wanted, restarted, required = restart_decision(module.params["restart"], plan, restart_keys,
                                                   service.get("state") == "running", module.params["wait"])
    if wanted and not restarted:
        module.warn("Service %r is %s, so it %s restarted; restart it once it is running." % (
            service.get("name"), service.get("state"), "would not be" if module.check_mode else "was not"))
    return {"restarted": restarted, "restart_required": required}


def restart(module, engine, service):
    """Restart (see restart_outcome) and, with wait, wait for running; a service not running yet is waited for first."""
    goal = "%s %r to restart and be running" % (engine.spec.kind, service.get("name"))
    if service.get("state") != "running":
        service = engine.wait(service["id"], "%s %r to be running" % (engine.spec.kind, service.get("name")),
                              lambda obj, report: obj is not None and obj.get("state") == "running")
    engine.command(service, engine.ops.command("restart"), {"state": "running"}, settled_after_command("restart"), goal,
                   wait=module.params["wait"])


def run(module):
    p = module.params
    desired = desired_sections(p["pg_config"], p["pg_bouncer_config"], p["allow_unknown_keys"])
    engine = module.resource()
    service = module.find_service(engine)
    version = service.get("postgres_version")
    owed = OwedRestarts(module.api.transport.base_url, p["organization_id"])
    owed_keys = owed.keys(service["id"])  # a restart an earlier run could not do: the server still runs the old value
    plan = ConfigPlan(module.api.get_config(service["id"]).to_result(), desired, replace=p["mode"] == "replace")
    restart_keys = sorted(set(plan.restart_keys(version)) | set(owed_keys))
    result = {"changed": plan.changed, "config": plan.after, "changed_keys": plan.changed_keys,
              "restart_required": False, "restarted": False, "message": None}
    if owed_keys:
        result["restart_owed"] = owed_keys
    if module._diff:
        result["diff"] = plan.diff()
    if not plan.changed and not owed_keys:
        return result
    if module.check_mode:
        result.update(restart_outcome(module, plan, restart_keys, service))
        result["changed"] = plan.changed or result["restarted"]
        return result

    if plan.changed:
        answer = engine.write(write_config, module.api, service["id"], plan, p["mode"] == "replace")
        # What the server says it holds now; a section its answer leaves out is taken as planned.
        held = {name: getattr(answer, name) for name in ("pg_config", "pg_bouncer_config") if name in answer.model_fields_set}
        result["config"] = dict(plan.after, **held)
        result["message"] = answer.message or None
        restart_keys = sorted(set(plan.restart_keys(version, answer.message)) | set(owed_keys))
    result.update(restart_outcome(module, plan, restart_keys, service))
    if result["restart_required"]:
        owed.owe(service["id"], restart_keys)
    if result["restarted"]:
        try:
            restart(module, engine, service)
        except ClickHouseError:
            owed.owe(service["id"], restart_keys)  # the next run still knows the server runs the old values
            raise
        owed.settle(service["id"])
        result["changed"] = True
    if engine.waited is not None:
        result["waited"] = engine.waited
    return result


def main():
    spec = dict(
        pg_config=dict(type="dict"),
        pg_bouncer_config=dict(type="dict"),
        mode=dict(type="str", default="merge", choices=["merge", "replace"]),
        allow_unknown_keys=dict(type="bool", default=False),
        restart=dict(type="str", default="never", choices=["never", "if_required", "always"]),
    )
    spec.update(wait_argument_spec(default_timeout=600))
    module = ServiceModule(argument_spec=spec)
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
