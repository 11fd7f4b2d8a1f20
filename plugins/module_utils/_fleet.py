# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""A whole fleet of services in one call: one listing, the engine's comparison per member, only the
writes needed, credentials stored as each create answers, one listing per poll while waiting.

``plan_fleet`` is pure (table-tested); ``FleetRun`` carries the plan out on a ``PostgresApi``.
A member is one inventory host's service; a member's failure (an immutable change, an
ambiguous name, a refused write) is that member's only, and the others go on.

A member with ``replica_of`` is a read replica of that primary (a member of the same call, or a
service of the organization). The order is the API's: a replica is created once its primary runs
and the API takes replicas of it (a fresh primary refuses them, 400 "not ready", until its first
backup), and a primary is deleted once the replicas this call deletes are gone (the API refuses to
delete a primary that has replicas). Those writes wait in the same call, between its polls.
"""

from __future__ import annotations

import os
import time

from ._create_lock import CreateLock
from ._credentials import connection_details, credentials_path, write_credentials
from ._engine import diff_of, plan_update
from ._errors import AmbiguousError, ApiError, ClickHouseError, ImmutableError, InputError, LostAnswerError
from ._resources import SERVICE

CREATE, UPDATE, DELETE, NONE = "create", "update", "delete", "none"
# what a read replica takes from its primary (and it has no standbys: ha_type none)
FROM_PRIMARY = tuple(name for name in SERVICE.inherited if name != "ha_type")


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
        self.replica_of = None  # a read replica: its primary as the inventory names it
        self.primary = None  # ... the member plan of that primary, when it is a member of the call
        self.primary_service = None  # ... or the primary as the listing shows it
        self.purge = {}
        self.waiting = None  # what its deferred write waits for
        self.after = []  # plans whose services must be gone before this one's write (replicas before their primary)

    @property
    def deferred(self):
        """Its write waits for others: a replica's create for its primary, a primary's delete for replicas."""
        return (self.action == CREATE and self.replica_of is not None) or (self.action == DELETE and bool(self.after))

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

    ``members``: dicts with ``host``, ``state`` (present/absent), ``purge`` (``SERVICE.purge``), ``public``,
    ``replica_of`` (a primary's name or id, for a read replica) and the service's validated desired fields
    (``SERVICE.desired``). Plans come back in the members' order; primaries are planned first, so a replica's
    plan can take its primary's (its values, and whether it fails).
    """
    check_unique_names(members)
    by_name, by_id = {}, {}
    for service in listing:
        by_name.setdefault(service.get("name"), []).append(service)
        by_id[service.get("id")] = service
    plans = {}
    replicas = [m for m in members if m.get("replica_of") and m.get("state", "present") == "present"]
    for member in members:
        if member not in replicas:
            plans[member["host"]] = _plan_member(member, by_name.get(member["name"], []))
    by_member = {p.name: p for p in plans.values()}
    by_member.update((p.current["id"], p) for p in plans.values() if p.current)
    for member in replicas:  # a replica's own replica is refused: it must see that its primary is one
        stand_in = by_member.setdefault(member["name"], MemberPlan(member["host"], member["name"], "present"))
        stand_in.replica_of = member["replica_of"]
    for member in replicas:
        plans[member["host"]] = _plan_replica(member, by_name.get(member["name"], []), by_member, by_name, by_id)
    ordered = [plans[m["host"]] for m in members]
    _order_deletions(ordered)
    return ordered


def _order_deletions(plans):
    """The API refuses to delete a primary that has replicas, and it names no replica's primary: every primary
    this call deletes waits until the replicas it deletes are gone."""
    deleted = [p for p in plans if p.action == DELETE and p.error is None]
    replicas = [p for p in deleted if p.current.get("is_primary") is False]
    for plan in deleted:
        if plan.current.get("is_primary") is not False:
            plan.after = list(replicas)


def _refuse_ambiguous(plan, same_name):
    plan.error = AmbiguousError(SERVICE.kind, plan.name, [s.get("id") for s in same_name])
    plan.error.message += (". Two services share the name, so the fleet cannot tell which one is %s's: delete or "
                           "rename the one that should not be there (clickhouse.cloud.postgres_service with its id), "
                           "then run again" % plan.host)
    return plan


def _plan_member(member, same_name):
    host, name = member["host"], member["name"]
    plan = MemberPlan(host, name, member.get("state", "present"))
    plan.replica_of = member.get("replica_of") or None
    if len(same_name) > 1:
        return _refuse_ambiguous(plan, same_name)
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


def find_primary(ref, by_member, by_name, by_id, creating=True):
    """``(member plan, None)`` or ``(None, listed service)``: the primary a replica names; InputError when it cannot be one.

    A primary member that fails fails only a replica still to be created from it: an existing replica goes on.
    """
    plan = by_member.get(ref)
    if plan is not None:
        if plan.replica_of:
            raise InputError("its primary %s is a read replica itself (it names %s as its own primary), and a read "
                             "replica cannot have replicas" % (plan.name, plan.replica_of))
        if plan.state == "absent":
            raise InputError("its primary %s is deleted by this same call" % plan.name)
        if plan.error is not None and creating:
            raise InputError("its primary %s fails (%s)" % (plan.name, plan.error.message))
        return plan, None
    found = [by_id[ref]] if ref in by_id else by_name.get(ref, [])
    if not found:
        raise InputError("its primary %r is neither a host of this play nor a service of the organization" % ref)
    if len(found) > 1:
        raise InputError("%d services are named %r (ids %s), so it cannot tell which is its primary: name the primary "
                         "by its id" % (len(found), ref, ", ".join(s.get("id") or "?" for s in found)))
    if found[0].get("is_primary") is False:
        raise InputError("its primary %r is a read replica itself, and a read replica cannot have replicas" % ref)
    return None, found[0]


def replica_conflicts(desired, reference, whose="the primary's is"):
    """What a replica's member asks for that only its primary has: [text], empty when nothing.

    ``reference`` has the values a replica has (its primary's, or an existing replica's own, ``whose`` saying
    which); values it lacks are not compared.
    """
    problems = []
    for name in FROM_PRIMARY:
        want, have = desired.get(name), reference.get(name)
        if want is not None and have is not None and not SERVICE.field(name).same(have, want):
            problems.append("%s %s (%s %s)" % (name, want, whose, have))
    if desired.get("ha_type") not in (None, "none"):
        problems.append("ha_type %s (a read replica has no standbys)" % desired["ha_type"])
    return problems


def _plan_replica(member, same_name, by_member, by_name, by_id):
    """A read replica's plan: created from its primary, or compared as far as the API lets a replica change."""
    plan = MemberPlan(member["host"], member["name"], "present")
    plan.replica_of = member["replica_of"]
    if len(same_name) > 1:
        return _refuse_ambiguous(plan, same_name)
    current = plan.current = same_name[0] if same_name else None
    desired = plan.desired = {k: member.get(k) for k in (f.name for f in SERVICE.options)}
    try:
        plan.primary, plan.primary_service = find_primary(plan.replica_of, by_member, by_name, by_id, creating=current is None)
    except InputError as exc:
        plan.error = InputError("%s; nothing was sent for it" % exc.message, replica_of=plan.replica_of)
        return plan
    source = plan.primary_service or plan.primary.predicted or plan.primary.current
    if current is not None and current.get("is_primary") is not False:
        plan.error = InputError(
            "it is a primary, not a read replica of %s (it was promoted, or made as a primary): remove "
            "postgres_fleet_replica_of from its host if it is to stay a primary; nothing was sent for it" % plan.replica_of)
        return plan
    if current is not None:  # an existing replica keeps what it was created with: a primary's resize is not its
        problems = replica_conflicts(desired, current, "it has")
        advice = ("as a read replica of %s it keeps the provider, region, Postgres version and size it was created "
                  "with and has no standbys, so the API would refuse %s. Give it the values it has (for example, "
                  "as variables of its host) and ha_type none; nothing was sent for it")
    else:
        problems = replica_conflicts(desired, source)
        advice = ("as a read replica of %s it takes provider, region, Postgres version and size from that primary and "
                  "has no standbys, so the API would refuse %s. Give it its primary's values (for example, set them "
                  "once for a group holding both) and ha_type none; nothing was sent for it")
    if problems:
        plan.error = InputError(advice % (plan.replica_of, "; ".join(problems)), replica_of=plan.replica_of)
        return plan
    own = {k: v for k, v in desired.items() if k not in SERVICE.inherited}
    purge = plan.purge = member.get("purge") or {}
    if current is None:
        plan.action = CREATE
        inherited = {k: source.get(k) for k in FROM_PRIMARY}
        inherited.update(ha_type="none", is_primary=False)
        rules = SERVICE.field("ip_access_list")
        primary_rules = source.get("ip_access_list")  # a replica starts with a copy of its primary's
        inherited["ip_access_list"] = primary_rules if own.get("ip_access_list") is None else \
            rules.plan(primary_rules, own["ip_access_list"], purge.get("ip_access_list", True))[1]
        plan.predicted = SERVICE.predict_create({k: v for k, v in own.items() if k != "ip_access_list"},
                                                inherited=inherited, ready=True)
        plan.diff = diff_of({}, plan.predicted, SERVICE.secrets)
        return plan
    update = plan_update(SERVICE, current, own, purge)
    if "tags" in update.changes:
        plan.error = InputError(
            "the API does not change the tags of a read replica (it takes them when it is created): it has %s, the "
            "inventory says %s; nothing was sent for it" % (current.get("tags"), update.changes["tags"]))
        return plan
    if update.changed:
        plan.action, plan.changes, plan.predicted = UPDATE, update.changes, update.predicted
        plan.diff = diff_of(update.before, update.after, SERVICE.secrets)
    return plan


def replica_retry_delay(waited):
    """Seconds until a refused replica is asked for again: 5 at first, a tenth of the wait later, at most 30."""
    return max(5.0, min(30.0, waited * 0.1))


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
        self._creates_answered = lambda: None
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
        Writes that must wait (a replica for its primary, a primary's delete for its replicas) are sent
        between the polls that follow the others.
        """
        with CreateLock(self.api.transport.base_url, self.api.organization_id) as lock:
            if not self.check_mode:
                lock.acquire(m["name"] for m in members if m.get("state", "present") == "present")
            listing = self.with_rules(self.listing(), members)
            plans = plan_fleet(listing, members)
            todo = [p for p in plans if p.action != NONE and p.error is None]
            if not self.check_mode:
                if todo:
                    self._say("%d of %d services to change: %s" % (len(todo), len(plans), _counts(todo)))
                later = [p for p in todo if p.deferred]
                for plan in todo:
                    if not plan.deferred:
                        self._apply(plan)
                lock.release_except(p.name for p in later if p.action == CREATE)  # the others' creates have answered
                self._creates_answered = lock.release
                self._follow([p for p in todo if not p.deferred and p.error is None], later, listing)
        self._warn_unkept(plans)
        return plans

    def _apply(self, plan, primary_id=None):
        """Send the member's write; for a replica's create, the API's 'not ready' text when it takes none yet."""
        try:
            if plan.action == CREATE and plan.replica_of is not None:
                wanted = {k: v for k, v in plan.desired.items() if k != "ip_access_list"}  # not in a replica's create
                answer = self.api.create_read_replica(primary_id, wanted).to_result()
                plan.wrote = True
                plan.service = answer
                self._keep_credentials(plan, answer)
                self._replica_rules(plan)
            elif plan.action == CREATE:
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
            if plan.action == CREATE and plan.replica_of is not None and not plan.wrote and isinstance(exc, ApiError) and exc.not_ready:
                return exc.error
            status = getattr(exc, "status", None)
            refused = status is not None and 400 <= status < 500 and not isinstance(exc, LostAnswerError)
            plan.wrote = plan.wrote or not refused
            if plan.action == DELETE and status == 409 and "replica" in (getattr(exc, "error", "") or "").lower():
                exc.message += (". A primary goes only after its read replicas: add them to this play (the fleet "
                                "deletes replicas before their primaries), or delete them first")
            plan.error = exc
        return None

    def _replica_rules(self, plan):
        """A replica is created with a copy of its primary's access rules: rules of its own follow in one PATCH."""
        wanted = plan.desired.get("ip_access_list")
        if wanted is None:
            return
        differs, after = SERVICE.field("ip_access_list").plan(
            plan.service.get("ip_access_list"), wanted, plan.purge.get("ip_access_list", True))
        if differs:
            answer = self.api.patch_service(plan.service["id"], {"ip_access_list": after}, plan.service).to_result()
            plan.service = _keep_unlisted(plan.service, answer)

    def _keep_credentials(self, plan, answer):
        """Store a new service's password at once; with no directory, hand it back (the role keeps it under no_log).
        An answer without one (the create's own answer was lost and the service found by name) is said at once."""
        if answer.get("password") is None:
            plan.warnings.append("%s was created, but the answer that carries its password (shown only once) did not "
                                 "reach this run, so none was stored: set a new one with "
                                 "clickhouse.cloud.postgres_password" % plan.name)
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
        # list items lack some fields (the access rules): those changes were answered by the PATCH itself
        wanted = {k: v for k, v in plan.changes.items() if found.get(k) is not None} if plan.action == UPDATE else {}
        return SERVICE.matches(found, wanted)

    def _follow(self, sent, later, listing):
        """One listing per poll: the waiting writes once their turn comes, and (with ``wait``) every write until
        its service has settled, or the deadline, counted from the last write."""
        start = self._clock()
        deadline = start + self.wait_timeout
        pending = list(sent) if self.wait else []
        by_id, fresh = {s.get("id"): s for s in listing}, False
        total, retry_at, told = len(pending) + len(later), {}, set()
        while True:
            if not any(p.action == CREATE for p in later):
                self._creates_answered()  # other runs may look the names up now
            for plan in list(later):
                primary_id, waiting = self._turn(plan, by_id, fresh)
                if plan.error is not None:
                    later.remove(plan)
                elif waiting is not None:
                    if (plan.name, waiting) not in told:
                        told.add((plan.name, waiting))
                        self._say("%s waits: %s" % (plan.name, waiting))
                elif self._clock() >= retry_at.get(plan.name, 0.0):
                    refusal = self._apply(plan, primary_id)
                    if refusal is not None:
                        delay = replica_retry_delay(self._clock() - start)
                        retry_at[plan.name] = self._clock() + delay
                        plan.waiting = "the API does not take replicas of %s yet (%s)" % (plan.replica_of, refusal)
                        self._say("%s: %s; asking again in %.0f s (%.0f s so far)" % (
                            plan.name, plan.waiting, delay, self._clock() - start))
                        continue
                    later.remove(plan)
                    if plan.error is None:
                        deadline = self._clock() + self.wait_timeout
                        self._say("%s: %s sent after %.0f s" % (plan.name, plan.action, self._clock() - start))
                        if self.wait:
                            pending.append(plan)
            if not (pending or later):
                return
            if self._clock() >= deadline:
                self._time_out(pending, later, start)
                return
            self._sleep(min(poll_interval(self._clock() - start), max(0.0, deadline - self._clock())))
            by_id, fresh = {s.get("id"): s for s in self.listing()}, True
            self.polls += 1
            still = []
            for plan in pending:
                found = by_id.get((plan.service or plan.current or {}).get("id"))
                if found is not None:
                    plan.service = _keep_unlisted(plan.service, found)
                if not self._settled(plan, found):
                    still.append(plan)
                elif plan.action == DELETE:
                    plan.service = None
            if len(still) != len(pending):
                waiting = still + later
                self._say("%d of %d services settled after %.0f s%s" % (
                    total - len(waiting), total, self._clock() - start,
                    "; waiting for %s" % _names(waiting) if waiting else ""))
            pending = still

    def _turn(self, plan, by_id, fresh):
        """``(primary id, None)`` when the waiting write may go now, else ``(None, what it waits for)``.

        ``fresh``: the listing came after this call's first writes (the first one only shows services as they were).
        A replica waits until its primary runs as wanted; a primary's delete until the replicas deleted are gone.
        """
        if plan.action == DELETE:
            left = [p for p in plan.after if p.error is None and (not fresh or by_id.get(p.current["id"]) is not None)]
            if left:
                plan.waiting = "the read replicas %s go first" % _names(left)
                return None, plan.waiting
            return None, None
        if plan.primary is not None:
            primary = plan.primary
            if primary.error is not None:
                plan.error = ClickHouseError("its primary %s failed (%s); nothing was sent for it" % (
                    primary.name, primary.error.message), replica_of=plan.replica_of)
                return None, None
            primary_id = (primary.service or primary.current or {}).get("id")
            found = by_id.get(primary_id)
            if primary.action == NONE:
                settled = found is not None and found.get("state") == SERVICE.ready_state
            else:
                settled = fresh and self._settled(primary, found)
        else:
            primary_id = plan.primary_service.get("id")
            found = by_id.get(primary_id)
            if found is None:
                plan.error = ClickHouseError("its primary %s is gone; nothing was sent for it" % plan.replica_of)
                return None, None
            settled = found.get("state") == SERVICE.ready_state
        if not settled:
            plan.waiting = "its primary %s must run first (now %s)" % (plan.replica_of, (found or {}).get("state") or "creating")
            return None, plan.waiting
        return primary_id, None

    def _time_out(self, pending, later, start):
        waited = round(self._clock() - start, 1)
        for plan in pending:
            plan.error = ClickHouseError(
                "timed out after %.0f s waiting for it to be %s (state now %s); the change was sent: run again, "
                "or raise the wait timeout, to keep waiting" % (
                    self.wait_timeout, "gone" if plan.action == DELETE else "running as wanted",
                    (plan.service or {}).get("state", "gone")), waited=waited)
        for plan in later:
            plan.error = ClickHouseError(
                "timed out after %.0f s, and the API accepted nothing for it: %s. Run again, or raise the wait timeout" % (
                    self.wait_timeout, plan.waiting), waited=waited)


def _keep_unlisted(earlier, later):
    """``later`` (a list item, an answer), with what only ``earlier`` has: secrets, access rules, host name."""
    merged = dict(later)
    for key, value in (earlier or {}).items():
        if value is not None and merged.get(key) is None:
            merged[key] = value
    return merged


def _counts(plans):
    counts = {}
    for plan in plans:
        counts[plan.action] = counts.get(plan.action, 0) + 1
    return ", ".join("%d to %s" % (n, action) for action, n in sorted(counts.items()))


def _names(plans, most=5):
    names = sorted(p.name for p in plans)
    return ", ".join(names[:most]) + (" and %d more" % (len(names) - most) if len(names) > most else "")
