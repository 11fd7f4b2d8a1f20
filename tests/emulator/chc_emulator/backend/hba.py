"""pg_hba.conf from a service's access rules: only the admitted sources reach the server.

Everyone else is refused by the server itself, as a cloud firewall would drop them.  Two
lines are the emulator's own and not the API's:

* the backend's `chc_admin` sessions (config reloads, passwords, statistics, query texts)
  and its replication connections (base backups, standbys and read replicas streaming WAL)
  come over TCP from 127.0.0.1 (the servers have no Unix sockets), and must keep working
  whatever the rules say;
* a source that covers 127.0.0.1 also admits ::1: a local client reaches a server on
  `localhost` over either loopback, and the API's rules are IPv4 only.

Always TCP, SSL and SCRAM: a connection without SSL is refused even from an admitted source.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .template import ADMIN_ROLE

FILE = "pg_hba.conf"
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


def render(sources: Iterable[str]) -> str:
    """The file for these IPv4 networks (CIDR text, e.g. from access.postgres_sources)."""
    networks = [ipaddress.IPv4Network(source) for source in sources]
    lines = [
        "# chc-emulator: written from the service's ipAccessList (the rules that cover port 5432).",
        "# TCP only, SSL only, SCRAM only; every source not listed is refused.",
        "# The emulator's own superuser sessions, from this host:",
        f"hostssl postgres {ADMIN_ROLE} 127.0.0.1/32 scram-sha-256",
        f"hostssl replication {ADMIN_ROLE} 127.0.0.1/32 scram-sha-256",
        "# ipAccessList:",
    ]
    lines += [f"hostssl all all {network} scram-sha-256" for network in networks]
    if any(_LOOPBACK in network for network in networks):
        lines.append("hostssl all all ::1/128 scram-sha-256  # 127.0.0.1 is admitted: the same host over IPv6")
    lines.append("host all all all reject")
    return "\n".join(lines) + "\n"
