"""Scheduling decisions: which fake node a pod fits on, and kube-scheduler's message when none does.

Pure functions over Pod and Node JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_k8spod.testing._util import JSON

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
MSG_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
MSG_UNSCHEDULABLE = "node(s) were unschedulable"


def taint_text(taint: Mapping[str, Any]) -> str:
    return f"{{{taint.get('key', '')}: {taint.get('value', '')}}}"


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return bool(key) and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first NoSchedule/NoExecute taint of ``node`` that the pod does not tolerate."""
    tolerations = pod_spec.get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return dict(taint)
    return None


def _match_expression(expr: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key = expr.get("key", "")
    operator = expr.get("operator")
    wanted = [str(v) for v in expr.get("values") or []]
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and wanted:
        try:
            actual, bound = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return actual > bound if operator == "Gt" else actual < bound
    return False


def matches_node_selector_term(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    fields = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    expressions = term.get("matchExpressions") or []
    field_expressions = term.get("matchFields") or []
    if not expressions and not field_expressions:
        return False
    return all(_match_expression(e, labels) for e in expressions) and all(
        _match_expression(e, fields) for e in field_expressions
    )


def matches_affinity(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    affinity = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if affinity:
        terms = affinity.get("nodeSelectorTerms") or []
        if not any(matches_node_selector_term(term, node) for term in terms):
            return False
    return True


def unfit_reason(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> str | None:
    """Why the pod cannot run on the node (kube-scheduler filter order), or None when it fits."""
    if (node.get("spec") or {}).get("unschedulable"):
        unschedulable = {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
        if not any(tolerates(t, unschedulable) for t in pod_spec.get("tolerations") or []):
            return MSG_UNSCHEDULABLE
    taint = untolerated_taint(pod_spec, node)
    if taint is not None:
        return f"node(s) had untolerated taint {taint_text(taint)}"
    if not matches_affinity(pod_spec, node):
        return MSG_AFFINITY
    return None


def failure_message(total: int, reasons: Sequence[str]) -> str:
    if total == 0:
        return "no nodes available to schedule pods"
    counts = Counter(reasons)
    parts = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
    return (
        f"0/{total} nodes are available: {parts}. preemption: 0/{total} nodes are available: "
        f"{total} Preemption is not helpful for scheduling."
    )


def prefilter_failure_message(total: int, reason: str) -> str:
    """kube-scheduler's FitError when a PreFilter plugin rejects the pod (the same on every node)."""
    return (
        f"0/{total} nodes are available: {reason}. preemption: 0/{total} nodes are available: "
        f"{total} Preemption is not helpful for scheduling."
    )


def pod_claims(pod: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """``(claim name, is ephemeral)`` of each volume backed by a PersistentVolumeClaim; a generic ephemeral
    volume's claim is named ``<pod>-<volume>``."""
    out = []
    pod_name = str((pod.get("metadata") or {}).get("name", ""))
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if isinstance(volume.get("persistentVolumeClaim"), dict):
            out.append((str(volume["persistentVolumeClaim"].get("claimName", "")), False))
        elif isinstance(volume.get("ephemeral"), dict):
            out.append((f"{pod_name}-{volume.get('name', '')}", True))
    return out


def claim_owner_error(pod: Mapping[str, Any], claim: Mapping[str, Any]) -> str | None:
    """ephemeral.VolumeIsForPod: a generic ephemeral volume's claim must be controlled by the pod."""
    meta = pod.get("metadata") or {}
    owners = (claim.get("metadata") or {}).get("ownerReferences") or []
    if any(o.get("uid") == meta.get("uid") and o.get("controller") for o in owners):
        return None
    namespace = meta.get("namespace", "")
    return (
        f"PVC {namespace}/{(claim.get('metadata') or {}).get('name', '')} was not created for pod "
        f"{namespace}/{meta.get('name', '')} (pod is not owner)"
    )


def volume_claims_prefilter(
    pod: Mapping[str, Any],
    claim: Callable[[str], Mapping[str, Any] | None],
    delays_binding: Callable[[str], bool],
) -> tuple[str | None, list[str]]:
    """The VolumeBinding plugin's PreFilter: ``(reason, [])`` when the pod cannot be scheduled because of its
    claims, else ``(None, unbound claims that wait for this pod's node)``.

    ``claim(name)`` looks a claim up in the pod's namespace; ``delays_binding(class)`` tells whether the
    StorageClass binds WaitForFirstConsumer (a class that does not exist binds Immediate).
    """
    found: list[Mapping[str, Any]] = []
    for name, ephemeral in pod_claims(pod):
        obj = claim(name)
        if obj is None and ephemeral:
            return f'waiting for ephemeral volume controller to create the persistentvolumeclaim "{name}"', []
        if obj is None:
            return f'persistentvolumeclaim "{name}" not found', []
        spec = obj.get("spec") or {}
        if (obj.get("status") or {}).get("phase") == "Lost":
            return (
                f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume "{spec.get("volumeName", "")}"',
                [],
            )
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return f'persistentvolumeclaim "{name}" is being deleted', []
        if ephemeral and (owner_error := claim_owner_error(pod, obj)) is not None:
            return owner_error, []
        found.append(obj)
    delayed: list[str] = []
    for obj in found:
        if (obj.get("status") or {}).get("phase") == "Bound":
            continue
        spec = obj.get("spec") or {}
        if spec.get("volumeName") or not delays_binding(str(spec.get("storageClassName") or "")):
            return "pod has unbound immediate PersistentVolumeClaims", []
        delayed.append(str(obj["metadata"]["name"]))
    return None, delayed


MSG_VOLUME_NODE_CONFLICT = "node(s) had volume node affinity conflict"


def volume_node_conflict(volumes: Sequence[Mapping[str, Any]], node: Mapping[str, Any]) -> str | None:
    """The VolumeBinding Filter for bound claims: every PersistentVolume's required node affinity must
    match the node."""
    for volume in volumes:
        required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
        terms = required.get("nodeSelectorTerms") or []
        if terms and not any(matches_node_selector_term(term, node) for term in terms):
            return MSG_VOLUME_NODE_CONFLICT
    return None


def choose_node(
    pod: JSON, nodes: Sequence[JSON], load: Mapping[str, int], volumes: Sequence[Mapping[str, Any]] = ()
) -> tuple[str | None, str]:
    """Pick the least loaded fitting node. Returns ``(node_name, "")`` or ``(None, failure message)``.
    ``volumes`` are the PersistentVolumes of the pod's bound claims."""
    spec = pod.get("spec") or {}
    fitting: list[str] = []
    reasons: list[str] = []
    for node in nodes:
        reason = unfit_reason(spec, node) or volume_node_conflict(volumes, node)
        name = node["metadata"]["name"]
        if reason is None:
            fitting.append(name)
        else:
            reasons.append(reason)
    if not fitting:
        return None, failure_message(len(nodes), reasons)
    best = min(fitting, key=lambda n: (load.get(n, 0), n))
    return best, ""
