# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_password: the API's password rules checked locally, and a generated one returned only on request."""

from __future__ import annotations

import pytest

from ansible_collections.clickhouse.cloud.plugins.modules import postgres_password

SECRET = "Correct-Horse-Battery-9"


@pytest.mark.parametrize("password, fragment", [
    ("Short1a", "12 to 1024 characters (it has 7)"),
    ("alllowercase123", "an uppercase letter"),
    ("ALLUPPERCASE123", "a lowercase letter"),
    ("NoDigitsAtAllHere", "a digit"),
    ("x" * 1025, "12 to 1024 characters (it has 1025), an uppercase letter and a digit"),
])
def test_password_rules_are_checked_before_any_request(run_module, dead_api, password, fragment):
    result = run_module(postgres_password, dict(dead_api, name="x", password=password))
    assert result["failed"] and fragment in result["msg"] and "cannot connect" not in result["msg"]
    assert password not in result["msg"]


def test_a_generated_password_must_be_asked_for(run_module, dead_api):
    result = run_module(postgres_password, dict(dead_api, name="x"))
    assert result["failed"] and "set return_password: true" in result["msg"] and "cannot connect" not in result["msg"]


def test_set_given_password(run_module, emu_args, running_service, writes):
    args = dict(emu_args, id=running_service["id"], password=SECRET, return_password=True)
    predicted = run_module(postgres_password, dict(args, _ansible_check_mode=True))
    assert predicted["changed"] and not predicted["generated"] and writes() == [] and writes.calls() == 1

    writes.mark()
    result = run_module(postgres_password, args)
    assert result["changed"] and not result["generated"] and "password" not in result
    assert result["service"] == {"id": running_service["id"], "name": running_service["name"]}
    assert writes() == [("PATCH", "password")] and writes.calls() == 2
    assert SECRET not in str(result)


def test_rotate_to_a_generated_password(run_module, emu_args, running_service, writes):
    args = dict(emu_args, name=running_service["name"], return_password=True)
    predicted = run_module(postgres_password, dict(args, _ansible_check_mode=True))
    assert predicted["changed"] and predicted["generated"] and "password" not in predicted and writes() == []

    first = run_module(postgres_password, args)
    second = run_module(postgres_password, args)
    assert first["generated"] and len(first["password"]) >= 12
    assert second["password"] != first["password"]  # never idempotent: every run rotates
    assert writes() == [("PATCH", "password"), ("PATCH", "password")]
