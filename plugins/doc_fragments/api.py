# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the ClickHouse Cloud API.

    ``DOCUMENTATION`` is for modules (which read the environment through the
    argument spec); ``PLUGINS`` is for controller plugins such as an inventory,
    which declare their environment variables with ``env:``.
    """

    DOCUMENTATION = r"""
attributes:
  platform:
    support: full
    platforms: all
    details: The module only talks to the ClickHouse Cloud API; run it on the controller or delegate it to localhost.
options:
  api_url:
    description:
      - Base URL of the ClickHouse Cloud API. C(/v1) is added when missing.
      - If not set, the value of the E(CLICKHOUSE_API_URL) environment variable is used.
    type: str
    default: https://api.clickhouse.cloud/v1
  api_key_id:
    description:
      - ID of the ClickHouse Cloud API key.
      - If not set, the value of the E(CLICKHOUSE_CLOUD_API_KEY) environment variable is used,
        then E(CLICKHOUSE_TOKEN_KEY) (the older Terraform provider name).
    type: str
    required: true
  api_key_secret:
    description:
      - Secret of the ClickHouse Cloud API key. Never logged.
      - If not set, the value of the E(CLICKHOUSE_CLOUD_API_SECRET) environment variable is used,
        then E(CLICKHOUSE_TOKEN_SECRET).
    type: str
    required: true
  organization_id:
    description:
      - ID (UUID) of the ClickHouse Cloud organization.
      - If not set, the value of the E(CLICKHOUSE_ORG_ID) environment variable is used.
    type: str
    required: true
  api_timeout:
    description:
      - Seconds to wait for one HTTP answer (connecting takes at most 15 of them).
    type: int
    default: 30
  api_retries:
    description:
      - How many times a request is sent again after HTTP 429, 500, 502, 503, 504 or a connection error.
      - Delays grow exponentially with jitter, or follow the API's C(X-RateLimit-Reset) and C(Retry-After)
        headers; all retries of one request fit in 120 seconds.
      - A create, update or state command whose answer was lost is only sent again after the module has
        checked that the server did not apply it, so retries never create duplicates. A restart or switchover
        whose answer was lost while the service reads V(running) again is never resent, as it may have come and
        gone; the task fails saying so, and reports C(changed).
      - V(0) disables retries.
    type: int
    default: 5
  validate_certs:
    description:
      - Verify the API's TLS certificate. Only turn this off for a test endpoint.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of CA certificates to verify the API's certificate with, for example behind a TLS-inspecting proxy.
      - Proxies are read from the usual E(HTTPS_PROXY) and E(NO_PROXY) environment variables.
    type: path
requirements:
  - httpx >= 0.27
  - pydantic >= 2.0
notes:
  - The API allows 10 requests per 10 seconds per API key. Modules use as few calls as they can; when many hosts
    share one key, run the tasks with C(run_once), C(throttle) or a loop rather than many forks.
  - All options above can be set once per play with C(module_defaults) and the C(group/clickhouse.cloud.all) group.
"""

    PLUGINS = r"""
options:
  api_url:
    description:
      - Base URL of the ClickHouse Cloud API. C(/v1) is added when missing.
    type: str
    default: https://api.clickhouse.cloud/v1
    env:
      - name: CLICKHOUSE_API_URL
  api_key_id:
    description:
      - ID of the ClickHouse Cloud API key.
    type: str
    required: true
    env:
      - name: CLICKHOUSE_CLOUD_API_KEY
      - name: CLICKHOUSE_TOKEN_KEY
  api_key_secret:
    description:
      - Secret of the ClickHouse Cloud API key.
    type: str
    required: true
    env:
      - name: CLICKHOUSE_CLOUD_API_SECRET
      - name: CLICKHOUSE_TOKEN_SECRET
  organization_id:
    description:
      - ID (UUID) of the ClickHouse Cloud organization.
    type: str
    required: true
    env:
      - name: CLICKHOUSE_ORG_ID
  api_timeout:
    description:
      - Seconds to wait for one HTTP answer.
    type: int
    default: 30
  api_retries:
    description:
      - How many times a request is sent again after HTTP 429, 500, 502, 503, 504 or a connection error.
    type: int
    default: 5
  validate_certs:
    description:
      - Verify the API's TLS certificate.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of CA certificates to verify the API's certificate with.
    type: path
requirements:
  - httpx >= 0.27
  - pydantic >= 2.0
"""
