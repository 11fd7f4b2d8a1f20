# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The Postgres service as a resource of the engine: its fields, input checks and API ops.

Shared by postgres_service, postgres_info and anything else that finds services.
"""

from __future__ import annotations

import datetime
import re
import time

from ._engine import CREATE_ONLY, IMMUTABLE, Field, Resource, ResourceSpec
from ._errors import ApiError, InputError
from ._module import ClickHouseModule

SERVICE = ResourceSpec(
    kind="Postgres service",
    result_key="service",
    fields=(
        Field("name"),  # changes only when the service is found by id (PATCH name)
        Field("provider", IMMUTABLE),
        Field("region", IMMUTABLE),
        Field("postgres_version", IMMUTABLE),
        Field("size"),
        Field("ha_type"),
        Field("tags", purge_option="purge_tags"),
        Field("pg_config", CREATE_ONLY),  # later managed by postgres_config
        Field("pg_bouncer_config", CREATE_ONLY),
    ),
    secrets=("password", "connection_string"),
    create_defaults={"postgres_version": "17", "ha_type": "none", "tags": {}, "is_primary": True, "id": None},
    partial_keys=("hostname",),  # list items lack it; a playbook needs it to connect
)

# For tasks that need only a service's id, name, state and version (all in the list items):
# finding one by name then costs one call, not a list plus a GET.
SERVICE_SUMMARY = SERVICE.but(partial_keys=())

TAG_PATTERN = re.compile(r"^[a-zA-Z0-9._-]+$")
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_TAGS = 50


def tag_text(value):
    """YAML turns ``true`` and ``1234`` into non-strings; the API wants their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def check_tags(tags):
    """Validate and stringify a tags dict locally; the server's rules, so nothing bad is sent."""
    if tags is None:
        return None
    problems = []
    clean = {}
    for key, value in tags.items():
        key, value = tag_text(key), tag_text(value)
        if not TAG_PATTERN.match(key) or len(key) > 128:
            problems.append("key %r must be 1-128 characters of letters, digits, '.', '_' or '-'" % key)
        elif key.startswith("chc_"):
            problems.append("key %r uses the reserved prefix 'chc_'" % key)
        if not TAG_PATTERN.match(value) or len(value) > 256:
            problems.append("value %r of %r must be 1-256 characters of letters, digits, '.', '_' or '-'" % (value, key))
        clean[key] = value
    if len(clean) > MAX_TAGS:
        problems.append("at most %d tags are allowed, got %d" % (MAX_TAGS, len(clean)))
    if problems:
        raise InputError("Invalid tags: %s." % "; ".join(problems), tags=sorted(clean))
    return clean


def check_name(name):
    if name is not None and not 1 <= len(name) <= 50:
        raise InputError("name must be 1-50 characters, got %d" % len(name))


def check_timestamp(value, option):
    """RFC 3339 date-time, e.g. 2026-03-31T18:17:37Z, returned in the API's UTC form."""
    try:
        parsed = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError("%s must be an RFC 3339 date-time such as 2026-03-31T18:17:37Z, got %r" % (option, value))
    if parsed.tzinfo is None:
        raise InputError("%s must say its time zone (end it with Z for UTC), got %r" % (option, value))
    return parsed.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        """A service given by id or by unique name (for replica_of, restore_from)."""
        if UUID_PATTERN.match(ref):
            found = self.get(ref)
        else:
            named = [s for s in self.list() if s.get("name") == ref]
            if len(named) > 1:
                raise InputError("%s: %d services are named %r (ids: %s); give the id" % (
                    option, len(named), ref, ", ".join(s["id"] for s in named)))
            found = named[0] if named else None
        if found is None:
            raise InputError("%s: no Postgres service %r in this organization" % (option, ref))
        return found

    def create(self, desired):
        return self.api.create_service(
            name=desired["name"], provider=desired["provider"], region=desired["region"], size=desired["size"],
            postgres_version=desired.get("postgres_version"), ha_type=desired.get("ha_type"),
            tags=desired.get("tags"), pg_config=desired.get("pg_config"),
            pg_bouncer_config=desired.get("pg_bouncer_config")).to_result()

    def update(self, service_id, changes, current):
        tags = changes.get("tags")
        if tags is None and current.get("is_primary") is not False:
            # The API replaces tags wholesale and may clear them when absent: resend them.
            tags = current.get("tags")
        return self.api.patch_service(service_id, name=changes.get("name"), size=changes.get("size"),
                                      ha_type=changes.get("ha_type"), tags=tags).to_result()

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

    def find_service(self):
        """The service the task names, with one API call (SERVICE_SUMMARY); InputError when there is none.

        ``self.engine`` is then the engine that writes to and waits for it.
        """
        engine = Resource(self, SERVICE_SUMMARY, ServiceOps(self.api))
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
            text = (exc.error or "").lower()
            if exc.status != 400 or "not ready" not in text or clock() + delay > deadline:
                raise
            log("primary not ready for read replicas yet (%s); asking again in %.0f s" % (exc.error, delay))
            sleep(delay)
