# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The Postgres settings the API accepts, and how PostgreSQL reads their values.

``pg_config`` is compared after normalisation, as community.postgresql's
``postgresql_alter_system`` does, so ``1GB``, ``1024MB`` and ``1048576kB`` are one
value and a run that only spells a value differently changes nothing.  The
parsing follows PostgreSQL's own (``guc.c``: ``parse_int``, ``parse_real``,
``convert_to_base_unit``): numbers as ``strtol``/``strtod`` read them, units
case-sensitive and converted to the setting's base unit with the same rounding,
enum values case-insensitive with their hidden boolean spellings.

The catalogue is the spec's ``pgConfig`` schema (31 keys) and the 29 the live API added
(``CONTRACT_SETTINGS``, ``LIVE_SETTINGS``; unit tests keep them in step with the spec and the
emulator), plus what neither says: each setting's base unit and which settings only take
effect after a restart.
"""

from __future__ import annotations

import difflib
import math
import re

from ._errors import InputError

INT_MAX = 2147483647  # PostgreSQL integer settings are 32-bit
MAX_VALUE_LENGTH = 100

# Unit conversion tables: (unit, multiplier to the base unit), largest first, as guc.c has them.
_KB = 1024.0
MEMORY_UNITS = {
    "kB": (("TB", _KB ** 3), ("GB", _KB ** 2), ("MB", _KB), ("kB", 1.0), ("B", 1.0 / _KB)),
    "8kB": (("TB", _KB ** 3 / 8), ("GB", _KB ** 2 / 8), ("MB", _KB / 8), ("kB", 1.0 / 8), ("B", 1.0 / (8 * _KB))),
    "MB": (("TB", _KB ** 2), ("GB", _KB), ("MB", 1.0), ("kB", 1.0 / _KB), ("B", 1.0 / _KB ** 2)),
    "B": (("TB", _KB ** 4), ("GB", _KB ** 3), ("MB", _KB ** 2), ("kB", _KB), ("B", 1.0)),
}
TIME_UNITS = {
    "ms": (("d", 86400000.0), ("h", 3600000.0), ("min", 60000.0), ("s", 1000.0), ("ms", 1.0), ("us", 0.001)),
    "s": (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 0.001), ("us", 0.000001)),
}
# Bytes in one base unit, to read the spec's memory minimums, which are in kB (the only reading
# under which its own examples such as min_wal_size "80MB" with minimum 32768 are valid).
BASE_UNIT_KB = {"kB": 1, "8kB": 8, "MB": 1024, "B": 1.0 / 1024}

# strtol(value, &end, 0): hex, octal (a leading 0) or decimal; then strtod when a '.' or an
# exponent follows, as parse_int does.
_STRTOL = re.compile(r"\s*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_STRTOD = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class SettingValueError(ValueError):
    """A value PostgreSQL (or the API's schema) would refuse; the text says why."""


class Setting:
    """One pgConfig key: how to read a value, and how to send it."""

    kind = "integer"

    def __init__(self, minimum=None, restart=False, minus_one=False):
        self.minimum = minimum
        self.restart = restart  # postmaster context: takes effect only after a restart
        self.minus_one = minus_one  # -1 is a documented special value below the minimum

    def canonical(self, value):
        """The value as PostgreSQL stores it (base unit, rounded); raises SettingValueError."""
        number, rest = _read_number(_text(value), integer=self.kind == "integer")
        if rest:
            number = self._convert_unit(number, rest)
        return self._check(_round(number) if self.kind == "integer" else number)

    def check_input(self, value):
        """``canonical`` for a value a user wants set: stricter than PostgreSQL where the API is."""
        if self.kind == "integer":
            number, rest = _read_number(_text(value), integer=True)
            if not rest and not float(number).is_integer():
                # PostgreSQL would round it, but the API's schema takes whole numbers: say so rather than send it
                raise SettingValueError("must be a whole number")
        return self.canonical(value)

    def wire(self, value):
        """What to send: the value as given, as text (the API echoes text)."""
        return _text(value).strip()

    def _convert_unit(self, number, unit):
        raise SettingValueError("takes no unit, got %r" % unit)

    def _check(self, number):
        if self.kind == "integer" and not -INT_MAX - 1 <= number <= INT_MAX:
            raise SettingValueError("is out of range for an integer setting")
        if self.minus_one and number == -1:
            return number
        if self.minimum is not None and self._minimum_of(number) < self.minimum:
            raise SettingValueError("is below the minimum of %s" % self._minimum_text())
        return number

    def _minimum_of(self, number):
        return number

    def _minimum_text(self):
        return "%s%s" % (self.minimum, " (or -1)" if self.minus_one else "")

    def describe(self):
        return "an integer" if self.kind == "integer" else "a number"


class Real(Setting):
    kind = "real"


class WithUnit(Setting):
    """A memory or time setting: a bare number is in ``base_unit``."""

    tables = {}
    what = ""

    def __init__(self, base_unit, minimum=None, restart=False, minus_one=False, real=False):
        super().__init__(minimum, restart, minus_one)
        self.base_unit = base_unit
        self.kind = "real" if real else "integer"

    def _convert_unit(self, number, unit):
        table = self.tables[self.base_unit]
        names = [name for name, _m in table]
        if unit not in names:
            hint = " (PostgreSQL writes minutes as min)" if unit == "m" and self.what == "time" else ""
            raise SettingValueError("has an invalid unit %r; valid %s units are %s%s" % (unit, self.what, ", ".join(names), hint))
        index = names.index(unit)
        value = number * table[index][1]
        if index + 1 < len(table):  # a fraction becomes a whole number of the next smaller unit
            smaller = table[index + 1][1]
            value = _round(value / smaller) * smaller
        return value

    def describe(self):
        return "%s with an optional %s unit (bare numbers are %s)" % (
            "an integer" if self.kind == "integer" else "a number", self.what, self.base_unit)


class Memory(WithUnit):
    tables = MEMORY_UNITS
    what = "memory"

    def _minimum_of(self, number):
        return number * BASE_UNIT_KB[self.base_unit]

    def _minimum_text(self):
        return "%skB%s" % (self.minimum, " (or -1)" if self.minus_one else "")


class Time(WithUnit):
    tables = TIME_UNITS
    what = "time"

    def _minimum_text(self):
        return "%s%s%s" % (self.minimum, self.base_unit, " (or -1)" if self.minus_one else "")


class Enum(Setting):
    """A fixed set of values, read case-insensitively; ``aliases`` are other spellings PostgreSQL accepts."""

    kind = "enum"

    def __init__(self, choices, aliases=None, restart=False):
        super().__init__(None, restart)
        self.choices = tuple(choices)
        self.aliases = dict(aliases or {})

    def canonical(self, value):
        if isinstance(value, bool):
            value = "on" if value else "off"  # YAML reads an unquoted on/off as a boolean
        text = _text(value).strip().lower()
        for choice in self.choices:
            if text == choice.lower():
                return choice
        if text in self.aliases:
            return self.aliases[text]
        raise SettingValueError("must be one of %s" % ", ".join(self.choices))

    def wire(self, value):
        """The spec's spelling: its enums are case-sensitive, PostgreSQL's are not."""
        return self.canonical(value)

    def describe(self):
        return "one of %s" % ", ".join(self.choices)


class Opaque(Setting):
    """A key the API takes that is no PostgreSQL setting (``shared_memory_percent``): sent and compared as text."""

    kind = "text"

    def canonical(self, value):
        if isinstance(value, (dict, list, bool)) or value is None:
            raise SettingValueError("must be a number or a string")
        return ("text", _text(value).strip())

    def describe(self):
        return "a number or a string"


# wal_compression is an enum that also takes the boolean spellings (and pglz, which "on" means).
_BOOLEAN_ON = {"true": "on", "yes": "on", "1": "on", "pglz": "on"}
_BOOLEAN_OFF = {"false": "off", "no": "off", "0": "off"}

# The contract's keys (the 2026-07-31 spec), checked against it by the unit tests.
CONTRACT_SETTINGS = {
    "max_connections": Setting(1, restart=True),
    "default_transaction_isolation": Enum(("read committed", "repeatable read", "serializable")),
    "ssl_min_protocol_version": Enum(("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")),
    "maintenance_work_mem": Memory("kB", 64),
    "work_mem": Memory("kB", 64),
    "effective_cache_size": Memory("8kB", 8),
    "random_page_cost": Real(0),
    "effective_io_concurrency": Setting(0),
    "max_worker_processes": Setting(0, restart=True),
    "max_parallel_workers": Setting(0),
    "max_parallel_workers_per_gather": Setting(0),
    "max_parallel_maintenance_workers": Setting(0),
    "statement_timeout": Time("ms", 0),
    "lock_timeout": Time("ms", 0),
    "idle_session_timeout": Time("ms", 0),
    "idle_in_transaction_session_timeout": Time("ms", 0),
    "transaction_timeout": Time("ms", 0),
    "wal_sender_timeout": Time("ms", 0),
    "wal_keep_size": Memory("MB", 0),
    "min_wal_size": Memory("MB", 32768),
    "max_wal_size": Memory("MB", 32768),
    "max_slot_wal_keep_size": Memory("MB", 0, minus_one=True),
    "wal_compression": Enum(("off", "on", "lz4", "zstd"), aliases=dict(_BOOLEAN_ON, **_BOOLEAN_OFF)),
    "autovacuum_max_workers": Setting(1, restart=True),  # reloadable from PostgreSQL 18, see restart_only()
    "autovacuum_naptime": Time("s", 1),
    "autovacuum_work_mem": Memory("kB", 1024, minus_one=True),
    "autovacuum_vacuum_scale_factor": Real(0),
    "autovacuum_analyze_scale_factor": Real(0),
    "autovacuum_vacuum_insert_scale_factor": Real(0),
    "autovacuum_vacuum_cost_limit": Setting(1, minus_one=True),
    "autovacuum_vacuum_cost_delay": Time("ms", 0, minus_one=True, real=True),
}
# The live API's 29 more keys (shared/api/live-api-2026-10.md, section 4): enums as the API checks them, the
# rest with PostgreSQL's own units, minimums and contexts (the API takes any value for those).
LIVE_SETTINGS = {
    "autovacuum_analyze_threshold": Setting(0),
    "autovacuum_freeze_max_age": Setting(100000, restart=True),
    "autovacuum_vacuum_insert_threshold": Setting(0, minus_one=True),
    "autovacuum_vacuum_threshold": Setting(0),
    "bgwriter_delay": Time("ms", 10),
    "bgwriter_flush_after": Memory("8kB", 0),
    "bgwriter_lru_maxpages": Setting(0),
    "bgwriter_lru_multiplier": Real(0),
    "checkpoint_timeout": Time("s", 30),
    "default_toast_compression": Enum(("pglz", "lz4")),
    "enable_parallel_hash": Enum(("on", "off")),
    "hash_mem_multiplier": Real(1),
    "io_method": Enum(("sync", "worker", "io_uring"), restart=True),  # PostgreSQL 18
    "io_workers": Setting(1),  # PostgreSQL 18
    "log_lock_waits": Enum(("on", "off")),
    "log_min_duration_statement": Time("ms", 0, minus_one=True),
    "log_parameter_max_length": Memory("B", 0, minus_one=True),
    "log_temp_files": Memory("kB", 0, minus_one=True),
    "logical_decoding_work_mem": Memory("kB", 64),
    "maintenance_io_concurrency": Setting(0),
    "max_logical_replication_workers": Setting(0, restart=True),
    "max_replication_slots": Setting(0, restart=True),
    "max_sync_workers_per_subscription": Setting(0),
    "max_wal_senders": Setting(0, restart=True),
    "shared_memory_percent": Opaque(restart=True),  # a ClickHouse knob, not PostgreSQL's (inferred restart-only)
    "temp_buffers": Memory("8kB", 100),
    "track_activity_query_size": Memory("B", None, restart=True),
    "vacuum_cost_delay": Time("ms", 0, real=True),
    "wal_buffers": Memory("8kB", None, restart=True, minus_one=True),
}
PG_SETTINGS = dict(CONTRACT_SETTINGS, **LIVE_SETTINGS)

# PostgreSQL's own defaults (the same from 15 to 18) of the keys the API takes; keys whose default moved
# between those versions (effective_io_concurrency, maintenance_io_concurrency, log_lock_waits, io_*) are left
# out: the fleet report shows them as "default unknown", as every PgBouncer key. A config the API returns lists only
# what a user set, so these are what an unlisted key runs with (the report's comparison, the advisor's readings).
PG_DEFAULTS = {
    "autovacuum_analyze_scale_factor": "0.1",
    "autovacuum_analyze_threshold": "50",
    "autovacuum_freeze_max_age": "200000000",
    "autovacuum_max_workers": "3",
    "autovacuum_naptime": "1min",
    "autovacuum_vacuum_cost_delay": "2ms",
    "autovacuum_vacuum_cost_limit": "-1",
    "autovacuum_vacuum_insert_scale_factor": "0.2",
    "autovacuum_vacuum_insert_threshold": "1000",
    "autovacuum_vacuum_scale_factor": "0.2",
    "autovacuum_vacuum_threshold": "50",
    "autovacuum_work_mem": "-1",
    "bgwriter_delay": "200ms",
    "bgwriter_flush_after": "512kB",
    "bgwriter_lru_maxpages": "100",
    "bgwriter_lru_multiplier": "2",
    "checkpoint_timeout": "5min",
    "default_toast_compression": "pglz",
    "default_transaction_isolation": "read committed",
    "effective_cache_size": "4GB",
    "enable_parallel_hash": "on",
    "hash_mem_multiplier": "2",
    "idle_in_transaction_session_timeout": "0",
    "idle_session_timeout": "0",
    "lock_timeout": "0",
    "log_min_duration_statement": "-1",
    "log_parameter_max_length": "-1",
    "log_temp_files": "-1",
    "logical_decoding_work_mem": "64MB",
    "maintenance_work_mem": "64MB",
    "max_connections": "100",
    "max_logical_replication_workers": "4",
    "max_parallel_maintenance_workers": "2",
    "max_parallel_workers": "8",
    "max_parallel_workers_per_gather": "2",
    "max_replication_slots": "10",
    "max_slot_wal_keep_size": "-1",
    "max_sync_workers_per_subscription": "2",
    "max_wal_senders": "10",
    "max_wal_size": "1GB",
    "max_worker_processes": "8",
    "min_wal_size": "80MB",
    "random_page_cost": "4",
    "ssl_min_protocol_version": "TLSv1.2",
    "statement_timeout": "0",
    "temp_buffers": "8MB",
    "track_activity_query_size": "1024",
    "vacuum_cost_delay": "0",
    "wal_buffers": "-1",
    "wal_compression": "off",
    "wal_keep_size": "0",
    "wal_sender_timeout": "60s",
    "work_mem": "4MB",
}

RELOADABLE_SINCE = {"autovacuum_max_workers": 18}
ONLY_SINCE = {"io_method": 18, "io_workers": 18}  # PostgreSQL 18's; an older server ignores them
MAX_BOUNCER_KEYS = 64  # the spec's maxProperties


def restart_only(postgres_version):
    """Keys that need a restart on this major version (unknown version: assume the older rules)."""
    try:
        major = int(str(postgres_version).split(".", maxsplit=1)[0])
    except ValueError:
        major = 0
    return frozenset(k for k, s in PG_SETTINGS.items()
                     if s.restart and major < RELOADABLE_SINCE.get(k, 10 ** 6) and major >= ONLY_SINCE.get(k, 0))


def canonical(key, value):
    """Comparable form of a value; text the parser cannot read compares as text (so it differs)."""
    setting = PG_SETTINGS.get(key)
    if setting is not None:
        try:
            return setting.canonical(value)
        except SettingValueError:
            pass
    return ("text", _text(value).strip())


def check_pg_config(values, allow_unknown=False):
    """Validate a desired pg_config before anything is sent; return the values to send.

    Every problem is reported at once, naming the key and what it accepts. With ``allow_unknown``
    a key the catalogue does not know is sent as text, for the API to decide (one it added since).
    """
    problems, wire = [], {}
    unknown = sorted(k for k in values if k not in PG_SETTINGS)
    if allow_unknown:
        for key in unknown:
            if values[key] is None or isinstance(values[key], (dict, list)):
                problems.append("%s must be a number or a string" % key)
            else:
                wire[key] = bouncer_text(values[key]) if isinstance(values[key], bool) else _text(values[key]).strip()
        unknown = []
    for key in unknown:
        close = difflib.get_close_matches(key, PG_SETTINGS, n=1)
        problems.append("unknown key %r%s" % (key, " (did you mean %r?)" % close[0] if close else ""))
    for key in sorted(k for k in values if k in PG_SETTINGS):
        setting, value = PG_SETTINGS[key], values[key]
        if value is None:
            problems.append("%s has no value; use mode=replace to remove a setting" % key)
            continue
        if isinstance(value, (dict, list)) or (isinstance(value, bool) and setting.kind != "enum"):
            problems.append("%s must be %s, got %s" % (key, setting.describe(), shown(value)))
            continue
        try:
            setting.check_input(value)
        except SettingValueError as exc:
            problems.append("%s: %s %s" % (key, shown(value), exc))
            continue
        wire[key] = setting.wire(value)
    if problems:
        allowed = " Allowed keys: %s." % ", ".join(sorted(PG_SETTINGS)) if unknown else ""
        raise InputError("Invalid pg_config: %s.%s Nothing was changed." % ("; ".join(problems), allowed),
                         invalid=problems, unknown_keys=unknown or None)
    return wire


def check_pg_bouncer_config(values):
    """PgBouncer takes any parameter; the API wants string values and at most 64 keys."""
    if len(values) > MAX_BOUNCER_KEYS:
        raise InputError("pg_bouncer_config has %d keys; the API allows at most %d." % (len(values), MAX_BOUNCER_KEYS))
    bad = sorted(k for k, v in values.items() if v is None or isinstance(v, (dict, list)))
    if bad:
        raise InputError("pg_bouncer_config values must be strings or numbers: %s. Nothing was changed." % ", ".join(bad),
                         invalid=bad)
    return {str(k): bouncer_text(v) for k, v in values.items()}


def bouncer_text(value):
    """PgBouncer's booleans are 0/1; numbers and strings are sent as their text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return _text(value).strip()


def bouncer_canonical(key, value):
    return bouncer_text(value)


# -- parsing --------------------------------------------------------------------------


def shown(value, most=40):
    """A value for a message: its repr, cut short (a 5000-digit number is no message)."""
    text = repr(value)
    return text if len(text) <= most else "%s...(%d characters)" % (text[:most], len(text))


def _text(value):
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _round(number):
    """C's rint(): halves go to the even neighbour, as Python's round() does."""
    if not math.isfinite(number):  # a unit can overflow a finite number ("1e308TB")
        raise SettingValueError("is out of range")
    return int(round(number))


def _read_number(text, integer):
    """(number, unit text) the way parse_int / parse_real read the start of a value."""
    if len(text) > MAX_VALUE_LENGTH:  # no setting needs more; Python would refuse the digits anyway
        raise SettingValueError("is %d characters long; no setting takes more than %d" % (len(text), MAX_VALUE_LENGTH))
    match = _STRTOL.match(text) if integer else None
    if match and text[match.end():match.end() + 1] not in (".", "e", "E"):
        digits = match.group(0).strip()
        sign = -1 if digits.startswith("-") else 1
        body = digits.lstrip("+-")
        if body[:2].lower() == "0x":
            number = int(body[2:], 16)
        elif len(body) > 1 and body.startswith("0"):
            number = int(body, 8)
        else:
            number = int(body)
        number *= sign
    else:
        match = _STRTOD.match(text)
        if not match:
            raise SettingValueError("is not %s" % ("an integer" if integer else "a number"))
        number = float(match.group(0))
        if not math.isfinite(number):  # strtod's ERANGE: PostgreSQL refuses it
            raise SettingValueError("is out of range")
    rest = text[match.end():].strip()
    if rest and re.search(r"\s", rest):
        raise SettingValueError("has more than one unit: %r" % rest)
    return number, rest
