"""Patch formats accepted by the API server: JSON merge patch, strategic merge patch and JSON patch.

Pure functions working on JSON-like values. :class:`PatchError` is answered with 422 (invalid patch
content) by the API layer, like kube-apiserver does.
"""

from __future__ import annotations

import copy
from typing import Any

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class PatchError(ValueError):
    pass


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# Merge keys of list fields under Pod (and the few other types we serve), from the Kubernetes OpenAPI
# ``x-kubernetes-patch-merge-key`` extensions. Keyed by the field name; the same name has the same merge
# key wherever it appears in the types we handle.
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "conditions": "type",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "ephemeralContainerStatuses": "name",
    "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
}
# Lists of scalars merged as sets.
_MERGE_SETS = {"finalizers"}


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """A practical subset of Kubernetes strategic merge patch.

    Maps merge recursively (``null`` deletes); lists with a known merge key merge by that key
    (``$patch: delete`` entries remove, ``$patch: replace`` replaces the whole list); ``finalizers`` merge
    as a set; ``$retainKeys`` and ``$deleteFromPrimitiveList/<field>`` are honoured; other lists replace.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            current = result.get(name) or []
            result[name] = [item for item in current if item not in (value or [])]
            continue
        if key.startswith("$setElementOrder/"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, key)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: Any, patch: list[Any], field: str) -> list[Any]:
    if field in _MERGE_SETS:
        merged = list(current or [])
        for item in patch:
            if item not in merged:
                merged.append(item)
        return merged
    merge_key = _MERGE_KEYS.get(field)
    if merge_key is None or not all(isinstance(item, dict) for item in patch):
        return [item for item in copy.deepcopy(patch) if not (isinstance(item, dict) and item.get("$patch"))]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(item) for item in patch if item.get("$patch") != "replace"]
    merged = [copy.deepcopy(item) for item in (current or []) if isinstance(item, dict)]
    for item in patch:
        key_value = item.get(merge_key)
        index = next((i for i, existing in enumerate(merged) if existing.get(merge_key) == key_value), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
            continue
        if index is None:
            merged.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            merged[index] = strategic_merge_patch(merged[index], item, field)
    return merged


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, dict):
            if part not in cur:
                raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError) as exc:
                raise PatchError(f"doc is missing path: /{'/'.join(parts)}") from exc
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
    return cur


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("invalid JSON patch operation")
        kind = op["op"]
        parts = _pointer(op["path"])
        if kind == "test":
            if _resolve(doc, parts) != op.get("value"):
                raise PatchError(f"testing value /{'/'.join(parts)} failed: test failed")
            continue
        if kind in ("move", "copy"):
            from_parts = _pointer(op.get("from", ""))
            value = copy.deepcopy(_resolve(doc, from_parts))
            if kind == "move":
                doc = _remove(doc, from_parts)
            doc = _add(doc, parts, value)
            continue
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _resolve(doc, parts)
            doc = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                index = int(last)
            except ValueError as exc:
                raise PatchError(f"invalid index {last!r}") from exc
            if index > len(parent):
                raise PatchError(f"add operation does not apply: doc is missing path: /{'/'.join(parts)}")
            parent.insert(index, value)
    else:
        raise PatchError(f"add operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return None
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"remove operation does not apply: doc is missing path: /{'/'.join(parts)}")
        del parent[last]
    elif isinstance(parent, list):
        try:
            parent.pop(int(last))
        except (ValueError, IndexError) as exc:
            raise PatchError(
                f"remove operation does not apply: doc is missing path: /{'/'.join(parts)}"
            ) from exc
    return doc


def apply_patch(content_type: str, target: Any, patch: Any) -> Any:
    base = content_type.split(";", 1)[0].strip().lower()
    if base == MERGE_PATCH:
        return json_merge_patch(target, patch)
    if base == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(target, patch)
    if base == JSON_PATCH:
        return json_patch(target, patch)
    if base == APPLY_PATCH:
        # Server-side apply without field management: good enough to set fields the way kubectl apply does.
        return strategic_merge_patch(target, patch)
    raise PatchError(f"unsupported patch type {content_type!r}")
