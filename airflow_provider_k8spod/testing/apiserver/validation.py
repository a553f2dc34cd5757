"""Object validation, with the field paths and messages kube-apiserver uses.

Every function is pure: it takes an object (a dict as decoded from JSON) and returns a list of
:class:`~airflow_provider_k8spod.testing.apiserver.errors.Cause` (empty when the object is valid).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_k8spod.testing.apiserver.errors import Cause

# ---------------------------------------------------------------------------------------------------------
# Message helpers (k8s.io/apimachinery/pkg/util/validation)

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

_DNS1123_LABEL_RE = re.compile(f"^{DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_QUALIFIED_NAME_RE = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_RE = re.compile(f"^{LABEL_VALUE_FMT}$")
_ENV_VAR_NAME_RE = re.compile(f"^{ENV_VAR_NAME_FMT}$")
_CONFIG_KEY_RE = re.compile(f"^{CONFIG_KEY_FMT}$")

MAX_TOTAL_ANNOTATION_BYTES = 256 * 1024
MAX_CONFIG_BYTES = 1024 * 1024


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """Same text as apimachinery's RegexError (including its double spaces before 'or')."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    text = message + " (e.g. "
    for i, example in enumerate(examples):
        if i > 0:
            text += " or "
        text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def dns1123_label_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append(max_len_error(63))
    if not _DNS1123_LABEL_RE.match(value):
        errors.append(
            regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                "start and end with an alphanumeric character",
                DNS1123_LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append(max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errors.append(
            regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character",
                DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errors


_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character"
)


def qualified_name_errors(value: str) -> list[str]:
    """Label and annotation keys: ``[prefix/]name``."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + msg for msg in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + max_len_error(63))
    if name and not _QUALIFIED_NAME_RE.match(name):
        errors.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append(max_len_error(63))
    if not _LABEL_VALUE_RE.match(value):
        errors.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errors


def env_var_name_errors(value: str) -> list[str]:
    if _ENV_VAR_NAME_RE.match(value):
        return []
    return [
        regex_error(
            "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
            "and must not start with a digit",
            ENV_VAR_NAME_FMT,
            "my.env-name",
            "MY_ENV.NAME",
            "MyEnvName1",
        )
    ]


def config_key_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append(max_len_error(253))
    if not _CONFIG_KEY_RE.match(value):
        errors.append(
            regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                CONFIG_KEY_FMT,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if value == ".":
        errors.append("must not be '.'")
    elif value == "..":
        errors.append("must not be '..'")
    elif value.startswith(".."):
        errors.append("must not start with '..'")
    return errors


# ---------------------------------------------------------------------------------------------------------
# Field error constructors (k8s.io/apimachinery/pkg/util/validation/field)


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


def required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), path)


def invalid_value(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {_quote(value)}: {detail}", path)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    choices = ", ".join(json.dumps(s) for s in supported)
    return Cause(
        "FieldValueNotSupported", f"Unsupported value: {_quote(value)}: supported values: {choices}", path
    )


def duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {_quote(value)}", path)


def not_found_field(path: str, value: Any) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {_quote(value)}", path)


def forbidden_field(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", path)


def type_invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueTypeInvalid", f"Invalid value: {_quote(value)}: {detail}", path)


# ---------------------------------------------------------------------------------------------------------
# Object metadata


def validate_object_meta(meta: Any, *, name_validator: str = "subdomain") -> list[Cause]:
    """``metadata``: name or generateName, labels, annotations.

    ``name_validator`` is ``subdomain`` (pods, configmaps, secrets) or ``label`` (namespaces).
    """
    if not isinstance(meta, dict):
        return [required("metadata")]
    causes: list[Cause] = []
    name = meta.get("name")
    generate = meta.get("generateName")
    check = dns1123_label_errors if name_validator == "label" else dns1123_subdomain_errors
    if not name and not generate:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif name:
        if not isinstance(name, str):
            causes.append(type_invalid("metadata.name", name, "must be a string"))
        else:
            causes.extend(invalid_value("metadata.name", name, msg) for msg in check(name))
    elif isinstance(generate, str):
        # A generateName may end in '-'; validate it as the API server does (mask the trailing dash).
        probe = generate[:-1] + "a" if generate.endswith("-") else generate
        causes.extend(invalid_value("metadata.generateName", generate, msg) for msg in check(probe))
    causes.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    causes.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    return causes


def validate_labels(labels: Any, path: str) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [type_invalid(path, labels, "must be a map of string keys to string values")]
    causes: list[Cause] = []
    for key, value in labels.items():
        causes.extend(invalid_value(path, key, msg) for msg in qualified_name_errors(str(key)))
        if not isinstance(value, str):
            causes.append(type_invalid(f"{path}[{key}]", value, "must be a string"))
            continue
        causes.extend(invalid_value(path, value, msg) for msg in label_value_errors(value))
    return causes


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return [type_invalid(path, annotations, "must be a map of string keys to string values")]
    causes: list[Cause] = []
    total = 0
    for key, value in annotations.items():
        causes.extend(invalid_value(path, key, msg) for msg in qualified_name_errors(str(key).lower()))
        if not isinstance(value, str):
            causes.append(type_invalid(f"{path}[{key}]", value, "must be a string"))
            continue
        total += len(str(key)) + len(value)
    if total > MAX_TOTAL_ANNOTATION_BYTES:
        causes.append(
            Cause(
                "FieldValueTooLong", f"Too long: must have at most {MAX_TOTAL_ANNOTATION_BYTES} bytes", path
            )
        )
    return causes


# ---------------------------------------------------------------------------------------------------------
# Pods

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TOLERATION_OPERATORS = ("Equal", "Exists")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
VOLUME_SOURCES = (
    "emptyDir",
    "configMap",
    "secret",
    "hostPath",
    "downwardAPI",
    "projected",
    "persistentVolumeClaim",
    "ephemeral",
    "csi",
    "nfs",
    "image",
)


def validate_pod(pod: Mapping[str, Any]) -> list[Cause]:
    """Validate a Pod as sent to ``create`` (after defaulting of kind/apiVersion)."""
    causes = validate_object_meta(pod.get("metadata"))
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        causes.append(required("spec.containers"))
        return causes
    causes.extend(validate_pod_spec(spec, "spec"))
    return causes


def validate_pod_spec(spec: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    volumes, vol_causes = _validate_volumes(spec.get("volumes"), f"{path}.volumes")
    causes.extend(vol_causes)

    names: set[str] = set()
    init_containers = spec.get("initContainers") or []
    containers = spec.get("containers") or []
    if not isinstance(init_containers, list):
        causes.append(type_invalid(f"{path}.initContainers", init_containers, "must be a list"))
        init_containers = []
    if not isinstance(containers, list):
        causes.append(type_invalid(f"{path}.containers", containers, "must be a list"))
        containers = []
    for i, container in enumerate(init_containers):
        causes.extend(
            _validate_container(container, f"{path}.initContainers[{i}]", names, volumes, init=True)
        )
    if not containers:
        causes.append(required(f"{path}.containers"))
    for i, container in enumerate(containers):
        causes.extend(_validate_container(container, f"{path}.containers[{i}]", names, volumes, init=False))

    restart = spec.get("restartPolicy")
    if restart is not None and restart not in RESTART_POLICIES:
        causes.append(not_supported(f"{path}.restartPolicy", restart, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in DNS_POLICIES:
        causes.append(not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (
        not isinstance(deadline, int) or isinstance(deadline, bool) or deadline < 1 or deadline > 2147483647
    ):
        causes.append(
            invalid_value(
                f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive"
            )
        )
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        causes.append(type_invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be an integer"))
    causes.extend(validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector"))
    node_name = spec.get("nodeName")
    if node_name:
        causes.extend(
            invalid_value(f"{path}.nodeName", node_name, m) for m in dns1123_subdomain_errors(node_name)
        )
    for i, toleration in enumerate(spec.get("tolerations") or []):
        causes.extend(_validate_toleration(toleration, f"{path}.tolerations[{i}]"))
    return causes


def _validate_volumes(volumes: Any, path: str) -> tuple[set[str], list[Cause]]:
    names: set[str] = set()
    causes: list[Cause] = []
    if volumes is None:
        return names, causes
    if not isinstance(volumes, list):
        return names, [type_invalid(path, volumes, "must be a list")]
    for i, volume in enumerate(volumes):
        vpath = f"{path}[{i}]"
        if not isinstance(volume, dict):
            causes.append(type_invalid(vpath, volume, "must be an object"))
            continue
        name = volume.get("name")
        if not name:
            causes.append(required(f"{vpath}.name"))
        else:
            causes.extend(invalid_value(f"{vpath}.name", name, m) for m in dns1123_label_errors(str(name)))
            if name in names:
                causes.append(duplicate(f"{vpath}.name", name))
            names.add(str(name))
        sources = [key for key in VOLUME_SOURCES if key in volume]
        if not sources:
            causes.append(required(vpath, "must specify a volume type"))
        elif len(sources) > 1:
            causes.append(forbidden_field(f"{vpath}.{sources[1]}", "may not specify more than 1 volume type"))
        if "configMap" in volume and not (volume["configMap"] or {}).get("name"):
            causes.append(required(f"{vpath}.configMap.name"))
        if "secret" in volume and not (volume["secret"] or {}).get("secretName"):
            causes.append(required(f"{vpath}.secret.secretName"))
        if "hostPath" in volume and not (volume["hostPath"] or {}).get("path"):
            causes.append(required(f"{vpath}.hostPath.path"))
    return names, causes


def _validate_container(
    container: Any, path: str, names: set[str], volumes: set[str], *, init: bool
) -> list[Cause]:
    if not isinstance(container, dict):
        return [type_invalid(path, container, "must be an object")]
    causes: list[Cause] = []
    name = container.get("name")
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        causes.extend(invalid_value(f"{path}.name", name, m) for m in dns1123_label_errors(str(name)))
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(str(name))
    image = container.get("image")
    if not image:
        causes.append(required(f"{path}.image"))
    elif isinstance(image, str) and image != image.strip():
        causes.append(invalid_value(f"{path}.image", image, "must not have leading or trailing whitespace"))
    for key in ("command", "args"):
        value = container.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            causes.append(type_invalid(f"{path}.{key}", value, "must be a list of strings"))
    pull = container.get("imagePullPolicy")
    if pull is not None and pull not in PULL_POLICIES:
        causes.append(not_supported(f"{path}.imagePullPolicy", pull, PULL_POLICIES))
    tmp = container.get("terminationMessagePolicy")
    if tmp is not None and tmp not in TERMINATION_MESSAGE_POLICIES:
        causes.append(not_supported(f"{path}.terminationMessagePolicy", tmp, TERMINATION_MESSAGE_POLICIES))
    restart = container.get("restartPolicy")
    if restart is not None:
        if not init:
            causes.append(forbidden_field(f"{path}.restartPolicy", "may not be set for non-init containers"))
        elif restart != "Always":
            causes.append(not_supported(f"{path}.restartPolicy", restart, ["Always"]))
    for i, port in enumerate(container.get("ports") or []):
        number = port.get("containerPort") if isinstance(port, dict) else None
        if number is None:
            causes.append(required(f"{path}.ports[{i}].containerPort"))
        elif not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(
                invalid_value(
                    f"{path}.ports[{i}].containerPort", number, "must be between 1 and 65535, inclusive"
                )
            )
    causes.extend(_validate_env(container.get("env"), f"{path}.env"))
    for i, source in enumerate(container.get("envFrom") or []):
        spath = f"{path}.envFrom[{i}]"
        if not isinstance(source, dict):
            causes.append(type_invalid(spath, source, "must be an object"))
            continue
        kinds = [k for k in ("configMapRef", "secretRef") if k in source]
        if not kinds:
            causes.append(required(spath, "must specify one of: `configMapRef` or `secretRef`"))
        elif len(kinds) > 1:
            causes.append(forbidden_field(spath, "may not have more than one field specified at a time"))
        for kind in kinds:
            if not (source.get(kind) or {}).get("name"):
                causes.append(required(f"{spath}.{kind}.name"))
        prefix = source.get("prefix")
        if prefix:
            causes.extend(invalid_value(f"{spath}.prefix", prefix, m) for m in env_var_name_errors(prefix))
    mount_paths: set[str] = set()
    for i, mount in enumerate(container.get("volumeMounts") or []):
        mpath = f"{path}.volumeMounts[{i}]"
        if not isinstance(mount, dict):
            causes.append(type_invalid(mpath, mount, "must be an object"))
            continue
        vname = mount.get("name")
        if not vname:
            causes.append(required(f"{mpath}.name"))
        elif vname not in volumes:
            causes.append(not_found_field(f"{mpath}.name", vname))
        mount_path = mount.get("mountPath")
        if not mount_path:
            causes.append(required(f"{mpath}.mountPath"))
        elif mount_path in mount_paths:
            causes.append(invalid_value(f"{mpath}.mountPath", mount_path, "must be unique"))
        else:
            mount_paths.add(mount_path)
        sub_path = mount.get("subPath")
        if sub_path and (sub_path.startswith("/") or ".." in sub_path.split("/")):
            causes.append(invalid_value(f"{mpath}.subPath", sub_path, "must be a relative path without '..'"))
    return causes


def _validate_env(env: Any, path: str) -> list[Cause]:
    if env is None:
        return []
    if not isinstance(env, list):
        return [type_invalid(path, env, "must be a list")]
    causes: list[Cause] = []
    for i, var in enumerate(env):
        vpath = f"{path}[{i}]"
        if not isinstance(var, dict):
            causes.append(type_invalid(vpath, var, "must be an object"))
            continue
        name = var.get("name")
        if not name:
            causes.append(required(f"{vpath}.name"))
        else:
            causes.extend(invalid_value(f"{vpath}.name", name, m) for m in env_var_name_errors(str(name)))
        source = var.get("valueFrom")
        if source is None:
            continue
        if var.get("value"):
            causes.append(
                invalid_value(f"{vpath}.valueFrom", "", "may not be specified when `value` is not empty")
            )
        kinds = [
            k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if k in source
        ]
        if len(kinds) != 1:
            causes.append(
                invalid_value(
                    f"{vpath}.valueFrom",
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                    "`secretKeyRef`",
                )
            )
            continue
        kind = kinds[0]
        ref = source.get(kind) or {}
        if kind == "fieldRef" and not ref.get("fieldPath"):
            causes.append(required(f"{vpath}.valueFrom.fieldRef.fieldPath"))
        elif kind == "resourceFieldRef" and not ref.get("resource"):
            causes.append(required(f"{vpath}.valueFrom.resourceFieldRef.resource"))
        elif kind in ("configMapKeyRef", "secretKeyRef"):
            if not ref.get("name"):
                causes.append(required(f"{vpath}.valueFrom.{kind}.name"))
            if not ref.get("key"):
                causes.append(required(f"{vpath}.valueFrom.{kind}.key"))
    return causes


def _validate_toleration(toleration: Any, path: str) -> list[Cause]:
    if not isinstance(toleration, dict):
        return [type_invalid(path, toleration, "must be an object")]
    causes: list[Cause] = []
    operator = toleration.get("operator") or "Equal"
    if operator not in TOLERATION_OPERATORS:
        causes.append(not_supported(f"{path}.operator", operator, TOLERATION_OPERATORS))
    if operator == "Exists" and toleration.get("value"):
        causes.append(
            invalid_value(
                f"{path}.operator", toleration.get("value"), "value must be empty when `operator` is 'Exists'"
            )
        )
    if not toleration.get("key") and operator != "Exists":
        causes.append(
            invalid_value(
                f"{path}.operator",
                operator,
                'operator must be Exists when `key` is empty, which means "match all values and all keys"',
            )
        )
    effect = toleration.get("effect")
    if effect and effect not in TAINT_EFFECTS:
        causes.append(not_supported(f"{path}.effect", effect, TAINT_EFFECTS))
    return causes


# ---------------------------------------------------------------------------------------------------------
# ConfigMaps, Secrets, Namespaces


def validate_config_data(obj: Mapping[str, Any], kind: str) -> list[Cause]:
    """``data`` / ``binaryData`` keys of a ConfigMap, ``data`` / ``stringData`` keys of a Secret."""
    causes = validate_object_meta(obj.get("metadata"))
    fields = ("data", "binaryData") if kind == "ConfigMap" else ("data", "stringData")
    seen: set[str] = set()
    total = 0
    for fname in fields:
        values = obj.get(fname)
        if values is None:
            continue
        if not isinstance(values, dict):
            causes.append(type_invalid(fname, values, "must be a map"))
            continue
        for key, value in values.items():
            causes.extend(invalid_value(f"{fname}[{key}]", key, m) for m in config_key_errors(str(key)))
            if kind == "ConfigMap" and key in seen:
                causes.append(duplicate(f"{fname}[{key}]", key))
            seen.add(str(key))
            total += len(value) if isinstance(value, str | bytes) else 0
    if total > MAX_CONFIG_BYTES:
        causes.append(Cause("FieldValueTooLong", f"Too long: must have at most {MAX_CONFIG_BYTES} bytes", ""))
    return causes


def validate_namespace(obj: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta(obj.get("metadata"), name_validator="label")
