# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed client against the emulator: every operation, and lost answers that must not duplicate."""

from __future__ import annotations

import datetime
import time

import httpx
import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ApiError, LostAnswerError
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport


@pytest.fixture
def api(emulator, fake_clock):
    return PostgresApi(Transport(emulator.url, *emulator.admin_key, retries=3, sleep=fake_clock.sleep,
                                 clock=fake_clock.clock, rand=lambda: 0.5), emulator.org_id)


def wait_running(api, service_id):
    for _ignored in range(100):
        service = api.get_service(service_id)
        if service.state == "running":
            return service
        time.sleep(0.1)
    raise AssertionError("service %s never ran" % service_id)


def create(api, name, **kw):
    return api.create_service(dict(name=name, provider="aws", region="us-east-1", size="r8gd.large", **kw))


def test_lost_create_answer_never_makes_a_duplicate(api, emulator, writes):
    writes.mark()
    emulator.inject("drop", method="POST", path="/postgres$")
    service = create(api, "lost create", tags={"env": "dev"})
    assert service.name == "lost create" and service.id
    assert [s.id for s in api.services_named("lost create")] == [service.id]
    assert writes() == [("POST", "postgres")]  # committed once, answer dropped, not resent
    assert "was not sent again" in api.notes[0] and "password" in api.notes[0]


def test_lost_patch_answer_is_checked_before_resending(api, emulator, writes):
    service = wait_running(api, create(api, "lost patch").id)
    writes.mark()
    emulator.inject("drop", method="PATCH", path="/postgres/[^/]+$")
    patched = api.patch_service(service.id, {"tags": {"env": "prod"}})
    assert patched.to_result()["tags"] == {"env": "prod"}
    assert writes() == [("PATCH", service.id)]


def test_lost_state_command_answer_is_not_resent(api, emulator, writes):
    service = wait_running(api, create(api, "lost restart").id)
    writes.mark()
    emulator.inject("drop", method="PATCH", path="/state$")
    assert api.set_state(service.id, "restart").state == "restarting"
    assert writes() == [("PATCH", "state")]


def test_lost_delete_answer_is_not_resent(api, emulator, writes):
    service = wait_running(api, create(api, "lost delete").id)
    writes.mark()
    emulator.inject("drop", method="DELETE")
    api.delete_service(service.id)
    assert writes() == [("DELETE", service.id)]


def test_patch_sends_the_whole_tag_list(api, emulator):
    service = wait_running(api, create(api, "tag list", tags={"a": "1", "b": "2"}).id)
    assert api.patch_service(service.id, {"tags": {"a": "1", "c": "3"}}).to_result()["tags"] == {"a": "1", "c": "3"}


def test_errors_carry_status_text_and_request_id(api):
    with pytest.raises(ApiError) as err:
        api.create_service(dict(name="bad size", provider="aws", region="us-east-1", size="x9.nonexistent"))
    assert err.value.status == 400 and err.value.request_id and err.value.error
    assert "HTTP 400" in err.value.message and err.value.request_id in err.value.message
    assert api.find_service("00000000-0000-4000-8000-000000000000") is None


def test_every_operation(api, emulator):
    service = wait_running(api, create(api, "all ops", pg_config={"max_connections": "100"}).id)
    sid = service.id
    assert service.to_result()["storage_size"] > 0
    assert api.get_config(sid).pg_config.get("max_connections") in ("100", 100)
    replaced = api.replace_config(sid, {"max_connections": "120"}, {"default_pool_size": "16"})
    assert replaced.to_result()["pg_bouncer_config"] == {"default_pool_size": "16"}
    patched = api.patch_config(sid, {"work_mem": "8MB"})
    assert set(patched.pg_config) >= {"max_connections", "work_mem"}
    generated = api.set_password(sid)
    assert generated and len(generated) >= 12
    assert api.set_password(sid, "Another-Passw0rd") is None
    assert isinstance(api.get_ca_certificates(sid), str)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    window = ((now - datetime.timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
              (now + datetime.timedelta(minutes=1)).isoformat().replace("+00:00", "Z"))
    assert isinstance(api.get_metrics(sid, *window).metrics, list)
    patterns = api.list_slow_query_patterns(sid, *window, limit=5)
    assert isinstance(patterns, list)
    assert isinstance(api.list_logs(sid, *window, limit=5), list)
    assert isinstance(list(api.iter_logs(sid, *window, page_size=2, max_entries=5)), list)
    assert "PostgresServiceInfo" in api.get_org_prometheus()
    assert "PostgresServiceInfo" in api.get_prometheus(sid)
    assert api.set_state(sid, "switchover").id == sid
    with pytest.raises(ApiError):
        api.create_read_replica(sid, {"name": "too early replica"})  # no backup yet on a fresh primary
    with pytest.raises(ApiError):
        api.restore_service(sid, {"name": "too early restore"}, "2000-01-01T00:00:00Z")


def test_lost_restart_that_already_finished_is_not_sent_again(fake_clock):
    """Re-read as 'running', a lost restart may have come and gone: a second one would be a second outage."""
    sid = "0b1e3f6a-0000-4000-8000-000000000001"
    sent = []

    def handler(request):
        sent.append(request.method)
        if request.method == "PATCH":
            raise httpx.ReadTimeout("no answer")
        return httpx.Response(200, json={"result": {"id": sid, "name": "x", "state": "running"}, "requestId": "r", "status": 200})

    api = PostgresApi(Transport("https://api.example.test", "k", "s", http_transport=httpx.MockTransport(handler),
                                sleep=fake_clock.sleep, clock=fake_clock.clock), "org")
    with pytest.raises(LostAnswerError, match="not resent"):
        api.set_state(sid, "restart")
    assert sent == ["PATCH", "GET"]
