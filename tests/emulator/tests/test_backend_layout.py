"""layout.server_root: where the servers live when their user can, and cannot, reach the data dir."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest
from chc_emulator.backend import layout


@dataclasses.dataclass
class FakeServerUser:
    """The servers' user, as far as server_root cares: it cannot enter anything under `locked`."""

    locked: Path
    uid: int = os.geteuid()
    gid: int = os.getegid()

    def can_reach(self, directory: Path) -> bool:
        return not directory.is_relative_to(self.locked)


@pytest.fixture
def relocation_parent(tmp_path, monkeypatch) -> Path:
    parent = tmp_path / "var-tmp"
    parent.mkdir()
    monkeypatch.setattr(layout, "RELOCATION_PARENTS", (tmp_path / "missing", parent))
    return parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_reachable_data_dir_holds_the_servers_itself(tmp_path, relocation_parent):
    link = tmp_path / "data" / "postgres"
    link.parent.mkdir()
    assert layout.server_root(link, FakeServerUser(locked=tmp_path / "elsewhere")) == link
    assert link.is_dir() and not link.is_symlink() and mode(link) == 0o755
    assert not any(relocation_parent.iterdir())


def test_an_unreachable_data_dir_links_to_a_private_directory_and_finds_it_again(tmp_path, relocation_parent):
    private = tmp_path / "private"
    (private / "data").mkdir(parents=True)
    private.chmod(0o700)
    user = FakeServerUser(locked=private)
    link = private / "data" / "postgres"

    root = layout.server_root(link, user)
    assert link.is_symlink() and root.parent == relocation_parent and mode(root) == 0o700
    assert layout.server_root(link, user) == root, "a restart must find the same servers"
    assert mode(private) == 0o700, "a directory of the user's is never chmodded"

    layout.remove_server_root(link)
    assert not link.exists() and not link.is_symlink() and not root.exists()


def test_an_empty_unreachable_directory_is_replaced_by_the_link(tmp_path, relocation_parent):
    link = tmp_path / "data" / "postgres"
    link.mkdir(parents=True)
    root = layout.server_root(link, FakeServerUser(locked=tmp_path / "data"))
    assert link.is_symlink() and link.resolve() == root


def test_servers_in_an_unreachable_directory_are_not_moved_silently(tmp_path, relocation_parent):
    link = tmp_path / "data" / "postgres"
    (link / "services").mkdir(parents=True)
    with pytest.raises(layout.ServerRootError, match="cannot reach it any more"):
        layout.server_root(link, FakeServerUser(locked=tmp_path / "data"))


def test_a_link_whose_directory_is_gone_says_the_servers_are_lost(tmp_path, relocation_parent):
    user = FakeServerUser(locked=tmp_path / "data")
    link = tmp_path / "data" / "postgres"
    link.parent.mkdir()
    root = layout.server_root(link, user)
    (root / "LINKED-FROM").unlink()
    root.rmdir()
    with pytest.raises(layout.ServerRootError, match="is gone"):
        layout.server_root(link, user)


def test_a_copied_data_dir_does_not_share_the_servers(tmp_path, relocation_parent):
    user = FakeServerUser(locked=tmp_path / "data")
    original = tmp_path / "data" / "postgres"
    original.parent.mkdir()
    root = layout.server_root(original, user)
    copy = tmp_path / "copy" / "postgres"
    copy.parent.mkdir()
    copy.symlink_to(root)
    with pytest.raises(layout.ServerRootError, match="a copied data dir"):
        layout.server_root(copy, user)
    layout.remove_server_root(copy)
    assert root.is_dir(), "removing the copy's link must leave the original's servers alone"


def test_a_link_to_a_directory_others_can_enter_is_refused(tmp_path, relocation_parent):
    user = FakeServerUser(locked=tmp_path / "data")
    link = tmp_path / "data" / "postgres"
    link.parent.mkdir()
    layout.server_root(link, user).chmod(0o755)
    with pytest.raises(layout.ServerRootError, match="not a 0700 directory"):
        layout.server_root(link, user)
