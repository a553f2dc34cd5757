"""A local Kubernetes cluster for tests, demos and users: an API server and a kubelet that runs
containers as local processes, driven with the real ``kubernetes`` / ``kubernetes_asyncio`` clients.

See docs/testing.md. Quick start::

    from airflow_provider_k8spod.testing import LocalCluster

    with LocalCluster() as cluster:
        kubernetes.config.load_kube_config(cluster.kubeconfig_path)
"""

from __future__ import annotations

from airflow_provider_k8spod.testing.cluster import Faults, LocalCluster, LocalClusterError
from airflow_provider_k8spod.testing.config import Image, Node, Taint, Timings

__all__ = ["Faults", "Image", "LocalCluster", "LocalClusterError", "Node", "Taint", "Timings"]
