"""Helpers for operator tests: DAG sources around one KubernetesPodOperator, and fault injection that waits
for the task's pod to reach a state (the DAG runs in the test's main thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

HEADER = """
import datetime
import json
import pendulum
from airflow.sdk import DAG
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
"""


def dag_source(
    dag_id: str,
    operator_kwargs: str,
    *,
    extra: str = "",
    task_id: str = "task",
    dag_kwargs: str = "",
    operator: str = "KubernetesPodOperator",
) -> str:
    """A DAG file with one ``<operator>(task_id=..., <operator_kwargs>)`` (``extra`` may define a subclass)."""
    return (
        HEADER
        + extra
        + f"""
with DAG({dag_id!r}, start_date=pendulum.datetime(2024, 1, 1), schedule=None{", " + dag_kwargs if dag_kwargs else ""}) as dag:
    {operator}(task_id={task_id!r}, {operator_kwargs})
"""
    )


def task_pods(cluster: Any, task_id: str = "task") -> list[dict[str, Any]]:
    return [
        p for p in cluster.pods("default") if (p["metadata"].get("labels") or {}).get("task_id") == task_id
    ]


class WhenPod:
    """Runs ``action(cluster, pod)`` in a thread once the task's pod satisfies ``condition``."""

    def __init__(
        self,
        cluster: Any,
        condition: Callable[[dict[str, Any]], bool],
        action: Callable[[Any, dict[str, Any]], None],
        *,
        task_id: str = "task",
        timeout: float = 120.0,
    ) -> None:
        self.cluster, self.condition, self.action, self.task_id, self.timeout = (
            cluster,
            condition,
            action,
            task_id,
            timeout,
        )
        self.error: BaseException | None = None
        self.fired = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WhenPod:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=5)

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                for pod in task_pods(self.cluster, self.task_id):
                    if self.condition(pod):
                        self.action(self.cluster, pod)
                        self.fired.set()
                        return
                time.sleep(0.05)
        except BaseException as exc:  # surfaced by the test through .error
            self.error = exc


def running(container: str = "base") -> Callable[[dict[str, Any]], bool]:
    def check(pod: dict[str, Any]) -> bool:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status["name"] == container and "running" in (status.get("state") or {}):
                return True
        return False

    return check
