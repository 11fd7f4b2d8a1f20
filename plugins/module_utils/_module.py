# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The shared connection options and the AnsibleModule every module of the collection uses."""

from __future__ import annotations

import ssl

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ._api import PostgresApi
from ._credentials import rescue_credentials
from ._errors import ClickHouseError, InputError
from ._models import HAS_PYDANTIC, PYDANTIC_IMPORT_ERROR
from ._transport import DEFAULT_API_URL, HAS_HTTPX, HTTPX_IMPORT_ERROR, Transport


def common_argument_spec():
    """Connection options; each also reads the environment the Terraform provider uses."""
    from ._pacer import DEFAULT_RATE_LIMIT

    return dict(
        api_url=dict(type="str", default=DEFAULT_API_URL, fallback=(env_fallback, ["CLICKHOUSE_API_URL"])),
        api_key_id=dict(type="str", required=True, no_log=False,
                        fallback=(env_fallback, ["CLICKHOUSE_CLOUD_API_KEY", "CLICKHOUSE_TOKEN_KEY"])),
        api_key_secret=dict(type="str", required=True, no_log=True,
                            fallback=(env_fallback, ["CLICKHOUSE_CLOUD_API_SECRET", "CLICKHOUSE_TOKEN_SECRET"])),
        organization_id=dict(type="str", required=True, fallback=(env_fallback, ["CLICKHOUSE_ORG_ID"])),
        api_timeout=dict(type="int", default=30, fallback=(env_fallback, ["CLICKHOUSE_API_TIMEOUT"])),
        api_retries=dict(type="int", default=5, fallback=(env_fallback, ["CLICKHOUSE_API_RETRIES"])),
        api_rate_limit=dict(type="str", default=DEFAULT_RATE_LIMIT, fallback=(env_fallback, ["CLICKHOUSE_API_RATE_LIMIT"])),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
    )


def wait_argument_spec(default_timeout=1800):
    return dict(
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=default_timeout),
    )


def check_connection_params(params):
    """The first problem of the connection (and wait) options that their types cannot catch, or None."""
    empty = [k for k in ("api_key_id", "api_key_secret", "organization_id") if not params[k].strip()]
    if empty:
        return "empty required arguments: %s" % ", ".join(empty)
    for option in ("api_timeout", "wait_timeout"):
        if params.get(option) is not None and params[option] <= 0:
            return "%s must be a positive number of seconds, got %s" % (option, params[option])
    if params["api_retries"] < 0:
        return "api_retries must be 0 or more, got %s" % params["api_retries"]
    return None


def not_text(argument_spec, given):
    """The ``str`` options given a list or a dict, which validation would turn into their Python text
    (``['r8gd.large', 2]``) and send; a message naming them, or None."""
    bad = sorted(name for name, spec in argument_spec.items()
                 if spec.get("type", "str") == "str" and isinstance(given.get(name), (list, dict)))
    if not bad:
        return None
    return "; ".join("%s must be a string, got a %s" % (name, type(given[name]).__name__) for name in bad)


def connect(params, log=None):
    """The typed client for validated connection options: transport, shared pacer, organization.

    Modules and the controller-side plugins build it the same way, so they pace together.
    """
    from ._pacer import make_pacer

    try:
        pacer = make_pacer(params["api_url"], params["api_key_id"], params["api_rate_limit"], log=log)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    try:
        transport = Transport(params["api_url"], params["api_key_id"], params["api_key_secret"],
                              timeout=params["api_timeout"], retries=params["api_retries"],
                              validate_certs=params["validate_certs"], ca_path=params["ca_path"], log=log, pacer=pacer)
    except (OSError, ssl.SSLError) as exc:
        raise InputError("ca_path %s: cannot load CA certificates: %s" % (params["ca_path"], exc)) from None
    return PostgresApi(transport, params["organization_id"])


class ClickHouseModule(AnsibleModule):
    """AnsibleModule plus the API client, library checks and structured failures."""

    def __init__(self, argument_spec=None, **kwargs):
        spec = common_argument_spec()
        spec.update(argument_spec or {})
        self._given = {}
        super().__init__(argument_spec=spec, **kwargs)
        problem = not_text(spec, self._given)
        if problem:
            self.fail_json(msg="%s. Nothing was sent." % problem)
        if not HAS_HTTPX:
            self.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
        if not HAS_PYDANTIC:
            self.fail_json(msg=missing_required_lib("pydantic"), exception=PYDANTIC_IMPORT_ERROR)
        problem = check_connection_params(self.params)
        if problem:
            self.fail_json(msg=problem)
        self._api = None

    def _load_params(self):
        """The options as given, before validation converts them (kept to refuse what it would mangle)."""
        super()._load_params()
        self._given = dict(self.params)

    @property
    def api(self):
        """The typed client, built on first use."""
        if self._api is None:
            self._api = connect(self.params, log=self.log)
        return self._api

    def kept_after_failure(self, error):
        """Where a create's connection details went when the task failed after it (its answer was the only one
        with the password): the failure shows no secret, and nothing is lost."""
        created = getattr(error, "created", None)
        if not created or created.get("password") is None:
            return ""
        kept = getattr(error, "kept_in", None)
        if kept is None:
            try:
                kept = rescue_credentials(created)
            except OSError as exc:
                self.no_log_values.add(created["password"])  # masked in the output, and so lost: say it plainly
                return (" The service %s was created, but its password could not be kept (%s) and is not shown: set a "
                        "new one with clickhouse.cloud.postgres_password." % (created.get("id"), exc))
        return " The service %s was created; its connection details, with the password the API shows only once, " \
               "are in %s (mode 0600)." % (created.get("id"), kept)

    def run_info(self, key, fetch):
        """Run a read-only module: ``fetch()`` gives what goes under ``key``; never changed."""
        self.run(lambda: {"changed": False, key: fetch()})

    def run(self, main):
        """Call ``main()`` (which returns the result dict) and exit; ClickHouseErrors fail cleanly.

        When ``main`` drove a resource engine, the error carries its ``partial``
        outcome: whether a write was sent and what was last seen, so a timed-out
        wait is not taken for "nothing done".
        """
        error = None
        try:
            result = main()
        except ClickHouseError as exc:
            error = exc  # failed outside the handler: older cores attach a pending exception's traceback
        for note in self._api.notes if self._api is not None else ():
            self.warn(note)
        if error is not None:
            outcome = dict({"changed": False}, **getattr(error, "partial", {}))  # no engine action: nothing was sent
            self.fail_json(msg=error.message + self.kept_after_failure(error), failure=error.failure(), **outcome)
        self.exit_json(**result)
