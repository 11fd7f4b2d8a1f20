# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_info against the emulator: filters, one service, extras, never changed."""

from __future__ import annotations

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.plugins.modules import postgres_info


@pytest.fixture
def fleet(emulator_process):
    """Three services on the shared emulator, made by the first test that asks for them."""
    api = PostgresApi(Transport(emulator_process.url, *emulator_process.admin_key), emulator_process.org_id)
    made = {s.name: s.id for s in api.list_services() if s.name.startswith("info ")}
    for name, tags in (("info a", {"env": "prod"}), ("info b", {"env": "dev"}), ("info c", {"env": "prod", "team": "x"})):
        if name not in made:
            made[name] = api.create_service(name=name, provider="aws", region="us-east-1", size="r8gd.large", tags=tags).id
    return made


def names(result):
    return [s["name"] for s in result["services"] if s["name"].startswith("info ")]


def test_list_and_filters(run_module, emu_args, fleet, writes):
    assert names(run_module(postgres_info, emu_args)) == ["info a", "info b", "info c"]
    assert names(run_module(postgres_info, dict(emu_args, tags={"env": "prod"}))) == ["info a", "info c"]
    assert names(run_module(postgres_info, dict(emu_args, role="replica"))) == []
    assert names(run_module(postgres_info, dict(emu_args, role="primary", tags={"team": "x"}))) == ["info c"]
    assert names(run_module(postgres_info, dict(emu_args, states=["no-such-state"]))) == []
    assert writes() == []


def test_one_service_with_extras(run_module, emu_args, fleet):
    result = run_module(postgres_info, dict(emu_args, name="info b", include_config=True, include_ca_certificate=True,
                                            _ansible_check_mode=True))
    assert not result["changed"]
    [service] = result["services"]
    assert service["id"] == fleet["info b"] and service["hostname"]
    assert set(service["config"]) == {"pg_config", "pg_bouncer_config"}
    assert isinstance(service["ca_certificate"], str)
    by_id = run_module(postgres_info, dict(emu_args, id=fleet["info b"]))
    assert [s["id"] for s in by_id["services"]] == [fleet["info b"]]


def test_missing_id_is_an_empty_list(run_module, emu_args):
    assert run_module(postgres_info, dict(emu_args, id="00000000-0000-4000-8000-000000000000"))["services"] == []
