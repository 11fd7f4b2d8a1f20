# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX credential type injects the environment variables the modules and the inventory plugin read,
and the two read the same ones: a test fails when any of them drifts."""

from __future__ import annotations

import yaml
from ansible_collections.clickhouse.cloud.plugins.doc_fragments.api import ModuleDocFragment
from ansible_collections.clickhouse.cloud.plugins.inventory import postgres
from ansible_collections.clickhouse.cloud.plugins.module_utils._module import common_argument_spec
from ansible_collections.clickhouse.cloud.tests.unit.awx_credential import injected_env, load

SPEC = common_argument_spec()
# option -> the environment variables the modules read it from, in order
MODULE_ENV = {name: list(option["fallback"][1]) for name, option in SPEC.items() if "fallback" in option}
PLUGIN_OPTIONS = yaml.safe_load(ModuleDocFragment.PLUGINS)["options"]


def test_the_inventory_reads_the_modules_environment_and_defaults():
    assert "clickhouse.cloud.api.plugins" in yaml.safe_load(postgres.DOCUMENTATION)["extends_documentation_fragment"]
    assert not set(yaml.safe_load(postgres.DOCUMENTATION)["options"]) & set(SPEC), "the fragment's options are not redefined"
    assert sorted(PLUGIN_OPTIONS) == sorted(SPEC)
    plugin_env = {name: [entry["name"] for entry in option["env"]] for name, option in PLUGIN_OPTIONS.items() if "env" in option}
    assert plugin_env == MODULE_ENV
    for name, option in SPEC.items():
        assert PLUGIN_OPTIONS[name].get("default") == option.get("default"), name
        assert PLUGIN_OPTIONS[name].get("required", False) == option.get("required", False), name


def test_the_credential_type_injects_what_both_read():
    inputs, injectors = load("inputs"), load("injectors")
    fields = {field["id"]: field for field in inputs["fields"]}
    assert set(fields) <= set(MODULE_ENV), "every field is a connection option with environment variables"
    # each field reaches its option through the option's first (preferred) variable, and nothing else is injected
    assert sorted(injectors["env"]) == sorted(MODULE_ENV[name][0] for name in fields)
    assert not injectors.get("extra_vars") and not injectors.get("file")
    assert sorted(inputs["required"]) == sorted(name for name, option in SPEC.items() if option.get("required"))
    for name, field in fields.items():
        assert field.get("secret", False) == SPEC[name].get("no_log", False), name
        assert field["type"] == "string"


def test_a_credential_injects_its_values_and_the_defaults_for_empty_fields():
    values = {"organization_id": "org", "api_key_id": "key", "api_key_secret": "s3cret"}
    env = injected_env(values)
    fields = [field["id"] for field in load("inputs")["fields"]]
    for name in fields:
        variable = MODULE_ENV[name][0]
        assert env[variable] == values.get(name, SPEC[name].get("default")), variable
    assert injected_env(dict(values, api_url="http://127.0.0.1:9/v1"))["CLICKHOUSE_API_URL"] == "http://127.0.0.1:9/v1"
