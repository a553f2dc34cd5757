"""Server-side printing (``meta.k8s.io/v1 Table``), which ``kubectl get`` asks for.

Pure functions; the pod STATUS column follows kubectl's printer (Init:N/M, CrashLoopBackOff, Completed,
Terminating, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_k8spod.testing._util import JSON, now_ns, parse_rfc3339_ns


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m{rem}s" if rem else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rem = minutes % 60
        return f"{hours}h{rem}m" if rem else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rem = hours % 24
        return f"{hours // 24}d{rem}h" if rem else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        created = parse_rfc3339_ns(timestamp)
    except ValueError:
        return "<unknown>"
    return human_duration((now_ns() - created) / 1e9)


def pod_status_text(pod: JSON) -> tuple[str, int, int, int]:
    """(STATUS, ready containers, total containers, restarts) as kubectl prints them."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    total = len(spec.get("containers") or [])
    ready = 0
    restarts = 0
    reason = status.get("reason") or status.get("phase") or "Pending"
    init_specs = spec.get("initContainers") or []
    initializing = False
    for i, cstatus in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cstatus.get("restartCount") or 0)
        state = cstatus.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        sidecar = i < len(init_specs) and init_specs[i].get("restartPolicy") == "Always"
        if terminated is not None and terminated.get("exitCode") == 0:
            continue
        if sidecar and cstatus.get("started"):
            continue
        if terminated is not None:
            if not terminated.get("reason"):
                reason = f"Init:ExitCode:{terminated.get('exitCode')}"
            else:
                reason = "Init:" + terminated["reason"]
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        restarts = 0
        has_running = False
        for cstatus in reversed(status.get("containerStatuses") or []):
            restarts += int(cstatus.get("restartCount") or 0)
            state = cstatus.get("state") or {}
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                reason = f"ExitCode:{terminated.get('exitCode')}"
            elif cstatus.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            reason = "Running" if pod_ready else "NotReady"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason, ready, total, restarts


def _column(name: str, kind: str = "string", fmt: str = "", priority: int = 0, description: str = "") -> JSON:
    return {
        "name": name,
        "type": kind,
        "format": fmt,
        "description": description or name,
        "priority": priority,
    }


def _row_object(obj: JSON, include: str) -> JSON | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def _cells(resource: str, obj: JSON) -> list[Any]:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    created = age(meta.get("creationTimestamp"))
    if resource == "pods":
        text, ready, total, restarts = pod_status_text(obj)
        status = obj.get("status") or {}
        gates = obj.get("spec", {}).get("readinessGates") or []
        return [
            name,
            f"{ready}/{total}",
            text,
            restarts,
            created,
            status.get("podIP") or "<none>",
            obj.get("spec", {}).get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>",
            f"{len(gates)}" if gates else "<none>",
        ]
    if resource == "configmaps":
        data = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
        return [name, data, created]
    if resource == "secrets":
        return [name, obj.get("type", "Opaque"), len(obj.get("data") or {}), created]
    if resource == "namespaces":
        return [name, (obj.get("status") or {}).get("phase", "Active"), created]
    if resource == "nodes":
        conditions = (obj.get("status") or {}).get("conditions") or []
        ready_cond: JSON = next((c for c in conditions if c.get("type") == "Ready"), {})
        state = {"True": "Ready", "False": "NotReady"}.get(ready_cond.get("status", ""), "NotReady")
        if (obj.get("spec") or {}).get("unschedulable"):
            state += ",SchedulingDisabled"
        version = ((obj.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
        return [name, state, "<none>", created, version]
    if resource == "events":
        last = obj.get("lastTimestamp") or obj.get("eventTime")
        involved = obj.get("involvedObject") or {}
        return [
            age(last),
            obj.get("type", ""),
            obj.get("reason", ""),
            f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            obj.get("message", ""),
        ]
    if resource in ("persistentvolumeclaims", "persistentvolumes", "storageclasses"):
        return _storage_cells(resource, obj, name, created)
    return [name, created]


_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _modes(modes: Any) -> str:
    return ",".join(_ACCESS_MODES.get(str(m), str(m)) for m in modes or [])


def _storage_cells(resource: str, obj: JSON, name: str, created: str) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    deleting = bool((obj.get("metadata") or {}).get("deletionTimestamp"))
    if resource == "persistentvolumeclaims":
        bound = status.get("phase") == "Bound"
        return [
            name,
            "Terminating" if deleting else status.get("phase", ""),
            spec.get("volumeName", ""),
            (status.get("capacity") or {}).get("storage", "") if bound else "",
            _modes(status.get("accessModes")) if bound else "",
            spec.get("storageClassName") or "<unset>",
            spec.get("volumeAttributesClassName") or "<unset>",
            created,
            spec.get("volumeMode") or "<unset>",
        ]
    if resource == "persistentvolumes":
        ref = spec.get("claimRef") or {}
        return [
            name,
            (spec.get("capacity") or {}).get("storage", ""),
            _modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy", ""),
            "Terminating" if deleting else status.get("phase", ""),
            f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else "",
            spec.get("storageClassName", ""),
            spec.get("volumeAttributesClassName") or "<unset>",
            status.get("reason", ""),
            created,
            spec.get("volumeMode") or "<unset>",
        ]
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    default = "true" in (
        annotations.get("storageclass.kubernetes.io/is-default-class"),
        annotations.get("storageclass.beta.kubernetes.io/is-default-class"),
    )
    return [
        f"{name} (default)" if default else name,
        obj.get("provisioner", ""),
        obj.get("reclaimPolicy") or "Delete",
        obj.get("volumeBindingMode") or "Immediate",
        bool(obj.get("allowVolumeExpansion")),
        created,
    ]


_COLUMNS: dict[str, list[JSON]] = {
    "pods": [
        _column("Name", fmt="name"),
        _column("Ready"),
        _column("Status"),
        _column("Restarts", "string"),
        _column("Age"),
        _column("IP", priority=1),
        _column("Node", priority=1),
        _column("Nominated Node", priority=1),
        _column("Readiness Gates", priority=1),
    ],
    "configmaps": [_column("Name", fmt="name"), _column("Data", "integer"), _column("Age")],
    "secrets": [_column("Name", fmt="name"), _column("Type"), _column("Data", "integer"), _column("Age")],
    "namespaces": [_column("Name", fmt="name"), _column("Status"), _column("Age")],
    "nodes": [
        _column("Name", fmt="name"),
        _column("Status"),
        _column("Roles"),
        _column("Age"),
        _column("Version"),
    ],
    "persistentvolumeclaims": [
        _column("Name", fmt="name"),
        _column("Status"),
        _column("Volume"),
        _column("Capacity"),
        _column("Access Modes"),
        _column("StorageClass"),
        _column("VolumeAttributesClass"),
        _column("Age"),
        _column("VolumeMode", priority=1),
    ],
    "persistentvolumes": [
        _column("Name", fmt="name"),
        _column("Capacity"),
        _column("Access Modes"),
        _column("Reclaim Policy"),
        _column("Status"),
        _column("Claim"),
        _column("StorageClass"),
        _column("VolumeAttributesClass"),
        _column("Reason"),
        _column("Age"),
        _column("VolumeMode", priority=1),
    ],
    "storageclasses": [
        _column("Name", fmt="name"),
        _column("Provisioner"),
        _column("ReclaimPolicy"),
        _column("VolumeBindingMode"),
        _column("AllowVolumeExpansion", "boolean"),
        _column("Age"),
    ],
    "events": [
        _column("Last Seen"),
        _column("Type"),
        _column("Reason"),
        _column("Object"),
        _column("Message"),
    ],
}


def to_table(
    resource: str,
    items: Sequence[JSON],
    resource_version: str,
    include: str = "Metadata",
    extra_meta: JSON | None = None,
) -> JSON:
    columns = _COLUMNS.get(resource, [_column("Name", fmt="name"), _column("Age")])
    rows = []
    for obj in items:
        row: JSON = {"cells": _cells(resource, obj)}
        if resource == "pods":
            row["cells"][3] = str(row["cells"][3])
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    metadata: JSON = {"resourceVersion": resource_version}
    if extra_meta:
        metadata.update(extra_meta)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")
