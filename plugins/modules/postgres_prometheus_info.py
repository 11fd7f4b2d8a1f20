#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_prometheus_info
short_description: Read the Prometheus metrics of ClickHouse Cloud Managed Postgres services as structured samples
version_added: 0.1.0
description:
  - Reads the Prometheus text the API serves for the whole organization (up to 100 services), or for one service given
    by O(id) or O(name), and returns it parsed into samples a playbook can filter.
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
      - Only this service, by ID (UUID). Without O(id) and O(name), every service of the organization.
      - O(id) wins when both are given.
    type: str
  name:
    description:
      - Only this service, by its unique name (one more API call to find it).
    type: str
  metric_names:
    description:
      - Only samples of these metrics, for example V(PostgresServiceInfo) or V(PostgresServer_CacheHitRatio).
    type: list
    elements: str
  include_text:
    description:
      - Also return the text as the API sent it, as RV(text).
    type: bool
    default: false
notes:
  - One API call for the organization or a service given by O(id), two for a service given by O(name).
  - The API refreshes the metrics once a minute; reading more often returns the same values.
  - "Every sample has the labels C(clickhouse_org), C(postgres_service) (the ID) and C(postgres_service_name)."
seealso:
  - module: clickhouse.cloud.postgres_metrics_info
  - name: Prometheus endpoint
    description: ClickHouse's list of the metrics and their labels.
    link: https://clickhouse.com/docs/cloud/managed-postgres/monitoring/prometheus
"""

EXAMPLES = r"""
- name: State of every service, from one call
  clickhouse.cloud.postgres_prometheus_info:
    metric_names: [PostgresServiceInfo]
  register: info

- name: Services that are not running
  ansible.builtin.debug:
    msg: "{{ info.samples | rejectattr('labels.postgres_status', 'eq', 'running')
             | map(attribute='labels.postgres_service_name') | list }}"

- name: Cache hit ratio of one service
  clickhouse.cloud.postgres_prometheus_info:
    name: orders
    metric_names: [PostgresServer_CacheHitRatio]
  register: cache

- name: Warn when it is low
  ansible.builtin.debug:
    msg: "Cache hit ratio is {{ cache.samples[0].value }} %"
  when: cache.samples | length > 0 and cache.samples[0].value < 90
"""

RETURN = r"""
samples:
  description: One item per sample line, in the order of the text.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Metric name.
      type: str
      sample: PostgresServer_ActiveConnections
    labels:
      description: Labels and their values.
      type: dict
      sample: {"clickhouse_org": "8c7f4a2e-0d3b-4c1a-9e5f-6b2d1a0c9e7f", "postgres_service": "67b4bc12-8582-45d0-8806-fe9b2e5a54e6",
               "postgres_service_name": "orders", "state": "idle"}
    value:
      description: The value as a float; V(NaN), V(+Inf) and V(-Inf) stay text.
      type: raw
      sample: 4.0
    type:
      description: V(counter), V(gauge), V(histogram), V(summary) or V(untyped), from the C(# TYPE) line.
      type: str
      sample: gauge
    help:
      description: The C(# HELP) text of the metric, V(null) when there is none.
      type: str
      sample: Active connections by state
    timestamp:
      description: Milliseconds since the epoch, when the line carries one.
      type: int
      returned: when the sample line has a timestamp
      sample: 1774981057000
text:
  description: The Prometheus text as the API sent it.
  returned: when O(include_text=true)
  type: str
  sample: "# HELP PostgresServiceInfo ...\n# TYPE PostgresServiceInfo gauge\nPostgresServiceInfo{...} 1\n"
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError
from ansible_collections.clickhouse.cloud.plugins.module_utils._prometheus import ExpositionError, parse
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule


def exposition(module):
    p = module.params
    if p["id"]:
        return module.api.get_prometheus(p["id"])  # an unknown ID fails with the API's 404
    if p["name"] is None:
        return module.api.get_org_prometheus()
    return module.api.get_prometheus(module.find_service()["id"])


def run(module):
    p = module.params
    text = exposition(module) or ""
    try:
        samples = parse(text)
    except ExpositionError as exc:
        raise ClickHouseError("The API's Prometheus text could not be read: %s" % exc, text=text[:2000])
    if p["metric_names"] is not None:
        wanted = set(p["metric_names"])
        samples = [s for s in samples if s["name"] in wanted]
    result = {"changed": False, "samples": samples}
    if p["include_text"]:
        result["text"] = text
    return result


def main():
    module = ServiceModule(
        argument_spec=dict(
            metric_names=dict(type="list", elements="str"),
            include_text=dict(type="bool", default=False),
        ),
        service_required=False,
    )
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
