# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_backups_info against the emulator: the backups it took, page by page, and the earliest restore time."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import pytest
from ansible_collections.clickhouse.cloud.plugins.modules import postgres_backups_info


def backup_queries(emu, since):
    """The query of each backups list request after the first ``since`` requests."""
    return [{k: v[0] for k, v in parse_qs(r["query"]).items()} for r in emu.requests()[since:] if r["path"].endswith("/backups")]


def test_a_new_service_has_no_backup_yet(run_module, emu_args, running_service, writes):
    by_id = run_module(postgres_backups_info, dict(emu_args, id=running_service["id"], _ansible_check_mode=True))
    assert (by_id["changed"], by_id["backups"], by_id["earliest_restore_time"]) == (False, [], None)
    assert writes.calls() == 2, "the service, then its backups"
    by_name = run_module(postgres_backups_info, dict(emu_args, name=running_service["name"]))
    assert (by_name["backups"], by_name["earliest_restore_time"]) == ([], None)
    assert writes.calls() == 5, "by name: the list, the service (for its restore time), the backups"
    assert writes() == []


@pytest.fixture
def backing_up(emulator_class):
    """An emulator that takes a backup a second, the first almost at once, and a service with three of them."""
    from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
    from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport

    with emulator_class(no_postgres=True, rate_limit="off", provisioning_seconds=0.2, first_backup_seconds=0.2,
                        backup_interval_seconds=1) as emu:
        api = PostgresApi(Transport(emu.url, *emu.admin_key), emu.org_id)
        created = api.create_service(dict(name="backed up", provider="aws", region="us-east-1", size="r8gd.large"))
        deadline = time.monotonic() + 30
        while len(api.list_backups(created.id)) < 3:
            assert time.monotonic() < deadline, "three backups were not taken"
            time.sleep(0.2)
        args = {"api_url": emu.url, "api_key_id": emu.admin_key[0], "api_key_secret": emu.admin_key[1],
                "organization_id": emu.org_id, "api_rate_limit": "off", "id": created.id}
        yield emu, args


def test_every_backup_page_by_page_and_the_earliest_restore_time(run_module, backing_up, monkeypatch):
    emu, args = backing_up
    everything = run_module(postgres_backups_info, args)
    backups = everything["backups"]
    assert len(backups) >= 3 and [set(b) for b in backups] == [{"key", "status", "last_modified"}] * len(backups)
    assert {b["status"] for b in backups} == {"completed"}
    assert [b["last_modified"] for b in backups] == sorted((b["last_modified"] for b in backups), reverse=True), "newest first"
    assert everything["earliest_restore_time"] == backups[-1]["last_modified"], "the oldest backup, within 7 days"

    since = len(emu.requests())
    newest = run_module(postgres_backups_info, dict(args, limit=1))
    assert len(newest["backups"]) == 1 and backup_queries(emu, since) == [{"limit": "1"}]

    monkeypatch.setattr(postgres_backups_info, "PAGE_SIZE", 1)
    since = len(emu.requests())
    paged = run_module(postgres_backups_info, dict(args, limit=3))
    assert paged["backups"] == backups[:3] or paged["backups"][1:] == backups[:2], "a backup may have come meanwhile"
    queries = backup_queries(emu, since)
    assert len(queries) == 3 and queries[0] == {"limit": "1"}
    assert [q.get("cursor") for q in queries[1:]] == [b["key"] for b in paged["backups"][1:]], "each page from the last nextCursor"


def test_a_limit_below_one_fails_before_any_request(run_module, dead_api):
    result = run_module(postgres_backups_info, dict(dead_api, name="x", limit=0))
    assert result["failed"] and not result["changed"] and "limit must be at least 1" in result["msg"]
