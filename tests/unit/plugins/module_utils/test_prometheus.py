# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus text parser: families, labels with escapes, special values, bad lines."""

from __future__ import annotations

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._prometheus import ExpositionError, parse

TEXT = r"""# HELP PostgresServiceInfo Service information, always 1.
# TYPE PostgresServiceInfo gauge
PostgresServiceInfo{clickhouse_org="o",postgres_service="s",postgres_service_name="my \"db\"\\x\ny",postgres_status="running"} 1
# a free comment
# HELP PostgresServer_CPUSeconds_Total CPU time.\nIn seconds.
# TYPE PostgresServer_CPUSeconds_Total counter
PostgresServer_CPUSeconds_Total{mode="user"} 12.5
PostgresServer_CPUSeconds_Total{ mode = "system" , } 3e2 1774981057000

# TYPE rpc_duration_seconds histogram
rpc_duration_seconds_bucket{le="+Inf"} 7
rpc_duration_seconds_sum 1.5
rpc_duration_seconds_count 7
no_labels NaN
weird{a="1"} -Inf
"""


def test_samples_with_their_family():
    samples = parse(TEXT)
    assert [s["name"] for s in samples] == [
        "PostgresServiceInfo", "PostgresServer_CPUSeconds_Total", "PostgresServer_CPUSeconds_Total",
        "rpc_duration_seconds_bucket", "rpc_duration_seconds_sum", "rpc_duration_seconds_count", "no_labels", "weird"]
    info = samples[0]
    assert info == {"name": "PostgresServiceInfo", "value": 1.0, "type": "gauge", "help": "Service information, always 1.",
                    "labels": {"clickhouse_org": "o", "postgres_service": "s", "postgres_service_name": 'my "db"\\x\ny',
                               "postgres_status": "running"}}
    cpu = samples[2]
    assert cpu["labels"] == {"mode": "system"} and cpu["value"] == 300.0 and cpu["timestamp"] == 1774981057000
    assert cpu["type"] == "counter" and cpu["help"] == "CPU time.\nIn seconds."
    assert "timestamp" not in samples[1]
    assert {s["type"] for s in samples[3:6]} == {"histogram"}
    assert samples[3]["labels"] == {"le": "+Inf"}


def test_non_finite_values_stay_text():
    samples = parse(TEXT)
    assert samples[-2]["value"] == "NaN" and samples[-2]["type"] == "untyped" and samples[-2]["help"] is None
    assert samples[-1]["value"] == "-Inf"
    assert parse("x 1e999")[0]["value"] == "+Inf"


def test_empty_text_has_no_samples():
    assert parse("") == [] and parse(None) == [] and parse("# only a comment\n") == []


@pytest.mark.parametrize("text, fragment", [
    ("x{a=\"1\" 2", "line 1: not a sample"),
    ("x{a=1} 2", "line 1: cannot read the labels"),
    ("\n\nx abc", "line 3: 'abc' is not a sample value"),
    ("1x 2", "line 1: not a sample"),
])
def test_bad_lines_name_their_number(text, fragment):
    with pytest.raises(ExpositionError, match=fragment.replace("{", r"\{").replace("(", r"\(")):
        parse(text)
