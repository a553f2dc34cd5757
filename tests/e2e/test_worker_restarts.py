"""Tasks run as on a worker (LocalExecutor: supervisor + task process, real API server): a kill, a retry.
(A worker killed mid-run or while resuming is a row of the fault matrix, tests/reliability/test_pod_faults.py.) Assertions: the pods in the cluster, the task log files, the states."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.operators.kpo import WhenPod, dag_source, running, task_pods
from tests.testing._helpers import process_argvs

pytestmark = pytest.mark.usefixtures("local_cluster_connection")

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def task_process_pids() -> list[int]:
    """Task processes of this test session: Airflow titles them ``airflow worker -- <task instance id>``.

    (Not the executor's own ``airflow worker -- LocalExecutor...`` processes: killing those too would be a
    whole worker machine dying, which only the scheduler's heartbeat timeout detects, after minutes.)
    """
    found = []
    for pid, argv in process_argvs():
        title = " ".join(argv)
        if (
            title.startswith("airflow worker -- ")
            and UUID.match(title.removeprefix("airflow worker -- ").strip())
            and _descends_from_this_process(pid)
        ):
            found.append(pid)
    return found


def _descends_from_this_process(pid: int) -> bool:
    """Only this test session's task processes (other sessions may run on the same machine)."""
    me = os.getpid()
    while pid > 1:
        if pid == me:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid (field 4)
    return False


def signal_task_process(sig: int) -> list[int]:
    pids = task_process_pids()
    for pid in pids:
        os.kill(pid, sig)
    return pids


def reset_stats(cluster) -> None:
    if hasattr(cluster, "reset_stats"):  # the local cluster counts API requests; a real one does not
        cluster.reset_stats()


def created_pods(cluster) -> int | None:
    return cluster.stats()["create pods"] if hasattr(cluster, "stats") else None


def test_kill_deletes_the_pod(local_cluster_connection, run_dag):
    cluster = local_cluster_connection
    signalled: list[int] = []
    with WhenPod(
        cluster, running(), lambda c, p: signalled.extend(signal_task_process(signal.SIGTERM))
    ) as fault:
        result = run_dag(
            dag_source("killed", """image="busybox:1.36", cmds=["sh", "-c", "echo started; sleep 60"]"""),
            use_executor=True,
        )
    assert fault.fired.is_set()
    assert signalled
    assert result.task_states == {"task": "failed"}
    assert "Task killed; deleted pod default/task-" in result.log
    for _ in range(100):
        if not cluster.pods():
            break
        time.sleep(0.1)
    assert cluster.pods() == []


def test_kill_with_on_kill_action_keep_pod_leaves_the_pod(local_cluster_connection, run_dag):
    cluster = local_cluster_connection

    def kill_like_a_supervisor(c, pod):
        signal_task_process(signal.SIGTERM)
        time.sleep(1.0)
        signal_task_process(signal.SIGKILL)

    with WhenPod(cluster, running(), kill_like_a_supervisor) as fault:
        result = run_dag(
            dag_source(
                "killed_keep",
                """image="busybox:1.36", cmds=["sh", "-c", "sleep 60"], on_kill_action="keep_pod" """,
            ),
            use_executor=True,
        )
    assert fault.fired.is_set()
    assert result.task_states == {"task": "failed"}
    assert "Task killed; keeping pod default/task-" in result.log
    kept = task_pods(cluster)
    assert len(kept) == 1
    assert kept[0]["status"]["phase"] == "Running"
    cluster.delete_pod("default", kept[0]["metadata"]["name"], grace_period_seconds=0)


def test_retry_after_a_finished_pod_starts_a_fresh_one(local_cluster_connection, run_dag):
    cluster = local_cluster_connection
    reset_stats(cluster)
    result = run_dag(
        dag_source(
            "retry_fresh",
            """image="busybox:1.36", cmds=["sh", "-c", 'echo try $0; [ "$0" -ge 2 ]'], arguments=["{{ ti.try_number }}"],
            on_finish_action="keep_pod", retries=1, retry_delay=datetime.timedelta(seconds=0)""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert result.tries["task"] == 2
    assert created_pods(cluster) in (2, None)
    pods = sorted(task_pods(cluster), key=lambda p: p["metadata"]["labels"]["try_number"])
    assert [p["metadata"]["labels"]["try_number"] for p in pods] == ["1", "2"]
    assert [p["status"]["phase"] for p in pods] == ["Failed", "Succeeded"]
    assert "Adopting" not in result.log
