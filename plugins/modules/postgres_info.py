#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_info
short_description: List and inspect ClickHouse Cloud Managed Postgres services
version_added: 0.1.0
description:
  - Lists the Managed Postgres services of a ClickHouse Cloud organization, filtered by name, state, tags and role,
    or gets one service by O(id) or O(name).
  - Optionally adds each service's configuration and CA certificate.
  - Never changes anything.
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.read_only
  - ansible.builtin.action_common_attributes
options:
  id:
    description:
      - Get only the service with this ID. A missing ID returns an empty list.
    type: str
  name:
    description:
      - Only services with exactly this name.
    type: str
  states:
    description:
      - Only services in one of these states, for example V(running). Unknown states are matched as they are.
    type: list
    elements: str
  tags:
    description:
      - Only services that have all these tags with these values.
    type: dict
  provider:
    description:
      - Only services of this cloud provider, for example V(aws) or V(gcp).
    type: str
  region:
    description:
      - Only services in this region, for example V(us-east-1).
    type: str
  role:
    description:
      - V(primary) for primaries only, V(replica) for read replicas only, V(all) for both.
    type: str
    choices: [all, primary, replica]
    default: all
  include_config:
    description:
      - Add each service's Postgres and PgBouncer settings as RV(services[].config). One more API call per service.
    type: bool
    default: false
  include_ca_certificate:
    description:
      - Add each service's CA certificate (PEM) as RV(services[].ca_certificate). One more API call per service.
    type: bool
    default: false
  include_credentials:
    description:
      - Keep the superuser password and connection string (RV(services[].password), RV(services[].connection_string))
        in the results when the API gives them, which it does for one service read by O(id) or O(name) unless the
        organization redacts credentials.
      - With V(false) they are dropped from every service, so a verbose run (C(-v)) or a registered variable never
        holds them.
      - "A module cannot hide its own results from the output, so with V(true) set C(no_log: true) on the task and
        take care where the registered variable goes."
    type: bool
    default: false
  include_slow_query_patterns:
    description:
      - Also read the top query patterns of each listed service (or of those named in
        O(include_slow_query_patterns.names)) into RV(services[].slow_query_patterns), one API call per service, so a
        report on a fleet is one module call.
    type: dict
    suboptions:
      names:
        description: Only these services' patterns are read; not given, every listed service's.
        type: list
        elements: str
      from:
        description: Start of the window, as M(clickhouse.cloud.slow_query_patterns) takes it (V(24h), RFC 3339, ...).
        type: str
        default: 24h
      sort_by:
        description: What the patterns are ranked by, as in M(clickhouse.cloud.slow_query_patterns).
        type: str
        default: total_duration
        choices: [total_duration, avg_duration, call_count, error_count, max_duration, p50_duration, p95_duration,
                  p99_duration, total_rows, total_blks_read, total_shared_blks_hit, total_cpu_time, total_wal_bytes]
      limit:
        description: How many patterns per service, at least 1.
        type: int
        default: 5
notes:
  - Listing costs one API call. Services listed without O(id) or O(name) lack the fields the API only gives for
    one service (C(hostname), C(username), C(storage_size)); with O(id) or O(name) the module reads the full service.
  - The API allows 10 requests per 10 seconds per key; O(include_config) and O(include_ca_certificate) on many
    services are slowed down by it, not failed.
seealso:
  - module: clickhouse.cloud.postgres_service
"""

EXAMPLES = r"""
- name: List every service of the organization
  clickhouse.cloud.postgres_info:
  register: all_services

- name: Running production primaries
  clickhouse.cloud.postgres_info:
    states: [running]
    role: primary
    tags:
      env: prod
  register: prod

- name: One service with its configuration and CA certificate
  clickhouse.cloud.postgres_info:
    name: orders
    include_config: true
    include_ca_certificate: true
  register: orders

- name: One service's superuser password and connection string (kept out of the output)
  clickhouse.cloud.postgres_info:
    name: orders
    include_credentials: true
  register: orders_credentials
  no_log: true

- name: The fleet with its settings and each service's five slowest patterns of the day, in one call
  clickhouse.cloud.postgres_info:
    include_config: true
    include_slow_query_patterns:
      names: [orders, payments]
      from: 24h
      limit: 5
  register: fleet

- name: Write the CA certificate for clients
  ansible.builtin.copy:
    content: "{{ orders.services[0].ca_certificate }}"
    dest: /etc/orders/pg-ca.pem
    mode: "0644"
  when: orders.services | length == 1
"""

RETURN = r"""
services:
  description:
    - Matching services sorted by name then ID, with snake_case keys; V([]) when none match.
    - Same keys as the C(service) that M(clickhouse.cloud.postgres_service) returns, plus the optional ones below.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: ID of the service.
      type: str
      sample: 67b4bc12-8582-45d0-8806-fe9b2e5a54e6
    name:
      description: Name of the service.
      type: str
      sample: orders
    state:
      description: State as the API reports it, verbatim.
      type: str
      sample: running
    size:
      description: VM size.
      type: str
      sample: r8gd.large
    tags:
      description: Tags as a dictionary.
      type: dict
      sample: {"env": "prod"}
    is_primary:
      description: False for read replicas.
      type: bool
      sample: true
    hostname:
      description: Host to connect to. Only when the service was read by O(id) or O(name).
      type: str
      returned: with O(id) or O(name)
      sample: orders-6d8d2e3e.67b4bc12-8582-45d0-8806-fe9b2e5a54e6.c0.us-east-1.aws.pg.clickhouse.cloud
    password:
      description:
        - "B(Sensitive.) Superuser password. Set C(no_log: true) on a task that asks for it."
      type: str
      returned: with O(include_credentials=true), when the API gives it (O(id) or O(name), credentials not redacted)
      sample: vV6cfEr2p_-TzkCDrZOx
    connection_string:
      description:
        - B(Sensitive.) C(postgres://) URL embedding the password; same rules as RV(services[].password).
      type: str
      returned: with O(include_credentials=true), when the API gives it (O(id) or O(name), credentials not redacted)
      sample: postgres://postgres:vV6cfEr2p_-TzkCDrZOx@orders-6d8d2e3e.c0.us-east-1.aws.pg.clickhouse.cloud:5432/postgres
    config:
      description: The settings set on the service (server defaults are not listed); values as the API gives them.
      type: dict
      returned: when O(include_config=true)
      contains:
        pg_config:
          description: Postgres settings.
          type: dict
          sample: {"max_connections": "500"}
        pg_bouncer_config:
          description: PgBouncer settings.
          type: dict
          sample: {"default_pool_size": "16"}
    ca_certificate:
      description: CA certificate(s) of the service, PEM.
      type: str
      returned: when O(include_ca_certificate=true)
      sample: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
    slow_query_patterns:
      description: The service's top query patterns, as RV(clickhouse.cloud.slow_query_patterns#module:patterns) gives them.
      type: list
      elements: dict
      returned: when O(include_slow_query_patterns) is set and names the service
      sample: [{"query_id": "-4748036479882663975", "call_count": 120, "total_duration_us": 5400000}]
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._compare import contains
from ansible_collections.clickhouse.cloud.plugins.module_utils._engine import complete
from ansible_collections.clickhouse.cloud.plugins.module_utils._insights import SORT_FIELDS, top_patterns
from ansible_collections.clickhouse.cloud.plugins.module_utils._module import ClickHouseModule
from ansible_collections.clickhouse.cloud.plugins.module_utils._resources import SERVICE
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceOps
from ansible_collections.clickhouse.cloud.plugins.module_utils._windows import check_paging, window

ROLE_IS_PRIMARY = {"primary": True, "replica": False}


def wanted(service, params, tags):
    if params["states"] and service.get("state") not in params["states"]:
        return False
    if any(params[key] is not None and service.get(key) != params[key] for key in ("provider", "region")):
        return False
    if params["role"] != "all" and (service.get("is_primary") is not False) != ROLE_IS_PRIMARY[params["role"]]:
        return False
    return not tags or contains(service.get("tags"), tags)


def named(ops, params):
    """The services the id or name picks, all when neither is given: a filter, so a shared name lists each."""
    if params["id"]:
        found = ops.get(params["id"])
        return [found] if found is not None else []
    services = ops.list()
    if params["name"] is None:
        return services
    return [complete(SERVICE, ops, s) for s in services if s.get("name") == params["name"]]


def matching_services(module):
    p = module.params
    ops = ServiceOps(module.api)
    tags = SERVICE.field("tags").check(p["tags"])
    insights = p["include_slow_query_patterns"]
    if insights:  # checked before any request
        check_paging(insights["limit"], 0)
        span = window(insights["from"], "now")
    services = sorted((s for s in named(ops, p) if wanted(s, p, tags)), key=lambda s: (s.get("name") or "", s.get("id") or ""))
    if not p["include_credentials"]:
        services = [{k: v for k, v in s.items() if k not in SERVICE.secrets} for s in services]
    for service in services:
        if p["include_config"]:
            service["config"] = module.api.get_config(service["id"]).to_result()
        if p["include_ca_certificate"]:
            service["ca_certificate"] = module.api.get_ca_certificates(service["id"])
        if insights and (insights["names"] is None or service.get("name") in insights["names"]):
            service["slow_query_patterns"] = top_patterns(module.api, service["id"], span, insights["sort_by"],
                                                          insights["limit"])
    return services


def main():
    module = ClickHouseModule(
        argument_spec=dict(
            id=dict(type="str"),
            name=dict(type="str"),
            states=dict(type="list", elements="str"),
            tags=dict(type="dict"),
            provider=dict(type="str"),
            region=dict(type="str"),
            role=dict(type="str", default="all", choices=["all", "primary", "replica"]),
            include_config=dict(type="bool", default=False),
            include_ca_certificate=dict(type="bool", default=False),
            include_credentials=dict(type="bool", default=False),
            include_slow_query_patterns=dict(type="dict", options={
                "names": dict(type="list", elements="str"),
                "from": dict(type="str", default="24h"),
                "sort_by": dict(type="str", default="total_duration", choices=list(SORT_FIELDS)),
                "limit": dict(type="int", default=5),
            }),
        ),
        supports_check_mode=True,
    )
    module.run_info("services", lambda: matching_services(module))


if __name__ == "__main__":
    main()
