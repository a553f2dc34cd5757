"""A chaos soak: a real scheduler and triggerer run a DAG of many pod tasks while random faults are injected.
Not a test (it runs for many minutes): it prints figures and exits non-zero when a loss figure is not zero.

    .venv/bin/python benchmarks/soak.py                                  # defaults: 200 tasks, 12 faults/min
    .venv/bin/python benchmarks/soak.py --seed 7 --rate 30 --tasks 240 --duration 1500
    .venv/bin/python benchmarks/soak.py --keep                           # keep AIRFLOW_HOME and the logs

What runs: the local cluster (``LocalCluster``, two nodes ``stable`` and ``flaky``), a throw-away
AIRFLOW_HOME on sqlite, ``airflow api-server``, ``airflow scheduler`` (LocalExecutor, ``--parallelism``)
and ``airflow triggerer``. The DAG (``soak``) is written to the dags folder, serialized once with ``airflow
dags reserialize`` (no dag-processor needed) and triggered once.

The tasks
    ``--tasks`` pod task instances, about a fifth of them mapped (``.partial().expand()`` groups of 2-6).
    Each pod prints ``soak-line i/N`` for i = 1..N (a line every 0.5 s, 1-30 s in all), then may write an
    XCom (``{"task": <id>, "n": N}``), then exits 0, or 3 for the tasks meant to fail. The mix: half
    deferrable, half synchronous; half push an XCom; about 8% are meant to fail.

The expected outcome of each task, and why faults cannot make it ambiguous
    * Tasks are *resilient* (``retries=3``, ``retry_delay`` 1 s) or *fragile* (``retries=0``). Every task
      meant to fail is fragile; fragile pods run on node ``stable`` only (``node_selector``).
    * Faults that legitimately fail a try (pod evicted, OOMKilled, deleted by someone else, node ``flaky``
      lost, task process killed) only touch resilient tasks, and at most 2 of them per task (the driver
      picks another task, or skips), so a resilient task always ends ``success``. A node loss hits every pod
      on ``flaky``: a task hit more than ``retries`` times that way is reported as ambiguous and left out.
    * Faults that must be survived within the try (API errors 429/500/503 on every verb, stream resets of
      watches, logs and exec, watch expiry and compaction, log rotation, the triggerer killed and restarted)
      touch every task. Log rotation only hits a pod while its log is being followed (its task log grew
      in the last 2 s and ends with the pod's lines): lines rotated away before anyone read them are lost on a real cluster too.
    * Airflow's scheduler sometimes fails or retries a task instance itself, on an executor event that no
      longer matches the database: the deferring process's "success" read after the trigger's event has
      already queued the task again (apache/airflow#66374, #72716; the scheduler log says "finished with
      state success, but the task instance's state attribute is queued"). The task's tries, logs and pods
      then no longer follow the plan (the retry may even run with the old try number). A task that ends
      off the plan after such an event is set apart (``tasks_disturbed_by_airflow_state_mismatch``, with
      what happened to it), as are its pods left (``pods_left_of_tasks_set_apart``; ``airflow k8spod
      cleanup-pods`` removes them), not counted as provider losses. So: expected state ``failed`` for the
      tasks meant to fail (and their final try's log names ``exit code 3``), ``success`` for all others.
    * Airflow's triggerer sometimes writes a trigger's last lines to its own log instead of the task's: it
      closes the task's trigger log when it handles the trigger's end, and lines still queued behind it go
      to the triggerer's log (``triggerer_job_runner``: ``logger_cache.pop`` on ``finished``, then the
      fallback logger). Lines of a task found there are counted apart
      (``log_lines_misrouted_by_airflow_triggerer``), not as lost.
    * A triggerer killed with SIGKILL cannot save where its triggers were: their lines since the last
      checkpoint are printed again by the next triggerer (at-least-once). Those are counted apart
      (``log_lines_repeated_after_triggerer_crash``); with SIGTERM nothing may be repeated.
    * Lines: the log files of the task's final try (``attempt=<try>.log`` and its trigger logs) must hold
      ``soak-line 1/N`` .. ``N/N`` each once. Lost = numbers missing; repeated = extra occurrences.
    * XCom: a task that pushes has exactly its ``{"task", "n"}``; one that does not push has none; tasks
      meant to fail are not checked.
    * Pods: none left in the cluster at the end (no container process either); each try of each task
      instance created at most one pod (every pod ever seen is recorded by polling the cluster every second
      and by its ``Scheduled`` event).

The fault driver
    ``fault_schedule(seed, rate, duration)`` is a pure function: Poisson arrivals at ``rate`` per minute,
    each with a kind drawn by ``FAULT_WEIGHTS`` and its parameters. Targets (which pod, which process) are
    chosen when a fault fires, with a generator seeded from the seed and the fault's index, among what is
    then running; a fault without a target is counted as skipped. Faults stop when the DAG run ends or
    after ``--duration`` seconds; then the run is given ``--grace`` seconds to finish.

Exit code: 0 when every loss figure is zero (wrong states, lost/repeated lines, wrong XComs, pods left,
tries with more than one pod, processes left), 1 otherwise, 2 when the run did not finish.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DAG_ID = "soak"
RUN_ID = "soak_run"
NAMESPACE = "default"
LINE_INTERVAL = 0.5
FAIL_EXIT_CODE = 3
RETRIES = 3
MAX_TRY_FAULTS = 2  # try-failing faults the driver injects at most into one task instance

# Kinds of faults and their weights (relative frequency).
FAULT_WEIGHTS: dict[str, int] = {
    "api_error": 30,
    "stream_reset": 16,
    "watch_expiry": 5,
    "compaction": 4,
    "log_rotation": 8,
    "pod_evicted": 4,
    "pod_oom_killed": 4,
    "pod_deleted": 4,
    "node_lost": 1,
    "triggerer_killed": 2,
    "task_process_killed": 5,
}
#: Faults that fail the try they hit (only on resilient tasks).
TRY_FAILING = {"pod_evicted", "pod_oom_killed", "pod_deleted", "node_lost", "task_process_killed"}
API_VERBS: list[tuple[str, str]] = [
    ("create", "pods"),
    ("get", "pods"),
    ("list", "pods"),
    ("watch", "pods"),
    ("delete", "pods"),
    ("patch", "pods"),
    ("get", "pods/log"),
    ("create", "pods/exec"),
    ("get", "pods/exec"),
    ("list", "events"),
    ("watch", "events"),
]
STREAMS = ["pods/log", "pods", "events", "pods/exec"]


# ---------------------------------------------------------------------------------------------------------
# The plan: tasks and their expected outcome (pure)


@dataclass(frozen=True)
class TaskSpec:
    """One task instance of the soak DAG and what it must end with."""

    task_id: str
    map_index: int  # -1 when not mapped
    deferrable: bool
    seconds: int
    xcom: bool
    fail: bool
    resilient: bool
    node: str | None  # node_selector pool, or None

    @property
    def key(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @property
    def lines(self) -> int:
        return max(2, int(self.seconds / LINE_INTERVAL))

    @property
    def expected_state(self) -> str:
        return "failed" if self.fail else "success"

    @property
    def expected_xcom(self) -> Any:
        return {"task": self.key, "n": self.lines} if self.xcom and not self.fail else None

    def script(self) -> str:
        n = self.lines
        parts = [
            f"i=1; while [ $i -le {n} ]; do echo soak-line $i/{n}; i=$((i+1)); sleep {LINE_INTERVAL}; done"
        ]
        if self.xcom:
            parts.append(f"""printf '{{"task": "{self.key}", "n": {n}}}' > /airflow/xcom/return.json""")
        parts.append(f"exit {FAIL_EXIT_CODE if self.fail else 0}")
        return "; ".join(parts)


def plan_tasks(count: int, seed: int) -> list[TaskSpec]:
    """``count`` task instances: singles and mapped groups, modes, durations, XCom and failures mixed."""
    rng = random.Random(f"plan-{seed}")
    specs: list[TaskSpec] = []
    n_single = 0
    n_group = 0
    while len(specs) < count:
        left = count - len(specs)
        if left >= 4 and rng.random() < 0.06:  # a mapped group (all its instances share mode and XCom)
            size = min(left, rng.randint(2, 6))
            n_group += 1
            deferrable = rng.random() < 0.5
            xcom = rng.random() < 0.5
            for index in range(size):
                specs.append(
                    TaskSpec(
                        f"mapped_{n_group:02d}",
                        index,
                        deferrable,
                        rng.randint(1, 30),
                        xcom,
                        False,
                        True,
                        None,
                    )
                )
            continue
        n_single += 1
        fail = rng.random() < 0.08
        resilient = not fail and rng.random() < 0.8
        node = "stable" if not resilient else rng.choice(["flaky", None])
        specs.append(
            TaskSpec(
                f"pod_{n_single:03d}",
                -1,
                rng.random() < 0.5,
                rng.randint(1, 30),
                rng.random() < 0.5,
                fail,
                resilient,
                node,
            )
        )
    return specs


def dag_source(specs: Sequence[TaskSpec]) -> str:
    """The DAG file for the plan."""
    out = [
        '"""The chaos soak DAG, written by benchmarks/soak.py."""',
        "import datetime",
        "from airflow.sdk import DAG",
        "from airflow_provider_k8spod.operators.pod import KubernetesPodOperator",
        "",
        f"with DAG({DAG_ID!r}, schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False,",
        "         is_paused_upon_creation=False, max_active_tasks=1000):",
    ]
    groups: dict[str, list[TaskSpec]] = defaultdict(list)
    for spec in specs:
        groups[spec.task_id].append(spec)
    for task_id, members in groups.items():
        first = members[0]
        common = (
            f"task_id={task_id!r}, image='busybox:1.36', cmds=['sh', '-c'], deferrable={first.deferrable}, "
            f"do_xcom_push={first.xcom}, retries={RETRIES if first.resilient else 0}, "
            "retry_delay=datetime.timedelta(seconds=1), termination_grace_period=1, "
            f"labels={{'soak-resilient': {str(first.resilient).lower()!r}}}"
        )
        if first.node:
            common += f", node_selector={{'soak/pool': {first.node!r}}}"
        if first.map_index < 0:
            out.append(f"    KubernetesPodOperator({common}, arguments=[{first.script()!r}])")
        else:
            scripts = [[m.script()] for m in members]
            out.append(f"    KubernetesPodOperator.partial({common}).expand(arguments={scripts!r})")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------
# The fault schedule (pure)


@dataclass(frozen=True)
class Fault:
    index: int
    at: float  # seconds after the start of the run
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


def fault_schedule(seed: int, rate: float, duration: float) -> list[Fault]:
    """Faults at Poisson arrival times (``rate`` per minute) over ``duration`` seconds, kinds by weight."""
    rng = random.Random(f"faults-{seed}")
    kinds = sorted(FAULT_WEIGHTS)
    weights = [FAULT_WEIGHTS[k] for k in kinds]
    faults: list[Fault] = []
    t = 0.0
    if rate <= 0:
        return faults
    while True:
        t += rng.expovariate(rate / 60.0)
        if t >= duration:
            return faults
        kind = rng.choices(kinds, weights)[0]
        params: dict[str, Any] = {}
        if kind == "api_error":
            verb, resource = rng.choice(API_VERBS)
            status = rng.choice([429, 500, 503])
            params = {"verb": verb, "resource": resource, "status": status, "times": rng.randint(1, 3)}
            if status == 429:
                params["retry_after"] = rng.choice([1, 2])
        elif kind == "stream_reset":
            params = {"resource": rng.choice(STREAMS), "after_bytes": rng.choice([0, 10, 200, 1000, 4000])}
        elif kind in ("watch_expiry", "compaction"):
            params = {"resource": rng.choice(["pods", "events", None])}
        elif kind == "log_rotation":
            params = {"stall_followers": rng.random() < 0.5}
        elif kind == "node_lost":
            params = {"seconds": rng.randint(8, 20)}
        elif kind == "triggerer_killed":
            params = {"signal": rng.choice(["SIGKILL", "SIGTERM"]), "down": rng.randint(1, 6)}
        faults.append(Fault(len(faults), round(t, 3), kind, params))


# ---------------------------------------------------------------------------------------------------------
# The figures (pure)


@dataclass
class Record:
    """What the soak observed, read after the run."""

    states: dict[str, str]  # task key -> final state
    tries: dict[str, int]  # task key -> final try number
    logs: dict[str, str]  # task key -> text of the final try's log files
    xcoms: dict[str, Any]  # task key -> return_value (absent: none)
    pods_seen: dict[str, tuple[str, int]]  # pod uid -> (task key, try number)
    pods_left: list[str]
    processes_left: int
    ambiguous: set[str] = field(default_factory=set)
    # task key -> the scheduler's "state mismatch" message, when Airflow itself failed or retried the task
    airflow_mismatch: dict[str, str] = field(default_factory=dict)
    # task key -> lines printed again by a trigger after its triggerer was SIGKILLed (at-least-once)
    crash_repeats: dict[str, int] = field(default_factory=dict)
    # the task key of each of ``pods_left`` (same order; empty: unknown)
    pods_left_tasks: list[str] = field(default_factory=list)
    # the task key of each of the ``processes_left`` (its pod's task; None: its pod is gone)
    processes_left_tasks: list[str | None] = field(default_factory=list)
    # task key -> line numbers of its final try that the triggerer wrote to its own log, not the task's
    misrouted: dict[str, set[int]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)


LINE = re.compile(r"soak-line (\d+)/(\d+)")
LOSS_FIGURES = (
    "tasks_in_wrong_state",
    "log_lines_lost",
    "log_lines_repeated",
    "log_lines_out_of_order",
    "wrong_xcom_values",
    "pods_left_behind",
    "processes_left_behind",
    "tries_with_more_than_one_pod",
)


def numbered_lines(text: str) -> list[int]:
    return [int(m.group(1)) for m in LINE.finditer(text)]


def compute_figures(specs: Sequence[TaskSpec], record: Record) -> dict[str, Any]:
    """The soak's figures from the plan and the record; ``problems`` lists each task that is off.

    Set apart, not counted as provider losses (each listed with what happened to it):
    * a task whose outcome Airflow's scheduler disturbed itself (a stale executor event made it fail or
      retry the task instance, apache/airflow#66374): its tries, logs and pods no longer follow the plan;
    * lines printed again after a triggerer was SIGKILLed: a trigger saves where it is on the way out, a
      SIGKILL gives it no way out (at-least-once; ``log_lines_repeated_after_triggerer_crash``).
    """
    problems: dict[str, list[str]] = defaultdict(list)
    by_airflow: list[str] = []
    expected_ok = lost = repeated = crash_repeated = disorder = wrong_xcom = misrouted = 0
    per_try: Counter[tuple[str, int]] = Counter(record.pods_seen.values())
    for spec in specs:
        key = spec.key
        if key in record.ambiguous:
            continue
        state = record.states.get(key, "missing")
        found: list[str] = []
        counts: Counter[str] = Counter()
        if state == spec.expected_state:
            counts["ok"] += 1
        else:
            found.append(f"state {state}, expected {spec.expected_state}")
        seen = numbered_lines(record.logs.get(key, ""))
        distinct = set(seen)
        missing = [n for n in range(1, spec.lines + 1) if n not in distinct]
        elsewhere = [n for n in missing if n in record.misrouted.get(key, set())]
        missing = [n for n in missing if n not in elsewhere]
        extra = len(seen) - len(distinct)
        after_crash = min(extra, record.crash_repeats.get(key, 0))
        extra -= after_crash
        ordered = [n for i, n in enumerate(seen) if i == 0 or n > seen[i - 1]]
        out_of_order = max(0, len(seen) - len(ordered) - extra - after_crash)
        if missing:
            counts["lost"] += len(missing)
            shown = ",".join(map(str, missing[:8])) + ("..." if len(missing) > 8 else "")
            found.append(f"{len(missing)} of {spec.lines} lines lost ({shown})")
        if extra:
            counts["repeated"] += extra
            found.append(f"{extra} lines repeated")
        if out_of_order:
            counts["disorder"] += out_of_order
            found.append(f"{out_of_order} lines out of order")
        if spec.fail:
            if f"exit code {FAIL_EXIT_CODE}" not in record.logs.get(key, ""):
                found.append(f"the log does not name exit code {FAIL_EXIT_CODE}")
        else:
            got = record.xcoms.get(key)
            if got != spec.expected_xcom:
                counts["xcom"] += 1
                found.append(f"XCom {got!r}, expected {spec.expected_xcom!r}")
        found += [f"try {t} had {n} pods" for (k, t), n in sorted(per_try.items()) if k == key and n > 1]
        if found and key in record.airflow_mismatch:
            by_airflow.append(key)
            problems[key].append(
                f"set apart: the scheduler's {record.airflow_mismatch[key]}; then " + "; ".join(found)
            )
            continue
        if found:
            problems[key].extend(found)
        misrouted += len(elsewhere)
        expected_ok += counts["ok"]
        lost += counts["lost"]
        repeated += counts["repeated"]
        disorder += counts["disorder"]
        wrong_xcom += counts["xcom"]
        crash_repeated += after_crash
    apart = set(by_airflow)
    double = sorted(k for k, n in per_try.items() if n > 1 and k[0] not in apart)
    tasks_of_left = record.pods_left_tasks or [None] * len(record.pods_left)
    left = [d for d, k in zip(record.pods_left, tasks_of_left, strict=True) if k not in apart]
    left_apart = [d for d, k in zip(record.pods_left, tasks_of_left, strict=True) if k in apart]
    processes_apart = len([k for k in record.processes_left_tasks if k in apart])
    checked = len(specs) - len([s for s in specs if s.key in record.ambiguous]) - len(by_airflow)
    return {
        "tasks": len(specs),
        "tasks_checked": checked,
        "tasks_ambiguous": sorted(record.ambiguous),
        "tasks_disturbed_by_airflow_state_mismatch": sorted(by_airflow),
        "tasks_in_expected_state": expected_ok,
        "tasks_in_wrong_state": checked - expected_ok,
        "log_lines_expected": sum(
            s.lines for s in specs if s.key not in record.ambiguous and s.key not in apart
        ),
        "log_lines_lost": lost,
        "log_lines_repeated": repeated,
        "log_lines_repeated_after_triggerer_crash": crash_repeated,
        "log_lines_misrouted_by_airflow_triggerer": misrouted,
        "log_lines_out_of_order": disorder,
        "wrong_xcom_values": wrong_xcom,
        "pods_left_behind": len(left),
        "pods_left": left,
        "pods_left_of_tasks_set_apart": left_apart,
        "processes_left_behind": record.processes_left - processes_apart,
        "processes_left_of_tasks_set_apart": processes_apart,
        "pods_created": len(record.pods_seen),
        "tries_with_more_than_one_pod": len(double),
        "tries_total": sum(record.tries.values()),
        "requests": dict(sorted(record.requests.items())),
        "requests_total": sum(record.requests.values()),
        "faults": dict(sorted(record.faults.items())),
        "faults_total": sum(v for k, v in record.faults.items() if not k.startswith("skipped")),
        "problems": dict(sorted(problems.items())),
    }


def losses(figures: Mapping[str, Any]) -> dict[str, int]:
    return {name: int(figures[name]) for name in LOSS_FIGURES if figures[name]}


# ---------------------------------------------------------------------------------------------------------
# The live parts: processes, the fault driver, the pod recorder


def airflow_environment(home: Path, parallelism: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1000",
            "AIRFLOW__API_AUTH__JWT_SECRET": "k8spod-soak-jwt-secret-" + "x" * 16,
            "AIRFLOW__API__SECRET_KEY": "k8spod-soak-secret-key",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "30",  # fewer API server requests (CPU is scarce)
            # A loaded 2-core machine answers in tens of seconds at times: the default 5 s timeout makes a
            # worker retry a call that went through (a 400/409 then fails a task that never started).
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "90",
            # Hundreds of tasks queue at once and wait their turn for one of the executor's slots.
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "3600",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    return env


class Process:
    """One Airflow process (its own session: signals go to its group)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], home: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.home = home
        self.starts = 0
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        with open(self.home / f"{self.name}-{self.starts}.log", "wb") as log:
            self.popen = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 30) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait()


PRELOAD = '''"""Written by benchmarks/soak.py: imported by every Airflow process at start, so the task processes
that the LocalExecutor forks inherit these modules instead of each importing them again."""
import kubernetes.client  # noqa: F401
import kubernetes_asyncio.client  # noqa: F401

import airflow_provider_k8spod.operators.pod  # noqa: F401
import airflow_provider_k8spod.triggers.pod  # noqa: F401
'''


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{home}/airflow.db?mode=ro", uri=True, timeout=30)


def task_key(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def task_processes() -> Iterator[tuple[int, str]]:
    """(pid, task instance id) of the task processes on this machine (``airflow worker -- <ti id>``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if title.startswith("airflow worker -- "):
            ti_id = title.removeprefix("airflow worker -- ").strip()
            if UUID.match(ti_id):
                yield int(entry.name), ti_id


class PodRecorder(threading.Thread):
    """Every pod the cluster ever held: uid -> (task key, try number), by polling the admin endpoint."""

    def __init__(self, cluster: Any) -> None:
        super().__init__(daemon=True, name="pod-recorder")
        self.cluster = cluster
        self.seen: dict[str, tuple[str, int]] = {}
        self.names: dict[str, tuple[str, int]] = {}
        self.stopping = threading.Event()

    def observe(self) -> None:
        for pod in self.cluster.pods(NAMESPACE):
            meta = pod["metadata"]
            labels = meta.get("labels") or {}
            if "task_id" not in labels:
                continue
            value = (task_key(labels["task_id"], int(labels.get("map_index", -1))), int(labels["try_number"]))
            self.seen[meta["uid"]] = value
            self.names[meta["name"]] = value

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            with contextlib.suppress(Exception):
                self.observe()

    def from_events(self) -> None:
        """Pods that lived less than a poll: their ``Scheduled`` events still name them."""
        for event in self.cluster.events(NAMESPACE):
            obj = event.get("involvedObject") or {}
            uid = obj.get("uid")
            if obj.get("kind") == "Pod" and uid and uid not in self.seen and obj.get("name") in self.names:
                self.seen[uid] = self.names[obj["name"]]


class FaultDriver(threading.Thread):
    """Fires the schedule against the live cluster and processes."""

    def __init__(
        self,
        cluster: Any,
        schedule: Sequence[Fault],
        seed: int,
        home: Path,
        triggerer: Process,
        specs: Sequence[TaskSpec],
    ) -> None:
        super().__init__(daemon=True, name="fault-driver")
        self.cluster = cluster
        self.schedule = schedule
        self.seed = seed
        self.home = home
        self.triggerer = triggerer
        self.resilient = {s.key for s in specs if s.resilient}
        self.counts: Counter[str] = Counter()
        self.try_faults: Counter[str] = Counter()  # task key -> try-failing faults injected
        self.node_hits: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.busy = threading.Lock()  # the triggerer or the node is down: one at a time
        self.timers: list[threading.Timer] = []
        self.journal: list[str] = []
        self.started = 0.0
        #: Triggerer jobs (the ``job`` table's id) killed with SIGKILL: no chance to save where they were.
        self.crashed_triggerers: set[int] = set()

    def run(self) -> None:
        self.started = time.monotonic()
        for fault in self.schedule:
            if self.stopping.wait(max(0.0, self.started + fault.at - time.monotonic())):
                return
            rng = random.Random(f"target-{self.seed}-{fault.index}")
            try:
                target = getattr(self, f"_{fault.kind}")(rng, **fault.params)
            except Exception as error:  # a fault that could not be injected is counted, never fatal
                self.counts[f"error {fault.kind}"] += 1
                self.journal.append(f"{fault.at:8.1f} {fault.kind} error {error!r}")
                continue
            if target is None:
                self.counts[f"skipped {fault.kind}"] += 1
            else:
                self.counts[fault.kind] += 1
                self.journal.append(f"{time.monotonic() - self.started:8.1f} {fault.kind} {target}")
                with open(self.home / "faults.log", "a") as journal:  # live, for a look during the run
                    journal.write(self.journal[-1] + "\n")

    def finish(self) -> None:
        self.stopping.set()
        if self.ident is not None:
            self.join()
        for timer in self.timers:
            timer.cancel()
            if timer.is_alive():
                timer.join()
        for timer in self.timers:  # run pending restorations now
            with contextlib.suppress(Exception):
                timer.function()
        self.timers.clear()
        self.cluster.faults.clear()

    def abort(self) -> None:
        """Stop injecting and drop pending restorations (the soak is ending anyway)."""
        self.stopping.set()
        for timer in self.timers:
            timer.cancel()
        for timer in self.timers:
            if timer.is_alive():
                timer.join()

    def _later(self, seconds: float, action: Any) -> None:
        def once() -> None:
            if getattr(once, "done", False):
                return
            once.done = True  # type: ignore[attr-defined]
            action()

        timer = threading.Timer(seconds, once)
        timer.function = once  # for finish()
        self.timers.append(timer)
        timer.start()

    # Pods
    def _running_pods(self, resilient_only: bool) -> list[dict[str, Any]]:
        found = []
        for pod in self.cluster.pods(NAMESPACE):
            meta = pod["metadata"]
            labels = meta.get("labels") or {}
            if "task_id" not in labels or meta.get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") != "Running":
                continue
            key = task_key(labels["task_id"], int(labels.get("map_index", -1)))
            if resilient_only and (key not in self.resilient or self.try_faults[key] >= MAX_TRY_FAULTS):
                continue
            found.append(pod)
        return sorted(found, key=lambda p: p["metadata"]["name"])

    def _pick(self, rng: random.Random, resilient_only: bool) -> tuple[str, str] | None:
        pods = self._running_pods(resilient_only)
        if not pods:
            return None
        pod = rng.choice(pods)
        labels = pod["metadata"]["labels"]
        key = task_key(labels["task_id"], int(labels.get("map_index", -1)))
        if resilient_only:
            self.try_faults[key] += 1
        return pod["metadata"]["name"], key

    def _api_error(self, rng: random.Random, **params: Any) -> str:
        self.cluster.faults.fail(**params)
        return f"{params['status']} x{params['times']} on {params['verb']} {params['resource']}"

    def _stream_reset(self, rng: random.Random, resource: str, after_bytes: int) -> str:
        self.cluster.faults.reset_stream(resource, after_bytes=after_bytes)
        return f"{resource} after {after_bytes} bytes"

    def _watch_expiry(self, rng: random.Random, resource: str | None) -> str:
        closed = self.cluster.faults.expire_watches(resource)
        return f"{resource or 'all'}: {closed} watches ended"

    def _compaction(self, rng: random.Random, resource: str | None) -> str:
        self.cluster.faults.compact(resource)
        return resource or "all"

    def _followed(self, pod: dict[str, Any]) -> bool:
        """A follower is reading the pod's log now: its task's log grew in the last 2 seconds, with its lines."""
        labels = pod["metadata"]["labels"]
        folder = self.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={RUN_ID}" / f"task_id={labels['task_id']}"
        if "map_index" in labels:
            folder = folder / f"map_index={labels['map_index']}"
        now = time.time()
        with contextlib.suppress(OSError):
            for path in folder.glob("attempt=*.log*"):
                if now - path.stat().st_mtime < 2:
                    with open(path, "rb") as fh:
                        fh.seek(max(0, path.stat().st_size - 4096))
                        if b"soak-line" in fh.read():  # and it has delivered the pod's own lines
                            return True
        return False

    def _log_rotation(self, rng: random.Random, stall_followers: bool) -> str | None:
        # Rotation while nobody reads loses the unread lines on any cluster (a read only sees the current
        # file): the matrix's fault is a rotation during a follow, so only followed pods are rotated.
        pods = [p for p in self._running_pods(resilient_only=False) if self._followed(p)]
        if not pods:
            return None
        pod = rng.choice(pods)
        labels = pod["metadata"]["labels"]
        picked = pod["metadata"]["name"], task_key(labels["task_id"], int(labels.get("map_index", -1)))
        self.cluster.rotate_logs(NAMESPACE, picked[0], "base", stall_followers=stall_followers)
        return f"{picked[1]} stall={stall_followers}"

    def _pod_evicted(self, rng: random.Random) -> str | None:
        picked = self._pick(rng, resilient_only=True)
        if picked is not None:
            self.cluster.evict_pod(NAMESPACE, picked[0])
        return picked and picked[1]

    def _pod_oom_killed(self, rng: random.Random) -> str | None:
        picked = self._pick(rng, resilient_only=True)
        if picked is not None:
            self.cluster.oom_kill(NAMESPACE, picked[0], "base")
        return picked and picked[1]

    def _pod_deleted(self, rng: random.Random) -> str | None:
        picked = self._pick(rng, resilient_only=True)
        if picked is not None:
            self.cluster.delete_pod(NAMESPACE, picked[0], grace_period_seconds=rng.choice([0, 1]))
        return picked and picked[1]

    def _node_lost(self, rng: random.Random, seconds: int) -> str | None:
        if not self.busy.acquire(blocking=False):
            return None
        on_node = []
        for pod in self.cluster.pods(NAMESPACE):
            labels = pod["metadata"].get("labels") or {}
            if (pod.get("spec") or {}).get("nodeName") == "flaky" and "task_id" in labels:
                key = task_key(labels["task_id"], int(labels.get("map_index", -1)))
                self.node_hits[key] += 1
                self.try_faults[key] += 1
                on_node.append(key)
        self.cluster.lose_node("flaky")

        def restore() -> None:
            try:
                self.cluster.restore_node("flaky")
            finally:
                self.busy.release()

        self._later(seconds, restore)
        return f"flaky for {seconds}s, {len(on_node)} pods on it"

    def _triggerer_killed(self, rng: random.Random, signal: str, down: int) -> str | None:
        if not self.busy.acquire(blocking=False):
            return None
        sig = getattr(__import__("signal"), signal)
        if signal == "SIGKILL":
            with contextlib.closing(_db(self.home)) as db:
                row = db.execute("select max(id) from job where job_type='TriggererJob'").fetchone()
            if row and row[0] is not None:
                self.crashed_triggerers.add(int(row[0]))
        self.triggerer.signal(sig)

        def restart() -> None:
            try:
                if self.triggerer.popen is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.triggerer.popen.wait(timeout=60)
                    self.triggerer.signal(__import__("signal").SIGKILL)
                    self.triggerer.popen.wait()
                self.triggerer.start()
            finally:
                self.busy.release()

        self._later(down, restart)
        return f"{signal}, restarted after {down}s"

    def _task_process_killed(self, rng: random.Random) -> str | None:
        processes = sorted(task_processes())
        if not processes:
            return None
        with contextlib.closing(_db(self.home)) as db:
            rows = {
                str(row[0]).replace("-", ""): task_key(row[1], row[2])
                for row in db.execute(
                    "select id, task_id, map_index from task_instance where dag_id=?", (DAG_ID,)
                )
            }
        candidates = [
            (pid, rows[ti])
            for pid, ti in ((pid, ti.replace("-", "")) for pid, ti in processes)
            if ti in rows and rows[ti] in self.resilient and self.try_faults[rows[ti]] < MAX_TRY_FAULTS
        ]
        if not candidates:
            return None
        pid, key = rng.choice(candidates)
        self.try_faults[key] += 1
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return key


# ---------------------------------------------------------------------------------------------------------
# Reading the outcome


MISMATCH = re.compile(
    r"reported that the task instance <TaskInstance: "
    + DAG_ID
    + r"\.(?P<task>\S+) "
    + RUN_ID
    + r"(?: map_index=(?P<index>\d+))? \[\w+\][^>]*> (?P<what>finished with state \w+, but the task "
    r"instance's state attribute is \w+)"
)


def airflow_mismatches(scheduler_log: str) -> dict[str, str]:
    """Task instances the scheduler failed because an executor event disagreed with the database (a stale
    event from an earlier process of the task: apache/airflow#66374, #71580, #72716)."""
    found = {}
    for match in MISMATCH.finditer(scheduler_log):
        index = int(match["index"]) if match["index"] else -1
        found[task_key(match["task"], index)] = "executor event " + match["what"]
    return found


def read_record(home: Path, cluster: Any, recorder: PodRecorder, driver: FaultDriver) -> Record:
    states: dict[str, str] = {}
    tries: dict[str, int] = {}
    xcoms: dict[str, Any] = {}
    with contextlib.closing(_db(home)) as db:
        for task_id, map_index, try_number, state in db.execute(
            "select task_id, map_index, try_number, state from task_instance where dag_id=? and run_id=?",
            (DAG_ID, RUN_ID),
        ):
            key = task_key(task_id, map_index)
            states[key] = str(state)
            tries[key] = int(try_number or 0)
        for task_id, map_index, value in db.execute(
            "select task_id, map_index, value from xcom where dag_id=? and run_id=? and key='return_value'",
            (DAG_ID, RUN_ID),
        ):
            parsed = json.loads(value) if isinstance(value, (str, bytes)) else value
            if isinstance(parsed, str):
                with contextlib.suppress(ValueError):
                    parsed = json.loads(parsed)
            xcoms[task_key(task_id, map_index)] = parsed
    logs: dict[str, str] = {}
    crash_repeats: dict[str, int] = {}
    root = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={RUN_ID}"
    for key, try_number in tries.items():
        task_id, _, rest = key.partition("[")
        folder = root / f"task_id={task_id}"
        if rest:
            folder = folder / f"map_index={rest.rstrip(']')}"
        texts = []
        paths = sorted(folder.glob(f"attempt={try_number}.log*"))
        crash_repeats[key] = _repeated_after_crash(paths, driver.crashed_triggerers)
        for path in paths:
            for raw in path.read_text(errors="replace").splitlines():
                try:
                    event = json.loads(raw)
                except ValueError:
                    texts.append(raw)
                    continue
                texts.append(str(event.get("event", "")) if isinstance(event, dict) else raw)
                if isinstance(event, dict) and event.get("error_detail"):
                    texts.append(json.dumps(event["error_detail"]))
        logs[key] = "\n".join(texts)
    recorder.from_events()
    left = cluster.pods(NAMESPACE)
    pods_left = [_describe_pod(p) for p in left]
    pods_left_tasks = [_pod_task(p) for p in left]
    task_of_pod = {p["metadata"]["name"]: _pod_task(p) for p in left}
    processes = cluster.container_processes()
    ambiguous = {key for key, hits in driver.try_faults.items() if hits > RETRIES}
    scheduler_log = "\n".join(p.read_text(errors="replace") for p in sorted(home.glob("scheduler-*.log")))
    triggerer_log = "\n".join(p.read_text(errors="replace") for p in sorted(home.glob("triggerer-*.log")))
    faults = dict(driver.counts)
    return Record(
        states=states,
        tries=tries,
        logs=logs,
        xcoms=xcoms,
        pods_seen=dict(recorder.seen),
        pods_left=pods_left,
        processes_left=len(processes),
        processes_left_tasks=[task_of_pod.get(str(p.get("pod"))) for p in processes],
        ambiguous=ambiguous,
        airflow_mismatch=airflow_mismatches(scheduler_log),
        crash_repeats=crash_repeats,
        pods_left_tasks=pods_left_tasks,
        misrouted=misrouted_lines(triggerer_log, tries),
        requests=cluster.stats(),
        faults=faults,
    )


TRIGGER_LOG = re.compile(r"\.trigger\.(\d+)\.log$")


def _repeated_after_crash(paths: Sequence[Path], crashed: set[int]) -> int:
    """Lines of a SIGKILLed triggerer's trigger log (``attempt=N.log.trigger.<job id>.log``) printed again
    in a later log file of the same try."""
    earlier: Counter[int] = Counter()
    repeated = 0
    for path in sorted(paths, key=lambda p: int(m[1]) if (m := TRIGGER_LOG.search(p.name)) else -1):
        numbers = Counter(numbered_lines(path.read_text(errors="replace")))
        repeated += sum(min(n, earlier[k]) for k, n in numbers.items() if k in earlier)
        match = TRIGGER_LOG.search(path.name)
        if match and int(match[1]) in crashed:
            earlier.update(numbers)
    return repeated


MISROUTED = re.compile(
    r"\[\w+\] soak-line (?P<n>\d+)/\d+ .*?\bmap_index=(?P<index>-?\d+) .*?\btask_id=(?P<task>\S+) .*?"
    r"\btry_number=(?P<try>\d+)"
)


def misrouted_lines(triggerer_log: str, tries: Mapping[str, int]) -> dict[str, set[int]]:
    """Lines of a task's final try that the triggerer wrote to its own log (see the module docstring)."""
    found: dict[str, set[int]] = defaultdict(set)
    for line in triggerer_log.splitlines():
        match = MISROUTED.search(line)
        if match is None:
            continue
        key = task_key(match["task"], int(match["index"]))
        if tries.get(key) == int(match["try"]):
            found[key].add(int(match["n"]))
    return dict(found)


def _pod_task(pod: Mapping[str, Any]) -> str:
    labels = pod["metadata"].get("labels") or {}
    return task_key(labels.get("task_id", "?"), int(labels.get("map_index", -1)))


def _describe_pod(pod: Mapping[str, Any]) -> str:
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    status = pod.get("status") or {}
    key = _pod_task(pod)
    deleting = " deleting" if meta.get("deletionTimestamp") else ""
    return (
        f"{meta['name']} ({key} try {labels.get('try_number')}, {status.get('phase')}{deleting}, "
        f"node {(pod.get('spec') or {}).get('nodeName')})"
    )


def run_state(home: Path) -> str | None:
    with contextlib.closing(_db(home)) as db:
        row = db.execute("select state from dag_run where dag_id=? and run_id=?", (DAG_ID, RUN_ID)).fetchone()
    return row[0] if row else None


def task_state_counts(home: Path) -> Counter[str]:
    with contextlib.closing(_db(home)) as db:
        return Counter(
            str(r[0]) for r in db.execute("select state from task_instance where dag_id=?", (DAG_ID,))
        )


def _airflow(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "airflow", *args], env=env, check=True, capture_output=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: Process, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response,
        ):
            if response.status == 200:
                return
        if not process.alive():
            break
        time.sleep(0.5)
    raise RuntimeError(f"airflow api-server did not start; see {process.home}/api-server-1.log")


def print_figures(figures: Mapping[str, Any], out: Any = sys.stdout) -> None:
    for name, value in figures.items():
        if name == "problems":
            continue
        print(f"{name:32} {json.dumps(value)}", file=out)
    problems = figures["problems"]
    if problems:
        print(f"tasks not as expected ({len(problems)}):", file=out)
        for key, what in problems.items():
            print(f"  {key}: {'; '.join(what)}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=12.0, help="faults per minute (default 12)")
    parser.add_argument("--tasks", type=int, default=200, help="task instances (default 200)")
    parser.add_argument("--duration", type=float, default=1500, help="cap on the fault window, seconds")
    parser.add_argument(
        "--grace", type=float, default=300, help="seconds for the run to end after faults stop"
    )
    parser.add_argument("--parallelism", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.rate < 0 or args.duration <= 0 or args.parallelism < 1:
        parser.error("--tasks and --parallelism must be >= 1, --rate >= 0, --duration > 0")

    from airflow_provider_k8spod.testing import LocalCluster, Node, Timings

    home = Path(tempfile.mkdtemp(prefix="k8spod-soak-"))
    (home / "dags").mkdir()
    (home / "config").mkdir()
    (home / "config" / "airflow_local_settings.py").write_text(PRELOAD)
    env = airflow_environment(home, args.parallelism)
    specs = plan_tasks(args.tasks, args.seed)
    schedule = fault_schedule(args.seed, args.rate, args.duration)
    print(
        f"soak: {len(specs)} task instances, {len(schedule)} faults scheduled over {args.duration:.0f}s "
        f"(seed {args.seed}, rate {args.rate}/min), work directory {home}",
        flush=True,
    )
    processes: list[Process] = []
    driver: FaultDriver | None = None
    started = time.monotonic()
    cluster = LocalCluster(
        nodes=[Node("stable", labels={"soak/pool": "stable"}), Node("flaky", labels={"soak/pool": "flaky"})],
        timings=Timings(default_unreachable_toleration_seconds=5, default_not_ready_toleration_seconds=5),
    )
    finished = False
    try:
        cluster.start()
        env["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = cluster.airflow_connection(namespace=NAMESPACE)
        cached = Path.home() / ".cache" / "k8spod-tests"
        templates = sorted(cached.glob("airflow-*.db")) if cached.exists() else []
        import airflow

        template = cached / f"airflow-{airflow.__version__}.db"
        if template in templates:
            shutil.copy(template, home / "airflow.db")
        else:
            _airflow(env, "db", "migrate")
        (home / "dags" / "soak_dag.py").write_text(dag_source(specs))
        _airflow(env, "dags", "reserialize")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{url}/execution/"
        api = Process(
            "api-server", [sys.executable, "-m", "airflow", "api-server", "--port", str(port)], env, home
        )
        api.argv += ["--host", "127.0.0.1"]
        scheduler = Process("scheduler", [sys.executable, "-m", "airflow", "scheduler"], env, home)
        triggerer = Process("triggerer", [sys.executable, "-m", "airflow", "triggerer"], env, home)
        processes += [api, scheduler, triggerer]
        api.start()
        _wait_healthy(url, api)
        scheduler.start()
        triggerer.start()
        recorder = PodRecorder(cluster)
        recorder.start()
        _airflow(env, "dags", "trigger", DAG_ID, "--run-id", RUN_ID)
        print(f"soak: set up in {time.monotonic() - started:.0f}s; run {RUN_ID} triggered", flush=True)
        driver = FaultDriver(cluster, schedule, args.seed, home, triggerer, specs)
        run_started = time.monotonic()
        last_report = 0.0
        grace_until: float | None = None
        state: str | None = None
        while True:
            time.sleep(2)
            with contextlib.suppress(sqlite3.Error):
                state = run_state(home)
            elapsed = time.monotonic() - run_started
            if driver.ident is None and recorder.seen:  # faults from the first pod on
                print(f"soak: {elapsed:.0f}s, the first pod exists: faults start", flush=True)
                driver.start()
            if elapsed - last_report >= 30:
                last_report = elapsed
                with contextlib.suppress(sqlite3.Error):
                    counts = dict(task_state_counts(home))
                    print(
                        f"soak: {elapsed:6.0f}s run {state} tasks {counts} faults {sum(driver.counts.values())}",
                        flush=True,
                    )
            if state in ("success", "failed"):
                finished = True
                break
            if (driver.ident is not None and not driver.is_alive()) or elapsed > args.duration:
                if grace_until is None:
                    print(
                        f"soak: {elapsed:.0f}s, faults stop; {args.grace:.0f}s for the run to end", flush=True
                    )
                    driver.finish()
                    grace_until = time.monotonic() + args.grace
                if time.monotonic() > grace_until:
                    break
            for process in (api, scheduler):
                if not process.alive():
                    raise RuntimeError(f"{process.name} died; see {home}/{process.name}-{process.starts}.log")
        fault_window = time.monotonic() - run_started
        driver.finish()
        # Let the last pods finish their deletion, then stop Airflow.
        deadline = time.monotonic() + 60
        while cluster.pods(NAMESPACE) and time.monotonic() < deadline:
            time.sleep(1)
        for process in reversed(processes):
            process.stop()
        recorder.stopping.set()
        recorder.join()
        record = read_record(home, cluster, recorder, driver)
        figures = compute_figures(specs, record)
        figures = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "command": "benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "seed": args.seed,
            "rate_per_min": args.rate,
            "run_state": state,
            "run_seconds": round(fault_window, 1),
            "triggerer_starts": triggerer.starts,
            **figures,
        }
        print_figures(figures)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        lost = losses(figures)
        if not finished:
            print(f"soak: the run did not finish (state {state})")
            return 2
        print("soak: " + ("PASS, every loss figure is zero" if not lost else f"FAIL {lost}"))
        return 1 if lost else 0
    except Exception:
        traceback.print_exc()
        return 2
    finally:
        if driver is not None:
            driver.abort()
        for process in reversed(processes):
            with contextlib.suppress(Exception):
                process.stop()
        cluster.stop()
        if args.keep or not finished:
            print(f"soak: work directory kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
