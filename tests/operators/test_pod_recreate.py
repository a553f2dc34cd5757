"""``pod_recreate_attempts``, end to end in both modes: a pod lost to the infrastructure (evicted, its node
lost) is created again for the same try, and the task succeeds with the second pod's result; a failure of
the task's own code (exit 1, OOMKilled) is never retried this way; when the attempts are used up the task
fails naming the infrastructure reason. What a user sees: the task state, each pod's log lines once in the
task log, the XCom result, the pods created and none left behind. (The classification itself is table-tested
in tests/pod/test_infrastructure_loss.py; with ``pod_recreate_attempts=0`` the same faults are rows of the
fault matrix, tests/reliability/test_pod_faults.py.)"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
from airflow_provider_k8spod.pod.identity import recreated_pod_name
from airflow_provider_k8spod.pod.lifecycle import LifecycleSettings, PodHandle
from airflow_provider_k8spod.testing import Image, Node, Timings
from tests.operators.kpo import dag_source, task_pods
from tests.reliability._pod_helpers import after_line, wait_until_no_pod

# Two nodes, so that a lost node's pod can be created again on the other; a lost node is noticed after 0.5 s
# and its pods are evicted after 1 s (instead of 40 s and 300 s).
pytestmark = pytest.mark.local_cluster(
    nodes=[Node("node-1"), Node("node-2")],
    timings=Timings(node_monitor_grace_seconds=0.5, default_unreachable_toleration_seconds=1),
)

# Each pod says who it is and prints three lines. The first pod of the try then holds until a fault ends it;
# a recreated pod (name ending -r<n>) writes its name as the XCom result and ends. HOLD_ALL: every pod holds.
_SCRIPT = (
    'echo "pod $HOSTNAME"; i=1; while [ $i -le 3 ]; do echo line $i; sleep 0.1; i=$((i+1)); done; '
    'case "$HOSTNAME" in {finish}) mkdir -p /airflow/xcom; echo "{{\\"pod\\": \\"$HOSTNAME\\"}}" '
    '> /airflow/xcom/return.json;; *) trap "exit 143" TERM; sleep 300 & wait;; esac'
)
GUARD = "execution_timeout=datetime.timedelta(seconds=180)"  # a fault that never fires fails, not hangs


def pod_arguments(attempts: int, *, finish: str = "*-r[0-9]*", extra: str = "") -> str:
    script = _SCRIPT.format(finish=finish)
    return (
        f'image="busybox:1.36", cmds=["sh", "-c", {script!r}], do_xcom_push=True, '
        f"pod_recreate_attempts={attempts}, {GUARD}" + (f", {extra}" if extra else "")
    )


def evict(cluster: Any, pod: dict[str, Any]) -> None:
    cluster.evict_pod("default", pod["metadata"]["name"])


def lose_node(lost: list[str]) -> Callable[[Any, dict[str, Any]], None]:
    def action(cluster: Any, pod: dict[str, Any]) -> None:
        lost.append(pod["spec"]["nodeName"])
        cluster.lose_node(pod["spec"]["nodeName"])

    return action


def oom_kill(cluster: Any, pod: dict[str, Any]) -> None:
    cluster.oom_kill("default", pod["metadata"]["name"], "base")


class EachPod(threading.Thread):
    """``action(cluster, pod)`` on each of the first ``times`` pods of the task that satisfy ``condition``,
    one after the other (the DAG runs in the test's main thread)."""

    def __init__(self, cluster: Any, condition: Any, action: Any, times: int) -> None:
        super().__init__(daemon=True)
        self.cluster, self.condition, self.action, self.times = cluster, condition, action, times
        self.fired: list[str] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while len(self.fired) < self.times and not self.stop.is_set():
                for pod in task_pods(self.cluster):
                    name = pod["metadata"]["name"]
                    if name not in self.fired and self.condition(pod):
                        self.action(self.cluster, pod)
                        self.fired.append(name)
                        break
                self.stop.wait(0.05)
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def run_with_fault(cluster: Any, run_dag: Any, dag_id: str, arguments: str, then: Any, *, times: int = 1):
    """Run the DAG; once a pod printed its lines and is followed, ``then(cluster, pod)``, on the first
    ``times`` pods of the task. Returns the result and the pods the fault hit, in order."""
    condition, action = after_line(cluster, 3, then)
    fault = EachPod(cluster, condition, action, times)
    fault.start()
    try:
        result = run_dag(dag_source(dag_id, arguments))
    finally:
        fault.stop.set()
        fault.join(30)
    assert fault.error is None, fault.error
    return result, fault.fired


def pods_in_log(log: str) -> list[str]:
    return re.findall(r"\[base\] pod (\S+)", log)


def lines_in_log(log: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[base\] line (\d+)\b", log)]


def assert_recreated_once(cluster: Any, result: Any, fired: list[str], why: str) -> None:
    log = result.log[-8000:]
    assert result.task_states == {"task": "success"}, log
    first, second = pods_in_log(result.log)  # each pod's lines once, the lost pod's first
    assert fired == [first], log
    assert second == f"{first}-r1"
    assert lines_in_log(result.log) == [1, 2, 3, 1, 2, 3], log
    assert f"Pod default/{first} was lost to the infrastructure: {why}" in result.log, log
    assert "Creating a new pod for the same try (pod recreate attempt 1 of 1" in result.log
    # Never two live pods for the try: the lost one is cleaned up before the next one is created.
    assert result.log.index(f"Deleting pod {first} ") < result.log.index(f"Created pod default/{second} "), (
        log
    )
    assert result.xcom("task") == {"pod": second}
    assert result.xcom("task", "pod_name") == second
    assert wait_until_no_pod(cluster) == [], log
    assert cluster.stats()["create pods"] == 2


def test_an_evicted_pod_is_created_again_and_the_task_succeeds(local_cluster_connection, run_dag, mode):
    cluster = local_cluster_connection
    result, fired = run_with_fault(cluster, run_dag, f"recreate_evicted_{mode}", pod_arguments(1), evict)
    assert_recreated_once(cluster, result, fired, "evicted by the kubelet (Evicted: ")


def test_a_pod_on_a_lost_node_is_created_again_on_another(local_cluster_connection, run_dag, mode):
    cluster = local_cluster_connection
    lost: list[str] = []
    try:
        result, fired = run_with_fault(
            cluster, run_dag, f"recreate_node_lost_{mode}", pod_arguments(1), lose_node(lost)
        )
        # The lost pod stays Terminating until its node returns (as on a real cluster); the new one is gone.
        left = task_pods(cluster)
        assert [p["metadata"]["name"] for p in left] == fired
        assert all(p["metadata"].get("deletionTimestamp") for p in left)
    finally:
        for node in lost:
            cluster.restore_node(node)
    assert_recreated_once(cluster, result, fired, "its node was lost (NodeLost: ")


def test_a_lost_pod_kept_by_on_finish_action_is_labelled_so_that_no_try_adopts_it(
    local_cluster_connection, run_dag, mode
):
    cluster = local_cluster_connection
    arguments = pod_arguments(1, extra='on_finish_action="keep_pod"')
    result, fired = run_with_fault(cluster, run_dag, f"recreate_kept_{mode}", arguments, evict)
    log = result.log[-8000:]
    assert result.task_states == {"task": "success"}, log
    kept = {p["metadata"]["name"]: p for p in task_pods(cluster)}
    assert sorted(kept) == sorted([*fired, f"{fired[0]}-r1"]), log
    for pod in kept.values():
        assert pod["metadata"]["labels"]["already_checked"] == "True"
        assert pod["metadata"]["labels"]["try_number"] == "1"  # both identify the one try
    assert (
        kept[f"{fired[0]}-r1"]["metadata"]["annotations"]["airflow-provider-k8spod/recreate-attempt"] == "1"
    )


ETL_IMAGE = "registry.example.com/team/etl:1.0"


@pytest.mark.local_cluster(
    # The registry answers 429 to the first 4 pulls; with back-offs of 0.5 s, 1 s, 2 s, the first pod
    # cannot start within its 3 s, the next one can.
    images=[Image(ETL_IMAGE, pull_failures=4)],
    timings=Timings(image_pull_backoff_initial=0.5),
)
def test_a_start_that_ran_out_of_time_on_a_rate_limited_registry_is_tried_again(
    local_cluster_connection, run_dag, mode
):
    cluster = local_cluster_connection
    arguments = pod_arguments(1).replace('"busybox:1.36"', repr(ETL_IMAGE)) + (
        ", startup_timeout_seconds=3, startup_check_interval_seconds=1"
    )
    result = run_dag(dag_source(f"recreate_pull_{mode}", arguments))
    log = result.log[-8000:]
    assert result.task_states == {"task": "success"}, log
    assert (
        "was lost to the infrastructure: the image registry failed while pulling for 'base' "
        "(ImagePull: 429 Too Many Requests)" in result.log
    ), log
    (second,) = pods_in_log(result.log)  # the first pod never ran
    assert second.endswith("-r1")
    assert result.xcom("task") == {"pod": second}
    assert cluster.stats()["create pods"] == 2
    assert wait_until_no_pod(cluster) == [], log


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (None, "container 'base' terminated with exit code 1 (Error)"),
        (oom_kill, "container 'base' was killed for using too much memory (OOMKilled, exit code 137)"),
    ],
    ids=["exit_1", "oom_killed"],
)
def test_a_failure_of_the_tasks_own_code_is_never_recreated(
    local_cluster_connection, run_dag, mode, fault, says
):
    cluster = local_cluster_connection
    dag_id = f"recreate_not_{'oom' if fault else 'exit'}_{mode}"
    if fault is None:
        arguments = (
            'image="busybox:1.36", cmds=["sh", "-c", "echo line 1; exit 1"], pod_recreate_attempts=2, '
            f"{GUARD}"
        )
        result = run_dag(dag_source(dag_id, arguments))
    else:
        result, _ = run_with_fault(cluster, run_dag, dag_id, pod_arguments(2), fault)
    log = result.log[-8000:]
    assert result.task_states == {"task": "failed"}, log
    assert says in result.log, log
    assert "lost to the infrastructure" not in result.log, log
    assert cluster.stats()["create pods"] == 1
    assert wait_until_no_pod(cluster) == [], log


def test_when_the_attempts_are_used_up_the_task_fails_naming_the_reason(
    local_cluster_connection, run_dag, mode
):
    cluster = local_cluster_connection
    # Every pod holds, and each is evicted in turn: the first and its one recreation.
    result, fired = run_with_fault(
        cluster, run_dag, f"recreate_exhausted_{mode}", pod_arguments(1, finish="never"), evict, times=2
    )
    log = result.log[-8000:]
    assert result.task_states == {"task": "failed"}, log
    assert len(fired) == 2, log
    assert fired[1] == f"{fired[0]}-r1"
    assert pods_in_log(result.log) == fired, log
    assert result.log.count("Creating a new pod for the same try") == 1, log
    assert "The pod was lost to the infrastructure: evicted by the kubelet (Evicted: " in result.log, log
    assert "it is not created again: pod_recreate_attempts=1 are used up" in result.log, log
    assert f"Pod default/{fired[1]} failed:" in result.log, log
    assert cluster.stats()["create pods"] == 2
    assert wait_until_no_pod(cluster) == [], log


# -- the argument ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (-1, "pod_recreate_attempts: expected 0 (never recreate) or a positive number, got -1"),
        (True, "pod_recreate_attempts: expected a whole number of pods (0: never recreate), got True (bool)"),
        ("2", "pod_recreate_attempts: expected a whole number of pods (0: never recreate), got '2' (str)"),
        (1.5, "pod_recreate_attempts: expected a whole number of pods (0: never recreate), got 1.5 (float)"),
    ],
)
def test_a_bad_value_is_an_error_when_the_dag_is_parsed(value: Any, says: str) -> None:
    with pytest.raises(PodSpecError) as error:
        KubernetesPodOperator(task_id="t", image="busybox:1.36", pod_recreate_attempts=value)
    assert str(error.value) == says


def test_it_is_not_templated_and_reaches_both_modes() -> None:
    # Like upstream's other numbers of the run (startup_timeout_seconds, poll_interval): not a template field.
    assert "pod_recreate_attempts" not in KubernetesPodOperator.template_fields
    assert KubernetesPodOperator(task_id="t", image="busybox:1.36").pod_recreate_attempts == 0
    op = KubernetesPodOperator(task_id="t", image="busybox:1.36", pod_recreate_attempts=3)
    settings = op.lifecycle_settings()
    assert settings.pod_recreate_attempts == 3
    # The trigger's kwargs carry the settings; the handle carries which pod of the try it follows.
    assert LifecycleSettings.from_dict(settings.to_dict()).pod_recreate_attempts == 3
    handle = PodHandle(name="t-abc-r2", namespace="default", uid="u", main="base", attempt=2)
    assert PodHandle.from_dict(handle.to_dict()) == handle


def test_the_names_of_recreated_pods() -> None:
    assert recreated_pod_name("etl-3kq7v2m1xa", 0) == "etl-3kq7v2m1xa"
    assert recreated_pod_name("etl-3kq7v2m1xa", 1) == "etl-3kq7v2m1xa-r1"
    assert recreated_pod_name("etl-3kq7v2m1xa", 12) == "etl-3kq7v2m1xa-r12"
    long = "a" * 52 + "-3kq7v2m1xa"  # 63 characters
    assert recreated_pod_name(long, 1) == long[:60] + "-r1"
    assert len(recreated_pod_name(long, 10)) == 63


def test_which_results_the_lifecycle_recreates() -> None:
    import logging

    from airflow_provider_k8spod.pod.lifecycle import LifecycleResult, PodLifecycle
    from airflow_provider_k8spod.pod.status import decide
    from tests.pod.pods import snapshot

    def lifecycle(attempts: int, attempt: int) -> PodLifecycle:
        made = PodLifecycle(
            None, LifecycleSettings(pod_recreate_attempts=attempts), log=logging.getLogger("t")
        )
        made.attach(PodHandle(name="p", namespace="default", uid="u", main="base", attempt=attempt))
        return made

    evicted = LifecycleResult(decide(snapshot("evicted").pod, main="base"), snapshot("evicted").pod)
    failed = LifecycleResult(decide(snapshot("failed_exit_code").pod, main="base"), {})
    assert lifecycle(1, 0).loss_to_recreate(evicted) is not None
    assert lifecycle(1, 1).loss_to_recreate(evicted) is None  # used up
    assert lifecycle(1, 1).recreate_exhausted(evicted) == (
        "The pod was lost to the infrastructure: evicted by the kubelet (Evicted: The node was low on resource: "
        "memory. Threshold quantity: 100Mi, available: 51200Ki. Container base was using 1948Mi, request is 0, "
        "has larger consumption of memory.); it is not created again: pod_recreate_attempts=1 are used up"
    )
    assert lifecycle(0, 0).loss_to_recreate(evicted) is None  # the default: never
    assert lifecycle(0, 0).recreate_exhausted(evicted) is None  # ... and the error is as before
    assert lifecycle(3, 0).loss_to_recreate(failed) is None  # the task's own failure
    assert lifecycle(3, 0).recreate_exhausted(failed) is None
    killed = lifecycle(3, 0)
    killed.stopping = True  # on_kill deleted the pod: not a loss
    assert killed.loss_to_recreate(evicted) is None
    timed_out = LifecycleResult(evicted.verdict, evicted.pod, timed_out=True)
    assert lifecycle(3, 0).loss_to_recreate(timed_out) is None
