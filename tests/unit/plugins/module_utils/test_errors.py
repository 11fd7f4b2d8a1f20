# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API refusals the client recognises, once, for postgres_service and the fleet call alike."""

from __future__ import annotations

import pytest
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ApiError
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import retry_not_ready

PATH = "/v1/organizations/o/postgres/p/readReplica"


@pytest.mark.parametrize("status, error, not_ready", [
    (400, "BAD_REQUEST: primary not ready for read replicas: no backups yet", True),
    (400, "BAD_REQUEST: Not Ready", True),
    (400, "BAD_REQUEST: size: 'x' is not one of ...", False),
    (409, "CONFLICT: not ready", False),
    (None, None, False),
])
def test_not_ready_is_the_400_a_fresh_primary_answers(status, error, not_ready):
    assert ApiError("POST", PATH, status=status, error=error).not_ready is not_ready


def test_retry_not_ready_asks_again_until_taken_and_raises_anything_else():
    answers = [ApiError("POST", PATH, status=400, error="not ready"), {"id": "r"}]
    now, said = [0.0], []

    def call():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert retry_not_ready(call, 60, said.append, sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0]) == {"id": "r"}
    assert len(said) == 1 and now[0] == 20.0

    def refused():
        raise ApiError("POST", PATH, status=400, error="size is not one of")

    with pytest.raises(ApiError):
        retry_not_ready(refused, 60, said.append, sleep=lambda s: None, clock=lambda: 0.0)
