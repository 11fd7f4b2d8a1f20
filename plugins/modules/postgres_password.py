#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_password
short_description: Set or rotate the superuser password of a ClickHouse Cloud Managed Postgres service
version_added: 0.1.0
description:
  - Sets the password of the C(postgres) superuser of a service to O(password), for example one kept in Ansible
    Vault, or, without O(password), rotates it to a new one the API generates.
  - The API cannot tell whether the current password equals the wanted one, and never shows it, so every run that
    gets this far sets it again and reports a change. Choose when the task runs; see the notes for the two usual
    choices, C(on_create) and C(always).
  - The generated password is returned only when O(return_password=true).
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.service
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Sends nothing and reports the change that would be made.
  diff_mode:
    support: none
    details: A password is never shown, so there is nothing to compare.
options:
  password:
    description:
      - The password to set, 12 to 1024 characters with at least one lowercase letter, one uppercase letter and one
        digit. Checked before anything is sent; never logged nor returned.
      - Without it, the API generates a new password (a rotation), which then requires O(return_password=true).
    type: str
  return_password:
    description:
      - Return the generated password as RV(password). Put C(no_log) on the task, because Ansible cannot hide a
        returned value on its own.
      - Required with a generated password, since the API shows it only once, in this answer; a password nobody can
        read would lock everyone out until the next rotation.
      - Has no effect with O(password), which is never returned.
    type: bool
    default: false
notes:
  - "C(on_create): set the password from Vault only when the service did not exist before the play created it: look
    for it with M(clickhouse.cloud.postgres_info) first and run this task with
    C(when: existing.services | length == 0) (see the examples). Later runs skip it, so the play stays idempotent,
    and a password changed out of band is left alone."
  - "C(always): run the task without a condition. The password is set on every run, which repairs a password changed
    out of band, and the task reports a change every time (the API cannot say whether it was already set)."
  - Rotation to a generated password is the same C(always) case; run it on a schedule, with O(return_password=true)
    and C(no_log), and store the result at once (for example in a vault).
  - Two API calls, one to find the service and one to set the password. Existing connections keep working; new ones
    need the new password.
seealso:
  - module: clickhouse.cloud.postgres_service
"""

EXAMPLES = r"""
- name: Does the service exist yet?
  clickhouse.cloud.postgres_info:
    name: orders
  register: existing

- name: Create the service
  clickhouse.cloud.postgres_service:
    name: orders
    provider: aws
    region: us-east-1
    size: r8gd.large
  register: svc
  no_log: true

- name: on_create - set the Vault password only when the service was just created
  clickhouse.cloud.postgres_password:
    id: "{{ svc.service.id }}"
    password: "{{ vault_orders_postgres_password }}"
  when: existing.services | length == 0

- name: always - re-assert the Vault password on every run (always reports a change)
  clickhouse.cloud.postgres_password:
    name: orders
    password: "{{ vault_orders_postgres_password }}"

- name: Rotate to a generated password and keep it
  clickhouse.cloud.postgres_password:
    name: orders
    return_password: true
  register: rotated
  no_log: true

- name: Store it at once
  ansible.builtin.copy:
    content: "{{ rotated.password }}"
    dest: /etc/orders/pg-password
    mode: "0600"
  no_log: true
"""

RETURN = r"""
generated:
  description: True when the API generated the password (no O(password) was given).
  returned: success
  type: bool
  sample: true
password:
  description:
    - B(Sensitive.) The generated password. Put C(no_log) on the task.
  returned: when the API generated it and O(return_password=true), except in check mode
  type: str
  sample: vV6cfEr2p_-TzkCDrZOx
service:
  description: The service whose password was set.
  returned: success
  type: dict
  sample: {"id": "67b4bc12-8582-45d0-8806-fe9b2e5a54e6", "name": "orders"}
"""

import re

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule

RULES = ((re.compile(r"[a-z]"), "a lowercase letter"), (re.compile(r"[A-Z]"), "an uppercase letter"),
         (re.compile(r"[0-9]"), "a digit"))


def check_password(password):
    """The API's rules, checked locally; the message never contains the password."""
    problems = [] if 12 <= len(password) <= 1024 else ["12 to 1024 characters (it has %d)" % len(password)]
    problems += [what for pattern, what in RULES if not pattern.search(password)]
    if problems:
        listed = ", ".join(problems[:-1]) + " and " + problems[-1] if len(problems) > 1 else problems[0]
        raise InputError("password must have %s. Nothing was changed." % listed)


def run(module):
    p = module.params
    generated = p["password"] is None
    if generated and not p["return_password"]:
        raise InputError("Without password the API generates one and shows it only in its answer: set "
                         "return_password: true (with no_log: true on the task) to keep it, or give password.")
    if not generated:
        check_password(p["password"])
    engine = module.resource()
    service = module.find_service(engine)
    result = {"changed": True, "generated": generated, "service": {"id": service["id"], "name": service.get("name")}}
    if module.check_mode:
        return result
    new = engine.write(module.api.set_password, service["id"], p["password"])
    if generated:
        result["password"] = new
    return result


def main():
    module = ServiceModule(
        argument_spec=dict(
            password=dict(type="str", no_log=True),
            return_password=dict(type="bool", default=False, no_log=False),
        ),
    )
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
