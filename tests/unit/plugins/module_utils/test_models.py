# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The models accept what a beta API may send, and return snake_case."""

from __future__ import annotations

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError
from ansible_collections.clickhouse.cloud.plugins.module_utils._models import (
    Metrics,
    PostgresService,
    ServiceConfig,
    SlowQueryPatternDetail,
    camel,
    snake,
    tags_to_api,
    tags_to_dict,
)


def test_service_is_tolerant_and_snake_cased():
    service = PostgresService.parse({
        "id": "x", "name": "orders", "provider": "gcp", "postgresVersion": 19, "size": "z9.huge",
        "storageSize": "118", "state": "hibernating", "isPrimary": "false", "haType": "quorum",
        "tags": [{"key": "env", "value": "prod"}, {"key": "bare"}],
        "maintenanceWindow": {"dayOfWeek": 2},
    })
    assert service.to_result() == {
        "id": "x", "name": "orders", "provider": "gcp", "postgres_version": "19", "size": "z9.huge",
        "storage_size": 118, "state": "hibernating", "is_primary": False, "ha_type": "quorum",
        "tags": {"env": "prod", "bare": ""}, "maintenance_window": {"day_of_week": 2},
    }


@pytest.mark.parametrize("raw, expected", [
    ("118", 118), (118.0, 118), ("n/a", None), (None, None), ("12.0", 12), (" 12.0 ", 12), ("12.5", None), ("1e400", None),
    ("9007199254740993", 9007199254740993), ("-9223372036854775807", -9223372036854775807),  # beyond a double's 2**53
])
def test_numbers_as_strings(raw, expected):
    assert PostgresService.parse({"storageSize": raw}).storage_size == expected


def test_null_config_sections_read_as_empty():
    config = ServiceConfig.parse({"pgConfig": None, "pgBouncerConfig": None, "message": None})
    assert config.to_result() == {"pg_config": {}, "pg_bouncer_config": {}}


@pytest.mark.parametrize("model, answer, fragment", [
    (PostgresService, {"id": "x", "tags": {"env": "prod"}}, "tags: Input should be a valid list"),
    (PostgresService, {"id": "x", "tags": ["env"]}, "tags.0: Input should be a valid dictionary"),
    (ServiceConfig, {"pgConfig": ["max_connections"]}, "pgConfig: Input should be a valid dictionary"),
    (Metrics, {"metrics": [{"series": None}, {"series": 3}]}, "metrics.0.series: Input should be a valid list (and 1 more"),
    (PostgresService, ["not", "an", "object"], "the answer: Input should be a valid dictionary"),
])
def test_malformed_answers_are_clickhouse_errors(model, answer, fragment):
    with pytest.raises(ClickHouseError) as raised:
        model.parse(answer)
    assert raised.value.message.startswith("The API's answer was malformed: ") and fragment in raised.value.message
    assert raised.value.failure()["malformed"]["model"] == model.__name__


def test_empty_and_missing():
    assert PostgresService.parse(None).to_result() == {}
    assert ServiceConfig.parse({"pgConfig": {"max_connections": "42"}}).to_result() == {
        "pg_config": {"max_connections": "42"}, "pg_bouncer_config": {}}


def test_config_keys_are_kept_verbatim():
    config = ServiceConfig.parse({"pgConfig": {"work_mem": "4MB"}, "pgBouncerConfig": {"default_pool_size": "16"},
                                  "message": "restart needed"})
    assert config.to_result()["pg_bouncer_config"] == {"default_pool_size": "16"}
    assert config.to_result()["message"] == "restart needed"


def test_pattern_detail_counts_and_extras():
    detail = SlowQueryPatternDetail.parse({
        "aggregate": {"queryId": "-4748036479882663975", "callCount": "3", "p99DurationUs": 41200},
        "recentExecutions": [{"queryId": "-1", "pid": 1234, "durationUs": "7", "walFpi": 2}],
    }).to_result()
    assert detail["aggregate"] == {"query_id": "-4748036479882663975", "call_count": 3, "p99_duration_us": 41200}
    assert detail["recent_executions"] == [{"query_id": "-1", "pid": "1234", "duration_us": 7, "wal_fpi": 2}]


@pytest.mark.parametrize("camel_name, snake_name", [
    ("postgresVersion", "postgres_version"), ("pgBouncerConfig", "pg_bouncer_config"),
    ("p50DurationUs", "p50_duration_us"), ("id", "id"),
])
def test_case_conversion(camel_name, snake_name):
    assert snake(camel_name) == snake_name and camel(snake_name) == camel_name


def test_tags_round_trip_sorted():
    assert tags_to_api({"b": "2", "a": "1"}) == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    assert tags_to_dict(tags_to_api({"b": "2", "a": "1"})) == {"a": "1", "b": "2"}
