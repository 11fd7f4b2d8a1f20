# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime

import pytest
from ansible_collections.clickhouse.cloud.plugins.module_utils._timestamps import read_timestamp

UTC = datetime.timezone.utc


@pytest.mark.parametrize("text, read", [
    ("2026-12-01T12:00:00Z", datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)),
    ("2026-12-01T12:00:00.123456789Z", datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)),  # fractions dropped
    ("2026-12-01T13:30:00+01:30", datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)),
    ("2026-12-01t12:00:00z", datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)),
    ("2026-12-01T12:00:00", None),  # no zone: not an API timestamp
    ("yesterday", None),
    (None, None),
])
def test_an_api_timestamp_reads_as_utc_or_not_at_all(text, read):
    assert read_timestamp(text) == read
