# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The Postgres service on the engine: its API ops, the lookup, and the module that works on one service.

The service itself is declared in ``_resources``; this is what binds it to the client.
"""

from __future__ import annotations

import re
import time

from ._engine import Resource, Waiter, lookup
from ._errors import AmbiguousError, ApiError, InputError
from ._module import ClickHouseModule
from ._resources import SERVICE_SUMMARY

UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class ServiceOps:
    """Engine ops on the API: snake_case dicts in and out, one list per run."""

    def __init__(self, api):
        self.api = api
        self._listing = None

    def list(self):
        if self._listing is None:
            self._listing = [s.to_result() for s in self.api.list_services()]
        return self._listing

    def get(self, service_id):
        found = self.api.find_service(service_id)
        return None if found is None else found.to_result()

    def resolve(self, ref, option):
        """A service given by id or by unique name (for replica_of, restore_from); InputError when there is none."""
        try:
            found = lookup(SERVICE_SUMMARY, self, *((ref, None) if UUID_PATTERN.match(ref) else (None, ref)))
        except AmbiguousError as exc:
            raise InputError("%s: %s" % (option, exc.message), **exc.details)
        if found is None:
            raise InputError("%s: no Postgres service %r in this organization" % (option, ref))
        return found

    def create(self, desired):
        return self.api.create_service(desired).to_result()

    def update(self, service_id, changes, current):
        return self.api.patch_service(service_id, changes, current).to_result()

    def delete(self, service_id):
        self.api.delete_service(service_id)

    def command(self, command):
        return lambda service_id: self.api.set_state(service_id, command).to_result()


class ServiceModule(ClickHouseModule):
    """A module that works on one existing service, named by ``id`` or ``name``.

    Its options are those of the clickhouse.cloud.service doc fragment plus ``argument_spec``;
    ``service_required=False`` lets a module work on the whole organization when neither is
    given. Every such module only reads before its writes, so check mode is always supported.
    """

    def __init__(self, argument_spec, service_required=True, **kwargs):
        spec = dict(id=dict(type="str"), name=dict(type="str"))
        spec.update(argument_spec)
        if service_required:
            kwargs["required_one_of"] = list(kwargs.get("required_one_of", ())) + [("id", "name")]
        super().__init__(argument_spec=spec, supports_check_mode=True, **kwargs)

    def resource(self, spec=SERVICE_SUMMARY, on_created=None):
        """A new engine for the services of this task: check and diff mode, wait timeout, log."""
        waiter = Waiter(self.params.get("wait_timeout") or 600, log=self.log)
        return Resource(spec, ServiceOps(self.api), check_mode=self.check_mode, diff=self._diff, waiter=waiter,
                        on_created=on_created)

    def find_service(self, engine=None):
        """The service the task names (one API call with ``SERVICE_SUMMARY``); InputError when there is none."""
        engine = engine or self.resource()
        found = engine.find(self.params["id"], self.params["name"])
        if found is None:
            raise InputError("No Postgres service %s in organization %s." % (
                "with id %s" % self.params["id"] if self.params["id"] else "named %r" % self.params["name"],
                self.params["organization_id"]))
        return found


def settled_after_command(command):
    """Done predicate: running again, and (for restarts) not just the 'running' from before the command."""
    def done(obj, report):
        if obj is None or obj.get("state") != "running":
            return False
        if command == "promote":
            return obj.get("is_primary") is True
        # The first polls may still read the pre-command 'running': trust it once another state was seen.
        return len(report.states) > 1 or report.polls >= 3
    return done


def retry_not_ready(call, timeout, log, sleep=time.sleep, clock=time.monotonic):
    """A fresh primary refuses replicas until its first backup (~10 min): keep asking until ``timeout``."""
    deadline = clock() + timeout
    delay = 20.0
    while True:
        try:
            return call()
        except ApiError as exc:
            if not exc.not_ready or clock() + delay > deadline:
                raise
            log("primary not ready for read replicas yet (%s); asking again in %.0f s" % (exc.error, delay))
            sleep(delay)
