# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process and return its JSON result."""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest

from ansible.module_utils import _internal as module_internal
from ansible.module_utils.testing import patch_module_args


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A home of the test's own: what modules remember on the controller (owed restarts, rescued credentials)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def run_module(capsys, monkeypatch):
    # A module runs on the target side. Any controller import in this process (another test file's, at
    # collection) flips ansible-core into controller mode, whose warn() displays instead of returning.
    monkeypatch.setattr(module_internal, "is_controller", False)

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
    # the shared emulator has no rate limit (tests/unit/conftest.py), so neither does the client: pacing is
    # tested in test_pacer.py and test_transport.py
    return {"api_url": emulator.url, "api_key_id": emulator.admin_key[0], "api_key_secret": emulator.admin_key[1],
            "organization_id": emulator.org_id, "api_rate_limit": "off"}


@pytest.fixture
def running_service(emulator):
    """A fresh running service on the shared emulator, with a client for setting it up: ``{id, name, api}``."""
    from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
    from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport

    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    created = api.create_service(dict(name="unit %s" % uuid.uuid4().hex[:12], provider="aws", region="us-east-1", size="r8gd.large"))
    deadline = time.monotonic() + 30
    while api.get_service(created.id).state != "running":
        assert time.monotonic() < deadline, "service %s did not start" % created.id
        time.sleep(0.1)
    return {"id": created.id, "name": created.name, "api": api}
