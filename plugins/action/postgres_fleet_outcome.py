# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One host's share of a fleet call; see the module stub for its documentation.

The fleet call runs once for the play; this reports, per host, what it did there, so the
recap counts ``changed`` per service and ``--diff`` shows each service's own diff. It makes
no API call.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

REQUIRED = ("changed", "failed", "diff")
# keys this plugin turns into the task result's own fields (or facts) instead of passing them through
HANDLED = frozenset(REQUIRED + ("service", "credentials", "warnings", "msg", "failure"))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        outcome = self._task.args.get("outcome")
        if not isinstance(outcome, dict) or any(k not in outcome for k in REQUIRED):
            return dict(result, failed=True, changed=False,
                        msg="outcome must be one host's entry of the members of a postgres_fleet_sync or "
                            "postgres_fleet_config result, got %r"
                            % (type(outcome).__name__,))
        result["changed"] = bool(outcome["changed"])
        if self._task.diff and outcome["changed"]:
            result["diff"] = outcome["diff"]
        # what the fleet call says of this member (action, name, changed_keys, restarted, ...), secrets aside
        result.update((k, v) for k, v in outcome.items() if k not in HANDLED)
        facts = {}
        if outcome.get("service") is not None:  # a host the call found nothing for keeps what it had
            facts["postgres_fleet_service"] = outcome["service"]
        if outcome.get("credentials") is not None:
            # a result value, not a fact: facts go into the fact cache (AWX's fact storage keeps it in its database)
            result["credentials"] = outcome["credentials"]
        result["ansible_facts"] = facts
        if outcome.get("warnings"):
            result["warnings"] = list(outcome["warnings"])
        if outcome["failed"]:
            result.update(failed=True, msg=outcome.get("msg"), failure=outcome.get("failure"))
        return result
