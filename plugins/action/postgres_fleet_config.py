# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The whole fleet's settings in one controller-side call, restarts in waves; see the module stub for its documentation."""

from __future__ import annotations

from ansible_collections.clickhouse.cloud.plugins.module_utils._config import desired_sections
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._fleet_config import ConfigFleetRun
from ansible_collections.clickhouse.cloud.plugins.plugin_utils._fleet_action import FleetAction


class ActionModule(FleetAction):
    options = dict(
        services=dict(type="list", elements="dict", required=True),
        mode=dict(type="str", default="merge", choices=["merge", "replace"]),
        restart=dict(type="str", default="if_required", choices=["never", "if_required", "always"]),
        max_restarting=dict(type="int", default=1),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    member_spec = dict(host=dict(type="str", required=True), name=dict(type="str", required=True),
                       pg_config=dict(type="dict"), pg_bouncer_config=dict(type="dict"))

    def member(self, params):
        """Settings checked as postgres_config checks them; an empty section is left alone."""
        sections = desired_sections(params["pg_config"] or None, params["pg_bouncer_config"] or None)
        return dict(sections, host=params["host"], name=params["name"])

    def apply(self, api, members, params, check_mode):
        if params["max_restarting"] < 1:
            raise InputError("max_restarting must be at least 1, got %d. Nothing was changed." % params["max_restarting"])
        runner = ConfigFleetRun(api, check_mode=check_mode, replace=params["mode"] == "replace",
                                restart=params["restart"], max_restarting=params["max_restarting"], wait=params["wait"],
                                wait_timeout=params["wait_timeout"], say=self.say)
        return runner, runner.run(members)
