"""Wiring: one emulated organisation, its store, backend, background workers and HTTP server."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import threading
from pathlib import Path

from . import tls
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
    tls: bool = False  # HTTPS with a CA of our own under data_dir/tls


class StartError(RuntimeError):
    """The emulator cannot start; the message is the whole story (no traceback needed)."""


def servers_link(data_dir: Path) -> Path:
    """Where the PostgreSQL servers of data_dir are: that directory, or a symlink to theirs (layout.server_root)."""
    return data_dir / "postgres"


def make_backend(settings: Settings):
    if not settings.postgres:
        from .backend.null import NullBackend

        return NullBackend(settings.data_dir / "null")
    from .backend import layout
    from .backend.pgexec import PgExec
    from .backend.postgres import PostgresBackend

    user = PgExec()
    try:
        root = layout.server_root(servers_link(settings.data_dir), user)
    except (layout.ServerRootError, OSError) as exc:
        raise StartError(str(exc)) from None
    finally:
        user.close()
    return PostgresBackend(root, host=settings.server_host)


def remove_data_dir(data_dir: Path) -> None:
    """Remove a (stopped) emulator's data dir, with the servers' directory wherever it is."""
    from .backend import layout

    layout.remove_server_root(servers_link(data_dir.absolute()))
    shutil.rmtree(data_dir, ignore_errors=True)


class Emulator:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.org_id = settings.org_id
        if settings.data_dir.exists() and not settings.data_dir.is_dir():
            raise StartError(f"--data-dir {settings.data_dir} is not a directory")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.keys = {key.key_id: key for key in settings.keys}
        self.request_log = RequestLog(settings.data_dir / "requests.jsonl")
        self.rate_limiter = RateLimiter(settings.rate_limit)
        self.faults = Faults(settings.fault_rates, seed=settings.seed, latency_ms=settings.fault_latency_ms)
        self.store = Store(settings.data_dir / "state.db")
        self.backend = make_backend(settings)
        timings = settings.timings
        self.reconciler = Reconciler(self.store, self.backend, backup_interval=timings.backup_interval, backup_retention=timings.backup_retention)
        self.sampler = Sampler(self.store, self.backend, interval=settings.sample_seconds)
        self.control = ControlPlane(self.store, self.backend, self.reconciler, settings.timings, redact=settings.redact_credentials)
        self.insights = Insights(self.store, self.backend)
        self.telemetry = Telemetry(self.store, self.backend, org_id=settings.org_id, sample_interval=settings.sample_seconds)
        self.server: ApiServer | None = None
        self.tls: tls.ApiTls | None = None
        self._running = contextlib.ExitStack()  # how to stop what start() got going, in reverse
        self._serving = False
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
        """Open the port, prepare the backend, bring back the servers of stored services.

        The port comes first: a port that is taken fails the start before any server runs.
        """
        address = (self.settings.host, self.settings.port)
        if self.settings.tls:
            self.tls = tls.ensure(self.settings.data_dir, tls.certificate_names(self.settings.host, self.settings.server_host))
        try:
            self.server = tls.HttpsApiServer(address, self, self.tls) if self.tls else ApiServer(address, self)
        except OSError as exc:
            raise StartError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}") from None
        self._running.callback(self.server.server_close)
        self._running.callback(self.backend.shutdown)
        self.backend.prepare()
        self.reconciler.start()
        self._running.callback(self.reconciler.stop)
        self.sampler.start()
        self._running.callback(self.sampler.stop)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"{'https' if self.tls else 'http'}://{f'[{host}]' if ':' in host else host}:{self.port}"

    def serve_forever(self) -> None:
        assert self.server is not None
        self._serving = True
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving, then stop every PostgreSQL server this process started (also after a failed start)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._serving:
            self.server.shutdown()
        self._running.close()
        self.store.close()
