# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Relative and absolute windows, resolved against one 'now', and paging bounds."""

from __future__ import annotations

import calendar

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._windows import check_paging, window

NOW = calendar.timegm((2026, 3, 31, 18, 17, 37)) + 0.25  # a quarter second past 18:17:37


def clock():
    return NOW


@pytest.mark.parametrize("since, until, expected", [
    ("24h", "now", ("2026-03-30T18:17:38Z", "2026-03-31T18:17:38Z")),  # now rounds up: this second is inside
    ("7d", "NOW", ("2026-03-24T18:17:38Z", "2026-03-31T18:17:38Z")),
    ("30m", "now-5m", ("2026-03-31T17:47:38Z", "2026-03-31T18:12:38Z")),
    ("90s", "-1 min", ("2026-03-31T18:16:08Z", "2026-03-31T18:16:38Z")),
    ("2w", "1d", ("2026-03-17T18:17:38Z", "2026-03-30T18:17:38Z")),
    ("2026-03-31T00:00:00Z", "2026-03-31T06:00:00+02:00", ("2026-03-31T00:00:00Z", "2026-03-31T04:00:00Z")),
    ("2026-03-31T10:00:00.75z", "now", ("2026-03-31T10:00:00Z", "2026-03-31T18:17:38Z")),
])
def test_windows(since, until, expected):
    assert window(since, until, clock=clock) == {"from": expected[0], "to": expected[1]}


@pytest.mark.parametrize("since, until, max_days, fragment", [
    ("now", "24h", None, "The window is empty: to (2026-03-30T18:17:38Z) must be after from (2026-03-31T18:17:38Z)"),
    ("1h", "1h", None, "The window is empty"),
    ("31d", "now", 30, "longer than the API's 30 days"),
    ("yesterday", "now", None, "from must be 'now', a time before now such as 24h"),
    ("24h", "2026-03-31T10:00:00", None, "to must be 'now', a time before now"),  # no time zone
    ("24 hours", "now", None, "from must be"),
    ("1.5h", "now", None, "from must be"),
])
def test_bad_windows(since, until, max_days, fragment):
    with pytest.raises(InputError) as raised:
        window(since, until, max_days=max_days, clock=clock)
    assert fragment in raised.value.message


def test_thirty_days_exactly_is_allowed():
    assert window("30d", "now", max_days=30, clock=clock)["from"] == "2026-03-01T18:17:38Z"


@pytest.mark.parametrize("limit, offset", [(0, 0), (5, -1)])
def test_paging_bounds(limit, offset):
    with pytest.raises(InputError, match="limit must be at least 1 and offset at least 0"):
        check_paging(limit, offset)
    check_paging(1, 0)
