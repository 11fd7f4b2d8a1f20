"""PostgresBackend: every service is a set of real PostgreSQL servers, its nodes: the primary and,
with HA, its streaming standbys.

A new primary is copied from one template cluster, a read replica from the running primary it
follows (pg_basebackup), a restore from a base backup; an HA standby is copied from its
primary.  Every primary archives its WAL and gets base backups (wal.py, basebackup.py).

Each server is a direct child of the emulator (never daemonised), forked from one spawner
thread with a parent-death signal, so it cannot outlive the emulator (see pgexec.py).  All
that must survive an emulator restart is on disk (see layout.py); a new backend on the same
data directory starts the same servers on the same ports with the same data.

Nodes.  The primary node always has the service's port, so the connection string keeps
working when a switchover makes a standby the primary: that standby is started again on the
service's port (the old primary takes the standby's port) and promoted.  What each node is
(the primary, a standby of its service's primary, a read replica following another service,
a restore replaying WAL) is in the service's state file; a node's chc_service.conf and
standby.signal are written from it whenever the node starts, so the next start finishes a
switchover or promotion that a crash interrupted.

A follower thread reads every running server's log every few seconds, so query insights
stay cheap to ask for and old log files are pruned (serverlog.py).

The backend itself logs in as the `chc_admin` superuser over TCP+SSL (the servers have no
Unix sockets) with application_name `chc-emulator` and session settings that keep its own
statements out of the server log and out of pg_stat_statements, and its own commits from
waiting for a synchronous standby.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import itertools
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

from . import basebackup, certs, hba, pgconf, replication, restore, stats, template, wal
from .base import ALL_SOURCES, Backup, ConfigOutcome, Endpoint, Execution, LogEntry
from .layout import FIRST_NODE, DataDir, ServiceDir, ServiceState
from .pgexec import PgExec
from .scram import scram_verifier
from .serverlog import ServerLog
from .template import ADMIN_APP

_ADMIN_OPTIONS = " ".join(
    f"-c {setting}"
    for setting in (
        "log_min_duration_statement=-1",
        "log_statement=none",
        "log_min_error_statement=panic",
        "log_statement_stats=off",
        "auto_explain.log_min_duration=-1",
        "pg_stat_statements.track=none",
        "synchronous_commit=local",
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
_LAST_WORDS_TIMEOUT = 2.0  # how long a dead server's logging collector may take to write its FATAL line
_STANDBY_SIGNAL = "standby.signal"
_CATCH_UP_TIMEOUT = 10.0  # a switchover's standby, to have what the stopped primary wrote
_STREAMING_TIMEOUT = 60.0  # a new standby, to stream from its primary
_RESTORE_TIMEOUT = 600.0  # a restore, to replay its WAL

_logger = logging.getLogger(__name__)

Node = tuple[str, str]  # (service id, node name)


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
        self._servers: dict[Node, _Server] = {}
        self._logs: dict[Node, ServerLog] = {}
        self._reserved_ports: set[int] = set()  # taken for a service or node being built
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
        for service in self.data.existing_services():
            if not service.exists():
                continue
            for staging in service.root.glob(".*.new"):  # a standby a crash left half-made
                shutil.rmtree(staging, ignore_errors=True)
            service.ca_file.chmod(0o644)  # made private before the servers' user needed it (replication)
            with self._registry:
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

    def _save_state(self, service_id: str, state: ServiceState, service: ServiceDir | None = None) -> None:
        (service or self._service(service_id)).save(state)
        with self._registry:
            self._states[service_id] = state
            self._reserved_ports -= state.ports

    def _reserve_port(self) -> int:
        """A port no service or node has and nothing listens on, reserved until a saved state holds it."""
        with self._registry:
            taken = self._reserved_ports.union(*(state.ports for state in self._states.values()))
            for port in random.sample(_PORTS, len(_PORTS)):
                if port not in taken and _port_is_free(port):
                    self._reserved_ports.add(port)
                    return port
        raise BackendError(f"no free TCP port in {_PORTS.start}-{_PORTS.stop - 1}")

    def _release_port(self, port: int) -> None:
        with self._registry:
            self._reserved_ports.discard(port)

    def _private_dir(self, path: pathlib.Path) -> None:
        """A directory only the servers' user may enter (PostgreSQL insists on it for data directories)."""
        path.mkdir(mode=0o700, exist_ok=True)
        self._pg.own(path)

    def _upstream(self, service_id: str, state: ServiceState | None = None) -> replication.Upstream:
        """How replication clients reach the primary of service_id."""
        state = state or self._state(service_id)
        return replication.Upstream(port=state.port, admin_password=state.admin_password, ca_file=self.data.service(service_id).ca_file)

    def _require_running(self, service_id: str) -> None:
        if self._live_server(service_id, self._state(service_id).primary) is None:
            raise BackendError(f"service {service_id}: its server is not running")

    # -- provisioning --------------------------------------------------------------------

    def provision(self, service_id: str, password: str, pg_config: dict[str, str], sources: Sequence[str] = ALL_SOURCES) -> Endpoint:
        with self._lock(service_id):
            if not self.data.service(service_id).exists():
                with self._building(service_id) as (staging, port):
                    subprocess.run(["cp", "-a", str(self.data.template), str(staging.pgdata)], check=True)
                    state = ServiceState(port=port, admin_password=secrets.token_urlsafe(24))
                    self._furnish(service_id, staging, state, pg_config, sources)
                    self._pg.single_user(
                        staging.pgdata,
                        [
                            f"ALTER ROLE postgres PASSWORD '{scram_verifier(password)}'",
                            f"ALTER ROLE {template.ADMIN_ROLE} PASSWORD '{scram_verifier(state.admin_password)}'",
                        ],
                    )
                self._log(f"service {service_id}: provisioned on port {port}")
            return self.endpoint(service_id)

    def provision_replica(self, service_id: str, primary_id: str, pg_config: dict[str, str], sources: Sequence[str]) -> Endpoint:
        """A physical copy of the primary, so its roles and passwords are the primary's, chc_admin's too."""
        with self._lock(service_id):
            if not self.data.service(service_id).exists():
                with self._lock(primary_id):
                    primary = self._state(primary_id)
                    self._require_running(primary_id)
                    with self._building(service_id) as (staging, port):
                        self._private_dir(staging.pgdata)
                        replication.copy_cluster(self._pg, self._upstream(primary_id), staging.pgdata, label=f"read replica {service_id}")
                        state = ServiceState(port=port, admin_password=primary.admin_password, upstream=primary_id)
                        self._furnish(service_id, staging, state, pg_config, sources)
                self._log(f"service {service_id}: read replica of {primary_id} provisioned on port {port}")
            return self.endpoint(service_id)

    def provision_restore(
        self, service_id: str, source_id: str, backup_key: str, target: float, pg_config: dict[str, str], sources: Sequence[str]
    ) -> Endpoint:
        with self._lock(service_id):
            if not self.data.service(service_id).exists():
                with self._lock(source_id):
                    source, source_state = self._service(source_id), self._state(source_id)
                    backup = source.backups / backup_key
                    if not backup.is_dir():
                        raise BackendError(f"service {source_id} has no backup {backup_key}")
                    self._require_running(source_id)
                    with self._admin(source_id) as conn:
                        last = wal.seal(conn)
                    wal.wait_archived(source.archive, last)
                    with self._building(service_id) as (staging, port):
                        files = restore.prepare(self._pg, backup, source.archive, last, staging.pgdata, staging.restore_wal)
                        state = ServiceState(port=port, admin_password=source_state.admin_password, restore_target=target)
                        self._furnish(service_id, staging, state, pg_config, sources)
                self._log(f"service {service_id}: restore of {source_id} from {backup_key} with {files} WAL files provisioned on port {port}")
            return self.endpoint(service_id)

    @contextlib.contextmanager
    def _building(self, service_id: str) -> Iterator[tuple[ServiceDir, int]]:
        """A new service's directory and port: built as staging, renamed into place in one step when the block succeeds."""
        staging = self.data.staging(service_id)
        shutil.rmtree(staging.root, ignore_errors=True)
        staging.root.mkdir(mode=0o755)
        port = self._reserve_port()
        try:
            yield staging, port
            staging.root.rename(self.data.service(service_id).root)
        except BaseException:
            shutil.rmtree(staging.root, ignore_errors=True)
            with self._registry:
                self._states.pop(service_id, None)
            raise
        finally:
            self._release_port(port)

    def _furnish(self, service_id: str, staging: ServiceDir, state: ServiceState, pg_config: dict[str, str], sources: Sequence[str]) -> None:
        """What every new service gets, wherever its cluster came from: a CA and certificate of its own,
        its archive and backup directories, its settings and access rules, and its state file."""
        tls = certs.service_tls(service_id, [self.host, "localhost", "127.0.0.1", "::1"])
        staging.ca_file.write_text(tls.ca_pem)
        staging.ca_file.chmod(0o644)  # public; the servers' user reads it to stream from this service
        (staging.pgdata / "server.crt").write_text(tls.cert_pem)
        key_file = staging.pgdata / "server.key"
        key_file.touch(mode=0o600)
        key_file.write_text(tls.key_pem)
        self._pg.own(staging.pgdata / "server.crt", key_file)
        self._private_dir(staging.archive)
        self._private_dir(staging.backups)
        with self._registry:
            self._states[service_id] = state
        self._write_user_conf(service_id, staging.pgdata, pg_config)
        self._write_hba(staging.pgdata, sources)
        self._write_node_conf(service_id, state, FIRST_NODE, staging.pgdata)
        self._save_state(service_id, state, staging)

    def _write_node_conf(self, service_id: str, state: ServiceState, node: str, pgdata: pathlib.Path | None = None) -> None:
        """chc_service.conf for the node's part in the service: its port, archiving, what it follows or replays."""
        service = self.data.service(service_id)
        home = service.node(node)  # where it will be, also while it is being built; the server's working directory

        def seen_from_home(path: pathlib.Path) -> str:
            return os.path.relpath(path, home)

        pgdata = pgdata or home
        settings = {"port": state.port_of(node), "listen_addresses": self.listen_addresses, **wal.archiving(seen_from_home(service.archive))}
        if node != state.primary:
            settings |= wal.following(self._upstream(service_id, state).conninfo(node, home), seen_from_home(service.archive))
        elif state.upstream is not None:
            conninfo = self._upstream(state.upstream).conninfo(service_id, home)
            settings |= wal.following(conninfo, seen_from_home(self.data.service(state.upstream).archive))
        elif state.restore_target is not None and restore.in_progress(pgdata):
            settings |= wal.replaying(seen_from_home(service.restore_wal), state.restore_target)
        if node == state.primary and state.synchronous and state.standbys:
            settings |= wal.synchronous(state.standbys)
        pgconf.write(self._pg, pgdata / pgconf.SERVICE_CONF, settings)

    def _prepare_node(self, service_id: str, state: ServiceState, node: str) -> None:
        """Before a node starts: its config and signal file for what the state says it is."""
        service = self.data.service(service_id)
        self._private_dir(service.archive)  # services from before archiving had none
        if node != state.primary or state.upstream is not None:
            signal_file = service.node(node) / _STANDBY_SIGNAL
            signal_file.touch()
            self._pg.own(signal_file)
        self._write_node_conf(service_id, state, node)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, service_id: str) -> None:
        """Start every node, the primary first; a primary node still in standby mode is promoted
        (a switchover's new primary, or a promotion or switchover a crash interrupted)."""
        with self._lock(service_id):
            self._service(service_id)
            state = self._state(service_id)
            for node in state.nodes:
                self._start_node(service_id, node)
                if node == state.primary and state.upstream is None:
                    self._finish_promotion(service_id, node)

    def _start_node(self, service_id: str, node: str) -> None:
        server = self._live_server(service_id, node)
        if server is not None:
            self._wait_ready(service_id, node, server, time.time())
            return
        with contextlib.suppress(FileNotFoundError):
            (self.data.service(service_id).node(node) / "postmaster.pid").unlink()  # stale: _live_server found no server behind it
        self._prepare_node(service_id, self._state(service_id), node)
        self._start_checked(service_id, node)

    def _finish_promotion(self, service_id: str, node: str) -> None:
        if (self.data.service(service_id).node(node) / _STANDBY_SIGNAL).exists():
            with self._admin(service_id) as conn:
                if replication.promote(conn):
                    self._log(f"service {service_id}: {node} promoted to primary")

    def _start_checked(self, service_id: str, node: str) -> None:
        """Start the node; if it will not start with new user settings, start it with the last good ones."""
        pgdata = self.data.service(service_id).node(node)
        user_conf = pgdata / pgconf.USER_CONF
        last_good = pgdata / pgconf.LAST_GOOD_USER_CONF
        started = time.monotonic()
        try:
            self._spawn(service_id, node)
        except _StartFailed as failure:
            good = last_good.read_text() if last_good.exists() else ""
            if user_conf.read_text() == good:
                raise BackendError(f"service {service_id}: server did not start: {failure}") from None
            self._log(f"service {service_id}: server did not start with the new pgConfig ({failure}); starting it with the settings it last ran with")
            user_conf.write_text(good)
            try:
                self._spawn(service_id, node)
            except _StartFailed as second:
                raise BackendError(f"service {service_id}: server did not start: {second}") from None
        shutil.copyfile(user_conf, last_good)
        self._pg.own(last_good)
        state = self._state(service_id)
        role = "" if node == state.primary else f" (standby {node})"
        self._log(f"service {service_id}: server ready on port {state.port_of(node)}{role} in {time.monotonic() - started:.2f}s")

    def _spawn(self, service_id: str, node: str) -> None:
        """Start the postmaster and wait until it is ready.

        A port that is briefly still held (a just-stopped server's socket, another process
        probing it) is waited out, as PostgreSQL's own hint says, rather than taken for
        settings it cannot start with.
        """
        service = self.data.service(service_id)
        deadline = time.monotonic() + _PORT_BUSY_TIMEOUT
        while True:
            since = time.time()
            popen = self._pg.spawn("postgres", "-D", str(service.node(node)), output=service.output(node))
            server = _Server(popen.pid, popen)
            with self._registry:
                self._servers[(service_id, node)] = server
            try:
                return self._wait_ready(service_id, node, server, since)
            except _StartFailed as failure:
                if _PORT_BUSY not in str(failure) or time.monotonic() > deadline:
                    raise
                self._log(f"service {service_id}: port {self._state(service_id).port_of(node)} is still in use; starting again")
                time.sleep(_PORT_BUSY_RETRY)

    def _wait_ready(self, service_id: str, node: str, server: _Server, since: float) -> None:
        """Until the server accepts connections (a standby: read-only ones, once consistent)."""
        pgdata = self.data.service(service_id).node(node)
        deadline = time.monotonic() + _START_TIMEOUT
        while _postmaster_status(pgdata) != "ready":
            if not server.alive():
                raise _StartFailed(self._why_not_started(service_id, node, since))
            if time.monotonic() > deadline:
                raise BackendError(f"server in {pgdata} not ready after {_START_TIMEOUT:.0f}s")
            time.sleep(_POLL)

    def _why_not_started(self, service_id: str, node: str, since: float) -> str:
        """The server's last words. Its FATAL line is written by the logging collector, a child
        that can outlive the postmaster by a moment, so it is waited for briefly."""
        output = self.data.service(service_id).output(node).read_text(errors="replace").strip().splitlines()[-3:]
        deadline = time.monotonic() + _LAST_WORDS_TIMEOUT
        while True:
            began = dt.datetime.fromtimestamp(since - 0.001, dt.timezone.utc)  # the log's timestamps have milliseconds
            entries = self._server_log(service_id, node).log_entries(began, dt.datetime.now(dt.timezone.utc))
            fatal = [entry.body for entry in entries if entry.severity in ("FATAL", "PANIC")]
            if fatal or time.monotonic() > deadline:
                return " / ".join(fatal[-2:] + output) or "no output"
            time.sleep(_POLL * 5)

    def _live_server(self, service_id: str, node: str) -> _Server | None:
        """The node's running postmaster: ours, or one already running on its data directory (adopted)."""
        with self._registry:
            server = self._servers.get((service_id, node))
        if server is not None and server.alive():
            return server
        pid = _postmaster_running_in(self.data.service(service_id).node(node))
        adopted = _Server(pid, None) if pid is not None else None
        with self._registry:
            if adopted is None:
                self._servers.pop((service_id, node), None)
            else:
                self._servers[(service_id, node)] = adopted
        if adopted is not None:
            self._log(f"service {service_id}: adopted running server pid {pid}")
        return adopted

    def is_ready(self, service_id: str) -> bool:
        with self._registry:
            state = self._states.get(service_id)
            server = self._servers.get((service_id, state.primary)) if state is not None else None
        return server is not None and server.alive() and _postmaster_status(self.data.service(service_id).node(state.primary)) == "ready"

    def restart(self, service_id: str) -> None:
        with self._lock(service_id):
            self.stop(service_id)
            self.start(service_id)

    def stop(self, service_id: str) -> None:
        with self._lock(service_id):
            if not self.data.service(service_id).exists():
                return
            for node in self._state(service_id).nodes:
                self._stop_node(service_id, node)

    def _stop_node(self, service_id: str, node: str) -> None:
        server = self._live_server(service_id, node)
        if server is not None:
            _terminate([server])
            self._log(f"service {service_id}: server stopped{'' if node == self._state(service_id).primary else f' (standby {node})'}")
        with self._registry:
            self._servers.pop((service_id, node), None)

    def destroy(self, service_id: str) -> None:
        with self._lock(service_id):
            self.stop(service_id)
            shutil.rmtree(self.data.service(service_id).root, ignore_errors=True)
            with self._registry:
                self._states.pop(service_id, None)
                for node in [key for key in self._logs if key[0] == service_id]:
                    self._logs.pop(node)
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

    # -- read replicas, HA standbys, switchover, restore ------------------------------------

    def promote(self, service_id: str) -> None:
        """The replica stops following its primary and becomes one: archiving to its own archive, writable."""
        with self._lock(service_id):
            state = self._state(service_id)
            if state.upstream is None:
                return
            promoted = dataclasses.replace(state, upstream=None)
            self._save_state(service_id, promoted)  # first: a crash from here on is finished by the next start
            self._write_node_conf(service_id, promoted, promoted.primary)
            if self._live_server(service_id, promoted.primary) is not None:
                self._finish_promotion(service_id, promoted.primary)
                with self._admin(service_id) as conn:
                    _reload(conn)
            self._log(f"service {service_id}: promoted, no longer follows {state.upstream}")

    def set_standbys(self, service_id: str, count: int, *, synchronous: bool) -> None:
        with self._lock(service_id):
            state = self._state(service_id)
            if state.upstream is not None:
                count = 0  # a read replica has no standbys of its own
            synchronous = synchronous and count > 0
            surplus = sorted(state.standbys)[count:]
            if surplus or (state.synchronous and not synchronous):
                # Commits must stop waiting for standbys before one of them goes.
                state = self._reconfigure_primary(service_id, dataclasses.replace(state, synchronous=False))
                for node in surplus:
                    self._remove_standby(service_id, node)
            while len(self._state(service_id).standbys) < count:
                self._add_standby(service_id)
            state = self._state(service_id)
            if synchronous and not state.synchronous:
                self._reconfigure_primary(service_id, dataclasses.replace(state, synchronous=True))

    def _reconfigure_primary(self, service_id: str, state: ServiceState) -> ServiceState:
        self._save_state(service_id, state)
        self._write_node_conf(service_id, state, state.primary)
        if self._live_server(service_id, state.primary) is not None:
            with self._admin(service_id) as conn:
                _reload(conn)
        return state

    def _add_standby(self, service_id: str) -> None:
        """A copy of the running primary, started as its standby; returns once it streams."""
        service = self._service(service_id)
        state = self._state(service_id)
        self._require_running(service_id)
        names = itertools.chain([FIRST_NODE], (f"{FIRST_NODE}-{n}" for n in itertools.count(1)))
        node = next(name for name in names if name not in state.nodes)
        staging = service.node_staging(node)
        shutil.rmtree(staging, ignore_errors=True)
        self._private_dir(staging)
        port = self._reserve_port()
        try:
            replication.copy_cluster(self._pg, self._upstream(service_id), staging, label=f"standby {node}")
            shutil.rmtree(service.node(node), ignore_errors=True)  # one a crash left before the state named it
            staging.rename(service.node(node))
            self._save_state(service_id, dataclasses.replace(state, standbys={**state.standbys, node: port}))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            self._release_port(port)
        self._start_node(service_id, node)
        deadline = time.monotonic() + _STREAMING_TIMEOUT
        with self._admin(service_id) as conn:
            while not replication.streaming(conn, node):
                if time.monotonic() > deadline:
                    raise BackendError(f"service {service_id}: standby {node} does not stream after {_STREAMING_TIMEOUT:.0f}s")
                time.sleep(_POLL * 5)
        self._log(f"service {service_id}: standby {node} streams on port {port}")

    def _remove_standby(self, service_id: str, node: str) -> None:
        self._stop_node(service_id, node)
        state = self._state(service_id)
        self._save_state(service_id, dataclasses.replace(state, standbys={name: port for name, port in state.standbys.items() if name != node}))
        shutil.rmtree(self._service(service_id).node(node), ignore_errors=True)
        with self._registry:
            self._logs.pop((service_id, node), None)
        self._log(f"service {service_id}: standby {node} removed")

    def switchover(self, service_id: str) -> None:
        """Stop the primary (its walsenders send the standbys everything first), make sure the most
        caught-up standby has all of it, and start that standby on the service's port as the primary;
        the old primary follows it.  Without a running standby this is a restart."""
        with self._lock(service_id):
            service = self._service(service_id)
            state = self._state(service_id)
            target = self._most_caught_up_standby(service_id, state)
            if target is None:
                self._log(f"service {service_id}: switchover without a running standby: restarting")
                self.restart(service_id)
                return
            old = state.primary
            self._stop_node(service_id, old)
            end = replication.shutdown_checkpoint(self._pg, service.node(old))
            if not self._has_received(service_id, target, end):
                self._log(f"service {service_id}: standby {target} lacks WAL the primary wrote; switchover abandoned, the primary starts again")
                self._start_node(service_id, old)
                return
            self._stop_node(service_id, target)
            standbys = {node: port for node, port in state.standbys.items() if node != target} | {old: state.standbys[target]}
            self._save_state(service_id, dataclasses.replace(state, primary=target, standbys=standbys))
            self.start(service_id)
            self._log(f"service {service_id}: switched over from {old} to {target} on port {state.port}")

    def _most_caught_up_standby(self, service_id: str, state: ServiceState) -> str | None:
        best: tuple[int, str] | None = None
        for node in sorted(state.standbys):
            if self._live_server(service_id, node) is None:
                continue
            with contextlib.suppress(psycopg.Error), self._admin(service_id, node) as conn:
                candidate = (replication.received(conn), node)
                best = max(best or candidate, candidate)
        return best[1] if best else None

    def _has_received(self, service_id: str, node: str, end: int) -> bool:
        """Whether the standby gets WAL beyond `end` (the stopped primary's shutdown checkpoint) in time."""
        deadline = time.monotonic() + _CATCH_UP_TIMEOUT
        with self._admin(service_id, node) as conn:
            while replication.received(conn) <= end:
                if time.monotonic() > deadline:
                    return False
                time.sleep(_POLL * 5)
        return True

    def finish_restore(self, service_id: str) -> None:
        """Wait until the restore has replayed to its target and promoted; then it is an ordinary primary."""
        with self._lock(service_id):
            state = self._state(service_id)
            if state.restore_target is None:
                return
            deadline = time.monotonic() + _RESTORE_TIMEOUT
            try:
                with self._admin(service_id) as conn:
                    while conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                        if time.monotonic() > deadline:
                            raise BackendError(f"service {service_id}: the restore did not finish within {_RESTORE_TIMEOUT:.0f}s")
                        time.sleep(_POLL * 5)
            except psycopg.OperationalError:
                raise BackendError(f"service {service_id}: the restore failed: {self._why_not_started(service_id, state.primary, 0)}") from None
            finished = dataclasses.replace(state, restore_target=None)
            self._save_state(service_id, finished)
            self._write_node_conf(service_id, finished, finished.primary)
            with self._admin(service_id) as conn:
                _reload(conn)
            shutil.rmtree(self._service(service_id).restore_wal, ignore_errors=True)
            self._log(f"service {service_id}: restored to {dt.datetime.fromtimestamp(state.restore_target, dt.timezone.utc).isoformat()}")

    # -- backups -------------------------------------------------------------------------

    def take_backup(self, service_id: str) -> Backup:
        with self._lock(service_id):
            service = self._service(service_id)
            self._require_running(service_id)
            self._private_dir(service.backups)  # services from before backups had none
            started = time.monotonic()
            backup = basebackup.take(self._pg, self._upstream(service_id), service.backups)
        self._log(f"service {service_id}: base backup {backup.key} in {time.monotonic() - started:.2f}s")
        return backup

    def retain_backups(self, service_id: str, keys: Sequence[str]) -> None:
        with self._lock(service_id):
            service = self._service(service_id)
            first = basebackup.keep_only(service.backups, set(keys))
            if first is not None and service.archive.is_dir():
                removed = wal.prune(service.archive, first)
                if removed:
                    self._log(f"service {service_id}: {removed} archived WAL files older than its oldest backup removed")

    # -- access --------------------------------------------------------------------------

    def endpoint(self, service_id: str) -> Endpoint:
        return Endpoint(self.host, self._state(service_id).port)

    def ca_certificate(self, service_id: str) -> str:
        return self._service(service_id).ca_file.read_text()

    @contextlib.contextmanager
    def _admin(self, service_id: str, node: str | None = None) -> Iterator[psycopg.Connection]:
        """An admin session on the service's primary, or on one of its standbys."""
        state = self._state(service_id)
        with psycopg.connect(
            host="127.0.0.1",
            port=state.port if node is None else state.port_of(node),
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
        """Run statements on the running primary, or in single-user mode when it is stopped."""
        state = self._state(service_id)
        if self._live_server(service_id, state.primary) is not None:
            with self._admin(service_id) as conn:
                for statement in statements:
                    conn.execute(statement)
        else:
            self._pg.single_user(self._service(service_id).node(state.primary), statements)

    def set_password(self, service_id: str, password: str) -> None:
        with self._lock(service_id):
            self._run_sql(service_id, [f"ALTER ROLE postgres PASSWORD '{scram_verifier(password)}'"])

    # -- configuration -------------------------------------------------------------------

    def apply_config(self, service_id: str, pg_config: dict[str, str]) -> ConfigOutcome:
        """Write the known keys to every node's chc_user.conf and reload; pending_restart lists what awaits a restart."""
        with self._lock(service_id):
            service, state = self._service(service_id), self._state(service_id)
            primary = service.node(state.primary)
            not_applied = self._write_user_conf(service_id, primary, pg_config)
            for node in state.standbys:  # the same settings, whichever node is the primary after a switchover
                shutil.copyfile(primary / pgconf.USER_CONF, service.node(node) / pgconf.USER_CONF)
                self._pg.own(service.node(node) / pgconf.USER_CONF)
            pending: list[str] = []
            for node in state.nodes:
                if self._live_server(service_id, node) is not None:
                    with self._admin(service_id, node) as conn:
                        reloaded = _reload(conn)
                    pending = reloaded if node == state.primary else pending
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
        """Rewrite every node's pg_hba.conf and reload: new connections follow the rules, no restart."""
        with self._lock(service_id):
            service, state = self._service(service_id), self._state(service_id)
            reloaded = False
            for node in state.nodes:
                self._write_hba(service.node(node), sources)
                if self._live_server(service_id, node) is not None:
                    with self._admin(service_id, node) as conn:
                        _reload(conn)
                    reloaded = reloaded or node == state.primary
            self._log(f"service {service_id}: admits {', '.join(sources) or 'no source'}{' (reloaded)' if reloaded else ''}")

    def _write_hba(self, pgdata: pathlib.Path, sources: Sequence[str]) -> None:
        path = pgdata / hba.FILE
        path.write_text(hba.render(sources))
        self._pg.own(path)

    # -- observation ---------------------------------------------------------------------

    def _server_log(self, service_id: str, node: str) -> ServerLog:
        with self._registry:
            if (service_id, node) not in self._logs:
                lookup = functools.partial(self._query_texts, service_id)
                self._logs[(service_id, node)] = ServerLog(self.data.service(service_id).node(node) / "log", ADMIN_APP, lookup)
            return self._logs[(service_id, node)]

    def _follow_logs(self) -> None:
        """Read running servers' logs every few seconds: parsing stays incremental, old files get pruned."""
        while not self._closing.wait(_FOLLOW_INTERVAL):
            with self._registry:
                running = list(self._servers)
            for service_id, node in running:
                if not self.data.service(service_id).exists():
                    continue  # destroyed meanwhile
                try:
                    self._server_log(service_id, node).refresh()
                except Exception as exc:  # noqa: BLE001 - keep following the others; the next round retries
                    self._log(f"service {service_id}: reading the server log failed: {exc}")

    def _of_every_node(self, service_id: str, read: Callable[[ServerLog], list]) -> list:
        """What read finds in the logs of all the service's nodes, oldest first: the service's log
        is its servers' logs, also those of a primary a switchover made a standby."""
        self._service(service_id)
        found = [read(self._server_log(service_id, node)) for node in self._state(service_id).nodes]
        return found[0] if len(found) == 1 else sorted(itertools.chain.from_iterable(found), key=lambda item: item.timestamp)

    def log_entries(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[LogEntry]:
        return self._of_every_node(service_id, lambda log: log.log_entries(since, until))

    def executions(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[Execution]:
        return self._of_every_node(service_id, lambda log: log.executions(since, until))

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
            server = self._servers.get((service_id, self._states[service_id].primary)) if service_id in self._states else None
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
