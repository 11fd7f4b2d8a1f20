"""The HTTP layer: routing, Basic auth, permissions, rate limit, faults, envelopes, request log.

Built on the standard library's threading HTTP server so that the emulator controls the
socket itself (a `drop` fault closes it after the write has committed).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from . import faults as faults_mod
from . import spec, validation
from .errors import ApiError

log = logging.getLogger("chc_emulator")

VIEW = "control-plane:postgres-service:view"
MANAGE = "control-plane:postgres-service:manage"
CREATE = "control-plane:organization:create-service"
ORG_VIEW = "control-plane:organization:view"

_ORG = r"/v1/organizations/(?P<org>[^/]+)"
_PG = _ORG + r"/postgres/(?P<pg>[^/]+)"


@dataclasses.dataclass(frozen=True)
class ApiKey:
    key_id: str
    secret: str
    role: str  # admin (read/write) or developer (read-only)


@dataclasses.dataclass
class Text:
    """A response that is not JSON-enveloped (PEM, Prometheus)."""

    body: str
    content_type: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Page:
    """A list answer with a cursor beside `result` in the envelope (the live API's backups list)."""

    items: list
    next_cursor: str | None


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    params: dict[str, str]

    def json(self) -> object:
        return validation.parse_json(self.body)


Handler = Callable[[Request], object]


def build_routes(emulator) -> list[tuple[str, re.Pattern, str, Handler]]:
    """(method, path pattern, required permission, handler) for every operation."""
    c, i, t = emulator.control, emulator.insights, emulator.telemetry

    def pem(r: Request) -> Text:
        return Text(
            c.ca_certificate(r.params["pg"]),
            "application/x-pem-file",
            {"Content-Disposition": 'attachment; filename="postgres-ca-certificate.pem"'},
        )

    def prometheus(ids: Callable[[Request], list[str] | None]) -> Handler:
        return lambda r: Text(t.prometheus(ids(r)), "text/plain; charset=UTF-8")

    table = [
        ("GET", r"/v1/organizations", ORG_VIEW, lambda r: [emulator.organization()]),
        ("GET", _ORG, ORG_VIEW, lambda r: emulator.organization()),
        ("GET", _ORG + "/postgres", VIEW, lambda r: c.list_services()),
        ("POST", _ORG + "/postgres", CREATE, lambda r: c.create_service(r.json())),
        ("GET", _ORG + "/postgres/prometheus", ORG_VIEW, prometheus(lambda r: None)),
        ("GET", _PG, VIEW, lambda r: c.get_service(r.params["pg"])),
        ("PATCH", _PG, MANAGE, lambda r: c.patch_service(r.params["pg"], r.json())),
        ("DELETE", _PG, MANAGE, lambda r: c.delete_service(r.params["pg"])),
        ("PATCH", _PG + "/state", MANAGE, lambda r: c.run_command(r.params["pg"], r.json())),
        ("PATCH", _PG + "/password", MANAGE, lambda r: c.set_password(r.params["pg"], r.json())),
        ("GET", _PG + "/config", VIEW, lambda r: c.get_config(r.params["pg"])),
        ("POST", _PG + "/config", MANAGE, lambda r: c.write_config(r.params["pg"], r.json(), merge=False)),
        ("PATCH", _PG + "/config", MANAGE, lambda r: c.write_config(r.params["pg"], r.json(), merge=True)),
        ("POST", _PG + "/readReplica", f"{CREATE} and {MANAGE}", lambda r: c.create_replica(r.params["pg"], r.json())),
        ("POST", _PG + "/restoredService", f"{CREATE} and {MANAGE}", lambda r: c.restore_service(r.params["pg"], r.json())),
        ("GET", _PG + "/caCertificates", VIEW, pem),
        ("GET", _PG + "/metrics", VIEW, lambda r: t.metrics(r.params["pg"], r.query)),
        ("GET", _PG + "/slowQueryPatterns", VIEW, lambda r: i.patterns(r.params["pg"], r.query)),
        ("GET", _PG + "/slowQueryPatterns/(?P<query_id>[^/]+)", VIEW, lambda r: i.pattern(r.params["pg"], r.params["query_id"], r.query)),
        ("GET", _PG + "/logs", VIEW, lambda r: i.logs(r.params["pg"], r.query)),
        ("GET", _PG + "/backups", VIEW, lambda r: Page(*c.list_backups(r.params["pg"], r.query))),
        ("GET", _PG + "/prometheus", VIEW, prometheus(lambda r: [r.params["pg"]])),
    ]
    return [(method, re.compile(f"^{pattern}$"), permission, handler) for method, pattern, permission, handler in table]


def _envelope(result: object, request_id: str) -> dict:
    """{result, requestId, status}: no result for DELETE, a page's cursor beside its result."""
    items = result.items if isinstance(result, Page) else result
    envelope = {"result": items, "requestId": request_id, "status": 200}
    if items is None:
        envelope.pop("result")
    if isinstance(result, Page) and result.next_cursor is not None:
        envelope["nextCursor"] = result.next_cursor
    return envelope


class RequestLog:
    """requests.jsonl: one line per API request, so tests can count calls and prove that a
    check-mode run wrote nothing."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def write(self, entry: dict) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator):
        self.emulator = emulator
        self.routes = build_routes(emulator)
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    server_version = "chc-emulator"
    # Headers and body go out in two writes; with Nagle's algorithm on, a keep-alive client's
    # delayed ACK holds the body back ~40 ms per request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    # --- plumbing ------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        emulator = self.server.emulator

        if path.startswith("/_emulator/"):
            self._admin(method, path, body)
            return
        if path == "/v1" and method == "GET":
            self._send(200, spec.document_bytes(), "application/json")
            return

        key_id, fault = None, None
        try:
            key = self._authenticate()
            key_id = key.key_id
            wait = emulator.rate_limiter.admit(key.key_id)
            if wait is not None:
                raise ApiError(429, f"rate limit exceeded; retry in {wait:.1f} s", {"X-RateLimit-Reset": f"{wait:.3f}"})
            picked = emulator.faults.pick(method, path)
            fault = picked[0] if picked else None
            if fault == "latency":
                time.sleep(picked[1] / 1000)
            elif fault == "429":
                raise ApiError(429, "rate limit exceeded (injected)", {"X-RateLimit-Reset": "1.000"})
            elif fault in ("500", "502", "503"):
                raise ApiError(int(fault), "injected fault; nothing was changed")
            result = self._dispatch(method, path, url.query, body, key)
            if isinstance(result, Text):
                response = (200, result.body.encode(), result.content_type, result.headers)
            else:
                response = (200, json.dumps(_envelope(result, request_id)).encode(), "application/json", {})
        except ApiError as exc:
            error = {"status": exc.status, "error": exc.text, "requestId": request_id}
            response = (exc.status, json.dumps(error).encode(), "application/json", exc.headers)
        except Exception:  # the envelope, never a traceback, reaches the client
            log.exception("%s %s failed", method, path)
            error = {"status": 500, "error": "INTERNAL_SERVER_ERROR: unexpected error", "requestId": request_id}
            response = (500, json.dumps(error).encode(), "application/json", {})
        dropped = fault == "drop" and response[0] == 200
        # Logged before the client can see an answer, so a test that reads requests.jsonl
        # right after its call finds the line there.
        emulator.request_log.write(
            {
                "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                "request_id": request_id,
                "key_id": key_id,
                "method": method,
                "path": path,
                "query": url.query,
                "status": 0 if dropped else response[0],
                "fault": fault,
                "duration_ms": round((time.monotonic() - started) * 1000, 2),
            }
        )
        if dropped:
            self._drop()
        else:
            self._send(*response)

    def _authenticate(self) -> ApiKey:
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise ApiError(401, "authentication required: use HTTP Basic auth with an API key id and secret")
        try:
            key_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "malformed Basic credentials") from None
        key = self.server.emulator.keys.get(key_id)
        if key is None or key.secret != secret:
            raise ApiError(401, "invalid API key id or secret")
        return key

    def _dispatch(self, method: str, path: str, query: str, body: bytes, key: ApiKey) -> object:
        allowed = []
        for route_method, pattern, permission, handler in self.server.routes:
            match = pattern.match(path)
            if not match:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            params = match.groupdict()
            if "org" in params:
                validation.check_uuid("organizationId", params["org"])
                if params["org"] != self.server.emulator.org_id:
                    raise ApiError(404, f"organization {params['org']} not found")
            if "pg" in params and params["pg"] != "prometheus":
                validation.check_uuid("postgresId", params["pg"])
            if method != "GET" and key.role != "admin":
                raise ApiError(403, f"this API key is read-only; the operation needs {permission}")
            content_type = self.headers.get("Content-Type", "")
            if body.strip() and "application/json" not in content_type:
                raise ApiError(400, "a request body needs the header Content-Type: application/json")
            return handler(Request(method, path, dict(parse_qsl(query)), body, params))
        if allowed:
            raise ApiError(405, f"{method} is not allowed on {path}; allowed: {', '.join(sorted(set(allowed)))}")
        raise ApiError(404, f"no such endpoint: {method} {path}")

    def _admin(self, method: str, path: str, body: bytes) -> None:
        """Test hooks: script faults.  Not part of the Cloud API."""
        faults = self.server.emulator.faults
        try:
            if path == "/_emulator/faults" and method == "POST":
                data = json.loads(body or b"{}")
                rules = [faults_mod.parse_rule(rule) for rule in data.get("rules", [])]
                faults.script(rules)
                self._send_json(200, {"scripted": len(rules)})
            elif path == "/_emulator/faults" and method == "DELETE":
                faults.clear()
                self._send_json(200, {"scripted": 0})
            else:
                self._send_json(404, {"error": f"no such hook: {method} {path}"})
        except (ValueError, TypeError) as exc:
            self._send_json(400, {"error": str(exc)})

    def _send_json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
