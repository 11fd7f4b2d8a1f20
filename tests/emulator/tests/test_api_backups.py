"""earliestRestoreTime and the backups list (live API of October 2026): the backups the reconciler
took, the first `first_backup_seconds` after the service runs, then one every
`backup_interval_seconds`, kept for `backup_retention_seconds` (without servers here;
test_replication.py has the real ones)."""

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
    due = parse(created["createdAt"]) + PROVISIONING + FIRST_BACKUP
    assert due <= first < due + 1, "taken when due (the reconciler looks every 0.1 s)"
    listed = api.get(f"/{created['id']}/backups").json()
    assert set(listed) == {"result", "requestId", "status"}, "no nextCursor on the last page"
    assert [(b["status"], parse(b["lastModified"])) for b in listed["result"]] == [("completed", first)]
    restored = api.post(f"/{created['id']}/restoredService", {"name": "in time", "restoreTarget": service["earliestRestoreTime"]})
    assert restored.status_code == 200, restored.text


@pytest.mark.parametrize("params, field", [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"cursor": "base-19700101T000000Z"}, "cursor")])
def test_bad_paging_is_refused(api, params, field):
    sid = api.create("paging")["id"]
    assert field in error_of(api.get(f"/{sid}/backups", params=params), 400)


def test_backups_of_an_unknown_service_are_404(api):
    error_of(api.get("/00000000-0000-4000-8000-000000000000/backups"), 404)


def test_backups_come_on_schedule_and_go_with_the_retention(spawn, client):
    api = client(spawn(provisioning_seconds=0.2, first_backup_seconds=0.2, backup_interval_seconds=1, backup_retention_seconds=2))
    sid = api.running("often")["id"]
    seen: set[str] = set()

    def look() -> bool:
        listed = api.result(f"/{sid}/backups")
        taken = [parse(b["lastModified"]) for b in listed]
        assert taken == sorted(taken, reverse=True) and all(1 <= a - b < 1.5 for a, b in zip(taken, taken[1:]))
        assert len(listed) <= 4, "the window (2 s) needs the backup at or before its start and the later ones, no more"
        if taken:
            assert parse(api.service(sid)["earliestRestoreTime"]) >= taken[-1], "the oldest backup listed is one a restore may start from"
        seen.update(b["key"] for b in listed)
        return len(seen) >= 5

    wait_until(look, 15, "five backups, one a second", interval=0.2)
    assert len(api.result(f"/{sid}/backups")) < len(seen), "the older ones were let go"
    first_page = api.get(f"/{sid}/backups", params={"limit": "1"}).json()
    assert len(first_page["result"]) == 1 and first_page["nextCursor"]


# --- the retention over days, without waiting days ---------------------------------------------


def test_the_backups_kept_cover_the_retention_window():
    first = 1_000_000.0
    taken = [{"key": f"b{n}", "takenAt": first + n * DAY} for n in range(10, -1, -1)]  # daily, newest first
    now = first + 10.5 * DAY
    keep = backups.kept(taken, now, 7 * DAY)
    assert [b["key"] for b in keep] == [f"b{n}" for n in range(10, 2, -1)], "b3 is the one the window starts from"
    earliest = backups.earliest_restore_time({"backups": keep}, now, 7 * DAY)
    assert earliest == pytest.approx(now - 7 * DAY, abs=0.001)
    assert backups.restored_from({"backups": keep}, earliest)["key"] == "b3"
    assert backups.restored_from({"backups": keep}, now)["key"] == "b10"
    assert backups.kept(keep, now, 7 * DAY) == keep


def test_pages_follow_the_cursor():
    doc = {"backups": [{"key": f"base-{n}", "takenAt": 1_000_000.0 + n * DAY} for n in range(5, -1, -1)]}
    everything, cursor = backups.page(doc, cursor=None, limit=100)
    assert len(everything) == 6 and cursor is None
    seen, cursor = [], None
    while True:
        items, cursor = backups.page(doc, cursor=cursor, limit=4)
        seen += items
        if cursor is None:
            break
        assert cursor == everything[len(seen)]["key"]
    assert seen == everything
