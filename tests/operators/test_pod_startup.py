"""Start-up failures, each reported with its Kubernetes reason, and events at their real severity."""

from __future__ import annotations

import pytest

from airflow_provider_k8spod.testing import Image
from tests.operators.kpo import dag_source

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")


def test_invalid_image_name_fails_at_once(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "invalid_image", """image="Not A Valid Image!", cmds=["true"], startup_timeout_seconds=600"""
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "did not start: InvalidImageName: container 'base': InvalidImageName" in result.log
    assert 'couldn\'t parse image name "Not A Valid Image!"' in result.log
    assert local_cluster_connection.pods() == []


@pytest.mark.local_cluster(images=[Image("registry.example/absent:1", missing=True)])
def test_image_never_pulled_fails_at_once(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "never_pull",
            """image="registry.example/absent:1", image_pull_policy="Never", cmds=["true"], startup_timeout_seconds=600""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "did not start: ErrImageNeverPull" in result.log
    assert local_cluster_connection.pods() == []


@pytest.mark.local_cluster(images=[Image("registry.example/absent:1", missing=True)])
def test_image_pull_backoff_is_transient_within_the_startup_budget(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "pull_backoff", """image="registry.example/absent:1", cmds=["true"], startup_timeout_seconds=4"""
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "did not start: StartupTimeout: the main container 'base' did not start within 4s" in result.log
    assert "StartupTimeout: StartupTimeout" not in result.log  # the error names the reason once
    assert "waiting: base: ImagePullBackOff" in result.log or "waiting: base: ErrImagePull" in result.log
    # The kubelet's pull errors were streamed as warnings (not errors), and appear in the record.
    pull_failures = [
        line
        for line in result.log.splitlines()
        if 'event: Failed: Failed to pull image "registry.example/absent:1"' in line
    ]
    assert pull_failures
    assert all("[warning" in line for line in pull_failures)
    assert "last warning events:" in result.log
    assert local_cluster_connection.pods() == []


@pytest.mark.local_cluster(images=[Image("registry.example/flaky:1", pull_failures=2)])
def test_rate_limited_pull_that_recovers_is_not_a_failure(run_dag):
    result = run_dag(
        dag_source(
            "flaky_pull",
            """image="registry.example/flaky:1", cmds=["sh", "-c", "echo pulled at last"], startup_timeout_seconds=60""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert "[base] pulled at last" in result.log


def test_unschedulable_pod_fails_after_schedule_timeout_with_the_scheduler_message(
    local_cluster_connection, run_dag
):
    result = run_dag(
        dag_source(
            "unschedulable",
            """image="busybox:1.36", cmds=["true"], node_selector={"gpu": "a100"}, schedule_timeout_seconds=3, startup_timeout_seconds=600""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert (
        "did not start: ScheduleTimeout: the pod was not scheduled within 3s (Unschedulable: 0/1 nodes are available"
        in result.log
    )
    # FailedScheduling is a Kubernetes *Warning*: logged as a warning, not an error.
    warning_lines = [
        line for line in result.log.splitlines() if "FailedScheduling" in line and "event:" in line
    ]
    assert warning_lines
    assert all("[warning" in line for line in warning_lines)
    assert local_cluster_connection.pods() == []


def test_missing_configmap_fails_after_a_short_grace(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "config_error",
            """image="busybox:1.36", cmds=["true"], startup_timeout_seconds=600,
            env_vars=[{"name": "SETTING", "valueFrom": {"configMapKeyRef": {"name": "app-settings", "key": "level"}}}]""",
            extra="class ShortGrace(KubernetesPodOperator):\n    CONFIG_ERROR_GRACE_SECONDS = 2\n",
            operator="ShortGrace",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert (
        "did not start: CreateContainerConfigError: container 'base': CreateContainerConfigError for"
        in result.log
    )
    assert 'configmap "app-settings" not found' in result.log
    assert local_cluster_connection.pods() == []


def test_configmap_created_during_the_grace_lets_the_pod_start(local_cluster_connection, run_dag):
    import threading
    import time

    from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

    def create_configmap_later() -> None:
        time.sleep(2)
        hook = KubernetesHook()
        hook.core_v1_client.create_namespaced_config_map(
            "default", {"metadata": {"name": "late-settings"}, "data": {"level": "debug"}}
        )

    threading.Thread(target=create_configmap_later, daemon=True).start()
    result = run_dag(
        dag_source(
            "config_late",
            """image="busybox:1.36", cmds=["sh", "-c", "echo level=$SETTING"], startup_timeout_seconds=600,
            env_vars=[{"name": "SETTING", "valueFrom": {"configMapKeyRef": {"name": "late-settings", "key": "level"}}}]""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert "[base] level=debug" in result.log


def test_failed_init_container_fails_the_start_with_its_exit_code(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "init_fails",
            """image="busybox:1.36", cmds=["true"], init_container_logs=True,
            init_containers=[{"name": "migrate", "image": "busybox:1.36", "command": ["sh", "-c", "echo schema locked >&2; exit 7"]}]""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "init container 'migrate' failed with exit code 7 (Error)" in result.log
    assert "[migrate] schema locked" in result.log
    assert local_cluster_connection.pods() == []


@pytest.mark.local_cluster(images=[Image("registry.example/absent:1", missing=True)])
def test_pod_deleted_before_it_started(local_cluster_connection, run_dag):
    from tests.operators.kpo import WhenPod

    with WhenPod(
        local_cluster_connection,
        lambda pod: bool(pod["status"].get("containerStatuses")),
        lambda cluster, pod: cluster.delete_pod("default", pod["metadata"]["name"], grace_period_seconds=0),
    ) as injector:
        result = run_dag(
            dag_source(
                "deleted_pending",
                """image="registry.example/absent:1", cmds=["true"], startup_timeout_seconds=600""",
            )
        )
    assert injector.fired.is_set()
    assert result.task_states == {"task": "failed"}
    assert (
        "was deleted before its main container 'base' started" in result.log
        # Deferred, the triggerer may only start following once the pod is gone (docs/deferrable.md).
        or "the pod has since been deleted: it was deleted before it could be followed" in result.log
    )


def test_pod_deleted_right_after_creation(local_cluster_connection, run_dag):
    from tests.operators.kpo import WhenPod

    with WhenPod(
        local_cluster_connection,
        lambda pod: True,
        lambda cluster, pod: cluster.delete_pod("default", pod["metadata"]["name"], grace_period_seconds=0),
    ) as injector:
        result = run_dag(dag_source("deleted_at_once", """image="busybox:1.36", cmds=["sleep", "30"]"""))
    assert injector.fired.is_set()
    assert result.task_states == {"task": "failed"}
    assert "was deleted" in result.log
