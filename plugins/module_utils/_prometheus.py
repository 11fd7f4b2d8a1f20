# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Parse the Prometheus text exposition format into samples a playbook can filter.

Each sample is ``{name, labels, value, type, help}`` (plus ``timestamp`` when the
line has one).  ``type`` and ``help`` come from the ``# TYPE`` / ``# HELP`` lines of
the sample's family; ``x_bucket``, ``x_sum`` and ``x_count`` belong to family ``x``.
Values are floats; the non-finite ones stay text (``NaN``, ``+Inf``, ``-Inf``),
because JSON has no way to write them.
"""

from __future__ import annotations

import math
import re

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(r"^(%s)\s*(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?\s*$" % _NAME)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_META = re.compile(r"^#\s*(HELP|TYPE)\s+(%s)(?:\s+(.*))?$" % _NAME)
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_FAMILY_SUFFIXES = ("_bucket", "_sum", "_count", "_created", "_total")
_NON_FINITE = {"nan": "NaN", "+inf": "+Inf", "inf": "+Inf", "-inf": "-Inf"}


class ExpositionError(ValueError):
    """A line that is not Prometheus text; carries its line number."""


def _unescape(text):
    return re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m.group(0)], text)


def _labels(text, number):
    labels, rest = {}, text[1:-1].strip()
    while rest:
        match = _LABEL.match(rest)
        if not match:
            raise ExpositionError("line %d: cannot read the labels %s" % (number, text))
        labels[match.group(1)] = _unescape(match.group(2))
        rest = rest[match.end():].strip()
    return labels


def _value(text, number):
    special = _NON_FINITE.get(text.lower())
    if special is not None:
        return special
    try:
        value = float(text)
    except ValueError:
        raise ExpositionError("line %d: %r is not a sample value" % (number, text))
    return value if math.isfinite(value) else _NON_FINITE[repr(value).lower()]


def _family(name, meta):
    if name in meta:
        return meta[name]
    for suffix in _FAMILY_SUFFIXES:
        if name.endswith(suffix) and name[:-len(suffix)] in meta:
            return meta[name[:-len(suffix)]]
    return {}


def parse(text):
    """All samples of an exposition, in the order of the text."""
    meta, raw = {}, []
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            match = _META.match(line)
            if match:  # other comments are allowed and mean nothing
                key = "help" if match.group(1) == "HELP" else "type"
                value = match.group(3) or ""
                meta.setdefault(match.group(2), {})[key] = _unescape(value) if key == "help" else value.strip()
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise ExpositionError("line %d: not a sample: %s" % (number, line[:200]))
        sample = {"name": match.group(1), "labels": _labels(match.group(2), number) if match.group(2) else {},
                  "value": _value(match.group(3), number)}
        if match.group(4) is not None:
            sample["timestamp"] = int(match.group(4))
        raw.append(sample)
    for sample in raw:  # TYPE/HELP may come after a family's first sample in hand-written text
        family = _family(sample["name"], meta)
        sample["type"] = family.get("type", "untyped")
        sample["help"] = family.get("help")
    return raw
