"""Opt-in: run the operator scenarios against a real Kubernetes cluster (e.g. kind).

``bash scripts/kind-e2e.sh`` does all of it (a throw-away kind cluster with the scenarios' images loaded,
this suite, then deletion); by hand:

    kind create cluster --name k8spod
    kind get kubeconfig --name k8spod > /tmp/kind.kubeconfig
    K8SPOD_E2E_KUBECONFIG=/tmp/kind.kubeconfig bash scripts/test.sh tests/kind -m kind

``K8SPOD_E2E_NAMESPACE`` (default ``default``) is where the pods run. Without ``K8SPOD_E2E_KUBECONFIG``
every test here is skipped. The scenarios are the same test functions as against the local cluster: this
conftest only replaces the ``local_cluster_connection`` fixture with the real cluster.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

KUBECONFIG_ENV = "K8SPOD_E2E_KUBECONFIG"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/kind/" in str(item.fspath):
            item.add_marker(pytest.mark.kind)
            if not os.environ.get(KUBECONFIG_ENV):
                item.add_marker(
                    pytest.mark.skip(reason=f"set {KUBECONFIG_ENV} to run against a real cluster")
                )


class RealCluster:
    """The little of LocalCluster's API the shared scenarios use, on a real cluster."""

    def __init__(self, kubeconfig_path: str, namespace: str) -> None:
        self.kubeconfig_path = kubeconfig_path
        self.namespace = namespace

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Pods made by this provider (a real cluster runs many others)."""
        from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook
        from airflow_provider_k8spod.pod.identity import MARKER_SELECTOR, is_managed

        hook = KubernetesHook(None, config_file=self.kubeconfig_path)
        listed = hook.list_pods(namespace or self.namespace, label_selector=MARKER_SELECTOR)
        return [pod for pod in listed if is_managed(pod)]

    def delete_pod(self, namespace: str, name: str, grace_period_seconds: int | None = None) -> None:
        from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

        KubernetesHook(None, config_file=self.kubeconfig_path).delete_pod(
            name, namespace, grace_period_seconds=grace_period_seconds
        )


@pytest.fixture
def local_cluster_connection(monkeypatch: pytest.MonkeyPatch) -> RealCluster:
    path = os.environ[KUBECONFIG_ENV]
    namespace = os.environ.get("K8SPOD_E2E_NAMESPACE", "default")
    cluster = RealCluster(path, namespace)
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
        json.dumps({"conn_type": "k8spod", "extra": {"kube_config_path": path, "namespace": namespace}}),
    )
    for pod in cluster.pods():  # leftovers of an earlier, interrupted run
        cluster.delete_pod(namespace, pod["metadata"]["name"], grace_period_seconds=0)
    return cluster
