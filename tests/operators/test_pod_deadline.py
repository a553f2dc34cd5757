"""A pod that cannot outlive Airflow: ``activeDeadlineSeconds`` derived from ``execution_timeout``.

Building never contacts a cluster; the last test creates the operator's pod on the local cluster and lets
nobody follow it (every Airflow process dead), so only Kubernetes can stop it."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
from airflow_provider_k8spod.pod.status import Outcome, decide

SOURCE = "airflow-provider-k8spod/active-deadline-source"
HOUR = datetime.timedelta(hours=1)


def _context(task_id: str = "task") -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="deadline", task_id=task_id, run_id="manual__1", map_index=-1, try_number=1)
    return {"ti": ti, "run_id": ti.run_id}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"execution_timeout": HOUR}, 3900),  # execution_timeout + 300 s
        ({"execution_timeout": HOUR, "active_deadline_seconds": 120}, 120),  # the argument wins
        (
            {
                "execution_timeout": HOUR,
                "full_pod_spec": {"spec": {"activeDeadlineSeconds": 90, "containers": [{"name": "base"}]}},
            },
            90,  # so does the manifest
        ),
        ({}, None),  # no execution_timeout, no deadline
    ],
)
def test_the_pod_gets_a_deadline_from_execution_timeout(kwargs: dict[str, Any], expected: int | None) -> None:
    op = KubernetesPodOperator(task_id="task", image="busybox", kubernetes_conn_id=None, **kwargs)
    pod = op.build_pod_manifest(_context())
    assert pod["spec"].get("activeDeadlineSeconds") == expected
    assert (SOURCE in pod["metadata"]["annotations"]) is (expected == 3900)


def test_execution_timeout_from_default_args_and_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    with DAG("deadline", schedule=None, default_args={"execution_timeout": datetime.timedelta(minutes=10)}):
        op = KubernetesPodOperator(task_id="task", image="busybox", kubernetes_conn_id=None)
    assert op.build_pod_manifest(_context())["spec"]["activeDeadlineSeconds"] == 900
    op.dry_run()
    assert "activeDeadlineSeconds: 900" in capsys.readouterr().out


def test_a_subclass_chooses_the_margin() -> None:
    class NoMargin(KubernetesPodOperator):
        ACTIVE_DEADLINE_MARGIN_SECONDS = 0

    op = NoMargin(task_id="task", image="busybox", kubernetes_conn_id=None, execution_timeout=HOUR)
    assert op.build_pod_manifest(_context())["spec"]["activeDeadlineSeconds"] == 3600


def test_a_pod_nobody_follows_is_stopped_by_kubernetes(local_cluster_connection: Any) -> None:
    class QuickMargin(KubernetesPodOperator):
        ACTIVE_DEADLINE_MARGIN_SECONDS = 1

    op = QuickMargin(
        task_id="orphaned",
        image="busybox:1.36",
        cmds=["sh", "-c", "sleep 60"],
        termination_grace_period=1,
        execution_timeout=datetime.timedelta(seconds=1),
    )
    pod = op.build_pod_manifest(_context("orphaned"))
    assert pod["spec"]["activeDeadlineSeconds"] == 2
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    KubernetesHook().create_pod(pod)  # ... and every Airflow process dies: nothing follows the pod
    try:
        final = local_cluster_connection.wait_for_pod(
            namespace, name, phase=["Failed", "Succeeded"], timeout=60
        )
        assert final is not None
        assert final["status"]["phase"] == "Failed"
        assert final["status"]["reason"] == "DeadlineExceeded"
        verdict = decide(final, main="base")
        assert verdict.outcome is Outcome.FAILURE
        assert (
            "activeDeadlineSeconds=2, set from the task's execution_timeout plus a margin" in verdict.summary
        )
    finally:
        local_cluster_connection.delete_pod(namespace, name, grace_period_seconds=0)
