"""The served OpenAPI document, and proof that the response checker really rejects bad answers.

The checker runs on every response of every test; these tests feed it hand-made broken
answers to show that a wrong field type, a missing envelope key and the like fail.
"""

from __future__ import annotations

import copy
import json
import uuid
from importlib import resources

import httpx
import pytest
from emutest import checker_for, emulator_fixture
from openapi_check import ContractError

emu = emulator_fixture()

ORG = "8c7f4a2e-0d3b-4c1a-9e5f-6b2d1a0c9e7f"
PG = "67b4bc12-8582-45d0-8806-fe9b2e5a54e6"
BASE = f"http://emulator/v1/organizations/{ORG}/postgres"
SERVICE = {
    "id": PG,
    "name": "my postgres",
    "provider": "aws",
    "region": "us-west-2",
    "postgresVersion": "18",
    "size": "r8gd.large",
    "storageSize": 118,
    "haType": "none",
    "tags": [],
    "username": "postgres",
    "hostname": "localhost",
    "isPrimary": True,
    "state": "running",
    "createdAt": "2026-05-25T16:42:16.000Z",
}
AUTH = {"Authorization": "Basic a2V5OnNlY3JldA=="}


@pytest.fixture(scope="module")
def checker(emu):
    return checker_for(emu.url)


def answer(method: str, path: str, status: int, body: object, *, content_type: str = "application/json", headers=None, request_json=None):
    request = httpx.Request(method, BASE + path, headers=AUTH, json=request_json)
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return request, httpx.Response(status, content=content, headers={"content-type": content_type, **(headers or {})}, request=request)


def ok(result, status=200):
    return {"result": result, "requestId": str(uuid.uuid4()), "status": status}


def test_get_v1_serves_the_vendored_document_plus_logs_without_auth(emu):
    response = httpx.get(emu.url + "/v1")
    assert response.status_code == 200
    served = response.json()
    vendored = json.loads(resources.files("chc_emulator").joinpath("openapi-postgres.json").read_text())
    logs_path = "/v1/organizations/{organizationId}/postgres/{postgresId}/logs"
    assert served["paths"].pop(logs_path)["get"]["operationId"] == "postgresLogsGetList"
    assert served["components"]["schemas"].pop("PostgresLogEntry")["required"] == ["timestamp", "severity", "body"]
    assert served == vendored


def test_a_valid_answer_passes(checker):
    checker.check(*answer("GET", f"/{PG}", 200, ok(SERVICE)))
    live = {"ipAccessList": [{"id": "r1", "source": "1.2.3.4/32", "portRange": "5432", "description": "d"}], "earliestRestoreTime": None}
    checker.check(*answer("GET", f"/{PG}", 200, ok({**SERVICE, **live})))
    backup = {"key": "base-1", "status": "completed", "lastModified": "2026-05-25T16:42:16.000Z"}
    checker.check(*answer("GET", f"/{PG}/backups", 200, {**ok([backup]), "nextCursor": "base-0"}))
    checker.check(*answer("GET", "", 200, ok([{k: SERVICE[k] for k in ("id", "name", "state", "isPrimary")}])))
    checker.check(*answer("DELETE", f"/{PG}", 200, {"requestId": str(uuid.uuid4()), "status": 200}))
    checker.check(*answer("GET", f"/{PG}", 404, {"status": 404, "error": "NOT_FOUND: gone", "requestId": str(uuid.uuid4())}))


def _broken(change):
    body = ok(copy.deepcopy(SERVICE))
    change(body)
    return body


@pytest.mark.parametrize(
    "why, body",
    [
        ("wrong field type", _broken(lambda b: b["result"].update(isPrimary="yes"))),
        ("number as string", _broken(lambda b: b["result"].update(storageSize="118"))),
        ("state outside the enum", _broken(lambda b: b["result"].update(state="sleeping"))),
        ("size outside the enum", _broken(lambda b: b["result"].update(size="m7i.large"))),
        ("not a date-time", _broken(lambda b: b["result"].update(createdAt="yesterday"))),
        ("tag without key", _broken(lambda b: b["result"].update(tags=[{"value": "x"}]))),
        ("rule id a number", _broken(lambda b: b["result"].update(ipAccessList=[{"id": 5, "source": "1.2.3.4/32", "portRange": "5432"}]))),
        ("rules not a list", _broken(lambda b: b["result"].update(ipAccessList="nope"))),
        ("earliestRestoreTime a number", _broken(lambda b: b["result"].update(earliestRestoreTime=12))),
        ("missing requestId", _broken(lambda b: b.pop("requestId"))),
        ("missing status", _broken(lambda b: b.pop("status"))),
        ("missing result", _broken(lambda b: b.pop("result"))),
        ("status differs from HTTP", _broken(lambda b: b.update(status=201))),
        ("requestId not a uuid", _broken(lambda b: b.update(requestId="abc"))),
        ("extra envelope key", _broken(lambda b: b.update(error="x"))),
    ],
)
def test_a_broken_success_fails(checker, why, body):
    with pytest.raises(ContractError):
        checker.check(*answer("GET", f"/{PG}", 200, body))


@pytest.mark.parametrize(
    "status, body",
    [
        (400, {"status": 400, "error": "no code prefix", "requestId": str(uuid.uuid4())}),
        (400, {"status": 400, "requestId": str(uuid.uuid4())}),
        (404, {"status": 404, "error": "NOT_FOUND: x"}),
        (404, {"status": "404", "error": "NOT_FOUND: x", "requestId": str(uuid.uuid4())}),
        (409, {"status": 400, "error": "CONFLICT: x", "requestId": str(uuid.uuid4())}),
        (500, {"error": "INTERNAL_SERVER_ERROR: x", "requestId": str(uuid.uuid4()), "status": 500, "result": {}}),
        (429, {"status": 429, "error": "TOO_MANY_REQUESTS: slow down", "requestId": str(uuid.uuid4())}),  # no X-RateLimit-Reset
    ],
)
def test_a_broken_error_fails(checker, status, body):
    with pytest.raises(ContractError):
        checker.check(*answer("GET", f"/{PG}", status, body))


def test_delete_must_not_carry_a_result(checker):
    with pytest.raises(ContractError):
        checker.check(*answer("DELETE", f"/{PG}", 200, ok(SERVICE)))


def test_text_answers_are_checked(checker):
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    disposition = {"Content-Disposition": 'attachment; filename="postgres-ca-certificate.pem"'}
    checker.check(*answer("GET", f"/{PG}/caCertificates", 200, pem, content_type="application/x-pem-file", headers=disposition))
    with pytest.raises(ContractError):  # enveloped PEM
        checker.check(*answer("GET", f"/{PG}/caCertificates", 200, ok(pem), content_type="application/json"))
    with pytest.raises(ContractError):  # no attachment header
        checker.check(*answer("GET", f"/{PG}/caCertificates", 200, pem, content_type="application/x-pem-file"))
    good = f'# TYPE PostgresServiceInfo gauge\nPostgresServiceInfo{{postgres_service="{PG}",postgres_status="running"}} 1\n'
    checker.check(*answer("GET", "/prometheus", 200, good, content_type="text/plain; charset=UTF-8"))
    with pytest.raises(ContractError):
        checker.check(*answer("GET", "/prometheus", 200, good, content_type="text/plain"))
    with pytest.raises(ContractError):
        checker.check(*answer("GET", "/prometheus", 200, "PostgresServiceInfo{oops 1\n", content_type="text/plain; charset=UTF-8"))


def test_an_accepted_invalid_request_fails(checker):
    """A 200 for a request the document forbids is an emulator bug the hook must catch."""
    bad_create = {"name": "x" * 51, "provider": "aws", "region": "us-west-2", "size": "r8gd.large"}
    with pytest.raises(ContractError, match="accepted a request"):
        checker.check(*answer("POST", "", 200, ok(SERVICE), request_json=bad_create))
    good_create = {**bad_create, "name": "x"}
    checker.check(*answer("POST", "", 200, ok(SERVICE), request_json=good_create))
    with pytest.raises(ContractError, match="accepted a request"):
        checker.check(*answer("GET", "/not-a-uuid", 200, ok(SERVICE)))


def test_documented_config_deviations_are_tolerated(checker):
    """`{}` sections (the docs' own example) and merge-patch nulls; nothing else."""
    result = {"pgConfig": {"max_connections": "42"}, "pgBouncerConfig": {}}
    checker.check(*answer("POST", f"/{PG}/config", 200, ok(result), request_json={"pgConfig": {"max_connections": "42"}, "pgBouncerConfig": {}}))
    checker.check(*answer("PATCH", f"/{PG}/config", 200, ok(result), request_json={"pgConfig": {"work_mem": None}, "pgBouncerConfig": {}}))
    with pytest.raises(ContractError):  # null is a merge-patch thing, not a replace thing
        checker.check(*answer("POST", f"/{PG}/config", 200, ok(result), request_json={"pgConfig": {"work_mem": None}, "pgBouncerConfig": {}}))
    with pytest.raises(ContractError):
        checker.check(*answer("POST", f"/{PG}/config", 200, ok(result), request_json={"pgConfig": {"bogus": "1"}, "pgBouncerConfig": {}}))
    with pytest.raises(ContractError):  # an empty pgConfig on create is not tolerated
        create = {"name": "x", "provider": "aws", "region": "us-west-2", "size": "r8gd.large", "pgConfig": {}}
        checker.check(*answer("POST", "", 200, ok(SERVICE), request_json=create))
