"""The fault matrix, pod and process half: faults that end or disturb the pod, or the Airflow process that
follows it, in both modes (the ``mode`` fixture), from one table.

Every cell runs the numbered-line pod (tests/reliability/_pod_helpers.py) and asserts what a user notices:
the task state, each numbered line exactly once and in order in the task log (up to the fault, where the
pod died: the pod prints its lines, then holds until the fault), the XCom result where the task succeeded,
no pod left behind, and one pod per try (the cluster's count of pod creations). docs/reliability.md shows
the table.

Cells marked ``worker`` run the task as a worker does (LocalExecutor: supervisor and task process, a real
API server; deferrable cells with a real ``airflow triggerer``): killing or marking a task from outside only
means something there. The others run in-process under ``dag.test()`` (its trigger runs in-line).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_k8spod.testing import Node, Timings
from tests.e2e.test_triggerer import _wait_for_state, triggerer  # noqa: F401 (a fixture)
from tests.e2e.test_worker_restarts import signal_task_process
from tests.operators.kpo import WhenPod, dag_source, task_pods
from tests.reliability._pod_helpers import (
    after_line,
    airflow_logs,
    log_by_try,
    numbered_pod,
    wait_until_no_pod,
)
from tests.reliability.matrix import numbered_lines as numbered

# Two nodes (with every node lost the node lifecycle controller evicts nothing); a lost node is noticed
# after 0.5 s and its pods are evicted after 1 s (instead of 40 s and 300 s).
pytestmark = [
    pytest.mark.usefixtures("local_cluster_connection", "mode"),
    pytest.mark.local_cluster(
        nodes=[Node("node-1"), Node("node-2")],
        timings=Timings(node_monitor_grace_seconds=0.5, default_unreachable_toleration_seconds=1),
    ),
]

HELD = 5  # a held pod prints lines 1..5, then waits for the fault
LINES = 30  # a pod that runs to its end prints 30 lines (pausing after line 5 for the fault), then its XCom
# How long a fault waits for its moment: the clock starts before Airflow's API server and triggerer do.
WAIT = 600
GUARD = "execution_timeout=datetime.timedelta(seconds=120)"  # a fault that never fires fails, not hangs


@dataclass(frozen=True)
class Cell:
    """What one scenario asserts in one mode."""

    state: str  # the task state
    says: str = ""  # what the task log says about the fault ("" to not check)
    lines: int = HELD  # lines 1..lines in the (last try's) task log, each once, in order
    xcom: Any = None  # the XCom result (None: none pushed)
    pods: int = 1  # pods created in all (one per try at most)
    worker: bool = False  # run as a worker does (LocalExecutor; a real triggerer when deferrable)
    drive: Callable[..., Any] | None = None  # this mode's own driver, instead of the scenario's
    pod: str = ""  # this mode's own pod (operator arguments), instead of the scenario's
    across_tries: bool = False  # lines 1..lines once in all tries' logs together (not in the last try's)
    extra: str = ""  # DAG source before the DAG (a callback class), and operator arguments after ";"


@dataclass(frozen=True)
class Scenario:
    id: str
    pod: str  # operator arguments
    drive: Callable[[Any, Callable[..., Any], str], Any]  # (cluster, run, dag_id) -> DagResult
    sync: Cell | str  # a str says why the cell does not apply
    deferrable: Cell | str

    @property
    def serial(self) -> bool:
        """Run alone (marker ``serial``): real Airflow processes, or a deadline of seconds."""
        cells = [c for c in (self.sync, self.deferrable) if isinstance(c, Cell)]
        return self.id.startswith("execution_timeout") or any(c.worker for c in cells)


# -- how each fault is driven: drive(cluster, run, dag_id, request) -> DagResult ---------------------------


def at_line(action: Callable[..., None], line: int = HELD, *, release: bool = False) -> Callable[..., Any]:
    """Run the DAG; once the pod printed ``line`` and is being followed, ``action(cluster, pod, ...)``
    (with ``dag_id`` and ``request``); ``release``: then let the paused pod go on."""

    def drive(cluster: Any, run: Callable[[], Any], dag_id: str, request: Any) -> Any:
        condition, then = after_line(
            cluster, line, lambda c, p: action(c, p, dag_id=dag_id, request=request), release=release
        )
        with WhenPod(cluster, condition, then, timeout=WAIT) as fault:
            result = run()
        assert fault.fired.is_set(), fault.error or "the fault never fired"
        assert fault.error is None, fault.error
        return result

    return drive


def just_run(cluster: Any, run: Callable[[], Any], dag_id: str, request: Any) -> Any:
    return run()


def evict(cluster: Any, pod: dict[str, Any], **_: Any) -> None:
    cluster.evict_pod("default", pod["metadata"]["name"])


def oom_kill(cluster: Any, pod: dict[str, Any], **_: Any) -> None:
    cluster.oom_kill("default", pod["metadata"]["name"], "base")


def delete(cluster: Any, pod: dict[str, Any], **_: Any) -> None:
    cluster.delete_pod("default", pod["metadata"]["name"], grace_period_seconds=0)


def lose_node(cluster: Any, run: Callable[[], Any], dag_id: str, request: Any) -> Any:
    lost: list[str] = []

    def action(c: Any, pod: dict[str, Any], **_: Any) -> None:
        lost.append(pod["spec"]["nodeName"])
        c.lose_node(pod["spec"]["nodeName"])

    try:
        result = at_line(action)(cluster, run, dag_id, request)
        # Its pods stay Terminating until a lost node returns (as on a real cluster): the task's pod must
        # be on its way out before the node is brought back.
        for pod in task_pods(cluster):
            assert pod["metadata"].get("deletionTimestamp"), (
                f"pod {pod['metadata']['name']} is not being deleted"
            )
        return result
    finally:
        for node in lost:
            cluster.restore_node(node)


def kill_worker(cluster: Any, run: Callable[[], Any], dag_id: str, request: Any) -> Any:
    killed: list[int] = []
    result = at_line(lambda c, p, **_: killed.extend(signal_task_process(signal.SIGKILL)), release=True)(
        cluster, run, dag_id, request
    )
    assert killed, "no task process was found to kill"
    return result


SLOW_RESUME = """
from airflow_provider_k8spod.callbacks import KubernetesPodOperatorCallback


class SlowResume(KubernetesPodOperatorCallback):
    @staticmethod
    def on_operator_resuming(*, context, **kwargs):
        if context["ti"].try_number == 1:  # the first try resumes slowly: its worker is killed meanwhile
            print("resuming slowly", flush=True)
            import time
            time.sleep(120)
"""


def kill_worker_resuming(cluster: Any, run: Callable[[], Any], dag_id: str, request: Any) -> Any:
    """Once the trigger's event resumed the task on a worker (held by ``SlowResume``), SIGKILL it."""
    killed: list[int] = []
    first_try = Path(os.environ["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}"

    def resuming(pod: dict[str, Any]) -> bool:
        return any(
            "resuming slowly" in p.read_text(errors="replace") for p in first_try.rglob("attempt=1.log")
        )

    kill = lambda c, p: killed.extend(signal_task_process(signal.SIGKILL))  # noqa: E731
    with WhenPod(cluster, resuming, kill, timeout=WAIT) as fault:
        result = run()
    assert fault.fired.is_set(), fault.error or "the task never resumed"
    assert killed, "no task process was found to kill"
    return result


def restart_triggerer(sig: int) -> Callable[..., Any]:
    def action(cluster: Any, pod: dict[str, Any], *, request: Any, **_: Any) -> None:
        process = request.getfixturevalue("triggerer")
        process.stop(sig)
        process.start()

    return at_line(action, release=True)


def mark(state: str) -> Callable[..., Any]:
    """Mark the running (or deferred) task ``state`` from outside, as a user in the UI does."""

    def action(cluster: Any, pod: dict[str, Any], *, dag_id: str, request: Any) -> None:
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session

        if request.getfixturevalue("mode") == "deferrable":
            _wait_for_state(dag_id, "task", -1, "deferred")
        with create_session() as session:
            ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id="task", map_index=-1).one()
            ti.state = state
            ti.trigger_id = None
            ti.next_method = None
            ti.next_kwargs = None

    return at_line(action)


# -- the matrix ------------------------------------------------------------------------------------------

HOLD = numbered_pod(HELD, hold=True, extra=GUARD)
RETRY = "retries=1, retry_delay=datetime.timedelta(seconds=0)"
RUN = numbered_pod(LINES, pause_after=HELD, extra=RETRY)
DIES = "the pod died at the fault"

EVICTED = Cell("failed", "reason: Evicted")
OOM = Cell("failed", "container 'base' was killed for using too much memory (OOMKilled, exit code 137)")
NODE_LOST = Cell("failed", "the pod's node stopped reporting; Kubernetes is evicting the pod")
DELETED = Cell("failed", "the pod was deleted while container 'base' was running")
TIMEOUT_PENDING = Cell("failed", "Timeout", lines=0)
TIMEOUT_RUNNING = Cell("failed", "Timeout")
MARKED_FAILED = Cell("failed", worker=True)
MARKED_SUCCESS = Cell("success", worker=True)

SCENARIOS = [
    Scenario("evicted", HOLD, at_line(evict), EVICTED, EVICTED),
    Scenario("oom_killed", HOLD, at_line(oom_kill), OOM, OOM),
    Scenario("node_lost", HOLD, lose_node, NODE_LOST, NODE_LOST),
    Scenario("deleted_by_someone_else", HOLD, at_line(delete), DELETED, DELETED),
    Scenario(
        "execution_timeout_pending",
        """image="busybox:1.36", cmds=["sh", "-c", "echo line 1"], node_selector={"disk": "none"},
        execution_timeout=datetime.timedelta(seconds=3)""",
        just_run,
        TIMEOUT_PENDING,
        TIMEOUT_PENDING,
    ),
    Scenario(
        "execution_timeout_running",
        numbered_pod(HELD, hold=True, extra="execution_timeout=datetime.timedelta(seconds=15)"),
        just_run,
        TIMEOUT_RUNNING,
        TIMEOUT_RUNNING,
    ),
    Scenario(
        "worker_killed",
        RUN,
        kill_worker,
        Cell(
            "success",
            "of try 1, still Running, instead of creating another one",
            LINES,
            {"lines": LINES},
            worker=True,
        ),
        # The pod finished, the trigger fired, the worker resuming is killed before its cleanup: the pod
        # still runs its XCom sidecar (the trigger leaves it to the worker), so try 2 adopts it, its trigger
        # continues the log where try 1's ended and reads the result again: one pod, each line once.
        Cell(
            "success",
            "of try 1, still Running, instead of creating another one",
            LINES,
            {"lines": LINES},
            across_tries=True,
            worker=True,
            drive=kill_worker_resuming,
            pod=numbered_pod(LINES, extra=RETRY),  # no pause: the fault comes after the pod's end
            extra=SLOW_RESUME + ";callbacks=[SlowResume]",
        ),
    ),
    Scenario(
        "triggerer_restarted",
        RUN,
        restart_triggerer(signal.SIGTERM),
        "no triggerer in synchronous mode, the worker follows the pod: see worker_killed",
        Cell("success", "where the previous follower stopped", LINES, {"lines": LINES}, worker=True),
    ),
    Scenario("marked_failed", HOLD, mark("failed"), MARKED_FAILED, MARKED_FAILED),
    Scenario("marked_success", HOLD, mark("success"), MARKED_SUCCESS, MARKED_SUCCESS),
]


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(s, id=s.id, marks=[pytest.mark.serial] if s.serial else []) for s in SCENARIOS],
)
def test_pod_fault(local_cluster_connection, run_dag, mode, request, scenario):
    cell = getattr(scenario, mode)
    if isinstance(cell, str):
        pytest.skip(f"does not apply: {cell}")
    cluster = local_cluster_connection
    dag_id = f"fault_{scenario.id}_{mode}"
    if cell.worker and mode == "deferrable":
        request.getfixturevalue("triggerer")
    source, _, arguments = cell.extra.partition(";")
    pod = cell.pod or scenario.pod
    pod = f"{pod}, {arguments}" if arguments else pod
    drive = cell.drive or scenario.drive
    try:
        result = drive(
            cluster,
            lambda: run_dag(dag_source(dag_id, pod, extra=source), use_executor=cell.worker),
            dag_id,
            request,
        )
        _check(cluster, result, cell, dag_id)
    finally:
        for pod in task_pods(cluster):  # never leave a pod to the next test
            with contextlib.suppress(Exception):
                cluster.delete_pod("default", pod["metadata"]["name"], grace_period_seconds=0)


def _check(cluster: Any, result: Any, cell: Cell, dag_id: str) -> None:
    logs = result.log if not cell.worker else airflow_logs(dag_id)
    context = logs[-8000:]
    assert result.task_states == {"task": cell.state}, context
    tries = log_by_try(result.log) if cell.worker else {1: result.log}
    last = result.log if cell.across_tries else tries[max(tries)]
    assert numbered(last) == list(range(1, cell.lines + 1)), context
    for earlier in sorted(tries)[:-1]:  # a try that died printed a prefix, each line once
        seen = numbered(tries[earlier])
        assert seen == list(range(1, len(seen) + 1)), context
    if cell.says:
        assert cell.says in result.log, context
    assert result.xcom("task") == cell.xcom
    assert wait_until_no_pod(cluster) == [], context
    created = cluster.stats().get("create pods", 0)
    # A timeout while pending may even come before the pod is created (a loaded machine): none, never two.
    assert created == cell.pods or (cell.lines == 0 and created == 0), created
