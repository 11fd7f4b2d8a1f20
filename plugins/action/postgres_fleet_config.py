# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The whole fleet's settings in one controller-side call, restarts in waves; see the module stub for its documentation."""

from __future__ import annotations

from ansible_collections.clickhouse.cloud.plugins.module_utils._config import desired_sections
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._fleet_config import ConfigFleetRun, check_advice
from ansible_collections.clickhouse.cloud.plugins.plugin_utils._fleet_action import FleetAction

ADVICE_SPEC = dict(rules=dict(type="list", elements="str"), bounds=dict(type="dict"), allow_restart=dict(type="bool"),
                   window=dict(type="str"))


def merged_advice(call, member):
    """The member's own policy keys over the call's; None when neither gives advice."""
    if call is None and member is None:
        return None
    merged = {k: v for k, v in (call or {}).items() if v is not None}
    merged.update((k, v) for k, v in (member or {}).items() if v is not None)
    return merged


class ActionModule(FleetAction):
    options = dict(
        services=dict(type="list", elements="dict", required=True),
        mode=dict(type="str", default="merge", choices=["merge", "replace"]),
        restart=dict(type="str", default="if_required", choices=["never", "if_required", "always"]),
        max_restarting=dict(type="int", default=1),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        advice=dict(type="dict", options=ADVICE_SPEC),
    )
    member_spec = dict(host=dict(type="str", required=True), name=dict(type="str", required=True),
                       pg_config=dict(type="dict"), pg_bouncer_config=dict(type="dict"),
                       advice=dict(type="dict", options=ADVICE_SPEC))

    def member(self, params):
        """Settings checked as postgres_config checks them; an empty section is left alone. A bad policy fails here."""
        sections = desired_sections(params["pg_config"] or None, params["pg_bouncer_config"] or None)
        check_advice(params["advice"])
        return dict(sections, host=params["host"], name=params["name"], advice=params["advice"])

    def apply(self, api, members, params, check_mode):
        if params["max_restarting"] < 1:
            raise InputError("max_restarting must be at least 1, got %d. Nothing was changed." % params["max_restarting"])
        check_advice(params["advice"])
        for member in members:
            member["advice"] = check_advice(merged_advice(params["advice"], member["advice"]))
        if params["mode"] == "replace" and any(m["advice"] is not None for m in members):
            raise InputError("advice needs mode merge: in mode replace, a setting an earlier run's advice applied would "
                             "be removed by every run whose advice does not propose it again. Nothing was changed.")
        runner = ConfigFleetRun(api, check_mode=check_mode, replace=params["mode"] == "replace",
                                restart=params["restart"], max_restarting=params["max_restarting"], wait=params["wait"],
                                wait_timeout=params["wait_timeout"], say=self.say)
        return runner, runner.run(members)
