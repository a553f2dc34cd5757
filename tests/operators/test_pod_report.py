"""The pod report at the end of every task, in both modes: one block in the task log with the node, the image
digests the kubelet ran, restarts, exit codes and the requested resources times the running time."""

from __future__ import annotations

import re

import pytest

from tests.operators.kpo import HEADER, dag_source

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")

BUSYBOX_DIGEST = r"docker\.io/library/busybox@sha256:[0-9a-f]{64}"


def report_blocks(log: str) -> list[str]:
    """Each report block of the log: its first line and the indented lines after it."""
    return re.findall(r"Pod report: .*(?:\n  .*)*", log)


def test_report_of_a_pod_that_succeeded_after_a_restart(run_dag):
    result = run_dag(
        dag_source(
            "report_restart",
            """image="busybox:1.36", cmds=["sh", "-c", "if [ -f /work/marker ]; then echo second run; else touch /work/marker; exit 4; fi"],
            volumes=[{"name": "work", "emptyDir": {}}], volume_mounts=[{"name": "work", "mountPath": "/work"}],
            container_resources={"requests": {"cpu": "250m", "memory": "64Mi"}},
            full_pod_spec={"spec": {"restartPolicy": "OnFailure"}}""",
        )
    )
    assert result.task_states == {"task": "success"}
    [block] = report_blocks(result.log)
    pod_name = result.xcom("task", "pod_name")
    assert block.startswith(f"Pod report: default/{pod_name} on node node-1\n  pending ")
    assert re.search(
        rf"\n  base: exit code 0 \(Completed\), 1 restart \(previous exit code 4\), image {BUSYBOX_DIGEST}\n",
        block,
    ), block
    assert re.search(
        r"\n  resources \(requests\): 0\.25 CPU, 0\.0625 GiB x \S+ = \S+ CPU-seconds, ", block
    ), block


def test_report_of_a_failed_pod_and_pod_report_false(run_dag):
    result = run_dag(
        HEADER
        + """
with DAG("report_failed", start_date=pendulum.datetime(2024, 1, 1), schedule=None) as dag:
    KubernetesPodOperator(
        task_id="failing", image="busybox:1.36", cmds=["sh", "-c", "exit 3"],
        container_resources={"limits": {"cpu": "1", "memory": "1Gi"}},
    )
    KubernetesPodOperator(task_id="quiet", image="busybox:1.36", cmds=["true"], pod_report=False)
"""
    )
    assert result.task_states == {"failing": "failed", "quiet": "success"}
    [block] = report_blocks(result.log)
    assert block.startswith("Pod report: default/failing-")
    assert " on node node-1\n" in block
    assert re.search(rf"\n  base: exit code 3 \(Error\), 0 restarts, image {BUSYBOX_DIGEST}\n", block), block
    # The API server stores the limits as requests too; the report says so.
    assert "\n  resources (requests, equal to limits): 1 CPU, 1 GiB x " in block
