# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""What the fleet action plugins share: their options, member checks, the client, outcomes and summary.

A fleet call runs once for the play in the controller's worker, so a fleet of hundreds costs
one process and the API calls it needs, and it can tell the person running it how a long
wait goes while it waits.
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError, InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._module import (
    check_connection_params,
    common_argument_spec,
    connect,
    not_text,
)

display = Display()


def validate(spec, args):
    """``(params, None)`` or ``(None, message)``; env fallbacks applied."""
    result = ArgumentSpecValidator(spec).validate(args)
    if result.error_messages:
        return None, "; ".join(result.error_messages)
    return result.validated_parameters, None


def refused_outcome(message):
    """The outcome of a member that failed its checks: nothing was sent for it."""
    return {"name": None, "action": "none", "changed": False, "failed": True, "msg": message, "service": None,
            "diff": {"before": {}, "after": {}}, "warnings": []}


class FleetAction(ActionBase):
    """Subclasses give ``options`` (beyond the connection options), ``member_spec``, ``member(params)``
    (the validated member, or an InputError) and ``apply(api, members, params, check_mode)`` (the runner
    and its member results, each with ``host`` and ``outcome()``)."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    options = {}
    member_spec = {}

    def member(self, params):
        return params

    def apply(self, api, members, params, check_mode):
        raise NotImplementedError

    def warn(self, text):
        """A warning of the whole call, shown once in its result."""
        self._warnings.append(text)

    def say(self, text):
        display.display("postgres fleet: %s" % text)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        spec = common_argument_spec()
        spec.update(self.options)
        params, problem = validate(spec, self._task.args)
        problem = problem or check_connection_params(params)
        if problem:
            return dict(result, failed=True, msg=problem)
        self._warnings = []
        members, outcomes = [], {}
        for index, raw in enumerate(params["services"]):
            host = raw.get("host") if isinstance(raw, dict) and raw.get("host") else "services[%d]" % index
            member_params, problem = validate(self.member_spec, raw) if isinstance(raw, dict) else (
                None, "%s must be a dict, got %s" % (host, type(raw).__name__))
            problem = problem or not_text(self.member_spec, raw)
            try:
                if problem is None:
                    members.append(self.member(member_params))
                    continue
            except InputError as exc:
                problem = exc.message
            outcomes[host] = refused_outcome(problem)
        try:
            api = connect(params, log=display.vvv)
            runner, done = self.apply(api, members, params, bool(self._task.check_mode))
        except ClickHouseError as exc:
            return dict(result, failed=True, msg=exc.message, failure=exc.failure())
        outcomes.update((member.host, member.outcome()) for member in done)
        summary = {}
        for outcome in outcomes.values():
            key = "failed" if outcome["failed"] else outcome["action"]
            summary[key] = summary.get(key, 0) + 1
        result.update(changed=any(o["changed"] for o in outcomes.values()), members=outcomes, summary=summary,
                      polls=runner.polls, api_requests=api.transport.requests_sent)
        if self._warnings:
            result["warnings"] = list(self._warnings)
        return result
