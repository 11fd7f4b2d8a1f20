"""A service's IPv4 access rules (`ipAccessList`, live API of October 2026).

A rule admits a source (an IPv4 address or CIDR block) on a port or an inclusive range
`A..B`.  The emulator's server stands for the service's Postgres port, 5432, whatever local
port it listens on; 6432 (PgBouncer) has no server here.  So what reaches the real server
is the list of sources whose rule covers 5432 (`postgres_sources`).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable, Mapping

from .errors import bad_request

POSTGRES_PORT = 5432
PGBOUNCER_PORT = 6432
_PORT_RANGE = re.compile(r"^(\d{1,5})(?:\.\.(\d{1,5}))?$")


def _port_bounds(port_range: str) -> tuple[int, int] | None:
    match = _PORT_RANGE.match(port_range)
    if not match:
        return None
    low = int(match.group(1))
    high = int(match.group(2) or low)
    return (low, high) if 1 <= low <= high <= 65535 else None


def _network(source: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(source, strict=False)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        return None


def check_rules(rules: Iterable[Mapping[str, str]], field: str) -> None:
    """What the schema cannot say: the source is IPv4, the ports a port or an A..B range."""
    for index, rule in enumerate(rules):
        if _network(rule["source"]) is None:
            raise bad_request(f"{field}[{index}].source: {rule['source']!r} is not an IPv4 address or CIDR block")
        if _port_bounds(rule["portRange"]) is None:
            raise bad_request(f"{field}[{index}].portRange: {rule['portRange']!r} is not a port or a range A..B with 1 <= A <= B <= 65535")


def new_rules(rules: Iterable[Mapping[str, str]]) -> list[dict]:
    """Stored rules, each with a fresh id; the description only when one was given."""
    made = []
    for rule in rules:
        entry = {"id": str(uuid.uuid4()), "source": rule["source"], "portRange": rule["portRange"]}
        if "description" in rule:
            entry["description"] = rule["description"]
        made.append(entry)
    return made


def default_rules() -> list[dict]:
    """A create without ipAccessList: every address may reach Postgres and PgBouncer."""
    return new_rules([{"source": "0.0.0.0/0", "portRange": str(POSTGRES_PORT)}, {"source": "0.0.0.0/0", "portRange": str(PGBOUNCER_PORT)}])


def copied(rules: Iterable[Mapping[str, str]]) -> list[dict]:
    """The same rules for another service (a read replica), with ids of its own."""
    return new_rules([{k: v for k, v in rule.items() if k != "id"} for rule in rules])


def patched(current: list[dict], change: Mapping[str, list]) -> list[dict]:
    """`{"add": [...], "remove": [{"id": ...}]}` applied to current: removals first, then additions.

    An id the service does not have is a 400, and nothing changes.
    """
    ids = {rule["id"] for rule in current}
    removed = set()
    for index, entry in enumerate(change.get("remove", [])):
        if entry["id"] not in ids:
            raise bad_request(f"ipAccessList.remove[{index}].id: the service has no access rule {entry['id']!r}")
        removed.add(entry["id"])
    additions = change.get("add", [])
    check_rules(additions, "ipAccessList.add")
    return [rule for rule in current if rule["id"] not in removed] + new_rules(additions)


def postgres_sources(rules: Iterable[Mapping[str, str]]) -> list[str]:
    """The networks (normalised CIDR, in rule order, once each) whose rule covers the Postgres port."""
    sources: list[str] = []
    for rule in rules:
        low, high = _port_bounds(rule["portRange"]) or (0, -1)
        network = _network(rule["source"])
        if network is not None and low <= POSTGRES_PORT <= high and str(network) not in sources:
            sources.append(str(network))
    return sources
