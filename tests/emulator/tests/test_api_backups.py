"""earliestRestoreTime and the backups list (live API of October 2026), from the backup schedule:
the first backup `first_backup_seconds` after the service runs, then one a day, 7 days kept."""

from __future__ import annotations

import datetime as dt

import pytest
from chc_emulator import backups
from emutest import emulator_fixture, error_of, wait_until

PROVISIONING, FIRST_BACKUP = 0.3, 1.0
emu = emulator_fixture(provisioning_seconds=PROVISIONING, first_backup_seconds=FIRST_BACKUP, deletion_seconds=0.2)
DAY = 86400.0


def parse(ts: str) -> float:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_earliest_restore_time_is_null_until_the_first_backup(api):
    created = api.create("schedule")
    assert created["earliestRestoreTime"] is None
    assert api.result(f"/{created['id']}/backups") == []
    early = error_of(api.post(f"/{created['id']}/restoredService", {"name": "too soon", "restoreTarget": created["createdAt"]}), 400)
    assert "restoreTarget" in early and "no backup" in early
    service = wait_until(lambda: (s := api.service(created["id"]))["earliestRestoreTime"] and s, 10, "the first backup")
    first = parse(service["earliestRestoreTime"])
    assert first == pytest.approx(parse(created["createdAt"]) + PROVISIONING + FIRST_BACKUP, abs=0.01)
    listed = api.get(f"/{created['id']}/backups").json()
    assert set(listed) == {"result", "requestId", "status"}, "no nextCursor on the last page"
    assert [(b["status"], parse(b["lastModified"])) for b in listed["result"]] == [("completed", pytest.approx(first, abs=0.01))]
    restored = api.post(f"/{created['id']}/restoredService", {"name": "in time", "restoreTarget": service["earliestRestoreTime"]})
    assert restored.status_code == 200, restored.text


@pytest.mark.parametrize("params, field", [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"cursor": "base-19700101T000000Z"}, "cursor")])
def test_bad_paging_is_refused(api, params, field):
    sid = api.create("paging")["id"]
    assert field in error_of(api.get(f"/{sid}/backups", params=params), 400)


def test_backups_of_an_unknown_service_are_404(api):
    error_of(api.get("/00000000-0000-4000-8000-000000000000/backups"), 404)


# --- the schedule over days, without waiting days ---------------------------------------------


def test_daily_backups_keep_the_retention_window_covered():
    doc = {"backupAt": 1_000_000.0}
    now = doc["backupAt"] + 10.5 * DAY
    times = backups.backup_times(doc, now)
    earliest = backups.earliest_restore_time(doc, now)
    assert earliest == pytest.approx(now - 7 * DAY)
    assert times == sorted(times, reverse=True) and times[0] == doc["backupAt"] + 10 * DAY
    assert times[-1] <= earliest < times[-2], "the oldest kept backup is the one the window starts from"
    assert len(times) == 8


def test_pages_follow_the_cursor():
    doc = {"backupAt": 1_000_000.0}
    now = doc["backupAt"] + 5 * DAY
    everything, cursor = backups.page(doc, now, cursor=None, limit=100)
    assert len(everything) == 6 and cursor is None
    seen, cursor = [], None
    while True:
        items, cursor = backups.page(doc, now, cursor=cursor, limit=4)
        seen += items
        if cursor is None:
            break
        assert cursor == everything[len(seen)]["key"]
    assert seen == everything
