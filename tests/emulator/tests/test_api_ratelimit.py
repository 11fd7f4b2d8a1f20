"""The per-key rate limit, and the request log (requests.jsonl)."""

from __future__ import annotations

import datetime as dt
import time

import httpx
from emutest import error_of


def test_fourth_request_in_the_window_is_429_then_passes_again(spawn, client):
    api = client(spawn(rate_limit="3/2"))
    started = time.monotonic()
    for _ in range(3):
        assert api.get("").status_code == 200
    refused = api.get("")
    assert time.monotonic() - started < 2, "the test itself was too slow to stay in one window"
    assert error_of(refused, 429).startswith("TOO_MANY_REQUESTS: ")
    reset = float(refused.headers["X-RateLimit-Reset"])
    assert 0 < reset <= 2
    time.sleep(reset + 0.05)
    assert api.get("").status_code == 200


def test_the_limit_is_per_key(spawn, client):
    emu = spawn(rate_limit="3/2")
    admin, reader = client(emu), client(emu, emu.readonly_key)
    for _ in range(3):
        assert admin.get("").status_code == 200
    assert admin.get("").status_code == 429
    for _ in range(3):
        assert reader.get("").status_code == 200
    assert reader.get("").status_code == 429


def test_a_throttled_write_changes_nothing(spawn, client):
    emu = spawn(rate_limit="3/2")
    api, reader = client(emu), client(emu, emu.readonly_key)
    assert api.services() == []
    api.get("")
    api.get("")
    refused = api.post("", {"name": "throttled", "provider": "aws", "region": "us-west-2", "size": "r8gd.large"})
    assert refused.status_code == 429
    assert reader.services() == []


def test_off_never_limits(spawn, client):
    api = client(spawn(rate_limit="off"))
    statuses = {api.get("").status_code for _ in range(60)}
    assert statuses == {200}


def test_default_limit_is_ten_per_ten_seconds(spawn, client):
    """Without the option the Cloud API's documented 10 requests / 10 s apply."""
    emu = spawn(rate_limit=None)  # EmulatorProcess would pass "off"; None drops the flag
    assert "--rate-limit" not in emu.command()
    api = client(emu)
    assert [api.get("").status_code for _ in range(11)] == [200] * 10 + [429]


# --- requests.jsonl -------------------------------------------------------------------------


def test_every_api_request_is_logged(spawn, client):
    emu = spawn()
    api = client(emu)
    anonymous = client(emu, auth=False)
    made = [
        ("GET", api.base, api.get("").status_code, "test-admin"),
        ("POST", api.base, api.post("", {"name": "logged", "provider": "aws", "region": "us-west-2", "size": "r8gd.large"}).status_code, "test-admin"),
        ("GET", api.base + "/00000000-0000-4000-8000-000000000000", api.get("/00000000-0000-4000-8000-000000000000").status_code, "test-admin"),
        ("GET", api.base, anonymous.get("").status_code, None),
        ("PATCH", api.base + "/not-a-uuid", api.patch("/not-a-uuid", {}).status_code, "test-admin"),
    ]
    httpx.get(emu.url + "/v1")  # the document and the test hooks are not API requests
    emu.clear_faults()
    assert [s for *_, s, _ in made] == [200, 200, 404, 401, 400]
    entries = emu.requests()
    assert [(e["method"], e["path"], e["status"], e["key_id"]) for e in entries] == made
    for entry in entries:
        stamp = dt.datetime.fromisoformat(entry["time"])
        assert stamp.tzinfo is not None and abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 60
        assert isinstance(entry["duration_ms"], (int, float)) and entry["duration_ms"] >= 0
        assert entry["fault"] is None


def test_throttled_requests_are_logged(spawn, client):
    emu = spawn(rate_limit="1/5")
    api = client(emu)
    assert [api.get("").status_code, api.get("").status_code] == [200, 429]
    assert [(e["status"], e["key_id"]) for e in emu.requests()] == [(200, "test-admin"), (429, "test-admin")]
