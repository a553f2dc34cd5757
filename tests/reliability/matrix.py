"""The fault matrix's common parts: the pod every scenario runs (numbered lines, then an XCom result) and
the assertions every scenario makes on what a user sees.

Each scenario runs in a namespace of its own on the shared local cluster, so fault rules are scoped to it
and the pods and events counted are that scenario's only.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.dag_runner import DagResult
from tests.operators.kpo import dag_source

#: Lines the pod prints: one every 0.1 s, so a run lasts about 3 s and faults land mid-stream.
LINES = 30
XCOM = {"lines": LINES}
_COMMAND = (
    f"i=1; while [ $i -le {LINES} ]; do echo line $i; sleep 0.1; i=$((i+1)); done; "
    'mkdir -p /airflow/xcom; echo \'{"lines": ' + str(LINES) + "}' > /airflow/xcom/return.json"
)
_NUMBERED = re.compile(r"\[base\] line (\d+)\b")


def new_namespace(cluster: Any, prefix: str) -> str:
    """Create a namespace of its own for one scenario (faults scoped to it touch nothing else)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"[:63]
    cluster._admin(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    return name


def numbered_dag(dag_id: str, namespace: str, extra_kwargs: str = "") -> str:
    """A DAG whose one task runs the numbered-line pod in ``namespace`` and pushes its XCom result."""
    kwargs = (
        f'namespace={namespace!r}, image="busybox:1.36", do_xcom_push=True, cmds=["sh", "-c", {_COMMAND!r}]'
    )
    if extra_kwargs:
        kwargs += ", " + extra_kwargs
    return dag_source(dag_id, kwargs)


def numbered_lines(log: str) -> list[int]:
    """The numbers of the pod's lines as they appear in the task log."""
    return [int(match.group(1)) for match in _NUMBERED.finditer(log)]


def pods_created(cluster: Any, namespace: str) -> set[str]:
    """UIDs of every pod that existed in ``namespace``, deleted ones included (from their events)."""
    uids = {
        str(event["involvedObject"].get("uid"))
        for event in cluster.events(namespace)
        if (event.get("involvedObject") or {}).get("kind") == "Pod"
    }
    uids |= {str(pod["metadata"]["uid"]) for pod in cluster.pods(namespace)}
    return uids


@dataclass(frozen=True)
class Expected:
    state: str = "success"
    xcom: Any = field(default_factory=lambda: dict(XCOM))
    keep_pod: bool = False


def assert_outcome(cluster: Any, namespace: str, result: DagResult, expected: Expected | None = None) -> None:
    """What every scenario promises: the task state, each numbered line exactly once and in order, the
    XCom result, no pod left behind (unless kept on purpose), never two pods for the one try."""
    expected = expected or Expected()
    assert result.task_states == {"task": expected.state}, result.log[-3000:]
    assert numbered_lines(result.log) == list(range(1, LINES + 1)), result.log[-3000:]
    assert result.xcom("task") == expected.xcom
    left = [pod["metadata"]["name"] for pod in cluster.pods(namespace)]
    assert len(left) == (1 if expected.keep_pod else 0), left
    assert len(pods_created(cluster, namespace)) == 1


class WhenRunning:
    """Runs ``action(cluster, namespace, pod_name)`` in a thread, ``delay`` seconds after the container
    ``base`` of the scenario's pod is seen running (the DAG runs in the test's main thread). It watches
    for as long as the run lasts: the first run of a session waits a long time for Airflow to warm up."""

    def __init__(
        self, cluster: Any, namespace: str, action: Callable[[Any, str, str], Any], *, delay: float = 0.5
    ) -> None:
        self.cluster, self.namespace, self.action, self.delay = cluster, namespace, action, delay
        self.fired = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WhenRunning:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for pod in self.cluster.pods(self.namespace):
                    statuses = (pod.get("status") or {}).get("containerStatuses") or []
                    if any(s["name"] == "base" and "running" in (s.get("state") or {}) for s in statuses):
                        time.sleep(self.delay)
                        self.result = self.action(self.cluster, self.namespace, pod["metadata"]["name"])
                        self.fired.set()
                        return
                self._stop.wait(0.05)
        except BaseException as exc:  # surfaced by the test
            self.error = exc
