"""Run PostgreSQL's programs as a user PostgreSQL accepts, and never let them outlive us.

PostgreSQL refuses to run as root, so when the emulator is root every program runs as the
`postgres` user and every directory it writes is chowned to that user.  Every child gets a
parent-death signal (prctl PR_SET_PDEATHSIG), so a SIGKILLed emulator takes its servers with
it.  The signal is set in preexec_fn, which CPython runs *after* the setgid/setuid of
Popen(user=...), and that order matters: changing credentials clears the death signal.

Linux sends the death signal when the *thread* that forked the child exits, not the
process.  Long-lived servers are therefore forked from one dedicated spawner thread that
lives as long as this object, never from a short-lived HTTP handler thread.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import os
import pathlib
import pwd
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: preexec_fn must not load libraries
_FALLBACK_BINDIR = pathlib.Path("/usr/lib/postgresql/15/bin")
_QUIET_SINGLE_USER = (
    "-c",
    "shared_preload_libraries=",
    "-c",
    "log_min_duration_statement=-1",
    "-c",
    "log_statement_stats=off",
    "-c",
    "log_min_error_statement=panic",
)


def find_bindir() -> pathlib.Path:
    """PostgreSQL's bin directory: pg_config's answer, else Debian's PostgreSQL 15."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = pathlib.Path(found.stdout.strip())
        if found.returncode == 0 and (bindir / "postgres").exists():
            return bindir
    return _FALLBACK_BINDIR


def die_with_parent(parent_pid: int, death_signal: int) -> None:
    """preexec_fn: ask the kernel for death_signal when our parent dies; die now if it already has."""
    _libc.prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died between fork and prctl
        os.kill(os.getpid(), signal.SIGKILL)


class PgExec:
    """Runs initdb/postgres as the right user, from the right thread."""

    def __init__(self, bindir: pathlib.Path | None = None):
        self.bindir = bindir or find_bindir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            account = pwd.getpwnam("postgres")
            self.uid, self.gid = account.pw_uid, account.pw_gid
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()
        self._spawner = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="chc-pg-spawner")

    def _popen_args(self, death_signal: int, env: Mapping[str, str] | None = None) -> dict:
        args = {
            "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", **(env or {})},
            "preexec_fn": functools.partial(die_with_parent, os.getpid(), death_signal),
            "cwd": "/",
        }
        if self.as_root:
            args.update(user=self.uid, group=self.gid, extra_groups=[])
        return args

    def run(self, program: str, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run a short-lived program to completion, output captured; env is added to the minimal one
        (libpq's PGPASSWORD and friends: a command line is readable by every local user)."""
        return subprocess.run(
            [str(self.bindir / program), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            **self._popen_args(signal.SIGKILL, env),
        )

    def single_user(self, pgdata: pathlib.Path, statements: list[str]) -> None:
        """Run SQL in single-user mode (server stopped): no libraries loaded, nothing logged."""
        ran = self.run("postgres", "--single", "-D", str(pgdata), *_QUIET_SINGLE_USER, "postgres", stdin="".join(f"{statement};\n" for statement in statements))
        problems = [line for line in ran.stderr.splitlines() if re.search(r"\b(ERROR|FATAL|PANIC):", line)]
        if ran.returncode != 0 or problems:
            raise RuntimeError(f"single-user postgres failed on {pgdata}: {' '.join(problems) or ran.stderr.strip()}")

    def spawn(self, program: str, *args: str, output: pathlib.Path) -> subprocess.Popen:
        """Start a long-lived server from the spawner thread; SIGQUIT (immediate shutdown) if we die."""

        def start() -> subprocess.Popen:
            with open(output, "wb") as out:
                return subprocess.Popen(
                    [str(self.bindir / program), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    **self._popen_args(signal.SIGQUIT),
                )

        return self._spawner.submit(start).result()

    def own(self, *paths: pathlib.Path) -> None:
        """Hand paths (not recursively) to the server's user."""
        for path in paths:
            os.chown(path, self.uid, self.gid)

    def can_reach(self, directory: pathlib.Path) -> bool:
        """Whether the server's user can enter directory (needs search permission on every parent)."""
        if not self.as_root:
            return os.access(directory, os.X_OK)
        probe = subprocess.run(["test", "-x", str(directory)], check=False, **self._popen_args(signal.SIGKILL))
        return probe.returncode == 0

    def close(self) -> None:
        self._spawner.shutdown(wait=True)
