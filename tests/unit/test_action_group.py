# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module that talks to the API is in the ``all`` action group, so module_defaults reach it; no other is."""

from __future__ import annotations

import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODULES = os.path.join(ROOT, "plugins", "modules")


def takes_api_options(name):
    """True when the module's documentation extends the connection options' fragment."""
    with open(os.path.join(MODULES, name + ".py")) as handle:
        text = handle.read()
    doc = yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', text, re.S).group(1))
    return "clickhouse.cloud.api" in doc.get("extends_documentation_fragment", [])


def test_every_module_of_the_api_is_in_the_all_group():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as f:
        group = set(yaml.safe_load(f)["action_groups"]["all"])
    modules = {name[:-3] for name in os.listdir(MODULES) if name.endswith(".py") and not name.startswith("_")}
    api_modules = {name for name in modules if takes_api_options(name)}
    assert api_modules and api_modules != modules  # postgres_fleet_outcome makes no API call
    assert sorted(api_modules - group) == [], "modules missing from action_groups.all in meta/runtime.yml"
    assert sorted(group - api_modules) == [], "action_groups.all names modules that do not exist or take no API options"
