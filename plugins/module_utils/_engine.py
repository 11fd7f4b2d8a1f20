# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The resource engine: lookup, compare, predict, diff, apply, wait.

The pure half (``normalize``, ``plan_settings``, ``plan_update``, ``diff_of``,
``Waiter``) knows nothing about HTTP or Ansible and is unit-tested with tables.
``Resource`` binds it to a module: a module describes its resource with a
``ResourceSpec`` (fields and how each may change) and an ops object
(``list``/``get``/``update``/``delete`` returning snake_case dicts), then calls
``present``, ``absent`` or ``command``.  Everything works on snake_case dicts,
so check mode, diff and the returned value are the same shape.
"""

from __future__ import annotations

import time

from ._errors import (
    AmbiguousError,
    ApiError,
    ClickHouseError,
    ImmutableError,
    InputError,
    LostAnswerError,
    WaitTimeoutError,
)

# How a field may change on an existing resource.
UPDATABLE = "updatable"  # sent in an update when it differs
IMMUTABLE = "immutable"  # differs -> ImmutableError, nothing sent
CREATE_ONLY = "create_only"  # sent on create, never compared (another module owns it later)


class Field:
    """One desired-state option of a resource.

    ``purge_option`` marks a map field (tags): the named module option decides
    whether keys missing from the desired map are removed or kept.
    """

    def __init__(self, name, mode=UPDATABLE, purge_option=None):
        self.name = name
        self.mode = mode
        self.purge_option = purge_option


class ResourceSpec:
    """What a module tells the engine about its resource."""

    def __init__(self, kind, result_key, fields, secrets=(), ready_state="running", created_state="creating",
                 create_defaults=None, partial_keys=()):
        self.kind = kind  # for messages: "Postgres service"
        self.result_key = result_key  # "service"
        self.fields = tuple(fields)
        self.secrets = frozenset(secrets)  # returned when the API gives them, never diffed
        self.ready_state = ready_state
        self.created_state = created_state
        self.create_defaults = dict(create_defaults or {})  # what the server fills in, for check mode
        self.partial_keys = tuple(partial_keys)  # missing from list items: fetch the full object

    def but(self, **changes):
        """This spec with some constructor arguments changed, e.g. ``partial_keys=()``."""
        args = dict(kind=self.kind, result_key=self.result_key, fields=self.fields, secrets=self.secrets,
                    ready_state=self.ready_state, created_state=self.created_state,
                    create_defaults=self.create_defaults, partial_keys=self.partial_keys)
        args.update(changes)
        return ResourceSpec(**args)

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


# -- pure functions ------------------------------------------------------------


def normalize(value):
    """Canonical form for comparison: the API echoes numbers as strings ("17")."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


class SettingsPlan:
    """Result of comparing two flat maps (tags now; pg settings in postgres_config)."""

    def __init__(self, after, changed_keys, removed_keys):
        self.after = after
        self.changed_keys = changed_keys  # set or changed value
        self.removed_keys = removed_keys

    @property
    def changed(self):
        return bool(self.changed_keys or self.removed_keys)


def plan_settings(current, desired, purge=False, normalize_value=None):
    """Compare a desired map with the current one.

    ``normalize_value(key, value)`` gives the canonical form of one value (for
    units such as ``64MB`` vs ``65536kB``); the default compares by text.
    Without ``purge`` keys only present in ``current`` are kept.
    """
    canon = normalize_value or (lambda key, value: normalize(value))
    current = dict(current or {})
    desired = dict(desired or {})
    after = {} if purge else dict(current)
    changed, removed = [], []
    for key, value in desired.items():
        after[key] = value
        if key not in current or canon(key, current[key]) != canon(key, value):
            changed.append(key)
    if purge:
        removed = sorted(k for k in current if k not in desired)
    return SettingsPlan(after, sorted(changed), removed)


class Plan:
    """What an update would do: the changes to send, the diff, the predicted result."""

    def __init__(self, changes, before, after, predicted):
        self.changes = changes
        self.before = before
        self.after = after
        self.predicted = predicted

    @property
    def changed(self):
        return bool(self.changes)


def plan_update(spec, current, desired, purge_flags=None):
    """Compare desired options (None = leave alone) with the current snake_case object.

    Raises ``ImmutableError`` before anything is sent when an immutable field differs.
    """
    purge_flags = purge_flags or {}
    changes, conflicts = {}, {}
    for field in spec.fields:
        want = desired.get(field.name)
        if want is None or field.mode == CREATE_ONLY:
            continue
        have = current.get(field.name)
        if field.purge_option is not None:
            settings = plan_settings(have, want, purge=purge_flags.get(field.purge_option, True))
            if settings.changed:
                changes[field.name] = settings.after
            continue
        if normalize(have) == normalize(want):
            continue
        if field.mode == IMMUTABLE:
            conflicts[field.name] = (have, want)
        else:
            changes[field.name] = want
    if conflicts:
        raise ImmutableError(spec.kind, conflicts)
    before = {k: current.get(k) for k in changes}
    predicted = dict(current)
    predicted.update(changes)
    return Plan(changes, before, dict(changes), predicted)


def public(obj, secrets):
    """The object without secrets and without unknown (None) values: what a diff may show."""
    return {k: v for k, v in (obj or {}).items() if k not in secrets and v is not None}


def diff_of(before, after, secrets=()):
    """``{'before': ..., 'after': ...}`` holding only the keys whose value changes."""
    before, after = public(before, secrets), public(after, secrets)
    keys = sorted(k for k in set(before) | set(after) if normalize(before.get(k)) != normalize(after.get(k)))
    return {"before": {k: before[k] for k in keys if k in before}, "after": {k: after[k] for k in keys if k in after}}


def matches(obj, wanted):
    """True when every wanted field already reads back as wanted."""
    return all(normalize((obj or {}).get(k)) == normalize(v) for k, v in wanted.items())


class WaitReport:
    """What a wait saw; returned to the user as ``waited``."""

    def __init__(self, goal):
        self.goal = goal
        self.seconds = 0.0
        self.polls = 0
        self.states = []

    def saw(self, state):
        if state is not None and (not self.states or self.states[-1] != state):
            self.states.append(state)
            return True
        return False

    def as_dict(self):
        return {"for": self.goal, "seconds": round(self.seconds, 1), "polls": self.polls, "states": list(self.states)}


class Waiter:
    """Poll until ``done`` with a monotonic deadline and growing intervals."""

    def __init__(self, timeout, first=2.0, factor=1.5, cap=15.0, clock=time.monotonic, sleep=time.sleep, log=None):
        self.timeout = float(timeout)
        self.first, self.factor, self.cap = first, factor, cap
        self._clock, self._sleep = clock, sleep
        self._log = log or (lambda msg: None)

    def until(self, read, done, goal, initial=None):
        """Call ``read()`` until ``done(obj, report)``; ``initial`` is the write's own answer.

        Returns ``(obj, report)``; raises ``WaitTimeoutError`` at the deadline.
        """
        start = self._clock()
        deadline = start + self.timeout
        report = WaitReport(goal)
        if initial is not None:
            report.saw(initial.get("state"))
        interval = self.first
        obj = initial
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                report.seconds = self._clock() - start
                raise WaitTimeoutError(goal, report, obj)
            self._sleep(min(interval, remaining))
            interval = min(self.cap, interval * self.factor)
            obj = read()
            report.polls += 1
            report.seconds = self._clock() - start
            if report.saw((obj or {}).get("state") if obj is not None else "gone"):
                self._log("waiting for %s: %s after %.0f s" % (goal, report.states[-1], report.seconds))
            if done(obj, report):
                return obj, report


# -- the engine bound to a module ------------------------------------------------


class Resource:
    """Drives one resource for one module run and builds its result."""

    def __init__(self, module, spec, ops, waiter=None):
        self.module = module
        module.engine = self
        self.spec = spec
        self.ops = ops
        self.waiter = waiter or Waiter(module.params.get("wait_timeout") or 600, log=module.log)
        self.changed = False
        self.wrote = False  # a write reached the server (or may have: its answer was lost)
        self.diff = {"before": {}, "after": {}}
        self.waited = None

    # lookup

    def find(self, resource_id=None, name=None):
        """By id (one GET) or by name (one list, plus a GET when list items lack fields)."""
        if resource_id:
            return self.ops.get(resource_id)
        if not name:
            raise InputError("Either id or name is required to find a %s." % self.spec.kind)
        found = [item for item in self.ops.list() if item.get("name") == name]
        if len(found) > 1:
            raise AmbiguousError(self.spec.kind, name, [item.get("id") for item in found])
        if not found:
            return None
        item = found[0]
        if any(item.get(k) is None for k in self.spec.partial_keys):
            item = self.ops.get(item["id"]) or item
        return item

    def desired(self, names=None):
        """Module options that name spec fields; None means 'leave alone'."""
        params = self.module.params
        return {f.name: params.get(f.name) for f in self.spec.fields if names is None or f.name in names}

    # actions

    def present(self, current, create, wait=True, predicted_create=None):
        """Create when missing, else update what differs; wait until it settles."""
        desired = self.desired()
        if current is None:
            return self._create(desired, create, wait, predicted_create)
        purge = {f.purge_option: self.module.params.get(f.purge_option) for f in self.spec.fields if f.purge_option}
        plan = plan_update(self.spec, current, desired, purge)
        if not plan.changed:
            return current
        self.changed = True
        self.diff = diff_of(plan.before, plan.after, self.spec.secrets)
        if self.module.check_mode:
            return plan.predicted
        answer = self.write(self.ops.update, current["id"], plan.changes, current)
        if not wait:
            return self._merge(current, answer)
        goal = "%s to be %s with %s" % (self.spec.kind, self.spec.ready_state, ", ".join(sorted(plan.changes)))
        return self.wait(current["id"], goal, lambda obj, r: self._ready(obj) and matches(obj, plan.changes), answer)

    def _create(self, desired, create, wait, predicted_create):
        self.changed = True
        predicted = dict(self.spec.create_defaults)
        predicted.update({k: v for k, v in desired.items()
                          if v is not None and self.spec.field(k).mode != CREATE_ONLY})
        predicted.update(predicted_create or {})
        predicted["state"] = self.spec.ready_state if wait else self.spec.created_state
        self.diff = diff_of({}, predicted, self.spec.secrets)
        if self.module.check_mode:
            return predicted
        answer = self.write(create, desired)
        if not wait:
            return answer
        goal = "%s %r to be %s" % (self.spec.kind, answer.get("name"), self.spec.ready_state)
        final = self.wait(answer["id"], goal, lambda obj, r: self._ready(obj), answer)
        return self._merge(answer, final)

    def absent(self, current, wait=True):
        """Delete when present; a missing resource is already absent (unchanged)."""
        if current is None:
            return None
        self.changed = True
        self.diff = diff_of(current, {}, self.spec.secrets)
        if self.module.check_mode:
            return None
        self.write(self.ops.delete, current["id"])
        if wait:
            self.wait(current["id"], "%s %r to be gone" % (self.spec.kind, current.get("name")),
                      lambda obj, r: obj is None)
        return None

    def command(self, current, send, predicted, done, goal, wait=True):
        """A non-idempotent action (restart...): always changed, predicted in check mode."""
        self.changed = True
        after = dict(current)
        after.update(predicted)
        self.diff = diff_of(current, after, self.spec.secrets)
        if self.module.check_mode:
            return after
        answer = self.write(send, current["id"])
        if not wait:
            return self._merge(current, answer)
        return self.wait(current["id"], goal, done, answer)

    # helpers

    def write(self, call, *args):
        """Send one write; remember it reached the server, or may have.

        Only a 4xx answer to the write itself proves that nothing happened; a lost
        answer, a 5xx or a failed look-up after either may hide a committed write,
        so a failed task then reports ``changed`` rather than hide one.
        """
        try:
            answer = call(*args)
        except ApiError as exc:
            refused = exc.status is not None and 400 <= exc.status < 500 and not isinstance(exc, LostAnswerError)
            self.wrote = self.wrote or not refused
            raise
        self.wrote = True
        return answer

    def _ready(self, obj):
        return obj is not None and obj.get("state") == self.spec.ready_state

    def wait(self, resource_id, goal, done, initial=None):
        """Poll the resource until ``done(obj, report)``; ``waited`` records how it went."""
        try:
            obj, report = self.waiter.until(lambda: self.ops.get(resource_id), done, goal, initial)
        except ClickHouseError as exc:
            if isinstance(exc, WaitTimeoutError):
                self.waited = exc.report.as_dict()
            # The write's own answer may hold what no later read gives (a new service's password):
            # a failed wait still returns it.
            exc.last = self._merge(initial, getattr(exc, "last", None) or initial)
            raise
        self.waited = report.as_dict()
        return self._merge(initial, obj) if obj is not None else obj

    def _merge(self, earlier, later):
        """The later read, keeping secrets only the earlier answer had (redacted GETs)."""
        if later is None:
            return earlier
        merged = dict(later)
        for key in self.spec.secrets:
            if merged.get(key) is None and (earlier or {}).get(key) is not None:
                merged[key] = earlier[key]
        return merged

    def partial(self, exc):
        """What a failed run still reports: whether a write was sent, and what was seen."""
        out = {"changed": self.wrote}
        if self.waited is not None:
            out["waited"] = self.waited
        last = getattr(exc, "last", None)
        if last is not None:
            out[self.spec.result_key] = last
        return out

    def result(self, obj, **extra):
        """The module result: ``changed``, the namespaced object, ``diff`` and ``waited``."""
        result = {"changed": self.changed, self.spec.result_key: obj}
        if self.module._diff:
            result["diff"] = self.diff
        if self.waited is not None:
            result["waited"] = self.waited
        result.update(extra)
        return result
