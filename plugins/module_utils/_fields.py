# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""How a resource is declared: each field once, and everything else derived from it.

A ``Field`` says what one attribute of a resource is: its option name, its wire
name, its type and choices, how it may change, whether it is secret, how its
input is checked and how its values compare.  A ``ResourceSpec`` is the list of
them.  From that alone come the module's argument spec, the validated desired
state, the create and PATCH bodies, the comparison (``plan_update`` in the
engine), the diff and the check-mode prediction, so a new field is one line here
plus its documentation.  Pure: no HTTP, no Ansible.
"""

from __future__ import annotations

from ._compare import equal, normalize
from ._models import camel

# How a field may change on an existing resource.
UPDATABLE = "updatable"  # sent in an update when it differs
IMMUTABLE = "immutable"  # differs -> ImmutableError, nothing sent
CREATE_ONLY = "create_only"  # sent on create, never compared (another module owns it later)
READ_ONLY = "read_only"  # returned by the API, never an option nor sent

_UNSET = object()


class Field:
    """One attribute of a resource; see the module docstring.

    ``check(value)`` validates an option's value and returns it as the API wants it
    (raising ``InputError``). ``to_wire(value)`` renders it for a request body.
    ``purge_option`` makes a map field (tags) compare key by key; the named boolean
    option says whether keys missing from the desired map are removed. ``resend``
    (``current -> bool``) marks a field the API replaces wholesale on every PATCH,
    so it is sent again with any change. ``inherited`` fields come from the origin
    of a read replica or a restore and cannot be given with one. ``server_default``
    is what the API fills in on create, for the check-mode prediction. ``canon``
    gives the form in which two values compare (the API echoes numbers as text).
    ``merge(current, desired, purge)`` combines a ``purge_option`` field's values (tags:
    key by key; access rules: rule by rule), and ``patch_wire(current, after)`` renders
    a PATCH of a field the API changes by operations (access rules: add and remove).
    """

    def __init__(self, name, type="str", mode=UPDATABLE, wire=None, choices=None, elements=None, secret=False,
                 check=None, to_wire=None, purge_option=None, resend=None, inherited=False,
                 required_to_create=False, omit_empty=False, server_default=_UNSET, canon=normalize,
                 merge=None, patch_wire=None, options=None):
        self.name = name
        self.type = type
        self.mode = mode
        self.wire = wire or camel(name)
        self.choices = tuple(choices) if choices else None
        self.elements = elements
        self.secret = secret
        self._check = check
        self._to_wire = to_wire
        self.purge_option = purge_option
        self.resend = resend
        self.inherited = inherited
        self.required_to_create = required_to_create
        self.omit_empty = omit_empty  # an empty value is not sent at all (``{}`` settings on create)
        self.server_default = server_default
        self.canon = canon  # the canonical form values compare in
        self._merge = merge  # (current, desired, purge) -> the value after the change, for purge_option fields
        self._patch_wire = patch_wire  # (current, after) -> what a PATCH sends, when not the whole value
        self.options = options  # suboptions of a list of dicts, as the argument spec takes them

    @property
    def is_option(self):
        return self.mode != READ_ONLY

    @property
    def has_server_default(self):
        return self.server_default is not _UNSET

    def option_spec(self):
        """The AnsibleModule argument spec entry of this field."""
        spec = {"type": self.type}
        if self.choices:
            spec["choices"] = list(self.choices)
        if self.elements:
            spec["elements"] = self.elements
        if self.secret:
            spec["no_log"] = True
        if self.options:
            spec["options"] = {name: dict(option) for name, option in self.options.items()}
        return spec

    def check(self, value):
        """The option's value validated and in the API's form; None stays None ("leave alone")."""
        if value is None or self._check is None:
            return value
        return self._check(value)

    def to_wire(self, value):
        return self._to_wire(value) if self._to_wire else value

    def plan(self, have, want, purge=True):
        """``(differs, after)``: whether ``want`` changes ``have``, and the value to send if so."""
        after = self._merge(have, want, purge) if self._merge is not None else want
        return not self.same(have, after), after

    def patch_wire(self, have, after):
        return self._patch_wire(have, after) if self._patch_wire else self.to_wire(after)

    def same(self, have, want):
        """Equal after normalisation (maps: the whole map)."""
        return equal(have, want, self.canon)


class ResourceSpec:
    """What the engine knows of one kind of resource; every derived view is a method here."""

    def __init__(self, kind, result_key, fields, ready_state="running", created_state="creating", partial_keys=()):
        self.kind = kind  # for messages: "Postgres service"
        self.result_key = result_key  # "service"
        self.fields = tuple(fields)
        self.ready_state = ready_state
        self.created_state = created_state
        self.partial_keys = tuple(partial_keys)  # missing from list items: fetch the full object
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("%s declares a field twice: %s" % (kind, sorted(n for n in names if names.count(n) > 1)))

    def but(self, **changes):
        """This spec with some constructor arguments changed, e.g. ``partial_keys=()``."""
        args = dict(kind=self.kind, result_key=self.result_key, fields=self.fields, ready_state=self.ready_state,
                    created_state=self.created_state, partial_keys=self.partial_keys)
        args.update(changes)
        return ResourceSpec(**args)

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def options(self):
        return tuple(f for f in self.fields if f.is_option)

    @property
    def secrets(self):
        """Fields never shown in a diff, and returned only by the write that set them."""
        return frozenset(f.name for f in self.fields if f.secret)

    @property
    def inherited(self):
        return tuple(f.name for f in self.fields if f.inherited)

    # -- the module side -----------------------------------------------------

    def argument_spec(self):
        """Argument spec entries of every option field, and of their purge options."""
        spec = {}
        for f in self.options:
            spec[f.name] = f.option_spec()
            if f.purge_option:
                spec[f.purge_option] = {"type": "bool", "default": True}
        return spec

    def desired(self, params):
        """The validated desired state from the module's options; None means "leave alone".

        Returns a new dict: the options themselves are never rewritten.
        """
        return {f.name: f.check(params.get(f.name)) for f in self.options}

    def purge(self, params):
        """``{field name: purge?}`` of the map fields."""
        return {f.name: params.get(f.purge_option, True) for f in self.options if f.purge_option}

    def missing_to_create(self, desired, origin=False):
        """Options a create still needs (none for a replica or a restore, whose origin gives them)."""
        return [f.name for f in self.options if f.required_to_create and not (origin and f.inherited)
                and desired.get(f.name) in (None, "")]

    # -- the wire side -------------------------------------------------------

    def body(self, values, current=None):
        """A request body (camelCase) from snake_case values; None and omitted-empty values are left out.

        With ``current`` it is a PATCH's: fields the API changes by operations say what to add and remove.
        """
        body = {}
        for f in self.options:
            value = values.get(f.name)
            if value is None or (f.omit_empty and not value):
                continue
            body[f.wire] = f.to_wire(value) if current is None else f.patch_wire(current.get(f.name), value)
        return body

    def create_body(self, desired, origin=False):
        """The create body; ``origin``: for a read replica or a restore, which inherit some fields."""
        return self.body({f.name: desired.get(f.name) for f in self.options
                          if f.mode != READ_ONLY and not (origin and f.inherited)})

    def patch_values(self, changes, current):
        """What a PATCH sends: the changes, plus the fields the API replaces wholesale (``resend``)."""
        sent = dict(changes)
        for f in self.options:
            if f.resend is not None and f.name not in sent and f.resend(current or {}):
                sent[f.name] = (current or {}).get(f.name)
        return {k: v for k, v in sent.items() if v is not None}

    # -- comparison ----------------------------------------------------------

    def matches(self, obj, wanted):
        """True when every wanted field already reads back as wanted."""
        obj = obj or {}
        return all(self._same(name, obj.get(name), value) for name, value in wanted.items())

    def _same(self, name, have, want):
        try:
            return self.field(name).same(have, want)
        except KeyError:
            return equal(have, want)

    def predict_create(self, desired, inherited=None, ready=True):
        """The resource a create would make: server defaults, then the desired fields, then what the origin gives."""
        predicted = {f.name: f.server_default for f in self.fields if f.has_server_default}
        predicted.update({k: v for k, v in desired.items() if v is not None and self.field(k).mode != CREATE_ONLY})
        predicted.update(inherited or {})
        predicted["state"] = self.ready_state if ready else self.created_state
        return predicted


def changed_fields(spec, current, desired, purge):
    """``(changes, conflicts)`` of the desired fields against the current object, per the declaration."""
    changes, conflicts = {}, {}
    for field in spec.options:
        want = desired.get(field.name)
        if want is None or field.mode == CREATE_ONLY:
            continue
        have = current.get(field.name)
        differs, after = field.plan(have, want, purge.get(field.name, True))
        if not differs:
            continue
        if field.mode == IMMUTABLE:
            conflicts[field.name] = (have, want)
        else:
            changes[field.name] = after
    return changes, conflicts
