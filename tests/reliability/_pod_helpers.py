"""The numbered-line pod and the common assertions of the pod/process half of the fault matrix.

(Kept small: the API half brings tests/reliability/matrix.py with the same pod; the two are to be unified.)

The pod prints ``line 1`` .. ``line N`` (``pace`` seconds apart). Without ``hold`` it then writes its XCom
result ``{"lines": N}`` and ends; with ``hold`` it stays running after the last line until a fault ends it,
so the lines a follower must have delivered "up to the fault" are known exactly: 1..N.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.operators.kpo import task_pods


def numbered_pod(
    lines: int, *, pace: float = 0.1, hold: bool = False, pause_after: int = 0, extra: str = ""
) -> str:
    """Operator arguments (DAG source) of the numbered-line pod. ``pause_after``: after that line, wait
    (up to 120 s) until :meth:`PodLog.release` lets it go on, so a fault lands mid-run on a loaded machine."""
    wait = "w=0; while [ ! -f /work/go ] && [ $w -lt 1200 ]; do sleep 0.1; w=$((w+1)); done"
    pause = f"[ $i -eq {pause_after} ] && {{ {wait}; }}; " if pause_after else ""
    # Held, it ends at once on SIGTERM (a shell's trap runs during ``wait``, not during a foreground sleep).
    end = (
        'trap "exit 143" TERM; sleep 300 & wait'
        if hold
        else 'echo "{\\"lines\\": $n}" > /airflow/xcom/return.json'
    )
    script = (
        f"n={lines}; i=1; while [ $i -le $n ]; do echo line $i; {pause}sleep {pace}; i=$((i+1)); done; {end}"
    )
    work = ""
    if pause_after:
        work = """, volumes=[{"name": "work", "emptyDir": {}}], volume_mounts=[{"name": "work", "mountPath": "/work"}]"""
    return f"""image="busybox:1.36", cmds=["sh", "-c", {script!r}], do_xcom_push=True{work}{", " + extra if extra else ""}"""


def log_by_try(log: str) -> dict[int, str]:
    """A worker's task log files (``--- attempt=N.log`` headers, trigger logs included) grouped by try."""
    tries: dict[int, list[str]] = {}
    current = 0
    for line in log.splitlines():
        if line.startswith("--- "):
            match = re.search(r"attempt=(\d+)\.log", line)
            current = int(match.group(1)) if match else 0
        tries.setdefault(current, []).append(line)
    return {n: "\n".join(lines) for n, lines in tries.items()}


class PodLog:
    """Reads a pod's container log from the cluster (to know what it printed before a fault), counting its
    own reads so they can be told apart from the follower's in the cluster's request counts."""

    def __init__(self, cluster: Any) -> None:
        from kubernetes import client, config

        self.cluster = cluster
        self.api = client.CoreV1Api(config.new_client_from_config(config_file=cluster.kubeconfig_path))
        self.reads = 0

    def lines(self, pod: dict[str, Any], container: str = "base") -> list[int]:
        self.reads += 1
        try:
            response = self.api.read_namespaced_pod_log(
                pod["metadata"]["name"], "default", container=container, _preload_content=False
            )
        except Exception:  # not started yet, or gone
            return []
        text = response.data.decode(errors="replace")
        return [int(n) for n in re.findall(r"^line (\d+)$", text, re.M)]

    def release(self, pod: dict[str, Any]) -> None:
        """Let a pod paused by ``numbered_pod(pause_after=...)`` go on (an exec into it)."""
        from kubernetes import client, config
        from kubernetes.stream import stream

        api = client.CoreV1Api(config.new_client_from_config(config_file=self.cluster.kubeconfig_path))
        stream(
            api.connect_get_namespaced_pod_exec,
            pod["metadata"]["name"],
            "default",
            container="base",
            command=["touch", "/work/go"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )

    def follower_reading(self) -> bool:
        """Someone other than this reader has asked for the pod's log (the operator's or trigger's follower)."""
        return int(self.cluster.stats().get("get pods/log", 0)) > self.reads


def after_line(
    cluster: Any, line: int, then: Callable[[Any, dict[str, Any]], None], *, release: bool = False
) -> tuple[Any, Any]:
    """A ``WhenPod`` condition and action: once the pod printed ``line`` and its follower reads the log
    (and a moment more, for the line to reach the task log), run ``then(cluster, pod)``; ``release``: then
    let the paused pod go on."""
    reader = PodLog(cluster)

    def condition(pod: dict[str, Any]) -> bool:
        return line in reader.lines(pod) and reader.follower_reading()

    def action(c: Any, pod: dict[str, Any]) -> None:
        time.sleep(0.5)
        then(c, pod)
        if release:
            reader.release(pod)

    return condition, action


def wait_until_no_pod(cluster: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """The task's pods still there after ``timeout`` seconds (a pod being deleted gets its grace period)."""
    deadline = time.monotonic() + timeout
    while (left := task_pods(cluster)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def airflow_logs(dag_id: str) -> str:
    """Every log file of a DAG (the worker's and triggerer's), for failure messages."""
    root = Path(os.environ["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}"
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(root.rglob("*.log")))
