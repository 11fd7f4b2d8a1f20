"""Injected faults: each kind, scripted or random-but-seeded, and never a corrupted state."""

from __future__ import annotations

import random
import shutil
import signal
import time
from collections import defaultdict

import httpx
import pytest
from chc_emulator.testing import EmulatorProcess, make_data_dir
from emutest import Api, finish, start_emulator, wait_until

FAST = {"provisioning_seconds": 0.1, "update_seconds": 0.1, "restart_seconds": 0.1, "deletion_seconds": 0.1}
CREATE = {"provider": "aws", "region": "us-west-2", "size": "r8gd.large"}


def attempt(api: Api, method: str, path: str = "", body: object = None) -> httpx.Response | None:
    """A request whose connection may be dropped: None then."""
    try:
        return api.call(method, path, json=body)
    except httpx.TransportError:
        return None


@pytest.fixture(scope="module")
def seeded_dir():
    """A stopped emulator's data directory holding one configured, tagged, running service."""
    emu = start_emulator(**FAST)
    api = Api(emu)
    svc = api.running("seeded", tags=[{"key": "env", "value": "prod"}], pgConfig={"work_mem": "8MB"}, pgBouncerConfig={"pool_mode": "session"})
    api.close()
    emu.stop()
    yield emu.data_dir, emu.org_id, svc["id"]
    finish(emu)


@pytest.fixture
def copy_of(seeded_dir):
    """A fresh copy of the seeded data directory, and a way to start emulators on it."""
    source, org_id, service_id = seeded_dir
    target = make_data_dir()
    shutil.copytree(source, target, dirs_exist_ok=True)
    started: list[EmulatorProcess] = []

    def start(**options) -> EmulatorProcess:
        emu = EmulatorProcess(target, org_id=org_id, no_postgres=True, **FAST, **options).start()
        started.append(emu)
        return emu

    yield start, service_id
    for emu in started:
        emu.stop()
    shutil.rmtree(target, ignore_errors=True)


@pytest.mark.parametrize("kind", ["500", "502", "503", "429"])
def test_error_faults_answer_with_the_envelope_and_change_nothing(copy_of, kind):
    start, sid = copy_of
    clean = start()
    api = Api(clean)
    before = api.snapshot()
    api.close()
    clean.stop()

    faulty = Api(start(faults=f"{kind}=1"))
    writes = [
        ("POST", "", {"name": "new", **CREATE}),
        ("PATCH", f"/{sid}", {"tags": [], "size": "r6gd.medium"}),
        ("POST", f"/{sid}/config", {"pgConfig": {}, "pgBouncerConfig": {}}),
        ("PATCH", f"/{sid}/password", {}),
        ("PATCH", f"/{sid}/state", {"command": "restart"}),
        ("DELETE", f"/{sid}", None),
        ("GET", "", None),
    ]
    for method, path, body in writes:
        response = faulty.call(method, path, json=body)
        assert response.status_code == int(kind), (method, path)
        if kind == "429":
            assert float(response.headers["X-RateLimit-Reset"]) > 0
    faulty.close()
    assert {e["fault"] for e in faulty.emu.requests()[-len(writes) :]} == {kind}
    faulty.emu.stop()

    after = Api(start())
    assert after.snapshot() == before
    after.close()


def test_latency_fault_delays_and_answers(spawn, client):
    api = client(spawn(faults="latency=1", fault_latency_ms=300))
    for _ in range(3):
        started = time.monotonic()
        assert api.get("").status_code == 200
        assert time.monotonic() - started >= 0.3
    scripted = client(spawn())
    scripted.emu.inject("latency", method="GET", latency_ms=250)
    started = time.monotonic()
    assert scripted.get("").status_code == 200
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    assert scripted.get("").status_code == 200
    assert time.monotonic() - started < 0.2


def test_dropped_create_is_committed(spawn, client):
    emu = spawn()
    api = client(emu)
    emu.inject("drop", method="POST", path=r"/postgres$")
    with pytest.raises(httpx.TransportError):
        api.post("", {"name": "dropped", **CREATE})
    assert [s["name"] for s in api.services()] == ["dropped"], "the write must have been committed"
    dropped = [e for e in emu.requests() if e["method"] == "POST"]
    assert [(e["fault"], e["status"]) for e in dropped] == [("drop", 0)]


def test_random_drop_fault_on_create(spawn, client):
    emu = spawn(faults="drop=1")
    api = client(emu)
    with pytest.raises(httpx.TransportError):
        api.post("", {"name": "dropped too", **CREATE})
    emu.stop()
    again = client(EmulatorProcess(emu.data_dir, org_id=emu.org_id, no_postgres=True).start())
    assert [s["name"] for s in again.services()] == ["dropped too"]
    again.emu.stop()


def _fault_sequence(spawn, client, seed: int) -> list[tuple[int, str | None]]:
    emu = spawn(faults="500=0.2,502=0.1,503=0.1,429=0.1,latency=0.1", fault_latency_ms=1, seed=seed)
    api = client(emu)
    for i in range(40):
        if i % 4 == 0:
            api.post("", {"name": f"s{i}", **CREATE})
        else:
            api.get("")
    return [(e["status"], e["fault"]) for e in emu.requests()]


def test_the_same_seed_gives_the_same_faults(spawn, client):
    first = _fault_sequence(spawn, client, seed=7)
    second = _fault_sequence(spawn, client, seed=7)
    other = _fault_sequence(spawn, client, seed=8)
    assert first == second
    assert first != other
    kinds = {fault for _, fault in first}
    assert {"500", "502", "503", "429", "latency", None} <= kinds, kinds


def _create_faults(spawn, client, gets_after_each: int) -> list[str | None]:
    emu = spawn(faults="500=0.2,502=0.1,503=0.1,429=0.1,latency=0.1", fault_latency_ms=1, seed=7)
    api = client(emu)
    for i in range(16):
        api.post("", {"name": f"s{i}", **CREATE})
        for _ in range(gets_after_each):
            api.get("")
    return [e["fault"] for e in emu.requests() if e["method"] == "POST"]


def test_the_faults_of_a_write_do_not_depend_on_the_polls_before_it(spawn, client):
    """Each kind of request draws from its own seeded stream: a client that polls more or less often gets the same
    faults on its writes (a soak round replays from its seed though its timing varies)."""
    without = _create_faults(spawn, client, 0)
    assert without == _create_faults(spawn, client, 3)
    assert len(set(without)) > 2, without


def test_scripted_faults_hook(spawn, client):
    emu = spawn()
    api = client(emu)
    sid = api.create("scripted")["id"]
    hook = emu.url + "/_emulator/faults"  # a test hook, not the Cloud API: not checked against the document
    rule = {"kind": "503", "method": "GET", "path": "/config$", "count": 2}
    assert httpx.post(hook, json={"rules": [rule]}).json() == {"scripted": 1}
    assert api.get(f"/{sid}").status_code == 200, "a rule hits only what it matches"
    assert api.patch(f"/{sid}/config", {"pgConfig": {}, "pgBouncerConfig": {}}).status_code == 200
    assert [api.get(f"/{sid}/config").status_code for _ in range(3)] == [503, 503, 200]
    assert httpx.post(hook, json={"rules": [{"kind": "500", "count": 5}]}).status_code == 200
    assert api.get("").status_code == 500
    assert httpx.delete(hook).json() == {"scripted": 0}
    assert api.get("").status_code == 200
    assert httpx.post(hook, json={"rules": [{"kind": "teapot"}]}).status_code == 400
    assert httpx.post(hook, json={"rules": [{"kind": "500", "path": "("}]}).status_code == 400
    assert api.get("").status_code == 200


def test_faults_never_corrupt_state(spawn, client):
    """A burst of random writes under every fault kind; then everything is consistent."""
    emu = spawn(faults="500=0.1,502=0.05,503=0.05,429=0.05,drop=0.1,latency=0.05", fault_latency_ms=5, seed=3, **FAST)
    api = client(emu)
    rng = random.Random(11)
    targets: dict[str, str] = {}  # name -> id of services whose create answered and that were not deleted
    tags: dict[str, list] = defaultdict(list)  # name -> every tag set the service may have now
    work_mem: dict[str, list] = defaultdict(list)

    def outcome(response, name, book, value):
        if response is None:  # dropped: committed, but the client cannot know
            book[name].append(value)
        elif response.status_code == 200:
            book[name][:] = [value]

    for step in range(150):
        op = rng.choice(["create", "tags", "config", "restart", "password", "size", "delete"] if targets else ["create"])
        name = f"chaos-{step}" if op == "create" else rng.choice(sorted(targets))
        sid = targets.get(name)
        tag = [{"key": "step", "value": str(step)}]
        if op == "create":
            response = attempt(api, "POST", "", {"name": name, **CREATE, "tags": tag, "pgConfig": {"work_mem": f"{step + 64}kB"}})
            if response is not None and response.status_code == 200:
                targets[name] = response.json()["result"]["id"]
            if response is None or response.status_code == 200:
                tags[name], work_mem[name] = [tag], [f"{step + 64}kB"]
        elif op == "tags":
            outcome(attempt(api, "PATCH", f"/{sid}", {"tags": tag}), name, tags, tag)
        elif op == "config":
            outcome(
                attempt(api, "PATCH", f"/{sid}/config", {"pgConfig": {"work_mem": f"{step + 64}kB"}, "pgBouncerConfig": {}}), name, work_mem, f"{step + 64}kB"
            )
        elif op == "delete":
            response = attempt(api, "DELETE", f"/{sid}")
            if response is None or response.status_code == 200:
                del targets[name]
        else:
            body, path = {"restart": ({"command": "restart"}, "/state"), "password": ({}, "/password"), "size": ({"size": "r6gd.medium"}, "")}[op]
            attempt(api, "PATCH", f"/{sid}{path}", body)

    assert httpx.get(emu.url + "/v1").status_code == 200
    answers = [attempt(api, "GET") for _ in range(20)]
    assert any(r is not None and r.status_code == 200 for r in answers), "the emulator still answers"
    log = emu.requests()
    assert {e["fault"] for e in log} >= {"500", "502", "503", "429", "drop", "latency", None}
    committed = [e for e in log if e["status"] in (0, 200)]  # 0: dropped after the write committed
    creates = [e for e in committed if e["method"] == "POST" and e["path"].endswith("/postgres")]
    deletes = [e for e in committed if e["method"] == "DELETE"]

    # Restart without faults after a crash; every service must be whole and settle.
    emu.stop(signal.SIGKILL)
    calm = client(EmulatorProcess(emu.data_dir, org_id=emu.org_id, no_postgres=True, **FAST).start())
    try:
        wait_until(lambda: all(s["state"] == "running" for s in calm.services()), 10, "every service to settle")
        services = calm.services()
        assert len(services) == len(creates) - len(deletes) > 0
        assert len({s["name"] for s in services}) == len(services), "a create is committed at most once"
        assert {s["id"] for s in services} >= set(targets.values())
        for svc in services:
            full = calm.service(svc["id"])
            assert full["tags"] in tags[svc["name"]], (svc["name"], full["tags"], tags[svc["name"]])
            assert calm.config(svc["id"])["pgConfig"]["work_mem"] in work_mem[svc["name"]]
            assert full["size"] in ("r8gd.large", "r6gd.medium")
    finally:
        calm.emu.stop()
