#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_certificate_info
short_description: Get the CA certificate of a ClickHouse Cloud Managed Postgres service
version_added: 0.1.0
description:
  - Returns the CA certificate (PEM) that signs a service's server certificate, which clients need to verify the
    server (C(sslmode=verify-full)). Each service has its own CA.
  - Reads only; to write the certificate to a file, use M(clickhouse.cloud.postgres_certificate).
author:
  - ClickHouse Cloud collection maintainers (@clickhouse)
extends_documentation_fragment:
  - clickhouse.cloud.api
  - clickhouse.cloud.service
  - clickhouse.cloud.read_only
  - ansible.builtin.action_common_attributes
notes:
  - Two API calls, one to find the service and one for the certificate.
seealso:
  - module: clickhouse.cloud.postgres_certificate
  - module: clickhouse.cloud.postgres_info
"""

EXAMPLES = r"""
- name: Read the CA certificate
  clickhouse.cloud.postgres_certificate_info:
    name: orders
  register: ca

- name: Hand it to a client that takes the PEM as text
  ansible.builtin.debug:
    msg: "{{ ca.certificate }}"
  when: ca.certificate is search('BEGIN CERTIFICATE')
"""

RETURN = r"""
certificate:
  description: The CA certificate(s) of the service, PEM, as the API sent it.
  returned: success
  type: str
  sample: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
"""

from ansible_collections.clickhouse.cloud.plugins.module_utils._service import ServiceModule


def main():
    module = ServiceModule(argument_spec={})
    module.run_info("certificate", lambda: module.api.get_ca_certificates(module.find_service()["id"]) or "")


if __name__ == "__main__":
    main()
