# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vendored OpenAPI document of the Managed Postgres API, for tests that check the code against it.

It is read from ``../shared/api/openapi-postgres.json`` beside the checkout (where CI
and developers have it), else from ``tests/unit/openapi-postgres.json``, where ``make units``
puts the same file in ansible-test's copy of the collection (away from ``../shared``). The
emulator's copy is no substitute: it adds what the live API has since grown.
"""

from __future__ import annotations

import json
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED_SPEC = os.path.join(ROOT, "..", "shared", "api", "openapi-postgres.json")
# In the newest published revision only (reference.md section 3.17); the vendored snapshot predates it.
LOGS_OPERATION = ("GET", "/v1/organizations/{organizationId}/postgres/{postgresId}/logs", "postgresLogsGetList")
# What the live API added since (shared/api/live-api-2026-10.md, section 1.1), as the emulator's spec copy names it.
BACKUPS_OPERATION = ("GET", "/v1/organizations/{organizationId}/postgres/{postgresId}/backups",
                     "postgresServiceBackupGetList")


COPIED_SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi-postgres.json")


def load_spec():
    for path in (SHARED_SPEC, COPIED_SPEC):
        if os.path.exists(path):
            with open(path) as handle:
                return json.load(handle)
    raise FileNotFoundError("the API contract is in neither %s nor %s: run the unit tests with make units, beside "
                            "../shared" % (SHARED_SPEC, COPIED_SPEC))


def operations():
    """``[(METHOD, path template, operationId)]`` of the spec plus the logs and backups operations."""
    found = [(method.upper(), path, op["operationId"])
             for path, item in load_spec()["paths"].items()
             for method, op in item.items() if isinstance(op, dict) and "operationId" in op]
    return sorted(found + [LOGS_OPERATION, BACKUPS_OPERATION])
