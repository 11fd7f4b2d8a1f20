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

import ipaddress
import re

from ._compare import plan_map
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


def merge_tags(current, desired, purge):
    """Tags after the change: the desired ones, and (without ``purge``) the current ones they do not name."""
    return plan_map(current, desired, purge=purge).after


# -- access rules (the live API's ipAccessList) ---------------------------------------------

PORTS = re.compile(r"^([0-9]{1,5})(?:\.\.([0-9]{1,5}))?$")
RULE_OPTIONS = {
    "source": {"type": "str", "required": True},
    "ports": {"type": "str", "default": "5432", "aliases": ["port_range"]},
    "description": {"type": "str"},
}


def _source(text):
    """An IPv4 address or CIDR block in its canonical form (``10.0.0.1`` is ``10.0.0.1/32``)."""
    try:
        return ipaddress.IPv4Network(str(text).strip(), strict=False).with_prefixlen
    except ValueError:
        raise InputError("ip_access_list: source %r is not an IPv4 address or CIDR block such as 10.0.0.0/8" % (text,))


def _ports(text):
    """A port or a range ``A..B`` within 1-65535, as the API writes it (``5432..5432`` is ``5432``)."""
    match = PORTS.match(str(text).strip())
    low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
    if not (match and 1 <= low <= high <= 65535):
        raise InputError("ip_access_list: ports %r must be a port or a range A..B within 1-65535, such as 5432 or "
                         "5432..6432" % (text,))
    return str(low) if low == high else "%d..%d" % (low, high)


def rule_identity(rule):
    """What a rule is: its source and ports; the description only describes it."""
    return _source(rule.get("source")), _ports(rule.get("port_range") or rule.get("ports") or "5432")


def check_rules(rules):
    """The desired rules in the API's snake_case form (source, port_range, description), each once."""
    checked, seen = [], set()
    for rule in rules:
        source, ports = rule_identity(rule)
        if (source, ports) in seen:
            raise InputError("ip_access_list: the rule for %s on %s is given twice" % (source, ports))
        seen.add((source, ports))
        out = {"source": str(rule["source"]).strip(), "port_range": ports}
        if rule.get("description"):
            out["description"] = rule["description"]
        checked.append(out)
    return checked


def rules_canon(rules):
    """Rules compare as a set of (source, ports, description), in any order, ids aside."""
    if rules is None:
        return None
    return sorted(_rule_key(r) for r in rules)


def merge_rules(current, desired, purge):
    """The rules after the change: the desired ones (keeping the ids of those already there) and, without
    ``purge``, the current ones the desired list does not name."""
    by_identity = {rule_identity(r): r for r in current or []}
    after = []
    for rule in desired:
        kept = by_identity.get(rule_identity(rule))
        same = kept is not None and (kept.get("description") or "") == (rule.get("description") or "")
        after.append(dict(rule, id=kept["id"]) if same and kept.get("id") else dict(rule))
    if not purge:
        named = {rule_identity(r) for r in desired}
        after.extend(r for r in current or [] if rule_identity(r) not in named)
    return after


def _rule_wire(rule):
    wire = {"source": rule["source"], "portRange": rule.get("port_range") or _ports(rule.get("ports") or "5432")}
    if rule.get("description"):
        wire["description"] = rule["description"]
    return wire


def rules_to_wire(rules):
    """The create body's list."""
    return [_rule_wire(r) for r in rules]


def rules_patch(current, after):
    """The PATCH's operations: remove the rules that go (or change their description), add the new ones."""
    wanted = {_rule_key(r) for r in after}
    present = {_rule_key(r) for r in current or []}
    return {"add": [_rule_wire(r) for r in after if _rule_key(r) not in present],
            "remove": [{"id": r["id"]} for r in current or [] if _rule_key(r) not in wanted and r.get("id")]}


def _rule_key(rule):
    """A rule with its description: what a PATCH must make the same."""
    return rule_identity(rule) + (rule.get("description") or "",)


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
              merge=merge_tags, resend=_is_primary, server_default={}),
        # the live API's access rules: created with the service, changed by add / remove with the API's ids
        Field("ip_access_list", type="list", elements="dict", options=RULE_OPTIONS, check=check_rules,
              to_wire=rules_to_wire, purge_option="purge_ip_access_list", merge=merge_rules, patch_wire=rules_patch,
              canon=rules_canon),
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
