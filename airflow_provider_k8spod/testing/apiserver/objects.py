"""Builders for the cluster's own objects: nodes, namespaces, the root CA ConfigMap; and list/meta helpers."""

from __future__ import annotations

import copy
import platform
from collections.abc import Sequence

from airflow_provider_k8spod.testing._util import JSON, new_uid, rfc3339
from airflow_provider_k8spod.testing.apiserver.quantity import canonicalize_map
from airflow_provider_k8spod.testing.config import Node

KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-k8spod-local",
    "gitCommit": "local",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}

RESOURCES: dict[str, JSON] = {
    "pods": {
        "kind": "Pod",
        "namespaced": True,
        "shortNames": ["po"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
    "pods/log": {"kind": "Pod", "namespaced": True, "verbs": ["get"]},
    "pods/exec": {"kind": "PodExecOptions", "namespaced": True, "verbs": ["create", "get"]},
    "pods/status": {"kind": "Pod", "namespaced": True, "verbs": ["get", "patch", "update"]},
    "pods/eviction": {
        "kind": "Eviction",
        "namespaced": True,
        "verbs": ["create"],
        "group": "policy",
        "version": "v1",
    },
    "events": {
        "kind": "Event",
        "namespaced": True,
        "shortNames": ["ev"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
    "configmaps": {
        "kind": "ConfigMap",
        "namespaced": True,
        "shortNames": ["cm"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
    "secrets": {
        "kind": "Secret",
        "namespaced": True,
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
    "serviceaccounts": {
        "kind": "ServiceAccount",
        "namespaced": True,
        "shortNames": ["sa"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
    "serviceaccounts/token": {
        "kind": "TokenRequest",
        "namespaced": True,
        "verbs": ["create"],
        "group": "authentication.k8s.io",
        "version": "v1",
    },
    "namespaces": {
        "kind": "Namespace",
        "namespaced": False,
        "shortNames": ["ns"],
        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
    },
    "namespaces/status": {"kind": "Namespace", "namespaced": False, "verbs": ["get", "patch", "update"]},
    "nodes": {
        "kind": "Node",
        "namespaced": False,
        "shortNames": ["no"],
        "verbs": ["get", "list", "patch", "update", "watch"],
    },
    "nodes/status": {"kind": "Node", "namespaced": False, "verbs": ["get", "patch", "update"]},
    "persistentvolumeclaims": {
        "kind": "PersistentVolumeClaim",
        "namespaced": True,
        "shortNames": ["pvc"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
    "persistentvolumeclaims/status": {
        "kind": "PersistentVolumeClaim",
        "namespaced": True,
        "verbs": ["get", "patch", "update"],
    },
    "persistentvolumes": {
        "kind": "PersistentVolume",
        "namespaced": False,
        "shortNames": ["pv"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
    "persistentvolumes/status": {
        "kind": "PersistentVolume",
        "namespaced": False,
        "verbs": ["get", "patch", "update"],
    },
}

_ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

#: The one registry of named API groups: resources served under ``/apis/<group>/<version>``, by group
#: (the one version each group serves). Core (``/api/v1``) resources are in RESOURCES.
API_GROUPS: dict[str, tuple[str, dict[str, JSON]]] = {
    "authentication.k8s.io": (
        "v1",
        {"selfsubjectreviews": {"kind": "SelfSubjectReview", "namespaced": False, "verbs": ["create"]}},
    ),
    "authorization.k8s.io": (
        "v1",
        {
            "localsubjectaccessreviews": {
                "kind": "LocalSubjectAccessReview",
                "namespaced": True,
                "verbs": ["create"],
            },
            "selfsubjectaccessreviews": {
                "kind": "SelfSubjectAccessReview",
                "namespaced": False,
                "verbs": ["create"],
            },
            "selfsubjectrulesreviews": {
                "kind": "SelfSubjectRulesReview",
                "namespaced": False,
                "verbs": ["create"],
            },
            "subjectaccessreviews": {"kind": "SubjectAccessReview", "namespaced": False, "verbs": ["create"]},
        },
    ),
    "rbac.authorization.k8s.io": (
        "v1",
        {
            "clusterrolebindings": {"kind": "ClusterRoleBinding", "namespaced": False, "verbs": _ALL_VERBS},
            "clusterroles": {"kind": "ClusterRole", "namespaced": False, "verbs": _ALL_VERBS},
            "rolebindings": {"kind": "RoleBinding", "namespaced": True, "verbs": _ALL_VERBS},
            "roles": {"kind": "Role", "namespaced": True, "verbs": _ALL_VERBS},
        },
    ),
    "storage.k8s.io": (
        "v1",
        {
            "storageclasses": {
                "kind": "StorageClass",
                "namespaced": False,
                "shortNames": ["sc"],
                "verbs": _ALL_VERBS,
            },
        },
    ),
}

_GROUP_OF: dict[str, str] = {r: g for g, (_, table) in API_GROUPS.items() for r in table}


def group_of(resource: str) -> str:
    """The API group serving ``resource`` (``""`` for the core group)."""
    return _GROUP_OF.get(resource.split("/", 1)[0], "")


def resource_info(group: str, resource: str) -> JSON | None:
    """Discovery entry of ``resource`` (a top-level resource) in ``group``, or None when not served."""
    if group == "":
        return RESOURCES.get(resource) if "/" not in resource else None
    served = API_GROUPS.get(group)
    return served[1].get(resource) if served is not None else None


def api_version_of(resource: str) -> str:
    """``v1`` for core resources, ``<group>/<version>`` for the others."""
    group = group_of(resource)
    return f"{group}/{API_GROUPS[group][0]}" if group else "v1"


def kind_of(resource: str) -> str:
    group = group_of(resource)
    if group:
        return str(API_GROUPS[group][1][resource]["kind"])
    return str(RESOURCES[resource]["kind"])


def api_group_list() -> JSON:
    """``/apis``: the named groups, one served version each."""
    groups = []
    for group, (version, _) in API_GROUPS.items():
        entry = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> JSON | None:
    """``/apis/<group>``, or None for a group this cluster does not serve."""
    if group not in API_GROUPS:
        return None
    version = API_GROUPS[group][0]
    entry = {"groupVersion": f"{group}/{version}", "version": version}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [entry],
        "preferredVersion": entry,
    }


def group_resource_list(group: str, version: str) -> JSON | None:
    """``/apis/<group>/<version>``, or None for a group version this cluster does not serve."""
    served = API_GROUPS.get(group)
    if served is None or served[0] != version:
        return None
    return _resource_list(f"{group}/{version}", served[1])


def api_resource_list() -> JSON:
    """``/api/v1``: the core resources and their subresources."""
    return _resource_list("v1", RESOURCES)


def _resource_list(group_version: str, infos: dict[str, JSON]) -> JSON:
    resources = []
    for name, info in infos.items():
        entry: JSON = {
            "name": name,
            "singularName": "" if "/" in name else str(info["kind"]).lower(),
            "namespaced": info["namespaced"],
            "kind": info["kind"],
            "verbs": info["verbs"],
        }
        if "group" in info:
            entry["group"] = info["group"]
            entry["version"] = info["version"]
        if info.get("shortNames"):
            entry["shortNames"] = info["shortNames"]
        resources.append(entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def namespace_object(name: str) -> JSON:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": new_uid(),
            "creationTimestamp": rfc3339(),
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def root_ca_configmap(namespace: str, ca_pem: str) -> JSON:
    return {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {
            "name": "kube-root-ca.crt",
            "namespace": namespace,
            "uid": new_uid(),
            "creationTimestamp": rfc3339(),
            "annotations": {
                "kubernetes.io/description": "Contains a CA bundle that can be used to verify "
                "the kube-apiserver when using internal endpoints "
                "such as the internal service IP or "
                "kubernetes.default.svc. No other usage is "
                "guaranteed across distributions of Kubernetes "
                "clusters."
            },
        },
        "data": {"ca.crt": ca_pem},
    }


def node_object(node: Node, *, ready: bool = True) -> JSON:
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
    }
    labels.update(node.labels)
    now = rfc3339()
    spec: JSON = {}
    if node.taints:
        spec["taints"] = [t.to_json() for t in node.taints]
    if node.unschedulable:
        spec["unschedulable"] = True
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": node.name,
            "uid": new_uid(),
            "creationTimestamp": now,
            "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": canonicalize_map(dict(node.capacity)),
            "allocatable": canonicalize_map(dict(node.capacity)),
            "conditions": node_conditions(ready, now),
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": platform.release(),
                "osImage": "k8spod local cluster",
                "containerRuntimeVersion": "containerd://1.7.0-k8spod",
                "kubeletVersion": KUBE_VERSION["gitVersion"],
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def node_conditions(ready: bool, now: str) -> list[JSON]:
    conditions: list[JSON] = []
    for ctype, reason, message in (
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ):
        conditions.append(
            {
                "type": ctype,
                "status": "False" if ready else "Unknown",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
                "reason": reason if ready else "NodeStatusUnknown",
                "message": message if ready else "Kubelet stopped posting node status.",
            }
        )
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if ready else "Unknown",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": "KubeletReady" if ready else "NodeStatusUnknown",
            "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
        }
    )
    return conditions


def list_object(
    resource: str, items: Sequence[JSON], resource_version: str, extra_meta: JSON | None = None
) -> JSON:
    """A ``<Kind>List``; like the API server, items carry no kind/apiVersion."""
    stripped = []
    for item in items:
        copy_item = dict(item)
        copy_item.pop("kind", None)
        copy_item.pop("apiVersion", None)
        stripped.append(copy_item)
    metadata: JSON = {"resourceVersion": resource_version}
    if extra_meta:
        metadata.update(extra_meta)
    return {
        "kind": f"{kind_of(resource)}List",
        "apiVersion": api_version_of(resource),
        "metadata": metadata,
        "items": stripped,
    }


def with_kind(resource: str, obj: JSON) -> JSON:
    out = copy.copy(obj)
    out["kind"] = kind_of(resource)
    out["apiVersion"] = api_version_of(resource)
    return out


def service_account_object(namespace: str, name: str = "default") -> JSON:
    """A ServiceAccount as the ServiceAccounts controller creates it (``default`` in every namespace)."""
    return {
        "kind": "ServiceAccount",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "uid": new_uid(), "creationTimestamp": rfc3339()},
    }
