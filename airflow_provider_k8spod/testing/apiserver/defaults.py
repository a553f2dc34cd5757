"""API server defaulting and admission for new pods (what a real cluster adds to a submitted pod).

Pure functions: they mutate and return the given object.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_k8spod.testing._util import JSON, random_suffix
from airflow_provider_k8spod.testing.node.images import default_pull_policy

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TOLERATIONS = (
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
)


def _default_container(container: JSON) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    if "image" in container and "imagePullPolicy" not in container:
        container["imagePullPolicy"] = default_pull_policy(str(container["image"]))
    if container.get("resources") is None:  # a struct, not a pointer: null decodes as empty
        container["resources"] = {}
    resources = container["resources"]
    limits = resources.get("limits") if isinstance(resources, dict) else None
    if isinstance(limits, dict) and limits:
        # SetDefaults_Pod: a resource with a limit and no request is requested at its limit.
        requests = resources.setdefault("requests", {})
        if isinstance(requests, dict):
            for name, value in limits.items():
                requests.setdefault(name, value)
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for var in container.get("env") or []:
        field_ref = ((var or {}).get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def _default_volume(volume: JSON) -> None:
    for kind in ("configMap", "secret", "downwardAPI"):
        if isinstance(volume.get(kind), dict):
            volume[kind].setdefault("defaultMode", 420)
    if isinstance(volume.get("projected"), dict):
        volume["projected"].setdefault("defaultMode", 420)
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")


def default_pod(pod: JSON) -> JSON:
    """Defaulting done while decoding (SetDefaults_Pod / PodSpec / Container)."""
    pod["kind"] = "Pod"
    pod["apiVersion"] = "v1"
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return pod
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _default_container(container)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _default_volume(volume)
    return pod


def admit_pod(
    pod: JSON, account: JSON | None = None, *, not_ready_seconds: int = 300, unreachable_seconds: int = 300
) -> JSON:
    """Mutating admission of a stock cluster: ServiceAccount (token volume, image pull secrets) and
    DefaultTolerationSeconds (``--default-not-ready-toleration-seconds`` /
    ``--default-unreachable-toleration-seconds``). ``account`` is the pod's ServiceAccount (the caller checked
    it exists)."""
    spec = pod["spec"]
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = name
    spec["serviceAccount"] = name
    account = account or {}
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in account["imagePullSecrets"]]
    tolerations = spec.setdefault("tolerations", [])
    seconds = {
        DEFAULT_TOLERATIONS[0]["key"]: not_ready_seconds,
        DEFAULT_TOLERATIONS[1]["key"]: unreachable_seconds,
    }
    for default in DEFAULT_TOLERATIONS:
        if not any(
            t.get("key") == default["key"] and t.get("effect") in ("NoExecute", None, "")
            for t in tolerations
            if isinstance(t, dict)
        ):
            tolerations.append({**default, "tolerationSeconds": seconds[str(default["key"])]})
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken")
    if automount is False:
        return pod
    containers: list[Any] = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    if any(
        isinstance(m, dict) and m.get("mountPath") == SA_MOUNT_PATH
        for c in containers
        for m in (c.get("volumeMounts") or [])
    ):
        return pod
    name = f"kube-api-access-{random_suffix()}"
    spec.setdefault("volumes", []).append(
        {
            "name": name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for container in containers:
        container.setdefault("volumeMounts", []).append(
            {"name": name, "readOnly": True, "mountPath": SA_MOUNT_PATH}
        )
    return pod
