# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vendored OpenAPI document of the Managed Postgres API, for tests that check the code against it.

It is read from ``../shared/api/openapi-postgres.json`` beside the checkout (where CI
and developers have it), else from the emulator's identical copy (ansible-test runs
on a copy of the collection, away from ``../shared``).
"""

from __future__ import annotations

import json
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED_SPEC = os.path.join(ROOT, "..", "shared", "api", "openapi-postgres.json")
# In the newest published revision only (reference.md section 3.17); the vendored snapshot predates it.
LOGS_OPERATION = ("GET", "/v1/organizations/{organizationId}/postgres/{postgresId}/logs", "postgresLogsGetList")


def load_spec():
    if os.path.exists(SHARED_SPEC):
        with open(SHARED_SPEC) as handle:
            return json.load(handle)
    from importlib import resources

    return json.loads(resources.files("chc_emulator").joinpath("openapi-postgres.json").read_text(encoding="utf-8"))


def operations():
    """``[(METHOD, path template, operationId)]`` of the spec plus the logs operation."""
    found = [(method.upper(), path, op["operationId"])
             for path, item in load_spec()["paths"].items()
             for method, op in item.items() if isinstance(op, dict) and "operationId" in op]
    return sorted(found + [LOGS_OPERATION])
