"""Validate a canonical pod dict before anything is sent to a cluster.

Two layers, both pure:

1. **Schema**: the Kubernetes OpenAPI schema of ``v1/Pod`` shipped by ``kubernetes-validate`` (strict mode,
   so unknown fields are rejected), with its verbose error turned into one line that names the field path.
   The schema is the newest one the installed ``kubernetes-validate`` ships (:data:`SCHEMA_VERSION`), so
   fields of recent Kubernetes releases are accepted; the API server remains the final judge.
2. **Semantics** the schema cannot express: DNS-1123 names (pod, namespace, containers, volumes), label
   and annotation key/value syntax, duplicate container / init-container / volume names, volume mounts
   that reference no volume, two mounts at one path, resource quantities that do not parse (and requests
   above limits), the values of common enums (imagePullPolicy, restartPolicy, dnsPolicy, ...).

Public functions:

- :func:`validate_pod` ``(pod) -> None``: both layers; raises :class:`PodSpecError`.
- :func:`schema_errors` ``(pod) -> list[str]`` and :func:`semantic_errors` ``(pod) -> list[str]``.
- :func:`parse_quantity` ``(text) -> Decimal``; :func:`is_dns1123_label`, :func:`is_dns1123_subdomain`,
  :func:`label_key_error`, :func:`label_value_error`.
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.normalize import field_path, without_null_quantities

__all__ = [
    "SCHEMA_VERSION",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_unrendered_template",
    "label_key_error",
    "label_value_error",
    "parse_quantity",
    "schema_errors",
    "semantic_errors",
    "validate_pod",
]


@functools.cache
def _latest_schema_version() -> str:
    import kubernetes_validate.utils as kv_utils

    return str(kv_utils.major_minor(kv_utils.latest_version()))


if TYPE_CHECKING:
    #: Kubernetes version whose Pod schema is used (computed on first use).
    SCHEMA_VERSION: str


def __getattr__(name: str) -> str:
    # SCHEMA_VERSION (the Kubernetes version whose Pod schema is used) is looked up on first use:
    # importing kubernetes_validate at DAG parse time would cost every DAG file that imports the operator.
    if name == "SCHEMA_VERSION":
        return _latest_schema_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_SUFFIX = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

_ENUMS: dict[str, tuple[str, ...]] = {
    "restartPolicy": ("Never", "OnFailure", "Always"),
    "dnsPolicy": ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"),
    "imagePullPolicy": ("Always", "IfNotPresent", "Never"),
    "terminationMessagePolicy": ("File", "FallbackToLogsOnError"),
    "protocol": ("TCP", "UDP", "SCTP"),
}


def is_dns1123_label(name: str) -> bool:
    """Lower-case alphanumerics and ``-``, starting and ending alphanumeric, at most 63 characters."""
    return len(name) <= 63 and bool(_DNS1123_LABEL.match(name))


def is_dns1123_subdomain(name: str) -> bool:
    """Dot-separated DNS-1123 labels, at most 253 characters."""
    return len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))


def label_key_error(key: str) -> str | None:
    """Why ``key`` is not a valid label or annotation key, or None."""
    if not isinstance(key, str) or not key:
        return "a key must be a non-empty string"
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "the prefix before '/' is empty"
    if prefix and not is_dns1123_subdomain(prefix):
        return f"the prefix {prefix!r} must be a DNS-1123 subdomain (lower-case, at most 253 characters)"
    if len(name) > 63:
        return f"the name part has {len(name)} characters; at most 63 are allowed"
    if not _LABEL_NAME.match(name):
        return (
            "the name part must consist of alphanumerics, '-', '_' or '.', "
            "and start and end with an alphanumeric"
        )
    return None


def label_value_error(value: Any) -> str | None:
    """Why ``value`` is not a valid label value, or None."""
    if not isinstance(value, str):
        return f"a label value must be a string, got {type(value).__name__} {value!r}"
    if len(value) > 63:
        return f"the value has {len(value)} characters; at most 63 are allowed"
    if not _LABEL_VALUE.match(value):
        return (
            "a label value must be empty or consist of alphanumerics, '-', '_' or '.', "
            "and start and end with an alphanumeric"
        )
    return None


def parse_quantity(text: Any) -> Decimal:
    """The value of a Kubernetes resource quantity (``"500m"`` -> 0.5, ``"1Gi"`` -> 1073741824).

    Raises ``ValueError`` for text that is no quantity.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a quantity")
    if isinstance(text, (int, float)):
        return Decimal(str(text))
    if not isinstance(text, str) or not _QUANTITY.match(text):
        raise ValueError(f"{text!r} is not a quantity")
    match = re.match(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(.*)$", text)
    assert match is not None
    number, suffix = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation:  # pragma: no cover - excluded by the pattern
        raise ValueError(f"{text!r} is not a quantity") from None
    if not suffix:
        return value
    if suffix in _SUFFIX:
        return value * _SUFFIX[suffix]
    return value * Decimal(10) ** int(suffix[1:])


# ---------------------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------------------


@functools.cache
def _pod_validator() -> Any:
    """A reusable validator for the Pod schema (loading the schema files once, not per pod)."""
    import jsonschema
    import kubernetes_validate.utils as kv_utils
    from referencing import Registry, Resource

    version = kv_utils.latest_version()
    directory = f"kubernetes-json-schema/v{version}-local-strict"
    schema = kv_utils.schema_contents(f"{directory}/pod-v1.json", version)
    definitions = kv_utils.schema_contents(f"{directory}/_definitions.json", version)
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _json_path(parts: Any) -> str:
    path = ""
    for part in parts:
        path = field_path(path, part)
    return path or "(pod)"


def _concise(error: Any) -> str:
    """One line for a jsonschema error: the field path and what is wrong."""
    path = _json_path(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        valid = sorted(error.schema.get("properties", {}))
        import difflib

        parts = []
        for key in extra:
            close = difflib.get_close_matches(key, valid, n=1)
            parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"{path}: unknown field {', '.join(parts)}"
    if validator == "required":
        return f"{path}: {error.message.replace(' is a required property', '')} is required"
    if validator in ("oneOf", "anyOf"):
        return f"{path}: {error.instance!r} has the wrong type"
    if validator == "type":
        expected = error.validator_value
        expected = [t for t in expected if t != "null"] if isinstance(expected, list) else [expected]
        return f"{path}: expected {' or '.join(expected)}, got {type(error.instance).__name__} {error.instance!r}"
    if validator == "enum":
        return f"{path}: {error.instance!r} is not one of {error.validator_value!r}"
    return f"{path}: {error.message}"


def schema_errors(pod: dict[str, Any]) -> list[str]:
    """Schema violations of ``pod``, one concise line each, most relevant first."""
    import jsonschema.exceptions

    validator = _pod_validator()
    errors = list(validator.iter_errors(pod))
    if not errors:
        return []
    best = jsonschema.exceptions.best_match(errors)
    lines = [_concise(best)]
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        line = _concise(error)
        if line not in lines:
            lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------------------------
# Semantics
# ---------------------------------------------------------------------------------------------------------


_ALLOW_TEMPLATES: contextvars.ContextVar[bool] = contextvars.ContextVar("allow_templates", default=False)


def is_unrendered_template(value: Any) -> bool:
    """Whether ``value`` still contains Jinja markup (``{{ ... }}`` or ``{% ... %}``)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _skip(value: Any) -> bool:
    return _ALLOW_TEMPLATES.get() and is_unrendered_template(value)


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        items = spec.get(kind)
        if isinstance(items, list):
            for i, container in enumerate(items):
                if isinstance(container, dict):
                    yield f"spec.{kind}[{i}]", container


def _check_map(path: str, mapping: Any, *, labels: bool) -> Iterator[str]:
    if not isinstance(mapping, dict):
        return
    for key, value in mapping.items():
        if _skip(key) or _skip(value):
            continue
        if (why := label_key_error(key)) is not None:
            yield f"{field_path(path, str(key))}: invalid key {key!r}: {why}"
        if labels and (why := label_value_error(value)) is not None:
            yield f"{field_path(path, str(key))}: invalid value {value!r}: {why}"
        elif not labels and not isinstance(value, str):
            yield f"{field_path(path, str(key))}: an annotation value must be a string, got {value!r}"


def _check_name(path: str, value: Any, *, subdomain: bool = False) -> Iterator[str]:
    if not isinstance(value, str) or _skip(value):
        return
    ok = is_dns1123_subdomain(value) if subdomain else is_dns1123_label(value)
    if not ok:
        rule = "a DNS-1123 subdomain" if subdomain else "a DNS-1123 label"
        limit = 253 if subdomain else 63
        yield (
            f"{path}: {value!r} is not {rule} (lower-case letters, digits and '-'"
            f"{', dots' if subdomain else ''}; starting and ending with a letter or digit; "
            f"at most {limit} characters)"
        )


def _check_resources(path: str, resources: Any) -> Iterator[str]:
    if not isinstance(resources, dict):
        return
    parsed: dict[str, dict[str, Decimal]] = {}
    for kind in ("limits", "requests"):
        values = resources.get(kind)
        if not isinstance(values, dict):
            continue
        parsed[kind] = {}
        for name, quantity in values.items():
            if quantity is None or _skip(quantity):
                continue  # null: sent as upstream sends it; the API server reads it as zero
            try:
                parsed[kind][name] = parse_quantity(quantity)
            except ValueError:
                yield (
                    f"{field_path(field_path(path, kind), name)}: {quantity!r} is not a resource quantity "
                    "(examples: '500m', '2', '128Mi', '1Gi')"
                )
    for name, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(name)
        if limit is not None and request > limit:
            yield (
                f"{field_path(field_path(path, 'requests'), name)}: request "
                f"{resources['requests'][name]!r} is above the limit {resources['limits'][name]!r}"
            )


def _check_enum(path: str, key: str, value: Any) -> Iterator[str]:
    allowed = _ENUMS.get(key)
    if allowed and not _skip(value) and isinstance(value, str) and value not in allowed:
        yield f"{field_path(path, key)}: {value!r} is not one of {', '.join(allowed)}"


def semantic_errors(pod: dict[str, Any], *, allow_templates: bool = False) -> list[str]:
    """What the API server would reject although the schema accepts it.

    With ``allow_templates`` (``dry_run()`` before rendering), values that still contain Jinja markup are
    not checked; everything else is.
    """
    token = _ALLOW_TEMPLATES.set(allow_templates)
    try:
        return _semantic_errors(pod)
    finally:
        _ALLOW_TEMPLATES.reset(token)


def _semantic_errors(pod: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    if pod.get("kind", "Pod") != "Pod":
        errors.append(f"kind: expected 'Pod', got {pod.get('kind')!r}")
    if pod.get("apiVersion", "v1") != "v1":
        errors.append(f"apiVersion: expected 'v1', got {pod.get('apiVersion')!r}")
    metadata: dict[str, Any] = pod["metadata"] if isinstance(pod.get("metadata"), dict) else {}
    errors += _check_name("metadata.name", metadata.get("name"), subdomain=True)
    errors += _check_name("metadata.namespace", metadata.get("namespace"))
    errors += _check_map("metadata.labels", metadata.get("labels"), labels=True)
    errors += _check_map("metadata.annotations", metadata.get("annotations"), labels=False)

    spec: dict[str, Any] = pod["spec"] if isinstance(pod.get("spec"), dict) else {}
    if not spec.get("containers"):
        errors.append("spec.containers: a pod needs at least one container (pass image=... or a manifest)")
    for key in ("restartPolicy", "dnsPolicy"):
        errors += _check_enum("spec", key, spec.get(key))
    errors += _check_name("spec.serviceAccountName", spec.get("serviceAccountName"), subdomain=True)
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not isinstance(deadline, bool) and not 1 <= deadline <= 2**31 - 1:
        errors.append(f"spec.activeDeadlineSeconds: must be between 1 and {2**31 - 1}, got {deadline}")
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and not isinstance(grace, bool) and grace < 0:
        errors.append(f"spec.terminationGracePeriodSeconds: must not be negative, got {grace}")
    errors += _check_map("spec.nodeSelector", spec.get("nodeSelector"), labels=False)

    volumes: dict[str, str] = {}
    for i, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, dict) or not isinstance(volume.get("name"), str):
            continue
        path = f"spec.volumes[{i}].name"
        errors += _check_name(path, volume["name"])
        if volume["name"] in volumes:
            errors.append(
                f"{path}: duplicate volume name {volume['name']!r} (also {volumes[volume['name']]})"
            )
        else:
            volumes[volume["name"]] = f"spec.volumes[{i}]"

    seen_containers: dict[str, str] = {}
    for path, container in _containers(spec):
        name = container.get("name")
        if isinstance(name, str):
            errors += _check_name(f"{path}.name", name)
            if name in seen_containers:
                errors.append(
                    f"{path}.name: duplicate container name {name!r} (also {seen_containers[name]}); "
                    "container and init container names must be unique in a pod"
                )
            else:
                seen_containers[name] = path
        for key in ("imagePullPolicy", "terminationMessagePolicy"):
            errors += _check_enum(path, key, container.get(key))
        errors += _check_resources(f"{path}.resources", container.get("resources"))
        mount_paths: dict[str, str] = {}
        for j, mount in enumerate(container.get("volumeMounts") or []):
            if not isinstance(mount, dict):
                continue
            mpath = f"{path}.volumeMounts[{j}]"
            if isinstance(mount.get("name"), str) and mount["name"] not in volumes:
                known = ", ".join(repr(v) for v in volumes) or "none"
                errors.append(
                    f"{mpath}.name: mounts volume {mount['name']!r}, but the pod has no volume of that name "
                    f"(volumes: {known})"
                )
            mount_path = mount.get("mountPath")
            if isinstance(mount_path, str):
                if mount_path in mount_paths:
                    errors.append(
                        f"{mpath}.mountPath: {mount_path!r} is already mounted by {mount_paths[mount_path]}"
                    )
                mount_paths[mount_path] = mpath
        for j, port in enumerate(container.get("ports") or []):
            if isinstance(port, dict):
                errors += _check_enum(f"{path}.ports[{j}]", "protocol", port.get("protocol"))
                if isinstance(port.get("name"), str) and not re.match(
                    r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$", port["name"]
                ):
                    errors.append(
                        f"{path}.ports[{j}].name: {port['name']!r} is not a valid port name "
                        "(at most 15 lower-case letters, digits and '-', with at least one letter)"
                    )
    if isinstance(spec.get("overhead"), dict):
        for name, quantity in spec["overhead"].items():
            try:
                parse_quantity(quantity)
            except ValueError:
                errors.append(f"spec.overhead.{name}: {quantity!r} is not a resource quantity")
    return errors


def validate_pod(pod: dict[str, Any], *, allow_templates: bool = False) -> None:
    """Raise :class:`PodSpecError` when ``pod`` would be rejected; the message names the field path.

    Semantic errors come first (they are the more precise ones); all problems are listed, one per line.
    ``allow_templates`` skips the semantic checks of values that still contain Jinja markup.
    """
    problems = semantic_errors(pod, allow_templates=allow_templates) + schema_errors(
        without_null_quantities(pod)
    )
    if problems:
        unique = list(dict.fromkeys(problems))
        if len(unique) == 1:
            raise PodSpecError(f"invalid pod: {unique[0]}")
        raise PodSpecError("invalid pod:\n  " + "\n  ".join(unique))
