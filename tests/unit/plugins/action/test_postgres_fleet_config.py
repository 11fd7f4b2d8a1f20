# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet config action's merge of the call's advice policy with a member's (controller side: ansible-test
units runs it apart from the module_utils tests, which cannot import ansible.plugins)."""

from __future__ import annotations

import pytest
from ansible_collections.clickhouse.cloud.plugins.action.postgres_fleet_config import merged_advice


@pytest.mark.parametrize("call, member, merged", [
    (None, None, None),
    ({"rules": ["temp_spill"], "window": None}, None, {"rules": ["temp_spill"]}),
    (None, {"rules": []}, {"rules": []}),
    ({"rules": ["temp_spill"], "bounds": {"work_mem": "64MB"}}, {"bounds": {"work_mem": "8MB"}, "window": None},
     {"rules": ["temp_spill"], "bounds": {"work_mem": "8MB"}}),
])
def test_a_members_policy_keys_win_over_the_calls(call, member, merged):
    assert merged_advice(call, member) == merged
