# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The whole fleet's services in one controller-side call; see the module stub for its documentation."""

from __future__ import annotations

import os
import stat

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._fleet import FleetRun
from ansible_collections.clickhouse.cloud.plugins.module_utils._resources import SERVICE
from ansible_collections.clickhouse.cloud.plugins.plugin_utils._fleet_action import FleetAction


def member_spec():
    """One member: a host and its service, declared as ``postgres_service`` declares it."""
    spec = SERVICE.argument_spec()
    spec.update(host=dict(type="str", required=True), name=dict(type="str", required=True),
                state=dict(type="str", default="present", choices=["present", "absent"]),
                public=dict(type="bool", default=False), replica_of=dict(type="str"))
    return spec


def prepare_credentials_dir(path):
    """Make the directory (0700) before anything is created: a password that cannot be written is lost for good."""
    if not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o700)
        except OSError as exc:
            raise InputError("credentials_dir %s cannot be created: %s. Nothing was changed." % (path, exc))
        return []
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError("credentials_dir %s is not writable. Nothing was changed." % path)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        return ["credentials_dir %s is mode %04o, so others can see which services have connection details there "
                "(the files themselves are 0600); chmod 700 it, or name a directory of its own" % (path, mode)]
    return []


class ActionModule(FleetAction):
    options = dict(
        services=dict(type="list", elements="dict", required=True),
        credentials_dir=dict(type="path"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
    )
    member_spec = member_spec()

    def member(self, params):
        """The engine's desired state of one member (checked as postgres_service checks it)."""
        member = SERVICE.desired(params)
        member.update(host=params["host"], state=params["state"], purge=SERVICE.purge(params), public=params["public"],
                      replica_of=params["replica_of"] or None)
        return member

    def apply(self, api, members, params, check_mode):
        directory = params["credentials_dir"]
        if directory and not check_mode:
            for warning in prepare_credentials_dir(directory):
                self.warn(warning)
        runner = FleetRun(api, check_mode=check_mode, credentials_dir=directory, wait=params["wait"],
                          wait_timeout=params["wait_timeout"], say=self.say)
        return runner, runner.run(members)
