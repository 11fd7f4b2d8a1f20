# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The one notion of "equal after normalisation", and the comparison of flat maps built on it.

Every comparison in the collection goes through here: the engine's plans, the
client's check of whether a lost write landed, and (with a per-key ``canon``
such as the settings' unit-aware one) configuration plans.  Pure: no HTTP, no Ansible.
"""

from __future__ import annotations


def normalize(value):
    """Canonical form for comparison: the API echoes numbers as text ("17"), and pads nothing."""
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


def equal(a, b, canon=normalize):
    """True when ``a`` and ``b`` are the same value once both are in canonical form."""
    return canon(a) == canon(b)


class MapPlan:
    """The result of comparing two flat maps (tags, a settings section)."""

    def __init__(self, after, changed_keys, removed_keys):
        self.after = after
        self.changed_keys = changed_keys  # set or changed value
        self.removed_keys = removed_keys

    @property
    def changed(self):
        return bool(self.changed_keys or self.removed_keys)


def plan_map(current, desired, purge=False, canon_value=None):
    """Compare a desired map with the current one.

    ``canon_value(key, value)`` gives the canonical form of one value (for units
    such as ``64MB`` vs ``65536kB``); the default is ``normalize``. Without
    ``purge`` keys only present in ``current`` are kept.
    """
    canon = canon_value or (lambda key, value: normalize(value))
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
    return MapPlan(after, sorted(changed), removed)


def contains(obj, wanted, canon=normalize):
    """True when every key of ``wanted`` reads back equal in ``obj`` (a filter, or a change that landed)."""
    obj = obj or {}
    return all(equal(obj.get(k), v, canon) for k, v in wanted.items())
