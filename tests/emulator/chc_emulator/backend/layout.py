"""Where everything lives under the backend's data directory.

    <data_dir>/template/                 the template cluster (owned by the server's user, 0700)
    <data_dir>/services/<id>/service.json ports, admin password, which node is the primary (0600):
                                          what survives a restart
    <data_dir>/services/<id>/ca.pem       the service's CA certificate (0644: public, and the server's
                                          user reads it to reach the primary as a standby)
    <data_dir>/services/<id>/pgdata/      the cluster the service was created with (a node)
    <data_dir>/services/<id>/pgdata-1/    an HA standby's cluster (a node); whichever node is the
                                          primary has the service's port
    <data_dir>/services/<id>/<node>.out   a node's stdout/stderr before its log collector runs
    <data_dir>/services/<id>/wal-archive/ the primary's archived WAL (archive_command)
    <data_dir>/services/<id>/backups/<key>/  base backups (pg_basebackup, plain format)
    <data_dir>/services/<id>/restore-wal/ a restore's own links to the source's archived WAL, until it is done

A service directory appears atomically (built as services/.<id>.new, then renamed), so a
crash in the middle of provisioning never leaves a half-made service behind; nodes and
backups inside it do the same (.<name>.new).

The server's user (`postgres` when we are root) must be able to reach <data_dir>.  When it
cannot (the emulator's data dir is under a 0700 directory such as /root or a `mktemp -d`),
`server_root` puts the servers in a private directory of that user instead and leaves a
symlink to it where <data_dir> was expected:

    <emulator data dir>/postgres -> /var/tmp/chc-emulator-XXXXXXXX/   (the server's user, 0700)
    /var/tmp/chc-emulator-XXXXXXXX/LINKED-FROM                          which symlink it belongs to

Nobody's parent directories are ever chmodded.  The symlink is what survives a restart, so
the same servers come back; `remove_server_root` removes both.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import stat
import tempfile
from typing import Protocol

_SERVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


FIRST_NODE = "pgdata"


@dataclasses.dataclass(frozen=True)
class ServiceState:
    port: int  # the service's port: always its primary node's
    admin_password: str
    primary: str = FIRST_NODE  # the node (directory) that is the primary
    standbys: dict[str, int] = dataclasses.field(default_factory=dict)  # HA standby node -> its own port
    synchronous: bool = False  # the primary's commits wait for one of its standbys (haType sync)
    upstream: str | None = None  # a read replica: the service its primary node streams from
    restore_target: float | None = None  # a restore still replaying WAL: up to when (epoch seconds)

    @property
    def nodes(self) -> list[str]:
        """The primary first: it starts first and stops first."""
        return [self.primary, *sorted(self.standbys)]

    def port_of(self, node: str) -> int:
        return self.port if node == self.primary else self.standbys[node]

    @property
    def ports(self) -> set[int]:
        return {self.port, *self.standbys.values()}


@dataclasses.dataclass(frozen=True)
class ServiceDir:
    root: pathlib.Path

    @property
    def pgdata(self) -> pathlib.Path:
        """The first node's cluster (the primary unless a switchover moved it)."""
        return self.node(FIRST_NODE)

    def node(self, name: str) -> pathlib.Path:
        return self.root / name

    def node_staging(self, name: str) -> pathlib.Path:
        return self.root / f".{name}.new"

    def output(self, node: str) -> pathlib.Path:
        return self.root / f"{node}.out"

    @property
    def archive(self) -> pathlib.Path:
        return self.root / "wal-archive"

    @property
    def backups(self) -> pathlib.Path:
        return self.root / "backups"

    @property
    def restore_wal(self) -> pathlib.Path:
        return self.root / "restore-wal"

    @property
    def state_file(self) -> pathlib.Path:
        return self.root / "service.json"

    @property
    def ca_file(self) -> pathlib.Path:
        return self.root / "ca.pem"

    def exists(self) -> bool:
        return self.state_file.exists()

    def load(self) -> ServiceState:
        return ServiceState(**json.loads(self.state_file.read_text()))

    def save(self, state: ServiceState) -> None:
        """Replace the file in one step: a crash leaves the old state or the new one, never half of either."""
        partial = self.state_file.with_name(self.state_file.name + ".new")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(dataclasses.asdict(state), out)
        partial.rename(self.state_file)


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


# Where a relocated server root goes: the first of these the server's user can reach.
# /var/tmp before /tmp because fewer systems clear it at boot.
RELOCATION_PARENTS = (pathlib.Path("/var/tmp"), pathlib.Path("/tmp"))
_LINKED_FROM = "LINKED-FROM"


class ServerRootError(RuntimeError):
    """The servers' directory cannot be used; the message says why and what to do."""


class ServerUser(Protocol):
    """What server_root needs to know about the user the servers run as (a PgExec)."""

    uid: int
    gid: int

    def can_reach(self, directory: pathlib.Path) -> bool: ...


def server_root(link: pathlib.Path, user: ServerUser) -> pathlib.Path:
    """The directory to hand PostgresBackend for the servers that belong at `link`.

    That is `link` itself when `user` can reach it, else the private directory `link` is
    (made) a symlink to.  Only directories the emulator made are created or changed.
    """
    link = link.absolute()
    if link.is_symlink():
        return _linked_root(link, user)
    if link.is_dir():
        if user.can_reach(link):
            return link
        if any(link.iterdir()):
            raise ServerRootError(
                f"{link} holds PostgreSQL servers, but their user (uid {user.uid}) cannot reach it any more: "
                "give every parent directory search permission for that user again, or start with a new --data-dir"
            )
        link.rmdir()  # an empty one we may have made; the symlink takes its place
    elif user.can_reach(link.parent):
        link.mkdir()
        link.chmod(0o755)  # ours: not left to the umask, the servers' user must enter it
        return link
    target = _new_private_root(user)
    (target / _LINKED_FROM).write_text(f"{link}\n")
    link.symlink_to(target, target_is_directory=True)
    return target


def _new_private_root(user: ServerUser) -> pathlib.Path:
    for parent in RELOCATION_PARENTS:
        if parent.is_dir() and user.can_reach(parent):
            target = pathlib.Path(tempfile.mkdtemp(prefix="chc-emulator-", dir=parent))  # 0700, a fresh name
            os.chown(target, user.uid, user.gid)
            return target
    raise ServerRootError(f"none of {', '.join(map(str, RELOCATION_PARENTS))} is reachable by the PostgreSQL user (uid {user.uid})")


def _linked_root(link: pathlib.Path, user: ServerUser) -> pathlib.Path:
    """The target of a symlink server_root made, checked to be the private directory it made."""
    target = pathlib.Path(os.readlink(link))
    try:
        info = target.lstat()
    except OSError as exc:
        raise ServerRootError(
            f"{link} links to {target}, which is gone ({exc.strerror}): the servers of this data dir are lost; start with a new --data-dir"
        ) from None
    if not target.is_absolute() or not stat.S_ISDIR(info.st_mode) or info.st_uid != user.uid or info.st_mode & 0o077:
        raise ServerRootError(f"{link} links to {target}, which is not a 0700 directory of uid {user.uid}: not using it")
    linked_from = _linked_from(target)
    if linked_from != link:
        raise ServerRootError(
            f"{target} holds the servers of {linked_from}, not of {link} (a copied data dir?): two emulators must not share servers; "
            f"start with a new --data-dir, or if it was moved here, write {link} into {target / _LINKED_FROM}"
        )
    return target


def _linked_from(target: pathlib.Path) -> pathlib.Path | None:
    """The symlink a private server root was made for, per its LINKED-FROM file."""
    try:
        return pathlib.Path((target / _LINKED_FROM).read_text().strip())
    except OSError:
        return None


def remove_server_root(link: pathlib.Path) -> None:
    """Remove the servers' directory at link, and the private directory it links to, if it does."""
    if link.is_symlink():
        target = pathlib.Path(os.readlink(link))
        if _linked_from(target) == link.absolute():  # only the directory server_root made for this link
            shutil.rmtree(target, ignore_errors=True)
        link.unlink()
    else:
        shutil.rmtree(link, ignore_errors=True)
