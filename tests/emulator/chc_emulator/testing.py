"""Run an emulator in a child process for tests: `with EmulatorProcess(...) as emu: ...`.

Keyword arguments become CLI flags (`provisioning_seconds=1` -> `--provisioning-seconds 1`,
`no_postgres=True` -> `--no-postgres`; with `tls=True` `url` is https, and `ca_file` and
`ssl_context()` are what a client trusts).  The data directory it makes is under /tmp with
mode 0755, so when tests run as root the servers (run as `postgres`) live inside it; a data
directory the `postgres` user cannot reach works too (the servers then live under /var/tmp,
see backend/layout.py).

The emulator gets SIGTERM when the thread that started it exits, so a test process that
dies without its teardown (ansible-test runs every unit test in a forked child that leaves
with os._exit) leaves no emulator behind.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from .app import remove_data_dir
from .backend.pgexec import die_with_parent
from .tls import ApiTls

ADMIN_KEY = ("test-admin", "test-admin-secret")
READONLY_KEY = ("test-reader", "test-reader-secret")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_data_dir(prefix: str = "chc-emu-") -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


class EmulatorProcess:
    def __init__(self, data_dir: Path | None = None, *, org_id: str | None = None, startup_timeout: float = 60.0, **options):
        self.data_dir = Path(data_dir) if data_dir else make_data_dir()
        self._owns_dir = data_dir is None
        self.org_id = org_id or str(uuid.uuid4())
        self.admin_key = ADMIN_KEY
        self.readonly_key = READONLY_KEY
        self.port = free_port()
        self.ca_file = ApiTls.of(self.data_dir).ca_file if options.get("tls") else None  # the emulator writes it at start
        self.url = f"{'https' if self.ca_file else 'http'}://127.0.0.1:{self.port}"
        self.options = {"rate_limit": "off", "provisioning_seconds": 1, **options}
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "chc_emulator", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir), "--org-id", self.org_id]
        cmd += ["--key", ":".join(self.admin_key) + ":admin", "--key", ":".join(self.readonly_key) + ":developer"]
        for name, value in self.options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                cmd.append(flag)
            elif value is not False and value is not None:  # 0 and 0.0 are values
                cmd += [flag, str(value)]
        return cmd

    def start(self) -> EmulatorProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "emulator.log").open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, os.getpid(), signal.SIGTERM),
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + "/v1", timeout=1, context=self.ssl_context()) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, FileNotFoundError):  # no CA file yet: not started
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"emulator not ready after {self.startup_timeout} s:\n{self.log_text()}")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that trusts the emulator's CA (tls=True), else None."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def log_text(self) -> str:
        path = self.data_dir / "emulator.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        """Stop it (SIGTERM: clean shutdown; SIGKILL: a crash) and return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def restart(self, sig: int = signal.SIGTERM) -> EmulatorProcess:
        """Stop and start again on the same data directory and port."""
        self.stop(sig)
        return self.start()

    def __enter__(self) -> EmulatorProcess:
        try:
            return self.start()
        except BaseException:  # no __exit__ follows a failed __enter__; the error holds the log
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop it and remove the data directory it made (kept with CHC_KEEP_EMULATOR_DATA=1)."""
        self.stop()
        if self._owns_dir and not os.environ.get("CHC_KEEP_EMULATOR_DATA"):
            remove_data_dir(self.data_dir)

    # --- what tests look at -------------------------------------------------------------

    def requests(self) -> list[dict]:
        path = self.data_dir / "requests.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _hook(self, method: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + "/_emulator/faults", data=data, method=method)
        with urllib.request.urlopen(request, timeout=5, context=self.ssl_context()) as response:
            return json.loads(response.read())

    def inject(self, kind: str, method: str | None = None, path: str | None = None, count: int = 1, **extra) -> None:
        """Make the next `count` requests matching method and path (a regex) fail as `kind`."""
        rule = {"kind": kind, "method": method, "path": path, "count": count, **extra}
        self._hook("POST", {"rules": [rule]})

    def clear_faults(self) -> None:
        self._hook("DELETE")
