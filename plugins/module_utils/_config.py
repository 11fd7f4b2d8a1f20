# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Plan a change to a service's configuration: what differs, what to send, what it predicts.

Pure: it takes the configuration the API holds and the desired maps (checked by
``desired_sections``) and knows nothing about HTTP.  Both sections use the
``plan_map`` of ``_compare`` with a per-value canonical form, so a value that is only
spelled differently is not a change.
"""

from __future__ import annotations

import re

from ._compare import plan_map
from ._settings import bouncer_canonical, canonical, check_pg_bouncer_config, check_pg_config, restart_only

SECTIONS = (("pg_config", canonical), ("pg_bouncer_config", bouncer_canonical))


def desired_sections(pg_config, pg_bouncer_config, allow_unknown=False):
    """The desired sections checked and rendered as the API wants them (None: not given).

    Called before any request by every module that sends them (postgres_config, and
    postgres_service on creation), so bad input fails alike everywhere with nothing sent.
    """
    return {
        "pg_config": None if pg_config is None else check_pg_config(pg_config, allow_unknown),
        "pg_bouncer_config": None if pg_bouncer_config is None else check_pg_bouncer_config(pg_bouncer_config),
    }


class ConfigPlan:
    """``replace``: the desired maps become the whole configuration (a section not given is kept)."""

    def __init__(self, current, desired, replace):
        self.before = {name: dict(current.get(name) or {}) for name, _c in SECTIONS}
        self.after = {}
        self.set_keys = {}  # per section: keys set or changed
        self.removed = {}
        for name, canon in SECTIONS:
            have, want = self.before[name], desired.get(name)
            if want is None:
                self.after[name], self.set_keys[name], self.removed[name] = dict(have), [], []
                continue
            plan = plan_map(have, want, purge=replace, canon_value=canon)
            # An unchanged key keeps the server's own spelling: nothing is rewritten needlessly.
            self.after[name] = {k: (have[k] if k in have and k not in plan.changed_keys else v)
                                for k, v in plan.after.items()}
            self.set_keys[name], self.removed[name] = plan.changed_keys, plan.removed_keys

    def keys(self, name):
        return sorted(self.set_keys[name] + self.removed[name])

    @property
    def changed_keys(self):
        """Every key set, changed or removed: Postgres keys first, then PgBouncer keys."""
        return self.keys("pg_config") + self.keys("pg_bouncer_config")

    @property
    def changed(self):
        return bool(self.changed_keys)

    def patch_body(self):
        """Merge mode: only the keys that differ."""
        return {name: {k: self.after[name][k] for k in self.set_keys[name]} for name, _c in SECTIONS}

    def diff(self):
        """Before and after of the changed keys only, one line each once Ansible renders it."""
        before, after = {}, {}
        for name, _c in SECTIONS:
            keys = self.keys(name)
            if keys:
                before[name] = {k: self.before[name][k] for k in keys if k in self.before[name]}
                after[name] = {k: self.after[name][k] for k in keys if k in self.after[name]}
        return {"before": before, "after": after}

    def restart_keys(self, postgres_version, message=None):
        """Changed Postgres keys that need a restart: the known ones, and any the API's message names."""
        changed = self.keys("pg_config")
        needed = set(changed) & restart_only(postgres_version)
        if message:
            needed.update(k for k in changed if re.search(r"\b%s\b" % re.escape(k), message))
        return sorted(needed)


def write_config(api, service_id, plan, replace):
    """Send a plan: the whole sections (POST) to replace, only the keys that differ (PATCH) to merge."""
    if replace:
        return api.replace_config(service_id, plan.after["pg_config"], plan.after["pg_bouncer_config"])
    body = plan.patch_body()
    return api.patch_config(service_id, body["pg_config"], body["pg_bouncer_config"])


def restart_decision(policy, plan, restart_keys, running, can_wait):
    """``(wanted, restarted, restart_required)``: the one rule behind every real run and every prediction.

    ``policy`` is never / if_required / always. A service that is not running can only be restarted by
    waiting for it to run first, so without ``can_wait`` it is left alone and the restart stays owed.
    """
    wanted = (policy == "always" and (plan.changed or bool(restart_keys))) or (policy == "if_required" and bool(restart_keys))
    restarted = wanted and (running or can_wait)
    return wanted, restarted, bool(restart_keys) and not restarted
