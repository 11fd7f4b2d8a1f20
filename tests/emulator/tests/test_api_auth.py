"""Authentication, permissions and the shape of every answer (envelopes, PEM, Prometheus)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from chc_emulator.testing import ADMIN_KEY
from emutest import emulator_fixture, error_of

emu = emulator_fixture(provisioning_seconds=0.2, restart_seconds=0.2, deletion_seconds=0.2, first_backup_seconds=0.2)


@pytest.fixture(scope="module")
def service(api):
    svc = api.running("auth target", tags=[{"key": "team", "value": "core"}])
    assert api.patch(f"/{svc['id']}/config", {"pgConfig": {"work_mem": "8MB"}, "pgBouncerConfig": {"pool_mode": "transaction"}}).status_code == 200
    return api.service(svc["id"])


def window() -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    return {"from_date": (now - dt.timedelta(hours=1)).isoformat(), "to_date": (now + dt.timedelta(minutes=1)).isoformat()}


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [("GET", ""), ("POST", ""), ("GET", "/prometheus")])
def test_no_credentials_is_401(emu, client, method, path):
    anonymous = client(emu, auth=False)
    text = error_of(anonymous.call(method, path, json={} if method == "POST" else None), 401)
    assert text.startswith("UNAUTHORIZED: ")


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(f"{ADMIN_KEY[0]}:wrong-secret".encode()).decode(),
        "Basic " + base64.b64encode(f"no-such-key:{ADMIN_KEY[1]}".encode()).decode(),
        "Basic " + base64.b64encode(ADMIN_KEY[0].encode()).decode(),
        "Basic %%%not-base64%%%",
        f"Bearer {ADMIN_KEY[1]}",
    ],
    ids=["wrong-secret", "unknown-key", "no-colon", "not-base64", "not-basic"],
)
def test_bad_credentials_are_401(emu, client, header):
    anonymous = client(emu, auth=False)
    assert error_of(anonymous.get("", headers={"Authorization": header}), 401).startswith("UNAUTHORIZED: ")


def test_another_organisation_is_404(api, service):
    other = f"/v1/organizations/{uuid.uuid4()}/postgres"
    for response in (api.get(other), api.get(f"{other}/{service['id']}"), api.post(other, {"name": "x"})):
        assert error_of(response, 404).startswith("NOT_FOUND: ")


def test_malformed_ids_are_400_naming_the_parameter(api, service):
    assert "organizationId" in error_of(api.get("/v1/organizations/not-a-uuid/postgres"), 400)
    assert "postgresId" in error_of(api.get("/12345"), 400)
    assert "postgresId" in error_of(api.patch("/zz-not-uuid/config", {"pgConfig": {}, "pgBouncerConfig": {}}), 400)


def test_unknown_service_is_404(api):
    missing = str(uuid.uuid4())
    for response in (api.get(f"/{missing}"), api.delete(f"/{missing}"), api.get(f"/{missing}/config")):
        assert missing in error_of(response, 404)


# --- the read-only (developer) key --------------------------------------------------------


def test_developer_key_reads_everything(reader, service):
    sid = service["id"]
    for path, params in [
        ("", None),
        (f"/{sid}", None),
        (f"/{sid}/config", None),
        (f"/{sid}/caCertificates", None),
        (f"/{sid}/prometheus", None),
        ("/prometheus", None),
        (f"/{sid}/metrics", window()),
        (f"/{sid}/slowQueryPatterns", window()),
        (f"/{sid}/logs", window()),
    ]:
        response = reader.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
    assert reader.service(sid)["tags"] == [{"key": "team", "value": "core"}]


def test_developer_key_cannot_write_and_changes_nothing(api, reader, service):
    sid = service["id"]
    before = api.snapshot()
    target = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat()
    writes = [
        ("POST", "", {"name": "nope", "provider": "aws", "region": "us-west-2", "size": "r8gd.large"}),
        ("PATCH", f"/{sid}", {"tags": []}),
        ("DELETE", f"/{sid}", None),
        ("PATCH", f"/{sid}/state", {"command": "restart"}),
        ("PATCH", f"/{sid}/password", {}),
        ("POST", f"/{sid}/config", {"pgConfig": {"work_mem": "16MB"}, "pgBouncerConfig": {}}),
        ("PATCH", f"/{sid}/config", {"pgConfig": {"work_mem": "16MB"}, "pgBouncerConfig": {}}),
        ("POST", f"/{sid}/readReplica", {"name": "replica"}),
        ("POST", f"/{sid}/restoredService", {"name": "restored", "restoreTarget": target}),
    ]
    for method, path, body in writes:
        text = error_of(reader.call(method, path, json=body), 403)
        assert text.startswith("FORBIDDEN: "), text
    assert api.snapshot() == before


# --- envelopes ----------------------------------------------------------------------------


def test_success_envelope(api, service):
    body = api.get(f"/{service['id']}").json()
    assert set(body) == {"result", "requestId", "status"}
    assert body["status"] == 200 and uuid.UUID(body["requestId"]).version == 4
    assert body["result"]["id"] == service["id"]
    assert api.get("").json()["requestId"] != body["requestId"]


def test_delete_envelope_has_no_result(api):
    svc = api.running("to delete")
    response = api.delete(f"/{svc['id']}")
    assert response.status_code == 200
    assert set(response.json()) == {"requestId", "status"}


def test_error_envelope_names_the_field(api):
    response = api.post("", {"name": "n" * 51, "provider": "aws", "region": "us-west-2", "size": "r8gd.large"})
    body = response.json()
    assert response.status_code == 400 and set(body) == {"status", "error", "requestId"}
    assert body["status"] == 400
    assert body["error"].startswith("BAD_REQUEST: name")


def test_request_body_must_be_json(api):
    raw = api.call("POST", "", content=b"{not json", headers={"Content-Type": "application/json"})
    assert "JSON" in error_of(raw, 400)
    untyped = api.call("POST", "", content=b'{"name": "x"}', headers={"Content-Type": "text/plain"})
    assert "Content-Type" in error_of(untyped, 400)


def test_unknown_endpoint_and_method(api, service):
    assert error_of(api.get(f"/{service['id']}/nothing-here"), 404).startswith("NOT_FOUND: ")
    assert error_of(api.call("PUT", f"/{service['id']}", json={}), 405).startswith("METHOD_NOT_ALLOWED: ")


def test_pem_is_not_enveloped(api, service):
    response = api.get(f"/{service['id']}/caCertificates")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pem-file"
    assert response.headers["content-disposition"] == 'attachment; filename="postgres-ca-certificate.pem"'
    assert response.text.startswith("-----BEGIN CERTIFICATE-----")


def test_prometheus_is_plain_text(api, service):
    for path in ("/prometheus", f"/{service['id']}/prometheus"):
        response = api.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=UTF-8"
        assert not response.text.lstrip().startswith("{")
        info = [line for line in response.text.splitlines() if line.startswith("PostgresServiceInfo{")]
        mine = [line for line in info if f'postgres_service="{service["id"]}"' in line]
        assert len(mine) == 1 and 'postgres_status="running"' in mine[0] and 'postgres_service_name="auth target"' in mine[0]
    single = api.get(f"/{service['id']}/prometheus").text
    assert all(service["id"] in line for line in single.splitlines() if line.startswith("PostgresServiceInfo{"))


def test_prometheus_errors_are_json(api):
    response = api.get(f"/{uuid.uuid4()}/prometheus")
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"


def test_organizations_endpoint_of_the_seed(api, emu, client):
    """The seeds' first call lists organisations; the emulator answers it with its one org."""
    result = api.get("/v1/organizations").json()["result"]
    assert [org["id"] for org in result] == [emu.org_id]
    assert client(emu, auth=False).get("/v1/organizations").status_code == 401
