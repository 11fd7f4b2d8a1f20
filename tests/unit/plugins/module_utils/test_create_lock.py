# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import fcntl
import os

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._create_lock import CreateLock


def held_elsewhere(lock, name):
    """True when another open file description cannot take the name's flock now."""
    fd = os.open(lock._path(name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.fixture
def lock(tmp_path):
    with CreateLock("https://api.example/v1", "org", directory=str(tmp_path / "state")) as held:
        yield held


def test_acquired_names_are_held_until_released(lock):
    lock.acquire(["orders", "billing"])
    assert held_elsewhere(lock, "orders") and held_elsewhere(lock, "billing")
    assert not held_elsewhere(lock, "other")
    lock.release()
    assert not held_elsewhere(lock, "orders") and not held_elsewhere(lock, "billing")


def test_release_except_keeps_only_the_creates_still_to_send(lock):
    """A fleet whose replica waits for its primary's first backup must not hold the other names that long."""
    lock.acquire(["orders", "orders-replica", "billing"])
    lock.release_except(["orders-replica"])
    assert held_elsewhere(lock, "orders-replica")
    assert not held_elsewhere(lock, "orders") and not held_elsewhere(lock, "billing")
    lock.release()
    assert not held_elsewhere(lock, "orders-replica")


def test_leaving_the_context_releases_everything(tmp_path):
    with CreateLock("https://api.example/v1", "org", directory=str(tmp_path)) as lock:
        lock.acquire(["orders"])
        assert held_elsewhere(lock, "orders")
    assert not held_elsewhere(lock, "orders")
