"""The configuration files a cluster includes, and checking them before the server sees them.

postgresql.conf (initdb's own) ends with three includes, later ones winning:
chc_base.conf (the emulator's fixed settings, from the template), chc_service.conf (port and
listen addresses of this service) and chc_user.conf (the API's pgConfig).  The API's map is
only ever written to chc_user.conf, so "back to the server default" is just "not in the file".
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping

from .pgexec import PgExec

BASE_CONF = "chc_base.conf"
SERVICE_CONF = "chc_service.conf"
USER_CONF = "chc_user.conf"
LAST_GOOD_USER_CONF = "chc_user.conf.good"  # the user settings the server last started with
_LOG_PREFIX = re.compile(r"^\S+ \S+ \S+ \[\d+\] ")  # "2026-01-02 03:04:05.678 UTC [123] "
INCLUDES = f"\ninclude = '{BASE_CONF}'\ninclude_if_exists = '{SERVICE_CONF}'\ninclude_if_exists = '{USER_CONF}'\n"


def render(settings: Mapping[str, object]) -> str:
    """postgresql.conf lines; every value quoted, which PostgreSQL accepts for every type."""

    def quote(value: object) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"

    return "".join(f"{name} = {quote(value)}\n" for name, value in settings.items())


def write(pg: PgExec, path: pathlib.Path, settings: Mapping[str, object]) -> None:
    path.write_text(render(settings))
    pg.own(path)


def known_settings(pg: PgExec) -> dict[str, str]:
    """Every parameter the local server knows, with its context (postmaster, sighup, ...)."""
    described = pg.run("postgres", "--describe-config")
    if described.returncode != 0:
        raise RuntimeError(f"postgres --describe-config failed: {described.stderr.strip()}")
    return {row.split("\t")[0]: row.split("\t")[1] for row in described.stdout.splitlines() if "\t" in row}


def config_error(pg: PgExec, pgdata: pathlib.Path) -> str | None:
    """Why the server would refuse its configuration files, or None if it would load them.

    `postgres -C` parses every file exactly as a starting server does (and may run while
    the server is up), so a bad value is caught before it can stop the server starting.
    """
    checked = pg.run("postgres", "-D", str(pgdata), "-C", "port")
    if checked.returncode == 0:
        return None
    lines = [_LOG_PREFIX.sub("", line) for line in checked.stderr.splitlines()]
    return "; ".join(line for line in lines if line) or f"exit status {checked.returncode}"
