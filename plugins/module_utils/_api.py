# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Typed client of every Managed Postgres operation of the ClickHouse Cloud API.

Methods take snake_case arguments and return the models of ``_models``.  Each
write says how to tell, after a lost answer, whether the server already applied
it (see ``_transport``): that is what keeps a retry from creating a duplicate.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from ._compare import equal
from ._errors import ApiError, ClickHouseError
from ._resources import SERVICE
from ._transport import NOT_APPLIED, UNKNOWN

try:
    from ._models import (
        Backup,
        LogEntry,
        Metrics,
        PasswordResult,
        PostgresService,
        ServiceConfig,
        SlowQueryPattern,
        SlowQueryPatternDetail,
    )
except ImportError:  # pydantic missing: the module reports it before any call
    pass


class PostgresApi:
    """One organisation's Postgres services, over one ``Transport``."""

    def __init__(self, transport, organization_id):
        self.transport = transport
        self.organization_id = organization_id
        self.notes = []  # things a module should tell the user (e.g. recovered lost answers)

    # -- paths and plumbing -------------------------------------------------

    def _path(self, service_id=None, *rest):
        # Ids are path segments: a "/" or "?" in one must not reach another endpoint.
        parts = ["/organizations", str(self.organization_id), "postgres"]
        if service_id is not None:
            parts.append(str(service_id))
        parts.extend(rest)
        return "/".join(parts[:1] + [quote(part, safe="") for part in parts[1:]])

    def _call(self, method, path, body=None, params=None, reconcile=None, text=False):
        return self.transport.request(method, path, body=body, params=params, reconcile=reconcile, text=text).result

    def _read(self, model, method, path, body=None, params=None, reconcile=None, many=False):
        """The answer as ``model`` (a list of them with ``many``); any other shape fails naming the request."""
        response = self.transport.request(method, path, body=body, params=params, reconcile=reconcile)
        result = response.result
        if not response.has_result:
            raise malformed(method, path, "it has no result")
        expected = list if many else dict
        if not isinstance(result, expected):
            raise malformed(method, path, "expected %s, got %s" % ("a list" if many else "an object", type(result).__name__))
        try:
            parsed = [model.parse(item) for item in result] if many else [model.parse(result)]
        except ClickHouseError as exc:  # the model names the field and the problem; say which request it was
            raise ClickHouseError("%s %s: %s" % (method, path, exc.message),
                                  malformed=dict(exc.details.get("malformed") or {}, request="%s %s" % (method, path))) from None
        except RecursionError:
            raise malformed(method, path, "it is nested too deep") from None
        for item in parsed:
            missing = [name for name in getattr(model, "required", ()) if not getattr(item, name, None)]
            if missing:
                raise malformed(method, path, "a %s without %s" % (model.__name__, ", ".join(missing)))
        return parsed if many else parsed[0]

    # -- services -----------------------------------------------------------

    def list_services(self):
        return self._read(PostgresService, "GET", self._path(), many=True)

    def services_named(self, name):
        return [s for s in self.list_services() if s.name == name]

    def get_service(self, service_id):
        return self._read(PostgresService, "GET", self._path(service_id))

    def find_service(self, service_id):
        """``get_service``, but None when the id does not exist."""
        try:
            return self.get_service(service_id)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def _named_after_loss(self, name, what):
        """Before a create is resent (its answer was lost, or it was refused with 429 or never arrived): a service
        of that name that exists now means it must not be sent again."""
        def reconcile():
            found = self.services_named(name)
            if not found:
                return NOT_APPLIED
            found.sort(key=lambda s: s.created_at or "")
            self.notes.append(
                "A service named %r exists now (id %s), so the %s was not sent again: its answer was lost, or another "
                "run created it meanwhile. Its password is in no answer this task received: if you do not have it, "
                "set a new one with clickhouse.cloud.postgres_password." % (name, found[-1].id, what))
            return found[-1].model_dump(by_alias=True, exclude_none=True)
        return reconcile

    def create_service(self, desired):
        """POST a new primary from the desired snake_case fields (``SERVICE`` says which are sent, and how)."""
        return self._create(self._path(), SERVICE.create_body(desired), desired["name"], "create")

    def create_read_replica(self, primary_id, desired):
        """POST a read replica of ``primary_id``; fields it inherits from the primary are not sent."""
        return self._create(self._path(primary_id, "readReplica"), SERVICE.create_body(desired, origin=True),
                            desired["name"], "read replica creation")

    def restore_service(self, source_id, desired, restore_target):
        """POST a point-in-time restore of ``source_id`` at ``restore_target`` (the API's UTC form)."""
        body = dict(SERVICE.create_body(desired, origin=True), restoreTarget=restore_target)
        return self._create(self._path(source_id, "restoredService"), body, desired["name"], "restore")

    def _create(self, path, body, name, what):
        return self._read(PostgresService, "POST", path, body, reconcile=self._named_after_loss(name, what))

    def patch_service(self, service_id, changes, current=None):
        """PATCH the changed snake_case fields; fields the API replaces wholesale (tags) are resent from ``current``."""
        sent = SERVICE.patch_values(changes, current)

        def reconcile():
            # Changes are queued, so a re-read may still show old values; resending the
            # same PATCH is then harmless, unlike skipping a change that never arrived.
            found = self.get_service(service_id)
            applied = SERVICE.matches(found.to_result(), sent)
            return found.model_dump(by_alias=True, exclude_none=True) if applied else NOT_APPLIED

        return self._read(PostgresService, "PATCH", self._path(service_id), SERVICE.body(sent, current or {}),
                          reconcile=reconcile)

    def delete_service(self, service_id):
        def reconcile():
            current = self.find_service(service_id)
            return None if current is None or current.state == "deleting" else NOT_APPLIED

        self._call("DELETE", self._path(service_id), reconcile=reconcile)

    def set_state(self, service_id, command):
        """``restart``, ``promote`` or ``switchover`` (open: new commands pass through)."""
        def reconcile():
            current = self.get_service(service_id)
            if command == "promote":
                return current.model_dump(by_alias=True, exclude_none=True) if current.is_primary else NOT_APPLIED
            if current.state not in ("running", None):  # restart/switchover leave "running" once accepted
                return current.model_dump(by_alias=True, exclude_none=True)
            # "running" again may be a restart that already finished: a second one is an outage of its own.
            return UNKNOWN

        return self._read(PostgresService, "PATCH", self._path(service_id, "state"), {"command": command},
                          reconcile=reconcile)

    def set_password(self, service_id, password=None):
        """Returns the generated password, or None when one was given.

        A password cannot be read back, so there is nothing to compare: resending
        is safe anyway, as a given password is set again to the same value and a
        generated one is replaced by the one this call returns.
        """
        body = {} if password is None else {"password": password}
        return self._read(PasswordResult, "PATCH", self._path(service_id, "password"), body,
                          reconcile=lambda: NOT_APPLIED).password

    # -- configuration ------------------------------------------------------

    def get_config(self, service_id):
        return self._read(ServiceConfig, "GET", self._path(service_id, "config"))

    def _config_reconcile(self, service_id, pg_config, pg_bouncer_config, replace):
        def reconcile():
            current = self.get_config(service_id)
            pairs = ((current.pg_config, pg_config or {}), (current.pg_bouncer_config, pg_bouncer_config or {}))
            if replace:
                applied = all(set(cur) == set(want) for cur, want in pairs)
            else:
                applied = True
            applied = applied and all(k in cur and equal(cur[k], v) for cur, want in pairs for k, v in want.items())
            return current.model_dump(by_alias=True, exclude_none=True) if applied else NOT_APPLIED
        return reconcile

    def replace_config(self, service_id, pg_config, pg_bouncer_config):
        """POST: both maps replace what is set (``{}`` clears a section)."""
        return self._write_config("POST", service_id, pg_config, pg_bouncer_config)

    def patch_config(self, service_id, pg_config=None, pg_bouncer_config=None):
        """PATCH: listed keys are set, others kept; both sections are always sent."""
        return self._write_config("PATCH", service_id, pg_config, pg_bouncer_config)

    def _write_config(self, method, service_id, pg_config, pg_bouncer_config):
        body = {"pgConfig": dict(pg_config or {}), "pgBouncerConfig": dict(pg_bouncer_config or {})}
        reconcile = self._config_reconcile(service_id, pg_config, pg_bouncer_config, replace=method == "POST")
        return self._read(ServiceConfig, method, self._path(service_id, "config"), body, reconcile=reconcile)

    # -- read-only extras ---------------------------------------------------

    def get_ca_certificates(self, service_id):
        """PEM text (the endpoint is not JSON-enveloped)."""
        return self._call("GET", self._path(service_id, "caCertificates"), text=True)

    def get_metrics(self, service_id, from_date, to_date, bucket_size_seconds=None):
        params = {"from_date": from_date, "to_date": to_date, "bucket_size_seconds": bucket_size_seconds}
        return self._read(Metrics, "GET", self._path(service_id, "metrics"), params=_query(params))

    def list_slow_query_patterns(self, service_id, from_date, to_date, db_name=None, db_user=None, db_operation=None,
                                 app=None, sort_by=None, sort_order=None, limit=None, offset=None):
        params = dict(from_date=from_date, to_date=to_date, db_name=db_name, db_user=db_user, db_operation=db_operation,
                      app=app, sort_by=sort_by, sort_order=sort_order, limit=limit, offset=offset)
        return self._read(SlowQueryPattern, "GET", self._path(service_id, "slowQueryPatterns"), params=_query(params),
                          many=True)

    def get_slow_query_pattern(self, service_id, query_id, db_name, db_user, db_operation, app=None, timestamp=None):
        params = dict(db_name=db_name, db_user=db_user, db_operation=db_operation, app=app, timestamp=timestamp)
        return self._read(SlowQueryPatternDetail, "GET", self._path(service_id, "slowQueryPatterns", str(query_id)),
                          params=_query(params))

    def list_logs(self, service_id, from_date, to_date, severity=None, body_contains=None, sort_order=None,
                  limit=None, offset=None):
        params = dict(from_date=from_date, to_date=to_date, severity=severity, body_contains=body_contains,
                      sort_order=sort_order, limit=limit, offset=offset)
        return self._read(LogEntry, "GET", self._path(service_id, "logs"), params=_query(params), many=True)

    def iter_logs(self, service_id, from_date, to_date, page_size=500, max_entries=None, offset=0, **filters):
        """The log entries of a window from ``offset``, page by page."""
        return paged(lambda limit, start: self.list_logs(service_id, from_date, to_date, limit=limit, offset=start, **filters),
                     page_size, offset, max_entries)

    def iter_slow_query_patterns(self, service_id, from_date, to_date, page_size=500, max_patterns=None, offset=0,
                                 **filters):
        """The patterns of a window from ``offset``, page by page."""
        return paged(lambda limit, start: self.list_slow_query_patterns(service_id, from_date, to_date, limit=limit,
                                                                        offset=start, **filters),
                     page_size, offset, max_patterns)

    def list_backups(self, service_id, page_size=100, max_backups=None):
        """The backups of a service, newest first (at most ``max_backups``), following ``nextCursor`` page by page.

        ``page_size`` is 1 to 100. The cursor is beside ``result`` in the envelope, which the transport unwraps, so
        the answer is read as text.
        """
        path = self._path(service_id, "backups")
        backups, cursor, seen = [], None, set()
        while max_backups is None or len(backups) < max_backups:
            size = page_size if max_backups is None else min(page_size, max_backups - len(backups))
            text = self._call("GET", path, params=_query(dict(cursor=cursor, limit=size)), text=True)
            try:
                envelope = json.loads(text)
            except (TypeError, ValueError, RecursionError):  # no text at all, not JSON, or nested too deep
                raise malformed("GET", path, "expected a JSON envelope") from None
            page = envelope.get("result") if isinstance(envelope, dict) else None
            if not isinstance(page, list):
                raise malformed("GET", path, "expected a list of backups")
            backups.extend(Backup.parse(item) for item in page[:size])
            cursor = envelope.get("nextCursor")
            if cursor is None:
                break
            if not isinstance(cursor, str) or cursor in seen:  # a cursor seen before would page for ever
                raise malformed("GET", path, "nextCursor %r does not lead to a new page" % (cursor,))
            seen.add(cursor)
        return backups

    def get_org_prometheus(self):
        return self._call("GET", self._path(None, "prometheus"), text=True)

    def get_prometheus(self, service_id):
        return self._call("GET", self._path(service_id, "prometheus"), text=True)


def paged(fetch, page_size, offset=0, limit=None):
    """Items from ``offset`` on, at most ``limit`` (None: all), fetched by ``fetch(limit, offset)`` pages.

    The API pages by offset and gives no total, so the last page is the first one
    shorter than asked for; each page asks only for what is still wanted.
    """
    taken = 0
    while limit is None or taken < limit:
        size = page_size if limit is None else min(page_size, limit - taken)
        page = list(fetch(size, offset + taken))[:size]
        yield from page
        taken += len(page)
        if len(page) < size:
            return


def _query(params):
    """Query parameters without the unset ones; booleans the way the API spells them."""
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}


def malformed(method, path, problem):
    """The error of an answer that is not what the operation returns: it never passes as a success."""
    return ClickHouseError("%s %s: The API's answer was malformed: %s." % (method, path, problem),
                           malformed={"request": "%s %s" % (method, path), "problem": problem})
