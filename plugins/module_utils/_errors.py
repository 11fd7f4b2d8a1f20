# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Structured errors: every failure the collection reports is one of these.

Each error turns into one line for ``msg`` and a ``failure`` dict for machines,
so a failed task never needs a traceback to be understood.
"""

from __future__ import annotations


class ClickHouseError(Exception):
    """Base class; ``failure()`` is what a module puts under ``failure``."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def failure(self):
        return {k: v for k, v in self.details.items() if v is not None}


class ApiError(ClickHouseError):
    """The API answered with an error, or never answered at all.

    ``status`` is None when no HTTP answer arrived (connection refused, timeout,
    dropped connection); ``error`` is the API's own text, kept verbatim because
    sizes and regions are validated only by the server.
    """

    def __init__(self, method, path, status=None, error=None, request_id=None, attempts=1, reason=None):
        self.method = method
        self.path = path
        self.status = status
        self.error = error
        self.request_id = request_id
        self.attempts = attempts
        parts = ["%s %s failed" % (method, path)]
        if status is not None:
            parts.append(": HTTP %s" % status)
        if error:
            parts.append(": %s" % error)
        if reason:
            parts.append(" (%s)" % reason)
        if attempts > 1:
            parts.append(" after %d attempts" % attempts)
        parts.append(" [requestId: %s]" % (request_id or "none"))
        super().__init__(
            "".join(parts),
            method=method,
            path=path,
            status=status,
            error=error,
            request_id=request_id,
            attempts=attempts,
        )

    @property
    def not_found(self):
        return self.status == 404

    @property
    def not_ready(self):
        """The API's refusal of a read replica whose primary has no backup yet (it takes them later)."""
        return self.status == 400 and "not ready" in (self.error or "").lower()


class LostAnswerError(ApiError):
    """A write was sent, its answer was lost, and nothing could tell whether it took effect."""


class InputError(ClickHouseError):
    """Bad input caught before any request: nothing was sent, nothing changed."""


class AmbiguousError(ClickHouseError):
    """A name matched more than one resource; the ids let the user pick."""

    def __init__(self, kind, name, ids):
        super().__init__(
            "%d %ss are named %r (ids: %s); use id to pick one" % (len(ids), kind, name, ", ".join(ids)),
            name=name,
            ids=list(ids),
        )


class ImmutableError(ClickHouseError):
    """Desired values differ on fields the API cannot change in place."""

    def __init__(self, kind, conflicts):
        text = ", ".join("%s (current %r, wanted %r)" % (k, cur, want) for k, (cur, want) in sorted(conflicts.items()))
        super().__init__(
            "Cannot change %s of an existing %s: %s. Nothing was changed; recreate the service to change these." % (
                ", ".join(sorted(conflicts)), kind, text),
            immutable={k: {"current": cur, "wanted": want} for k, (cur, want) in conflicts.items()},
        )


class WaitTimeoutError(ClickHouseError):
    """The change was made but the resource did not settle before the deadline."""

    def __init__(self, what, report, last=None):
        self.report = report
        self.last = last
        super().__init__(
            "Timed out after %.0f s waiting for %s; states seen: %s. The change was sent; "
            "raise wait_timeout or re-run the task to keep waiting." % (
                report.seconds, what, " -> ".join(report.states) or "none"),
            waited=report.as_dict(),
        )
