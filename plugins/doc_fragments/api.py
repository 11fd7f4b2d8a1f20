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
      - If not set, the value of the E(CLICKHOUSE_API_TIMEOUT) environment variable is used.
    type: int
    default: 30
  api_retries:
    description:
      - How many times a request is sent again after HTTP 500, 502, 503, 504 or a connection error.
      - HTTP 429 (rate limited) does not count against these retries. The request waits as long as the API's
        C(X-RateLimit-Reset) or C(Retry-After) header says, then is sent again.
      - Delays grow exponentially with jitter, or follow those headers. Each request gets 120 seconds
        in total, including its wait for a slot under O(api_rate_limit). A request that would need longer fails, saying so.
      - A create, update or state command whose answer was lost is only sent again after the module has
        checked that the server did not apply it, so retries never create duplicates. A restart or switchover
        whose answer was lost while the service reads V(running) again is never resent, as it may have come and
        gone; the task fails saying so, and reports C(changed). A write refused with HTTP 429 or a connection
        error is also checked before it is sent again, in case another run made the same change meanwhile.
      - A TLS certificate that fails verification is never retried; see O(ca_path) and O(validate_certs).
      - V(0) disables retries.
      - If not set, the value of the E(CLICKHOUSE_API_RETRIES) environment variable is used.
    type: int
    default: 5
  api_rate_limit:
    description:
      - Client-side pacing of API requests, as V(N/SECONDS) (at most N requests in any SECONDS), or V(off).
      - Set it to the API key's limit. The default V(10/10) is ClickHouse Cloud's limit of 10 requests per 10 seconds.
      - Every module process on the controller that uses the same O(api_url) and O(api_key_id) takes its turn
        from one shared queue. The queue is a lock file and a small state file in C(clickhouse-cloud) under
        E(XDG_RUNTIME_DIR), or in C(clickhouse-cloud-<uid>) in the temporary directory. The files are private
        to the user and named by a hash that never contains the secret. Many forks then wait in line instead
        of running into HTTP 429.
      - After an HTTP 429 (another client using the same key), every process waits as long as the API asks. The pace
        slows to what the API let through, then recovers.
      - When the state directory cannot be used, each process paces only its own requests.
      - If not set, the value of the E(CLICKHOUSE_API_RATE_LIMIT) environment variable is used.
    type: str
    default: "10/10"
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
  - The API allows 10 requests per 10 seconds per API key. Modules use as few calls as they can, and the
    processes of one controller take turns under O(api_rate_limit). When many hosts share one key, run the
    tasks with C(run_once), C(throttle) or a loop rather than many forks. A long queue only costs time, but
    a request that waits longer than its 120 seconds fails.
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
    env:
      - name: CLICKHOUSE_API_TIMEOUT
  api_retries:
    description:
      - How many times a request is sent again after HTTP 500, 502, 503, 504 or a connection error.
      - HTTP 429 does not count against these retries. The request waits as long as the API asks, within 120 seconds per request.
    type: int
    default: 5
    env:
      - name: CLICKHOUSE_API_RETRIES
  api_rate_limit:
    description:
      - Client-side pacing of API requests, as V(N/SECONDS) (at most N requests in any SECONDS), or V(off).
      - All processes on the controller that use the same API URL and key take turns from one queue.
    type: str
    default: "10/10"
    env:
      - name: CLICKHOUSE_API_RATE_LIMIT
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
