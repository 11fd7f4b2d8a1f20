"""Wiring: one emulated organisation, its store, backend, background workers and HTTP server."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

from .control import ControlPlane, Timings
from .faults import Faults
from .http_api import ApiKey, ApiServer, RequestLog
from .insights import Insights
from .ratelimit import RateLimiter
from .reconciler import Reconciler
from .store import Store
from .telemetry import Sampler, Telemetry

log = logging.getLogger("chc_emulator")


@dataclasses.dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path("chc-emulator-data")
    org_id: str = "8c7f4a2e-0d3b-4c1a-9e5f-6b2d1a0c9e7f"
    org_name: str = "Emulated organization"
    keys: tuple[ApiKey, ...] = (ApiKey("demo-key", "demo-secret", "admin"),)
    timings: Timings = dataclasses.field(default_factory=Timings)
    rate_limit: tuple[int, float] | None = (10, 10.0)
    fault_rates: dict[str, float] = dataclasses.field(default_factory=dict)
    fault_latency_ms: int = 500
    seed: int = 0
    postgres: bool = True
    redact_credentials: bool = False
    sample_seconds: float = 10.0
    server_host: str = "localhost"  # what clients are told to connect to


def make_backend(settings: Settings):
    if not settings.postgres:
        from .backend.null import NullBackend

        return NullBackend(settings.data_dir / "null")
    from .backend.postgres import PostgresBackend

    return PostgresBackend(settings.data_dir / "postgres", host=settings.server_host)


class Emulator:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.org_id = settings.org_id
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.keys = {key.key_id: key for key in settings.keys}
        self.request_log = RequestLog(settings.data_dir / "requests.jsonl")
        self.rate_limiter = RateLimiter(settings.rate_limit)
        self.faults = Faults(settings.fault_rates, seed=settings.seed, latency_ms=settings.fault_latency_ms)
        self.store = Store(settings.data_dir / "state.db")
        self.backend = make_backend(settings)
        self.reconciler = Reconciler(self.store, self.backend)
        self.sampler = Sampler(self.store, self.backend, interval=settings.sample_seconds)
        self.control = ControlPlane(self.store, self.backend, self.reconciler, settings.timings, redact=settings.redact_credentials)
        self.insights = Insights(self.store, self.backend)
        self.telemetry = Telemetry(self.store, self.backend, org_id=settings.org_id, sample_interval=settings.sample_seconds)
        self.server: ApiServer | None = None
        self._stopped = threading.Event()

    def organization(self) -> dict:
        return {
            "id": self.org_id,
            "name": self.settings.org_name,
            "createdAt": "2026-01-01T00:00:00Z",
            "privateEndpoints": [],
            "byocConfig": [],
        }

    def start(self) -> None:
        """Prepare the backend, bring back the servers of stored services, open the port."""
        self.backend.prepare()
        self.reconciler.start()
        self.sampler.start()
        self.server = ApiServer((self.settings.host, self.settings.port), self)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def serve_forever(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving, then stop every PostgreSQL server this process started."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.sampler.stop()
        self.reconciler.stop()
        self.backend.shutdown()
        self.store.close()
