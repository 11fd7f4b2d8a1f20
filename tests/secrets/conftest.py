# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator of each secret scan module: the admin key holds this run's key secret."""

from __future__ import annotations

import pytest
from ansible_collections.clickhouse.cloud.tests.secrets.scan import KEY_SECRET
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import FAST_EMULATOR

EmulatorProcess = pytest.importorskip("chc_emulator.testing").EmulatorProcess


@pytest.fixture(scope="module")
def emulator():
    # state changes slow enough that a one-second wait after a create times out (the rescue case)
    emu = EmulatorProcess(**dict(FAST_EMULATOR, provisioning_seconds=2))
    emu.admin_key = ("scan-key", KEY_SECRET)
    with emu:
        yield emu
