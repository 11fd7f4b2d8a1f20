# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The tuning advisor: from what a service did in a window, setting changes a DBA would sign.

Pure: no I/O. ``advise(AdvisorInput)`` gives a list of ``Proposal``; each carries its evidence
(pattern ids and the figures behind it), its bound and whether it needs a restart. There is
never a proposal without evidence, and none when the current value already does what the
proposal would. ``within_policy`` applies a user's policy (which rules, how far, restarts or
not); ``merge_with_inventory`` lets the settings an inventory lists win. The rules and their
thresholds are the named constants below; docs/tuning.md ("The rules") explains them.
``_advisor_inputs.gather`` builds the input from the API.
"""

from __future__ import annotations

import dataclasses
import math
import re

from ._errors import InputError
from ._settings import PG_DEFAULTS, PG_SETTINGS, SettingValueError, restart_only
from ._timestamps import read_timestamp

# -- thresholds (docs/tuning.md, "The rules") -------------------------------------------------

BLOCK_KB = 8  # PostgreSQL's block size: temp blocks are 8 kB

# temp_spill -> work_mem
SPILL_MIN_EXECUTIONS = 2  # spilling executions of one pattern among its recent ones: not a one-off
SPILL_MIN_SHARE = 0.5  # and at least half of its recent executions in the window spilled
SPILL_MIN_KB = 512  # spills below this (per process) are not worth a setting
# An in-memory sort takes more room than its temp files: measured on PostgreSQL 15 (docs/tuning.md), a sort that
# wrote 4.6 MB at work_mem 4MB ran in memory in 10.9 MB (2.4x); a hash join that wrote 17 MB fitted in 24MB.
SPILL_MEMORY_FACTOR = 2.5
WORK_MEM_MEMORY_SHARE = 0.25  # work_mem x max_connections stays within a quarter of the memory
WORK_MEM_MAX_KB = 2 * 1024 * 1024  # never propose more than 2GB, whatever the memory

# connections_near_limit -> max_connections
CONNECTIONS_NEAR_SHARE = 0.8  # the peak reached 80% of max_connections ...
CONNECTIONS_MIN_POINTS = 2  # ... in at least two data points of the window (not one spike)
CONNECTIONS_TARGET_SHARE = 0.6  # the proposal puts that peak at 60% of the new limit
CONNECTIONS_STEP = 10  # rounded up to a multiple of 10

# idle_in_transaction -> idle_in_transaction_session_timeout
IDLE_TX_MIN_SESSIONS = 1  # sessions idle in a transaction (bucket average) ...
IDLE_TX_MIN_SECONDS = 300  # ... without a break for at least 5 minutes of the window
IDLE_TX_TIMEOUT_MS = 10 * 60 * 1000  # proposed: end such sessions after 10 minutes
IDLE_TX_STATES = ("idle in transaction", "idle in transaction (aborted)")

# lock_waits -> log_lock_waits
LOCK_SQLSTATES = {"40P01": "deadlock_detected", "55P03": "lock_not_available"}
WAIT_MIN_DURATION_US = 1000000  # deadlock_timeout's default: log_lock_waits logs waits longer than 1s
WAIT_MAX_CPU_SHARE = 0.2  # on CPU for at most a fifth of the time ...
WAIT_MAX_BLOCKS = 1024  # ... and at most 8 MB read from disk or temp files: the rest was waiting
WAIT_MIN_EXECUTIONS = 2  # waiting executions (or one lock error) before the rule fires

# slow_statements -> log_min_duration_statement
P99_SLOW_US = 1000000  # a pattern whose p99 is 1 s or more ...
P99_MIN_CALLS = 10  # ... over at least 10 calls (a p99 of fewer means little)
LOG_MIN_DURATION_MS = 1000  # proposed: log every statement that takes 1 s or more

EVIDENCE_PATTERNS = 5  # at most this many patterns listed in one proposal's evidence
QUERY_TEXT_CHARS = 200

# The settings the rules read, at PostgreSQL's defaults: the API's config lists only what a user set
# (shared/api/reference.md section 3.8), so a key it does not list has the server's default.
DEFAULTS = {key: PG_DEFAULTS[key] for key in ("work_mem", "hash_mem_multiplier", "max_connections",
                                              "idle_in_transaction_session_timeout", "log_min_duration_statement")}
DEFAULTS["log_lock_waits"] = "off"  # 15 to 17 (PG_DEFAULTS leaves it out: its default moved in 18)

RULES = ("temp_spill", "connections_near_limit", "idle_in_transaction", "lock_waits", "slow_statements")
RULE_SETTINGS = {
    "temp_spill": "work_mem",
    "connections_near_limit": "max_connections",
    "idle_in_transaction": "idle_in_transaction_session_timeout",
    "lock_waits": "log_lock_waits",
    "slow_statements": "log_min_duration_statement",
}
# How a policy bound limits a setting: "raise" settings may go up to it, "lower" ones down to it.
DIRECTION = {
    "work_mem": "raise",
    "hash_mem_multiplier": "raise",
    "max_connections": "raise",
    "idle_in_transaction_session_timeout": "lower",
    "log_min_duration_statement": "lower",
    "log_lock_waits": "switch",
}

# -- memory of a size --------------------------------------------------------------------------
# The API gives no memory per size (reference.md section 5.4 lists only the names). The names say it:
# AWS: the family's GiB per vCPU (EC2 instance type pages: c6gd 2; m6gd, m6id, m8gd 4; r6gd, r6id,
# r8gd, i7i, i7ie, i8g, i8ge 8), and the suffix's vCPUs (medium 1, large 2, xlarge 4, Nxlarge 4N).
# GCP: the last number is the vCPUs; GiB per vCPU from the Compute Engine machine-type pages
# (c4a standard 4, highmem 8; c4 standard 3.75, highmem 7.75; c4d standard 3.875, highmem 7.875;
# z3 highmem 8). The names in live-api-2026-10.md section 4 and reference.md both parse.
AWS_GIB_PER_VCPU = {"c6gd": 2, "m6gd": 4, "m6id": 4, "m8gd": 4, "r6gd": 8, "r6id": 8, "r8gd": 8,
                    "i7i": 8, "i7ie": 8, "i8g": 8, "i8ge": 8}
AWS_VCPUS = {"medium": 1, "large": 2, "xlarge": 4}
GCP_GIB_PER_VCPU = {("c4a", "standard"): 4, ("c4a", "highmem"): 8, ("c4", "standard"): 3.75, ("c4", "highmem"): 7.75,
                    ("c4d", "standard"): 3.875, ("c4d", "highmem"): 7.875, ("z3", "highmem"): 8,
                    ("z3", "highlssd"): 8, ("z3", "standardlssd"): 8}
_AWS_SIZE = re.compile(r"^([a-z0-9]+)\.(medium|large|xlarge|([0-9]+)xlarge)$")
_GCP_SIZE = re.compile(r"^(c4a|c4d|c4|z3)-([a-z]+)-(?:[a-z-]*?)([0-9]+)$")
GIB = 1024 ** 3


def size_memory_bytes(size):
    """The memory of a ``pgSize`` in bytes, from its name; None for a name this table cannot read."""
    text = str(size or "").strip().lower()
    match = _AWS_SIZE.match(text)
    if match and match.group(1) in AWS_GIB_PER_VCPU:
        vcpus = int(match.group(3)) * 4 if match.group(3) else AWS_VCPUS[match.group(2)]
        return int(AWS_GIB_PER_VCPU[match.group(1)] * vcpus * GIB)
    match = _GCP_SIZE.match(text)
    if match:
        per_vcpu = GCP_GIB_PER_VCPU.get((match.group(1), match.group(2)))
        if per_vcpu is not None:
            return int(per_vcpu * int(match.group(3)) * GIB)
    return None


# -- input and output --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AdvisorInput:
    """What the advisor reads about one service over one window (all snake_case, as the modules return it).

    ``pg_config`` is what the API's config lists (user-set values); ``patterns`` are the window's slow query
    patterns, each optionally with ``recent_executions`` (its pattern detail); ``connections`` maps a
    ``connection_count`` series label (a connection state) to ``[[unix seconds, value], ...]``.
    ``memory_bytes`` overrides the memory the size's name gives.
    """

    service_id: str
    name: str = None
    size: str = None
    postgres_version: str = None
    window: dict = dataclasses.field(default_factory=dict)
    pg_config: dict = dataclasses.field(default_factory=dict)
    pg_bouncer_config: dict = dataclasses.field(default_factory=dict)
    patterns: list = dataclasses.field(default_factory=list)
    connections: dict = None
    memory_bytes: int = None
    api_calls: int = None  # how many calls gathering it took (for summaries)

    def setting(self, key):
        """(value as text, 'set' or 'default') of a setting the rules read."""
        if key in self.pg_config and self.pg_config[key] is not None:
            return str(self.pg_config[key]), "set"
        return DEFAULTS[key], "default"

    def memory(self):
        """(bytes or None, where it came from)."""
        if self.memory_bytes:
            return int(self.memory_bytes), "given"
        found = size_memory_bytes(self.size)
        return (found, "size %s" % self.size) if found else (None, "unknown size %s" % self.size)

    def effective_settings(self):
        return {key: self.setting(key)[0] for key in sorted(DEFAULTS)}


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One setting change. ``current`` and ``proposed`` are PostgreSQL text (``64MB``, ``10min``, ``on``)."""

    rule: str
    setting: str
    current: str
    proposed: str
    bound: str
    restart_required: bool
    evidence: dict
    reason: str
    current_source: str = "default"  # "set" (the API lists it) or "default" (PostgreSQL's default)
    section: str = "pg_config"
    declined: str = None  # why the policy or the inventory declined it
    limited: str = None  # how the policy limited it (the proposed value was lowered to the policy's bound)

    def to_dict(self):
        return dataclasses.asdict(self)


# -- values ------------------------------------------------------------------------------------


def _number(key, value):
    """The value in the setting's base unit (kB, ms, a count), or None when it cannot be read."""
    try:
        return PG_SETTINGS[key].canonical(value)
    except (SettingValueError, KeyError):
        return None


def format_kb(kb):
    kb = int(kb)
    if kb and kb % (1024 * 1024) == 0:
        return "%dGB" % (kb // (1024 * 1024))
    if kb and kb % 1024 == 0:
        return "%dMB" % (kb // 1024)
    return "%dkB" % kb


def format_ms(ms):
    ms = int(ms)
    for unit, size in (("h", 3600000), ("min", 60000), ("s", 1000)):
        if ms and ms % size == 0:
            return "%d%s" % (ms // size, unit)
    return "%dms" % ms


def _amount(kb):
    """A size for a sentence: ``15.1MB``, ``512kB``."""
    return "%.1fMB" % (kb / 1024.0) if kb >= 1024 else "%dkB" % kb


def pow2_mb_at_least(kb):
    """The smallest power of two of MB holding ``kb``, in kB."""
    mb = max(1, int(math.ceil(kb / 1024.0)))
    return 1 << (mb - 1).bit_length() << 10


def pow2_mb_at_most(kb):
    """The largest power of two of MB within ``kb`` (0 below 1 MB), in kB."""
    mb = int(kb // 1024)
    return (1 << (mb.bit_length() - 1)) << 10 if mb >= 1 else 0


def _in_window(execution, span):
    """Executions outside the window (the detail endpoint has none) do not count; no window: all count."""
    start, end = read_timestamp((span or {}).get("from")), read_timestamp((span or {}).get("to"))
    at = read_timestamp(execution.get("timestamp"))
    if at is None or start is None or end is None:
        return start is None or end is None
    return start <= at < end


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _pattern_ref(pattern, **figures):
    ref = {k: pattern.get(k) for k in ("query_id", "db_name", "db_user", "db_operation", "app")}
    ref["query_text"] = str(pattern.get("query_text") or "")[:QUERY_TEXT_CHARS]
    ref.update(calls=_int(pattern.get("call_count")), total_duration_us=_int(pattern.get("total_duration_us")),
               avg_duration_us=_int(pattern.get("avg_duration_us")), p99_duration_us=_int(pattern.get("p99_duration_us")))
    ref.update(figures)
    return ref


def _executions(pattern, span):
    return [e for e in pattern.get("recent_executions") or () if _in_window(e, span)]


def _current(data, rule):
    """(text, 'set' or 'default', value in the base unit or None) of the setting a rule changes."""
    key = RULE_SETTINGS[rule]
    text, source = data.setting(key)
    return text, source, _number(key, text)


def _proposal(data, rule, current, proposed, reason, evidence, bound=None):
    """The one proposal of a rule, as a list; its restart need and the window are the service's."""
    setting = RULE_SETTINGS[rule]
    return [Proposal(rule=rule, setting=setting, current=current[0], current_source=current[1], proposed=proposed,
                     bound=bound, restart_required=setting in restart_only(data.postgres_version), reason=reason,
                     evidence=dict(evidence, window=dict(data.window)))]


# -- the rules ---------------------------------------------------------------------------------


def _temp_spill(data, max_connections):
    """Sorts and hashes that spill to temp files: a work_mem that holds the largest spill, within the bound."""
    setting = _current(data, "temp_spill")
    current = setting[2]
    memory, memory_source = data.memory()
    if current is None or memory is None or not max_connections:
        return []
    spilling, needed = [], 0
    for pattern in data.patterns:
        executions = _executions(pattern, data.window)
        spills = []
        for execution in executions:
            written = _int(execution.get("temp_blks_written"))
            if written <= 0:
                continue
            processes = 1 + _int(execution.get("parallel_workers_launched"))  # each worker has its own work_mem
            spills.append((written * BLOCK_KB / processes, written, execution))
        if len(spills) < SPILL_MIN_EXECUTIONS or len(spills) < SPILL_MIN_SHARE * len(executions):
            continue
        largest_kb, largest_blocks, _e = max(spills, key=lambda s: s[0])
        if largest_kb < SPILL_MIN_KB:
            continue
        needed = max(needed, largest_kb * SPILL_MEMORY_FACTOR)
        spilling.append(_pattern_ref(
            pattern, executions_seen=len(executions), spilling_executions=len(spills),
            max_temp_blks_written=largest_blocks, max_temp_blks_read=max(_int(s[2].get("temp_blks_read")) for s in spills),
            max_spill_kb_per_process=int(largest_kb),
            avg_spilling_duration_us=sum(_int(s[2].get("duration_us")) for s in spills) // len(spills)))
    if not spilling:
        return []
    bound = min(pow2_mb_at_most(memory / 1024.0 * WORK_MEM_MEMORY_SHARE / max_connections), WORK_MEM_MAX_KB)
    wanted = pow2_mb_at_least(needed)
    proposed = min(wanted, bound)
    if proposed <= current:
        return []
    spilling.sort(key=lambda p: (-p["max_spill_kb_per_process"], str(p["query_id"])))
    reason = ("%d pattern(s) spilled sorts or hashes to temp files in at least half of their recent executions, up to %s "
              "per process; holding that in memory takes about %s (x%s), so work_mem %s (a power of two of MB)."
              % (len(spilling), _amount(spilling[0]["max_spill_kb_per_process"]), _amount(needed),
                 SPILL_MEMORY_FACTOR, format_kb(wanted)))
    if proposed < wanted:
        reason += " Capped at %s: work_mem x max_connections (%d) stays within %d%% of the memory (%s)." % (
            format_kb(bound), max_connections, WORK_MEM_MEMORY_SHARE * 100, format_kb(memory // 1024))
    return _proposal(data, "temp_spill", setting, format_kb(proposed), reason, bound=format_kb(bound), evidence={
        "patterns": spilling[:EVIDENCE_PATTERNS], "patterns_spilling": len(spilling), "needed_kb": int(needed),
        "memory_bytes": memory, "memory_source": memory_source, "max_connections": max_connections})


def connection_totals(connections):
    """{unix seconds: connections} from the ``connection_count`` series: per timestamp, all states together."""
    totals = {}
    for points in (connections or {}).values():
        for timestamp, value in points:
            totals[timestamp] = totals.get(timestamp, 0.0) + float(value or 0)
    return totals


def _connections_near_limit(data):
    setting = _current(data, "connections_near_limit")
    current = setting[2]
    totals = connection_totals(data.connections)
    if not current or not totals:
        return []
    near = sorted(t for t, v in totals.items() if v >= CONNECTIONS_NEAR_SHARE * current)
    if len(near) < CONNECTIONS_MIN_POINTS:
        return []
    peak = max(totals.values())
    wanted = int(math.ceil(peak / CONNECTIONS_TARGET_SHARE / CONNECTIONS_STEP) * CONNECTIONS_STEP)
    work_mem = _number("work_mem", data.setting("work_mem")[0]) or 0
    memory, memory_source = data.memory()
    bound = None
    if memory and work_mem:
        bound = int(memory / 1024.0 * WORK_MEM_MEMORY_SHARE / work_mem) // CONNECTIONS_STEP * CONNECTIONS_STEP
    proposed = min(wanted, bound) if bound is not None else wanted  # a bound of 0: no room at all, not no bound
    if proposed <= current:
        return []
    reason = ("Connections reached %d of max_connections %d (%d%% or more in %d data points); %d puts that peak at %d%%. "
              "Clients that connect through PgBouncer (port 6432) need fewer server connections." % (
                  round(peak), current, CONNECTIONS_NEAR_SHARE * 100, len(near), wanted, CONNECTIONS_TARGET_SHARE * 100))
    if proposed < wanted:
        reason += " Capped at %d: work_mem x max_connections stays within %d%% of the memory." % (
            bound, WORK_MEM_MEMORY_SHARE * 100)
    return _proposal(data, "connections_near_limit", setting, str(proposed), reason, bound=None if bound is None else str(bound),
                     evidence={"patterns": [], "peak_connections": round(peak, 2), "points_near_limit": len(near),
                               "points": len(totals), "first_near": near[0], "last_near": near[-1],
                               "memory_bytes": memory, "memory_source": memory_source})


def _longest_run(points, minimum):
    """(seconds, points) of the longest run of consecutive data points at or above ``minimum``.

    A point covers one bucket (the smallest gap between points); a missing point breaks a run.
    """
    points = sorted((int(t), float(v or 0)) for t, v in points)
    step = min((b[0] - a[0] for a, b in zip(points, points[1:])), default=0)
    best, first, count, previous = (0, 0), None, 0, None
    for timestamp, value in points:
        if value < minimum:
            first, count = None, 0
        elif first is None or timestamp - previous > step:
            first, count = timestamp, 1
        else:
            count += 1
        previous = timestamp
        if first is not None:
            best = max(best, (timestamp - first + step, count))
    return best


def _idle_in_transaction(data):
    setting = _current(data, "idle_in_transaction")
    current = setting[2]
    if current is None or 0 < current <= IDLE_TX_TIMEOUT_MS:
        return []
    series = {}
    for state in IDLE_TX_STATES:
        for timestamp, value in (data.connections or {}).get(state) or ():
            series[timestamp] = series.get(timestamp, 0.0) + float(value or 0)
    seconds, points = _longest_run(series.items(), IDLE_TX_MIN_SESSIONS)
    if seconds < IDLE_TX_MIN_SECONDS:
        return []
    reason = ("Sessions sat idle in a transaction for %d s without a break (%d data points); they hold locks and keep "
              "vacuum from cleaning up. A timeout of %s ends such sessions (%s)." % (
                  seconds, points, format_ms(IDLE_TX_TIMEOUT_MS), "it is disabled now" if current == 0 else "now %s" % setting[0]))
    return _proposal(data, "idle_in_transaction", setting, format_ms(IDLE_TX_TIMEOUT_MS), reason, evidence={
        "patterns": [], "longest_idle_in_transaction_seconds": seconds, "points": points,
        "peak_idle_in_transaction": round(max(series.values()), 2)})


def _lock_waits(data):
    setting = _current(data, "lock_waits")
    if setting[2] != "off":  # on, or unreadable
        return []
    found = []
    for pattern in data.patterns:
        errors, waiting = {}, 0
        for execution in _executions(pattern, data.window):
            state = execution.get("err_sqlstate")
            if state in LOCK_SQLSTATES:
                errors[state] = errors.get(state, 0) + 1
                continue
            duration = _int(execution.get("duration_us"))
            cpu = _int(execution.get("cpu_user_time_us")) + _int(execution.get("cpu_sys_time_us"))
            blocks = sum(_int(execution.get(k)) for k in ("shared_blks_read", "temp_blks_read", "temp_blks_written"))
            if duration >= WAIT_MIN_DURATION_US and cpu <= WAIT_MAX_CPU_SHARE * duration and blocks <= WAIT_MAX_BLOCKS:
                waiting += 1
        if errors or waiting >= WAIT_MIN_EXECUTIONS:
            found.append(_pattern_ref(pattern, lock_errors={LOCK_SQLSTATES[k]: v for k, v in sorted(errors.items())},
                                      waiting_executions=waiting))
    if not found:
        return []
    found.sort(key=lambda p: (-sum(p["lock_errors"].values()), -p["waiting_executions"], str(p["query_id"])))
    reason = ("%d pattern(s) failed on locks, or ran %s or more with %d%% of the time neither on CPU nor reading; "
              "log_lock_waits logs every lock wait longer than deadlock_timeout, and who held the lock."
              % (len(found), format_ms(WAIT_MIN_DURATION_US // 1000), (1 - WAIT_MAX_CPU_SHARE) * 100))
    return _proposal(data, "lock_waits", setting, "on", reason,
                     evidence={"patterns": found[:EVIDENCE_PATTERNS], "patterns_waiting": len(found)})


def _slow_statements(data):
    setting = _current(data, "slow_statements")
    current = setting[2]
    if current is None or 0 <= current <= LOG_MIN_DURATION_MS:
        return []
    slow = [_pattern_ref(p) for p in data.patterns
            if _int(p.get("p99_duration_us")) >= P99_SLOW_US and _int(p.get("call_count")) >= P99_MIN_CALLS]
    if not slow:
        return []
    slow.sort(key=lambda p: (-p["p99_duration_us"], str(p["query_id"])))
    reason = ("%d pattern(s) had a p99 of %s or more over %d or more calls; logging every statement that takes %s or "
              "more puts each slow one, with its parameters, in the server log (%s)." % (
                  len(slow), format_ms(P99_SLOW_US // 1000), P99_MIN_CALLS, format_ms(LOG_MIN_DURATION_MS),
                  "disabled now" if current < 0 else "now %s" % setting[0]))
    return _proposal(data, "slow_statements", setting, format_ms(LOG_MIN_DURATION_MS), reason,
                     evidence={"patterns": slow[:EVIDENCE_PATTERNS], "patterns_slow": len(slow)})


def check_rules(rules):
    """The rule names, checked; None means all."""
    if rules is None:
        return list(RULES)
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise InputError("Unknown tuning rule(s) %s; the rules are %s." % (", ".join(unknown), ", ".join(RULES)))
    return [r for r in RULES if r in rules]


def advise(data, rules=None):
    """The proposals for one service, in the order of ``RULES``."""
    rules = check_rules(rules)
    proposals = []
    if "connections_near_limit" in rules:
        proposals.extend(_connections_near_limit(data))
    max_connections = _number("max_connections", data.setting("max_connections")[0])
    raised = [p for p in proposals if p.setting == "max_connections"]
    if raised:  # work_mem's bound follows the limit the proposals raise
        max_connections = int(raised[0].proposed)
    if "temp_spill" in rules:
        proposals.extend(_temp_spill(data, max_connections))
    if "idle_in_transaction" in rules:
        proposals.extend(_idle_in_transaction(data))
    if "lock_waits" in rules:
        proposals.extend(_lock_waits(data))
    if "slow_statements" in rules:
        proposals.extend(_slow_statements(data))
    order = {rule: n for n, rule in enumerate(RULES)}
    return sorted(proposals, key=lambda p: (order[p.rule], p.setting))


# -- policy and inventory ----------------------------------------------------------------------


def _check_policy(policy):
    policy = dict(policy or {})
    unknown = sorted(set(policy) - {"rules", "bounds", "allow_restart"})
    if unknown:
        raise InputError("Unknown tuning policy key(s) %s; a policy has rules, bounds and allow_restart." % ", ".join(unknown))
    rules = check_rules(policy.get("rules"))
    bounds = {}
    for key, value in sorted((policy.get("bounds") or {}).items()):
        if DIRECTION.get(key) not in ("raise", "lower"):
            raise InputError("The tuning policy bounds %s, which no rule raises or lowers; bounds take %s." % (
                key, ", ".join(sorted(k for k, d in DIRECTION.items() if d != "switch"))))
        try:  # as postgres_config checks a value it sends: the bound may become the proposed value
            number = PG_SETTINGS[key].check_input(value)
        except SettingValueError as exc:
            raise InputError("The tuning policy's bound for %s (%r) is not a value %s takes: it %s." % (key, value, key, exc)) from None
        bounds[key] = (number, str(value))
    return rules, bounds, bool(policy.get("allow_restart", False))


def within_policy(proposals, policy):
    """(accepted, declined): proposals the policy allows, some lowered to its bounds, and the rest with reasons.

    ``policy``: ``rules`` (None: all), ``bounds`` ({setting: value}: how far; the highest value for settings the
    rules raise, the lowest for the timeouts and thresholds they lower), ``allow_restart`` (default False).
    """
    rules, bounds, allow_restart = _check_policy(policy)
    accepted, declined = [], []
    for proposal in proposals:
        if proposal.rule not in rules:
            declined.append(dataclasses.replace(proposal, declined="the policy does not enable rule %s" % proposal.rule))
            continue
        if proposal.restart_required and not allow_restart:
            declined.append(dataclasses.replace(
                proposal, declined="%s needs a restart, and the policy does not allow restarts" % proposal.setting))
            continue
        if proposal.setting in bounds:
            outcome = _bounded(proposal, *bounds[proposal.setting])
            (declined if outcome.declined else accepted).append(outcome)
            continue
        accepted.append(proposal)
    return accepted, declined


def _bounded(proposal, limit, limit_text):
    key = proposal.setting
    current, proposed = _number(key, proposal.current), _number(key, proposal.proposed)
    if DIRECTION[key] == "raise":
        if current is not None and limit <= current:
            return dataclasses.replace(proposal, declined="the policy's bound %s for %s does not allow raising it from %s"
                                                          % (limit_text, key, proposal.current))
        if proposed > limit:
            return dataclasses.replace(proposal, proposed=limit_text, limited="lowered from %s to the policy's bound %s"
                                                                              % (proposal.proposed, limit_text))
        return proposal
    disabled = current is not None and current <= 0  # 0 / -1: the timeout or the logging is off
    if current is not None and not disabled and current <= limit:
        return dataclasses.replace(proposal, declined="the policy's bound %s for %s does not allow lowering it from %s"
                                                      % (limit_text, key, proposal.current))
    if proposed < limit:
        return dataclasses.replace(proposal, proposed=limit_text, limited="raised from %s to the policy's bound %s"
                                                                          % (proposal.proposed, limit_text))
    return proposal


def merge_with_inventory(proposals, inventory_pg_config):
    """(kept, declined): the inventory wins, so a setting it lists is never proposed over."""
    inventory = inventory_pg_config or {}
    kept, declined = [], []
    for proposal in proposals:
        if proposal.setting in inventory:
            declined.append(dataclasses.replace(
                proposal, declined="set by inventory (%s: %s)" % (proposal.setting, inventory[proposal.setting])))
        else:
            kept.append(proposal)
    return kept, declined


def decide(proposals, policy, inventory_pg_config):
    """``(taken, declined)``: what the policy allows and the inventory does not set (the inventory wins), and the
    rest with its reason, in the advisor's order. The one judgement of the advice module and the fleet call."""
    allowed, refused = within_policy(proposals, policy)
    taken, overridden = merge_with_inventory(allowed, inventory_pg_config)
    return taken, sorted(refused + overridden, key=lambda p: (RULES.index(p.rule), p.setting))
