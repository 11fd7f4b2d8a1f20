"""Shared helpers of the emulator's own tests: an HTTP client that checks every answer
against the served OpenAPI document, emulator processes, waiting, and /proc scans.

Every answer an `Api` client gets is checked against the OpenAPI document the emulator
serves at GET /v1 (openapi_check.SpecChecker, run from an httpx response hook), so no test
can forget to.  `--no-postgres` emulators serve the API-rule tests; real-PostgreSQL ones
are used only where the rule is about the real server, and are skipped while the
PostgreSQL backend is not importable.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from chc_emulator.testing import EmulatorProcess

sys.path.insert(0, str(Path(__file__).parent))
from openapi_check import SpecChecker  # noqa: E402 - beside this file, whatever the rootdir

SIZES = ("r8gd.large", "r6gd.medium", "m6gd.xlarge")
_CHECKERS: dict[str, SpecChecker] = {}
BENCHMARKS: list[str] = []


# --- what is available -------------------------------------------------------------------


def _postgres_missing() -> str | None:
    """Why real-PostgreSQL tests cannot run here, or None when they can."""
    try:
        importlib.import_module("chc_emulator.backend.postgres")
    except Exception as exc:  # noqa: BLE001 - a half-written module fails in any way
        return f"the PostgreSQL backend (chc_emulator.backend.postgres) is not importable yet: {type(exc).__name__}: {exc}"
    for program in ("psql",):
        if shutil.which(program) is None:
            return f"{program} is not installed"
    return None


POSTGRES_MISSING = _postgres_missing()
needs_postgres = pytest.mark.skipif(POSTGRES_MISSING is not None, reason=POSTGRES_MISSING or "")


# --- the client ----------------------------------------------------------------------------


def checker_for(http: httpx.Client | str) -> SpecChecker:
    """The checker for the document this emulator serves (built once per distinct document)."""
    document = http.get("/v1") if isinstance(http, httpx.Client) else httpx.get(http + "/v1", timeout=10)
    assert document.status_code == 200, "GET /v1 must answer without credentials"
    key = hashlib.sha256(document.content).hexdigest()
    if key not in _CHECKERS:
        _CHECKERS[key] = SpecChecker(document.json())
    return _CHECKERS[key]


class Api:
    """httpx client for one emulator and one API key; paths are relative to the org's /postgres."""

    def __init__(self, emu: EmulatorProcess, key: tuple[str, str] | None = None, *, auth: bool = True, timeout: float = 30):
        self.emu = emu
        self.org = emu.org_id
        self.base = f"/v1/organizations/{emu.org_id}/postgres"
        self.checked = 0
        self.http = httpx.Client(base_url=emu.url, auth=(key or emu.admin_key) if auth else None, timeout=timeout)
        self.checker = checker_for(self.http)
        self.http.event_hooks = {"response": [self._check]}

    def _check(self, response: httpx.Response) -> None:
        response.read()
        self.checker.check(response.request, response)
        self.checked += 1

    def url(self, path: str = "") -> str:
        return path if path.startswith("/v1") else self.base + path

    def call(self, method: str, path: str = "", **kwargs) -> httpx.Response:
        return self.http.request(method, self.url(path), **kwargs)

    def get(self, path: str = "", **kwargs) -> httpx.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str = "", body: object = None, **kwargs) -> httpx.Response:
        return self.call("POST", path, json=body, **kwargs)

    def patch(self, path: str = "", body: object = None, **kwargs) -> httpx.Response:
        return self.call("PATCH", path, json=body, **kwargs)

    def delete(self, path: str = "", **kwargs) -> httpx.Response:
        return self.call("DELETE", path, **kwargs)

    # --- common steps ------------------------------------------------------------------

    def create(self, name: str = "svc", **fields) -> dict:
        body = {"name": name, "provider": "aws", "region": "us-west-2", "size": "r8gd.large", **fields}
        response = self.post("", body)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def result(self, path: str = "", **kwargs) -> object:
        """GET path, which must succeed; its `result`."""
        response = self.get(path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def service(self, service_id: str) -> dict:
        return self.result(f"/{service_id}")

    def services(self) -> list[dict]:
        return self.result("")

    def config(self, service_id: str) -> dict:
        return self.result(f"/{service_id}/config")

    def wait_state(self, service_id: str, state: str, timeout: float = 30) -> dict:
        return wait_until(lambda: (s := self.service(service_id))["state"] == state and s, timeout, f"{service_id} to be {state}")

    def remove(self, service_id: str, timeout: float = 30) -> None:
        """Delete and wait until it is gone (404)."""
        assert self.delete(f"/{service_id}").status_code == 200
        wait_until(lambda: self.get(f"/{service_id}").status_code == 404, timeout, f"{service_id} to disappear")

    def running(self, name: str = "svc", **fields) -> dict:
        return self.wait_state(self.create(name, **fields)["id"], "running")

    def snapshot(self) -> dict:
        """Everything a write could change: the list, each service, each config.

        Not earliestRestoreTime: the clock moves it (null until the first backup), no write does.
        """
        items = sorted(self.services(), key=lambda s: s["id"])
        return {
            "list": items,
            "services": {s["id"]: {k: v for k, v in self.service(s["id"]).items() if k != "earliestRestoreTime"} for s in items},
            "configs": {s["id"]: self.config(s["id"]) for s in items},
        }

    def close(self) -> None:
        self.http.close()


def wait_until(probe: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll probe until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def error_of(response: httpx.Response, status: int) -> str:
    """Assert an error status and return its error text (the envelope is checked by the hook)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    return response.json()["error"]


# --- the real servers ------------------------------------------------------------------------

REFUSED_BY_HBA = "pg_hba.conf rejects connection"


def psql(target: str, sql: str = "SELECT 1", *, app: str | None = None) -> subprocess.CompletedProcess:
    """psql -At with none of the caller's PG* settings, so only `target` says where and who."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"PGCONNECT_TIMEOUT": "10"}
    if app:
        env["PGAPPNAME"] = app
    return subprocess.run(["psql", target, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], capture_output=True, text=True, timeout=60, env=env)


def sql_value(target: str, sql: str) -> str:
    ran = psql(target, sql)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


def admitted(connection_string: str) -> bool:
    """Whether the server lets this client in; psql and psycopg must agree, and a refusal
    must be the server's pg_hba.conf (the access rules), not anything else."""
    ran = psql(connection_string)
    try:
        with psycopg.connect(connection_string, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
        by_psycopg = True
    except psycopg.OperationalError as exc:
        assert REFUSED_BY_HBA in str(exc), exc
        by_psycopg = False
    assert (ran.returncode == 0) == by_psycopg, (ran.stderr, by_psycopg)
    assert ran.returncode == 0 or REFUSED_BY_HBA in ran.stderr, ran.stderr
    return by_psycopg


# --- emulators -----------------------------------------------------------------------------


def start_emulator(*, postgres: bool = False, **options) -> EmulatorProcess:
    if postgres and POSTGRES_MISSING:
        pytest.skip(POSTGRES_MISSING)
    return EmulatorProcess(no_postgres=not postgres, **options).start()


def finish(emu: EmulatorProcess) -> None:
    emu.__exit__(None, None, None)


def emulator_fixture(*, postgres: bool = False, **options):
    """A module-scoped emulator for tests that do not interfere with each other."""

    @pytest.fixture(scope="module")
    def fixture() -> Iterator[EmulatorProcess]:
        emu = start_emulator(postgres=postgres, **options)
        yield emu
        finish(emu)

    return fixture


def record_benchmark(text: str) -> None:
    BENCHMARKS.append(text)


def postgres_processes_under(root: Path) -> list[tuple[int, str]]:
    """PostgreSQL processes whose command line or working directory is under root (from /proc)."""
    found = []
    root_text = str(root.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            comm = (entry / "comm").read_text().strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if ("postgres" in comm or "postgres" in cmdline) and (root_text in cmdline or cwd.startswith(root_text)):
            found.append((int(entry.name), cmdline))
    return found
