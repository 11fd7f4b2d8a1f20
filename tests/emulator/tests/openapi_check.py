"""Every emulator answer checked against the OpenAPI document the emulator serves at GET /v1.

`SpecChecker.check(request, response)` is run by an httpx response hook (see conftest), so
no test can forget it.  Three layers:

1. openapi-core validates the request/response pair against the served document: status
   code declared for the operation, media type, body schema (types, enums, formats such as
   uuid and date-time), headers.  Requests are validated too whenever the emulator accepted
   them (2xx): an invalid request that the emulator lets through is an emulator bug.
2. Statuses the document does not declare (401, 403, 404, 405, 409, 429, 502, 503) are
   validated against the operation's own error-envelope schema (its 400 response).
3. The envelope rules the document leaves implicit (its envelope schemas have no
   `required`): a success carries exactly `result`, `requestId`, `status` (no `result`
   for DELETE) plus only what the operation's own envelope declares (the backups list's
   `nextCursor`), an error exactly `status`, `error`, `requestId`; `status` echoes the HTTP
   code; `error` reads "CODE: message"; a 429 has a positive X-RateLimit-Reset; PEM and
   Prometheus text are not enveloped and are well formed.

Tolerated deviations, each a documented server behaviour, are listed in `_tolerated`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

# The document's only server; request paths are matched as if sent there.
CLOUD_URL = "https://api.clickhouse.cloud"

# Cloud API paths the emulator answers that are not in the Postgres document.
_OUTSIDE_DOCUMENT = re.compile(r"^/v1/organizations(/[0-9a-fA-F-]{36})?$")
_ERROR_TEXT = re.compile(r"^[A-Z][A-Z_]+: \S")
_PROMETHEUS_SAMPLE = re.compile(r'^[A-Za-z_:][A-Za-z0-9_:]*(\{([A-Za-z_][A-Za-z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.eE+-]+$')
_CONFIG_OPERATIONS = {"postgresInstanceConfigGet", "postgresInstanceConfigPost", "postgresInstanceConfigPatch"}

STRICT_ERROR_ENVELOPE = {
    "type": "object",
    "required": ["status", "error", "requestId"],
    "additionalProperties": False,
    "properties": {
        "status": {"type": "integer"},
        "error": {"type": "string", "pattern": _ERROR_TEXT.pattern},
        "requestId": {"type": "string", "format": "uuid"},
    },
}


class ContractError(AssertionError):
    """An answer (or an accepted request) that breaks the OpenAPI contract."""


class _CoreRequest:
    """An httpx request as openapi-core's Request protocol wants it."""

    def __init__(self, request: httpx.Request):
        self.host_url = CLOUD_URL
        self.path = request.url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
        )


class _CoreResponse:
    def __init__(self, response: httpx.Response):
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))
        self.data = response.content


def _schema_errors(exc: BaseException) -> list[ValidationError]:
    """The jsonschema errors behind an openapi-core error, if that is what it is."""
    cause: BaseException | None = exc
    while cause is not None:
        errors = getattr(cause, "schema_errors", None)
        if errors:
            return list(errors)
        cause = cause.__cause__
    return []


def _flatten(errors: Iterable[ValidationError]) -> list[ValidationError]:
    out = []
    for error in errors:
        out += _flatten(error.context) if error.context else [error]
    return out


def _success_envelope(operation: dict) -> dict:
    """The top-level properties the operation declares for its 200 answer ({} for text answers)."""
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    return content.get("application/json", {}).get("schema", {}).get("properties", {})


def _tolerated(operation_id: str | None, error: ValidationError) -> bool:
    """Deviations from the document that the real API shows, so the emulator must too."""
    path = list(error.absolute_path)
    section = next((p for p in path if p in ("pgConfig", "pgBouncerConfig")), None)
    if operation_id in _CONFIG_OPERATIONS and section is not None:
        # The docs' own example sends and receives "pgBouncerConfig": {} (reference §3.9),
        # and GET returns only user-set keys, so an empty section is normal.
        if error.validator == "minProperties" and error.instance == {}:
            return True
        # PATCH /config is a JSON merge patch: null removes a key (reference §3.10).
        if operation_id == "postgresInstanceConfigPatch" and error.instance is None:
            return True
    return False


class SpecChecker:
    def __init__(self, document: dict):
        self.document = document
        # PEM is text; openapi-core knows no deserializer for its media type.
        config = Config(extra_media_type_deserializers={"application/x-pem-file": lambda data: data.decode()})
        self.openapi = OpenAPI.from_dict(document, config=config)
        self._operation_ids = {(method.upper(), template): op.get("operationId") for template, ops in document["paths"].items() for method, op in ops.items()}
        self._extra_envelope_keys = {
            op.get("operationId"): set(_success_envelope(op)) - {"result", "requestId", "status"} for ops in document["paths"].values() for op in ops.values()
        }
        self._templates = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"), template) for template in document["paths"]]
        self._error_validators: dict[str, Draft202012Validator] = {}
        self._strict_error = Draft202012Validator(STRICT_ERROR_ENVELOPE, format_checker=Draft202012Validator.FORMAT_CHECKER)

    # --- entry point ---------------------------------------------------------------------

    def check(self, request: httpx.Request, response: httpx.Response) -> None:
        path = request.url.path
        where = f"{request.method} {path} -> {response.status_code}"
        if path.startswith("/_emulator/"):
            return
        if path == "/v1":
            self._check_document(response, where)
            return
        operation_id = self._operation_id(request.method, path)
        if operation_id is None:
            self._check_outside_document(request, response, where)
            return
        try:
            self.openapi.validate_response(_CoreRequest(request), _CoreResponse(response))
        except ResponseNotFound:
            if response.status_code < 400:
                raise ContractError(f"{where}: status not declared by {operation_id}") from None
            self._check_undeclared_error(request.method, path, response, where)
        except Exception as exc:  # noqa: BLE001 - openapi-core raises many kinds
            self._raise_unless_tolerated(operation_id, exc, f"{where}: response breaks {operation_id}")
        if 200 <= response.status_code < 300:
            try:
                self.openapi.validate_request(_CoreRequest(request))
            except Exception as exc:  # noqa: BLE001
                self._raise_unless_tolerated(operation_id, exc, f"{where}: the emulator accepted a request that breaks {operation_id}")
        self._check_envelope(request, response, where, self._extra_envelope_keys.get(operation_id, set()))

    # --- layers --------------------------------------------------------------------------

    def _operation_id(self, method: str, path: str) -> str | None:
        # Literal paths (…/postgres/prometheus) win over templated ones, as in the emulator.
        matches = [template for pattern, template in self._templates if pattern.match(path)]
        matches.sort(key=lambda t: t.count("{"))
        for template in matches:
            op = self._operation_ids.get((method.upper(), template))
            if op:
                return op
        return None

    def _raise_unless_tolerated(self, operation_id: str | None, exc: Exception, message: str) -> None:
        errors = _flatten(_schema_errors(exc))
        left = [e for e in errors if not _tolerated(operation_id, e)]
        if errors and not left:
            return
        details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}" for e in left) or f"{type(exc).__name__}: {exc}"
        raise ContractError(f"{message}: {details}") from exc

    def _check_undeclared_error(self, method: str, path: str, response: httpx.Response, where: str) -> None:
        """An error status the document does not list: it must still be the operation's error envelope."""
        template = next(t for p, t in self._templates if p.match(path))
        validator = self._error_validators.get(template)
        if validator is None:
            ops = self.document["paths"][template]
            op = ops.get(method.lower()) or next(iter(ops.values()))
            schema = op["responses"]["400"]["content"]["application/json"]["schema"]
            validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
            self._error_validators[template] = validator
        body = self._json(response, where)
        errors = list(validator.iter_errors(body))
        if errors:
            raise ContractError(f"{where}: error body breaks the error envelope: {errors[0].message}")

    def _check_outside_document(self, request: httpx.Request, response: httpx.Response, where: str) -> None:
        if response.status_code < 400 and not _OUTSIDE_DOCUMENT.match(request.url.path):
            raise ContractError(f"{where}: a success on a path the served document does not describe")
        self._check_envelope(request, response, where)

    def _check_document(self, response: httpx.Response, where: str) -> None:
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith("application/json"):
            raise ContractError(f"{where}: GET /v1 must serve the OpenAPI document as JSON")
        if not str(self._json(response, where).get("openapi", "")).startswith("3."):
            raise ContractError(f"{where}: not an OpenAPI 3 document")

    def _check_envelope(self, request: httpx.Request, response: httpx.Response, where: str, optional_keys: set[str] = frozenset()) -> None:
        content_type = response.headers.get("content-type", "")
        status = response.status_code
        if status >= 400:
            if content_type != "application/json":
                raise ContractError(f"{where}: errors are JSON, got {content_type!r}")
            body = self._json(response, where)
            errors = sorted(self._strict_error.iter_errors(body), key=lambda e: e.path)
            if errors:
                raise ContractError(f"{where}: error envelope {body!r}: {errors[0].message}")
            if body["status"] != status:
                raise ContractError(f"{where}: envelope status {body['status']} differs from the HTTP status")
            if status == 429:
                reset = response.headers.get("X-RateLimit-Reset")
                if reset is None or not float(reset) > 0:
                    raise ContractError(f"{where}: a 429 needs a positive X-RateLimit-Reset header, got {reset!r}")
            return
        if content_type == "application/x-pem-file":
            self._check_pem(response, where)
            return
        if content_type == "text/plain; charset=UTF-8":
            self._check_prometheus(response, where)
            return
        if content_type != "application/json":
            raise ContractError(f"{where}: unexpected content type {content_type!r}")
        body = self._json(response, where)
        if not isinstance(body, dict):
            raise ContractError(f"{where}: the success envelope must be an object")
        expected = {"requestId", "status"} if request.method == "DELETE" else {"result", "requestId", "status"}
        if set(body) - optional_keys != expected:
            raise ContractError(f"{where}: success envelope keys {sorted(body)}, expected {sorted(expected)}")
        if body["status"] != status or not isinstance(body["status"], int):
            raise ContractError(f"{where}: envelope status {body['status']!r} differs from the HTTP status")
        try:
            if uuid.UUID(body["requestId"]).version != 4:
                raise ValueError("not version 4")
        except (ValueError, TypeError, AttributeError) as exc:
            raise ContractError(f"{where}: requestId {body['requestId']!r} is not a UUID v4 ({exc})") from None

    def _check_pem(self, response: httpx.Response, where: str) -> None:
        if response.headers.get("content-disposition") != 'attachment; filename="postgres-ca-certificate.pem"':
            raise ContractError(f"{where}: PEM answer without the Content-Disposition attachment header")
        text = response.text
        if not (text.startswith("-----BEGIN CERTIFICATE-----") and text.rstrip().endswith("-----END CERTIFICATE-----")):
            raise ContractError(f"{where}: not a PEM certificate: {text[:80]!r}")

    @staticmethod
    def _check_prometheus(response: httpx.Response, where: str) -> None:
        for line in response.text.splitlines():
            if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
                continue
            if not _PROMETHEUS_SAMPLE.match(line):
                raise ContractError(f"{where}: not Prometheus exposition text: {line!r}")

    @staticmethod
    def _json(response: httpx.Response, where: str):
        try:
            return json.loads(response.content)
        except ValueError:
            raise ContractError(f"{where}: body is not JSON: {response.text[:200]!r}") from None
