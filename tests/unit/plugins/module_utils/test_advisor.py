# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The advisor's rules as tables: what fires, what it proposes, its bound, and what never fires without evidence."""

from __future__ import annotations

import pytest
from ansible_collections.clickhouse.cloud.plugins.module_utils import _advisor as advisor
from ansible_collections.clickhouse.cloud.plugins.module_utils._advisor import AdvisorInput, advise, decide, merge_with_inventory, within_policy
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError

WINDOW = {"from": "2026-03-31T00:00:00Z", "to": "2026-03-31T01:00:00Z"}
GIB = 1024 ** 3
T0 = 1774915200  # 2026-03-31T00:00:00Z


def execution(n=0, temp=0, duration_us=200000, workers=0, cpu_us=None, read=0, sqlstate=None, at=None):
    return {"timestamp": at or "2026-03-31T00:%02d:%02d.25Z" % (10 + n // 60, n % 60), "pid": str(4000 + n),
            "duration_us": duration_us, "temp_blks_written": temp, "temp_blks_read": temp,
            "parallel_workers_launched": workers, "cpu_user_time_us": duration_us if cpu_us is None else cpu_us,
            "cpu_sys_time_us": 0, "shared_blks_read": read, "err_sqlstate": sqlstate}


def pattern(query_id="-42", calls=20, p99_us=50000, executions=(), operation="SELECT"):
    return {"query_id": query_id, "query_text": "SELECT * FROM t ORDER BY x", "db_name": "app", "db_user": "app",
            "db_operation": operation, "app": "web", "call_count": calls, "total_duration_us": calls * 1000,
            "avg_duration_us": 1000, "p99_duration_us": p99_us, "recent_executions": list(executions)}


def spilling(blocks, count=5, query_id="-42", **kw):
    return pattern(query_id=query_id, executions=[execution(n, temp=blocks, **kw) for n in range(count)])


def data(patterns=(), pg_config=None, size="r8gd.large", connections=None, **kw):
    return AdvisorInput(service_id="svc", name="orders", size=size, postgres_version="17", window=WINDOW,
                        pg_config=dict(pg_config or {}), patterns=list(patterns), connections=connections, **kw)


def only(proposals, rule):
    found = [p for p in proposals if p.rule == rule]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize("size, gib", [
    ("r8gd.large", 16), ("r8gd.medium", 8), ("r6id.32xlarge", 1024), ("c6gd.xlarge", 8), ("m6id.2xlarge", 32),
    ("i7ie.3xlarge", 96), ("c4a-highmem-4", 32), ("c4a-standard-lssd-8", 32), ("c4-highmem-8", 62),
    ("z3-highmem-highlssd-8", 64), ("c4d-standard-lssd-8", 31),
    ("x9.huge", None), ("", None), (None, None), ("m7i.large", None),
])
def test_size_memory(size, gib):
    assert advisor.size_memory_bytes(size) == (int(gib * GIB) if gib is not None else None)


# temp spills: r8gd.large has 16 GiB; at max_connections 100 the bound is 16 GiB * 0.25 / 100 = 41 MB -> 32MB
@pytest.mark.parametrize("patterns, pg_config, proposed, bound", [
    ([spilling(640)], {}, "16MB", "32MB"),  # 5 MB spilled -> 12.5 MB in memory -> 16MB
    ([spilling(410)], {}, "16MB", "32MB"),  # 3.2 MB -> 8.0 MB, just over 8MB
    ([spilling(128)], {}, None, None),  # 1 MB -> 2 MB: the default 4MB holds it already
    ([spilling(64)], {}, None, None),  # 512 kB: at the threshold, but 4MB holds it
    ([spilling(63)], {"work_mem": "64kB"}, None, None),  # below SPILL_MIN_KB: not worth a setting
    ([spilling(2560)], {}, "32MB", "32MB"),  # 20 MB -> 40 MB -> 64MB, capped at the bound
    ([spilling(2560)], {"max_connections": "400"}, "8MB", "8MB"),  # more connections, smaller bound
    ([spilling(2560)], {"work_mem": "32MB"}, None, None),  # already at the bound: never lower than current
    ([spilling(2560)], {"work_mem": "1GB"}, None, None),
    ([spilling(640, workers=1)], {}, "8MB", "32MB"),  # two processes: 2.5 MB each
    ([spilling(640, count=1)], {}, None, None),  # one spilling execution is a one-off
    ([pattern(executions=[execution(n, temp=640 if n < 2 else 0) for n in range(5)])], {}, None, None),  # 2 of 5
    ([pattern(executions=[execution(n, temp=640 if n < 3 else 0) for n in range(5)])], {}, "16MB", "32MB"),  # 3 of 5
    ([spilling(640, at="2026-03-30T23:59:59Z")], {}, None, None),  # before the window
    ([spilling(640, at="2026-03-31T01:00:00Z")], {}, None, None),  # the window's end is excluded
    ([spilling(640), spilling(1280, query_id="7")], {}, "32MB", "32MB"),  # the largest spill decides
    ([pattern()], {}, None, None),  # no executions read: no evidence
])
def test_temp_spill(patterns, pg_config, proposed, bound):
    found = only(advise(data(patterns, pg_config)), "temp_spill")
    if proposed is None:
        assert found is None
        return
    assert (found.setting, found.proposed, found.bound, found.restart_required) == ("work_mem", proposed, bound, False)
    assert found.current == pg_config.get("work_mem", "4MB")
    assert found.current_source == ("set" if "work_mem" in pg_config else "default")
    evidence = found.evidence["patterns"][0]
    assert evidence["query_id"] and evidence["spilling_executions"] >= 2 and evidence["max_temp_blks_written"] > 0
    assert found.evidence["window"] == WINDOW and found.reason


def test_temp_spill_evidence_figures():
    found = only(advise(data([spilling(640, duration_us=300000), spilling(1280, query_id="7", count=3)])), "temp_spill")
    assert [p["query_id"] for p in found.evidence["patterns"]] == ["7", "-42"]  # the largest spill first
    first = found.evidence["patterns"][0]
    assert (first["executions_seen"], first["spilling_executions"], first["max_temp_blks_written"],
            first["max_spill_kb_per_process"], first["calls"]) == (3, 3, 1280, 10240, 20)
    assert found.evidence["needed_kb"] == 25600 and found.evidence["memory_bytes"] == 16 * GIB
    assert found.evidence["memory_source"] == "size r8gd.large" and found.evidence["max_connections"] == 100
    assert "Capped at 32MB" not in found.reason and "up to 10.0MB per process" in found.reason and "about 25.0MB (x2.5)" in found.reason


def test_temp_spill_needs_a_memory_to_bound_it():
    assert advise(data([spilling(640)], size="x9.huge")) == []
    given = only(advise(data([spilling(2560)], size="x9.huge", memory_bytes=64 * GIB)), "temp_spill")
    assert (given.proposed, given.bound, given.evidence["memory_source"]) == ("64MB", "128MB", "given")


def series(values, step=15, start=T0 + 60):
    return [[start + n * step, v] for n, v in enumerate(values)]


@pytest.mark.parametrize("connections, pg_config, proposed, bound", [
    ({"active": series([50, 85, 90]), "idle": series([0, 0, 0])}, {}, "150", "1020"),
    ({"active": series([40, 45]), "idle": series([40, 40])}, {}, "150", "1020"),  # states add up
    ({"active": series([85, 10, 10])}, {}, None, None),  # one point near the limit is a spike
    ({"active": series([79, 79, 79])}, {}, None, None),  # below 80%
    ({"active": series([400, 420])}, {"max_connections": "500"}, "700", "1020"),
    ({"active": series([90, 90])}, {"work_mem": "64MB"}, "150", "60"),  # bound below proposal below current: none
    ({"active": series([90, 90])}, {"work_mem": "1GB"}, "150", "0"),  # a budget of 4 connections rounds to 0: none
    ({}, {}, None, None),
    (None, {}, None, None),
])
def test_connections_near_limit(connections, pg_config, proposed, bound):
    found = only(advise(data(connections=connections, pg_config=pg_config)), "connections_near_limit")
    if proposed is None or bound is not None and int(bound) <= int(pg_config.get("max_connections", 100)):
        assert found is None
        return
    assert (found.setting, found.proposed, found.bound, found.restart_required) == ("max_connections", proposed, bound, True)
    assert found.evidence["points_near_limit"] >= 2 and "PgBouncer" in found.reason


def test_raised_connections_lower_the_work_mem_bound():
    connections = {"active": series([95, 98])}
    proposals = advise(data([spilling(2560)], connections=connections))
    assert [(p.setting, p.proposed, p.bound) for p in proposals] == [("work_mem", "16MB", "16MB"),
                                                                     ("max_connections", "170", "1020")]
    alone = advise(data([spilling(2560)], connections=connections), rules=["temp_spill"])
    assert [(p.setting, p.proposed) for p in alone] == [("work_mem", "32MB")]


@pytest.mark.parametrize("values, pg_config, proposed", [
    ([1] * 21, {}, "10min"),  # 21 points of 15 s: 315 s
    ([1] * 19, {}, None),  # 285 s
    ([1] * 10 + [0] + [1] * 10, {}, None),  # a break
    ([2] * 21, {"idle_in_transaction_session_timeout": "2h"}, "10min"),  # lowered from 2 hours
    ([2] * 21, {"idle_in_transaction_session_timeout": "5min"}, None),  # already shorter
    ([0.4] * 40, {}, None),  # less than one session on average
])
def test_idle_in_transaction(values, pg_config, proposed):
    connections = {"idle in transaction": series(values), "active": series([1] * len(values))}
    found = only(advise(data(connections=connections, pg_config=pg_config)), "idle_in_transaction")
    assert (found.proposed if found else None) == proposed
    if found:
        assert found.evidence["longest_idle_in_transaction_seconds"] >= 300 and not found.restart_required


def test_idle_in_transaction_counts_aborted_ones_and_gaps():
    aborted = {"idle in transaction": series([1] * 10), "idle in transaction (aborted)": series([1] * 11, start=T0 + 60 + 150)}
    assert only(advise(data(connections=aborted)), "idle_in_transaction").evidence["points"] == 21
    gap = {"idle in transaction": series([1] * 10) + series([1] * 11, start=T0 + 60 + 165)}  # one point missing
    assert only(advise(data(connections=gap)), "idle_in_transaction") is None


@pytest.mark.parametrize("executions, pg_config, fires", [
    ([execution(0, sqlstate="40P01")], {}, True),  # one deadlock is enough
    ([execution(0, sqlstate="55P03")], {"log_lock_waits": "off"}, True),
    ([execution(n, duration_us=3000000, cpu_us=1000) for n in range(2)], {}, True),  # waited 3 s, twice
    ([execution(n, duration_us=3000000, cpu_us=1000) for n in range(1)], {}, False),  # once
    ([execution(n, duration_us=3000000, cpu_us=1000000) for n in range(3)], {}, False),  # a third on CPU
    ([execution(n, duration_us=3000000, cpu_us=1000, read=5000) for n in range(3)], {}, False),  # reading
    ([execution(n, duration_us=900000, cpu_us=1000) for n in range(3)], {}, False),  # under deadlock_timeout
    ([execution(0, sqlstate="40P01")], {"log_lock_waits": "on"}, False),
    ([execution(0, sqlstate="40P01")], {"log_lock_waits": "ON"}, False),
    ([execution(0, sqlstate="23505")], {}, False),  # a unique violation is no lock
])
def test_lock_waits(executions, pg_config, fires):
    found = only(advise(data([pattern(executions=executions, operation="UPDATE")], pg_config)), "lock_waits")
    assert (found is not None) == fires
    if fires:
        assert found.proposed == "on" and found.evidence["patterns"][0]["query_id"] == "-42"


@pytest.mark.parametrize("p99_us, calls, pg_config, proposed", [
    (1500000, 50, {}, "1s"),
    (1000000, 10, {}, "1s"),
    (999999, 50, {}, None),
    (5000000, 9, {}, None),  # too few calls for a p99
    (5000000, 50, {"log_min_duration_statement": "5s"}, "1s"),
    (5000000, 50, {"log_min_duration_statement": "500"}, None),  # already logs from 500 ms
    (5000000, 50, {"log_min_duration_statement": "0"}, None),  # logs everything
])
def test_slow_statements(p99_us, calls, pg_config, proposed):
    found = only(advise(data([pattern(p99_us=p99_us, calls=calls)], pg_config)), "slow_statements")
    assert (found.proposed if found else None) == proposed
    if found:
        assert found.evidence["patterns"][0]["p99_duration_us"] == p99_us


def test_no_evidence_no_proposal():
    assert advise(data()) == []
    assert advise(data([pattern(executions=[execution(n) for n in range(10)])], connections={"active": series([3, 4])})) == []


def test_unreadable_current_values_propose_nothing():
    bad = {"work_mem": "lots", "max_connections": "many", "log_lock_waits": "maybe", "log_min_duration_statement": "x",
           "idle_in_transaction_session_timeout": "y"}
    everything = [spilling(640), pattern(p99_us=5000000, calls=50, executions=[execution(0, sqlstate="40P01")])]
    assert advise(data(everything, bad, connections={"idle in transaction": series([1] * 30)})) == []


def test_rules_select_and_unknown_rules_fail():
    everything = [spilling(640), pattern(query_id="9", p99_us=5000000, calls=50)]
    assert [p.rule for p in advise(data(everything))] == ["temp_spill", "slow_statements"]
    assert [p.rule for p in advise(data(everything), rules=["slow_statements"])] == ["slow_statements"]
    with pytest.raises(InputError, match="Unknown tuning rule.*work_mem"):
        advise(data(), rules=["work_mem"])


def test_proposal_to_dict_is_plain():
    found = advise(data([spilling(640)]))[0].to_dict()
    assert set(found) == {"rule", "setting", "current", "proposed", "bound", "restart_required", "evidence", "reason",
                          "current_source", "section", "declined", "limited"}
    assert found["section"] == "pg_config" and found["declined"] is None


def proposals():
    return advise(data([spilling(2560), pattern(query_id="9", p99_us=5000000, calls=50)],
                       connections={"active": series([95, 98])}))


@pytest.mark.parametrize("policy, accepted, declined", [
    ({}, [("temp_spill", "16MB"), ("slow_statements", "1s")], ["max_connections needs a restart"]),
    ({"allow_restart": True}, [("temp_spill", "16MB"), ("connections_near_limit", "170"), ("slow_statements", "1s")], []),
    ({"rules": ["temp_spill"], "allow_restart": True}, [("temp_spill", "16MB")],
     ["does not enable rule connections_near_limit", "does not enable rule slow_statements"]),
    ({"allow_restart": True, "bounds": {"work_mem": "8MB", "max_connections": 150}},
     [("temp_spill", "8MB"), ("connections_near_limit", "150"), ("slow_statements", "1s")], []),
    ({"allow_restart": True, "bounds": {"work_mem": "4MB", "log_min_duration_statement": "2s"}},
     [("connections_near_limit", "170"), ("slow_statements", "2s")], ["does not allow raising it from 4MB"]),
])
def test_within_policy(policy, accepted, declined):
    taken, refused = within_policy(proposals(), policy)
    assert [(p.rule, p.proposed) for p in taken] == accepted
    assert len(refused) == len(declined) and all(d in p.declined for d, p in zip(declined, refused))
    assert all(p.declined is None for p in taken)


def test_policy_limits_say_so():
    taken = within_policy(proposals(), {"allow_restart": True, "bounds": {"work_mem": "8MB"}})[0]
    assert taken[0].limited == "lowered from 16MB to the policy's bound 8MB"


def test_policy_lowering_bounds():
    slow = advise(data([pattern(p99_us=5000000, calls=50)], {"log_min_duration_statement": "5s"}))
    taken, refused = within_policy(slow, {"bounds": {"log_min_duration_statement": "5s"}})
    assert taken == [] and "does not allow lowering it from 5s" in refused[0].declined


@pytest.mark.parametrize("policy, message", [
    ({"rule": ["temp_spill"]}, "Unknown tuning policy key"),
    ({"rules": ["nope"]}, "Unknown tuning rule"),
    ({"bounds": {"log_lock_waits": "on"}}, "which no rule raises or lowers"),
    ({"bounds": {"work_mem": "8 MiB"}}, "not a value work_mem takes"),
    ({"bounds": {"max_connections": "150.5"}}, "not a value max_connections takes: it must be a whole number"),
])
def test_bad_policies(policy, message):
    with pytest.raises(InputError, match=message):
        within_policy(proposals(), policy)


def test_inventory_wins():
    kept, declined = merge_with_inventory(proposals(), {"work_mem": "8MB", "shared_buffers": "1GB"})
    assert [p.setting for p in kept] == ["max_connections", "log_min_duration_statement"]
    assert [(p.setting, p.declined) for p in declined] == [("work_mem", "set by inventory (work_mem: 8MB)")]
    assert merge_with_inventory(proposals(), None)[1] == []


@pytest.mark.parametrize("policy, inventory, taken, declined", [
    ({}, None, ["work_mem", "log_min_duration_statement"], [("max_connections", "needs a restart")]),
    ({"allow_restart": True}, {"work_mem": "8MB"}, ["max_connections", "log_min_duration_statement"],
     [("work_mem", "set by inventory (work_mem: 8MB)")]),
    # out of policy and set by the inventory: the policy's reason; the declined in the advisor's order
    ({"rules": ["slow_statements"]}, {"log_min_duration_statement": "5s"}, [],
     [("work_mem", "does not enable rule temp_spill"), ("max_connections", "does not enable rule connections_near_limit"),
      ("log_min_duration_statement", "set by inventory")]),
])
def test_decide_is_the_policy_then_the_inventory(policy, inventory, taken, declined):
    kept, refused = decide(proposals(), policy, inventory)
    assert [p.setting for p in kept] == taken
    assert [p.setting for p in refused] == [setting for setting, reason in declined]
    assert all(reason in p.declined for (setting, reason), p in zip(declined, refused))


@pytest.mark.parametrize("kb, at_least, at_most", [
    (1, 1024, 0), (1024, 1024, 1024), (1025, 2048, 1024), (10240, 16384, 8192), (41943, 65536, 32768),
])
def test_powers_of_two(kb, at_least, at_most):
    assert advisor.pow2_mb_at_least(kb) == at_least and advisor.pow2_mb_at_most(kb) == at_most


@pytest.mark.parametrize("kb, text", [(4096, "4MB"), (1048576, "1GB"), (100, "100kB"), (1536, "1536kB")])
def test_format_kb(kb, text):
    assert advisor.format_kb(kb) == text
