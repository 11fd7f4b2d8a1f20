# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's AWX credential type (``extensions/awx/credential_type``), read and injected as AWX does.

Shared by the test that keeps it in step with the modules and the inventory plugin, and by the
tests that run jobs the way AWX runs them (``tests/awx``).
"""

from __future__ import annotations

import os

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TYPE_DIR = os.path.join(ROOT, "extensions", "awx", "credential_type")


def load(name):
    """``inputs`` or ``injectors``: the YAML one pastes into AWX's credential type form."""
    with open(os.path.join(TYPE_DIR, name + ".yml")) as handle:
        return yaml.safe_load(handle)


def injected_env(values):
    """The environment a job gets from a credential with these inputs: AWX renders each injector in a
    sandbox, with the fields the credential leaves empty as empty strings."""
    namespace = {field["id"]: values.get(field["id"], "") for field in load("inputs")["fields"]}
    sandbox = ImmutableSandboxedEnvironment()
    return {name: sandbox.from_string(template).render(**namespace) for name, template in load("injectors")["env"].items()}
