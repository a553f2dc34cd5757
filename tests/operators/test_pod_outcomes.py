"""Verdicts, sidecars, cleanup, timeouts, callbacks and API load: end to end against the local cluster.

Faults that end a pod (eviction, OOMKilled, a lost node, a deletion, execution_timeout) are in the fault
matrix, tests/reliability/test_pod_faults.py."""

from __future__ import annotations

import time

import pytest

from tests.operators.kpo import WhenPod, dag_source, task_pods

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")


# -- verdicts --------------------------------------------------------------------------------------------


def test_active_deadline_exceeded(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "deadline",
            """image="busybox:1.36", cmds=["sh", "-c", "sleep 60"], active_deadline_seconds=2, termination_grace_period=1""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert (
        "DeadlineExceeded: Pod was active on the node longer than the specified deadline "
        "(activeDeadlineSeconds=2)" in result.log
    )
    assert local_cluster_connection.pods() == []


KILLED_EARLY = """
class KilledEarly(KubernetesPodOperator):
    def execute(self, context):
        self.on_kill()  # what a SIGTERM does when it arrives before the pod exists
        return super().execute(context)
"""


def test_a_kill_before_the_pod_exists_deletes_it_once_created(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "killed_early",
            """image="busybox:1.36", cmds=["sh", "-c", "echo started; sleep 20"]""",
            extra=KILLED_EARLY,
            operator="KilledEarly",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "Task killed; deleted pod default/task-" in result.log
    assert task_pods(local_cluster_connection) == []


@pytest.mark.parametrize(("exit_code", "state"), [(100, "skipped"), (3, "failed"), (0, "success")])
def test_skip_on_exit_code(run_dag, exit_code, state):
    result = run_dag(
        dag_source(
            f"skip_{exit_code}",
            f"""image="busybox:1.36", cmds=["sh", "-c", "exit {exit_code}"], skip_on_exit_code=[100, 101]""",
        )
    )
    assert result.task_states == {"task": state}
    if state == "skipped":
        assert "container 'base' exited with 100, listed in skip_on_exit_code" in result.log


def test_skip_on_exit_code_given_as_a_string_skips(run_dag):
    result = run_dag(
        dag_source(
            "skip_string", """image="busybox:1.36", cmds=["sh", "-c", "exit 3"], skip_on_exit_code="3" """
        )
    )
    assert result.task_states == {"task": "skipped"}
    assert "container 'base' exited with 3, listed in skip_on_exit_code" in result.log


def test_restart_policy_on_failure_retries_in_the_pod(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "on_failure",
            """image="busybox:1.36", cmds=["sh", "-c", "if [ -f /work/marker ]; then echo second run; else touch /work/marker; echo first run; exit 1; fi"],
            volumes=[{"name": "work", "emptyDir": {}}], volume_mounts=[{"name": "work", "mountPath": "/work"}],
            full_pod_spec={"spec": {"restartPolicy": "OnFailure"}}""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert "[base] second run" in result.log


# -- sidecars never hold the task ------------------------------------------------------------------------


def wait_until_gone(cluster, timeout: float = 60.0) -> None:
    """Deleted pods whose containers ignore SIGTERM terminate at the end of their grace period."""

    deadline = time.monotonic() + timeout
    while cluster.pods() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster.pods() == []


def test_long_running_user_sidecar_does_not_hold_the_task(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "user_sidecar",
            """image="busybox:1.36", cmds=["sh", "-c", "echo main done"], execution_timeout=datetime.timedelta(seconds=90),
            container_logs=True,
            full_pod_spec={"spec": {"containers": [
                {"name": "base", "image": "busybox:1.36"},
                {"name": "proxy", "image": "busybox:1.36", "command": ["sh", "-c", "echo proxy up; sleep 3600"]},
            ]}}, termination_grace_period=2""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert "[base] main done" in result.log
    assert "[proxy] proxy up" in result.log
    wait_until_gone(local_cluster_connection)


def test_native_sidecar_does_not_hold_the_task(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "native_sidecar",
            """image="busybox:1.36", cmds=["sh", "-c", "echo main done"], execution_timeout=datetime.timedelta(seconds=90),
            init_containers=[{"name": "mesh", "image": "busybox:1.36", "restartPolicy": "Always", "command": ["sh", "-c", "sleep 3600"]}],
            termination_grace_period=2""",
        )
    )
    assert result.task_states == {"task": "success"}
    wait_until_gone(local_cluster_connection)


def _main_terminated(pod):
    return any(
        s["name"] == "base" and "terminated" in (s.get("state") or {})
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    )


def test_a_pod_deleted_after_success_before_its_xcom_is_read_fails_the_task(
    local_cluster_connection, run_dag
):
    """The main container succeeded, but the pod (and its sidecar's result) went away before the result was
    read: a failed try that says so, never a success with no XCom."""
    cluster = local_cluster_connection
    # The log is read late (every log request waits 4 s): the pod is deleted once its main container has
    # ended and its log was asked for (the worker, or the trigger, follows it), before the log arrives.
    cluster.faults.latency("get", "pods/log", seconds=4)
    asked_before = cluster.stats().get("get pods/log", 0)

    def followed_and_done(pod):
        return _main_terminated(pod) and cluster.stats().get("get pods/log", 0) > asked_before

    with WhenPod(
        cluster, followed_and_done, lambda c, p: c.delete_pod("default", p["metadata"]["name"], 0)
    ) as fault:
        result = run_dag(
            dag_source(
                "xcom_pod_deleted",
                """image="busybox:1.36", cmds=["sh", "-c", "echo '{\\"n\\": 1}' > /airflow/xcom/return.json"],
                do_xcom_push=True, execution_timeout=datetime.timedelta(seconds=90)""",
            )
        )
    assert fault.fired.is_set()
    assert result.task_states == {"task": "failed"}
    assert "was deleted before its XCom result could be read" in result.log
    assert "The log of container base may be incomplete: the pod was deleted before" in result.log
    assert result.xcom("task") is None
    wait_until_gone(cluster)


def test_xcom_sidecar_with_a_failing_main_container_does_not_hang(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "xcom_sidecar_fail",
            """image="busybox:1.36", cmds=["sh", "-c", "exit 5"], do_xcom_push=True, execution_timeout=datetime.timedelta(seconds=90)""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "exit code 5" in result.log
    assert local_cluster_connection.pods() == []


# -- on_finish_action ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "exit_code", "kept"),
    [
        ("delete_pod", 0, False),
        ("delete_pod", 1, False),
        ("delete_succeeded_pod", 0, False),
        ("delete_succeeded_pod", 1, True),
        ("delete_active_pod", 0, True),
        ("delete_active_pod", 1, True),
        ("keep_pod", 0, True),
        ("keep_pod", 1, True),
    ],
)
def test_on_finish_action(local_cluster_connection, run_dag, action, exit_code, kept):
    result = run_dag(
        dag_source(
            f"finish_{action}_{exit_code}",
            f"""image="busybox:1.36", cmds=["sh", "-c", "exit {exit_code}"], on_finish_action={action!r}""",
        )
    )
    assert result.task_states == {"task": "success" if exit_code == 0 else "failed"}
    pods = task_pods(local_cluster_connection)
    assert bool(pods) is kept
    if kept:
        assert pods[0]["status"]["phase"] in ("Succeeded", "Failed")
        assert f"Keeping pod {pods[0]['metadata']['name']} (on_finish_action={action})" in result.log


def test_keep_pod_never_leaves_a_pod_running_after_a_failed_start(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "keep_pending",
            """image="busybox:1.36", cmds=["true"], node_selector={"gpu": "a100"}, schedule_timeout_seconds=2, on_finish_action="keep_pod" """,
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "although on_finish_action=keep_pod: its main container had not finished" in result.log
    assert task_pods(local_cluster_connection) == []


def test_invalid_on_finish_action_is_rejected_when_the_dag_is_parsed():
    from airflow_provider_k8spod.exceptions import PodSpecError
    from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

    with pytest.raises(
        PodSpecError, match="on_finish_action: expected one of delete_pod, delete_succeeded_pod"
    ):
        KubernetesPodOperator(task_id="t", image="busybox", on_finish_action="delete_everything")


# -- API load does not grow with how long a pod runs -----------------------------------------------------


def test_requests_do_not_grow_with_pod_duration(local_cluster_connection, run_dag):
    cluster = local_cluster_connection
    counts = {}
    for seconds in (3, 12):
        cluster.reset_stats()
        result = run_dag(
            dag_source(
                f"duration_{seconds}",
                f"""image="busybox:1.36", cmds=["sh", "-c", "for i in $(seq {seconds * 4}); do echo tick $i; sleep 0.25; done"]""",
            )
        )
        assert result.task_states == {"task": "success"}
        counts[seconds] = {k: v for k, v in cluster.stats().items() if v}
    assert counts[3] == counts[12], (
        repr(sorted(counts[3].items())) + " vs " + repr(sorted(counts[12].items()))
    )
    assert counts[12].get("get pods", 0) == 0, "completion is watched, never polled"


# -- callbacks -------------------------------------------------------------------------------------------

CALLBACKS = """
from airflow_provider_k8spod.callbacks import KubernetesPodOperatorCallback

class Recorder(KubernetesPodOperatorCallback):
    @staticmethod
    def on_sync_client_creation(*, client, operator, **kwargs):
        operator.log.info("callback on_sync_client_creation %s", type(client).__name__)

    @staticmethod
    def on_pod_manifest_created(*, pod_request, client, mode, operator, context, **kwargs):
        operator.log.info("callback on_pod_manifest_created %s %s", type(pod_request).__name__, mode)

    @staticmethod
    def on_pod_creation(*, pod, client, mode, operator, context, **kwargs):
        operator.log.info("callback on_pod_creation %s", pod.metadata.name)

    @staticmethod
    def on_pod_starting(*, pod, client, mode, operator, context, **kwargs):
        operator.log.info("callback on_pod_starting %s", pod.status.phase)

    @staticmethod
    def on_pod_completion(*, pod, client, mode, operator, context, **kwargs):
        operator.log.info("callback on_pod_completion")

    @staticmethod
    def on_pod_teardown(*, pod, client, mode, operator, context, **kwargs):
        operator.log.info("callback on_pod_teardown")

    @staticmethod
    def on_pod_cleanup(*, pod, client, mode, operator, context, **kwargs):
        operator.log.info("callback on_pod_cleanup")

    @staticmethod
    def progress_callback(*, line, client, mode, container_name, timestamp, pod, **kwargs):
        print(f"callback progress {container_name}: {line}")
"""


def test_upstream_style_callbacks_are_called_in_order(run_dag):
    result = run_dag(
        dag_source(
            "callbacks",
            """image="busybox:1.36", cmds=["sh", "-c", "echo one; echo two"], callbacks=Recorder""",
            extra=CALLBACKS,
        )
    )
    assert result.task_states == {"task": "success"}
    order = [
        line.split("callback ", 1)[1].split()[0]
        for line in result.log.splitlines()
        if "callback " in line and "Callback" not in line
    ]
    assert order[:2] == ["on_sync_client_creation", "on_pod_manifest_created"]
    assert order.index("on_pod_creation") < order.index("on_pod_starting") < order.index("on_pod_completion")
    assert order.index("on_pod_completion") < order.index("on_pod_teardown") < order.index("on_pod_cleanup")
    assert "callback progress base: one" in result.log
    assert "callback progress base: two" in result.log
    assert "callback on_pod_manifest_created V1Pod sync" in result.log


# -- RBAC ------------------------------------------------------------------------------------------------


def test_without_watch_permission_the_pod_is_read_periodically(local_cluster_connection, run_dag):
    local_cluster_connection.forbid("watch", "pods")
    result = run_dag(
        dag_source("no_watch_rbac", """image="busybox:1.36", cmds=["sh", "-c", "sleep 1; echo done"]""")
    )
    assert result.task_states == {"task": "success"}
    assert "Cannot watch pods" in result.log
    assert "needs RBAC verb 'watch' on 'pods'" in result.log
    assert "[base] done" in result.log


def test_an_rbac_error_while_watching_fails_the_task_instead_of_hanging(local_cluster_connection, run_dag):
    local_cluster_connection.forbid("watch", "pods")
    local_cluster_connection.forbid("get", "pods")
    result = run_dag(
        dag_source(
            "no_get_rbac",
            """image="busybox:1.36", cmds=["sh", "-c", "sleep 30"], execution_timeout=datetime.timedelta(seconds=90),
            termination_grace_period=1""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "403 Forbidden" in result.log
    assert "needs RBAC verb 'get' on 'pods'" in result.log
    assert "Timeout" not in result.log
    wait_until_gone(local_cluster_connection)
