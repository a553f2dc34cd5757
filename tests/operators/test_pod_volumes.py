"""PersistentVolumeClaims from a DAG: the data a task writes to a claim outlives its pod, and a pod whose
claim does not exist fails the task with the scheduler's reason."""

from __future__ import annotations

import os

import pytest

from tests.operators.kpo import dag_source

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")

CLAIM_VOLUME = """
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "results"}}],
            volume_mounts=[{"name": "data", "mountPath": "/data"}]"""


def test_data_written_to_a_claim_outlives_the_pod(local_cluster_connection, run_dag):
    from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

    core = KubernetesHook().core_v1_client
    core.create_namespaced_persistent_volume_claim(
        "default",
        {
            "metadata": {"name": "results"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    result = run_dag(
        dag_source(
            "claim_writer",
            """image="busybox:1.36", cmds=["sh", "-c", "echo 42 > /data/answer"],""" + CLAIM_VOLUME,
        )
    )
    assert result.task_states == {"task": "success"}
    assert local_cluster_connection.pods() == []
    claim = core.read_namespaced_persistent_volume_claim("results", "default")
    assert claim.status.phase == "Bound"
    directory = core.read_persistent_volume(claim.spec.volume_name).spec.host_path.path
    with open(os.path.join(directory, "answer")) as fh:
        assert fh.read() == "42\n"


def test_missing_claim_fails_after_schedule_timeout_naming_the_claim(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "claim_missing",
            """image="busybox:1.36", cmds=["true"], schedule_timeout_seconds=2, startup_timeout_seconds=600,"""
            + CLAIM_VOLUME,
        )
    )
    assert result.task_states == {"task": "failed"}
    assert (
        "did not start: ScheduleTimeout: the pod was not scheduled within 2s (Unschedulable: 0/1 nodes are "
        'available: persistentvolumeclaim "results" not found.'
    ) in result.log
    assert local_cluster_connection.pods() == []
