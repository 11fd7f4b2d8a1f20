# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slow_query_patterns: paging past 500, query ids kept verbatim, windows, deterministic order (respx)."""

from __future__ import annotations

import calendar
import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from ansible_collections.clickhouse.cloud.plugins.modules import slow_query_patterns

URL = "https://api.example.test/v1"
ORG = "11111111-2222-4333-8444-555555555555"
SID = "22222222-3333-4444-8555-666666666666"
BASE = "%s/organizations/%s/postgres/%s" % (URL, ORG, SID)
ARGS = {"api_url": URL, "api_key_id": "k", "api_key_secret": "s", "organization_id": ORG, "id": SID, "api_retries": 0}
MIN_INT64 = "-9223372036854775808"


def pattern(n, **fields):
    base = {"queryId": str(-4748036479882663975 + n), "queryText": "SELECT $%d" % n, "dbName": "app", "dbUser": "u",
            "dbOperation": "SELECT", "app": "web", "callCount": n, "errorCount": 0, "totalDurationUs": 1000 - n}
    base.update(fields)
    return base


def envelope(result):
    return httpx.Response(200, json={"result": result, "requestId": "r", "status": 200})


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as mock:
        mock.get(BASE).mock(return_value=envelope({"id": SID, "name": "svc", "state": "running", "postgresVersion": "17"}))
        yield mock


def serve_patterns(api, total):
    """The list endpoint over ``total`` patterns, honouring limit/offset; returns the (limit, offset) pairs asked."""
    asked = []

    def handler(request):
        query = parse_qs(urlsplit(str(request.url)).query)
        limit, offset = int(query["limit"][0]), int(query["offset"][0])
        asked.append((limit, offset))
        return envelope([pattern(n) for n in range(offset, min(total, offset + limit))])

    api.get(BASE + "/slowQueryPatterns").mock(side_effect=handler)
    return asked


@pytest.mark.parametrize("limit, offset, total, pages, returned", [
    (20, 0, 1100, [(20, 0)], 20),
    (1200, 0, 1100, [(500, 0), (500, 500), (200, 1000)], 1100),  # pages by itself past the API's 500
    (1000, 0, 1000, [(500, 0), (500, 500)], 1000),  # a full last page asks for nothing more
    (10, 30, 1100, [(10, 30)], 10),
    (600, 1000, 1100, [(500, 1000)], 100),
    (5, 0, 0, [(5, 0)], 0),
])
def test_paging(run_module, api, limit, offset, total, pages, returned):
    asked = serve_patterns(api, total)
    result = run_module(slow_query_patterns, dict(ARGS, limit=limit, offset=offset))
    assert not result["changed"] and asked == pages and len(result["patterns"]) == returned


def test_window_filters_and_sort_are_sent(run_module, api):
    asked = []
    api.get(BASE + "/slowQueryPatterns").mock(side_effect=lambda request: asked.append(request) or envelope([]))
    before = time.time()
    result = run_module(slow_query_patterns, dict(ARGS, db_operation="select", app="web", sort_by="call_count",
                                                  sort_order="asc", db_name="app", db_user="u"))
    query = {k: v[0] for k, v in parse_qs(urlsplit(str(asked[0].url)).query).items()}
    assert query["db_operation"] == "SELECT" and query["app"] == "web" and query["sort_by"] == "call_count"
    assert query["sort_order"] == "asc" and query["db_name"] == "app" and query["db_user"] == "u"
    start, end = (calendar.timegm(time.strptime(query[k], "%Y-%m-%dT%H:%M:%SZ")) for k in ("from_date", "to_date"))
    assert end - start == 86400 and before <= end <= time.time() + 1  # default: the last 24 hours, up to now
    assert result["window"] == {"from": query["from_date"], "to": query["to_date"]} and result["patterns"] == []


def test_ties_are_ordered_the_same_on_every_run(run_module, api):
    rows = [pattern(3, totalDurationUs=50), pattern(1, totalDurationUs=50), pattern(2, totalDurationUs=90),
            pattern(0, totalDurationUs=50, dbName="aaa")]
    api.get(BASE + "/slowQueryPatterns").mock(return_value=envelope(rows))
    result = run_module(slow_query_patterns, ARGS)
    # 90 first; then the three 50s by query id, numerically (-...975 < -...974 < -...972)
    assert [p["query_text"] for p in result["patterns"]] == ["SELECT $2", "SELECT $0", "SELECT $1", "SELECT $3"]
    assert set(result["patterns"][0]) >= {"query_id", "query_text", "call_count", "total_duration_us", "db_operation"}


def test_query_ids_are_kept_verbatim_both_ways(run_module, api):
    """Ids beyond 2**53 would change through a float; sent and returned as the exact text."""
    body = {"aggregate": pattern(0, queryId=MIN_INT64),
            "recentExecutions": [{"timestamp": "2026-03-31T18:17:36Z", "queryId": MIN_INT64, "pid": "7", "durationUs": 5},
                                 {"timestamp": "2026-03-31T18:17:37Z", "queryId": MIN_INT64, "pid": "8", "durationUs": 6}]}
    route = api.get(BASE + "/slowQueryPatterns/" + MIN_INT64).mock(return_value=envelope(body))
    result = run_module(slow_query_patterns, dict(ARGS, query_id=MIN_INT64, db_name="app", db_user="u",
                                                  db_operation="select"))
    assert route.called and urlsplit(str(route.calls[0].request.url)).path.endswith("/" + MIN_INT64)
    assert parse_qs(urlsplit(str(route.calls[0].request.url)).query)["db_operation"] == ["SELECT"]
    assert result["pattern"]["aggregate"]["query_id"] == MIN_INT64 and result["patterns"][0]["query_id"] == MIN_INT64
    assert [e["pid"] for e in result["pattern"]["recent_executions"]] == ["8", "7"]  # newest first
    assert result["pattern"]["recent_executions"][0]["duration_us"] == 6


def test_numeric_query_ids_from_the_api_become_exact_text(run_module, api):
    raw = '{"result": [{"queryId": -4748036479882663975, "callCount": 1}], "requestId": "r", "status": 200}'
    api.get(BASE + "/slowQueryPatterns").mock(return_value=httpx.Response(200, text=raw,
                                                                          headers={"Content-Type": "application/json"}))
    assert run_module(slow_query_patterns, ARGS)["patterns"][0]["query_id"] == "-4748036479882663975"


def test_an_integer_query_id_in_yaml_is_not_rounded(run_module, api):
    big = -4748036479882663975  # YAML without quotes: an int, which Ansible turns into its exact text
    route = api.get(re.compile(re.escape(BASE) + "/slowQueryPatterns/.*")).mock(return_value=envelope({"recentExecutions": []}))
    run_module(slow_query_patterns, dict(ARGS, query_id=big, db_name="a", db_user="b", db_operation="SELECT"))
    assert urlsplit(str(route.calls[0].request.url)).path.endswith("/%d" % big)


def test_unknown_pattern_is_null(run_module, api):
    api.get(BASE + "/slowQueryPatterns/42").mock(return_value=httpx.Response(
        404, json={"status": 404, "error": "NOT_FOUND: query pattern 42", "requestId": "r"}))
    result = run_module(slow_query_patterns, dict(ARGS, query_id="42", db_name="a", db_user="b", db_operation="SELECT"))
    assert not result.get("failed") and result["pattern"] is None and result["patterns"] == []


@pytest.mark.parametrize("args, fragment", [
    ({"query_id": "12a"}, "query_id must be a signed 64-bit integer"),
    ({"query_id": "9223372036854775808"}, "query_id must be a signed 64-bit integer"),
    ({"query_id": "-1.5e3"}, "query_id must be a signed 64-bit integer"),
    ({"query_id": "../config"}, "query_id must be a signed 64-bit integer"),
    ({"limit": 0}, "limit must be at least 1"),
    ({"from": "soon"}, "from must be 'now'"),
    ({"from": "1h", "to": "2h"}, "The window is empty"),
])
def test_bad_input_sends_nothing(run_module, dead_api, args, fragment):
    full = dict(dead_api, id=SID, **args)
    if "query_id" in args:
        full.update(db_name="a", db_user="b", db_operation="SELECT")
    result = run_module(slow_query_patterns, full)
    assert result["failed"] and fragment in result["msg"] and "cannot connect" not in result["msg"]


def test_query_id_needs_the_rest_of_its_identity(run_module, dead_api):
    result = run_module(slow_query_patterns, dict(dead_api, id=SID, query_id="1"))
    assert result["failed"] and "missing parameter(s) required by 'query_id': db_name, db_user, db_operation" in result["msg"]


def test_read_only_in_check_mode(run_module, api):
    serve_patterns(api, 3)
    result = run_module(slow_query_patterns, dict(ARGS, _ansible_check_mode=True))
    assert not result["changed"] and len(result["patterns"]) == 3
    assert all(call.request.method == "GET" for call in api.calls)
    assert json.dumps(result)  # plain JSON


@pytest.mark.parametrize("args, text", [
    ({"timestamp": "1h"}, "missing parameter(s) required by 'timestamp': query_id"),
    ({"query_id": "42", "db_name": "d", "db_user": "u", "db_operation": "SELECT", "timestamp": "yesterday"},
     "timestamp must be 'now', a time before now"),
])
def test_timestamp_of_one_pattern_is_checked_before_any_request(run_module, dead_api, args, text):
    result = run_module(slow_query_patterns, dict(dead_api, name="x", **args))
    assert result["failed"] and text in result["msg"] and "cannot connect" not in result["msg"]
