#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_metrics_info
short_description: Read the time-series metrics of a ClickHouse Cloud Managed Postgres service
version_added: 0.1.0
description:
  - Returns a service's metrics (CPU, memory, disk, network, connections, cache hit ratio, throughput, transactions)
    as series of data points over a time window.
  - Never changes anything.
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.service
  - clickhouse.cloud.read_only
  - clickhouse.cloud.read_only.window
  - ansible.builtin.action_common_attributes
options:
  from:  # described in the clickhouse.cloud.read_only.window fragment
    default: 1h
  to:
    default: now
  bucket_size:
    description:
      - Seconds each data point covers. Without it the API picks one from the window.
      - The API returns at most 250 points per series and widens the buckets to stay within that.
    type: int
  keys:
    description:
      - Only these metrics, by RV(metrics[].key), for example V(cpu_usage) or V(connection_count). Keys the API does
        not return are ignored.
    type: list
    elements: str
notes:
  - The window includes O(from) and excludes O(to).
  - Two API calls, one to find the service and one for the metrics.
seealso:
  - module: clickhouse.cloud.postgres_prometheus_info
"""

EXAMPLES = r"""
- name: CPU and connections of the last six hours, in 10-minute buckets
  clickhouse.cloud.postgres_metrics_info:
    name: orders
    from: 6h
    bucket_size: 600
    keys: [cpu_usage, connection_count]
  register: load

- name: Peak CPU of any mode
  ansible.builtin.debug:
    msg: "{{ load.metrics[0].series | map(attribute='data_points') | flatten | map(attribute='value') | max }}"
  when: load.metrics | length > 0
"""

RETURN = r"""
metrics:
  description: The metrics, sorted by key; their series sorted by label, data points by time.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: Stable identifier, for example V(cpu_usage).
      type: str
      sample: cpu_usage
    name:
      description: Display name.
      type: str
      sample: CPU usage
    unit:
      description: Unit of the values, for example V(%), V(IOPS), V(bytes/s), V(count).
      type: str
      sample: "%"
    description:
      description: What it measures.
      type: str
      sample: CPU time used by the server, by mode
    series:
      description: One series per label (a CPU mode, a database, ...).
      type: list
      elements: dict
      sample: [{"label": "user", "data_points": [{"timestamp": 1774981057, "value": 3.2}]}]
window:
  description: The window the metrics cover, in UTC.
  returned: always
  type: dict
  sample: {"from": "2026-03-31T12:17:37Z", "to": "2026-03-31T18:17:37Z"}
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule
from ansible_collections.clickhouse.cloud.plugins.module_utils._windows import window, window_argument_spec


def in_order(metrics, keys):
    """Sorted, and only the wanted keys: the same output for the same data on every run."""
    wanted = None if keys is None else set(keys)
    out = []
    for metric in sorted(metrics, key=lambda m: m.get("key") or ""):
        if wanted is not None and metric.get("key") not in wanted:
            continue
        metric["series"] = sorted(({**s, "data_points": sorted(s.get("data_points") or [], key=lambda d: d.get("timestamp") or 0)}
                                   for s in metric.get("series") or []), key=lambda s: s.get("label") or "")
        out.append(metric)
    return out


def run(module):
    p = module.params
    if p["bucket_size"] is not None and p["bucket_size"] < 1:
        raise InputError("bucket_size must be at least 1 second, got %d" % p["bucket_size"])
    span = window(p["from"], p["to"])
    service = module.find_service()
    metrics = module.api.get_metrics(service["id"], span["from"], span["to"], bucket_size_seconds=p["bucket_size"])
    return {"changed": False, "window": span, "metrics": in_order(metrics.to_result().get("metrics") or [], p["keys"])}


def main():
    module = ServiceModule(
        argument_spec={
            **window_argument_spec("1h"),
            "bucket_size": dict(type="int"),
            "keys": dict(type="list", elements="str", no_log=False),
        },
    )
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
