# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""A new service's connection details, which the API shows once: kept in a private file, never lost.

The fleet call writes them as each create answers; ``postgres_service`` writes them where
``credentials_file`` says, and a failure after a create writes them to ``RESCUE_DIR`` rather
than print the password in the failure.
"""

from __future__ import annotations

import json
import os
import tempfile
from urllib.parse import urlsplit

RESCUE_DIR = os.path.join("~", ".ansible", "clickhouse-cloud", "credentials")


def connection_details(service):
    """What a client needs to connect, from a create's answer (the only one holding the password)."""
    url = urlsplit(service.get("connection_string") or "")
    return {"id": service.get("id"), "name": service.get("name"), "host": service.get("hostname") or url.hostname,
            "port": url.port or 5432, "database": (url.path or "/postgres")[1:] or "postgres",
            "username": service.get("username") or url.username, "password": service.get("password"),
            "connection_string": service.get("connection_string")}


def credentials_path(directory, name):
    """``<directory>/<name>.json``; a ``/`` in the name (``%2F``, and ``%`` as ``%25``) cannot lead out of the directory."""
    return os.path.join(directory, "%s.json" % name.replace("%", "%25").replace("/", "%2F"))


def write_details(path, service):
    """``path`` (0600) holds the connection details of ``service``, written atomically (a rename over the old file)."""
    directory = os.path.dirname(path) or "."
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(connection_details(service), handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return path


def write_credentials(directory, name, service):
    """``DIR/<name>.json`` from a create's answer. Called right after the answer arrives and before any other
    write, so a run that dies later cannot lose a password the API shows only once."""
    return write_details(credentials_path(directory, name), service)


def rescue_credentials(service, directory=RESCUE_DIR):
    """Keep a created service's details when the task fails after its create: ``<dir>/<id>.json`` (dir 0700)."""
    directory = os.path.expanduser(directory)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return write_details(os.path.join(directory, "%s.json" % (service.get("id") or service.get("name"))), service)
