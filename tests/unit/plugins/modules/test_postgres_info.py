# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_info against the emulator: filters, one service, extras, never changed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.plugins.modules import postgres_info


@pytest.fixture
def fleet(emulator_process):
    """Three services on the shared emulator, made by the first test that asks for them."""
    api = PostgresApi(Transport(emulator_process.url, *emulator_process.admin_key), emulator_process.org_id)
    made = {s.name: s.id for s in api.list_services() if s.name.startswith("info ")}
    for name, tags in (("info a", {"env": "prod"}), ("info b", {"env": "dev"}), ("info c", {"env": "prod", "team": "x"})):
        if name not in made:
            made[name] = api.create_service(dict(name=name, provider="aws", region="us-east-1", size="r8gd.large", tags=tags)).id
    return made


def names(result):
    return [s["name"] for s in result["services"] if s["name"].startswith("info ")]


def test_list_and_filters(run_module, emu_args, fleet, writes):
    assert names(run_module(postgres_info, emu_args)) == ["info a", "info b", "info c"]
    assert names(run_module(postgres_info, dict(emu_args, tags={"env": "prod"}))) == ["info a", "info c"]
    assert names(run_module(postgres_info, dict(emu_args, role="replica"))) == []
    assert names(run_module(postgres_info, dict(emu_args, role="primary", tags={"team": "x"}))) == ["info c"]
    assert names(run_module(postgres_info, dict(emu_args, states=["no-such-state"]))) == []
    assert writes() == []


def test_one_service_with_extras(run_module, emu_args, fleet):
    result = run_module(postgres_info, dict(emu_args, name="info b", include_config=True, include_ca_certificate=True,
                                            _ansible_check_mode=True))
    assert not result["changed"]
    [service] = result["services"]
    assert service["id"] == fleet["info b"] and service["hostname"]
    assert set(service["config"]) == {"pg_config", "pg_bouncer_config"}
    assert isinstance(service["ca_certificate"], str)
    by_id = run_module(postgres_info, dict(emu_args, id=fleet["info b"]))
    assert [s["id"] for s in by_id["services"]] == [fleet["info b"]]


def test_missing_id_is_an_empty_list(run_module, emu_args):
    assert run_module(postgres_info, dict(emu_args, id="00000000-0000-4000-8000-000000000000"))["services"] == []


def test_credentials_only_when_asked(run_module, emu_args, fleet):
    """The emulator, like an organisation that does not redact them, returns credentials with one service."""
    for args in (dict(id=fleet["info a"]), dict(name="info a"), {}):
        plain = run_module(postgres_info, dict(emu_args, **args))
        assert plain["services"] and not any({"password", "connection_string"} & set(s) for s in plain["services"])
    [service] = run_module(postgres_info, dict(emu_args, id=fleet["info a"], include_credentials=True))["services"]
    assert service["password"] and service["password"] in service["connection_string"]


@pytest.fixture
def odd_api(dead_api):
    """An API that answers every GET with ``odd_api.answer`` (HTTP 200)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            raw = getattr(server, "raw", None)
            body = raw if raw is not None else json.dumps({"result": server.answer, "requestId": "unit"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, dict(dead_api, api_url="http://127.0.0.1:%d" % server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("answer, args, fragment", [
    ([{"id": "a", "name": "x", "tags": {"env": "prod"}}], {}, "tags: Input should be a valid list"),
    ({"id": "a", "name": "x", "tags": ["env"]}, {"id": "a"}, "tags.0: Input should be a valid dictionary"),
])
def test_malformed_answer_fails_cleanly(run_module, odd_api, answer, args, fragment):
    server, api_args = odd_api
    server.answer = answer
    result = run_module(postgres_info, dict(api_args, **args))
    assert result["failed"] and result["msg"].startswith("GET /organizations/") and fragment in result["msg"]
    assert "The API's answer was malformed: " in result["msg"]  # naming the request it answered
    assert "exception" not in result


def test_null_config_section_reads_as_empty(run_module, odd_api):
    server, api_args = odd_api
    server.answer = {"id": "a", "name": "x", "pgConfig": {"work_mem": "8MB"}, "pgBouncerConfig": None}
    [service] = run_module(postgres_info, dict(api_args, id="a", include_config=True))["services"]
    assert service["config"] == {"pg_config": {"work_mem": "8MB"}, "pg_bouncer_config": {}}


def test_query_patterns_of_the_named_services_in_the_same_call(run_module, emu_args, fleet, writes):
    result = run_module(postgres_info, dict(emu_args, tags={"env": "prod"},
                                            include_slow_query_patterns={"names": ["info a"], "limit": 3}))
    by_name = {s["name"]: s for s in result["services"]}
    assert isinstance(by_name["info a"]["slow_query_patterns"], list)
    assert "slow_query_patterns" not in by_name["info c"]
    assert writes.calls() == 2 and writes() == []  # the listing and one service's patterns


def test_a_bad_pattern_limit_fails_before_any_request(run_module, dead_api):
    result = run_module(postgres_info, dict(dead_api, include_slow_query_patterns={"limit": 0}))
    assert result["failed"] and "limit must be at least 1" in result["msg"] and "cannot connect" not in result["msg"]


@pytest.mark.parametrize("raw, args, fragment", [
    (b'{"result": 42}', {}, "expected a list, got int"),
    (b'{"result": []}', {"id": "a"}, "expected an object, got list"),
    (b'{"requestId": "unit", "status": 200}', {}, "it has no result"),
    (b"", {"id": "a"}, "it has no result"),
    (b'{"error": "BAD_REQUEST: no", "status": 200}', {}, "an error in a success"),
    (b'{"result": ' + b"[" * 100000 + b"]" * 100000 + b"}", {}, "expected a JSON envelope"),
])
def test_a_malformed_answer_never_passes_as_a_success(run_module, odd_api, raw, args, fragment):
    server, api_args = odd_api
    server.raw = raw
    result = run_module(postgres_info, dict(api_args, **args))
    assert result["failed"] and fragment in result["msg"] and "exception" not in result, result["msg"][:300]
    assert result["msg"].startswith("GET /organizations/")


def test_provider_and_region_filters(run_module, emu_args, fleet):
    assert names(run_module(postgres_info, dict(emu_args, provider="aws", region="us-east-1"))) == ["info a", "info b", "info c"]
    assert names(run_module(postgres_info, dict(emu_args, region="eu-west-1"))) == []
    assert names(run_module(postgres_info, dict(emu_args, provider="gcp"))) == []
