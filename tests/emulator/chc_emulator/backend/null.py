"""A backend with no servers behind it, for `--no-postgres` scale runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .base import ConfigOutcome, Endpoint, Execution, LogEntry


class NullBackend:
    def __init__(self, data_dir: Path, host: str = "localhost"):
        self.data_dir = data_dir
        self.host = host

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def provision(self, service_id: str, password: str, pg_config: dict[str, str]) -> Endpoint:
        return Endpoint(self.host, 5432)

    def start(self, service_id: str) -> None:
        pass

    def is_ready(self, service_id: str) -> bool:
        return True

    def restart(self, service_id: str) -> None:
        pass

    def stop(self, service_id: str) -> None:
        pass

    def destroy(self, service_id: str) -> None:
        pass

    def endpoint(self, service_id: str) -> Endpoint:
        return Endpoint(self.host, 5432)

    def ca_certificate(self, service_id: str) -> str:
        return ""

    def set_password(self, service_id: str, password: str) -> None:
        pass

    def apply_config(self, service_id: str, pg_config: dict[str, str]) -> ConfigOutcome:
        return ConfigOutcome(pending_restart=(), not_applied=())

    def executions(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[Execution]:
        return []

    def log_entries(self, service_id: str, since: dt.datetime, until: dt.datetime) -> list[LogEntry]:
        return []

    def stats(self, service_id: str) -> dict:
        return {}

    def shutdown(self) -> None:
        pass
