# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module is in the ``all`` action group, so module_defaults reach it."""

from __future__ import annotations

import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_every_module_is_in_the_all_group():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as f:
        group = set(yaml.safe_load(f)["action_groups"]["all"])
    modules = {name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules"))
               if name.endswith(".py") and not name.startswith("_")}
    assert modules, "no modules found"
    assert sorted(modules - group) == [], "modules missing from action_groups.all in meta/runtime.yml"
    assert sorted(group - modules) == [], "action_groups.all names modules that do not exist"
