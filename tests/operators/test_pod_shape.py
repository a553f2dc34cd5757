"""The created pod has upstream's shape, end to end against the local cluster in both modes: the empty
fields a cluster policy relies on, upstream's labels (our marker is an annotation), a ``None`` resource
quantity sent as upstream sends it. The field-by-field comparison with upstream is tests/compat."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client import models as k8s

from tests.operators.kpo import dag_source, task_pods

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")


@pytest.fixture
def policy() -> Iterator[None]:
    """A cluster policy written for upstream: it appends to lists upstream always sets, even empty."""
    from airflow.policies import hookimpl
    from airflow.settings import get_policy_plugin_manager

    class Policy:
        @hookimpl
        def pod_mutation_hook(self, pod: k8s.V1Pod) -> None:
            pod.spec.containers[0].env.append(k8s.V1EnvVar(name="SET_BY_POLICY", value="policy-was-here"))
            pod.spec.containers[0].env_from.append(
                k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name="absent", optional=True))
            )
            pod.spec.image_pull_secrets.append(k8s.V1LocalObjectReference(name="registry"))
            pod.spec.node_selector["kubernetes.io/os"] = "linux"
            pod.metadata.annotations["policy"] = "applied"

    manager = get_policy_plugin_manager()
    instance = Policy()
    manager.register(instance, name="shape-test-policy")
    try:
        yield
    finally:
        manager.unregister(instance)


@pytest.mark.usefixtures("policy")
def test_a_policy_appending_to_empty_lists_runs_and_the_pod_has_upstreams_labels(
    local_cluster_connection, run_dag, mode
):
    result = run_dag(
        dag_source(
            f"shape_{mode}",
            """image="busybox:1.36", cmds=["sh", "-c", "echo policy says $SET_BY_POLICY"],
            container_resources={"limits": {"nvidia.com/gpu": None}}, on_finish_action="keep_pod" """,
        )
    )
    assert result.task_states == {"task": "success"}, result.log
    assert "policy says policy-was-here" in result.log
    [pod] = task_pods(local_cluster_connection)
    try:
        metadata = pod["metadata"]
        labels = {k: v for k, v in metadata["labels"].items() if k != "already_checked"}
        assert labels == {
            "dag_id": f"shape_{mode}",
            "task_id": "task",
            "run_id": labels["run_id"],
            "kubernetes_pod_operator": "True",
            "try_number": "1",
            "airflow_version": labels["airflow_version"],
            "airflow_kpo_in_cluster": "False",
        }
        assert labels["run_id"].startswith("manual__")
        assert metadata["annotations"]["app.kubernetes.io/managed-by"] == "airflow-provider-k8spod"
        assert metadata["annotations"]["policy"] == "applied"
        main = pod["spec"]["containers"][0]
        assert {"name": "SET_BY_POLICY", "value": "policy-was-here"} in main["env"]
        assert pod["spec"]["imagePullSecrets"] == [{"name": "registry"}]
        assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
        assert "nvidia.com/gpu" in main["resources"]["limits"]
    finally:
        local_cluster_connection.delete_pod("default", metadata["name"], grace_period_seconds=0)
