"""--no-postgres at scale: 2,000 services created and listed (a benchmark figure, not a speed assertion)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from emutest import SIZES, record_benchmark

COUNT = 2000


def test_two_thousand_services(spawn, client):
    api = client(spawn(rate_limit="off", provisioning_seconds=0.5))

    def create(i: int) -> str:
        return api.create(f"scale {i}", size=SIZES[i % len(SIZES)], tags=[{"key": "n", "value": str(i)}])["id"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(create, range(COUNT)))
    created = time.monotonic() - started

    started = time.monotonic()
    listed = api.services()
    listing = time.monotonic() - started

    assert len(set(ids)) == COUNT
    assert {s["id"] for s in listed} == set(ids)
    assert {s["name"] for s in listed} == {f"scale {i}" for i in range(COUNT)}
    by_name = {s["name"]: s for s in listed}
    assert by_name["scale 1999"]["tags"] == [{"key": "n", "value": "1999"}]
    assert by_name["scale 1999"]["size"] == SIZES[1999 % len(SIZES)]
    assert api.checked >= COUNT + 1, "every answer went through the contract check"
    record_benchmark(
        f"--no-postgres: {COUNT} creates in {created:.1f} s ({COUNT / created:.0f}/s, 4 client threads, each answer "
        f"validated); list of {COUNT} in {listing:.2f} s"
    )
