# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generated bad input (hypothesis): every case ends in one clean failure or a correct result, never an exception.

Bad arguments run against ``dead_api``, where any request would fail as "cannot connect": a clean refusal
without that text proves nothing was sent. Bad answers come from a local server that serves generated JSON
(or bytes) to every request. Each test prints how many cases it ran.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from ansible_collections.clickhouse.cloud.plugins.modules import postgres_config, postgres_info, postgres_service
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

# hypothesis keeps a directory of its own even without an example database: not in the checkout, where every
# untracked file lands in ansible-test's copies
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "clickhouse-cloud-hypothesis"))

NEW = {"provider": "aws", "region": "us-east-1", "size": "r8gd.large", "ip_access_list": []}
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)  # no lone surrogates: not JSON
CONTROL = st.sampled_from([chr(i) for i in range(32)] + [chr(i) for i in range(127, 160)])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)
# objects shaped like the API's, so the cases reach past the first type check
SERVICE_SHAPED = st.fixed_dictionaries({"id": JSON, "name": JSON}, optional={
    "state": JSON, "size": JSON, "tags": JSON, "provider": JSON, "region": JSON, "postgresVersion": JSON,
    "pgConfig": JSON, "pgBouncerConfig": JSON, "ipAccessList": JSON, "haType": JSON})
CASES = 60  # per test: a few hundred a run, in seconds


def run_cases(strategy, check):
    """``check`` on ``CASES`` generated values; the number of cases that ran."""
    ran = []

    @settings(max_examples=CASES, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def case(value):
        ran.append(value)
        check(value)

    case()
    return len(ran)


def report(capsys, name, count):
    with capsys.disabled():
        print("\n%s: %d generated cases" % (name, count))
    assert count >= CASES // 2


def assert_clean_failure(result):
    """Failed with one message, no traceback, and nothing sent (a request to dead_api says "cannot connect")."""
    assert result.get("failed") is True, result
    assert isinstance(result.get("msg"), str) and result["msg"], result
    assert "exception" not in result and "Traceback" not in result["msg"], result["msg"][:500]
    assert "cannot connect" not in result["msg"], result["msg"][:500]


BAD_NAMES = st.one_of(
    st.tuples(TEXT, CONTROL, TEXT).map("".join),  # a control character anywhere
    st.text(alphabet="abc-", min_size=51, max_size=80),  # too long
    st.tuples(st.sampled_from([" ", "\u00a0", "\u3000"]), st.text(alphabet="ab", min_size=1, max_size=5)).map("".join),
    st.just(""),
)
NOT_TEXT = st.one_of(st.lists(JSON, min_size=1, max_size=3), st.dictionaries(TEXT, JSON, min_size=1, max_size=3))
NOT_WHOLE = st.one_of(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
                      st.floats(allow_nan=True).filter(lambda x: math.isnan(x) or math.isinf(x)),
                      st.text(alphabet="0123456789", min_size=400, max_size=5000).map(lambda digits: "9" + digits),
                      st.lists(st.integers(), min_size=1, max_size=2))
FUTURE = st.integers(min_value=1, max_value=10 ** 6).map(
    lambda minutes: (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes + 60)).isoformat())


@pytest.mark.parametrize("family, strategy, args", [
    ("service name", BAD_NAMES, lambda v: dict(NEW, name=v)),
    ("service size", NOT_TEXT, lambda v: dict(NEW, name="gen", size=v)),
    ("service state", TEXT.filter(lambda s: s not in ("present", "absent", "restarted", "promoted", "switched_over")),
     lambda v: dict(NEW, name="gen", state=v)),
    ("service whole-number setting", NOT_WHOLE, lambda v: dict(NEW, name="gen", pg_config={"max_connections": v})),
    ("service restore target in the future", FUTURE, lambda v: dict(NEW, name="gen", restore_from="gen-source", restore_target=v)),
    ("service unknown option", st.from_regex(r"\A[a-z_]{1,12}\Z"),  # no option starts with gen_
     lambda v: dict(NEW, name="gen", **{"gen_" + v: 1})),
])
def test_bad_service_arguments_fail_before_any_request(run_module, dead_api, capsys, family, strategy, args):
    report(capsys, family, run_cases(strategy, lambda v: assert_clean_failure(run_module(postgres_service, dict(dead_api, **args(v))))))


@pytest.mark.parametrize("family, strategy, args", [
    # (a name here is only a look-up key: postgres_config looks any name up, one GET, and writes nothing)
    ("config whole-number setting", NOT_WHOLE, lambda v: dict(name="gen", pg_config={"max_connections": v})),
    ("config restart", TEXT.filter(lambda s: s not in ("never", "if_required", "always")),
     lambda v: dict(name="gen", pg_config={"work_mem": "8MB"}, restart=v)),
    ("config bouncer values", NOT_TEXT, lambda v: dict(name="gen", pg_bouncer_config={"default_pool_size": v})),
])
def test_bad_config_arguments_fail_before_any_request(run_module, dead_api, capsys, family, strategy, args):
    report(capsys, family, run_cases(strategy, lambda v: assert_clean_failure(run_module(postgres_config, dict(dead_api, **args(v))))))


@pytest.mark.parametrize("family, strategy, args", [
    ("info role", TEXT.filter(lambda s: s not in ("all", "primary", "replica")), lambda v: dict(role=v)),
    ("info pattern limit", st.integers(max_value=0), lambda v: dict(include_slow_query_patterns={"limit": v})),
    ("info tags", NOT_TEXT, lambda v: dict(tags=v)),
])
def test_bad_info_arguments_fail_before_any_request(run_module, dead_api, capsys, family, strategy, args):
    report(capsys, family, run_cases(strategy, lambda v: assert_clean_failure(run_module(postgres_info, dict(dead_api, **args(v))))))


@pytest.fixture
def junk_api(dead_api):
    """A server answering every request with HTTP 200 and ``server.body``; connection options pointing at it."""
    class Handler(BaseHTTPRequestHandler):
        def answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(server.body)))
            self.end_headers()
            self.wfile.write(server.body)

        do_GET = do_POST = do_PATCH = do_DELETE = answer

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.body = b""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # unpaced: a few hundred requests in seconds, not at the API's 10 per 10 s
    yield server, dict(dead_api, api_url="http://127.0.0.1:%d" % server.server_address[1], api_rate_limit="off")
    server.shutdown()
    server.server_close()


BODIES = st.one_of(
    st.builds(lambda result: {"result": result, "requestId": "gen"}, JSON | SERVICE_SHAPED | st.lists(SERVICE_SHAPED, max_size=3)),
    JSON,
).map(lambda value: json.dumps(value).encode()) | st.binary(max_size=40)


def assert_clean(result):
    """A clean failure, or a success that holds what the module promises."""
    assert "exception" not in result, result.get("exception", "")[:500]
    if result.get("failed"):
        assert isinstance(result.get("msg"), str) and result["msg"] and "Traceback" not in result["msg"]
    return not result.get("failed")


@pytest.mark.parametrize("family, module, args, promise", [
    ("info listing", postgres_info, {}, lambda r: isinstance(r["services"], list) and all(isinstance(s, dict) for s in r["services"])),
    ("info one service", postgres_info, {"id": "gen"},
     lambda r: isinstance(r["services"], list) and all(isinstance(s, dict) for s in r["services"])),
])
def test_generated_answers_end_in_a_clean_failure_or_a_correct_result(run_module, junk_api, capsys, family, module, args, promise):
    server, api_args = junk_api

    def check(body):
        server.body = body
        result = run_module(module, dict(api_args, **args))
        if assert_clean(result):
            assert promise(result), result

    report(capsys, family, run_cases(BODIES, check))


# found by the generated answers: a service answer without an id passed the model, then a module read
# service['id'] (KeyError); the client now refuses it as malformed
@pytest.mark.parametrize("module, args", [
    (postgres_info, {"id": "gen", "include_config": True}),
    (postgres_info, {"id": "gen", "include_ca_certificate": True}),
    (postgres_config, {"id": "gen", "pg_config": {"work_mem": "8MB"}, "wait": False}),
])
def test_a_service_answer_without_an_id_fails_as_a_malformed_answer(run_module, junk_api, module, args):
    server, api_args = junk_api
    server.body = b'{"result": {}, "requestId": "gen"}'
    result = run_module(module, dict(api_args, **args))
    assert result["failed"] and "malformed" in result["msg"] and "exception" not in result
