# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The settings of a whole fleet in one call, with restarts rolled in waves.

One listing finds every member's service; each member with settings costs one read of its
configuration and, when something differs, one write. Services whose change needs a
restart are restarted ``max_restarting`` at a time, each wave waited for (one listing per
poll) before the next starts, so a tuning run never takes the whole fleet down together.

A member with an advice policy also gets the advisor's proposals (``_advisor``), from the
inputs ``_advisor_inputs.gather`` reads for it: the proposals the policy allows and the
inventory does not set are added to its settings, then planned, written and restarted like
them. Every proposal is in the member's outcome with its evidence and what became of it.
"""

from __future__ import annotations

import time

from ._advisor import RULES, advise, decide, within_policy
from ._advisor_inputs import gather
from ._config import ConfigPlan, restart_decision, write_config
from ._engine import WaitReport
from ._errors import AmbiguousError, ClickHouseError, LostAnswerError
from ._fleet import poll_interval
from ._resources import SERVICE
from ._restarts import OwedRestarts
from ._service import settled_after_command
from ._settings import check_pg_config
from ._windows import window

# What became of a proposal, for the outcome and the lines a person reads.
APPLY, APPLIED, NOT_APPLIED, UNCERTAIN, DECLINED = "apply", "applied", "not_applied", "uncertain", "declined"
POLICY_KEYS = ("rules", "bounds", "allow_restart")
DEFAULT_WINDOW = "24h"

CONFIGURE, NONE = "configure", "none"


def check_advice(advice):
    """An advice policy checked before any request (InputError): its rules, bounds and window. None: no advice.

    ``advice``: ``rules`` (None: every rule), ``bounds`` ({setting: value}), ``allow_restart`` (default False) and
    ``window`` (how far back the insights are read, as a window's ``from``: ``24h``, ``7d`` or RFC 3339).
    """
    if advice is None:
        return None
    policy = {k: advice[k] for k in POLICY_KEYS if advice.get(k) is not None}
    within_policy([], policy)
    since = advice.get("window") or DEFAULT_WINDOW
    window(since, "now")
    return dict(policy, window=since)


def advice_plan(proposals, policy, desired):
    """``(desired, entries)``: the member's desired sections with the proposals it takes, and every proposal with
    what becomes of it (``[(Proposal, APPLY or DECLINED)]``, in the advisor's order).

    The policy declines what its rules, bounds and restarts do not allow; the inventory's ``pg_config`` wins over
    the rest. A member with no Postgres settings and nothing taken keeps its section alone (None).
    """
    kept, declined = decide(proposals, {k: policy.get(k) for k in POLICY_KEYS}, desired.get("pg_config"))
    if kept:
        check_pg_config({p.setting: p.proposed for p in kept})  # a value the API would refuse is never sent
    entries = [(p, APPLY) for p in kept] + [(p, DECLINED) for p in declined]
    entries.sort(key=lambda entry: (RULES.index(entry[0].rule), entry[0].setting))
    if not kept:
        return desired, entries
    return dict(desired, pg_config=dict(desired.get("pg_config") or {}, **{p.setting: p.proposed for p in kept})), entries


def _figures(figures, skip=()):
    return ", ".join("%s %s" % (k, v) for k, v in figures.items()
                     if k not in skip and isinstance(v, (int, float, str)) and not isinstance(v, bool) and v != "")


def advice_lines(entries):
    """Lines a person reads: each proposal, what became of it and why, then its evidence (from ``outcome()``)."""
    if not entries:
        return ["no proposals: nothing in the window's insights calls for a change"]
    lines = []
    for entry in entries:
        status = {APPLIED: "applied", APPLY: "would apply", NOT_APPLIED: "not applied: the service failed",
                  UNCERTAIN: "uncertain: the write failed after it may have landed; run again to see"}.get(
            entry["status"], "declined: %s" % entry.get("declined"))
        lines.append("%s %s (%s) -> %s [%s; %s%s; %s]: %s" % (
            entry["setting"], entry["current"], entry.get("current_source") or "set", entry["proposed"], entry["rule"],
            "bound %s, " % entry["bound"] if entry.get("bound") else "",
            "needs a restart" if entry["restart_required"] else "no restart",
            status + (" (%s)" % entry["limited"] if entry.get("limited") else ""), entry["reason"]))
        evidence = entry.get("evidence") or {}
        for pattern in evidence.get("patterns") or ():
            lines.append("  evidence: pattern %s (%s by %s in %s%s) %r: %s" % (
                pattern.get("query_id"), pattern.get("db_operation"), pattern.get("db_user"), pattern.get("db_name"),
                ", app %s" % pattern["app"] if pattern.get("app") else "", pattern.get("query_text"),
                _figures(pattern, skip=("query_id", "db_operation", "db_user", "db_name", "app", "query_text"))))
        rest = _figures(evidence)
        span = evidence.get("window") or {}
        if span.get("from"):
            rest += "%swindow %s to %s" % ("; " if rest else "", span["from"], span.get("to"))
        if rest:
            lines.append("  evidence: %s" % rest)
    return lines


class ConfigMember:
    """One member's settings: what was planned, and what came of it."""

    def __init__(self, member):
        self.host = member["host"]
        self.name = member["name"]
        self.desired = {"pg_config": member.get("pg_config"), "pg_bouncer_config": member.get("pg_bouncer_config")}
        self.advice = member.get("advice")  # a policy checked by check_advice, or None: no advice
        self.span = None  # the window the advice read
        self.proposals = []  # (Proposal, status), in the advisor's order
        self.service = None
        self.plan = None
        self.restart_keys = []
        self.restart_wanted = self.restarted = self.restart_required = False
        self.owed = []  # settings whose restart an earlier run owed
        self.message = None
        self.error = None
        self.wrote = False
        self.write_failed = False  # the config write itself failed (not a later restart)
        self.warnings = []

    @property
    def has_settings(self):
        return self.advice is not None or any(v is not None for v in self.desired.values())

    @property
    def action(self):
        return CONFIGURE if self.plan is not None and self.plan.changed else NONE

    @property
    def changed(self):
        return (self.action != NONE or self.restarted) and (self.error is None or self.wrote or self.restarted)

    def _status(self, planned):
        """A taken proposal is applied once written; a failure before the write leaves it not applied, a failed
        write that may have landed (a 5xx, a lost answer) leaves it uncertain."""
        if planned != APPLY:
            return planned
        if self.write_failed:
            return UNCERTAIN if self.wrote else NOT_APPLIED
        return APPLIED if self.wrote else NOT_APPLIED if self.error is not None else APPLY

    def outcome(self):
        out = {"name": self.name, "action": self.action, "changed": self.changed, "failed": self.error is not None,
               "diff": self.plan.diff() if self.plan is not None else {"before": {}, "after": {}},
               "service": {k: v for k, v in self.service.items() if k not in SERVICE.secrets} if self.service else None,
               "config": self.plan.after if self.plan is not None else None,
               "changed_keys": self.plan.changed_keys if self.plan is not None else [],
               "restarted": self.restarted, "restart_required": self.restart_required, "message": self.message,
               "warnings": self.warnings}
        if self.advice is not None:
            entries = [dict(p.to_dict(), status=self._status(status)) for p, status in self.proposals]
            out["advice"] = {"window": self.span, "proposals": entries, "lines": advice_lines(entries)}
        if self.error is not None:
            out["msg"] = "%s: %s" % (self.name, self.error.message)
            out["failure"] = self.error.failure()
        return out


class ConfigFleetRun:
    """Plan and apply the settings of every member, then restart in waves."""

    def __init__(self, api, check_mode=False, replace=False, restart="if_required", max_restarting=1, wait=True,
                 wait_timeout=600, clock=time.monotonic, sleep=time.sleep, say=None, wall_clock=time.time):
        self.api = api
        self.check_mode = check_mode
        self.replace = replace
        self.restart = restart
        self.max_restarting = max(1, int(max_restarting))
        self.wait = wait
        self.wait_timeout = float(wait_timeout)
        self._clock, self._sleep, self._wall_clock = clock, sleep, wall_clock
        self._say = say or (lambda text: None)
        self.polls = 0
        self.owed = OwedRestarts(api.transport.base_url, api.organization_id)

    def run(self, members):
        members = [ConfigMember(m) for m in members]
        by_name = {}
        for service in (s.to_result() for s in self.api.list_services()):
            by_name.setdefault(service.get("name"), []).append(service)
        for member in members:
            if member.has_settings:
                self._plan(member, by_name.get(member.name, []))
        if self.check_mode:
            return members
        changed = [m for m in members if m.action == CONFIGURE and m.error is None]
        if changed:
            self._say("settings to change on %d of %d services" % (len(changed), len(members)))
        for member in changed:
            self._write(member)
        owed_only = [m for m in members if m.action == NONE and m.error is None and m.restarted]  # an earlier run's
        self._restart_in_waves([m for m in changed if m.restarted and m.error is None] + owed_only)
        return members

    def _plan(self, member, same_name):
        if len(same_name) > 1:
            member.error = AmbiguousError(SERVICE.kind, member.name, [s.get("id") for s in same_name])
            return
        if not same_name:
            if self.check_mode:  # a check-mode provisioning run only predicted it
                member.warnings.append("%s does not exist yet, so its settings cannot be compared (check mode)" % member.name)
            else:
                member.error = ClickHouseError("no Postgres service named %r in this organization" % member.name)
            return
        member.service = same_name[0]
        desired = member.desired
        try:
            if member.advice is None:
                current = self.api.get_config(member.service["id"]).to_result()
            else:  # the advisor's inputs include the configuration: no second read
                member.span = window(member.advice["window"], "now", clock=self._wall_clock)
                data = gather(self.api, member.service, member.span)
                current = {"pg_config": data.pg_config, "pg_bouncer_config": data.pg_bouncer_config}
                desired, member.proposals = advice_plan(advise(data), member.advice, member.desired)
        except ClickHouseError as exc:
            member.error = exc
            return
        member.plan = ConfigPlan(current, desired, self.replace)
        member.owed = self.owed.keys(member.service["id"])
        self._decide(member, sorted(set(member.plan.restart_keys(member.service.get("postgres_version"))) | set(member.owed)))

    def _decide(self, member, restart_keys):
        member.restart_keys = restart_keys
        member.restart_wanted, member.restarted, member.restart_required = restart_decision(
            self.restart, member.plan, restart_keys, member.service.get("state") == "running", self.wait)
        if member.restart_wanted and not member.restarted:
            member.warnings.append("%s is %s, so it %s restarted; restart it once it is running" % (
                member.name, member.service.get("state"), "would not be" if self.check_mode else "was not"))

    def _write(self, member):
        try:
            answer = write_config(self.api, member.service["id"], member.plan, self.replace)
        except ClickHouseError as exc:
            status = getattr(exc, "status", None)
            member.wrote = not (status is not None and 400 <= status < 500 and not isinstance(exc, LostAnswerError))
            member.error = exc
            member.write_failed = True
            member.restarted = False
            return
        member.wrote = True
        member.message = answer.message or None
        # the API's message may name more settings that need a restart than the catalogue knows
        self._decide(member, sorted(set(member.plan.restart_keys(member.service.get("postgres_version"), answer.message))
                                    | set(member.owed)))
        if member.restart_required:
            self.owed.owe(member.service["id"], member.restart_keys)

    def _restart_in_waves(self, members):
        for start in range(0, len(members), self.max_restarting):
            wave = members[start:start + self.max_restarting]
            self._say("restarting %s (%d of %d)" % (", ".join(m.name for m in wave), start + len(wave), len(members)))
            sent = []
            for member in wave:
                try:
                    self.api.set_state(member.service["id"], "restart")
                    sent.append(member)
                except ClickHouseError as exc:
                    exc.message += ("; its settings were written and the restart they need is owed (remembered on this "
                                    "controller): run again to restart it")
                    member.error, member.restarted, member.restart_required = exc, False, True
                    self.owed.owe(member.service["id"], member.restart_keys)
            if self.wait:
                self._wait_running(sent)
            for member in sent:
                if member.error is None:
                    self.owed.settle(member.service["id"])
                else:
                    self.owed.owe(member.service["id"], member.restart_keys)

    def _wait_running(self, members):
        """One listing per poll until each has restarted and runs again (``settled_after_command``'s rule)."""
        start = self._clock()
        deadline = start + self.wait_timeout
        done = settled_after_command("restart")
        reports = {m.host: WaitReport("%s to restart" % m.name) for m in members}
        for report in reports.values():
            report.saw("running")  # what each read before its restart was sent
        pending = list(members)
        while pending:
            self._sleep(min(poll_interval(self._clock() - start), max(0.0, deadline - self._clock())))
            listing = {s.get("id"): s for s in (x.to_result() for x in self.api.list_services())}
            self.polls += 1
            still = []
            for member in pending:
                found = listing.get(member.service["id"])
                report = reports[member.host]
                report.polls += 1
                report.saw((found or {}).get("state", "gone"))
                if found is not None:
                    member.service = found
                if not done(found, report):
                    still.append(member)
            pending = still
            if pending and self._clock() >= deadline:
                for member in pending:
                    member.error = ClickHouseError(
                        "timed out after %.0f s waiting for it to run again after its restart (states seen: %s); run "
                        "again to keep waiting" % (self.wait_timeout, " -> ".join(reports[member.host].states)))
                return
