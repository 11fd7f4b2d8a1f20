"""PostgresBackend: every service is a real PostgreSQL server, copied from one template cluster.

Each server is a direct child of the emulator (never daemonised), forked from one spawner
thread with a parent-death signal, so it cannot outlive the emulator (see pgexec.py).  All
that must survive an emulator restart is on disk (see layout.py); a new backend on the same
data directory starts the same servers on the same ports with the same data.

A follower thread reads every running server's log every few seconds, so query insights
stay cheap to ask for and old log files are pruned (serverlog.py).

The backend itself logs in as the `chc_admin` superuser over TCP+SSL (the servers have no
Unix sockets) with application_name `chc-emulator` and session settings that keep its own
statements out of the server log and out of pg_stat_statements.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import os
import pathlib
import random
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import psycopg

from . import certs, hba, pgconf, stats, template
from .base import ALL_SOURCES, ConfigOutcome, Endpoint, Execution, LogEntry
from .layout import DataDir, ServiceDir, ServiceState
from .pgexec import PgExec
from .scram import scram_verifier
from .serverlog import ServerLog

ADMIN_APP = "chc-emulator"
_ADMIN_OPTIONS = " ".join(
    f"-c {setting}"
    for setting in (
        "log_min_duration_statement=-1",
        "log_statement=none",
        "log_min_error_statement=panic",
        "log_statement_stats=off",
        "auto_explain.log_min_duration=-1",
        "pg_stat_statements.track=none",
    )
)
_PORTS = range(20000, 30000)  # below the kernel's ephemeral range, so client sockets never hold them
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 60.0
_KILL_TIMEOUT = 5.0
_FOLLOW_INTERVAL = 2.0
_POLL = 0.01
_PORT_BUSY = "could not create any TCP/IP sockets"  # the FATAL line when the port's bind fails
_PORT_BUSY_TIMEOUT = 10.0
_PORT_BUSY_RETRY = 0.5

_logger = logging.getLogger(__name__)


class BackendError(RuntimeError):
    pass


class _StartFailed(Exception):
    pass


@dataclasses.dataclass
class _Server:
    """A running postmaster: our child (popen set) or one found running on the data directory."""

    pid: int
    popen: subprocess.Popen | None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pathlib.Path(f"/proc/{self.pid}").exists()

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(_POLL)


def _postmaster_status(pgdata: pathlib.Path) -> str:
    """The status line of postmaster.pid: "starting", "ready", "stopping", or "" without a server."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return ""
    return lines[7].strip() if len(lines) > 7 else ""


def _postmaster_running_in(pgdata: pathlib.Path) -> int | None:
    """The pid of a live postmaster serving pgdata per its postmaster.pid, or None (no file, or stale)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        running_in = os.readlink(f"/proc/{pid}/cwd")  # a postmaster's working directory is its data directory
    except (OSError, ValueError):
        return None
    return pid if pathlib.Path(running_in) == pgdata.resolve() else None


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PostgresBackend:
    def __init__(
        self,
        data_dir: pathlib.Path | str,
        host: str = "localhost",
        log: Callable[[str], None] | logging.Logger = _logger,
        listen_addresses: str = "localhost",
        bindir: pathlib.Path | None = None,
    ):
        """host: what clients use (Endpoint.host, certificate SAN); listen_addresses must include 127.0.0.1."""
        self.data = DataDir(pathlib.Path(data_dir).absolute())
        self.host = host
        self.listen_addresses = listen_addresses
        self._log = log.info if isinstance(log, logging.Logger) else log
        self._pg = PgExec(bindir)
        self._known_settings: dict[str, str] = {}
        self._states: dict[str, ServiceState] = {}
        self._servers: dict[str, _Server] = {}
        self._logs: dict[str, ServerLog] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._registry = threading.Lock()  # guards the dicts above, not the services
        self._closing = threading.Event()
        self._log_follower = threading.Thread(target=self._follow_logs, name="chc-pg-log-follower", daemon=True)

    # -- setup ---------------------------------------------------------------------------

    def prepare(self) -> None:
        self.data.services.mkdir(parents=True, exist_ok=True)
        if not self._pg.can_reach(self.data.services):
            raise BackendError(
                f"PostgreSQL runs as user 'postgres' (uid {self._pg.uid}), which cannot reach {self.data.root}: "
                "every parent directory needs search permission for it (e.g. chmod o+x, or put the data dir under /tmp)"
            )
        self._known_settings = pgconf.known_settings(self._pg)
        template.ensure(self._pg, self.data.template, self._log)
        for staging in self.data.services.glob(".*.new"):
            shutil.rmtree(staging, ignore_errors=True)
        with self._registry:
            for service in self.data.existing_services():
                if service.exists():
                    self._states[service.root.name] = service.load()
        self._log_follower.start()

    def _lock(self, service_id: str) -> threading.RLock:
        with self._registry:
            return self._locks.setdefault(service_id, threading.RLock())

    def _service(self, service_id: str) -> ServiceDir:
        """The directory of a provisioned service; KeyError if there is none."""
        service = self.data.service(service_id)
        if not service.exists():
            raise KeyError(f"no such service: {service_id}")
        return service

    def _state(self, service_id: str) -> ServiceState:
        with self._registry:
            state = self._states.get(service_id)
        if state is None:
            state = self._service(service_id).load()
            with self._registry:
                self._states[service_id] = state
        return state

    def _unreserved_port(self) -> int:
        """A port no service has and nothing listens on; the caller holds _registry and reserves it."""
        taken = {state.port for state in self._states.values()}
        for port in random.sample(_PORTS, len(_PORTS)):
            if port not in taken and _port_is_free(port):
                return port
        raise BackendError(f"no free TCP port in {_PORTS.start}-{_PORTS.stop - 1}")

    # -- lifecycle -----------------------------------------------------------------------

    def provision(self, service_id: str, password: str, pg_config: dict[str, str], sources: Sequence[str] = ALL_SOURCES) -> Endpoint:
        with self._lock(service_id):
            if self.data.service(service_id).exists():
                return self.endpoint(service_id)
            staging = self.data.staging(service_id)
            shutil.rmtree(staging.root, ignore_errors=True)
            try:
                state = self._build_service(service_id, staging, password, pg_config, sources)
                staging.root.rename(self.data.service(service_id).root)
            except BaseException:
                shutil.rmtree(staging.root, ignore_errors=True)
                with self._registry:
                    self._states.pop(service_id, None)  # frees the port
                raise
            self._log(f"service {service_id}: provisioned on port {state.port}")
            return Endpoint(self.host, state.port)

    def _build_service(self, service_id: str, staging: ServiceDir, password: str, pg_config: dict[str, str], sources: Sequence[str]) -> ServiceState:
        staging.root.mkdir(mode=0o755)
        subprocess.run(["cp", "-a", str(self.data.template), str(staging.pgdata)], check=True)
        tls = certs.service_tls(service_id, [self.host, "localhost", "127.0.0.1", "::1"])
        staging.ca_file.write_text(tls.ca_pem)
        (staging.pgdata / "server.crt").write_text(tls.cert_pem)
        key_file = staging.pgdata / "server.key"
        key_file.touch(mode=0o600)
        key_file.write_text(tls.key_pem)
        self._pg.own(staging.pgdata / "server.crt", key_file)
        with self._registry:
            state = ServiceState(port=self._unreserved_port(), admin_password=secrets.token_urlsafe(24))
            self._states[service_id] = state  # reserves the port
        pgconf.write(self._pg, staging.pgdata / pgconf.SERVICE_CONF, {"port": state.port, "listen_addresses": self.listen_addresses})
        self._write_user_conf(service_id, staging.pgdata, pg_config)
        self._write_hba(staging.pgdata, sources)
        self._pg.single_user(
            staging.pgdata,
            [
                f"ALTER ROLE postgres PASSWORD '{scram_verifier(password)}'",
                f"ALTER ROLE {template.ADMIN_ROLE} PASSWORD '{scram_verifier(state.admin_password)}'",
            ],
        )
        staging.save(state)
        return state

    def start(self, service_id: str) -> None:
        with self._lock(service_id):
            service = self._service(service_id)
            server = self._live_server(service_id)
            if server is not None:
                self._wait_ready(service, server, time.time())
                return
            with contextlib.suppress(FileNotFoundError):
                (service.pgdata / "postmaster.pid").unlink()  # stale: _live_server found no server behind it
            self._start_checked(service_id, service)

    def _start_checked(self, service_id: str, service: ServiceDir) -> None:
        """Start the server; if it will not start with new user settings, start it with the last good ones."""
        user_conf = service.pgdata / pgconf.USER_CONF
        last_good = service.pgdata / pgconf.LAST_GOOD_USER_CONF
        started = time.monotonic()
        try:
            self._spawn(service_id, service)
        except _StartFailed as failure:
            good = last_good.read_text() if last_good.exists() else ""
            if user_conf.read_text() == good:
                raise BackendError(f"service {service_id}: server did not start: {failure}") from None
            self._log(f"service {service_id}: server did not start with the new pgConfig ({failure}); starting it with the settings it last ran with")
            user_conf.write_text(good)
            try:
                self._spawn(service_id, service)
            except _StartFailed as second:
                raise BackendError(f"service {service_id}: server did not start: {second}") from None
        shutil.copyfile(user_conf, last_good)
        self._pg.own(last_good)
        self._log(f"service {service_id}: server ready on port {self._state(service_id).port} in {time.monotonic() - started:.2f}s")

    def _spawn(self, service_id: str, service: ServiceDir) -> None:
        """Start the postmaster and wait until it is ready.

        A port that is briefly still held (a just-stopped server's socket, another process
        probing it) is waited out, as PostgreSQL's own hint says, rather than taken for
        settings it cannot start with.
        """
        deadline = time.monotonic() + _PORT_BUSY_TIMEOUT
        while True:
            since = time.time()
            popen = self._pg.spawn("postgres", "-D", str(service.pgdata), output=service.postmaster_out)
            server = _Server(popen.pid, popen)
            with self._registry:
                self._servers[service_id] = server
            try:
                return self._wait_ready(service, server, since)
            except _StartFailed as failure:
                if _PORT_BUSY not in str(failure) or time.monotonic() > deadline:
                    raise
                self._log(f"service {service_id}: port {self._state(service_id).port} is still in use; starting again")
                time.sleep(_PORT_BUSY_RETRY)

    def _wait_ready(self, service: ServiceDir, server: _Server, since: float) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while _postmaster_status(service.pgdata) != "ready":
            if not server.alive():
                raise _StartFailed(self._why_not_started(service, since))
            if time.monotonic() > deadline:
                raise BackendError(f"server in {service.pgdata} not ready after {_START_TIMEOUT:.0f}s")
            time.sleep(_POLL)

    def _why_not_started(self, service: ServiceDir, since: float) -> str:
        output = service.postmaster_out.read_text(errors="replace").strip().splitlines()[-3:]
        fatal = [
            entry.body
            for entry in self._server_log(service.root.name).log_entries(dt.datetime.fromtimestamp(since, dt.timezone.utc), dt.datetime.now(dt.timezone.utc))
            if entry.severity in ("FATAL", "PANIC")
        ]
        return " / ".join(fatal[-2:] + output) or "no output"

    def _live_server(self, service_id: str) -> _Server | None:
        """The service's running postmaster: ours, or one already running on its data directory (adopted)."""
        with self._registry:
            server = self._servers.get(service_id)
        if server is not None and server.alive():
            return server
        pid = _postmaster_running_in(self.data.service(service_id).pgdata)
        adopted = _Server(pid, None) if pid is not None else None
        with self._registry:
            if adopted is None:
                self._servers.pop(service_id, None)
            else:
                self._servers[service_id] = adopted
        if adopted is not None:
            self._log(f"service {service_id}: adopted running server pid {pid}")
        return adopted

    def is_ready(self, service_id: str) -> bool:
        with self._registry:
            server = self._servers.get(service_id)
        return server is not None and server.alive() and _postmaster_status(self.data.service(service_id).pgdata) == "ready"

    def restart(self, service_id: str) -> None:
        with self._lock(service_id):
            self.stop(service_id)
            self.start(service_id)

    def stop(self, service_id: str) -> None:
        with self._lock(service_id):
            if not self.data.service(service_id).exists():
                return
            server = self._live_server(service_id)
            if server is not None:
                _terminate([server])
                self._log(f"service {service_id}: server stopped")
            with self._registry:
                self._servers.pop(service_id, None)

    def destroy(self, service_id: str) -> None:
        with self._lock(service_id):
            self.stop(service_id)
            shutil.rmtree(self.data.service(service_id).root, ignore_errors=True)
            with self._registry:
                self._states.pop(service_id, None)
                self._logs.pop(service_id, None)
            self._log(f"service {service_id}: destroyed")

    def shutdown(self) -> None:
        """Fast-shut every server down at once and wait for all; the backend is finished afterwards."""
        self._closing.set()
        if self._log_follower.is_alive():
            self._log_follower.join()
        with self._registry:
            servers = list(self._servers.values())
            self._servers.clear()
        _terminate(servers)
        self._pg.close()

    # -- access --------------------------------------------------------------------------

    def endpoint(self, service_id: str) -> Endpoint:
        return Endpoint(self.host, self._state(service_id).port)

    def ca_certificate(self, service_id: str) -> str:
        return self._service(service_id).ca_file.read_text()

    @contextlib.contextmanager
    def _admin(self, service_id: str) -> Iterator[psycopg.Connection]:
        state = self._state(service_id)
        with psycopg.connect(
            host="127.0.0.1",
            port=state.port,
            dbname="postgres",
            user=template.ADMIN_ROLE,
            password=state.admin_password,
            sslmode="verify-full",
            sslrootcert=str(self._service(service_id).ca_file),
            application_name=ADMIN_APP,
            options=_ADMIN_OPTIONS,
            connect_timeout=10,
            autocommit=True,
        ) as conn:
            yield conn

    def _run_sql(self, service_id: str, statements: list[str]) -> None:
        """Run statements on the running server, or in single-user mode when it is stopped."""
        if self._live_server(service_id) is not None:
            with self._admin(service_id) as conn:
                for statement in statements:
                    conn.execute(statement)
        else:
            self._pg.single_user(self._service(service_id).pgdata, statements)

    def set_password(self, service_id: str, password: str) -> None:
        with self._lock(service_id):
            self._run_sql(service_id, [f"ALTER ROLE postgres PASSWORD '{scram_verifier(password)}'"])

    # -- configuration -------------------------------------------------------------------

    def apply_config(self, service_id: str, pg_config: dict[str, str]) -> ConfigOutcome:
        """Write the known keys to chc_user.conf and reload; pending_restart lists what awaits a restart."""
        with self._lock(service_id):
            not_applied = self._write_user_conf(service_id, self._service(service_id).pgdata, pg_config)
            pending: list[str] = []
            if self._live_server(service_id) is not None:
                with self._admin(service_id) as conn:
                    pending = _reload(conn)
            return ConfigOutcome(pending_restart=tuple(pending), not_applied=tuple(not_applied))

    def _write_user_conf(self, service_id: str, pgdata: pathlib.Path, pg_config: dict[str, str]) -> list[str]:
        """Write what the server accepts; return the keys left out (unknown here, or values it rejects)."""
        unknown = sorted(name for name in pg_config if name not in self._known_settings)
        for name in unknown:
            self._log(f"service {service_id}: pgConfig {name} is not a parameter of this PostgreSQL; kept by the API, not applied to the server")
        settings = {name: str(value) for name, value in pg_config.items() if name in self._known_settings}
        conf = pgdata / pgconf.USER_CONF
        pgconf.write(self._pg, conf, settings)
        if pgconf.config_error(self._pg, pgdata) is None:
            return unknown
        accepted: dict[str, str] = {}  # find the culprits: add the keys one at a time
        rejected = []
        for name, value in settings.items():
            pgconf.write(self._pg, conf, accepted | {name: value})
            error = pgconf.config_error(self._pg, pgdata)
            if error is None:
                accepted[name] = value
            else:
                rejected.append(name)
                self._log(f"service {service_id}: pgConfig {name}={value!r} rejected by the server, not applied: {error}")
        pgconf.write(self._pg, conf, accepted)
        return sorted(unknown + rejected)

    # -- access rules --------------------------------------------------------------------

    def apply_access(self, service_id: str, sources: Sequence[str]) -> None:
        """Rewrite pg_hba.conf and reload: new connections follow the rules, no restart."""
        with self._lock(service_id):
            self._write_hba(self._service(service_id).pgdata, sources)
            running = self._live_server(service_id) is not None
            if running:
                with self._admin(service_id) as conn:
                    _reload(conn)
            self._log(f"service {service_id}: admits {', '.join(sources) or 'no source'}{' (reloaded)' if running else ''}")

    def _write_hba(self, pgdata: pathlib.Path, sources: Sequence[str]) -> None:
        path = pgdata / hba.FILE
        path.write_text(hba.render(sources))
        self._pg.own(path)

    # -- observation ---------------------------------------------------------------------

    def _server_log(self, service_id: str) -> ServerLog:
        with self._registry:
            if service_id not in self._logs:
                lookup = functools.partial(self._query_texts, service_id)
                self._logs[service_id] = ServerLog(self.data.service(service_id).pgdata / "log", ADMIN_APP, lookup)
            return self._logs[service_id]

    def _follow_logs(self) -> None:
        """Read running servers' logs every few seconds: parsing stays incremental, old files get pruned."""
        while not self._closing.wait(_FOLLOW_INTERVAL):
            with self._registry:
                running = list(self._servers)
            for service_id in running:
                if not self.data.service(service_id).exists():
                    continue  # destroyed meanwhile
                try:
                    self._server_log(service_id).refresh()
                except Exception as exc:  # noqa: BLE001 - keep following the others; the next round retries
                    self._log(f"service {service_id}: reading the server log failed: {exc}")

    def log_entries(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[LogEntry]:
        self._service(service_id)
        return self._server_log(service_id).log_entries(since, until)

    def executions(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[Execution]:
        self._service(service_id)
        return self._server_log(service_id).executions(since, until)

    def _query_texts(self, service_id: str, query_ids: set[str]) -> dict[str, str]:
        """pg_stat_statements' text ($1, $2 ... for literals) of those query ids it knows; {} when stopped."""
        if not self.is_ready(service_id):
            return {}
        with contextlib.suppress(psycopg.OperationalError), self._admin(service_id) as conn:
            query = "SELECT DISTINCT ON (queryid) queryid::text, query FROM pg_stat_statements WHERE queryid = ANY(%s)"
            return dict(conn.execute(query, [[int(query_id) for query_id in query_ids]]).fetchall())
        return {}

    def stats(self, service_id: str) -> dict[str, float | dict[str, float]]:
        service = self._service(service_id)
        snapshot = stats.zero_stats() | stats.host_stats(service.root)
        with self._registry:
            server = self._servers.get(service_id)
        if server is None or not self.is_ready(service_id):
            return snapshot
        with contextlib.suppress(FileNotFoundError, psycopg.OperationalError):  # stopped meanwhile
            snapshot |= stats.process_stats(server.pid, snapshot["PostgresServer_MemoryLimitBytes"])
            with self._admin(service_id) as conn:
                snapshot |= stats.database_stats(conn, ADMIN_APP)
        return snapshot


def _reload(conn: psycopg.Connection) -> list[str]:
    """Reload the configuration, wait until this session has re-read it, and list pending restarts."""
    loaded = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]
    conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while conn.execute("SELECT pg_conf_load_time()").fetchone()[0] == loaded:
        if time.monotonic() > deadline:
            raise BackendError("server did not reload its configuration within 10s")
        time.sleep(_POLL)
    return [name for (name,) in conn.execute("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")]


def _terminate(servers: list[_Server]) -> None:
    """Fast shutdown (SIGINT) for all at once; immediate (SIGQUIT), then SIGKILL, for any that hang."""
    for signum, timeout in ((signal.SIGINT, _STOP_TIMEOUT), (signal.SIGQUIT, _KILL_TIMEOUT), (signal.SIGKILL, _KILL_TIMEOUT)):
        servers = [server for server in servers if server.alive()]
        for server in servers:
            server.signal(signum)
        deadline = time.monotonic() + timeout
        for server in servers:
            server.wait(max(deadline - time.monotonic(), 0))
