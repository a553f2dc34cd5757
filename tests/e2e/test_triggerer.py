"""Deferrable tasks under a real ``airflow triggerer`` process (LocalExecutor workers, a real API server,
sqlite): a mapped deferred task marked failed from outside. (A triggerer restarted mid-run and a task marked
failed or success are rows of the fault matrix, tests/reliability/test_pod_faults.py, which reuses the
``triggerer`` fixture.)
Assertions: task states, the task log files, the pods in the cluster, the pods ever created."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.operators.kpo import WhenPod, dag_source, running, task_pods

pytestmark = [pytest.mark.usefixtures("local_cluster_connection"), pytest.mark.timeout(600)]


class Triggerer:
    """An ``airflow triggerer`` process of this test session (same AIRFLOW_HOME and database)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log_path = Path(os.environ["AIRFLOW_HOME"]) / f"triggerer-{self.starts}.log"
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "airflow", "triggerer"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
                # No parent-death signal: it is tied to the thread that started the process, and a
                # restart is done from a helper thread. The fixture stops the process.
                start_new_session=True,
            )

    def log(self) -> str:
        """What every triggerer process of this test printed (for failure messages)."""
        home = Path(os.environ["AIRFLOW_HOME"])
        return "\n".join(
            (home / f"triggerer-{n}.log").read_text(errors="replace") for n in range(1, self.starts + 1)
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def triggerer(airflow_api_server):
    process = Triggerer()
    process.start()
    yield process
    process.stop()


def _wait_for_state(dag_id: str, task_id: str, map_index: int, state: str, timeout: float = 120) -> None:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with create_session() as session:
            ti = (
                session.query(TaskInstance)
                .filter_by(dag_id=dag_id, task_id=task_id, map_index=map_index)
                .one()
            )
            if str(ti.state) == state:
                return
        time.sleep(0.2)
    raise AssertionError(f"{dag_id}.{task_id}[{map_index}] never became {state}")


def _wait_for_trigger_log(dag_id: str, text: str, timeout: float = 120) -> None:
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in p.read_text(errors="replace") for p in logs.rglob("*.trigger.*.log")):
            return
        time.sleep(0.2)
    raise AssertionError(f"no trigger of {dag_id} logged {text!r}")


def _mark_failed(dag_id: str, task_id: str, map_index: int = -1) -> None:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id, map_index=map_index).one()
        ti.state = TaskInstanceState.FAILED
        ti.trigger_id = None
        ti.next_method = None
        ti.next_kwargs = None


# The task that is not mapped is a row of the fault matrix (tests/reliability/test_pod_faults.py).
@pytest.mark.parametrize("mapped", [True], ids=["mapped"])
def test_marking_a_deferred_task_failed_deletes_its_pod(local_cluster_connection, run_dag, triggerer, mapped):
    cluster = local_cluster_connection
    dag_id = f"deferred_mark_failed_{'mapped' if mapped else 'task'}"

    def deferred_then_mark(c, pod):
        index = int(pod["metadata"]["labels"].get("map_index", -1))
        _wait_for_state(dag_id, "task", index, "deferred")
        _wait_for_trigger_log(
            dag_id, "Pod task-"
        )  # the triggerer follows the pod (its events are in the log)
        _mark_failed(dag_id, "task", index)

    operator = "KubernetesPodOperator.partial" if mapped else "KubernetesPodOperator"
    arguments = """image="busybox:1.36", deferrable=True, termination_grace_period=2"""
    source = dag_source(dag_id, arguments, operator=operator)
    if mapped:
        source = source.replace(f"{arguments})", f"{arguments}).expand(cmds=[['sh', '-c', 'sleep 120']])")
    else:
        source = source.replace(f"{arguments})", f"""{arguments}, cmds=["sh", "-c", "sleep 120"])""")
    try:
        with WhenPod(cluster, running(), deferred_then_mark, timeout=240) as fault:
            started = time.monotonic()
            result = run_dag(source, use_executor=True)
        assert fault.fired.is_set(), fault.error
        assert set(result.task_states.values()) == {"failed"}
        for _ in range(200):
            if not task_pods(cluster):
                break
            time.sleep(0.1)
        logs = Path(os.environ["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}"
        assert task_pods(cluster) == [], "\n".join(p.read_text()[-3000:] for p in logs.rglob("*.log"))
        assert time.monotonic() - started < 100  # the pod was deleted, not left to finish its 120 s
    finally:
        for pod in task_pods(cluster):  # later tests select pods by task id: never leave one behind
            with contextlib.suppress(Exception):
                cluster.delete_pod("default", pod["metadata"]["name"], grace_period_seconds=0)
