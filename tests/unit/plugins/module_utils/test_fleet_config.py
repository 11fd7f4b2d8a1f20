# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet config call's advice: which proposals a member takes (tables), the lines a person reads, and a run
against the emulator."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from ansible_collections.clickhouse.cloud.plugins.module_utils._advisor import AdvisorInput, Proposal, advise
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError, InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._fleet_config import (
    APPLIED,
    APPLY,
    DECLINED,
    NOT_APPLIED,
    UNCERTAIN,
    ConfigFleetRun,
    ConfigMember,
    advice_lines,
    advice_plan,
    check_advice,
)
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import emulator_env, run, tool

EVIDENCE = {"patterns": [{"query_id": "-42", "db_name": "postgres", "db_user": "postgres", "db_operation": "SELECT",
                          "app": "pgbench", "query_text": "SELECT 1", "calls": 3, "max_temp_blks_written": 513}],
            "needed_kb": 8208, "window": {"from": "2026-12-01T11:00:00Z", "to": "2026-12-01T12:00:00Z"}}
WORK_MEM = Proposal(rule="temp_spill", setting="work_mem", current="4MB", proposed="16MB", bound="32MB",
                    restart_required=False, evidence=EVIDENCE, reason="spilled")
CONNECTIONS = Proposal(rule="connections_near_limit", setting="max_connections", current="100", proposed="170",
                       bound="400", restart_required=True, evidence={"patterns": [], "peak_connections": 95}, reason="near")
LOCKS = Proposal(rule="lock_waits", setting="log_lock_waits", current="off", proposed="on", bound=None,
                 restart_required=False, evidence={"patterns": []}, reason="waits")
ALL = [WORK_MEM, CONNECTIONS, LOCKS]
NOTHING = {"pg_config": None, "pg_bouncer_config": None}


def taken(entries):
    return [(p.setting, p.proposed, status) for p, status in entries]


@pytest.mark.parametrize("policy, desired, pg_config, outcome", [
    # every rule, no restart: max_connections is declined, the others taken; in the advisor's order of rules
    ({}, NOTHING, {"work_mem": "16MB", "log_lock_waits": "on"},
     [("work_mem", "16MB", APPLY), ("max_connections", "170", DECLINED), ("log_lock_waits", "on", APPLY)]),
    ({"allow_restart": True}, NOTHING, {"max_connections": "170", "work_mem": "16MB", "log_lock_waits": "on"},
     [("work_mem", "16MB", APPLY), ("max_connections", "170", APPLY), ("log_lock_waits", "on", APPLY)]),
    # only the named rules
    ({"rules": ["temp_spill"]}, NOTHING, {"work_mem": "16MB"},
     [("work_mem", "16MB", APPLY), ("max_connections", "170", DECLINED), ("log_lock_waits", "on", DECLINED)]),
    ({"rules": []}, NOTHING, None,
     [("work_mem", "16MB", DECLINED), ("max_connections", "170", DECLINED), ("log_lock_waits", "on", DECLINED)]),
    # a bound lowers the proposal; one with no room declines it
    ({"rules": ["temp_spill"], "bounds": {"work_mem": "8MB"}}, NOTHING, {"work_mem": "8MB"},
     [("work_mem", "8MB", APPLY), ("max_connections", "170", DECLINED), ("log_lock_waits", "on", DECLINED)]),
    ({"rules": ["temp_spill"], "bounds": {"work_mem": "4MB"}}, NOTHING, None,
     [("work_mem", "16MB", DECLINED), ("max_connections", "170", DECLINED), ("log_lock_waits", "on", DECLINED)]),
    # the inventory wins, and its other settings stay
    ({"rules": ["temp_spill", "lock_waits"]},
     {"pg_config": {"work_mem": "6MB", "statement_timeout": "30s"}, "pg_bouncer_config": {"default_pool_size": 20}},
     {"work_mem": "6MB", "statement_timeout": "30s", "log_lock_waits": "on"},
     [("work_mem", "16MB", DECLINED), ("max_connections", "170", DECLINED), ("log_lock_waits", "on", APPLY)]),
])
def test_which_proposals_a_member_takes(policy, desired, pg_config, outcome):
    planned, entries = advice_plan(ALL, check_advice(policy), desired)
    assert planned["pg_config"] == pg_config
    assert planned["pg_bouncer_config"] == desired["pg_bouncer_config"]
    assert taken(entries) == outcome
    assert all(p.declined for p, status in entries if status == DECLINED)
    assert not any(p.declined for p, status in entries if status == APPLY)


def test_nothing_proposed_leaves_the_settings_as_the_inventory_gives_them():
    desired = {"pg_config": {"work_mem": "8MB"}, "pg_bouncer_config": None}
    assert advice_plan([], check_advice({}), desired) == (desired, [])
    assert advice_plan([], check_advice({}), NOTHING) == (NOTHING, [])


def test_the_inventory_reason_names_its_value():
    _planned, entries = advice_plan([WORK_MEM], check_advice({}), {"pg_config": {"work_mem": "6MB"}})
    assert entries[0][1] == DECLINED and "inventory" in entries[0][0].declined and "6MB" in entries[0][0].declined


@pytest.mark.parametrize("advice, problem", [
    ({"rules": ["temp_spil"]}, "Unknown tuning rule(s) temp_spil"),
    ({"bounds": {"work_mem": "lots"}}, "work_mem"),
    ({"bounds": {"log_lock_waits": "on"}}, "log_lock_waits"),
    ({"window": "yesterday"}, "from must be"),
    ({"window": "2999-01-01T00:00:00Z"}, "The window is empty"),
])
def test_a_bad_policy_fails_before_any_request(advice, problem):
    with pytest.raises(InputError) as raised:
        check_advice(advice)
    assert problem in raised.value.message


def test_a_policy_gets_its_defaults_and_none_is_no_advice():
    assert check_advice(None) is None
    assert check_advice({}) == {"window": "24h"}
    assert check_advice({"rules": ["temp_spill"], "allow_restart": False, "window": "1h", "bounds": None}) == {
        "rules": ["temp_spill"], "allow_restart": False, "window": "1h"}


def spilling_input(**fields):
    executions = [{"timestamp": "2026-12-01T11:30:0%dZ" % n, "temp_blks_written": 513, "temp_blks_read": 9747,
                   "duration_us": 270000, "parallel_workers_launched": 0} for n in range(3)]
    pattern = {"query_id": "-8025884808764552053", "db_name": "postgres", "db_user": "postgres",
               "db_operation": "SELECT", "app": "pgbench", "call_count": 3, "total_duration_us": 810000,
               "avg_duration_us": 270000, "p99_duration_us": 277000, "recent_executions": executions,
               "query_text": "SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customers)"}
    base = dict(service_id="id-1", name="db1", size="r8gd.large", postgres_version="18",
                window={"from": "2026-12-01T11:00:00Z", "to": "2026-12-01T12:00:00Z"}, patterns=[pattern])
    base.update(fields)
    return AdvisorInput(**base)


def test_the_lines_say_what_was_proposed_why_and_on_what_evidence():
    _planned, entries = advice_plan(advise(spilling_input()), check_advice({"rules": ["temp_spill"]}), NOTHING)
    (proposal, status), = entries
    assert (proposal.setting, proposal.current, proposal.proposed, status) == ("work_mem", "4MB", "16MB", APPLY)
    lines = advice_lines([dict(proposal.to_dict(), status=status)])
    assert lines[0].startswith("work_mem 4MB (default) -> 16MB [temp_spill; bound 32MB, no restart; would apply]: ")
    assert lines[1].startswith("  evidence: pattern -8025884808764552053 (SELECT by postgres in postgres, app pgbench) "
                               "'SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customers)': ")
    assert "spilling_executions 3" in lines[1] and "max_temp_blks_written 513" in lines[1]
    assert lines[2].startswith("  evidence: ") and "window 2026-12-01T11:00:00Z to 2026-12-01T12:00:00Z" in lines[2]
    applied = advice_lines([dict(proposal.to_dict(), status=APPLIED)])
    assert "; applied]: " in applied[0]


def test_a_declined_or_limited_proposal_says_why():
    _planned, entries = advice_plan([CONNECTIONS, WORK_MEM], check_advice({"bounds": {"work_mem": "8MB"}}), NOTHING)
    lines = advice_lines([dict(p.to_dict(), status=s) for p, s in entries])
    assert "[connections_near_limit; bound 400, needs a restart; declined: max_connections needs a restart" in lines[-2]
    assert lines[-1] == "  evidence: peak_connections 95"
    work_mem = lines[0]
    assert "-> 8MB" in work_mem and "would apply (lowered from 16MB to the policy's bound 8MB)" in work_mem
    assert advice_lines([]) == ["no proposals: nothing in the window's insights calls for a change"]


# -- against the emulator (no PostgreSQL behind it: no insights, so no proposals) ----------------


@pytest.fixture
def api(emulator):
    return PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)


def test_advice_reads_the_insights_and_with_nothing_to_propose_writes_nothing(api, writes):
    name = "advice-%s" % uuid.uuid4().hex[:8]
    created = api.create_service({"name": name, "provider": "aws", "region": "us-east-1", "size": "r8gd.large",
                                  "postgres_version": "18", "ha_type": "none"})
    try:
        writes.mark()
        members = [{"host": "h1", "name": name, "pg_config": None, "pg_bouncer_config": None,
                    "advice": check_advice({"rules": ["temp_spill"], "window": "1h"})},
                   {"host": "h2", "name": name + "-none", "pg_config": None, "pg_bouncer_config": None, "advice": None}]
        (advised, untouched) = ConfigFleetRun(api).run(members)
        outcome = advised.outcome()
        assert advised.error is None and outcome["changed"] is False and outcome["action"] == "none"
        assert outcome["advice"]["proposals"] == [] and outcome["advice"]["lines"][0].startswith("no proposals")
        assert outcome["advice"]["window"]["from"] < outcome["advice"]["window"]["to"]
        # the listing, then the config, the patterns and the metrics; no pattern, so no pattern detail; no write
        assert writes() == [] and writes.calls() == 4
        assert "advice" not in untouched.outcome() and untouched.plan is None
    finally:
        api.delete_service(created.id)


# -- the action, as a playbook runs it -----------------------------------------------------------

REFUSALS = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A bad policy fails only its own member, before any request for it
      clickhouse.cloud.postgres_fleet_config:
        services:
          - {host: bad, name: advice-nowhere-1, advice: {rules: [temp_spil]}}
          - {host: window, name: advice-nowhere-2, advice: {window: yesterday}}
          - {host: good, name: advice-nowhere-3}
      register: mixed
    - name: Advice in replace mode is refused for the whole call
      clickhouse.cloud.postgres_fleet_config:
        services: [{host: h, name: advice-nowhere-4}]
        mode: replace
        advice: {}
      register: replaced
      ignore_errors: true
    - name: Assert it
      ansible.builtin.assert:
        that:
          - mixed.members.bad.failed
          - "'Unknown tuning rule(s) temp_spil; the rules are temp_spill' in mixed.members.bad.msg"
          - mixed.members.window.failed and 'from must be' in mixed.members.window.msg
          - not mixed.members.good.failed and mixed.members.good.action == 'none'
          - replaced is failed
          - "'advice needs mode merge' in replaced.msg and 'Nothing was changed' in replaced.msg"
"""


def test_bad_advice_is_refused_before_anything_is_sent(emulator, writes, tmp_path):
    collections = tmp_path / "collections" / "ansible_collections" / "clickhouse"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(Path(__file__).resolve().parents[4])
    playbook = tmp_path / "refusals.yml"
    playbook.write_text(REFUSALS)
    writes.mark()
    run([tool("ansible-playbook"), str(playbook)],
        emulator_env(emulator, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_HOME=str(tmp_path / "home")))
    assert writes() == [] and writes.calls() == 1  # the first call's listing; the refused one sent nothing


@pytest.mark.parametrize("wrote, error, write_failed, status, line", [
    (False, None, False, APPLY, "would apply"),
    (True, None, False, APPLIED, "applied"),
    (False, ClickHouseError("HTTP 400"), False, NOT_APPLIED, "not applied: the service failed"),
    (False, ClickHouseError("HTTP 400"), True, NOT_APPLIED, "not applied: the service failed"),  # refused write
    (True, ClickHouseError("HTTP 503"), True, UNCERTAIN, "uncertain: the write failed after it may have landed; run again to see"),
    (True, ClickHouseError("restart: HTTP 503"), False, APPLIED, "applied"),  # written; the restart failed
])
def test_a_taken_proposal_is_applied_only_once_written(wrote, error, write_failed, status, line):
    member = ConfigMember({"host": "h1", "name": "db1", "advice": check_advice({})})
    member.proposals = [(WORK_MEM, APPLY), (CONNECTIONS, DECLINED)]
    member.wrote, member.error, member.write_failed = wrote, error, write_failed
    advice = member.outcome()["advice"]
    assert [p["status"] for p in advice["proposals"]] == [status, DECLINED]
    assert "; %s]: " % line in advice["lines"][0]
