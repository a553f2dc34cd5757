"""Server-side fault rules: injected errors, added latency, cut streams and forbidden verbs.

Rules match ``(verb, resource[/subresource])`` with ``*`` wildcards, optionally narrowed to a namespace
and an object name, and apply ``times`` times (or forever when ``times`` is None). An ``unreachable`` rule
applies to every matching request for ``seconds`` (or until removed when ``seconds`` is 0).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_k8spod.testing._util import JSON

FAULT_KINDS = ("fail", "latency", "reset_stream", "unreachable")
_ids = itertools.count(1)


@dataclass
class FaultRule:
    kind: str
    verb: str = "*"
    resource: str = "*"
    namespace: str | None = None
    name: str | None = None
    times: int | None = 1
    status: int = 500
    retry_after: float | None = None
    message: str | None = None
    seconds: float = 0.0
    after_bytes: int = 0
    id: int = 0
    hits: int = 0
    #: ``unreachable``: when the rule stops applying (``time.monotonic()``), None for never.
    until: float | None = None

    def matches(self, verb: str, resource: str, namespace: str | None, name: str | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.until is not None and time.monotonic() >= self.until:
            return False
        if self.verb not in ("*", verb):
            return False
        if self.resource not in ("*", resource):
            return False
        if self.namespace is not None and self.namespace != namespace:
            return False
        return self.name is None or self.name == name

    def to_json(self) -> JSON:
        data = asdict(self)
        data.pop("until")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, not {kind!r}")
        known = {
            k: v
            for k, v in data.items()
            if k in cls.__dataclass_fields__ and k not in ("id", "hits", "until")
        }
        rule = cls(**known)
        if kind == "unreachable":
            if rule.seconds < 0:
                raise ValueError("seconds must be >= 0 (0: until the rule is removed)")
            rule.times = None
            rule.until = time.monotonic() + rule.seconds if rule.seconds else None
        if rule.times is not None and rule.times < 1:
            raise ValueError("times must be >= 1 or null (forever)")
        if kind == "fail" and not 400 <= int(rule.status) <= 599:
            raise ValueError("status must be an HTTP error code (400-599)")
        rule.id = next(_ids)
        return rule


@dataclass(frozen=True)
class ForbiddenRule:
    verb: str
    resource: str
    namespace: str | None = None

    def matches(self, verb: str, resource: str, namespace: str | None) -> bool:
        if self.verb not in ("*", verb) or self.resource not in ("*", resource):
            return False
        return self.namespace is None or self.namespace == namespace


class FaultTable:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.forbidden: list[ForbiddenRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def take(
        self, kind: str, verb: str, resource: str, namespace: str | None, name: str | None
    ) -> FaultRule | None:
        """The first matching rule of ``kind``; consumes one of its ``times``."""
        for rule in self.rules:
            if rule.kind == kind and rule.matches(verb, resource, namespace, name):
                rule.hits += 1
                return rule
        return None

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        self.rules.clear()

    def forbid(self, rule: ForbiddenRule) -> None:
        if rule not in self.forbidden:
            self.forbidden.append(rule)

    def allow(self, verb: str | None, resource: str | None) -> None:
        self.forbidden = [
            r
            for r in self.forbidden
            if not ((verb is None or r.verb == verb) and (resource is None or r.resource == resource))
        ]

    def is_forbidden(self, verb: str, resource: str, namespace: str | None) -> bool:
        return any(r.matches(verb, resource, namespace) for r in self.forbidden)
