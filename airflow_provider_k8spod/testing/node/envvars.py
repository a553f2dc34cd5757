"""Container environment, as the kubelet builds it: envFrom, env with ``valueFrom`` sources, ``$(VAR)``
expansion, and the expansion of command/args.

Pure functions; ConfigMaps and Secrets are looked up through callables. A missing reference raises
:class:`ConfigError`, which the kubelet reports as ``CreateContainerConfigError``.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_provider_k8spod.testing._util import JSON
from airflow_provider_k8spod.testing.apiserver import quantity
from airflow_provider_k8spod.testing.apiserver.validation import env_var_name_errors


class ConfigError(Exception):
    """A missing ConfigMap/Secret or key; the message is the kubelet's."""


Lookup = Callable[[str], JSON | None]


@dataclass(frozen=True)
class EnvSources:
    pod: JSON
    configmaps: Lookup
    secrets: Lookup
    node_allocatable: Mapping[str, str]
    service_env: Mapping[str, str]


# ---------------------------------------------------------------------------------------------------------
# $(VAR) expansion (third_party/forked/golang/expansion)


def expand(text: str, mapping: Mapping[str, str]) -> str:
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1 :]
            if rest[0] == "$":
                out.append("$")
                advance = 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:
                    out.append("$(")
                    advance = 1
                else:
                    name = rest[1:close]
                    out.append(mapping.get(name, f"$({name})"))
                    advance = close + 1
            else:
                out.append("$" + rest[0])
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------
# Quantities (for resourceFieldRef)


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a Kubernetes quantity (``500m``, ``1Gi``, ``2``, ``1e3``) as a Decimal."""
    return quantity.from_json(text).to_decimal()


def _resource_value(
    container: Mapping[str, Any], ref: Mapping[str, Any], allocatable: Mapping[str, str]
) -> str:
    resource = str(ref.get("resource", ""))
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor == 0:
        divisor = Decimal(1)
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(name)
    if value is None:
        value = allocatable.get(name, "0") if kind == "limits" else "0"
    amount = parse_quantity(value) / divisor
    if name == "cpu":
        return str(max(1, math.ceil(amount)) if amount > 0 else 0)
    return str(math.ceil(amount))


def _field_value(pod: JSON, path: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.hostIPs": ",".join(ip.get("ip", "") for ip in status.get("hostIPs") or []),
        "status.podIPs": ",".join(ip.get("ip", "") for ip in status.get("podIPs") or []),
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldPath: {path}")
    return str(simple[path] or "")


def _decode_secret(value: str) -> str:
    return base64.b64decode(value).decode("utf-8", errors="surrogateescape")


def _config_value(obj: JSON, key: str, secret: bool) -> str | None:
    if secret:
        data = obj.get("data") or {}
        return _decode_secret(data[key]) if key in data else None
    data = obj.get("data") or {}
    if key in data:
        return str(data[key])
    binary = obj.get("binaryData") or {}
    if key in binary:
        return _decode_secret(binary[key])
    return None


def container_env(sources: EnvSources, container: Mapping[str, Any]) -> dict[str, str]:
    """Variables the kubelet sets for ``container`` (service links, envFrom, env), in order."""
    pod = sources.pod
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    env: dict[str, str] = dict(sources.service_env)

    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for kind, is_secret in (("configMapRef", False), ("secretRef", True)):
            ref = source.get(kind)
            if not ref:
                continue
            name = ref.get("name", "")
            obj = (sources.secrets if is_secret else sources.configmaps)(name)
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{"secret" if is_secret else "configmap"} "{name}" not found')
            keys = list((obj.get("data") or {}).keys())
            if not is_secret:
                keys += list((obj.get("binaryData") or {}).keys())
            for key in keys:
                var = prefix + key
                if env_var_name_errors(var):
                    continue
                value = _config_value(obj, key, is_secret)
                if value is not None:
                    env[var] = value

    for var in container.get("env") or []:
        name = var["name"]
        source = var.get("valueFrom")
        if source is None:
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        if "fieldRef" in source:
            env[name] = _field_value(pod, source["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in source:
            env[name] = _resource_value(container, source["resourceFieldRef"], sources.node_allocatable)
        else:
            is_secret = "secretKeyRef" in source
            ref = source.get("secretKeyRef" if is_secret else "configMapKeyRef") or {}
            ref_name, key = ref.get("name", ""), ref.get("key", "")
            obj = (sources.secrets if is_secret else sources.configmaps)(ref_name)
            kind = "secret" if is_secret else "configmap"
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{kind} "{ref_name}" not found')
            value = _config_value(obj, key, is_secret)
            if value is None:
                if ref.get("optional"):
                    continue
                what = "Secret" if is_secret else "ConfigMap"
                raise ConfigError(f"couldn't find key {key} in {what} {namespace}/{ref_name}")
            env[name] = value
    return env


def expand_command(
    command: Sequence[str], args: Sequence[str], env: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    return [expand(c, env) for c in command], [expand(a, env) for a in args]


def service_env(host: str, port: int) -> dict[str, str]:
    """The ``KUBERNETES_*`` variables every container gets for the ``kubernetes`` service."""
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }
