# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""One look-up-then-create at a time per service name, on this controller.

Two runs that both look a name up, find nothing and create it make a duplicate: the API lets
two services share a name. A run therefore holds an ``flock`` on the name (files in the pacer's
private directory, named by a hash of API URL, organization and name) from before its look-up
until the create has answered, so the second run's look-up finds the first one's service. Runs
on other controllers cannot be held back this way; only unique names per controller (or one
controller per fleet) prevent that (docs/fleet.md).
"""

from __future__ import annotations

import hashlib
import os

from ._pacer import _private_directory, state_directory

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX controller: no lock, as before
    fcntl = None


class CreateLock:
    """Exclusive locks on service names, taken in sorted order (so two fleets never deadlock), released together."""

    def __init__(self, api_url, organization_id, directory=None):
        self.api_url = api_url
        self.organization_id = organization_id
        self.directory = directory or state_directory()
        self._held = {}  # name -> file descriptor holding its flock

    def _path(self, name):
        key = "create\n%s\n%s\n%s" % (self.api_url.rstrip("/"), self.organization_id, name)
        return os.path.join(self.directory, "create-%s.lock" % hashlib.sha256(key.encode()).hexdigest()[:32])

    def acquire(self, names):
        """Block until every name is ours; a directory that cannot be used means no lock (the run goes on)."""
        if fcntl is None:
            return self
        try:
            _private_directory(self.directory)
            for name in sorted(set(names)):
                fd = os.open(self._path(name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._held[name] = fd
        except OSError:
            self.release()
        return self

    def release(self, _answer=None):
        """Let the other runs look the names up (also the engine's ``on_created``: the create has answered)."""
        self.release_except(())

    def release_except(self, names):
        """Release every name but these (creates still to be sent, such as a replica waiting for its primary)."""
        keep = set(names)
        for name in [n for n in self._held if n not in keep]:
            os.close(self._held.pop(name))  # closing releases the flock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
