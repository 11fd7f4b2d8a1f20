"""The template cluster every service is copied from: one initdb per data directory, not per service.

The template carries everything services share: the emulator's settings (chc_base.conf),
an SSL-only SCRAM pg_hba.conf, the `chc_admin` superuser the backend itself logs in as,
and pg_stat_statements created in the `postgres` database.  A marker file records which
template layout and which server binaries built it; any mismatch means "build it again".
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time
from collections.abc import Callable

from . import pgconf
from .pgexec import PgExec

LAYOUT = 1  # bump whenever what the template contains changes
MARKER = "chc-template.json"
ADMIN_ROLE = "chc_admin"
ADMIN_APP = "chc-emulator"  # application_name of the backend's own sessions, left out of the log the API shows

BASE_SETTINGS = {
    "unix_socket_directories": "",  # the backend connects over TCP+SSL; no 107-byte socket path limit
    "ssl": "on",
    "ssl_cert_file": "server.crt",
    "ssl_key_file": "server.key",
    "password_encryption": "scram-sha-256",
    "shared_preload_libraries": "pg_stat_statements,auto_explain",
    "compute_query_id": "on",
    "logging_collector": "on",
    "log_destination": "csvlog",
    "log_directory": "log",
    "log_filename": "postgresql-%Y%m%d-%H%M%S.log",
    "log_rotation_size": "8MB",
    "log_rotation_age": "0",
    "log_file_mode": "0600",
    "log_timezone": "UTC",
    "log_min_duration_statement": "0",  # every statement, with its duration
    "log_statement_stats": "on",  # per-statement getrusage: CPU user/system time
    "auto_explain.log_min_duration": "0",  # per-execution rows, buffers, WAL, workers, JIT
    "auto_explain.log_analyze": "on",
    "auto_explain.log_buffers": "on",
    "auto_explain.log_wal": "on",
    "auto_explain.log_timing": "off",  # per-node clocks would be the expensive part
    "auto_explain.log_format": "json",
    "track_io_timing": "on",
    "fsync": "off",  # data survives the emulator dying, only not the machine crashing
}

PG_HBA = """\
# chc-emulator: TCP only, SSL only, SCRAM only.
hostssl   all  all  all  scram-sha-256
hostnossl all  all  all  reject
"""


def _marker(pg: PgExec) -> dict:
    version = pg.run("postgres", "--version").stdout.strip()
    return {"layout": LAYOUT, "postgres": version}


def is_valid(pg: PgExec, path: pathlib.Path) -> bool:
    try:
        return json.loads((path / MARKER).read_text()) == _marker(pg)
    except (OSError, ValueError):
        return False


def build(pg: PgExec, path: pathlib.Path, log: Callable[[str], None]) -> None:
    """Build the template at path from scratch (in a side directory, renamed into place when complete)."""
    started = time.monotonic()
    staging = path.with_name(path.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    pg.own(staging)
    initdb = pg.run(
        "initdb",
        "-D",
        str(staging),
        "--username=postgres",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
        "--auth-local=peer",
        "--auth-host=scram-sha-256",
        "--wal-segsize=1",
        "--no-sync",
    )
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed: {initdb.stderr.strip() or initdb.stdout.strip()}")
    with open(staging / "postgresql.conf", "a") as conf:
        conf.write(pgconf.INCLUDES)
    pgconf.write(pg, staging / pgconf.BASE_CONF, BASE_SETTINGS)
    (staging / "pg_hba.conf").write_text(PG_HBA)
    pg.single_user(staging, [f"CREATE ROLE {ADMIN_ROLE} SUPERUSER LOGIN", "CREATE EXTENSION pg_stat_statements"])
    (staging / "pg_stat" / "pgstat.stat").unlink(missing_ok=True)  # initdb's activity is no service's statistics
    (staging / MARKER).write_text(json.dumps(_marker(pg)))
    pg.own(staging / MARKER)
    shutil.rmtree(path, ignore_errors=True)
    staging.rename(path)
    log(f"built template cluster {path} in {time.monotonic() - started:.2f}s")


def ensure(pg: PgExec, path: pathlib.Path, log: Callable[[str], None]) -> None:
    if not is_valid(pg, path):
        build(pg, path, log)
