"""Resilience end to end, in both modes: log streams cut again and again, exec reads cut every time, crash
loops, a pod that cannot be deleted, and a pod deleted while its watch is behind. Assertions are on what a
user sees: the task state, the task log, and the pods left in the cluster. (Single API faults that a task
rides out are rows of the fault matrix, tests/reliability/test_api_faults.py.)"""

from __future__ import annotations

import pytest

from tests.operators.kpo import WhenPod, dag_source, running, task_pods

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")

# 2000 lines in bursts of 400 a second: a resumed stream starts again at the whole second of its sinceTime
# (the API server drops the fraction), so no second may hold more than a cut's 20 kB (400 lines ~ 16 kB).
TWO_THOUSAND_LINES = """image="busybox:1.36", cmds=["sh", "-c", "i=1; while [ $i -le 2000 ]; do echo line $i; [ $((i % 400)) -eq 0 ] && sleep 1; i=$((i+1)); done; sleep 1"]"""


def numbered(log: str) -> list[int]:
    return [
        int(line.split("[base] line ", 1)[1].split()[0])
        for line in log.splitlines()
        if "[base] line " in line
    ]


# -- logs ------------------------------------------------------------------------------------------------


def test_a_log_stream_cut_every_20_kb_still_delivers_every_line_once(local_cluster_connection, run_dag):
    cluster = local_cluster_connection
    # A buffering proxy cuts every stream (followed or not) after about 20 kB.
    cluster.faults.reset_stream("pods/log", after_bytes=20_000, times=None)
    result = run_dag(dag_source("logs_cut_forever", TWO_THOUSAND_LINES))
    assert result.task_states == {"task": "success"}
    assert numbered(result.log) == list(range(1, 2001))
    assert "log of container base is incomplete" not in result.log


# -- a pod seen running is never "not started" -----------------------------------------------------------


def _deleted_once_running(cluster, run_dag, dag_id: str):
    """Run a pod that sleeps; delete it (grace 0) as soon as its main container runs: the task's result."""
    with WhenPod(
        cluster,
        running(),
        lambda c, p: c.delete_pod("default", p["metadata"]["name"], grace_period_seconds=0),
    ) as fault:
        result = run_dag(dag_source(dag_id, """image="busybox:1.36", cmds=["sh", "-c", "sleep 60"]"""))
    assert fault.fired.is_set()
    assert result.task_states == {"task": "failed"}
    assert "did not start" not in result.log
    assert "deleted before its main container" not in result.log
    return result


def test_a_pod_deleted_while_its_watch_is_behind_is_not_called_not_started(local_cluster_connection, run_dag):
    cluster = local_cluster_connection
    # The watch of pods starts late (a loaded API server): when it does, "running" and "deleted" arrive
    # in one burst, and the follower only looks once both are in.
    cluster.faults.latency("watch", "pods", seconds=4, times=1)
    result = _deleted_once_running(cluster, run_dag, "deleted_in_a_burst")
    assert (
        "the pod was deleted while container 'base' was running" in result.log
        # A loaded machine: the pod ran and went before the first read; its Started event says it ran.
        or "the pod was deleted after container 'base' started" in result.log
        or "the pod has since been deleted" in result.log  # deferred: the trigger may start after that
    )


def test_a_pod_that_ran_and_went_before_its_first_read_is_not_called_not_started(
    local_cluster_connection, run_dag
):
    cluster = local_cluster_connection
    # The two reads of pods before the follower's first look (the search for a pod to adopt, then the
    # follower's list) are slow: the pod starts, runs and is deleted before the follower sees any state of
    # it but the one it was created with. Only its events tell that it ran.
    cluster.faults.latency("list", "pods", seconds=8, times=2)
    result = _deleted_once_running(cluster, run_dag, "ran_and_went_unseen")
    assert "the pod was deleted after container 'base' started" in result.log
    # The pod report says where it ran, not "never scheduled".
    assert "never scheduled" not in result.log
    assert "on node node-1" in result.log
    assert "running time unknown" in result.log
    # What it printed went with it, and the task log says so.
    assert "The log of container base may be incomplete: the pod was deleted before any of" in result.log
    assert task_pods(cluster) == []


# -- XCom: a cut exec read is read again, and failures say what they are ---------------------------------

WRITE_SMALL_RESULT = """image="python:3.11-slim", do_xcom_push=True, cmds=["python", "-c", "import json, os; os.makedirs('/airflow/xcom', exist_ok=True); open('/airflow/xcom/return.json', 'w').write(json.dumps(dict(rows=3)))"]"""


def test_an_exec_read_cut_every_time_says_so_not_that_the_result_is_too_large(
    local_cluster_connection, run_dag
):
    cluster = local_cluster_connection
    cluster.faults.reset_stream("pods/exec", after_bytes=0, times=None)
    result = run_dag(dag_source("xcom_exec_cut_always", WRITE_SMALL_RESULT))
    assert result.task_states == {"task": "failed"}
    assert "larger than the limit" not in result.log
    assert "reading /airflow/xcom/return.json was cut" in result.log
    assert task_pods(cluster) == []


# -- cleanup: a pod that cannot be deleted is never left behind without a word ---------------------------


def test_a_pod_that_cannot_be_deleted_fails_the_task_naming_it(local_cluster_connection, run_dag):
    cluster = local_cluster_connection
    cluster.forbid("delete", "pods")
    result = run_dag(
        dag_source("cleanup_forbidden", """image="busybox:1.36", cmds=["sh", "-c", "echo done"]""")
    )
    assert result.task_states == {"task": "failed"}
    [pod] = task_pods(cluster)
    name = pod["metadata"]["name"]
    assert f"pod default/{name} could not be deleted" in result.log
    assert "403 Forbidden" in result.log


def test_a_failed_task_keeps_its_own_error_when_its_pod_cannot_be_deleted(local_cluster_connection, run_dag):
    cluster = local_cluster_connection
    cluster.forbid("delete", "pods")
    result = run_dag(
        dag_source("cleanup_forbidden_failed", """image="busybox:1.36", cmds=["sh", "-c", "exit 3"]""")
    )
    assert result.task_states == {"task": "failed"}
    [pod] = task_pods(cluster)
    assert "PodFailedError" in result.log
    assert "terminated with exit code 3" in result.log
    assert f"pod default/{pod['metadata']['name']} could not be deleted" in result.log


def test_a_pod_that_cannot_be_deleted_still_ends_its_xcom_sidecar(local_cluster_connection, run_dag, mode):
    """The sidecar is left for the deletion to stop (nothing reads the pod's end); when the deletion is
    refused, the sidecar is stopped, so the pod left behind at least ends."""
    cluster = local_cluster_connection
    cluster.forbid("delete", "pods")
    result = run_dag(dag_source("cleanup_forbidden_xcom", WRITE_SMALL_RESULT))
    assert result.task_states == {"task": "failed"}
    [pod] = task_pods(cluster)
    assert f"pod default/{pod['metadata']['name']} could not be deleted" in result.log
    ended = cluster.wait_for_pod("default", pod["metadata"]["name"], phase="Succeeded", timeout=30)
    assert ended is not None
    assert not [p for p in cluster.container_processes() if p["pod"] == pod["metadata"]["name"]]


# -- crash loops with restartPolicy OnFailure ------------------------------------------------------------


def test_a_crash_loop_with_on_failure_ends_the_task_and_deletes_the_pod(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "crash_loop",
            """image="busybox:1.36", cmds=["sh", "-c", "echo trying; exit 3"], startup_timeout_seconds=5,
            full_pod_spec={"spec": {"restartPolicy": "OnFailure"}}, execution_timeout=datetime.timedelta(seconds=120)""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "container 'base' is in a crash loop" in result.log
    assert "last exit code 3" in result.log
    assert "failed with exit code 3 and is restarted by the kubelet" in result.log  # status lines meanwhile
    assert "Timeout" not in result.log
    for pod in task_pods(local_cluster_connection):
        local_cluster_connection.wait_for_pod("default", pod["metadata"]["name"], gone=True, timeout=60)


def test_an_on_failure_restart_that_succeeds_is_reported_once(run_dag):
    result = run_dag(
        dag_source(
            "on_failure_then_success",
            """image="busybox:1.36", cmds=["sh", "-c", "if [ -f /work/marker ]; then echo second run; else touch /work/marker; echo first run; exit 4; fi"],
            volumes=[{"name": "work", "emptyDir": {}}], volume_mounts=[{"name": "work", "mountPath": "/work"}],
            full_pod_spec={"spec": {"restartPolicy": "OnFailure"}}""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert "[base] second run" in result.log
    warning = "container 'base' succeeded after 1 restart (restartPolicy OnFailure); its earlier run exited with code 4"
    assert result.log.count(warning) == 1
