#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_certificate
short_description: Write the CA certificate of a ClickHouse Cloud Managed Postgres service to a file
version_added: 0.1.0
description:
  - Writes the CA certificate (PEM) that signs a service's server certificate, which clients need to verify the
    server (C(sslmode=verify-full)), to O(dest) on the host the task runs on. Each service has its own CA.
  - The file is written with mode C(0600) unless O(mode) says otherwise, and only when its content or attributes
    differ; the task reports a change exactly then.
  - Changes nothing in ClickHouse Cloud. To only read the certificate, use M(clickhouse.cloud.postgres_certificate_info).
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.service
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the certificate and reports whether O(dest) would change, without writing it.
  diff_mode:
    support: full
    details: Shows the old and new content of O(dest), and its attributes.
options:
  dest:
    description:
      - File to write the certificate to. Its directory must exist.
      - Unchanged (and not rewritten) when the file already holds the same PEM with the wanted attributes.
      - Written with mode C(0600) unless O(mode) is set; O(owner), O(group) and the other file options apply too.
    type: path
    required: true
notes:
  - Two API calls, one to find the service and one for the certificate.
seealso:
  - module: clickhouse.cloud.postgres_certificate_info
  - module: clickhouse.cloud.postgres_info
"""

EXAMPLES = r"""
- name: Write the CA certificate for the application
  clickhouse.cloud.postgres_certificate:
    name: orders
    dest: /etc/orders/postgres-ca.pem
    owner: orders
    mode: "0640"

- name: Connect with full verification
  ansible.builtin.debug:
    msg: "sslmode=verify-full sslrootcert=/etc/orders/postgres-ca.pem"
"""

RETURN = r"""
certificate:
  description: The CA certificate(s) of the service, PEM, as the API sent it.
  returned: success
  type: str
  sample: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
dest:
  description: The file written (or checked).
  returned: success
  type: str
  sample: /etc/orders/postgres-ca.pem
diff:
  description: The old and new content of O(dest), and any attribute change.
  returned: when diff mode is on and O(dest) changes
  type: list
  elements: dict
"""

import os
import tempfile

from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError, InputError
from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule

DEFAULT_MODE = "0600"


def current_content(dest):
    """What ``dest`` holds now (None when missing); a directory is an input error."""
    if os.path.isdir(dest):
        raise InputError("dest %s is a directory; give the path of the file to write" % dest)
    if not os.path.exists(dest):
        if not os.path.isdir(os.path.dirname(dest) or "."):
            raise InputError("dest %s: the directory %s does not exist" % (dest, os.path.dirname(dest)))
        return None
    with open(dest, "rb") as handle:
        return handle.read()


def write(module, dest, pem):
    """Atomically: a temporary file beside ``dest``, then a rename over it."""
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", prefix=".ansible-ca-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        module.atomic_move(temp, dest, unsafe_writes=module.params["unsafe_writes"])
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def save(module, dest, pem_text):
    """Write ``dest`` when its content or attributes differ; returns (changed, diffs)."""
    pem = to_bytes(pem_text)
    before = current_content(dest)
    changed = before != pem
    diffs = []
    if changed:
        diffs.append({"before_header": dest, "after_header": dest, "before": (before or b"").decode("utf-8", "replace"),
                      "after": pem_text})
        if not module.check_mode:
            write(module, dest, pem)
    file_args = module.load_file_common_arguments(module.params, path=dest)
    if file_args["mode"] is None:
        file_args["mode"] = DEFAULT_MODE
    attributes = {"before": {}, "after": {}}
    if not (module.check_mode and before is None):  # a file check mode did not create has no attributes yet
        # A new file's attributes have no "before" worth showing: its content diff says it is new.
        changed = module.set_fs_attributes_if_different(file_args, changed, diff=attributes if before is not None else None)
    if attributes["before"] or attributes["after"]:
        diffs.append(attributes)
    return changed, diffs


def run(module):
    dest = module.params["dest"]
    service = module.find_service()
    pem = module.api.get_ca_certificates(service["id"]) or ""
    result = {"certificate": pem, "dest": dest}
    try:
        result["changed"], diffs = save(module, dest, pem)
    except OSError as exc:
        raise ClickHouseError("Cannot write dest %s: %s" % (dest, exc), dest=dest)
    if module._diff and diffs:
        result["diff"] = diffs
    return result


def main():
    module = ServiceModule(argument_spec=dict(dest=dict(type="path", required=True)), add_file_common_args=True)
    module.run(lambda: run(module))


if __name__ == "__main__":
    main()
