"""Pod status computation, following the kubelet: phase from container statuses, the standard pod
conditions, and the QoS class.

Pure functions over Pod spec JSON and container status JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_k8spod.testing._util import JSON
from airflow_provider_k8spod.testing.apiserver import quantity

PENDING, RUNNING, SUCCEEDED, FAILED, UNKNOWN = "Pending", "Running", "Succeeded", "Failed", "Unknown"
TERMINAL_PHASES = frozenset({SUCCEEDED, FAILED})


def is_sidecar(container: Mapping[str, Any]) -> bool:
    """A native sidecar: an init container with ``restartPolicy: Always``."""
    return container.get("restartPolicy") == "Always"


def volume_mount_statuses(container: Mapping[str, Any]) -> list[JSON]:
    """The ``volumeMounts`` of a container's status, as the kubelet reports them since 1.31
    (RecursiveReadOnlyMounts, on by default): one per mount of the spec, set from the start (a container still
    waiting has them too). A read-only mount says whether it is recursively read-only: ``Enabled`` only when
    asked for; ``IfPossible`` resolves to ``Disabled`` (this node claims no recursive read-only support).
    """
    out: list[JSON] = []
    for mount in container.get("volumeMounts") or []:
        item: JSON = {"name": mount.get("name"), "mountPath": mount.get("mountPath")}
        if mount.get("readOnly"):
            item["readOnly"] = True
            item["recursiveReadOnly"] = (
                "Enabled" if mount.get("recursiveReadOnly") == "Enabled" else "Disabled"
            )
        out.append(item)
    return out


def _status_of(statuses: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    for status in statuses:
        if status.get("name") == name:
            return status
    return None


def _state(status: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = (status.get("state") or {}).get(key)
    return value if isinstance(value, Mapping) else None


def _last_terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = (status.get("lastState") or {}).get("terminated")
    return value if isinstance(value, Mapping) else None


def any_regular_container_started(spec: Mapping[str, Any], statuses: Sequence[Mapping[str, Any]]) -> bool:
    for container in spec.get("containers") or []:
        status = _status_of(statuses, container["name"])
        if status is None:
            continue
        if (
            _state(status, "running") is not None
            or _state(status, "terminated") is not None
            or _last_terminated(status) is not None
        ):
            return True
    return False


def compute_phase(
    spec: Mapping[str, Any],
    init_statuses: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]],
    *,
    pod_is_terminal: bool = False,
) -> str:
    """The kubelet's getPhase."""
    restart_policy = spec.get("restartPolicy") or "Always"
    pending_sidecars = 0
    pending_init = 0
    failed_init = 0
    for container in spec.get("initContainers") or []:
        status = _status_of(init_statuses, container["name"])
        if is_sidecar(container):
            if status is None or _state(status, "running") is None:
                pending_sidecars += 1
            continue
        if status is None or _state(status, "running") is not None:
            pending_init += 1
        elif (terminated := _state(status, "terminated")) is not None:
            if terminated.get("exitCode", 0) != 0:
                failed_init += 1
        elif _state(status, "waiting") is not None:
            last = _last_terminated(status)
            if last is not None:
                if last.get("exitCode", 0) != 0:
                    failed_init += 1
            else:
                pending_init += 1
        else:
            pending_init += 1

    unknown = running = waiting = stopped = succeeded = 0
    for container in spec.get("containers") or []:
        status = _status_of(statuses, container["name"])
        if status is None:
            unknown += 1
        elif _state(status, "running") is not None:
            running += 1
        elif (terminated := _state(status, "terminated")) is not None:
            stopped += 1
            if terminated.get("exitCode", 0) == 0:
                succeeded += 1
        elif _state(status, "waiting") is not None:
            if _last_terminated(status) is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1

    if failed_init > 0 and restart_policy == "Never":
        return FAILED
    if pending_init > 0 or (pending_sidecars > 0 and not any_regular_container_started(spec, statuses)):
        return PENDING
    if waiting > 0:
        return PENDING
    if running > 0 and unknown == 0:
        return RUNNING
    if running == 0 and stopped > 0 and unknown == 0:
        if pod_is_terminal:
            return SUCCEEDED if stopped == succeeded else FAILED
        if restart_policy == "Always":
            return RUNNING
        if stopped == succeeded:
            return SUCCEEDED
        if restart_policy == "Never":
            return FAILED
        return RUNNING
    return PENDING


def _condition(ctype: str, status: bool, reason: str = "", message: str = "") -> JSON:
    cond: JSON = {"type": ctype, "status": "True" if status else "False"}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def status_unknown_state() -> JSON:
    """The state the kubelet reports for a container it cannot locate when its pod is terminated."""
    return {
        "terminated": {
            "exitCode": 137,
            "reason": "ContainerStatusUnknown",
            "message": "The container could not be located when the pod was terminated",
            "startedAt": None,
            "finishedAt": None,
        }
    }


def _names(names: Sequence[str]) -> str:
    return "[" + " ".join(names) + "]"


def containers_ready_condition(
    spec: Mapping[str, Any],
    init_statuses: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]],
    phase: str,
) -> JSON:
    unknown: list[str] = []
    unready: list[str] = []
    sidecars = [c for c in spec.get("initContainers") or [] if is_sidecar(c)]
    for containers, of in ((sidecars, init_statuses), (spec.get("containers") or [], statuses)):
        for container in containers:
            status = _status_of(of, container["name"])
            if status is None:
                unknown.append(container["name"])
            elif not status.get("ready"):
                unready.append(container["name"])
    if phase == SUCCEEDED and not unknown:
        return _condition("ContainersReady", False, "PodCompleted")
    if phase == FAILED:
        return _condition("ContainersReady", False, "PodFailed")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_names(unready)}")
    if messages:
        return _condition("ContainersReady", False, "ContainersNotReady", ", ".join(messages))
    return _condition("ContainersReady", True)


def ready_condition(containers_ready: Mapping[str, Any]) -> JSON:
    cond = dict(containers_ready)
    cond["type"] = "Ready"
    return cond


def initialized_condition(
    spec: Mapping[str, Any],
    init_statuses: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]],
    phase: str,
) -> JSON:
    unknown: list[str] = []
    incomplete: list[str] = []
    for container in spec.get("initContainers") or []:
        status = _status_of(init_statuses, container["name"])
        if status is None:
            unknown.append(container["name"])
            continue
        done = bool(status.get("started")) if is_sidecar(container) else bool(status.get("ready"))
        if not done:
            incomplete.append(container["name"])
    if phase == SUCCEEDED and not unknown:
        return _condition("Initialized", True, "PodCompleted")
    if any_regular_container_started(spec, statuses):
        return _condition("Initialized", True)
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_names(incomplete)}")
    if messages:
        return _condition("Initialized", False, "ContainersNotInitialized", ", ".join(messages))
    return _condition("Initialized", True)


def kubelet_conditions(
    spec: Mapping[str, Any],
    init_statuses: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]],
    phase: str,
    *,
    sandbox_ready: bool,
) -> list[JSON]:
    """PodReadyToStartContainers, Initialized, Ready, ContainersReady (PodScheduled is the scheduler's)."""
    containers_ready = containers_ready_condition(spec, init_statuses, statuses, phase)
    return [
        _condition("PodReadyToStartContainers", sandbox_ready),
        initialized_condition(spec, init_statuses, statuses, phase),
        ready_condition(containers_ready),
        containers_ready,
    ]


CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def merge_conditions(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], timestamp: str
) -> list[JSON]:
    """Replace conditions by type, keeping ``lastTransitionTime`` when the status did not change."""
    by_type: dict[str, JSON] = {c["type"]: dict(c) for c in old}
    for cond in new:
        previous = by_type.get(cond["type"])
        merged: JSON = {"type": cond["type"], "status": cond["status"], "lastProbeTime": None}
        if previous is not None and previous.get("status") == cond["status"]:
            merged["lastTransitionTime"] = previous.get("lastTransitionTime") or timestamp
        else:
            merged["lastTransitionTime"] = timestamp
        for key in ("reason", "message"):
            if cond.get(key):
                merged[key] = cond[key]
        by_type[cond["type"]] = merged
    ordered = [by_type.pop(t) for t in CONDITION_ORDER if t in by_type]
    return ordered + list(by_type.values())


def _same_quantity(a: Any, b: Any) -> bool:
    try:
        return quantity.from_json(a).compare(quantity.from_json(b)) == 0
    except quantity.QuantityError:
        return str(a) == str(b)


def qos_class(spec: Mapping[str, Any]) -> str:
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests_any = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            requests_any = True
        for res in ("cpu", "memory"):
            limit = limits.get(res)
            request = requests.get(res, limit)
            if limit is None or request is None or not _same_quantity(request, limit):
                guaranteed = False
    if not requests_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
