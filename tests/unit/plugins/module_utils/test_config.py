# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ConfigPlan: what differs after normalisation, what is sent, what is predicted and shown."""

from __future__ import annotations

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._config import ConfigPlan

SERVER = {"pg_config": {"max_connections": "100", "work_mem": "1024kB", "statement_timeout": "60s"},
          "pg_bouncer_config": {"default_pool_size": "16"}}


def plan(pg=None, bouncer=None, replace=False, current=None):
    return ConfigPlan(SERVER if current is None else current, {"pg_config": pg, "pg_bouncer_config": bouncer}, replace)


@pytest.mark.parametrize("pg, bouncer, replace", [
    ({"work_mem": "1MB", "statement_timeout": "1min"}, None, False),
    ({"max_connections": "100.0"}, {"default_pool_size": "16"}, False),
    (None, None, False),
    (None, None, True),  # no section given: nothing is replaced
    ({"max_connections": "0144", "work_mem": "1MB", "statement_timeout": "60000"}, {"default_pool_size": "16"}, True),
])
def test_same_values_in_other_spellings_change_nothing(pg, bouncer, replace):
    unchanged = plan(pg, bouncer, replace)
    assert not unchanged.changed and unchanged.changed_keys == []
    assert unchanged.after == SERVER  # the server's own spelling is kept
    assert unchanged.diff() == {"before": {}, "after": {}}


def test_merge_sends_only_the_keys_that_differ():
    merged = plan({"max_connections": "200", "work_mem": "1MB", "lock_timeout": "5s"}, {"pool_mode": "transaction"})
    assert merged.changed_keys == ["lock_timeout", "max_connections", "pool_mode"]
    assert merged.patch_body() == {"pg_config": {"max_connections": "200", "lock_timeout": "5s"},
                                   "pg_bouncer_config": {"pool_mode": "transaction"}}
    assert merged.after["pg_config"] == {"max_connections": "200", "work_mem": "1024kB", "statement_timeout": "60s",
                                         "lock_timeout": "5s"}
    assert merged.diff() == {
        "before": {"pg_config": {"max_connections": "100"}, "pg_bouncer_config": {}},
        "after": {"pg_config": {"lock_timeout": "5s", "max_connections": "200"}, "pg_bouncer_config": {"pool_mode": "transaction"}},
    }


def test_replace_removes_what_is_not_listed_and_keeps_an_absent_section():
    replaced = plan({"max_connections": "100", "work_mem": "2MB"}, replace=True)
    assert replaced.changed_keys == ["statement_timeout", "work_mem"]
    assert replaced.after == {"pg_config": {"max_connections": "100", "work_mem": "2MB"},
                              "pg_bouncer_config": {"default_pool_size": "16"}}
    assert replaced.diff() == {"before": {"pg_config": {"statement_timeout": "60s", "work_mem": "1024kB"}},
                               "after": {"pg_config": {"work_mem": "2MB"}}}


def test_replace_with_an_empty_section_clears_it():
    cleared = plan(None, {}, replace=True)
    assert cleared.changed_keys == ["default_pool_size"]
    assert cleared.after["pg_bouncer_config"] == {} and cleared.after["pg_config"] == SERVER["pg_config"]


@pytest.mark.parametrize("pg, version, message, expected", [
    ({"max_connections": "200"}, "17", None, ["max_connections"]),
    ({"work_mem": "8MB"}, "17", None, []),
    ({"autovacuum_max_workers": "5"}, "17", None, ["autovacuum_max_workers"]),
    ({"autovacuum_max_workers": "5"}, "18", None, []),
    ({"max_connections": "100"}, "17", None, []),  # unchanged: no restart, whatever the key
    ({"work_mem": "8MB"}, "18", "The changes in the following parameters require a database restart to take effect: "
     "work_mem. You can restart ...", ["work_mem"]),  # the API knows better: trust its message
    ({"max_worker_processes": "16", "work_mem": "8MB"}, "18", "... take effect: max_worker_processes.", ["max_worker_processes"]),
])
def test_restart_keys(pg, version, message, expected):
    assert plan(pg).restart_keys(version, message) == expected


def test_removing_a_restart_only_key_needs_a_restart_too():
    assert plan({"work_mem": "1MB"}, replace=True).restart_keys("17") == ["max_connections"]


def test_first_configuration_of_a_service_with_none():
    fresh = plan({"work_mem": 4096}, current={"pg_config": {}, "pg_bouncer_config": {}})
    assert fresh.changed_keys == ["work_mem"] and fresh.after["pg_config"] == {"work_mem": 4096}
