# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transport's retry policy and error messages.

Cases the emulator can produce on demand (5xx, 429 with X-RateLimit-Reset, latency,
dropped answers) run against it; httpx.MockTransport covers the rest (Retry-After,
504, connection refused, malformed bodies, exact headers).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import socket
import ssl
import threading
import time

import httpx
import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ApiError, InputError, LostAnswerError
from ansible_collections.clickhouse.cloud.plugins.module_utils._pacer import LocalPacer, SlotBook
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import (
    NOT_APPLIED,
    UNKNOWN,
    Transport,
    backoff_delay,
    hinted_delay,
    normalize_base_url,
)

ORG = "11111111-2222-4333-8444-555555555555"
LIST = "/organizations/%s/postgres" % ORG


def envelope(result, status=200, request_id="req-ok"):
    return httpx.Response(status, json={"result": result, "requestId": request_id, "status": status})


def failure(status, error="boom", request_id="req-1", headers=None):
    return httpx.Response(status, json={"status": status, "error": error, "requestId": request_id}, headers=headers)


def scripted(*answers):
    """A MockTransport answering with ``answers`` in order; records what it saw."""
    seen = []
    answers = list(answers)

    def handler(request):
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen


def transport(clock, http=None, url="https://api.example.test", **kw):
    kw.setdefault("retries", 5)
    return Transport(url, "key-id", "key-secret", http_transport=http, sleep=clock.sleep, clock=clock.clock,
                     rand=lambda: 0.5, **kw)


# -- pure helpers ---------------------------------------------------------------


@pytest.mark.parametrize("url, expected", [
    (None, "https://api.clickhouse.cloud/v1"),
    ("https://api.clickhouse.cloud", "https://api.clickhouse.cloud/v1"),
    ("https://api.clickhouse.cloud/v1/", "https://api.clickhouse.cloud/v1"),
    ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
])
def test_base_url(url, expected):
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize("url", ["api.clickhouse.cloud", "ftp://api.clickhouse.cloud", "http://[::1", "https://"])
def test_base_url_that_is_no_http_url_is_an_input_error(url):
    with pytest.raises(InputError, match="api_url"):
        normalize_base_url(url)


@pytest.mark.parametrize("retry, rand, expected", [(0, 0.0, 0.5), (0, 1.0, 1.0), (3, 0.5, 6.0), (10, 1.0, 30.0)])
def test_backoff_is_jittered_exponential_and_capped(retry, rand, expected):
    assert backoff_delay(retry, lambda: rand) == expected


def test_hints():
    assert hinted_delay({"x-ratelimit-reset": "2.5"}) == 2.5
    assert hinted_delay({"retry-after": "7"}) == 7.0
    date = email.utils.formatdate(1000.0 + 12, usegmt=True)
    assert hinted_delay({"retry-after": date}, now=lambda: 1000.0) == 12.0
    assert hinted_delay({"retry-after": "soon"}) is None
    assert hinted_delay({}) is None


# -- MockTransport: what the emulator cannot do -----------------------------------


def test_request_shape(fake_clock):
    http, seen = scripted(envelope([]))
    assert transport(fake_clock, http).request("GET", LIST).result == []
    request = seen[0]
    assert str(request.url) == "https://api.example.test/v1" + LIST
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"key-id:key-secret").decode()
    assert request.headers["user-agent"].startswith("clickhouse.cloud/0.1.0 (ansible-core/")


def test_retry_after_on_503_is_honoured(fake_clock):
    http, seen = scripted(failure(503, headers={"Retry-After": "4"}), envelope([]))
    transport(fake_clock, http).request("GET", LIST)
    assert len(seen) == 2
    assert fake_clock.sleeps == [4.5]  # the hint plus jitter


def test_retry_after_as_http_date(fake_clock):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    http, seen = scripted(failure(429, headers={"Retry-After": when}), envelope([]))
    transport(fake_clock, http).request("GET", LIST)
    assert 28 < fake_clock.sleeps[0] <= 31


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_read_retried_on_5xx(fake_clock, status):
    http, seen = scripted(failure(status), failure(status), envelope(["ok"]))
    assert transport(fake_clock, http).request("GET", LIST).result == ["ok"]
    assert len(seen) == 3
    assert fake_clock.sleeps == [0.75, 1.5]  # backoff 1, 2 with rand 0.5


def test_connection_refused_is_retried_then_reported(fake_clock):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = Transport("http://127.0.0.1:%d" % port, "k", "s", retries=2, sleep=fake_clock.sleep, clock=fake_clock.clock)
    with pytest.raises(ApiError) as err:
        t.request("POST", LIST, body={"name": "x"})  # never reached the server: safe even for a create
    assert t.requests_sent == 3
    assert err.value.status is None
    assert "cannot connect" in err.value.message and "after 3 attempts" in err.value.message
    assert "retries exhausted" in err.value.message


def test_malformed_body_fails_clearly_without_retry(fake_clock):
    http, seen = scripted(httpx.Response(200, text="<html>gateway</html>"))
    with pytest.raises(ApiError) as err:
        transport(fake_clock, http).request("GET", LIST)
    assert len(seen) == 1
    assert "malformed answer" in err.value.message and "gateway" in err.value.message


@pytest.mark.parametrize("response, text", [
    (failure(400, "BAD_REQUEST: invalid size", "req-42"), "HTTP 400: BAD_REQUEST: invalid size [requestId: req-42]"),
    (httpx.Response(404, json={"error": "not found"}), "HTTP 404: not found [requestId: none]"),
    (httpx.Response(401, text="Unauthorized"), "HTTP 401: Unauthorized [requestId: none]"),
    (httpx.Response(403, headers={"x-request-id": "hdr-1"}, json={"status": 403, "error": "FORBIDDEN"}),
     "HTTP 403: FORBIDDEN [requestId: hdr-1]"),
])
def test_client_errors_are_final_and_say_everything(fake_clock, response, text):
    http, seen = scripted(response)
    with pytest.raises(ApiError) as err:
        transport(fake_clock, http).request("POST", LIST, body={})
    assert len(seen) == 1 and fake_clock.sleeps == []
    assert err.value.message == "POST %s failed: %s" % (LIST, text)
    assert err.value.failure()["status"] == response.status_code


def test_budget_stops_a_wait_that_is_too_long(fake_clock):
    http, seen = scripted(failure(429, headers={"X-RateLimit-Reset": "500"}))
    with pytest.raises(ApiError) as err:
        transport(fake_clock, http, budget=60).request("GET", LIST)
    assert len(seen) == 1 and fake_clock.sleeps == []
    assert "retry budget" in err.value.message and "HTTP 429" in err.value.message


def test_retries_exhausted(fake_clock):
    http, seen = scripted(*[failure(502)] * 3)
    with pytest.raises(ApiError) as err:
        transport(fake_clock, http, retries=2).request("GET", LIST)
    assert len(seen) == 3
    assert "HTTP 502: boom" in err.value.message and "after 3 attempts" in err.value.message


def test_zero_retries(fake_clock):
    http, seen = scripted(failure(503))
    with pytest.raises(ApiError):
        transport(fake_clock, http, retries=0).request("GET", LIST)
    assert len(seen) == 1


def test_write_with_ambiguous_failure_and_no_reconcile_is_not_resent(fake_clock):
    http, seen = scripted(failure(504))
    with pytest.raises(LostAnswerError) as err:
        transport(fake_clock, http).request("PATCH", LIST + "/x", body={"size": "a"})
    assert len(seen) == 1
    assert "may or may not have been applied" in err.value.message


def test_write_429_is_resent_without_reconcile(fake_clock):
    http, seen = scripted(failure(429, headers={"X-RateLimit-Reset": "1.5"}), envelope({"id": "x"}))
    assert transport(fake_clock, http).request("POST", LIST, body={}).result == {"id": "x"}
    assert len(seen) == 2 and fake_clock.sleeps == [2.0]


def test_write_resent_only_after_reconcile_says_not_applied(fake_clock):
    http, seen = scripted(failure(502), envelope({"id": "new"}))
    checks = []
    result = transport(fake_clock, http).request("POST", LIST, body={}, reconcile=lambda: checks.append(1) or NOT_APPLIED)
    assert result.result == {"id": "new"} and len(seen) == 2 and checks == [1]


def test_write_not_resent_when_reconcile_finds_it(fake_clock):
    http, seen = scripted(httpx.ReadTimeout("slow"))
    result = transport(fake_clock, http).request("POST", LIST, body={}, reconcile=lambda: {"id": "found"})
    assert result.result == {"id": "found"} and len(seen) == 1


def test_write_not_resent_when_reconcile_cannot_tell(fake_clock):
    http, seen = scripted(httpx.ReadTimeout("slow"))
    with pytest.raises(LostAnswerError) as err:
        transport(fake_clock, http).request("PATCH", LIST + "/x/state", body={"command": "restart"},
                                            reconcile=lambda: UNKNOWN)
    assert len(seen) == 1 and "not resent" in err.value.message


def test_read_timeout_on_get_is_retried(fake_clock):
    http, seen = scripted(httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), envelope([]))
    transport(fake_clock, http).request("GET", LIST)
    assert len(seen) == 3


def test_text_endpoint(fake_clock):
    http, seen = scripted(httpx.Response(200, text="-----BEGIN CERTIFICATE-----\n", headers={"content-type": "application/x-pem-file"}))
    assert transport(fake_clock, http).request("GET", LIST + "/x/caCertificates", text=True).result.startswith("-----BEGIN")


def test_ca_path_and_validate_certs(tmp_path, fake_clock):
    Transport("https://x.test", "k", "s", validate_certs=False).close()
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(Exception):
        Transport("https://x.test", "k", "s", ca_path=str(bad))


# -- 429 costs time, not attempts; the pacer -----------------------------------------------


def refused(reset="1"):
    return failure(429, "TOO_MANY_REQUESTS: slow down", headers={"X-RateLimit-Reset": reset})


def fake_pacer(clock, limit=10, window=10):
    """A pacer on the fake clock, without margin, standing in for the file every process shares."""
    return LocalPacer(SlotBook(limit, window, margin=0), clock=clock.clock)


def test_429_does_not_spend_attempts(fake_clock):
    http, seen = scripted(*[refused()] * 10 + [envelope(["ok"])])
    assert transport(fake_clock, http, retries=2).request("GET", LIST).result == ["ok"]
    assert len(seen) == 11 and fake_clock.sleeps == [1.5] * 10  # each the hint plus jitter, within the budget


def test_429_between_failures_does_not_spend_attempts_but_5xx_do(fake_clock):
    http, seen = scripted(failure(502), refused(), refused(), failure(502), failure(502))
    with pytest.raises(ApiError) as err:
        transport(fake_clock, http, retries=2).request("GET", LIST)
    assert len(seen) == 5
    assert "HTTP 502" in err.value.message and "retries exhausted" in err.value.message
    assert "after 5 attempts" in err.value.message


def test_429_without_hint_backs_off_by_refusal(fake_clock):
    http, seen = scripted(failure(429), failure(429), envelope([]))
    transport(fake_clock, http, retries=0).request("GET", LIST)
    assert fake_clock.sleeps == [0.75, 1.5]


def test_429s_until_the_budget_is_spent(fake_clock):
    http, seen = scripted(*[refused("30")] * 10)
    with pytest.raises(ApiError) as err:
        transport(fake_clock, http, budget=100).request("GET", LIST)
    assert len(seen) == 4 and fake_clock.sleeps == [30.5] * 3
    assert err.value.message == ("GET %s failed: HTTP 429: TOO_MANY_REQUESTS: slow down (waiting 30.5 s more would "
                                 "exceed the 100 s retry budget) after 4 attempts [requestId: req-1]" % LIST)


def test_pacer_spaces_the_sends_and_logs_each_wait(fake_clock):
    http, seen = scripted(*[envelope([])] * 5)
    logged = []
    t = transport(fake_clock, http, pacer=fake_pacer(fake_clock, limit=2), log=logged.append)
    for _ignored in range(5):
        t.request("GET", LIST)
    assert fake_clock.sleeps == [10, 10]  # two per window: the 3rd and 5th wait
    assert logged == ["GET %s: rate limit: waiting 10.0 s for a slot (0 queued)" % LIST] * 2


def test_429_with_pacer_makes_every_process_on_the_key_wait(fake_clock):
    pacer = fake_pacer(fake_clock)
    http, seen = scripted(refused("5"))
    with pytest.raises(ApiError, match="retry budget"):
        transport(fake_clock, http, pacer=pacer, budget=2).request("GET", LIST)
    assert fake_clock.sleeps == []  # the 5 s did not fit in its own 2 s, so it gave up at once

    http, seen = scripted(envelope([]))
    logged = []
    transport(fake_clock, http, pacer=pacer, log=logged.append).request("GET", LIST)  # another process on the key
    assert fake_clock.sleeps == [5]
    assert logged == ["GET %s: rate limit: waiting 5.0 s for a slot (0 queued)" % LIST]


def test_429_with_pacer_is_ridden_out_without_spending_attempts(fake_clock):
    http, seen = scripted(*[refused("2")] * 6 + [envelope(["ok"])])
    t = transport(fake_clock, http, pacer=fake_pacer(fake_clock), retries=0)
    assert t.request("GET", LIST).result == ["ok"]
    assert len(seen) == 7 and fake_clock.sleeps == [2] * 6


def test_queue_longer_than_the_budget_fails_before_sending(fake_clock):
    pacer = fake_pacer(fake_clock, limit=1)
    for _ignored in range(12):  # other processes' reservations: one every 10 s for two minutes
        pacer.reserve()
    http, seen = scripted()
    with pytest.raises(ApiError) as err:
        transport(fake_clock, http, pacer=pacer, budget=60).request("GET", LIST)
    assert seen == [] and fake_clock.sleeps == []
    assert err.value.message == ("GET %s failed: rate limit: 11 requests on this API key are queued ahead on this "
                                 "controller (waiting 120.0 s more would exceed the 60 s retry budget) "
                                 "[requestId: none]" % LIST)
    assert len(pacer._state["slots"]) == 12  # it took no place in the line


# -- a write resent after 429 or a connect error asks reconcile first ------------------------


def test_create_resent_after_429_calls_reconcile_first(fake_clock):
    http, seen = scripted(refused(), envelope({"id": "new"}))
    checked_at = []
    result = transport(fake_clock, http).request(
        "POST", LIST, body={"name": "x"}, reconcile=lambda: checked_at.append(fake_clock.now) or NOT_APPLIED)
    assert result.result == {"id": "new"} and len(seen) == 2
    assert checked_at == [1001.5]  # after the wait, just before the resend


def test_create_found_by_reconcile_after_429_is_not_resent(fake_clock):
    http, seen = scripted(refused())
    logged = []
    result = transport(fake_clock, http, log=logged.append).request(
        "POST", LIST, body={"name": "x"}, reconcile=lambda: {"id": "made by another run"})
    assert result.result == {"id": "made by another run"} and len(seen) == 1
    assert "not resending" in logged[-1]


def test_write_after_429_is_resent_when_reconcile_cannot_tell(fake_clock):
    """A 429 surely did not apply, so UNKNOWN (meant for lost answers) does not stop the resend."""
    http, seen = scripted(refused(), envelope({"state": "restarting"}))
    result = transport(fake_clock, http).request("PATCH", LIST + "/x/state", body={"command": "restart"},
                                                 reconcile=lambda: UNKNOWN)
    assert result.result == {"state": "restarting"} and len(seen) == 2


def test_create_after_connect_error_found_by_reconcile_is_not_resent(fake_clock):
    http, seen = scripted(httpx.ConnectError("refused"))
    result = transport(fake_clock, http).request("POST", LIST, body={"name": "x"}, reconcile=lambda: {"id": "found"})
    assert result.result == {"id": "found"} and len(seen) == 1 and fake_clock.sleeps == [0.75]


def test_create_with_pacer_reconciles_through_the_line_then_resends(fake_clock):
    pacer = fake_pacer(fake_clock)
    http, seen = scripted(refused("3"), envelope([]), envelope({"id": "new"}))
    t = transport(fake_clock, http, pacer=pacer)
    result = t.request("POST", LIST, body={"name": "x"},
                       reconcile=lambda: t.request("GET", LIST).result or NOT_APPLIED)
    assert result.result == {"id": "new"}
    assert [r.method for r in seen] == ["POST", "GET", "POST"]
    assert fake_clock.sleeps == [3]  # the reconcile's read waited out the hint; the resend did not wait again


# -- TLS verification never heals ---------------------------------------------------------------


def untrusted_certificate():
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                            "self-signed certificate")
    cause.verify_message = "self-signed certificate"
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise httpx.ConnectError(str(exc)) from exc
    except httpx.ConnectError as exc:
        return exc


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_tls_verification_failure_fails_at_once(fake_clock, method):
    http, seen = scripted(untrusted_certificate())
    checks = []
    with pytest.raises(ApiError) as err:
        transport(fake_clock, http).request(method, LIST, reconcile=lambda: checks.append(1) or NOT_APPLIED)
    assert len(seen) == 1 and fake_clock.sleeps == [] and checks == []
    message = err.value.message
    assert "TLS certificate of https://api.example.test/v1 not trusted" in message and "self-signed certificate" in message
    assert "not retried" in message and "ca_path" in message and "validate_certs" in message


def test_tls_verification_failure_names_the_ca_path(fake_clock, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(self_signed()[0])
    http, seen = scripted(untrusted_certificate())
    with pytest.raises(ApiError, match="not trusted by the CA certificates of ca_path %s" % ca):
        transport(fake_clock, http, ca_path=str(ca)).request("GET", LIST)


def self_signed():
    """(certificate PEM, key PEM) for localhost, or skip when cryptography is missing."""
    crypto = pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    assert crypto
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def test_tls_verification_failure_of_a_real_server_is_one_handshake(fake_clock, tmp_path):
    cert, key = self_signed()
    (tmp_path / "cert.pem").write_text(cert)
    (tmp_path / "key.pem").write_text(key)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    handshakes = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def serve():
            try:
                while True:
                    conn, _ignored = listener.accept()
                    handshakes.append(1)
                    try:
                        server_tls.wrap_socket(conn, server_side=True).close()
                    except (ssl.SSLError, OSError):
                        conn.close()
            except OSError:  # the listener was closed, or nobody came back
                pass

        threading.Thread(target=serve, daemon=True).start()
        url = "https://localhost:%d" % listener.getsockname()[1]
        t = Transport(url, "k", "s", sleep=fake_clock.sleep, clock=fake_clock.clock)
        with pytest.raises(ApiError) as err:
            t.request("GET", LIST)
    assert t.requests_sent == 1 and handshakes == [1] and fake_clock.sleeps == []
    assert "TLS certificate of %s/v1 not trusted by the system's CA certificates" % url in err.value.message


# -- against the emulator ------------------------------------------------------------


def emu_transport(emu, clock, **kw):
    kw.setdefault("retries", 3)
    return Transport(emu.url, emu.admin_key[0], emu.admin_key[1], sleep=clock.sleep, clock=clock.clock,
                     rand=lambda: 0.5, **kw)


def emu_path(emu, *rest):
    return "/".join(["/organizations", emu.org_id, "postgres"] + list(rest))


def statuses(emu, since, method=None):
    return [r["status"] for r in emu.requests()[since:] if method is None or r["method"] == method]


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_emulator_5xx_on_read_is_retried(emulator, fake_clock, kind):
    before = len(emulator.requests())
    emulator.inject(kind, method="GET", path="/postgres$", count=2)
    assert emu_transport(emulator, fake_clock).request("GET", emu_path(emulator)).status == 200
    assert statuses(emulator, before) == [int(kind), int(kind), 200]
    assert len(fake_clock.sleeps) == 2


def test_emulator_429_honours_x_ratelimit_reset(emulator, fake_clock):
    before = len(emulator.requests())
    emulator.inject("429", method="GET", path="/postgres$")
    emu_transport(emulator, fake_clock).request("GET", emu_path(emulator))
    assert statuses(emulator, before) == [429, 200]
    assert fake_clock.sleeps == [1.5]  # X-RateLimit-Reset 1.000 plus jitter


def test_emulator_latency_times_out_then_succeeds(emulator, fake_clock):
    emulator.inject("latency", method="GET", path="/postgres$", latency_ms=1500)
    t = emu_transport(emulator, fake_clock, timeout=0.5)
    assert t.request("GET", emu_path(emulator)).status == 200
    assert t.requests_sent == 2


def test_emulator_500_on_create_is_resent_once_nothing_was_created(emulator, fake_clock):
    name = "t500 create"
    before = len(emulator.requests())
    emulator.inject("500", method="POST", path="/postgres$")
    body = {"name": name, "provider": "aws", "region": "us-east-1", "size": "r8gd.large"}
    listed = []

    def reconcile():
        found = [s for s in emu_transport(emulator, fake_clock).request("GET", emu_path(emulator)).result if s["name"] == name]
        listed.append(len(found))
        return found[0] if found else NOT_APPLIED

    result = emu_transport(emulator, fake_clock).request("POST", emu_path(emulator), body=body, reconcile=reconcile).result
    assert result["name"] == name and listed == [0]
    assert statuses(emulator, before, "POST") == [500, 200]


def test_emulator_real_rate_limit_is_ridden_out(emulator_class):
    """A real token bucket (3 per 2 s): ten reads all succeed, pacing by X-RateLimit-Reset."""
    with emulator_class(no_postgres=True, rate_limit="3/2") as emu:
        t = Transport(emu.url, *emu.admin_key, retries=5)
        for _ignored in range(10):
            assert t.request("GET", emu_path(emu)).status == 200
        seen = [r["status"] for r in emu.requests()]
        assert seen.count(200) == 10 and 429 in seen
