# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Restarts still owed, remembered on the controller.

The API says which settings need a restart only in the answer to the write that changed them, and
never whether a restart is still pending (reference: config ``message``; no pending-restart field).
So when a changed setting needs a restart that did not happen (``restart: never``, a service not
running, a restart that failed), a small record keeps it: the next run still reports
``restart_required`` and, with ``restart: if_required``, restarts. A successful restart clears it.
The record lives under ``~/.ansible/clickhouse-cloud/restarts-owed`` (one 0600 file per service,
named by a hash of API URL, organization and service id); a controller whose home does not persist
(an execution environment) forgets it with the job.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

OWED_DIR = os.path.join("~", ".ansible", "clickhouse-cloud", "restarts-owed")


class OwedRestarts:
    """The owed restarts of one organization of one API on this controller."""

    def __init__(self, api_url, organization_id, directory=OWED_DIR):
        self.api_url = api_url
        self.organization_id = organization_id
        self.directory = os.path.expanduser(directory)

    def _path(self, service_id):
        key = "%s\n%s\n%s" % (self.api_url.rstrip("/"), self.organization_id, service_id)
        return os.path.join(self.directory, hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def keys(self, service_id):
        """The settings whose restart is owed (empty when none, or when the record cannot be read)."""
        try:
            with open(self._path(service_id)) as handle:
                return sorted(json.load(handle).get("keys") or [])
        except (OSError, ValueError):
            return []

    def owe(self, service_id, keys):
        """Remember ``keys`` (with what was owed before); a record that cannot be written is not worth a failure."""
        keys = sorted(set(keys) | set(self.keys(service_id)))
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                json.dump({"service_id": service_id, "keys": keys}, handle)
            os.replace(temp, self._path(service_id))
        except OSError:
            return False
        return True

    def settle(self, service_id):
        try:
            os.unlink(self._path(service_id))
        except OSError:
            pass
