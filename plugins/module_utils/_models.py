# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""pydantic models of what the API returns.

They are deliberately forgiving: the API is in beta and its enums churn, so
unknown fields are kept, states/sizes/providers are plain strings passed through
verbatim, numbers may arrive as strings, and nothing is required.  ``to_result()``
gives the snake_case dict a module returns.
"""

from __future__ import annotations

import re
import traceback
from typing import Annotated, Any, ClassVar, Dict, List, Optional

from ._errors import ClickHouseError

try:
    from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
    from pydantic.alias_generators import to_camel
except ImportError:
    HAS_PYDANTIC = False
    PYDANTIC_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PYDANTIC = True
    PYDANTIC_IMPORT_ERROR = None

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name):
    """``postgresVersion`` -> ``postgres_version``; snake_case input is left alone."""
    return _CAMEL_BOUNDARY.sub(r"_\1", name).lower()


def camel(name):
    """``postgres_version`` -> ``postgresVersion`` (the API's spelling)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_keys(value):
    """Snake-case the keys of an unknown (extra) structure, all the way down."""
    if isinstance(value, dict):
        return {snake(k): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def lenient_int(value):
    """Numbers may come as strings ("118"); anything unparseable is dropped, not fatal.

    Text is read as an integer first, so big ones ("9007199254740993") keep every digit;
    only text like "12.0" goes through float.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def lenient_float(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def lenient_bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return None if value is None else bool(value)


def empty_if_null(value):
    """A section the API sends as null holds nothing."""
    return {} if value is None else value


def malformed_answer(model, exc):
    """The ClickHouseError for an answer the model cannot read, naming its first problem (never its values)."""
    problems = exc.errors()
    first = problems[0] if problems else {}
    where = ".".join(str(part) for part in first.get("loc", ())) or "the answer"
    more = " (and %d more problems)" % (len(problems) - 1) if len(problems) > 1 else ""
    return ClickHouseError("The API's answer was malformed: %s: %s%s (reading it as %s)." % (
        where, first.get("msg", "unreadable"), more, model.__name__),
        malformed={"model": model.__name__, "location": where, "problem": first.get("msg"), "problems": len(problems)})


def tags_to_dict(tags):
    """API tag list -> ``{key: value}``; a missing value reads as ``""``."""
    out = {}
    for tag in tags or []:
        if isinstance(tag, dict):
            key, value = tag.get("key"), tag.get("value")
        else:
            key, value = tag.key, tag.value
        if key is not None:
            out[str(key)] = "" if value is None else str(value)
    return out


def tags_to_api(tags):
    """``{key: value}`` -> the API's list, sorted so requests are deterministic."""
    return [{"key": k, "value": v} for k, v in sorted((tags or {}).items())]


if HAS_PYDANTIC:
    Int = Annotated[Optional[int], BeforeValidator(lenient_int)]
    Float = Annotated[Optional[float], BeforeValidator(lenient_float)]
    Bool = Annotated[Optional[bool], BeforeValidator(lenient_bool)]
    Section = Annotated[Dict[str, Any], BeforeValidator(empty_if_null)]

    class ApiModel(BaseModel):
        """Base: camelCase on the wire, snake_case in Python and in results."""

        model_config = ConfigDict(
            alias_generator=to_camel,
            populate_by_name=True,
            extra="allow",
            coerce_numbers_to_str=True,
        )

        @classmethod
        def parse(cls, data):
            """The model of an API answer; an answer it cannot read is a ClickHouseError, not a traceback."""
            try:
                return cls.model_validate(data or {})
            except ValidationError as exc:
                raise malformed_answer(cls, exc) from None

        def to_result(self):
            out = {}
            for name in type(self).model_fields:
                value = getattr(self, name)
                if value is not None:
                    out[name] = _plain(value)
            for key, value in (self.model_extra or {}).items():
                if value is not None:
                    out[snake(key)] = snake_keys(value)
            return out

    def _plain(value):
        if isinstance(value, ApiModel):
            return value.to_result()
        if isinstance(value, list):
            return [_plain(v) for v in value]
        return value

    class Tag(ApiModel):
        key: Optional[str] = None
        value: Optional[str] = None

    class PostgresService(ApiModel):
        """A service as GET, list, create, patch, state, replica and restore return it."""

        required: ClassVar[tuple] = ("id",)  # every operation on a service needs it: without one, malformed

        id: Optional[str] = None
        name: Optional[str] = None
        provider: Optional[str] = None
        region: Optional[str] = None
        postgres_version: Optional[str] = None
        size: Optional[str] = None
        storage_size: Int = None
        ha_type: Optional[str] = None
        tags: Optional[List[Tag]] = None
        state: Optional[str] = None
        created_at: Optional[str] = None
        is_primary: Bool = None
        hostname: Optional[str] = None
        username: Optional[str] = None
        password: Optional[str] = None
        connection_string: Optional[str] = None

        def to_result(self):
            out = super().to_result()
            if self.tags is not None:
                out["tags"] = tags_to_dict(self.tags)
            return out

    class PasswordResult(ApiModel):
        password: Optional[str] = None

    class ServiceConfig(ApiModel):
        """GET/POST/PATCH ``/config``; values stay as the API sent them (often strings)."""

        pg_config: Section = {}
        pg_bouncer_config: Section = {}
        message: Optional[str] = None

        def to_result(self):
            out = {"pg_config": dict(self.pg_config or {}), "pg_bouncer_config": dict(self.pg_bouncer_config or {})}
            if self.message:
                out["message"] = self.message
            return out

    class MetricDataPoint(ApiModel):
        timestamp: Int = None
        value: Float = None

    class MetricSeries(ApiModel):
        label: Optional[str] = None
        data_points: List[MetricDataPoint] = []

    class Metric(ApiModel):
        key: Optional[str] = None
        name: Optional[str] = None
        unit: Optional[str] = None
        description: Optional[str] = None
        series: List[MetricSeries] = []

    class Metrics(ApiModel):
        metrics: List[Metric] = []

    class _Statement(ApiModel):
        """What patterns and executions share: the statement and who ran it.

        ``query_id`` is a signed 64-bit hash kept as text: through a float it would change.
        """

        query_id: Optional[str] = None
        query_text: Optional[str] = None
        db_name: Optional[str] = None
        db_user: Optional[str] = None
        db_operation: Optional[str] = None
        app: Optional[str] = None

    class SlowQueryPattern(_Statement):
        """One normalised statement with its totals."""

        call_count: Int = None
        error_count: Int = None
        total_duration_us: Int = None
        avg_duration_us: Int = None
        max_duration_us: Int = None
        p50_duration_us: Int = None
        p95_duration_us: Int = None
        p99_duration_us: Int = None
        total_rows: Int = None
        total_shared_blks_read: Int = None
        total_shared_blks_hit: Int = None
        total_cpu_time_us: Int = None
        total_wal_bytes: Int = None

    class QueryExecution(_Statement):
        """One execution; the many counters not named here pass through as extras."""

        timestamp: Optional[str] = None
        pid: Optional[str] = None
        duration_us: Int = None
        rows: Int = None
        server_role: Optional[str] = None
        err_message: Optional[str] = None
        err_sqlstate: Optional[str] = None
        err_elevel: Int = None

    class SlowQueryPatternDetail(ApiModel):
        aggregate: Optional[SlowQueryPattern] = None
        recent_executions: List[QueryExecution] = []

    class LogEntry(ApiModel):
        timestamp: Optional[str] = None
        severity: Optional[str] = None
        body: Optional[str] = None

    class Backup(ApiModel):
        """A base backup, as the backups list of the live API gives it (``status`` is an open set)."""

        key: Optional[str] = None
        status: Optional[str] = None
        last_modified: Optional[str] = None
