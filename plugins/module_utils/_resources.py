# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The resources of the API, each declared once (see ``_fields``), with the input checks of their fields.

Adding an updatable field to the service is one ``Field`` line in ``SERVICE`` plus
its documentation in the module: the argument spec, the create and PATCH bodies,
the comparison, the diff and the check-mode prediction all follow from it.
"""

from __future__ import annotations

import re

from ._errors import InputError
from ._fields import CREATE_ONLY, IMMUTABLE, READ_ONLY, Field, ResourceSpec
from ._models import tags_to_api
from ._settings import check_pg_bouncer_config, check_pg_config

TAG_PATTERN = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TAGS = 50
HA_TYPES = ("none", "async", "sync")


def tag_text(value):
    """YAML turns ``true`` and ``1234`` into non-strings; the API wants their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def check_tags(tags):
    """Validate and stringify a tags dict locally; the server's rules, so nothing bad is sent."""
    problems = []
    clean = {}
    for raw_key, raw_value in tags.items():
        key, value = tag_text(raw_key), tag_text(raw_value)
        if not TAG_PATTERN.match(key) or len(key) > 128:
            problems.append("key %r must be 1-128 characters of letters, digits, '.', '_' or '-'" % key)
        elif key.startswith("chc_"):
            problems.append("key %r uses the reserved prefix 'chc_'" % key)
        if raw_value is None:
            problems.append("%r has no value (in YAML, `key:` with nothing after it is null): give it one, or remove it" % key)
        elif not TAG_PATTERN.match(value) or len(value) > 256:
            problems.append("value %r of %r must be 1-256 characters of letters, digits, '.', '_' or '-'" % (value, key))
        clean[key] = value
    if len(clean) > MAX_TAGS:
        problems.append("at most %d tags are allowed, got %d" % (MAX_TAGS, len(clean)))
    if problems:
        raise InputError("Invalid tags: %s." % "; ".join(problems), tags=sorted(clean))
    return clean


def check_name(name):
    """1 to 50 characters, none of them a control character (a newline or a NUL would make a name no one can type)."""
    if not 1 <= len(name) <= 50:
        raise InputError("name must be 1-50 characters, got %d" % len(name))
    control = sorted({"U+%04X" % ord(c) for c in name if ord(c) < 32 or 127 <= ord(c) < 160})
    if control:
        raise InputError("name %r holds control characters (%s); nothing was sent" % (name, ", ".join(control)))
    if name != name.strip():
        raise InputError("name %r starts or ends with white space; nothing was sent" % name)
    return name


def _is_primary(service):
    return service.get("is_primary") is not False


SERVICE = ResourceSpec(
    kind="Postgres service",
    result_key="service",
    fields=(
        Field("id", mode=READ_ONLY, server_default=None),
        # changes only when the service is found by id (PATCH name)
        Field("name", check=check_name, required_to_create=True),
        Field("provider", mode=IMMUTABLE, inherited=True, required_to_create=True),
        Field("region", mode=IMMUTABLE, inherited=True, required_to_create=True),
        Field("postgres_version", mode=IMMUTABLE, inherited=True, server_default="17"),
        Field("size", inherited=True, required_to_create=True),
        Field("ha_type", choices=HA_TYPES, inherited=True, server_default="none"),
        # The API replaces a primary's tags wholesale on every PATCH and may clear them when absent.
        Field("tags", type="dict", check=check_tags, to_wire=tags_to_api, purge_option="purge_tags",
              resend=_is_primary, server_default={}),
        # later managed by postgres_config, which checks them the same way
        Field("pg_config", type="dict", mode=CREATE_ONLY, check=check_pg_config, omit_empty=True),
        Field("pg_bouncer_config", type="dict", mode=CREATE_ONLY, check=check_pg_bouncer_config, omit_empty=True),
        Field("is_primary", mode=READ_ONLY, server_default=True),
        Field("password", mode=READ_ONLY, secret=True),
        Field("connection_string", mode=READ_ONLY, secret=True),
    ),
    partial_keys=("hostname",),  # list items lack it; a playbook needs it to connect
)

# For tasks that need only a service's id, name, state and version (all in the list items):
# finding one by name then costs one call, not a list plus a GET.
SERVICE_SUMMARY = SERVICE.but(partial_keys=())
