"""The OpenAPI document the emulator serves and validates against.

The vendored file is the 2026-07-31 snapshot with the additions of the live API of
October 2026 (marked `x-source` where new, `x-live-api-2026-10` where an existing schema
grew); the newest revision adds the server-logs operation, which is patched in here from
the reference so that GET /v1 describes everything the emulator answers.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:chc-emulator:openapi"
LIVE_ADDITIONS = "x-live-api-2026-10"

_LOGS_PATH = "/v1/organizations/{organizationId}/postgres/{postgresId}/logs"
_SEVERITIES = ["DEBUG", "LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC"]


def _logs_operation(service_get: dict) -> dict:
    """postgresLogsGetList as the newest published revision describes it (reference §3.17)."""
    params = copy.deepcopy(service_get["parameters"])
    params += [
        {"in": "query", "name": "from_date", "required": True, "schema": {"type": "string", "format": "date-time"}},
        {"in": "query", "name": "to_date", "required": True, "schema": {"type": "string", "format": "date-time"}},
        {"in": "query", "name": "body_contains", "required": False, "schema": {"type": "string"}},
        {"in": "query", "name": "severity", "required": False, "schema": {"type": "string", "enum": _SEVERITIES}},
        {"in": "query", "name": "sort_order", "required": False, "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"}},
        {"in": "query", "name": "limit", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 2000, "default": 50}},
        {"in": "query", "name": "offset", "required": False, "schema": {"type": "integer", "minimum": 0, "default": 0}},
    ]
    responses = copy.deepcopy(service_get["responses"])
    responses["200"]["content"]["application/json"]["schema"]["properties"]["result"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/PostgresLogEntry"},
    }
    return {
        "summary": "List Postgres server logs",
        "description": "Returns server log entries of a Postgres service in a time window.",
        "operationId": "postgresLogsGetList",
        "parameters": params,
        "responses": responses,
        "tags": ["Postgres"],
    }


@functools.cache
def document() -> dict:
    raw = resources.files(__package__).joinpath("openapi-postgres.json").read_text(encoding="utf-8")
    spec = json.loads(raw)
    service_get = spec["paths"]["/v1/organizations/{organizationId}/postgres/{postgresId}"]["get"]
    spec["paths"][_LOGS_PATH] = {"get": _logs_operation(service_get)}
    spec["components"]["schemas"]["PostgresLogEntry"] = {
        "type": "object",
        "properties": {
            "timestamp": {"type": "string", "format": "date-time"},
            "severity": {"type": "string"},
            "body": {"type": "string"},
        },
        "required": ["timestamp", "severity", "body"],
    }
    return spec


@functools.cache
def sizes(provider: str) -> frozenset[str]:
    """The VM sizes of one provider: the live API's added sizes are its gcp ones, the rest aws'."""
    pg_size = document()["components"]["schemas"]["pgSize"]
    added = pg_size.get(LIVE_ADDITIONS, {})
    added_sizes = frozenset(added.get("enum", ()))
    return added_sizes if provider == added.get("provider") else frozenset(pg_size["enum"]) - added_sizes


@functools.cache
def document_bytes() -> bytes:
    return json.dumps(document()).encode()


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


@functools.cache
def validator(schema_name: str, *, allow_empty_config: bool = False) -> Draft202012Validator:
    """A validator for one component schema.

    allow_empty_config: the config endpoints accept `{}` sections although the schema says
    minProperties 1 (the docs' own example sends `"pgBouncerConfig": {}`).
    """
    schema: dict = {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}
    if allow_empty_config:
        components = document()["components"]["schemas"]
        schema = copy.deepcopy(components[schema_name])
        schema["properties"] = {key: {k: v for k, v in components[key].items() if k != "minProperties"} for key in schema["properties"]}
    return Draft202012Validator(schema, registry=_registry())
