# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""HTTP transport on httpx: auth, timeouts, TLS, and the retry policy.

Retry rules, in one place:

* a request that never reached the server (connect error, pool timeout) or was
  refused by the rate limiter (429) is always safe to send again; a write with
  a ``reconcile`` callback first asks it whether the server already holds the
  change (another run may have made it meanwhile);
* a read (GET) is also resent after 5xx and lost answers;
* a write (POST, PATCH, DELETE) whose answer was lost or came back 5xx may have
  been committed, so it is resent only after its ``reconcile`` callback has
  looked at the server and said the write did not happen.  Without a callback
  the write is not repeated and the error says the outcome is unknown;
* a TLS certificate that fails verification is never retried: it will not heal.

Only 5xx answers and connection failures spend the ``retries``; a 429 only
costs time.  Delays are jittered exponential backoff, replaced by the server's
own hint (``X-RateLimit-Reset`` or ``Retry-After``) when it gives one, and the
whole exchange, waiting in the pacer's line included, stays inside a time
budget.  With a ``pacer`` (see ``_pacer``) every send first takes a slot, and a
429 makes every process on the key wait out the server's hint.
"""

from __future__ import annotations

import email.utils
import json
import platform
import random
import ssl
import time
import traceback
from urllib.parse import urlsplit

from ._errors import ApiError, InputError, LostAnswerError
from ._version import COLLECTION_NAME, COLLECTION_VERSION

try:
    import httpx
except ImportError:
    HAS_HTTPX = False
    HTTPX_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_HTTPX = True
    HTTPX_IMPORT_ERROR = None

RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))
WRITE_METHODS = frozenset(("POST", "PATCH", "PUT", "DELETE"))
DEFAULT_API_URL = "https://api.clickhouse.cloud/v1"
DEFAULT_BUDGET = 120.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0

# Sentinel a reconcile callback returns when the write did not take effect.
NOT_APPLIED = object()
# What a reconcile returns when the server's state cannot tell whether the write took effect
# and sending it twice would do harm (a second restart): the write is then not resent.
UNKNOWN = object()


def normalize_base_url(url):
    """Accept the URL with or without ``/v1`` (the Terraform provider's variable includes it)."""
    url = (url or DEFAULT_API_URL).rstrip("/")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise InputError("api_url %r is not a valid URL: %s" % (url, exc))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError("api_url %r is not an http(s) URL such as %s" % (url, DEFAULT_API_URL))
    return url if url.endswith("/v1") else url + "/v1"


def user_agent():
    try:
        from ansible.module_utils.ansible_release import __version__ as core_version
    except ImportError:  # pragma: no cover - always present inside ansible
        core_version = "unknown"
    return "%s/%s (ansible-core/%s; python/%s; httpx/%s)" % (
        COLLECTION_NAME, COLLECTION_VERSION, core_version, platform.python_version(),
        getattr(httpx, "__version__", "unknown") if HAS_HTTPX else "missing")


def backoff_delay(retry, rand=random.random, base=BACKOFF_BASE, cap=BACKOFF_CAP):
    """Equal-jitter exponential backoff: half fixed, half random, so forks spread out."""
    ceiling = min(cap, base * (2 ** retry))
    return ceiling / 2 + rand() * ceiling / 2


def hinted_delay(headers, now=time.time):
    """Seconds the server asked us to wait, or None.

    ``X-RateLimit-Reset`` is seconds (a float) until the window resets;
    ``Retry-After`` is seconds or an HTTP date.
    """
    reset = headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            return max(0.0, float(reset))
        except ValueError:
            pass
    after = headers.get("retry-after")
    if after is not None:
        try:
            return max(0.0, float(after))
        except ValueError:
            parsed = email.utils.parsedate_tz(after)
            if parsed is not None:
                return max(0.0, email.utils.mktime_tz(parsed) - now())
    return None


class Response:
    """A successful answer: ``result`` is the unwrapped envelope (or the text); ``has_result`` whether the
    envelope had one at all (only a DELETE answers without)."""

    def __init__(self, status, result, request_id=None, headers=None, has_result=True):
        self.status = status
        self.result = result
        self.has_result = has_result
        self.request_id = request_id
        self.headers = headers or {}


def _error_fields(response):
    """(error text, request id) from an error answer, tolerating any body at all."""
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error") or body.get("message") or body.get("detail")
        request_id = body.get("requestId") or request_id
        if error is not None and not isinstance(error, str):
            error = json.dumps(error, sort_keys=True)
        return error, request_id
    text = response.text.strip()
    return (text[:300] or response.reason_phrase or None), request_id


class Transport:
    """One httpx client for one API key; see the module docstring for the retry rules."""

    def __init__(self, base_url, key_id, key_secret, timeout=30, retries=5, validate_certs=True,
                 ca_path=None, budget=DEFAULT_BUDGET, log=None, http_transport=None,
                 sleep=time.sleep, clock=time.monotonic, rand=random.random, pacer=None):
        self.base_url = normalize_base_url(base_url)
        self.retries = max(0, int(retries))
        self.budget = float(budget)
        self.pacer = pacer
        self._ca_path = ca_path
        self._log = log or (lambda msg: None)
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self.requests_sent = 0
        if not validate_certs:
            verify = False
        elif ca_path:
            verify = ssl.create_default_context(cafile=ca_path)
        else:
            verify = True
        timeout = float(timeout)
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(key_id or "", key_secret or ""),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            verify=verify,
            headers={"User-Agent": user_agent(), "Accept": "application/json"},
            transport=http_transport,
            follow_redirects=False,
        )

    def close(self):
        self._client.close()

    def request(self, method, path, body=None, params=None, text=False, reconcile=None):
        """Send one logical request; return a ``Response`` or raise ``ApiError``.

        ``reconcile`` (writes only) is called after an ambiguous failure; it returns
        the result the server already holds, ``NOT_APPLIED`` to allow a resend, or
        ``UNKNOWN`` when it cannot tell and a resend could do harm.  Before a resend
        after a 429 or a connect error, which surely did not apply, only a result
        stops the resend.
        """
        method = method.upper()
        deadline = self._clock() + self.budget
        attempt = failures = refusals = 0
        failure = None
        while True:
            slot = self._take_slot(method, path, deadline, failure)
            attempt += 1
            response, failure, kind, hint = self._attempt(method, path, body, params, text, attempt)
            if response is not None:
                return response
            if kind == FATAL:
                raise failure
            if kind == AMBIGUOUS:
                outcome = self._reconcile_lost_answer(method, path, failure, attempt, reconcile)
                if outcome is not None:
                    return outcome
            if failure.status == 429:
                refusals += 1
                self._wait_out_refusal(method, path, failure, hint, refusals, slot, deadline)
            else:
                failures += 1
                if failures > self.retries:
                    raise _with_reason(failure, "retries exhausted")
                delay = hint + self._rand() if hint is not None else backoff_delay(failures - 1, self._rand)
                self._check_budget(failure, delay, deadline)
                self._log("%s %s: %s; retry %d/%d in %.1f s" % (method, path, _describe(failure), failures,
                                                                self.retries, delay))
                self._sleep(delay)
            if kind == RETRY and method in WRITE_METHODS and reconcile is not None:
                outcome = reconcile()
                if outcome is not NOT_APPLIED and outcome is not UNKNOWN:
                    self._log("%s %s: the server already holds the change (made meanwhile by another run?); "
                              "not resending" % (method, path))
                    return Response(200, outcome)

    def _reconcile_lost_answer(self, method, path, failure, attempt, reconcile):
        """After an ambiguous failure: the ``Response`` the server already holds, None to resend, or raise."""
        if reconcile is None:
            raise LostAnswerError(method, path, status=failure.status, error=failure.error,
                                  request_id=failure.request_id, attempts=attempt,
                                  reason="the write may or may not have been applied, so it was not resent")
        self._log("%s %s: %s; checking whether the write was applied before resending"
                  % (method, path, _describe(failure)))
        outcome = reconcile()
        if outcome is UNKNOWN:
            raise LostAnswerError(method, path, status=failure.status, error=failure.error,
                                  request_id=failure.request_id, attempts=attempt,
                                  reason="the server's state cannot tell whether it was applied, "
                                         "and sending it twice would do harm, so it was not resent")
        if outcome is not NOT_APPLIED:
            self._log("%s %s: the server already holds the change; not resending" % (method, path))
            return Response(200, outcome)
        return None

    def _wait_out_refusal(self, method, path, failure, hint, refusals, slot, deadline):
        """A 429 costs time, not an attempt: wait out the server's hint, or back off without one.

        With a pacer the wait is recorded for every process on the key and
        served in ``_take_slot``; the pacer's order replaces the jitter.
        """
        pause = hint if hint is not None else backoff_delay(refusals - 1, self._rand)
        if self.pacer is not None:
            self.pacer.refused(slot, pause)
            self._log("%s %s: HTTP 429 (refusal %d); every request on this API key waits %.1f s"
                      % (method, path, refusals, pause))
            return
        delay = pause + self._rand() if hint is not None else pause  # every fork sees the same window edge
        self._check_budget(failure, delay, deadline)
        self._log("%s %s: HTTP 429 (refusal %d); rate limited, sending again in %.1f s"
                  % (method, path, refusals, delay))
        self._sleep(delay)

    def _take_slot(self, method, path, deadline, failure):
        """Wait in the pacer's line until this send may go; the slot, or None without a pacer."""
        if self.pacer is None:
            return None
        while True:
            slot = self.pacer.reserve(max_wait=deadline - self._clock())
            if not slot.reserved:
                if failure is None:
                    failure = ApiError(method, path, error="rate limit: %d requests on this API key are queued ahead "
                                                           "on this controller" % slot.queued)
                raise _with_reason(failure, self._over_budget(slot.wait))
            if slot.wait <= 0:
                return slot
            self._log("%s %s: rate limit: waiting %.1f s for a slot (%d queued)" % (method, path, slot.wait, slot.queued))
            self._sleep(slot.wait)
            if self.pacer.confirm(slot):
                return slot
            self._log("%s %s: rate limit: the server asked every request on this key to wait; queueing again"
                      % (method, path))

    def _check_budget(self, failure, delay, deadline):
        if self._clock() + delay > deadline:
            raise _with_reason(failure, self._over_budget(delay))

    def _over_budget(self, delay):
        return "waiting %.1f s more would exceed the %.0f s retry budget" % (delay, self.budget)

    def _attempt(self, method, path, body, params, text, attempt):
        """One HTTP exchange: ``(response, None, None, None)`` or ``(None, error, kind, hint)``."""
        is_write = method in WRITE_METHODS
        unsure = AMBIGUOUS if is_write else RETRY
        self.requests_sent += 1
        try:
            response = self._client.request(method, path, json=body, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            untrusted = _certificate_error(exc)
            if untrusted is not None:
                return None, self._untrusted_certificate(method, path, untrusted, attempt), FATAL, None
            # Never reached the server: safe for reads and writes alike.
            return None, ApiError(method, path, error="cannot connect: %s" % _exc_text(exc), attempts=attempt), RETRY, None
        except httpx.TimeoutException as exc:
            return None, ApiError(method, path, error="no answer within the timeout (%s)" % type(exc).__name__,
                                  attempts=attempt), unsure, None
        except httpx.TransportError as exc:
            return None, ApiError(method, path, error="connection lost before the answer: %s" % _exc_text(exc),
                                  attempts=attempt), unsure, None

        status = response.status_code
        if 200 <= status < 300:
            return self._success(method, path, response, text, attempt)
        error, request_id = _error_fields(response)
        failure = ApiError(method, path, status=status, error=error, request_id=request_id, attempts=attempt)
        if status not in RETRY_STATUSES:
            return None, failure, FATAL, None
        hint = hinted_delay(response.headers)
        # 429 is the rate limiter refusing before any work; a 5xx may hide a committed write.
        return None, failure, RETRY if status == 429 else unsure, hint

    def _untrusted_certificate(self, method, path, error, attempt):
        """A certificate that fails verification will fail again: say which options fix it."""
        where = ("the CA certificates of ca_path %s" % self._ca_path) if self._ca_path else "the system's CA certificates"
        return ApiError(method, path, attempts=attempt,
                        error="TLS certificate of %s not trusted by %s: %s" % (
                            self.base_url, where, getattr(error, "verify_message", None) or _exc_text(error)),
                        reason="not retried: set ca_path to a PEM file with the CA that signed the API's certificate, "
                               "or validate_certs to false for a test endpoint")

    def _success(self, method, path, response, text, attempt):
        request_id = response.headers.get("x-request-id")
        if text:
            return Response(response.status_code, response.text, request_id, response.headers), None, None, None
        if not response.content:
            return Response(response.status_code, None, request_id, response.headers, has_result=False), None, None, None
        try:
            envelope = response.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than any answer of the API
            envelope = None
        if not isinstance(envelope, dict):
            return None, ApiError(method, path, status=response.status_code, request_id=request_id, attempts=attempt,
                                  error="malformed answer, expected a JSON envelope: %r" % response.text.strip()[:200]), FATAL, None
        if envelope.get("error") is not None:  # a success status cannot carry an error: trust neither
            return None, ApiError(method, path, status=response.status_code, request_id=request_id, attempts=attempt,
                                  error="malformed answer, an error in a success: %s" % str(envelope["error"])[:200]), FATAL, None
        return Response(response.status_code, envelope.get("result"), envelope.get("requestId") or request_id,
                        response.headers, has_result="result" in envelope), None, None, None


RETRY = "retry"
AMBIGUOUS = "ambiguous"
FATAL = "fatal"


def _exc_text(exc):
    return str(exc) or type(exc).__name__


def _certificate_error(exc):
    """The ``ssl.SSLCertVerificationError`` behind an httpx error (httpcore chains it), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _describe(failure):
    return "HTTP %s" % failure.status if failure.status else failure.error


def _with_reason(failure, reason):
    return ApiError(failure.method, failure.path, status=failure.status, error=failure.error,
                    request_id=failure.request_id, attempts=failure.attempts, reason=reason)
