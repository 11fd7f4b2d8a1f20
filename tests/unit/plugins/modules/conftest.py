# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process and return its JSON result."""

from __future__ import annotations

import json
import socket

import pytest

from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run_module(capsys):
    def run(module, args):
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(capsys.readouterr().out)
    return run


@pytest.fixture
def dead_api():
    """Connection options pointing at a port nobody listens on: any request would fail loudly."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return {"api_url": "http://127.0.0.1:%d" % port, "api_key_id": "unit-key", "api_key_secret": "unit-secret-never-sent",
            "organization_id": "11111111-2222-4333-8444-555555555555", "api_retries": 0}


@pytest.fixture
def emu_args(emulator):
    return {"api_url": emulator.url, "api_key_id": emulator.admin_key[0], "api_key_secret": emulator.admin_key[1],
            "organization_id": emulator.org_id}
