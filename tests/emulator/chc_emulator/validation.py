"""Request validation: the spec's schemas first, then the server rules the schemas cannot say.

Every rejection is a 400 whose text names the offending field, and happens before anything
is changed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping

from jsonschema.exceptions import ValidationError, best_match

from . import spec
from .errors import bad_request

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INTEGER_SETTING = re.compile(r"^-?\d+\s*(B|kB|MB|GB|TB|us|ms|s|min|h|d)?$")
_REAL_SETTING = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
RESERVED_TAG_PREFIX = "chc_"


def _field_path(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _describe(error: ValidationError) -> str:
    field = _field_path(error)
    if error.validator == "additionalProperties":
        # The live API refuses a body property it does not know (reference §3.4), so does the emulator.
        properties = error.schema.get("properties", {})
        unknown = sorted(set(error.instance) - set(properties))
        allowed = sorted(name for name, prop in properties.items() if not prop.get("deprecated"))
        what = "parameter(s)" if field.endswith("pgConfig") else "property" if len(unknown) == 1 else "properties"
        return f"{field}: unknown {what} {', '.join(unknown)}; allowed: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{field}: {error.message}"
    if error.validator == "enum":
        return f"{field}: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    return f"{field}: {error.message}"


def check_schema(schema_name: str, body: object, *, allow_empty_config: bool = False) -> None:
    errors = spec.validator(schema_name, allow_empty_config=allow_empty_config).iter_errors(body)
    error = best_match(errors)
    if error is not None:
        raise bad_request(_describe(error))


def parse_json(raw: bytes) -> object:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"request body is not valid JSON ({exc.msg})") from None


def require_object(body: object) -> dict:
    if not isinstance(body, dict):
        raise bad_request("body: expected a JSON object")
    return body


def check_uuid(name: str, value: str) -> None:
    if not _UUID.match(value):
        raise bad_request(f"{name}: {value!r} is not a valid UUID")


def check_size(provider: str, size: str) -> None:
    """Each provider has its own sizes (the schema's enum is all of them)."""
    if size not in spec.sizes(provider):
        raise bad_request(f"size: {size!r} is not a size of provider {provider}")


def check_tags(tags: Iterable[Mapping[str, str]] | None) -> None:
    """Rules beyond the schema: reserved prefix, a value on every tag, unique keys."""
    seen: set[str] = set()
    for index, tag in enumerate(tags or ()):
        key = tag["key"]
        if key.startswith(RESERVED_TAG_PREFIX):
            raise bad_request(f"tags[{index}].key: keys starting with {RESERVED_TAG_PREFIX!r} are reserved")
        if "value" not in tag:
            raise bad_request(f"tags[{index}].value: a value is required")
        if key in seen:
            raise bad_request(f"tags[{index}].key: duplicate key {key!r}")
        seen.add(key)


def _setting_kind(key: str) -> str:
    prop = spec.document()["components"]["schemas"]["pgConfig"]["properties"][key]
    if "enum" in prop:
        return "enum"
    types = prop.get("type", [])
    return "real" if "number" in types else "integer"


def normalise_pg_config(config: Mapping[str, object], *, section: str = "pgConfig") -> dict[str, str]:
    """Check each value's syntax the way PostgreSQL would read it; return values as strings.

    The API echoes numbers back as strings ("max_connections": "42"), so they are stored so.
    """
    result: dict[str, str] = {}
    for key, value in config.items():
        text = format(value, "g") if isinstance(value, float) else str(value)
        kind = _setting_kind(key)
        pattern = {"integer": _INTEGER_SETTING, "real": _REAL_SETTING}.get(kind)
        if pattern is not None and not pattern.match(text.strip()):
            raise bad_request(f"{section}.{key}: invalid value {text!r}")
        result[key] = text.strip()
    return result


def parse_datetime(name: str, value: str | None, *, required: bool = True) -> dt.datetime | None:
    if value is None or value == "":
        if required:
            raise bad_request(f"{name}: required query parameter is missing")
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise bad_request(f"{name}: {value!r} is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise bad_request(f"{name}: {value!r} has no time zone")
    return parsed.astimezone(dt.timezone.utc)


def parse_int(name: str, value: str | None, *, default: int | None, low: int, high: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name}: {value!r} is not an integer") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request(f"{name}: must be {bound}")
    return number


def parse_choice(name: str, value: str | None, choices: Iterable[str], *, default: str | None) -> str | None:
    if value is None or value == "":
        return default
    options = list(choices)
    if value not in options:
        raise bad_request(f"{name}: {value!r} is not one of {', '.join(options)}")
    return value


def parse_window(query: Mapping[str, str], *, max_days: int | None = None) -> tuple[dt.datetime, dt.datetime]:
    since = parse_datetime("from_date", query.get("from_date"))
    until = parse_datetime("to_date", query.get("to_date"))
    assert since is not None and until is not None
    if until <= since:
        raise bad_request("to_date: must be after from_date")
    if max_days is not None and until - since > dt.timedelta(days=max_days):
        raise bad_request(f"to_date: the window may span at most {max_days} days")
    return since, until
