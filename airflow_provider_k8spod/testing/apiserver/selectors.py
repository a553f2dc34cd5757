"""Label and field selectors: parsing (string form, as sent in query strings) and matching.

Pure functions. Parse errors raise :class:`SelectorError`; the API layer answers them with 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_k8spod.testing.apiserver.validation import label_value_errors, qualified_name_errors


class SelectorError(ValueError):
    """A selector string that the API server would reject with 400."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("gt", "lt"):
            if not present:
                return False
            try:
                number = int(str(value))
            except ValueError:
                return False
            bound = int(self.values[0])
            return number > bound if self.operator == "gt" else number < bound
        return False


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unable to parse requirement: unexpected ')' in {text!r}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise SelectorError(f"unable to parse requirement: unclosed '(' in {text!r}")
    parts.append("".join(current))
    return parts


def _check_key(key: str) -> None:
    errors = qualified_name_errors(key)
    if errors:
        raise SelectorError(f'unable to parse requirement: key: Invalid value: "{key}": {"; ".join(errors)}')


def _check_value(value: str) -> None:
    errors = label_value_errors(value)
    if errors:
        raise SelectorError(
            f'unable to parse requirement: values[0]: Invalid value: "{value}": {"; ".join(errors)}'
        )


_SET_RE = re.compile(r"^\s*(?P<key>\S+?)\s+(?P<op>in|notin)\s*\((?P<vals>[^)]*)\)\s*$")
_BINARY_RE = re.compile(r"^\s*(?P<key>[^\s=!<>]+)\s*(?P<op>==|!=|=|>|<)\s*(?P<val>[^\s]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(?P<neg>!)?\s*(?P<key>[^\s=!<>()]+)\s*$")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``a=b,c!=d,e in (f,g),h notin (i),j,!k``."""
    if text is None or not text.strip():
        return LabelSelector()
    requirements: list[Requirement] = []
    for part in _split_top_level(text):
        if not part.strip():
            raise SelectorError(f"unable to parse requirement: found '', expected: identifier in {text!r}")
        match = _SET_RE.match(part)
        if match:
            key = match.group("key")
            _check_key(key)
            values = tuple(v.strip() for v in match.group("vals").split(",") if v.strip())
            for value in values:
                _check_value(value)
            if not values:
                raise SelectorError(
                    f"unable to parse requirement: for 'in', 'notin' operators, values set can't be "
                    f"empty in {text!r}"
                )
            requirements.append(Requirement(key, match.group("op"), values))
            continue
        match = _BINARY_RE.match(part)
        if match:
            key, op, value = match.group("key"), match.group("op"), match.group("val")
            _check_key(key)
            if op in (">", "<"):
                try:
                    int(value)
                except ValueError as exc:
                    raise SelectorError(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must "
                        f"be an integer in {text!r}"
                    ) from exc
                requirements.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
                continue
            _check_value(value)
            requirements.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            continue
        match = _EXISTS_RE.match(part)
        if match:
            key = match.group("key")
            _check_key(key)
            requirements.append(Requirement(key, "!" if match.group("neg") else "exists"))
            continue
        raise SelectorError(f"unable to parse requirement: invalid selector {part.strip()!r} in {text!r}")
    return LabelSelector(tuple(requirements))


def selector_from_match(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A structured ``metav1.LabelSelector`` (matchLabels + matchExpressions)."""
    if not selector:
        return LabelSelector()
    requirements = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        requirements.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return LabelSelector(tuple(requirements))


# ---------------------------------------------------------------------------------------------------------
# Field selectors


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool = False


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        for req in self.requirements:
            actual = fields.get(req.field, "")
            if (actual == req.value) == req.negate:
                return False
        return True

    def value_of(self, field: str) -> str | None:
        """The value an ``=`` requirement pins ``field`` to (used to spot single-object watches)."""
        for req in self.requirements:
            if req.field == field and not req.negate:
                return req.value
        return None


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text: str | None, supported: frozenset[str] | set[str]) -> FieldSelector:
    if text is None or not text.strip():
        return FieldSelector()
    requirements: list[FieldRequirement] = []
    for part in re.split(r"(?<!\\),", text):
        if not part.strip():
            continue
        match = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not match:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = match.groups()
        if field not in supported:
            raise SelectorError(f"field label not supported: {field}")
        requirements.append(FieldRequirement(field, _unescape(value), op == "!="))
    return FieldSelector(tuple(requirements))


def _get(obj: Mapping[str, Any], *path: str) -> str:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(key)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _meta_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    return {
        "metadata.name": _get(obj, "metadata", "name"),
        "metadata.namespace": _get(obj, "metadata", "namespace"),
    }


def pod_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    fields = _meta_fields(obj)
    fields.update(
        {
            "spec.nodeName": _get(obj, "spec", "nodeName"),
            "spec.restartPolicy": _get(obj, "spec", "restartPolicy"),
            "spec.schedulerName": _get(obj, "spec", "schedulerName"),
            "spec.serviceAccountName": _get(obj, "spec", "serviceAccountName"),
            "spec.hostNetwork": _get(obj, "spec", "hostNetwork") or "false",
            "status.phase": _get(obj, "status", "phase"),
            "status.podIP": _get(obj, "status", "podIP"),
            "status.nominatedNodeName": _get(obj, "status", "nominatedNodeName"),
        }
    )
    return fields


def event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    fields = _meta_fields(obj)
    for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
        fields[f"involvedObject.{key}"] = _get(obj, "involvedObject", key)
    fields.update(
        {
            "reason": _get(obj, "reason"),
            "reportingComponent": _get(obj, "reportingComponent"),
            "source": _get(obj, "source", "component"),
            "type": _get(obj, "type"),
        }
    )
    return fields


def secret_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    fields = _meta_fields(obj)
    fields["type"] = _get(obj, "type")
    return fields


def node_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    fields = _meta_fields(obj)
    fields["spec.unschedulable"] = _get(obj, "spec", "unschedulable") or "false"
    return fields


def namespace_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    fields = _meta_fields(obj)
    fields["status.phase"] = _get(obj, "status", "phase")
    return fields


FieldExtractor = Callable[[Mapping[str, Any]], dict[str, str]]

FIELD_EXTRACTORS: dict[str, FieldExtractor] = {
    "pods": pod_fields,
    "events": event_fields,
    "configmaps": _meta_fields,
    "secrets": secret_fields,
    "nodes": node_fields,
    "namespaces": namespace_fields,
    "persistentvolumeclaims": _meta_fields,
    "persistentvolumes": _meta_fields,
    "storageclasses": _meta_fields,
}


def supported_fields(resource: str) -> frozenset[str]:
    extractor = FIELD_EXTRACTORS[resource]
    return frozenset(extractor({}).keys())
