# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""A whole fleet of services in one call: one listing, the engine's comparison per member, only the
writes needed, credentials stored as each create answers, one listing per poll while waiting.

``plan_fleet`` is pure (table-tested); ``FleetRun`` carries the plan out on a ``PostgresApi``.
A member is one inventory host's service; a member's failure (an immutable change, an
ambiguous name, a refused write) is that member's only, and the others go on.
"""

from __future__ import annotations

import os
import time

from ._engine import diff_of, plan_update
from ._errors import AmbiguousError, ClickHouseError, ImmutableError, InputError, LostAnswerError
from ._create_lock import CreateLock
from ._credentials import connection_details, credentials_path, write_credentials
from ._resources import SERVICE

CREATE, UPDATE, DELETE, NONE = "create", "update", "delete", "none"


class MemberPlan:
    """What the fleet call does for one member, and then what came of it."""

    def __init__(self, host, name, state):
        self.host = host
        self.name = name
        self.state = state  # present / absent
        self.action = NONE
        self.current = None
        self.desired = {}
        self.changes = {}
        self.predicted = None
        self.diff = {"before": {}, "after": {}}
        self.error = None  # a ClickHouseError: the member failed
        self.wrote = False  # a write reached the server, or may have
        self.service = None
        self.credentials = None  # a create's connection details, when there is no directory to keep them
        self.credentials_file = None
        self.warnings = []

    @property
    def changed(self):
        return self.action != NONE and (self.error is None or self.wrote)

    def outcome(self):
        """The per-host result the role reports; secrets only in ``credentials``, and only when nothing kept them."""
        service = self.service if self.service is not None else self.predicted if self.predicted is not None else self.current
        out = {"name": self.name, "action": self.action, "changed": self.changed, "diff": self.diff,
               "service": {k: v for k, v in service.items() if k not in SERVICE.secrets} if service else None,
               "credentials_file": self.credentials_file, "failed": self.error is not None, "warnings": self.warnings}
        if self.credentials is not None:
            out["credentials"] = self.credentials
        if self.error is not None:
            out["msg"] = "%s: %s" % (self.name, self.error.message)
            out["failure"] = self.error.failure()
        return out


def check_unique_names(members):
    """Two hosts naming one service would fight over it: refuse the fleet before anything is sent."""
    hosts_by_name = {}
    for member in members:
        hosts_by_name.setdefault(member["name"], []).append(member["host"])
    shared = {name: hosts for name, hosts in hosts_by_name.items() if len(hosts) > 1}
    if shared:
        raise InputError("Each host must name a service of its own; these names are shared: %s." % "; ".join(
            "%s (hosts %s)" % (name, ", ".join(sorted(hosts))) for name, hosts in sorted(shared.items())),
            shared=shared)


def plan_fleet(listing, members):
    """Plan every member against one listing; pure.

    ``members``: dicts with ``host``, ``state`` (present/absent), ``purge`` (``SERVICE.purge``), ``public``
    and the service's validated desired fields (``SERVICE.desired``).
    """
    check_unique_names(members)
    by_name = {}
    for service in listing:
        by_name.setdefault(service.get("name"), []).append(service)
    return [_plan_member(member, by_name.get(member["name"], [])) for member in members]


def _plan_member(member, same_name):
    host, name = member["host"], member["name"]
    plan = MemberPlan(host, name, member.get("state", "present"))
    if len(same_name) > 1:
        ids = [s.get("id") for s in same_name]
        plan.error = AmbiguousError(SERVICE.kind, name, ids)
        plan.error.message += (". Two services share the name, so the fleet cannot tell which one is %s's: delete or "
                               "rename the one that should not be there (clickhouse.cloud.postgres_service with its id), "
                               "then run again" % host)
        return plan
    current = same_name[0] if same_name else None
    plan.current = current
    desired = {k: member.get(k) for k in (f.name for f in SERVICE.options)}
    plan.desired = desired
    if plan.state == "absent":
        if current is not None:
            plan.action = DELETE
            plan.diff = diff_of(current, {}, SERVICE.secrets)
        return plan
    if current is None:
        missing = SERVICE.missing_to_create(desired)
        if missing:
            plan.error = InputError("to create it, set %s" % ", ".join(missing), missing=missing)
            return plan
        if desired.get("ip_access_list") is None and not member.get("public"):
            plan.error = InputError(
                "it would be created open to every address (the API's default without access rules). Give its rules "
                "(postgres_fleet_ip_access_list, for example [{source: 10.0.0.0/8}]), [] for no public access, or say "
                "that it is public (postgres_fleet_public: true). Nothing was sent for it")
            return plan
        plan.action = CREATE
        plan.predicted = SERVICE.predict_create(desired, ready=True)
        plan.diff = diff_of({}, plan.predicted, SERVICE.secrets)
        return plan
    try:
        update = plan_update(SERVICE, current, desired, member.get("purge") or {})
    except ImmutableError as exc:
        plan.error = exc
        return plan
    if update.changed:
        plan.action, plan.changes, plan.predicted = UPDATE, update.changes, update.predicted
        plan.diff = diff_of(update.before, update.after, SERVICE.secrets)
    return plan


def poll_interval(waited, first=1.0, share=0.1, cap=15.0):
    """Seconds to the next poll: short while a service may be about to run, longer the longer it takes.

    Every poll is one listing for the whole fleet, so polling often costs one request, not one per
    service; a tenth of the time waited so far keeps the lateness of the last poll to about 10 %.
    """
    return max(first, min(cap, waited * share))


class FleetRun:
    """Carries out a fleet plan on a ``PostgresApi``: writes, credentials, then the wait."""

    def __init__(self, api, check_mode=False, credentials_dir=None, wait=True, wait_timeout=1800,
                 clock=time.monotonic, sleep=time.sleep, say=None):
        self.api = api
        self.check_mode = check_mode
        self.credentials_dir = credentials_dir or None
        self.wait = wait
        self.wait_timeout = float(wait_timeout)
        self._clock, self._sleep = clock, sleep
        self._say = say or (lambda text: None)
        self.polls = 0

    def listing(self):
        return [s.to_result() for s in self.api.list_services()]

    def with_rules(self, listing, members):
        """List items lack the access rules: read the services whose members declare rules (one GET each)."""
        declared = {m["name"] for m in members if m.get("ip_access_list") is not None}
        named = {}
        for service in listing:
            named.setdefault(service.get("name"), []).append(service)
        completed = []
        for service in listing:
            if service.get("name") in declared and len(named[service.get("name")]) == 1 \
                    and service.get("ip_access_list") is None:
                service = self.api.get_service(service["id"]).to_result()
            completed.append(service)
        return completed

    def run(self, members):
        """Plan from one listing and apply; returns the member plans with their outcomes.

        The names of the members to create are locked (``CreateLock``) from the listing until their creates
        have answered, so a second run on this controller lists after them and creates no duplicate.
        """
        with CreateLock(self.api.transport.base_url, self.api.organization_id) as lock:
            if not self.check_mode:
                lock.acquire(m["name"] for m in members if m.get("state", "present") == "present")
            plans = plan_fleet(self.with_rules(self.listing(), members), members)
            todo = [p for p in plans if p.action != NONE and p.error is None]
            if not self.check_mode:
                if todo:
                    self._say("%d of %d services to change: %s" % (len(todo), len(plans), _counts(todo)))
                for plan in todo:
                    self._apply(plan)
        if not self.check_mode and self.wait:
            self._wait([p for p in todo if p.error is None])
        self._warn_unkept(plans)
        return plans

    def _apply(self, plan):
        try:
            if plan.action == CREATE:
                answer = self.api.create_service(plan.desired).to_result()
                plan.wrote = True
                plan.service = answer
                self._keep_credentials(plan, answer)
            elif plan.action == UPDATE:
                answer = self.api.patch_service(plan.current["id"], plan.changes, plan.current).to_result()
                plan.wrote = True
                plan.service = dict(plan.current, **{k: v for k, v in answer.items() if v is not None})
            elif plan.action == DELETE:
                self.api.delete_service(plan.current["id"])
                plan.wrote = True
                plan.service = None
                self._forget_credentials(plan)
        except ClickHouseError as exc:
            status = getattr(exc, "status", None)
            refused = status is not None and 400 <= status < 500 and not isinstance(exc, LostAnswerError)
            plan.wrote = plan.wrote or not refused
            plan.error = exc

    def _keep_credentials(self, plan, answer):
        """Store a new service's password at once; with no directory, hand it back (the role keeps it under no_log)."""
        if answer.get("password") is None:
            return
        if self.credentials_dir:
            try:
                plan.credentials_file = write_credentials(self.credentials_dir, plan.name, answer)
                return
            except OSError as exc:
                plan.warnings.append("%s was created, but its connection details could not be written to %s (%s): "
                                     "they are in this run's postgres_fleet_credentials only" % (
                                         plan.name, self.credentials_dir, exc))
        plan.credentials = connection_details(answer)
        plan.warnings.append("%s was created; its password, which the API shows only once, is in the fact "
                             "postgres_fleet_credentials for the rest of this run only: store it now, or set "
                             "credentials_dir so the next run keeps it for you" % plan.name)

    def _forget_credentials(self, plan):
        """A deleted service's stored password is no use any more, and a secret less on disk."""
        if self.credentials_dir:
            path = credentials_path(self.credentials_dir, plan.name)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                plan.warnings.append("%s was deleted, but %s could not be removed: %s" % (plan.name, path, exc))

    def _warn_unkept(self, plans):
        """A managed service whose password is stored nowhere is a lock-out waiting to happen: say so on every run."""
        if not self.credentials_dir:
            return
        for plan in plans:
            if plan.state == "present" and plan.action != CREATE and plan.current is not None and plan.error is None \
                    and not os.path.exists(credentials_path(self.credentials_dir, plan.name)):
                plan.warnings.append("%s has no stored connection details in %s (its password was lost or never kept): "
                                     "set a new one with clickhouse.cloud.postgres_password" % (plan.name, self.credentials_dir))

    def _settled(self, plan, found):
        """True when the listing shows the member as wanted: running with its changes, or gone."""
        if plan.action == DELETE:
            return found is None
        if found is None or found.get("state") != SERVICE.ready_state:
            return False
        return SERVICE.matches(found, plan.changes if plan.action == UPDATE else {})

    def _wait(self, pending):
        """One listing per poll for all pending members, until each has settled or the deadline."""
        start = self._clock()
        deadline = start + self.wait_timeout
        total = len(pending)
        while pending:
            self._sleep(min(poll_interval(self._clock() - start), max(0.0, deadline - self._clock())))
            listing = {s.get("id"): s for s in self.listing()}
            self.polls += 1
            still = []
            for plan in pending:
                found = listing.get((plan.service or plan.current or {}).get("id"))
                if found is not None:
                    plan.service = _keep_secrets(plan.service, found)
                if not self._settled(plan, found):
                    still.append(plan)
                elif plan.action == DELETE:
                    plan.service = None
            if len(still) != len(pending):
                self._say("%d of %d services settled after %.0f s%s" % (
                    total - len(still), total, self._clock() - start, "; waiting for %s" % _names(still) if still else ""))
            pending = still
            if pending and self._clock() >= deadline:
                for plan in pending:
                    plan.error = ClickHouseError(
                        "timed out after %.0f s waiting for it to be %s (state now %s); the change was sent: run again, "
                        "or raise the wait timeout, to keep waiting" % (
                            self.wait_timeout, "gone" if plan.action == DELETE else "running as wanted",
                            (plan.service or {}).get("state", "gone")), waited=round(self._clock() - start, 1))
                return


def _keep_secrets(earlier, later):
    merged = dict(later)
    for key in SERVICE.secrets:
        if (earlier or {}).get(key) is not None and merged.get(key) is None:
            merged[key] = earlier[key]
    return merged


def _counts(plans):
    counts = {}
    for plan in plans:
        counts[plan.action] = counts.get(plan.action, 0) + 1
    return ", ".join("%d to %s" % (n, action) for action, n in sorted(counts.items()))


def _names(plans, most=5):
    names = sorted(p.name for p in plans)
    return ", ".join(names[:most]) + (" and %d more" % (len(names) - most) if len(names) > most else "")
