# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Reading the date-times users give (RFC 3339) into the one form the API takes."""

from __future__ import annotations

import datetime
import re

from ._errors import InputError

API_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def check_timestamp(value, option):
    """RFC 3339 date-time, e.g. 2026-03-31T18:17:37Z, returned in the API's UTC form."""
    try:
        parsed = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError("%s must be an RFC 3339 date-time such as 2026-03-31T18:17:37Z, got %r" % (option, value))
    if parsed.tzinfo is None:
        raise InputError("%s must say its time zone (end it with Z for UTC), got %r" % (option, value))
    return parsed.astimezone(datetime.timezone.utc).strftime(API_FORMAT)


def parse_timestamp(api_form):
    """A timestamp in the API's form (``check_timestamp``'s output) as an aware datetime."""
    return datetime.datetime.strptime(api_form, API_FORMAT).replace(tzinfo=datetime.timezone.utc)


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$", re.I)


def read_timestamp(text):
    """An RFC 3339 timestamp the API wrote (fractions dropped) as a UTC datetime; None when it is not one."""
    match = _RFC3339.match(str(text or "").strip())
    if not match:
        return None
    zone = "+00:00" if match.group(2).upper() == "Z" else match.group(2)
    return datetime.datetime.fromisoformat(match.group(1) + zone).astimezone(datetime.timezone.utc)
