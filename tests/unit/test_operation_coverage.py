# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every operation of the API (the spec's, plus the logs and the live API's backups operation) is used by some module or plugin.

Which operation a client method sends is not written down by hand: each public
method of ``PostgresApi`` is called against a recording transport, and the
requests it makes are matched to the spec's paths.  Which client methods the
collection uses is read from the code: every ``<...>.api.<method>`` in
``plugins/`` outside the client itself.
"""

from __future__ import annotations

import ast
import inspect
import os
import re

import pytest
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Response
from ansible_collections.clickhouse.cloud.tests.unit.openapi import ROOT, operations

CLIENT = os.path.join("plugins", "module_utils", "_api.py")


class Recorder:
    """A transport that answers every request with an empty success and remembers it."""

    def __init__(self):
        self.sent = []

    def request(self, method, path, body=None, params=None, reconcile=None, text=False):
        self.sent.append((method, "/v1" + path))
        return Response(200, None)


def client_methods():
    return sorted(name for name, member in inspect.getmembers(PostgresApi, inspect.isfunction) if not name.startswith("_"))


def placeholder(parameter):
    """A value of the kind the parameter takes: snake_case field maps for the service writes, text otherwise."""
    if parameter in ("desired", "changes"):
        return {"name": "x"}
    return {} if parameter.endswith("config") else "x"


def sent_by(name):
    """The (METHOD, path) requests one client method makes, called with placeholder arguments."""
    recorder = Recorder()
    api = PostgresApi(recorder, "org-id")
    method = getattr(api, name)
    args = {p.name: placeholder(p.name) for p in inspect.signature(method).parameters.values()
            if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    try:
        answer = method(**args)
        if inspect.isgenerator(answer):
            list(answer)
    except ClickHouseError:  # the recorder's empty answer is malformed; the request it recorded is what counts
        pass
    return recorder.sent


def operation_of(method, path):
    """The operationId whose path template matches; literal segments beat parameters (``/postgres/prometheus``)."""
    matches = []
    for op_method, template, op_id in operations():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if op_method == method and re.match(pattern, path):
            matches.append((template.count("{"), op_id))
    assert matches, "%s %s matches no operation of the spec" % (method, path)
    return min(matches)[1]


def used_client_methods():
    """Names ``n`` of every ``api.n`` / ``<x>.api.n`` in plugins/, the client excluded."""
    known, used = set(client_methods()), {}
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for filename in files:
            path = os.path.join(folder, filename)
            if not filename.endswith(".py") or os.path.relpath(path, ROOT) == CLIENT:
                continue
            with open(path) as handle:
                tree = ast.parse(handle.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in known and _is_api(node.value):
                    used.setdefault(node.attr, set()).add(os.path.relpath(path, ROOT))
    return used


def _is_api(node):
    return (isinstance(node, ast.Name) and node.id == "api") or (isinstance(node, ast.Attribute) and node.attr == "api")


@pytest.mark.parametrize("name", client_methods())
def test_each_client_method_sends_operations_of_the_spec(name):
    sent = sent_by(name)
    assert sent, "%s sent nothing" % name
    for method, path in sent:
        operation_of(method, path)


def test_every_operation_is_used_by_some_module_or_plugin():
    used = used_client_methods()
    covered = {}
    for name, files in used.items():
        for method, path in sent_by(name):
            covered.setdefault(operation_of(method, path), set()).update(files)
    missing = sorted({op_id for _m, _p, op_id in operations()} - set(covered))
    assert missing == [], "operations no module or plugin calls: %s" % ", ".join(missing)


def test_the_operation_list_is_the_spec_plus_logs_and_backups():
    ids = [op_id for _m, _p, op_id in operations()]
    assert len(ids) == len(set(ids)) == 20
    assert "postgresLogsGetList" in ids and "postgresInstanceConfigPatch" in ids and "postgresServiceBackupGetList" in ids
