# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Dynamic inventory: the Managed Postgres services of one organization, one host each."""

from __future__ import annotations

DOCUMENTATION = r"""
name: postgres
short_description: ClickHouse Cloud Managed Postgres services as inventory hosts
version_added: 0.1.0
author:
  - ClickHouse Cloud Ansible collection maintainers (@clickhouse-cloud)
description:
  - Reads the Managed Postgres services of one ClickHouse Cloud organization and makes each service a host,
    named after the service (or after O(name_template)).
  - Every host is in the group O(group). The collection's playbooks run on the group V(postgres_services), the
    default, so they run over the services that exist. With O(default_groups), hosts are also grouped by state, provider, region, Postgres
    version, and primary or replica.
  - Each host gets the service's fields as host variables whose names start with O(hostvar_prefix)
    (C(postgres_id), C(postgres_state), C(postgres_tags), ...; see the examples for all of them).
    The service's password and connection string never become host variables, even when the API returns them.
  - The connection options and their environment variables are those of the modules, and the plugin uses the
    modules' API client, so its requests take their turn in the same per-key queue under O(api_rate_limit).
  - The inventory source is a YAML file whose name ends in C(postgres.yml) or C(postgres.yaml),
    for example C(clickhouse.postgres.yml).
  - "API calls: one listing of the organization's services, plus with O(details) one read of each service
    that passes the filters. With O(cache), a run within O(cache_timeout) of the last one makes none."
extends_documentation_fragment:
  - clickhouse.cloud.api.plugins
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: Marks this file as an inventory source of this plugin.
    type: str
    required: true
    choices: [clickhouse.cloud.postgres]
  details:
    description:
      - Read each service (one API call per service that passes the filters) for the fields the listing lacks,
        C(hostname), C(username) and C(access_rules).
      - Set V(false) for large organizations when those fields are not needed; the inventory then costs one
        API call. At the API's limit of 10 requests per 10 seconds, 100 services take about 100 seconds
        with V(true), which O(cache) saves on later runs.
    type: bool
    default: true
  hostvar_prefix:
    description:
      - Prefix of the host variables taken from the service, for example V(postgres_) gives C(postgres_state).
    type: str
    default: postgres_
  name_template:
    description:
      - Jinja2 template of each host's name, rendered with the service's host variables,
        for example V({{ postgres_name }}-{{ postgres_region }}).
      - The default is the service's name. A name that two services share is made unique by adding
        C(_<id>) to each of them, with a warning.
      - When the host name differs from the service's name, set C(postgres_fleet_name) with O(compose)
        (the roles find services by that name, and by the host's name otherwise).
    type: str
  group:
    description:
      - Group that holds every host. The collection's playbooks run over V(postgres_services).
    type: str
    default: postgres_services
  default_groups:
    description:
      - Add each host to the groups C(<group_prefix>state_<state>), C(<group_prefix>provider_<provider>),
        C(<group_prefix>region_<region>), C(<group_prefix>version_<version>), and C(<group_prefix>primary) or
        C(<group_prefix>replica), for example C(postgres_region_us_east_1).
      - Characters other than letters, digits and C(_) become C(_) in these names.
    type: bool
    default: true
  group_prefix:
    description:
      - Prefix of the groups of O(default_groups).
    type: str
    default: postgres_
  states:
    description:
      - Only services in one of these states, for example V(running). The API's states include
        V(creating), V(running), V(restarting), V(stopped), V(unavailable) and V(deleting).
      - Empty (the default) means every state.
    type: list
    elements: str
    default: []
  tags:
    description:
      - Only services that carry every one of these tags. A tag given with a null value (C(team) with nothing
        after its colon) matches any value of that key.
    type: dict
    default: {}
  name_pattern:
    description:
      - Only services whose name this Python regular expression matches anywhere (as C(re.search) does).
        Anchor it with C(^) and C($) for a whole-name match.
    type: str
notes:
  - Within O(cache_timeout), a cached inventory is reused only when it was made for the same API URL,
    organization and filters; change any of them and the next run reads the API again.
    C(ansible-inventory --flush-cache) forces a new read.
  - The cache holds the host variables only (no password, no connection string, no API key).
seealso:
  - module: clickhouse.cloud.postgres_info
  - name: The dynamic inventory and the fleet roles
    description: Reporting on, tuning and decommissioning the services that exist.
    link: https://github.com/clickhouse-cloud/ansible-collection/blob/main/docs/inventory.md
"""

EXAMPLES = r"""
# clickhouse.postgres.yml: every service of the organization named by CLICKHOUSE_ORG_ID,
# with the API key from CLICKHOUSE_CLOUD_API_KEY and CLICKHOUSE_CLOUD_API_SECRET.
plugin: clickhouse.cloud.postgres

# Host variables of a service (with the default hostvar_prefix):
#   postgres_id: 0b1c2d3e-...            postgres_name: orders
#   postgres_state: running              postgres_provider: aws
#   postgres_region: us-east-1           postgres_size: r8gd.large
#   postgres_version: "18"               postgres_ha_type: none
#   postgres_tags: {env: prod}           postgres_is_primary: true
#   postgres_created_at: "2026-..."      postgres_storage_size: 118
# and with details (the default):
#   postgres_hostname: orders.pg.example  postgres_username: postgres
#   postgres_access_rules: [{id: ..., source: 10.0.0.0/8, port_range: "5432", description: office}]

---
# Running production services only, read once an hour, and set up for the fleet roles.
plugin: clickhouse.cloud.postgres
states: [running]
tags:
  env: prod
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/clickhouse-postgres-inventory
cache_timeout: 3600
compose:
  # what the roles read; without them they would treat every service as the role defaults describe
  postgres_fleet_name: postgres_name
  postgres_fleet_provider: postgres_provider
  postgres_fleet_region: postgres_region
  postgres_fleet_size: postgres_size
  postgres_fleet_postgres_version: postgres_version
  postgres_fleet_ha_type: postgres_ha_type
  postgres_fleet_tags: postgres_tags
keyed_groups:
  # tier_oltp, tier_analytics, ...: put each tier's postgres_tune_pg_config in group_vars
  - key: postgres_tags.tier | default('none')
    prefix: tier
groups:
  big: postgres_size is search('xlarge')

---
# Host names with the region; only services whose name starts with "orders-", one API call in all.
plugin: clickhouse.cloud.postgres
details: false
name_pattern: ^orders-
name_template: "{{ postgres_name }}-{{ postgres_region }}"
compose:
  postgres_fleet_name: postgres_name
"""

import re

from ansible.errors import AnsibleError
from ansible.module_utils.basic import missing_required_lib
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.clickhouse.cloud.plugins.module_utils._errors import ClickHouseError
from ansible_collections.clickhouse.cloud.plugins.module_utils._models import HAS_PYDANTIC
from ansible_collections.clickhouse.cloud.plugins.module_utils._module import (
    check_connection_params,
    common_argument_spec,
    connect,
)
from ansible_collections.clickhouse.cloud.plugins.module_utils._resources import tag_text
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import HAS_HTTPX

# Host variable (without prefix) -> the field of the service's result it comes from. An allowlist, so a secret
# the API adds one day (as it returns the password to organizations without credential redaction) stays out.
LISTED_FIELDS = {
    "id": "id", "name": "name", "state": "state", "provider": "provider", "region": "region", "size": "size",
    "version": "postgres_version", "ha_type": "ha_type", "tags": "tags", "is_primary": "is_primary",
    "created_at": "created_at", "storage_size": "storage_size",
}
DETAIL_FIELDS = {"hostname": "hostname", "username": "username", "access_rules": "ip_access_list"}
DEFAULT_GROUP_FIELDS = ("state", "provider", "region", "version")
UNSAFE_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")


def host_record(service, fields):
    """The host variables (unprefixed) of one service's result: only the allowlisted fields the API gave."""
    return {var: service[key] for var, key in fields.items() if service.get(key) is not None}


def wanted(record, states, tags, name_pattern):
    """Whether a service passes the filters (``name_pattern`` compiled, or None)."""
    if states and record.get("state") not in states:
        return False
    have = record.get("tags") or {}
    for key, value in tags.items():
        if key not in have or (value is not None and have[key] != value):
            return False
    return name_pattern is None or bool(name_pattern.search(record.get("name") or ""))


def default_group_names(record, prefix):
    """The groups a service belongs to by its state, provider, region, version and role."""
    names = ["%s%s_%s" % (prefix, field, record[field]) for field in DEFAULT_GROUP_FIELDS if record.get(field)]
    names.append(prefix + ("replica" if record.get("is_primary") is False else "primary"))
    return [UNSAFE_GROUP_CHARS.sub("_", name) for name in names]


def unique_names(names, ids):
    """Each service's host name; names two services share get ``_<id>`` (which services they are, not their
    order, decides). Returns ``(names, shared)`` with the sorted shared names."""
    counts = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    shared = sorted(name for name, count in counts.items() if count > 1)
    return [name if counts[name] == 1 else "%s_%s" % (name, service_id) for name, service_id in zip(names, ids)], shared


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "clickhouse.cloud.postgres"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("postgres.yml", "postgres.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        for present, lib in ((HAS_HTTPX, "httpx"), (HAS_PYDANTIC, "pydantic")):
            if not present:
                raise AnsibleError(missing_required_lib(lib))
        self._read_config_data(path)
        params = self._connection_params()
        query = self._query()
        records = self._cached_or_read(path, params, query, cache)
        self._populate(records)

    def _connection_params(self):
        """The connection options as the modules get them: templated, checked the same way."""
        self.templar.available_variables = self._vars
        params = {}
        for name in common_argument_spec():
            value = self.get_option(name)
            params[name] = self.templar.template(value) if isinstance(value, str) else value
        problem = check_connection_params(params)
        if problem:
            raise AnsibleError("clickhouse.cloud.postgres: %s" % problem)
        return params

    def _query(self):
        """What decides which services and fields are read (the cache is for one query only), as plain text:
        tag values compare as the API's text (YAML's ``1`` is ``"1"``), and the cache keeps no file origins."""
        pattern = self.get_option("name_pattern")
        return {"details": bool(self.get_option("details")), "states": [str(state) for state in self.get_option("states")],
                "tags": {str(k): None if v is None else tag_text(v) for k, v in self.get_option("tags").items()},
                "name_pattern": None if pattern is None else str(pattern)}

    def _cached_or_read(self, path, params, query, cache):
        """The host records from the cache when it holds this query's, else from the API (then cached)."""
        if not self.get_option("cache"):
            return self._read(params, query)
        # per organization and endpoint too: the environment can point one inventory file at another organization
        key = self.get_cache_key("%s\0%s\0%s" % (path, params["api_url"], params["organization_id"]))
        if cache:
            try:
                entry = self._cache[key]
            except KeyError:
                entry = None
            if entry and entry.get("query") == query:
                self.display.vvv("clickhouse.cloud.postgres: %d services from the cache" % len(entry["services"]))
                return entry["services"]
        records = self._read(params, query)
        self._cache[key] = {"query": query, "services": records}
        return records

    def _read(self, params, query):
        pattern = query["name_pattern"]
        try:
            name_pattern = re.compile(pattern) if pattern else None
        except re.error as exc:
            raise AnsibleError("clickhouse.cloud.postgres: name_pattern %r is not a regular expression: %s" % (pattern, exc))
        try:
            api = connect(params, log=self.display.vvv)
            records = []
            for service in api.list_services():
                record = host_record(service.to_result(), LISTED_FIELDS)
                if not wanted(record, query["states"], query["tags"], name_pattern):
                    continue
                if query["details"]:
                    found = api.find_service(service.id)
                    if found is None:  # deleted since the listing
                        continue
                    record.update(host_record(found.to_result(), DETAIL_FIELDS))
                records.append(record)
        except ClickHouseError as exc:
            raise AnsibleError("clickhouse.cloud.postgres: %s" % exc.message)
        self.display.vvv("clickhouse.cloud.postgres: %d services in %d API requests" % (len(records), api.transport.requests_sent))
        return records

    def _populate(self, records):
        prefix = self.get_option("hostvar_prefix")
        group_prefix = self.get_option("group_prefix")
        strict = self.get_option("strict")
        top = self.inventory.add_group(self.get_option("group"))
        all_vars = [{prefix + key: value for key, value in record.items()} for record in records]
        names, shared = unique_names([self._host_name(hostvars) for hostvars in all_vars],
                                     [record.get("id") for record in records])
        if shared:
            self.display.warning("clickhouse.cloud.postgres: services share the names %s; their hosts are named "
                                 "<name>_<id>" % ", ".join(shared))
        for name, record, hostvars in zip(names, records, all_vars):
            host = self.inventory.add_host(name, group=top)
            for var, value in hostvars.items():
                self.inventory.set_variable(host, var, value)
            if self.get_option("default_groups"):
                for group in default_group_names(record, group_prefix):
                    self.inventory.add_child(self.inventory.add_group(group), host)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)

    def _host_name(self, hostvars):
        template = self.get_option("name_template")
        if not template:
            prefix = self.get_option("hostvar_prefix")
            return hostvars.get(prefix + "name") or hostvars[prefix + "id"]
        self.templar.available_variables = hostvars
        try:
            return str(self.templar.template(template)).strip()
        except Exception as exc:  # any template error names the service it failed for
            raise AnsibleError("clickhouse.cloud.postgres: name_template failed for service %s: %s"
                               % (hostvars.get(self.get_option("hostvar_prefix") + "id"), exc))
