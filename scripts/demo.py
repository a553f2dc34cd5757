"""The README demo: run example_dags/example_pod_run.py with the real Airflow, in both modes.

Five tasks, each a pod: three that pass (logs, an XCom result, templating), one whose command does not
exist in its image (the task fails, and says why in Kubernetes terms) and one skipped by
``skip_on_exit_code``. The DAG runs once in sync mode and once in deferrable mode (the triggerer follows the
pods). At the end it prints what a user would look at: each task's state with what its pod reported (reason
and exit code), the XCom result, and the pods left in the namespace (none).

Everything is temporary: an Airflow home with a sqlite database and, unless ``KUBECONFIG`` is set, a local
Kubernetes cluster whose containers are processes on this machine. With ``KUBECONFIG`` set, the pods run
on that cluster instead (its current context and namespace) and the images are pulled as usual.

Environment (all optional):

- ``KUBECONFIG``: run against that cluster instead of the local one.
- ``K8SPOD_DEMO_MODES``: ``sync,deferrable`` (the default), ``sync`` or ``deferrable``.
- ``K8SPOD_DEMO_AIRFLOW_DB``: an empty, migrated Airflow sqlite database to copy instead of running
  ``airflow db migrate`` (the tests pass theirs).

Exit status: 0 when every task ends as the DAG intends (the failure and the skip included) and no pod is
left, 1 otherwise, 2 for a bad setting.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAG_FILE = ROOT / "example_dags" / "example_pod_run.py"
DAG_ID = "example_pod_run"
MODES = ("sync", "deferrable")

# What each task is meant to do: the demo shows a failure and a skip on purpose.
EXPECTED_STATES = {
    "hello": "success",
    "compute": "success",
    "report": "success",
    "missing_command": "failed",
    "nothing_to_do": "skipped",
}
SKIP_EXIT_CODE = 99  # nothing_to_do's skip_on_exit_code

# Airflow's own loggers are quieted to WARNING: what is left at INFO is this provider's status lines
# (waiting, events, verdict, deletion) and the pods' own lines ("[base] hello world").
LOGGING = {
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "AIRFLOW__LOGGING__NAMESPACE_LEVELS": (
        "airflow.task.operators.airflow_provider_k8spod=INFO airflow_provider_k8spod=INFO py.warnings=ERROR"
    ),
    "AIRFLOW__LOGGING__LOG_FORMAT": "%(asctime)s %(log_color)s%(message)s%(reset)s",
}


class Style:
    """Bold headings and coloured states, only when stdout is a terminal (and ``NO_COLOR`` is unset)."""

    def __init__(self) -> None:
        self.enabled = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def heading(self, text: str) -> str:
        return self._wrap("1;36", f"== {text}")

    def state(self, state: str, width: int = 0) -> str:
        code = {"success": "32", "failed": "31", "skipped": "33"}.get(state, "35")
        return self._wrap(code, state.ljust(width))

    def bad(self, text: str) -> str:
        return self._wrap("1;31", text)


STYLE = Style()


def say(text: str) -> None:
    print(STYLE.heading(text), flush=True)


class PodRecorder:
    """Follows the demo's pods with a watch and keeps the last state seen of each.

    The operator deletes every pod when its task ends, so what the containers reported (reason, exit code,
    message) is read from the watch events, the last of which is the pod's deletion.
    """

    def __init__(self, namespace: str) -> None:
        from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

        self.namespace = namespace
        self.selector = f"dag_id={DAG_ID},kubernetes_pod_operator=True"
        self._hook = KubernetesHook()  # a hook of its own: it is used from the watch thread only
        self._lock = threading.Lock()
        self._pods: dict[str, dict[str, Any]] = {}
        self._deleted: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-pod-watch", daemon=True)
        self.error: str | None = None

    def __enter__(self) -> PodRecorder:
        # Pods already there (an earlier, interrupted demo on a real cluster) are not this demo's.
        self._resource_version = str(
            self._hook.list_pods(self.namespace, label_selector=self.selector).resource_version
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _record(self, pod: dict[str, Any], deleted: bool = False) -> None:
        name = pod["metadata"]["name"]
        with self._lock:
            self._pods[name] = pod
            if deleted:
                self._deleted.add(name)

    def _relist(self) -> str:
        listed = self._hook.list_pods(self.namespace, label_selector=self.selector)
        for pod in listed:
            self._record(pod)
        return str(listed.resource_version)

    def _run(self) -> None:
        from airflow_provider_k8spod.exceptions import ExpiredError

        version = self._resource_version
        while not self._stop.is_set():
            try:
                events = self._hook.watch_pods(
                    self.namespace, resource_version=version, label_selector=self.selector, timeout_seconds=2
                )
                for event in events:
                    if event.type != "BOOKMARK":
                        self._record(event.object, deleted=event.type == "DELETED")
                    version = event.resource_version or version
            except ExpiredError:
                version = self._relist()
            except Exception as exc:  # shown in the summary; the demo goes on without pod details
                self.error = f"{type(exc).__name__}: {exc}"
                self._stop.wait(1)

    def settle(self, run_ids: set[str], still_there: set[str], timeout: float = 15) -> None:
        """Wait until the watch has seen the deletion of every pod of these runs that is gone (the watch
        may trail the API a little, and the summary reads the last state seen)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            names = {pod["metadata"]["name"] for pod in self.seen(run_ids)}
            with self._lock:
                if names - still_there <= self._deleted:
                    return
            time.sleep(0.1)

    def seen(self, run_ids: set[str]) -> list[dict[str, Any]]:
        """The pods seen for these dag runs."""
        with self._lock:
            pods = list(self._pods.values())
        return [pod for pod in pods if run_id_of(pod) in run_ids]

    def pods_of(self, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """The pods seen for a task of a run (by the raw identity this provider annotates pods with)."""
        with self._lock:
            pods = list(self._pods.values())
        found = []
        for pod in pods:
            annotations = pod["metadata"].get("annotations") or {}
            if run_id_of(pod) == run_id and annotations.get("airflow-provider-k8spod/task_id") == task_id:
                found.append(pod)
        return found


def run_id_of(pod: dict[str, Any]) -> str | None:
    """The dag run a pod belongs to, from the raw identity this provider annotates its pods with."""
    annotations = pod["metadata"].get("annotations") or {}
    value = annotations.get("airflow-provider-k8spod/run_id")
    return None if value is None else str(value)


def describe_pod(pod: dict[str, Any]) -> tuple[str, str, int | None]:
    """What the pod's main container reported, in Kubernetes terms: reason, message, exit code."""
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    main = next((c for c in containers if c.get("name") == "base"), containers[0] if containers else None)
    if main is None:
        return f"pod {status.get('reason') or status.get('phase') or 'without status'}", "", None
    state = main.get("state") or {}
    terminated = state.get("terminated") or (main.get("lastState") or {}).get("terminated")
    if terminated:
        code = terminated.get("exitCode")
        message = " ".join((terminated.get("message") or "").split())
        return f"{terminated.get('reason') or 'Terminated'}, exit code {code}", message, code
    waiting = state.get("waiting") or {}
    if waiting:
        return f"waiting: {waiting.get('reason')}", " ".join((waiting.get("message") or "").split()), None
    return f"phase {status.get('phase')}", "", None


@contextmanager
def cluster_target() -> Iterator[tuple[str, str, Any]]:
    """(description, namespace, local cluster or None): the cluster of ``KUBECONFIG``, else a local one."""
    kubeconfig = os.environ.get("KUBECONFIG")
    os.environ.pop("AIRFLOW_CONN_KUBERNETES_DEFAULT", None)
    if kubeconfig:
        import json

        paths = [p for p in kubeconfig.split(os.pathsep) if p]
        if len(paths) == 1:  # else the hook merges the list like kubectl (no connection at all)
            os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(
                {"conn_type": "k8spod", "extra": {"kube_config_path": paths[0]}}
            )
        from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

        access = KubernetesHook().cluster_access
        namespace = access.namespace or "default"
        yield f"the cluster of KUBECONFIG: {access.server} (context {access.context})", namespace, None
        return

    from airflow_provider_k8spod.testing import LocalCluster

    with LocalCluster() as cluster:
        os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = cluster.airflow_connection("default")
        yield f"a local cluster at {cluster.server_url} (no Docker, no Kubernetes)", "default", cluster


def load_dag(dags: Path, mode: str) -> Any:
    """Import the DAG file afresh, so ``[operators] default_deferrable`` chooses the mode of its tasks."""
    os.environ["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] = str(mode == "deferrable")
    module_name = f"demo_{DAG_ID}_{mode}"
    spec = importlib.util.spec_from_file_location(module_name, dags / DAG_FILE.name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def run_results(run_id: str) -> tuple[dict[str, str], Any]:
    """Task states of a run and the XCom result of ``compute``, read from the metadata database."""
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run_id).all()
        states = {ti.task_id: str(ti.state) for ti in tis}
        row = (
            session.query(XComModel)
            .filter_by(dag_id=DAG_ID, run_id=run_id, task_id="compute", key="return_value")
            .one_or_none()
        )
        xcom = XComModel.deserialize_value(row) if row is not None else None
    return states, xcom


def summarize(
    mode: str,
    run_state: str,
    day: str | None,
    states: dict[str, str],
    xcom: Any,
    pods: dict[str, list[dict[str, Any]]],
) -> tuple[list[str], list[str]]:
    """The summary lines of one run (task states, what each pod reported, the XCom result), and how the
    run differs from what the DAG intends (nothing, normally)."""
    problems = []
    note = " (expected: a failed task fails the run)" if run_state == "failed" else ""
    lines = [f"{mode} mode: dag run {run_state}{note}"]
    width = max(map(len, EXPECTED_STATES))
    indent = " " * (width + 14)
    for task_id, expected in EXPECTED_STATES.items():
        state = states.get(task_id, "not run")
        seen = pods.get(task_id) or []
        if seen:
            reason, message, code = describe_pod(seen[-1])
            what = f"pod {seen[-1]['metadata']['name']}: {reason}"
        else:
            message, code, what = "", None, "no pod seen"
        if state == "skipped" and code == SKIP_EXIT_CODE:
            what += f" ({code} is in skip_on_exit_code)"
        lines.append(f"  {task_id:{width}}  {STYLE.state(state, 8)}  {what}")
        if message:
            lines.append(f"{indent}message: {message}")
        if task_id == "compute":
            lines.append(f"{indent}XCom: {xcom!r}")
        if state != expected:
            problems.append(f"{mode}: task {task_id} is {state}, expected {expected}")
        if not seen:
            problems.append(f"{mode}: no pod was seen for task {task_id}")
    expected_xcom = {"rows": 42, "day": day}
    if xcom != expected_xcom:
        problems.append(f"{mode}: XCom of compute is {xcom!r}, expected {expected_xcom!r}")
    if run_state != "failed":
        problems.append(f"{mode}: the dag run is {run_state}, expected failed (missing_command fails)")
    return lines, problems


def wait_for_deletions(
    recorder: PodRecorder, namespace: str, run_ids: set[str], timeout: float = 60
) -> list[dict[str, Any]]:
    """The demo's pods still in the namespace once deletions (a grace period each) had time to finish."""
    from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

    hook = KubernetesHook()
    deadline = time.monotonic() + timeout
    while True:
        listed = hook.list_pods(namespace, label_selector=recorder.selector)
        left = [pod for pod in listed if run_id_of(pod) in run_ids]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.25)


def _airflow_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in version("apache-airflow").split(".")[:2] if part.isdigit())


def main() -> int:
    modes = [m.strip() for m in os.environ.get("K8SPOD_DEMO_MODES", ",".join(MODES)).split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        print(f"K8SPOD_DEMO_MODES must list modes among {', '.join(MODES)}, got {modes!r}", file=sys.stderr)
        return 2
    template = os.environ.get("K8SPOD_DEMO_AIRFLOW_DB")
    if template and not Path(template).is_file():
        print(f"K8SPOD_DEMO_AIRFLOW_DB={template}: no such file", file=sys.stderr)
        return 2
    kubeconfig = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    missing = [p for p in kubeconfig if not Path(p).is_file()]
    if missing:
        print(f"KUBECONFIG names files that do not exist: {', '.join(missing)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="k8spod-demo-airflow-"))
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }
    )
    if _airflow_version() >= (3, 2):  # [logging] namespace_levels is new in 3.2: keep INFO before it
        os.environ.update(LOGGING)
    from cryptography.fernet import Fernet

    os.environ["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()  # else Airflow warns per task
    try:
        if template:
            shutil.copy(template, home / "airflow.db")
        else:
            say("setting up a throw-away Airflow database")
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
            )

        with cluster_target() as (where, namespace, _local), PodRecorder(namespace) as recorder:
            say(f"running the pods on {where}, namespace {namespace!r}")
            runs: list[tuple[str, Any]] = []
            for mode in modes:
                module = load_dag(dags, mode)
                if mode == modes[0]:
                    say("the pod of task 'compute', as dry_run() shows it")
                    module.compute.dry_run()
                say(
                    f"running DAG {DAG_ID} with dag.test(), {mode} mode (tasks: {', '.join(EXPECTED_STATES)})"
                )
                runs.append((mode, module.dag.test()))
            run_ids = {str(dagrun.run_id) for _, dagrun in runs}
            left = wait_for_deletions(recorder, namespace, run_ids)
            recorder.settle(run_ids, {pod["metadata"]["name"] for pod in left})
            from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

            in_namespace = [p["metadata"]["name"] for p in KubernetesHook().list_pods(namespace)]

        summary: list[str] = []
        problems: list[str] = []
        for mode, dagrun in runs:
            states, xcom = run_results(dagrun.run_id)
            day = dagrun.logical_date.strftime("%Y-%m-%d") if dagrun.logical_date else None
            pods = {task_id: recorder.pods_of(dagrun.run_id, task_id) for task_id in EXPECTED_STATES}
            lines, found = summarize(mode, str(dagrun.state), day, states, xcom, pods)
            summary += lines
            problems += found
        print()
        say("summary")
        for line in summary:
            print(line)
        seen = len(recorder.seen(run_ids))
        print(f"pods in namespace {namespace!r} now: {', '.join(in_namespace) or 'none'}")
        print(f"pods of the demo: {seen} created, {len(left)} left")
        if left:
            problems.append(f"pods left behind: {', '.join(p['metadata']['name'] for p in left)}")
        if recorder.error:
            print(f"(watching the pods failed at some point: {recorder.error})")
        print(f"demo took {time.monotonic() - started:.0f} s")
        if problems:
            for problem in problems:
                print(STYLE.bad(f"UNEXPECTED: {problem}"))
            return 1
        print("every task ended as intended: 3 succeeded, 1 failed and 1 was skipped on purpose, per mode")
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
