# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._credentials import credentials_path


@pytest.mark.parametrize("name, file_name", [
    ("orders", "orders.json"),
    ("orders-eu.1", "orders-eu.1.json"),
    ("../../etc/cron.d/x", "..%2F..%2Fetc%2Fcron.d%2Fx.json"),
    ("a/b", "a%2Fb.json"),
    ("a%2Fb", "a%252Fb.json"),  # not the file of "a/b"
    ("..", "...json"),
])
def test_a_service_name_is_one_file_inside_the_directory(tmp_path, name, file_name):
    path = credentials_path(str(tmp_path), name)
    assert os.path.basename(path) == file_name
    assert os.path.dirname(os.path.realpath(path)) == os.path.realpath(tmp_path)
