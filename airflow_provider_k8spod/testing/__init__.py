"""A local Kubernetes cluster for tests, demos and users: an API server and a kubelet that runs
containers as local processes, driven with the real ``kubernetes`` / ``kubernetes_asyncio`` clients.

See docs/testing.md. Quick start::

    from airflow_provider_k8spod.testing import LocalCluster

    with LocalCluster() as cluster:
        kubernetes.config.load_kube_config(cluster.kubeconfig_path)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_k8spod.testing.cluster import Faults, LocalCluster, LocalClusterError
    from airflow_provider_k8spod.testing.config import Image, Node, Taint, Timings

__all__ = ["Faults", "Image", "LocalCluster", "LocalClusterError", "Node", "Taint", "Timings"]

_LAZY = {
    "Faults": "cluster",
    "LocalCluster": "cluster",
    "LocalClusterError": "cluster",
    "Image": "config",
    "Node": "config",
    "Taint": "config",
    "Timings": "config",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that the server process (which imports submodules of this package) does not pay for the
    # client-side imports at start-up.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
