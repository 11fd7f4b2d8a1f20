# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The resource engine: lookup, plan, predict, diff, apply, wait.

The pure half (``plan_update``, ``diff_of``, ``Waiter``) knows nothing about HTTP
or Ansible and is unit-tested with tables.  ``Resource`` drives one resource: it
is given a ``ResourceSpec`` (``_fields``: every field declared once), an ops
object (``list``/``get``/``update``/``delete`` returning snake_case dicts) and
the validated desired state, and returns the outcome.  It holds no state on the
module and writes nothing into its options; a failure carries what was done so
far as ``exc.partial``.  Everything works on snake_case dicts, so check mode,
diff and the returned value are the same shape.
"""

from __future__ import annotations

import functools
import time

from ._compare import normalize
from ._errors import (
    AmbiguousError,
    ApiError,
    ClickHouseError,
    ImmutableError,
    InputError,
    LostAnswerError,
    WaitTimeoutError,
)
from ._fields import changed_fields

# -- pure functions ------------------------------------------------------------


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


def plan_update(spec, current, desired, purge=None):
    """Compare desired fields (None = leave alone) with the current snake_case object.

    ``purge`` maps a map field's name to whether keys it does not list are removed
    (default: removed). Raises ``ImmutableError`` before anything is sent when an
    immutable field differs.
    """
    changes, conflicts = changed_fields(spec, current, desired, purge or {})
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


def lookup(spec, ops, resource_id=None, name=None):
    """The one way a resource is found: by id (one GET) or by unique name (one list, plus a GET
    when list items lack ``spec.partial_keys``). None when there is none; ``AmbiguousError``
    listing the ids when several share the name."""
    if resource_id:
        return ops.get(resource_id)
    if not name:
        raise InputError("Either id or name is required to find a %s." % spec.kind)
    found = [item for item in ops.list() if item.get("name") == name]
    if len(found) > 1:
        raise AmbiguousError(spec.kind, name, [item.get("id") for item in found])
    if not found:
        return None
    return complete(spec, ops, found[0])


def lookup_names(spec, ops, names):
    """``{name: list item}`` of the names found by one list, each unique (``AmbiguousError`` as ``lookup``); a name
    none has is left out."""
    wanted = set(names)
    found = {}
    for item in ops.list():
        if item.get("name") in wanted:
            found.setdefault(item["name"], []).append(item)
    for name in names:
        if len(found.get(name, ())) > 1:
            raise AmbiguousError(spec.kind, name, [item.get("id") for item in found[name]])
    return {name: items[0] for name, items in found.items()}


def complete(spec, ops, item):
    """A list item with the fields only a GET gives (``spec.partial_keys``)."""
    if any(item.get(k) is None for k in spec.partial_keys):
        return ops.get(item["id"]) or item
    return item


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


# -- the engine -----------------------------------------------------------------


def _reports_partial(action):
    """On failure, attach what the engine did so far (``partial``) to the error, for the module to report."""
    @functools.wraps(action)
    def wrapper(self, *args, **kwargs):
        try:
            return action(self, *args, **kwargs)
        except ClickHouseError as exc:
            exc.partial = self.partial(exc)
            raise
    return wrapper


class Resource:
    """Drives one resource for one task and builds its result."""

    def __init__(self, spec, ops, check_mode=False, diff=False, waiter=None, on_created=None):
        self.spec = spec
        self.ops = ops
        self.check_mode = check_mode
        self.diff_mode = diff
        self.waiter = waiter or Waiter(600)
        # called with a create's answer as soon as it arrives (it may hold the password); returns where it kept it
        self.on_created = on_created
        self.created = None  # that answer: the only one whose secrets the result may carry
        self.kept_in = None
        self.changed = False
        self.wrote = False  # a write reached the server (or may have: its answer was lost)
        self.diff = {"before": {}, "after": {}}
        self.waited = None

    def find(self, resource_id=None, name=None):
        return lookup(self.spec, self.ops, resource_id, name)

    # actions

    @_reports_partial
    def present(self, current, desired, purge=None, create=None, wait=True, inherited=None):
        """Create when missing (``create(desired)``), else update what differs; wait until it settles.

        ``inherited``: what the origin of a replica or restore gives the new resource, for the prediction.
        """
        if current is None:
            return self._create(desired, create, wait, inherited)
        plan = plan_update(self.spec, current, desired, purge)
        if not plan.changed:
            return current
        self.changed = True
        self.diff = diff_of(plan.before, plan.after, self.spec.secrets)
        if self.check_mode:
            return plan.predicted
        answer = self.write(self.ops.update, current["id"], plan.changes, current)
        if not wait:
            return self._merge(current, answer)
        goal = "%s to be %s with %s" % (self.spec.kind, self.spec.ready_state, ", ".join(sorted(plan.changes)))
        return self.wait(current["id"], goal,
                         lambda obj, r: self._ready(obj) and self.spec.matches(obj, plan.changes), answer)

    def _create(self, desired, create, wait, inherited):
        self.changed = True
        predicted = self.spec.predict_create(desired, inherited, ready=wait)
        self.diff = diff_of({}, predicted, self.spec.secrets)
        if self.check_mode:
            return predicted
        answer = self.write(create, desired)
        self.created = answer
        try:
            if self.on_created is not None:
                self.kept_in = self.on_created(answer)
            if not wait:
                return answer
            goal = "%s %r to be %s" % (self.spec.kind, answer.get("name"), self.spec.ready_state)
            final = self.wait(answer["id"], goal, lambda obj, r: self._ready(obj), answer)
        except ClickHouseError as exc:
            exc.created, exc.kept_in = answer, self.kept_in  # the module keeps its secrets safe; the failure shows none
            raise
        return self._merge(answer, final)

    @_reports_partial
    def absent(self, current, wait=True):
        """Delete when present; a missing resource is already absent (unchanged)."""
        if current is None:
            return None
        self.changed = True
        self.diff = diff_of(current, {}, self.spec.secrets)
        if self.check_mode:
            return None
        self.write(self.ops.delete, current["id"])
        if wait:
            self.wait(current["id"], "%s %r to be gone" % (self.spec.kind, current.get("name")),
                      lambda obj, r: obj is None)
        return None

    @_reports_partial
    def command(self, current, send, predicted, done, goal, wait=True):
        """A non-idempotent action (restart...): always changed, predicted in check mode."""
        self.changed = True
        after = dict(current)
        after.update(predicted)
        self.diff = diff_of(current, after, self.spec.secrets)
        if self.check_mode:
            return after
        answer = self.write(send, current["id"])
        if not wait:
            return self._merge(current, answer)
        return self.wait(current["id"], goal, done, answer)

    # helpers

    @_reports_partial
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

    @_reports_partial
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
        """What a failed run still reports: whether a write was sent, and what was seen; never a secret."""
        out = {"changed": self.wrote}
        if self.waited is not None:
            out["waited"] = self.waited
        last = getattr(exc, "last", None)
        if last is not None:
            out[self.spec.result_key] = public(last, self.spec.secrets)
        return out

    def result(self, obj, **extra):
        """The module result: ``changed``, the namespaced object, ``diff`` and ``waited``.

        Secrets come back only from the write that created them: a read may carry them (an organization
        without credential redaction), but a tag change or a restart is no reason to print a password.
        """
        if obj is not None and self.created is None:
            obj = {k: v for k, v in obj.items() if k not in self.spec.secrets}
        result = {"changed": self.changed, self.spec.result_key: obj}
        if self.diff_mode:
            result["diff"] = self.diff
        if self.waited is not None:
            result["waited"] = self.waited
        result.update(extra)
        return result
