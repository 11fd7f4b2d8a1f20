"""Where everything lives under the backend's data directory.

    <data_dir>/template/                 the template cluster (owned by the server's user, 0700)
    <data_dir>/services/<id>/service.json port and admin password (0600): what survives a restart
    <data_dir>/services/<id>/ca.pem       the service's CA certificate
    <data_dir>/services/<id>/postmaster.out  the server's stdout/stderr before its log collector runs
    <data_dir>/services/<id>/pgdata/      the cluster (copied from the template)

A service directory appears atomically (built as services/.<id>.new, then renamed), so a
crash in the middle of provisioning never leaves a half-made service behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re

_SERVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclasses.dataclass(frozen=True)
class ServiceState:
    port: int
    admin_password: str


@dataclasses.dataclass(frozen=True)
class ServiceDir:
    root: pathlib.Path

    @property
    def pgdata(self) -> pathlib.Path:
        return self.root / "pgdata"

    @property
    def state_file(self) -> pathlib.Path:
        return self.root / "service.json"

    @property
    def ca_file(self) -> pathlib.Path:
        return self.root / "ca.pem"

    @property
    def postmaster_out(self) -> pathlib.Path:
        return self.root / "postmaster.out"

    def exists(self) -> bool:
        return self.state_file.exists()

    def load(self) -> ServiceState:
        return ServiceState(**json.loads(self.state_file.read_text()))

    def save(self, state: ServiceState) -> None:
        fd = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(dataclasses.asdict(state), out)


@dataclasses.dataclass(frozen=True)
class DataDir:
    root: pathlib.Path

    @property
    def template(self) -> pathlib.Path:
        return self.root / "template"

    @property
    def services(self) -> pathlib.Path:
        return self.root / "services"

    def service(self, service_id: str) -> ServiceDir:
        if not _SERVICE_ID.fullmatch(service_id):
            raise ValueError(f"not a usable service id: {service_id!r}")
        return ServiceDir(self.services / service_id)

    def staging(self, service_id: str) -> ServiceDir:
        return ServiceDir(self.services / f".{service_id}.new")

    def existing_services(self) -> list[ServiceDir]:
        if not self.services.is_dir():
            return []
        return [ServiceDir(p) for p in sorted(self.services.iterdir()) if not p.name.startswith(".")]
