"""Turn whatever a DAG author wrote into the canonical form: a plain JSON dict in camelCase.

The canonical form is exactly what the Kubernetes API sends (what ``kubectl get -o json`` shows). Users may
write Kubernetes objects as:

- ``kubernetes.client`` models (``V1Pod``, ``V1Container``, ...), serialized with
  ``ApiClient().sanitize_for_serialization``;
- plain dicts in camelCase (``imagePullPolicy``) or snake_case (``image_pull_policy``), mixed freely;
- YAML or JSON text (:func:`parse_manifest_text`, through ``yaml.safe_load`` only).

Keys are converted with the models' own ``openapi_types`` / ``attribute_map`` tables, and only for fields of
model types: the keys of map-typed fields (labels, annotations, nodeSelector, resources.limits, ...) are the
user's data and are never touched. A key that is no field of the model is a :class:`PodSpecError` that
names the field path and the closest valid field name.

Everything here is pure (no I/O).

Public functions:

- :func:`to_api` ``(value, type_name, path) -> Any``: convert one value of an OpenAPI type (``"V1Pod"``,
  ``"List[V1EnvVar]"``, ``"Dict[str, str]"``, ...).
- :func:`parse_manifest_text` ``(text, source) -> dict``: one YAML/JSON document to a dict.
- :func:`is_model` ``(obj) -> bool``: whether ``obj`` is a ``kubernetes.client`` model.
- :func:`to_model` ``(data, type_name) -> Any``: canonical dict back to a ``kubernetes.client`` model.
- :func:`field_path` ``(path, key) -> str``: how error paths are written.
- :func:`null_quantities` ``(pod) -> list`` and :func:`without_null_quantities` ``(pod) -> dict``: the
  ``None`` values of containers' resource maps (``limits={"nvidia.com/gpu": None}``), which upstream sends
  and the API server reads as zero, but which the schema and ``kubernetes`` 37's models do not allow.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from airflow_provider_k8spod.exceptions import PodSpecError

__all__ = [
    "field_path",
    "is_model",
    "model_class",
    "null_quantities",
    "parse_manifest_text",
    "restore_null_quantities",
    "to_api",
    "to_model",
    "without_null_quantities",
]

_LIST_RE = re.compile(r"^(?:list|List)\[(.+)\]$")
#: Map types as the clients spell them: ``dict(str, X)`` (old), ``dict[str, X]`` (36), ``Dict[str, X]`` (37).
_DICT_RE = re.compile(r"^(?:dict\(str, (.+)\)|[Dd]ict\[str, (.+)\])$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Quantities may be written as numbers (``cpu: 1``); the API sends them back as strings.
_QUANTITY_MAPS = {("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests")}
_QUANTITY_MAPS |= {("V1PodSpec", "overhead"), ("V1EmptyDirVolumeSource", "sizeLimit")}


def field_path(path: str, key: str | int) -> str:
    """``path`` extended by ``key``: ``a.b``, ``a[0]``, or ``a["app.kubernetes.io/name"]`` for map keys."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT_RE.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


@functools.cache
def model_class(type_name: str) -> type | None:
    """The ``kubernetes.client`` model class called ``type_name``, or None for a primitive type."""
    import kubernetes.client.models as models

    cls = getattr(models, type_name, None)
    if cls is None or not hasattr(cls, "openapi_types") or not hasattr(cls, "attribute_map"):
        return None
    return cls  # type: ignore[no-any-return]


def is_model(obj: Any) -> bool:
    """Whether ``obj`` is an instance of a ``kubernetes.client`` model (old or pydantic generation)."""
    cls = type(obj)
    return (
        hasattr(cls, "openapi_types")
        and hasattr(cls, "attribute_map")
        and cls.__module__.startswith("kubernetes")
    )


@functools.cache
def _fields(type_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """(wire name -> OpenAPI type, accepted key -> wire name) of a model."""
    cls = model_class(type_name)
    assert cls is not None
    types: dict[str, str] = {}
    accepted: dict[str, str] = {}
    attribute_map: dict[str, str] = getattr(cls, "attribute_map")  # noqa: B009
    for attr, openapi_type in getattr(cls, "openapi_types").items():  # noqa: B009
        wire = attribute_map[attr]
        types[wire] = openapi_type
        accepted[wire] = wire
        accepted.setdefault(attr, wire)
    return types, accepted


def _api_client() -> Any:
    from kubernetes.client import ApiClient

    return ApiClient()


@functools.cache
def _shared_api_client() -> Any:
    return _api_client()


def _sanitize_model(obj: Any) -> Any:
    return _shared_api_client().sanitize_for_serialization(obj)


def to_api(value: Any, type_name: str, path: str) -> Any:
    """Convert ``value`` of OpenAPI type ``type_name`` to its canonical JSON form.

    ``path`` names the value in error messages (``spec.containers[0]`` or an argument name such as
    ``volume_mounts[1]``). Raises :class:`PodSpecError` for an unknown field (naming the closest valid one),
    a field given twice (snake_case and camelCase), or a value of the wrong shape where a list or an
    object is required. Primitive type errors are left to schema validation, which reports them with
    their path too.
    """
    if value is None:
        return None
    if is_model(value):
        value = _sanitize_model(value)
    if (m := _LIST_RE.match(type_name)) is not None:
        inner = m.group(1)
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
            raise PodSpecError(f"{path}: expected a list, got {_describe(value)}")
        return [to_api(item, inner, field_path(path, i)) for i, item in enumerate(value)]
    if (m := _DICT_RE.match(type_name)) is not None:
        inner = m.group(1) or m.group(2)
        if not isinstance(value, Mapping):
            raise PodSpecError(f"{path}: expected a mapping, got {_describe(value)}")
        return {str(k): to_api(v, inner, field_path(path, str(k))) for k, v in value.items()}
    if model_class(type_name) is not None:
        return _model_to_api(value, type_name, path)
    if type_name == "datetime" and isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if is_model(value) or hasattr(value, "to_dict"):
        return _sanitize_model(value)
    return value


def _model_to_api(value: Any, type_name: str, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PodSpecError(f"{path}: expected an object ({type_name}), got {_describe(value)}")
    types, accepted = _fields(type_name)
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for raw_key, item in value.items():
        key = str(raw_key)
        wire = accepted.get(key)
        if wire is None:
            raise PodSpecError(_unknown_field_message(path, key, type_name, list(types)))
        if wire in origin:
            raise PodSpecError(
                f"{field_path(path, wire)}: given twice, as {origin[wire]!r} and {key!r}; keep one of them"
            )
        origin[wire] = key
        if item is None:
            continue
        converted = to_api(item, types[wire], field_path(path, wire))
        if (type_name, wire) in _QUANTITY_MAPS:
            converted = _quantities_to_str(converted)
        out[wire] = converted
    return out


def _quantities_to_str(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _quantity_to_str(v) for k, v in value.items()}
    return _quantity_to_str(value)


def _quantity_to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _unknown_field_message(path: str, key: str, type_name: str, valid: list[str]) -> str:
    snake_to_wire = {re.sub(r"(?<!^)(?=[A-Z])", "_", w).lower(): w for w in valid}
    candidates = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if not candidates:
        near = difflib.get_close_matches(key.lower(), list(snake_to_wire), n=1, cutoff=0.6)
        candidates = [snake_to_wire[near[0]]] if near else []
    if not candidates:
        lowered = {w.lower(): w for w in valid}
        if key.lower().replace("_", "") in lowered:
            candidates = [lowered[key.lower().replace("_", "")]]
    hint = f"; did you mean {candidates[0]!r}?" if candidates else ""
    kind = type_name[2:] if re.match(r"^V\d", type_name) else type_name
    return f"{field_path(path, key)}: unknown field {key!r} for {kind}{hint}"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    return f"{type(value).__name__} {value!r}"[:80]


def parse_manifest_text(text: str, source: str) -> dict[str, Any]:
    """Parse one YAML or JSON document (``yaml.safe_load``) that must be a mapping.

    ``source`` names where the text came from in errors (a file path or an argument name).
    """
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PodSpecError(f"{source}: not valid YAML or JSON{where}: {problem}") from None
    if not documents:
        raise PodSpecError(f"{source}: the manifest is empty")
    if len(documents) > 1:
        raise PodSpecError(f"{source}: expected one YAML document (one Pod), found {len(documents)}")
    document = documents[0]
    if not isinstance(document, dict):
        raise PodSpecError(f"{source}: expected a mapping (a Pod manifest), got {_describe(document)}")
    return document


def to_model(data: Any, type_name: str) -> Any:
    """Canonical JSON ``data`` back to a ``kubernetes.client`` model of ``type_name`` (e.g. ``"V1Pod"``).

    A pod's ``None`` resource quantities are kept where the installed ``kubernetes`` models allow them
    (before 37) and left out where they do not.
    """
    client = _api_client()
    deserialize = getattr(client, "_ApiClient__deserialize", None)
    if deserialize is None:  # pragma: no cover
        return client.deserialize(json.dumps(data), type_name, "application/json")
    if type_name == "V1Pod" and isinstance(data, dict) and null_quantities(data):
        try:
            return deserialize(data, type_name)
        except (TypeError, ValueError):  # kubernetes 37's models: a quantity must be a string
            return deserialize(without_null_quantities(data), type_name)
    return deserialize(data, type_name)


#: (containers kind, container name, "limits" or "requests", resource name) of a null quantity.
NullQuantity = tuple[str, str, str, str]
_CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")


def _resource_maps(pod: Mapping[str, Any]) -> list[tuple[str, int, dict[str, Any], str, dict[str, Any]]]:
    spec = pod.get("spec")
    found: list[tuple[str, int, dict[str, Any], str, dict[str, Any]]] = []
    if not isinstance(spec, Mapping):
        return found
    for kind in _CONTAINER_KINDS:
        items = spec.get(kind)
        for i, container in enumerate(items if isinstance(items, list) else []):
            resources = container.get("resources") if isinstance(container, dict) else None
            for which in ("limits", "requests"):
                values = resources.get(which) if isinstance(resources, dict) else None
                if isinstance(values, dict):
                    found.append((kind, i, container, which, values))
    return found


def null_quantities(pod: Mapping[str, Any]) -> list[NullQuantity]:
    """Where ``pod`` (canonical) has a ``None`` resource quantity."""
    return [
        (kind, str(container.get("name")), which, name)
        for kind, _, container, which, values in _resource_maps(pod)
        for name, value in values.items()
        if value is None
    ]


def without_null_quantities(pod: dict[str, Any]) -> dict[str, Any]:
    """``pod`` without its ``None`` resource quantities (a copy when there are any; ``pod`` is unchanged)."""
    if not null_quantities(pod):
        return pod
    copied: dict[str, Any] = json.loads(json.dumps(pod))
    for _, _, _, _, values in _resource_maps(copied):
        for name in [n for n, v in values.items() if v is None]:
            del values[name]
    return copied


def restore_null_quantities(pod: dict[str, Any], nulls: list[NullQuantity]) -> None:
    """Put the ``None`` quantities ``nulls`` back into ``pod`` where its containers still have no value."""
    for kind, name, which, resource in nulls:
        for container in (pod.get("spec") or {}).get(kind) or []:
            if isinstance(container, dict) and container.get("name") == name:
                values = container.setdefault("resources", {}).setdefault(which, {})
                values.setdefault(resource, None)
