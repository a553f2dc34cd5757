"""Deferrable mode, side by side: our KubernetesPodTrigger against upstream's, on the same local cluster.
Prints figures; asserts nothing. ``benchmarks/run.py`` (all five figures, both modes) reuses its pieces:
the ``dagtest`` and ``scale`` child roles, :class:`Side`, :func:`make_sides`, :func:`scenario_scale`.

    .venv/bin/python benchmarks/deferrable_bench.py                       # all three scenarios
    .venv/bin/python benchmarks/deferrable_bench.py requests latency      # only these
    .venv/bin/python benchmarks/deferrable_bench.py scale --counts 100,500 --window 30
    .venv/bin/python benchmarks/deferrable_bench.py --upstream-python /work/upstream-venv/bin/python

Scenarios:

``requests``
    API requests for one deferrable task whose pod prints a numbered line every second for 30 s (and for
    120 s), then writes ``/airflow/xcom/return.json`` (so the XCom sidecar is there). The whole
    deferrable path runs: ``dag.test()`` of a one-task DAG with ``deferrable=True`` (the operator's
    ``execute()`` creates the pod and defers, ``dag.test`` runs the trigger in-line to its event, then the
    operator's ``trigger_reentry`` runs with the event). Requests are the local cluster's own counts
    (``/_local/stats``), split at the trigger's start and end.
``latency``
    Time from the main container's exit to the trigger's event: the container writes ``date +%s.%N`` to
    a file as its very last command, and the in-line trigger's ``run()`` is wrapped to take the time its
    first event is yielded. A 10 s pod (so that both triggers are past their start-up checks), 5 runs.
``scale``
    N pods (long sleepers printing a line every 10 s, created directly through the API) and N triggers
    constructed for them, run concurrently in ONE asyncio loop in one process, as the triggerer does. After
    a warm-up: requests per second, CPU seconds per minute of that process, peak RSS, and the worst lag of
    a 50 ms ticker on the same loop; the local cluster's own CPU is measured separately (its server
    process). Ours: ``KubernetesPodTrigger.for_pod(access, name, namespace)``; upstream: its
    ``KubernetesPodTrigger`` built as its operator builds it (poll_interval=2, get_logs=True, ...).

Each side runs in its own interpreter: ours with the interpreter running this script (our venv), upstream
with ``--upstream-python`` (default ``$K8SPOD_UPSTREAM_PYTHON``, else ``.venv-upstream``, created on first use
by ``tests/compat/upstream_env.py`` as for the differential tests), a separate virtualenv made with::

    python3 -m venv /work/upstream-venv
    /work/upstream-venv/bin/pip install apache-airflow-providers-cncf-kubernetes apache-airflow==3.3.2

which for the figures in RESULTS.md resolved to apache-airflow 3.3.2, apache-airflow-providers-cncf-kubernetes 10.25.0, kubernetes
36.0.3, kubernetes_asyncio 36.1.0 (the script prints the versions it finds). Our package is not needed
there: the local cluster runs from our venv, and the upstream side only gets its kubeconfig (connection
``kubernetes_default`` of type ``kubernetes`` with extra ``kube_config_path``). Each side gets its own
throw-away AIRFLOW_HOME with a sqlite database. Upstream's dag.test scenarios need the local cluster's
``namespaces`` isolation: its XCom sidecar is stopped with ``kill -2 $(pgrep -f sh)``, which without a PID
namespace would signal every shell on the machine.

``--json PATH`` also writes the raw figures; ``--keep`` keeps the work directory with each child's log.
The figures of the last full run, and what they show, are in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO_ROOT = HERE.parents[1]
SIDES = ("ours", "upstream")
SCENARIOS = ("requests", "latency", "scale")
CONN_ID = "kubernetes_default"
NAMESPACE = "default"
SCALE_NAMESPACE = "bench-scale"
VERB_ORDER = (
    "create pods",
    "list pods",
    "get pods",
    "watch pods",
    "get pods/log",
    "create pods/exec",
    "list events",
    "watch events",
    "patch pods",
    "delete pods",
)
OPERATOR_MODULE = {
    "ours": "airflow_provider_k8spod.operators.pod",
    "upstream": "airflow.providers.cncf.kubernetes.operators.pod",
}


# ------------------------------------------------------------------------------------- shared helpers


class Admin:
    """The local cluster's admin endpoint (request counts, pods), from its kubeconfig; stdlib only, so it
    works in either venv. Admin requests are not counted in the stats."""

    def __init__(self, kubeconfig_path: str) -> None:
        import yaml

        with open(kubeconfig_path) as fh:
            config = yaml.safe_load(fh)
        cluster = config["clusters"][0]["cluster"]
        host, _, port = cluster["server"].removeprefix("https://").rpartition(":")
        self.host, self.port = host, int(port)
        self.token = config["users"][0]["user"]["token"]
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        self.ssl = ssl.create_default_context(cadata=ca)

    def call(self, method: str, path: str) -> Any:
        connection = http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=60)
        try:
            connection.request(method, path, headers={"Authorization": f"Bearer {self.token}"})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def stats(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.call("GET", "/_local/stats").items()}

    def reset(self) -> None:
        self.call("POST", "/_local/stats/reset")

    def pod_names(self, namespace: str, *, deleting: bool = True) -> list[str]:
        """Names of the pods in a namespace (without those being deleted unless ``deleting``)."""
        pods = self.call("GET", f"/_local/pods?namespace={namespace}")
        return [p["metadata"]["name"] for p in pods if deleting or not p["metadata"].get("deletionTimestamp")]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    keys = set(after) | set(before)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) - before.get(k, 0)}


def _connection_json(side: str, kubeconfig: str, namespace: str = NAMESPACE) -> str:
    # Upstream's connection type is "kubernetes" (extra kube_config_path, namespace); ours is "k8spod"
    # (cluster.airflow_connection() gives the same JSON).
    conn_type = "k8spod" if side == "ours" else "kubernetes"
    return json.dumps(
        {"conn_type": conn_type, "extra": {"kube_config_path": kubeconfig, "namespace": namespace}}
    )


# -------------------------------------------------------------------------------- child: dag.test runs


DAG_TEMPLATE = """
from airflow.sdk import DAG
from {module} import KubernetesPodOperator

with DAG({dag_id!r}, schedule=None) as dag:
    KubernetesPodOperator(
        task_id="pod",
        name={pod_name!r},
        namespace={namespace!r},
        image="busybox:1.36",
        cmds=["sh", "-c"],
        arguments=[{script!r}],
        do_xcom_push={xcom!r},
        get_logs=True,
        deferrable={deferrable!r},
    )
"""


def _pod_script(label: str, seconds: int, exit_file: str) -> str:
    # No "$(" anywhere: Kubernetes expands $(VAR) in command/args. The very last command stamps the exit.
    return (
        f"for i in `seq 1 {seconds}`; do echo bench-out {label} $i; sleep 1; done; "
        f'mkdir -p /airflow/xcom; echo \'{{"label": "{label}", "lines": {seconds}}}\' '
        f"> /airflow/xcom/return.json; date +%s.%N > {exit_file}"
    )


def _flood_script(label: str, lines: int, start_file: str, exit_file: str) -> str:
    """A container printing ``lines`` short numbered lines as fast as it can (no XCom)."""
    return f"date +%s.%N > {start_file}; seq 1 {lines} | sed 's/^/f{label} /'; date +%s.%N > {exit_file}"


def _reset_peak_rss() -> None:
    """Make VmHWM start again from the current RSS (Linux: writing 5 to clear_refs)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _wrap_execute(operator_class: Any, current: dict[str, Any]) -> None:
    """Note when the operator's ``execute()`` returns or raises (the task's verdict in synchronous mode)."""
    if getattr(operator_class, "_bench_wrapped", False):
        return
    original = operator_class.execute

    def execute(self: Any, context: Any) -> Any:
        try:
            return original(self, context)
        finally:
            current["execute_end"] = time.time()

    operator_class.execute = execute
    operator_class._bench_wrapped = True


def child_dagtest(args: argparse.Namespace) -> int:
    import importlib.util

    spec = json.loads(Path(args.spec).read_text())
    admin = Admin(args.kubeconfig)
    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])

    import airflow.sdk.definitions.dag as dag_module
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    original_inline = dag_module._run_inline_trigger
    current: dict[str, Any] = {}

    def run_inline_trigger(trigger: Any, ti: Any) -> Any:
        record: dict[str, Any] = {
            "class": f"{type(trigger).__module__}.{type(trigger).__qualname__}",
            "stats_before": admin.stats(),
        }
        current["triggers"].append(record)
        original_run = trigger.run

        async def run() -> Any:
            record["started"] = time.time()
            async for event in original_run():
                record.setdefault("event_time", time.time())
                payload = event.payload if isinstance(event.payload, dict) else {"value": event.payload}
                record["event"] = {k: str(v)[:300] for k, v in payload.items()}
                yield event

        trigger.run = run
        try:
            return original_inline(trigger, ti)
        finally:
            record["ended"] = time.time()
            record["stats_after"] = admin.stats()

    dag_module._run_inline_trigger = run_inline_trigger
    results = []
    for run_spec in spec["runs"]:
        label = run_spec["label"]
        exit_file = os.path.join(spec["exit_dir"], f"{args.side}-{label}")
        start_file = os.path.join(spec["exit_dir"], f"{args.side}-{label}-start")
        if run_spec.get("flood_lines"):
            script = _flood_script(label, run_spec["flood_lines"], start_file, exit_file)
        else:
            script = _pod_script(label, run_spec["seconds"], exit_file)
        source = DAG_TEMPLATE.format(
            module=OPERATOR_MODULE[args.side],
            dag_id=f"bench_{args.side}_{label}",
            pod_name=f"bench-{label}",
            namespace=NAMESPACE,
            script=script,
            xcom=bool(run_spec.get("xcom", True)),
            deferrable=bool(run_spec.get("deferrable", True)),
        )
        module_name = f"bench_dag_{args.side}_{label}"
        path = dags_folder / f"{module_name}.py"
        path.write_text(textwrap.dedent(source))
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        assert module_spec is not None
        assert module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
        current.clear()
        current["triggers"] = []
        _wrap_execute(module.dag.get_task("pod").__class__, current)
        print(f"=== bench run {label} ({run_spec['seconds']} s pod)", flush=True)
        admin.reset()
        rss_before = _rss_kib()
        _reset_peak_rss()
        began = time.time()
        error = None
        try:
            dagrun = module.dag.test()
            state = str(dagrun.state)
        except Exception as exc:  # a benchmark reports, it does not stop
            state, error, dagrun = "error", f"{type(exc).__name__}: {exc}", None
        wall = time.time() - began
        peak_rss = _rss_kib("VmHWM")
        stats = admin.stats()
        xcom = None
        task_state = None
        if dagrun is not None:
            from airflow.models import TaskInstance

            with create_session() as session:
                ti = session.query(TaskInstance).filter_by(run_id=dagrun.run_id, dag_id=dagrun.dag_id).one()
                task_state = str(ti.state)
                row = (
                    session.query(XComModel)
                    .filter_by(run_id=dagrun.run_id, dag_id=dagrun.dag_id, key="return_value")
                    .one_or_none()
                )
                xcom = XComModel.deserialize_value(row) if row is not None else None
        exit_time, start_time = _stamp(exit_file), _stamp(start_file)
        results.append(
            {
                "label": label,
                "seconds": run_spec["seconds"],
                "kind": run_spec["kind"],
                "state": state,
                "task_state": task_state,
                "error": error,
                "xcom": xcom,
                "wall": wall,
                "stats": stats,
                "triggers": current["triggers"],
                "exit_time": exit_time,
                "start_time": start_time,
                "execute_end": current.get("execute_end"),
                "deferrable": bool(run_spec.get("deferrable", True)),
                "rss_before_kib": rss_before,
                "peak_rss_kib": peak_rss,
                "began": began,
                "pods_left": [
                    n for n in admin.pod_names(NAMESPACE, deleting=False) if n.startswith(f"bench-{label}-")
                ],
            }
        )
        Path(args.out).write_text(json.dumps(results))
        print(f"=== bench run {label} done: {state} in {wall:.1f} s", flush=True)
    return 0


def _stamp(path: str) -> float | None:
    try:
        return float(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------ child: N triggers at once


class LoopLag:
    """A 50 ms ticker on the event loop measuring its own lateness, per phase."""

    def __init__(self) -> None:
        self.phase = "warmup"
        self.samples: dict[str, list[float]] = {"warmup": [], "steady": []}

    async def run(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.05)
            self.samples[self.phase].append(loop.time() - before - 0.05)

    def summary(self, phase: str) -> dict[str, float]:
        values = sorted(self.samples[phase]) or [0.0]
        return {
            "max": values[-1],
            "p99": values[min(len(values) - 1, int(len(values) * 0.99))],
            "median": statistics.median(values),
            "ticks": len(self.samples[phase]),
        }


def _rss_kib(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
    return count


def _trigger_factory(side: str, names: list[str], namespace: str, kubeconfig: str) -> Callable[[], list[Any]]:
    """Worker-side preparation now; the returned factory imports the trigger class and builds the triggers,
    and is called on the event loop, as the triggerer imports trigger classes and builds triggers there."""
    if side == "ours":
        from airflow_provider_k8spod.hooks.access import resolve_cluster_access
        from airflow_provider_k8spod.hooks.connection import load_connection_settings

        access = resolve_cluster_access(load_connection_settings(CONN_ID))

        def ours() -> list[Any]:
            from airflow_provider_k8spod.triggers.pod import KubernetesPodTrigger as OurTrigger

            return [OurTrigger.for_pod(access, name, namespace) for name in names]

        return ours

    import datetime

    # As upstream's operator builds it in invoke_defer_method(), with the operator's defaults.
    extras = json.loads(_connection_json("upstream", kubeconfig, namespace))["extra"]

    def upstream() -> list[Any]:
        from airflow.providers.cncf.kubernetes.triggers.pod import KubernetesPodTrigger as UpstreamTrigger

        now = datetime.datetime.now(tz=datetime.UTC)
        return [
            UpstreamTrigger(
                pod_name=name,
                pod_namespace=namespace,
                trigger_start_time=now,
                base_container_name="base",
                kubernetes_conn_id=CONN_ID,
                connection_extras=extras,
                poll_interval=2,
                get_logs=True,
                startup_timeout=120,
                startup_check_interval=5,
                schedule_timeout=120,
                on_finish_action="delete_pod",
                on_kill_action="delete_pod",
                logging_interval=None,
            )
            for name in names
        ]

    return upstream


def child_scale(args: argparse.Namespace) -> int:
    import asyncio
    import inspect
    import logging

    admin = Admin(args.kubeconfig)
    names = json.loads(Path(args.spec).read_text())["names"]
    result: dict[str, Any] = {"side": args.side, "n": len(names)}
    make_triggers = _trigger_factory(args.side, names, args.namespace, args.kubeconfig)
    result["rss_before_kib"] = _rss_kib()
    # The triggerer writes trigger logs to per-trigger files; here only warnings, the same for both sides.
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("airflow", "airflow.triggers", "airflow.providers", "airflow_provider_k8spod"):
        logging.getLogger(name).setLevel(logging.WARNING)

    async def first_event(trigger: Any) -> Any:
        if inspect.isawaitable(trigger):
            trigger = await trigger
        async for event in trigger.run():
            return event
        return None

    async def main() -> None:
        lag = LoopLag()
        ticker = asyncio.create_task(lag.run())
        await asyncio.to_thread(admin.reset)
        began = time.monotonic()
        cpu_began = time.process_time()
        tasks = [asyncio.create_task(first_event(t)) for t in make_triggers()]
        result["create_tasks_s"] = time.monotonic() - began
        await asyncio.sleep(args.warmup)
        result["warmup_stats"] = await asyncio.to_thread(admin.stats)
        await asyncio.to_thread(admin.reset)
        lag.phase = "steady"
        steady_began = time.monotonic()
        cpu_steady = time.process_time()
        server_cpu = _cpu_seconds(args.server_pid) if args.server_pid else None
        result["warmup_cpu_s"] = cpu_steady - cpu_began
        result["warmup_s"] = steady_began - began
        await asyncio.sleep(args.window)
        result["window_s"] = time.monotonic() - steady_began
        result["steady_cpu_s"] = time.process_time() - cpu_steady
        if server_cpu is not None:
            result["server_cpu_s"] = _cpu_seconds(args.server_pid) - server_cpu
        result["steady_stats"] = await asyncio.to_thread(admin.stats)
        result["lag_warmup"] = lag.summary("warmup")
        result["lag_steady"] = lag.summary("steady")
        result["peak_rss_kib"] = _rss_kib("VmHWM")
        result["rss_kib"] = _rss_kib()
        result["open_sockets"] = _open_sockets()
        result["threads"] = len(os.listdir("/proc/self/task"))
        done = [t for t in tasks if t.done()]
        statuses: dict[str, int] = {}
        examples = []
        for task in done:
            if task.cancelled():
                key = "cancelled"
            elif task.exception() is not None:
                key = f"exception {type(task.exception()).__name__}"
                examples.append(repr(task.exception())[:300])
            else:
                event = task.result()
                payload = getattr(event, "payload", None)
                key = f"event {payload.get('status') if isinstance(payload, dict) else payload!r}"
                examples.append(str(payload)[:300])
            statuses[key] = statuses.get(key, 0) + 1
        result["finished_early"] = statuses
        result["finished_examples"] = examples[:3]
        await asyncio.to_thread(Path(args.out).write_text, json.dumps(result))
        # Cancelling every trigger is what a triggerer stop or hand-over does: count what that costs.
        await asyncio.to_thread(admin.reset)
        cancelled = time.monotonic()
        ticker.cancel()
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait([*tasks, ticker], timeout=30)
        result["cancel_s"] = time.monotonic() - cancelled
        result["cancel_pending"] = len(pending)
        result["cancel_stats"] = await asyncio.to_thread(admin.stats)

    asyncio.run(main())
    Path(args.out).write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------------------------- parent


class Side:
    def __init__(self, name: str, python: str, workdir: Path, kubeconfig: str) -> None:
        self.name = name
        self.python = python
        self.home = workdir / f"airflow-home-{name}"
        self.kubeconfig = kubeconfig
        self.versions = ""
        self.unavailable = ""
        self.migrated = False

    def env(self, namespace: str = NAMESPACE) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "KUBECONFIG"}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__API_AUTH__JWT_SECRET": "deferrable-bench-jwt-secret-" + "x" * 16,
                "AIRFLOW__API__SECRET_KEY": "deferrable-bench-secret-key",
                "AIRFLOW_CONN_KUBERNETES_DEFAULT": _connection_json(self.name, self.kubeconfig, namespace),
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Bytecode cached per side (in the work directory, not in the venv): a venv without .pyc files
        # would make the first import of each client cost seconds of compiling on one side only.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.home.parent / f"pycache-{self.name}")
        if self.name == "ours":
            # This checkout's package, whatever the venv's editable install points at.
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return env

    def child(
        self, role: str, payload: dict[str, Any], extra: Iterable[str] = (), timeout: float = 3600
    ) -> tuple[Any, str]:
        """Run this script as a child in this side's interpreter; return (its JSON result, its log path)."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dags").mkdir(exist_ok=True)
        spec = self.home / f"{role}-spec.json"
        out = self.home / f"{role}-out.json"
        log = self.home / f"{role}-{int(time.time())}.log"
        spec.write_text(json.dumps(payload))
        out.unlink(missing_ok=True)
        command = [self.python, str(HERE), "--child", role, "--side", self.name]
        command += ["--kubeconfig", self.kubeconfig, "--spec", str(spec), "--out", str(out), *extra]
        namespace = payload.get("namespace", NAMESPACE)
        with open(log, "wb") as fh:
            process = subprocess.Popen(
                command, stdout=fh, stderr=subprocess.STDOUT, env=self.env(namespace), cwd=self.home
            )
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.returncode:
            print(f"  [{self.name}] child {role} exited {process.returncode}; log: {log}", flush=True)
            print(textwrap.indent(log.read_text(errors="replace")[-3000:], "    | "), flush=True)
        result = json.loads(out.read_text()) if out.exists() and out.read_text() else None
        return result, str(log)

    def migrate(self) -> None:
        if self.migrated:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dags").mkdir(exist_ok=True)
        subprocess.run(
            [self.python, "-m", "airflow", "db", "migrate"],
            env=self.env(),
            check=True,
            capture_output=True,
            cwd=self.home,
        )
        self.migrated = True


def _probe_ours() -> str:
    """Why our deferrable trigger cannot be measured yet ('' when it can)."""
    import importlib.util

    if importlib.util.find_spec("airflow_provider_k8spod.triggers.pod") is None:
        return "airflow_provider_k8spod/triggers/pod.py does not exist yet"
    from airflow_provider_k8spod.triggers import pod

    trigger = getattr(pod, "KubernetesPodTrigger", None)
    if trigger is None or not hasattr(trigger, "for_pod"):
        return "KubernetesPodTrigger.for_pod does not exist yet"
    return ""


def _versions(python: str, packages: Iterable[str]) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "for p in sys.argv[1:]:\n"
        "    try: print(p, m.version(p))\n"
        "    except m.PackageNotFoundError: print(p, 'missing')\n"
    )
    done = subprocess.run([python, "-c", code, *packages], capture_output=True, text=True, timeout=60)
    return ", ".join(line for line in done.stdout.splitlines() if line)


def _verbs(*stats: dict[str, int]) -> list[str]:
    keys = set().union(*stats)
    return [v for v in VERB_ORDER if v in keys] + sorted(keys - set(VERB_ORDER))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _table(title: str, rows: list[tuple[str, list[Any]]], sides: list[str]) -> None:
    print(title)
    width = max([len(r[0]) for r in rows] + [20])
    widths = [
        max([12, len(side) + 2] + [len(_text(r[1][i])) + 2 for r in rows]) for i, side in enumerate(sides)
    ]
    print("  " + " " * width + "".join(f"{side:>{w}}" for side, w in zip(sides, widths, strict=True)))
    for name, values in rows:
        cells = "".join(f"{_text(v):>{w}}" for v, w in zip(values, widths, strict=True))
        print("  " + name.ljust(width) + cells)
    print(flush=True)


def _log_lines(log_path: str, label: str) -> tuple[int, int]:
    """(distinct numbered lines, total occurrences) of a run's pod output in the task log."""
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return 0, 0
    found = re.findall(rf"bench-out {re.escape(label)} (\d+)\b", text)
    return len(set(found)), len(found)


def _phase_stats(run: dict[str, Any]) -> dict[str, int]:
    """Total requests before the (first) trigger, in the trigger(s), and after."""
    triggers = run.get("triggers") or []
    total = sum(run["stats"].values())
    if not triggers:
        return {"execute": total, "trigger": 0, "reentry": 0}
    before = sum(triggers[0]["stats_before"].values())
    after = sum(triggers[-1]["stats_after"].values())
    in_triggers = sum(sum(_diff(t["stats_after"], t["stats_before"]).values()) for t in triggers)
    return {"execute": before, "trigger": in_triggers, "reentry": total - after}


def _brief(stats: dict[str, int]) -> str:
    """e.g. '100 (patch pods 100)' for a small stats cell."""
    total = sum(stats.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{k} {v}" for k, v in sorted(stats.items(), key=lambda kv: -kv[1])) + ")"


def _fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def scenario_dagtests(
    sides: list[Side], args: argparse.Namespace, workdir: Path, scenarios: list[str]
) -> None:
    exit_dir = workdir / "exits"
    exit_dir.mkdir(exist_ok=True)
    runs: list[dict[str, Any]] = []
    if "requests" in scenarios:
        runs += [{"label": f"r{s}", "seconds": s, "kind": "requests"} for s in args.durations]
    if "latency" in scenarios:
        runs += [
            {"label": f"l{i}", "seconds": args.latency_seconds, "kind": "latency"}
            for i in range(1, args.latency_runs + 1)
        ]
    results: dict[str, list[dict[str, Any]]] = {}
    logs: dict[str, str] = {}
    for side in sides:
        if side.unavailable:
            continue
        print(f"[{side.name}] dag.test runs: {', '.join(r['label'] for r in runs)}", flush=True)
        side.migrate()
        began = time.monotonic()
        out, log = side.child("dagtest", {"runs": runs, "exit_dir": str(exit_dir)})
        results[side.name] = out or []
        logs[side.name] = log
        print(f"[{side.name}] done in {time.monotonic() - began:.0f} s (log {log})", flush=True)
    names = [s.name for s in sides]

    def cell(side: str, label: str, get: Callable[[dict[str, Any]], Any]) -> Any:
        side_obj = next(s for s in sides if s.name == side)
        if side_obj.unavailable:
            return "n/a"
        run = next((r for r in results.get(side, []) if r["label"] == label), None)
        return "failed" if run is None else get(run)

    def deferred(run: dict[str, Any]) -> bool:
        return bool(run.get("triggers"))

    if "requests" in scenarios:
        for seconds in args.durations:
            label = f"r{seconds}"
            side_runs = [next((r for r in results.get(s, []) if r["label"] == label), None) for s in names]
            stats = [r["stats"] if r else {} for r in side_runs]
            rows: list[tuple[str, list[Any]]] = [
                (verb, [cell(s, label, lambda r, v=verb: r["stats"].get(v, 0)) for s in names])
                for verb in _verbs(*stats)
            ]
            rows.append(("TOTAL", [cell(s, label, lambda r: sum(r["stats"].values())) for s in names]))
            for phase, text in (
                ("execute", "  in execute() before deferring"),
                ("trigger", "  in the trigger"),
                ("reentry", "  in trigger_reentry + cleanup"),
            ):
                rows.append((text, [cell(s, label, lambda r, p=phase: _phase_stats(r)[p]) for s in names]))
            rows += [
                ("deferred (trigger ran)", [cell(s, label, deferred) for s in names]),
                ("task state", [cell(s, label, lambda r: r["task_state"] or r["state"]) for s in names]),
                ("XCom returned", [cell(s, label, lambda r: r["xcom"] is not None) for s in names]),
                (
                    f"log lines seen (of {seconds})",
                    [
                        cell(
                            s,
                            label,
                            lambda r, s=s, label=label: "{}/{}x".format(*_log_lines(logs.get(s, ""), label)),
                        )
                        for s in names
                    ],
                ),
                ("pods left", [cell(s, label, lambda r: len(r["pods_left"])) for s in names]),
                ("task wall time s", [cell(s, label, lambda r: f"{r['wall']:.1f}") for s in names]),
                (
                    "exit -> event s",
                    [cell(s, label, lambda r: _fmt(_exit_to_event(r), digits=3)) for s in names],
                ),
            ]
            _table(
                f"== requests: ONE {seconds} s pod with logs and XCom, deferrable, dag.test() "
                "(ours | upstream)",
                rows,
                names,
            )
    if "latency" in scenarios:
        rows = []
        per_side: dict[str, list[float]] = {}
        for s in names:
            values = [
                v
                for r in results.get(s, [])
                if r["kind"] == "latency" and (v := _exit_to_event(r)) is not None
            ]
            per_side[s] = values
        unavailable = {s.name for s in sides if s.unavailable}

        def agg(s: str, fn: Callable[[list[float]], float]) -> str:
            if s in unavailable:
                return "n/a"
            return _fmt(fn(per_side[s]), digits=3) if per_side[s] else "none"

        rows = [
            ("runs measured", [("n/a" if s in unavailable else len(per_side[s])) for s in names]),
            ("median s", [agg(s, statistics.median) for s in names]),
            ("p95 s", [agg(s, _p95) for s in names]),
            ("min s", [agg(s, min) for s in names]),
            ("max s", [agg(s, max) for s in names]),
        ]
        _table(
            f"== latency: main container exit -> trigger event, {args.latency_seconds} s pod, "
            f"{args.latency_runs} runs (ours | upstream)",
            rows,
            names,
        )
        for s in names:
            if per_side.get(s):
                print(f"  {s}: " + ", ".join(f"{v:.3f}" for v in per_side[s]))
        print(flush=True)
    args.raw["dagtest"] = results


def _exit_to_event(run: dict[str, Any]) -> float | None:
    triggers = run.get("triggers") or []
    event_time = next((t.get("event_time") for t in triggers if t.get("event_time")), None)
    if event_time is None or run.get("exit_time") is None:
        return None
    return float(event_time) - float(run["exit_time"])


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def _ensure_sleepers(cluster: Any, core: Any, count: int) -> float:
    """N Running sleeper pods named sleeper-0000.. in SCALE_NAMESPACE; returns seconds spent."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_k8spod.pod.identity import MANAGED_BY_ANNOTATION, MANAGED_BY_VALUE

    began = time.monotonic()
    existing = {p["metadata"]["name"] for p in cluster.pods(SCALE_NAMESPACE)}
    wanted = [f"sleeper-{i:04d}" for i in range(count)]
    missing = [n for n in wanted if n not in existing]

    def create(name: str) -> None:
        core.create_namespaced_pod(
            SCALE_NAMESPACE,
            {
                # Our operator's pods carry upstream's marker label and our managed-by annotation (so our
                # shared namespace watch sees them); upstream's trigger does not look at either.
                "metadata": {
                    "name": name,
                    "labels": {"app": "deferrable-bench", "kubernetes_pod_operator": "True"},
                    "annotations": {MANAGED_BY_ANNOTATION: MANAGED_BY_VALUE},
                },
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "base",
                            "image": "busybox:1.36",
                            "command": ["sh", "-c", "while true; do echo tick; sleep 10; done"],
                        }
                    ],
                },
            },
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, missing))
    deadline = time.monotonic() + max(120.0, count * 0.5)
    while True:
        pods = {p["metadata"]["name"]: p for p in cluster.pods(SCALE_NAMESPACE)}
        running = [n for n in wanted if (pods.get(n, {}).get("status") or {}).get("phase") == "Running"]
        if len(running) == len(wanted):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(running)}/{count} sleeper pods Running after {deadline - began:.0f} s"
            )
        time.sleep(1)
    return time.monotonic() - began


def scenario_scale(cluster: Any, sides: list[Side], args: argparse.Namespace) -> dict[str, Any]:
    """N triggers per side for each N of ``args.counts`` (sides alternate which goes first); returns the
    raw figures by N and side (also kept in ``args.raw["scale"]``)."""
    import kubernetes

    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(cluster.kubeconfig_path, client_configuration=configuration)
    core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
    names = [s.name for s in sides]
    raw: dict[str, Any] = {}
    for position, count in enumerate(args.counts):
        try:
            spent = _ensure_sleepers(cluster, core, count)
        except Exception as exc:
            print(f"== scale N={count}: the local cluster could not run {count} sleeper pods: {exc}")
            break
        processes = len(cluster.container_processes())
        print(
            f"[scale N={count}] {count} sleeper pods Running ({spent:.0f} s to top up; "
            f"{processes} container processes)",
            flush=True,
        )
        results: dict[str, Any] = {}
        for side in sides if position % 2 == 0 else sides[::-1]:
            if side.unavailable:
                continue
            print(
                f"[scale N={count}] {side.name}: {count} triggers, warm-up {args.warmup} s, "
                f"window {args.window} s",
                flush=True,
            )
            wanted = [f"sleeper-{i:04d}" for i in range(count)]
            out, log = side.child(
                "scale",
                {"names": wanted, "namespace": SCALE_NAMESPACE},
                extra=[
                    "--namespace",
                    SCALE_NAMESPACE,
                    "--warmup",
                    str(args.warmup),
                    "--window",
                    str(args.window),
                    "--server-pid",
                    str(cluster.server_pid or 0),
                ],
                timeout=args.warmup + args.window + 600,
            )
            if out is not None:
                out["log"] = log
                left = {p["metadata"]["name"] for p in cluster.pods(SCALE_NAMESPACE)}
                out["pods_gone_after"] = len([n for n in wanted if n not in left])
            results[side.name] = out
        raw[str(count)] = results
        _print_scale(count, results, names, {s.name for s in sides if s.unavailable})
    args.raw["scale"] = raw
    for pod in cluster.pods(SCALE_NAMESPACE):
        with contextlib.suppress(Exception):
            core.delete_namespaced_pod(pod["metadata"]["name"], SCALE_NAMESPACE, grace_period_seconds=0)
    return raw


def _print_scale(count: int, results: dict[str, Any], names: list[str], unavailable: set[str]) -> None:
    def cell(side: str, get: Callable[[dict[str, Any]], Any]) -> Any:
        if side in unavailable:
            return "n/a"
        result = results.get(side)
        if result is None or "steady_stats" not in result:
            return "failed"
        try:
            return get(result)
        except (KeyError, TypeError, ZeroDivisionError):
            return "?"

    steady = [(results.get(s) or {}).get("steady_stats", {}) for s in names]
    rows: list[tuple[str, list[Any]]] = [
        (
            "requests/s, steady",
            [cell(s, lambda r: f"{sum(r['steady_stats'].values()) / r['window_s']:.2f}") for s in names],
        )
    ]
    rows += [
        (
            f"  {verb} /s",
            [cell(s, lambda r, v=verb: f"{r['steady_stats'].get(v, 0) / r['window_s']:.2f}") for s in names],
        )
        for verb in _verbs(*steady)
    ]
    rows += [
        ("requests in warm-up", [cell(s, lambda r: sum(r["warmup_stats"].values())) for s in names]),
        (
            "CPU s/min, steady",
            [cell(s, lambda r: f"{r['steady_cpu_s'] / r['window_s'] * 60:.2f}") for s in names],
        ),
        ("CPU s, warm-up", [cell(s, lambda r: f"{r['warmup_cpu_s']:.2f}") for s in names]),
        ("peak RSS MiB", [cell(s, lambda r: f"{r['peak_rss_kib'] / 1024:.0f}") for s in names]),
        ("RSS before triggers MiB", [cell(s, lambda r: f"{r['rss_before_kib'] / 1024:.0f}") for s in names]),
        ("import + build triggers s", [cell(s, lambda r: f"{r['create_tasks_s']:.2f}") for s in names]),
        (
            "worst loop lag ms, steady",
            [cell(s, lambda r: f"{r['lag_steady']['max'] * 1000:.0f}") for s in names],
        ),
        (
            "p99 loop lag ms, steady",
            [cell(s, lambda r: f"{r['lag_steady']['p99'] * 1000:.0f}") for s in names],
        ),
        (
            "worst loop lag ms, warm-up",
            [cell(s, lambda r: f"{r['lag_warmup']['max'] * 1000:.0f}") for s in names],
        ),
        ("open sockets", [cell(s, lambda r: r["open_sockets"]) for s in names]),
        ("threads", [cell(s, lambda r: r["threads"]) for s in names]),
        (
            "triggers ended early",
            [cell(s, lambda r: sum(r["finished_early"].values())) for s in names],
        ),
        ("pods gone afterwards", [cell(s, lambda r: r.get("pods_gone_after", "?")) for s in names]),
        (
            "requests on cancel-all",
            [cell(s, lambda r: _brief(r["cancel_stats"]) if "cancel_stats" in r else "?") for s in names],
        ),
        ("cancel-all took s", [cell(s, lambda r: f"{r['cancel_s']:.1f}") for s in names]),
        (
            "cluster CPU s/min, steady",
            [cell(s, lambda r: f"{r['server_cpu_s'] / r['window_s'] * 60:.2f}") for s in names],
        ),
    ]
    _table(f"== scale: N={count} triggers in one asyncio loop (ours | upstream)", rows, names)
    for s in names:
        result = results.get(s) or {}
        if result.get("finished_early"):
            print(f"  {s}: ended early: {result['finished_early']}; e.g. {result.get('finished_examples')}")
    print(flush=True)


def make_sides(
    cluster: Any, names: Iterable[str], upstream_python: str | None, workdir: Path, *, dagtests: bool
) -> list[Side]:
    """The sides to measure on ``cluster`` (ours: this interpreter; upstream: ``upstream_python``, else the
    upstream virtualenv, created when absent), each marked unavailable with the reason when it cannot
    run; prints the cluster and the versions found."""
    sides = []
    for name in names:
        python = sys.executable if name == "ours" else (upstream_python or _upstream_python())
        side = Side(name, python, workdir, cluster.kubeconfig_path)
        if name == "ours":
            side.unavailable = _probe_ours()
            side.versions = _versions(python, ["airflow-provider-k8spod", "apache-airflow"])
        elif not os.path.exists(python):
            side.unavailable = f"{python} does not exist (see the docstring to make it)"
        else:
            side.versions = _versions(
                python,
                [
                    "apache-airflow-providers-cncf-kubernetes",
                    "apache-airflow",
                    "kubernetes",
                    "kubernetes_asyncio",
                ],
            )
            if cluster.isolation != "namespaces" and dagtests:
                # Upstream kills the XCom sidecar with `kill -2 $(pgrep -f sh)`: without a PID
                # namespace that would signal every shell on this machine.
                side.unavailable = "needs isolation=namespaces for upstream's XCom sidecar kill"
        sides.append(side)
    print(
        f"local cluster {cluster.server_url} (isolation={cluster.isolation}), "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )
    for side in sides:
        status = f"NOT MEASURED: {side.unavailable}" if side.unavailable else side.versions
        print(f"  {side.name}: {side.python}: {status}")
    print(flush=True)
    return sides


def parent(args: argparse.Namespace) -> int:
    scenarios = args.scenarios or list(SCENARIOS)
    from airflow_provider_k8spod.testing import LocalCluster

    workdir = Path(tempfile.mkdtemp(prefix="deferrable-bench-"))
    args.raw = {}
    try:
        with LocalCluster(namespaces=(NAMESPACE, SCALE_NAMESPACE)) as cluster:
            sides = make_sides(
                cluster,
                args.sides,
                args.upstream_python,
                workdir,
                dagtests=bool(set(scenarios) & {"requests", "latency"}),
            )
            dagtest_scenarios = [s for s in scenarios if s in ("requests", "latency")]
            if dagtest_scenarios:
                scenario_dagtests(sides, args, workdir, dagtest_scenarios)
            if "scale" in scenarios:
                scenario_scale(cluster, sides, args)
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(args.raw, indent=1, default=str))
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _upstream_python() -> str:
    """The upstream virtualenv the differential tests use (created on first use)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.compat.upstream_env import upstream_python

    return str(upstream_python())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help=f"any of {', '.join(SCENARIOS)}")
    parser.add_argument(
        "--upstream-python",
        default=os.environ.get("K8SPOD_UPSTREAM_PYTHON"),
        help="default: .venv-upstream, created as the differential tests create it (tests/compat/upstream_env.py)",
    )
    parser.add_argument("--sides", type=lambda t: t.split(","), default=list(SIDES), help="ours,upstream")
    parser.add_argument("--durations", type=_ints, default=[30, 120], help="pod seconds for 'requests'")
    parser.add_argument("--latency-seconds", type=int, default=10)
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument("--counts", type=_ints, default=[100, 500, 1000], help="N for 'scale'")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the steady window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of steady state measured")
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (child logs)")
    # Child roles (this script re-runs itself in each side's interpreter).
    parser.add_argument("--child", choices=("dagtest", "scale"), help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default=NAMESPACE, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "dagtest":
        return child_dagtest(args)
    if args.child == "scale":
        return child_scale(args)
    for given, known, what in ((args.sides, SIDES, "side"), (args.scenarios, SCENARIOS, "scenario")):
        unknown = set(given) - set(known)
        if unknown:
            parser.error(f"unknown {what}(s): {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
