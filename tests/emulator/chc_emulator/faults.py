"""Injected failures for reliability tests, random (seeded) or scripted.

A fault is decided before a request is handled: 5xx and 429 answer without touching any
state, latency delays the request, and `drop` lets the request commit and then closes the
connection without an answer, the case a client can never see.

Random faults are drawn from one stream per kind of request (method and path, ids aside),
each seeded from the seed and that kind: the n-th create of a run gets the same fault
whatever number of polls came before it, so a seed replays a client's faults even when
its timing, and so its polls, vary (tests/soak relies on it).
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading

KINDS = ("500", "502", "503", "429", "latency", "drop")
_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclasses.dataclass
class Rule:
    """A scripted fault: the next `count` requests matching method and path get it."""

    kind: str
    method: str | None = None
    path: str | None = None  # a regular expression searched in the request path
    count: int = 1
    latency_ms: int = 500

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (self.path is None or re.search(self.path, path) is not None)


def parse_rates(text: str) -> dict[str, float]:
    """`500=0.1,drop=0.05` -> {"500": 0.1, "drop": 0.05}."""
    rates: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, rate = part.partition("=")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        value = float(rate)
        if not 0 <= value <= 1:
            raise ValueError(f"fault rate for {kind} must be between 0 and 1")
        rates[kind] = value
    return rates


def parse_rule(data: dict) -> Rule:
    if data.get("kind") not in KINDS:
        raise ValueError(f"kind: one of {', '.join(KINDS)} is required")
    if data.get("path") is not None:
        try:
            re.compile(data["path"])
        except re.error as exc:  # not a ValueError: the hook would drop the connection
            raise ValueError(f"path: not a regular expression: {exc}") from None
    return Rule(
        kind=data["kind"],
        method=data.get("method"),
        path=data.get("path"),
        count=int(data.get("count", 1)),
        latency_ms=int(data.get("latency_ms", 500)),
    )


class Faults:
    def __init__(self, rates: dict[str, float] | None = None, *, seed: int = 0, latency_ms: int = 500):
        self.rates = dict(rates or {})
        self.latency_ms = latency_ms
        self._seed = seed
        self._streams: dict[str, random.Random] = {}
        self._rules: list[Rule] = []
        self._lock = threading.Lock()

    def script(self, rules: list[Rule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, method: str, path: str) -> tuple[str, int] | None:
        """The fault for this request, if any, as (kind, latency_ms)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return rule.kind, rule.latency_ms
            if not self.rates:
                return None
            key = f"{method} {_ID.sub('{id}', path)}"
            stream = self._streams.get(key)
            if stream is None:
                stream = self._streams[key] = random.Random(f"{self._seed}/{key}")
            for kind in KINDS:
                rate = self.rates.get(kind, 0.0)
                if rate and stream.random() < rate:
                    return kind, self.latency_ms
        return None
