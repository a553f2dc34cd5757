"""All five benchmark figures, ours side by side with upstream's ``apache-airflow-providers-cncf-kubernetes``,
on one local cluster, with alternating runs. Prints tables, then as its LAST line one JSON object::

    .venv/bin/python benchmarks/run.py --quick      # a reduced run, under 10 minutes
    .venv/bin/python benchmarks/run.py              # the full run (RESULTS.md), about 25 minutes
    .venv/bin/python benchmarks/run.py --figures 1,5 --upstream-python /work/upstream-venv/bin/python

Figures (each side in its own interpreter and Airflow home; pods on the same local cluster, isolation
``namespaces``):

1. **API requests per task** (the local cluster's own counts): one ``dag.test()`` task whose pod prints a
   numbered line every second for 5, 30 and 120 s (quick: 30 s) then writes an XCom, logs and XCom on,
   deferrable and synchronous.
2. **Completion latency**: the container's last command writes ``date +%s.%N``; synchronous: until the
   operator's ``execute()`` returns (the task's verdict); deferrable: until the trigger yields its event.
   Taken from every run of figure 1 and from extra 5 s pods.
3. **Triggerer scale**: N = 100, 500, 1000 (quick: 1000) deferred pods, N triggers in one asyncio loop
   (``deferrable_bench.py scale``): requests/s, CPU s/min, peak RSS, loop lag.
4. **Log throughput**: a synchronous task whose container prints 1,000,000 short lines (quick: 50,000):
   lines/s from the container's start to the task's verdict, lines found in the task log, and the peak
   RSS of the task's process meanwhile (``dag.test()`` runs the task in its own process).
5. **DAG parse cost**: in a fresh interpreter, CPU seconds to ``import airflow.sdk``; to import the
   operator's module (quick: not measured); to run a DAG file of 200 pod tasks; median of interleaved
   runs (7; quick: 3), bytecode cached (each side gets its own ``PYTHONPYCACHEPREFIX``, warmed first).
   Reported: the extra over ``import airflow.sdk`` alone. CPU time, not wall time, because the machine
   is shared; wall time is printed beside it.

The JSON line has exactly the keys of :data:`SUMMARY_KEYS`, each ``{"ours": x, "upstream": y}``:

``api_requests_30s``        requests for one 30 s deferrable task (logs + XCom on)
``api_requests_30s_sync``   the same, synchronous
``completion_latency_s``    the higher of the synchronous and the deferrable medians, in seconds (the
                            target, under 0.2 s, must hold in both modes)
``triggerer_1000``          CPU seconds per minute of the one process running 1000 triggers, steady state
``log_lines_per_s``         figure 4's lines per second
``dag_parse_s``             CPU seconds a 200-task DAG file costs beyond ``import airflow.sdk``

A value is null when its figure was not measured (a side unavailable, ``--figures`` left it out, a run
failed). Upstream runs from ``--upstream-python`` (default ``$K8SPOD_UPSTREAM_PYTHON``, else
``.venv-upstream``, created on first use by ``tests/compat/upstream_env.py``). Figures 1-3 reuse
``deferrable_bench.py`` (its child roles run in each side's interpreter). Latest full run:
``benchmarks/RESULTS.md``. Benchmarks assert nothing and are not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deferrable_bench as db

SUMMARY_KEYS = (
    "api_requests_30s",
    "api_requests_30s_sync",
    "completion_latency_s",
    "triggerer_1000",
    "log_lines_per_s",
    "dag_parse_s",
)
FIGURES = (1, 2, 3, 4, 5)
PARSE_TASKS = 200
MODES = ("deferrable", "sync")


@dataclass
class Plan:
    """How much of each figure to run."""

    durations: list[int] = field(default_factory=lambda: [5, 30, 120])
    latency_seconds: int = 5
    latency_runs: int = 3
    counts: list[int] = field(default_factory=lambda: [100, 500, 1000])
    warmup: float = 30.0
    window: float = 45.0
    flood_lines: int = 1_000_000
    parse_rounds: int = 7
    parse_kinds: tuple[str, ...] = ("sdk", "import", "dag")

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            durations=[30],
            latency_runs=1,
            counts=[1000],
            warmup=20.0,
            window=20.0,
            flood_lines=50_000,
            parse_rounds=3,
            parse_kinds=("sdk", "dag"),
        )


# ------------------------------------------------------------------------------------------ summary


def summary(figures: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """The JSON line's object from the figures gathered (missing ones are null)."""

    def pair(get: Any) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for side in db.SIDES:
            try:
                value = get(side)
            except (KeyError, TypeError, ValueError, IndexError):
                value = None
            out[side] = None if value is None else round(float(value), 3)
        return out

    requests = figures.get("requests", {})
    latency = figures.get("latency", {})
    scale = figures.get("scale", {})
    flood = figures.get("log", {})
    parse = figures.get("parse", {})

    def worst_latency(side: str) -> float | None:
        medians = [latency[side][mode]["median"] for mode in MODES]
        return max(medians) if None not in medians else None

    return {
        "api_requests_30s": pair(lambda s: requests[s]["deferrable"]["30"]["total"]),
        "api_requests_30s_sync": pair(lambda s: requests[s]["sync"]["30"]["total"]),
        "completion_latency_s": pair(worst_latency),
        "triggerer_1000": pair(lambda s: scale["1000"][s]["cpu_s_per_min"]),
        "log_lines_per_s": pair(lambda s: flood[s]["lines_per_s"]),
        "dag_parse_s": pair(lambda s: parse[s]["dag"]["extra_cpu_s"]),
    }


# --------------------------------------------------------------------------- figures 1 and 2: dag.test


def _run_rounds(
    sides: list[db.Side], rounds: list[list[dict[str, Any]]], workdir: Path
) -> dict[str, list[Any]]:
    """Each round's runs in one child per side; which side goes first alternates from round to round."""
    exit_dir = workdir / "exits"
    exit_dir.mkdir(exist_ok=True)
    results: dict[str, list[Any]] = {s.name: [] for s in sides}
    live = [s for s in sides if not s.unavailable]
    for side in live:
        side.migrate()
    for index, runs in enumerate(rounds):
        for side in live if index % 2 == 0 else live[::-1]:
            began = time.monotonic()
            out, log = side.child("dagtest", {"runs": runs, "exit_dir": str(exit_dir)})
            for run in out or []:
                run["log"] = log
            results[side.name] += out or []
            labels = ", ".join(r["label"] for r in runs)
            print(f"  [{side.name}] {labels}: {time.monotonic() - began:.0f} s", flush=True)
    return results


def _completion(run: dict[str, Any]) -> float | None:
    """Main container exit -> trigger event (deferrable) or -> execute() returned (synchronous)."""
    if run.get("deferrable"):
        return db._exit_to_event(run)
    if run.get("exit_time") is None or run.get("execute_end") is None:
        return None
    return float(run["execute_end"]) - float(run["exit_time"])


def figures_requests_latency(
    sides: list[db.Side], plan: Plan, workdir: Path, figures: dict[str, Any]
) -> None:
    rounds: list[list[dict[str, Any]]] = []
    for mode in MODES:
        prefix = "d" if mode == "deferrable" else "s"
        for seconds in plan.durations:
            rounds.append(
                [
                    {
                        "label": f"{prefix}{seconds}",
                        "seconds": seconds,
                        "kind": "requests",
                        "deferrable": mode == "deferrable",
                    }
                ]
            )
        rounds[-1] += [
            {
                "label": f"{prefix}l{i}",
                "seconds": plan.latency_seconds,
                "kind": "latency",
                "deferrable": mode == "deferrable",
            }
            for i in range(1, plan.latency_runs + 1)
        ]
    print(f"== figures 1 and 2: {sum(len(r) for r in rounds)} dag.test runs per side", flush=True)
    results = _run_rounds(sides, rounds, workdir)
    names = [s.name for s in sides]
    requests: dict[str, Any] = {}
    latency: dict[str, Any] = {}
    for side in names:
        requests[side] = {mode: {} for mode in MODES}
        latency[side] = {}
        for run in results[side]:
            mode = "deferrable" if run.get("deferrable") else "sync"
            if run["kind"] == "requests":
                lines = db._log_lines(run["log"], run["label"])
                requests[side][mode][str(run["seconds"])] = {
                    "total": sum(run["stats"].values()),
                    "stats": run["stats"],
                    "task_state": run["task_state"] or run["state"],
                    "xcom": run["xcom"] is not None,
                    "lines": f"{lines[0]}/{lines[1]}x",
                    "pods_left": len(run["pods_left"]),
                    "deferred": bool(run.get("triggers")),
                }
        for mode in MODES:
            values = [
                v
                for r in results[side]
                if bool(r.get("deferrable")) == (mode == "deferrable") and (v := _completion(r)) is not None
            ]
            latency[side][mode] = {
                "values": values,
                "median": statistics.median(values) if values else None,
                "max": max(values) if values else None,
            }
    figures["requests"], figures["latency"], figures["dagtest_raw"] = requests, latency, results
    for mode in MODES:
        for seconds in plan.durations:
            key = str(seconds)
            cells = [requests.get(s, {}).get(mode, {}).get(key) for s in names]
            verbs = db._verbs(*[(c or {}).get("stats", {}) for c in cells])
            rows: list[tuple[str, list[Any]]] = [
                (verb, [(c or {}).get("stats", {}).get(verb, 0) if c else "n/a" for c in cells])
                for verb in verbs
            ]
            for label, item in (
                ("TOTAL", "total"),
                ("task state", "task_state"),
                ("XCom returned", "xcom"),
                (f"log lines seen (of {seconds})", "lines"),
                ("deferred", "deferred"),
                ("pods left", "pods_left"),
            ):
                rows.append((label, [c[item] if c else "n/a" for c in cells]))
            db._table(
                f"== 1. requests: one {seconds} s pod, {mode}, logs + XCom (ours | upstream)", rows, names
            )
    rows = []
    for mode in MODES:
        what = "exit -> trigger event" if mode == "deferrable" else "exit -> execute() returned"
        rows += [
            (f"{mode}: {what}, median s", [_fmt(latency[s][mode]["median"], 3) for s in names]),
            (f"{mode}: max s", [_fmt(latency[s][mode]["max"], 3) for s in names]),
            (f"{mode}: runs", [len(latency[s][mode]["values"]) for s in names]),
        ]
    db._table("== 2. completion latency (ours | upstream)", rows, names)
    for side in names:
        for mode in MODES:
            print(f"  {side} {mode}: " + ", ".join(f"{v:.3f}" for v in latency[side][mode]["values"]))
    print(flush=True)


# ---------------------------------------------------------------------------------- figure 3: scale


def figure_scale(cluster: Any, sides: list[db.Side], plan: Plan, figures: dict[str, Any]) -> None:
    print(f"== 3. triggerer scale: N = {', '.join(map(str, plan.counts))}", flush=True)
    options = argparse.Namespace(counts=plan.counts, warmup=plan.warmup, window=plan.window, raw={})
    raw = db.scenario_scale(cluster, sides, options)
    scale: dict[str, Any] = {}
    for count, by_side in raw.items():
        scale[count] = {}
        for side, result in by_side.items():
            if not result or "steady_stats" not in result:
                continue
            scale[count][side] = {
                "cpu_s_per_min": result["steady_cpu_s"] / result["window_s"] * 60,
                "requests_per_s": sum(result["steady_stats"].values()) / result["window_s"],
                "peak_rss_mib": result["peak_rss_kib"] / 1024,
                "worst_lag_s": result["lag_steady"]["max"],
            }
    figures["scale"], figures["scale_raw"] = scale, raw


# ---------------------------------------------------------------------------- figure 4: log throughput


def figure_log(sides: list[db.Side], plan: Plan, workdir: Path, figures: dict[str, Any]) -> None:
    print(f"== 4. log throughput: {plan.flood_lines:,} lines, synchronous", flush=True)
    run = {"label": "flood", "seconds": 0, "kind": "log", "deferrable": False, "xcom": False}
    results = _run_rounds(sides, [[{**run, "flood_lines": plan.flood_lines}]], workdir)
    names = [s.name for s in sides]
    out: dict[str, Any] = {}
    for side in names:
        found = results[side][0] if results[side] else None
        if not found or found.get("start_time") is None or found.get("execute_end") is None:
            continue
        seconds = float(found["execute_end"]) - float(found["start_time"])
        distinct, total = _flood_lines(found["log"])
        out[side] = {
            "lines_per_s": plan.flood_lines / seconds,
            "seconds": seconds,
            "container_s": (found["exit_time"] or found["start_time"]) - found["start_time"],
            "lines_distinct": distinct,
            "lines_total": total,
            "task_state": found["task_state"] or found["state"],
            "peak_rss_mib": found["peak_rss_kib"] / 1024,
            "rss_before_mib": found["rss_before_kib"] / 1024,
        }
    figures["log"] = out

    def cell(side: str, key: str, fmt: str = "{}") -> str:
        return fmt.format(out[side][key]) if side in out else "n/a"

    rows = [
        ("lines/s (container start -> verdict)", [cell(s, "lines_per_s", "{:,.0f}") for s in names]),
        ("seconds", [cell(s, "seconds", "{:.1f}") for s in names]),
        ("container printing took s", [cell(s, "container_s", "{:.1f}") for s in names]),
        ("distinct lines in the task log", [cell(s, "lines_distinct", "{:,}") for s in names]),
        ("lines in the task log", [cell(s, "lines_total", "{:,}") for s in names]),
        ("task state", [cell(s, "task_state") for s in names]),
        ("peak RSS of the task process MiB", [cell(s, "peak_rss_mib", "{:.0f}") for s in names]),
        ("RSS before the task MiB", [cell(s, "rss_before_mib", "{:.0f}") for s in names]),
    ]
    db._table("== 4. log throughput (ours | upstream)", rows, names)


def _flood_lines(log_path: str) -> tuple[int, int]:
    seen: set[str] = set()
    total = 0
    pattern = re.compile(r"fflood (\d+)\b")
    with open(log_path, errors="replace") as fh:
        for line in fh:
            for number in pattern.findall(line):
                seen.add(number)
                total += 1
    return len(seen), total


# ------------------------------------------------------------------------------- figure 5: parse cost


PARSE_DAG = """\
from airflow.sdk import DAG
from {module} import KubernetesPodOperator

with DAG("parse_bench", schedule=None) as dag:
    for i in range({tasks}):
        KubernetesPodOperator(
            task_id=f"pod_{{i}}",
            name=f"pod-{{i}}",
            namespace="default",
            image="busybox:1.36",
            cmds=["sh", "-c"],
            arguments=["echo {{{{ ds }}}} $NAME"],
            env_vars={{"NAME": f"task-{{i}}"}},
            labels={{"team": "bench"}},
            container_resources=None,
            do_xcom_push=i % 2 == 0,
            get_logs=True,
        )
"""

PARSE_CHILD = """\
import json, runpy, sys, time
kind, target = sys.argv[1], sys.argv[2]
wall, cpu = time.perf_counter(), time.process_time()
tasks = None
if kind == "dag":
    tasks = len(runpy.run_path(target)["dag"].tasks)
else:
    __import__(target)
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "tasks": tasks}))
"""


def figure_parse(sides: list[db.Side], plan: Plan, workdir: Path, figures: dict[str, Any]) -> None:
    live = [s for s in sides if not s.unavailable]
    print(f"== 5. DAG parse cost: {plan.parse_rounds} interleaved rounds", flush=True)
    folder = workdir / "parse"
    folder.mkdir(exist_ok=True)
    jobs = []
    for side in live:
        dag_file = folder / f"dag_{side.name}.py"
        dag_file.write_text(PARSE_DAG.format(module=db.OPERATOR_MODULE[side.name], tasks=PARSE_TASKS))
        env = side.env()  # with its own bytecode cache (PYTHONPYCACHEPREFIX)
        targets = {"sdk": "airflow.sdk", "import": db.OPERATOR_MODULE[side.name], "dag": str(dag_file)}
        jobs += [(side, kind, targets[kind], env) for kind in plan.parse_kinds]
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}

    def one(side: db.Side, kind: str, target: str, env: dict[str, str]) -> dict[str, Any] | None:
        side.home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [side.python, "-c", PARSE_CHILD, "import" if kind != "dag" else "dag", target],
            env=env,
            cwd=side.home,
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode or not lines:
            print(f"  [{side.name}] {kind} failed ({done.returncode}):")
            print(textwrap.indent(done.stderr[-2000:], "    | "), flush=True)
            return None
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    for job in jobs:  # warm-up: the DAG file compiles all the bytecode into each side's cache; not counted
        if job[1] == "dag":
            one(*job)
    for index in range(plan.parse_rounds):
        shift = index % len(jobs)
        for side, kind, target, env in jobs[shift:] + jobs[:shift]:
            result = one(side, kind, target, env)
            if result is not None:
                if kind == "dag" and result["tasks"] != PARSE_TASKS:
                    print(f"  [{side.name}] the DAG file had {result['tasks']} tasks, not {PARSE_TASKS}")
                    continue
                samples.setdefault((side.name, kind), []).append(result)
    out: dict[str, Any] = {}
    for side in live:
        base = samples.get((side.name, "sdk"))
        if not base:
            continue
        base_cpu = statistics.median(r["cpu"] for r in base)
        base_wall = statistics.median(r["wall"] for r in base)
        out[side.name] = {"sdk": {"cpu_s": base_cpu, "wall_s": base_wall, "runs": len(base)}}
        for kind in ("import", "dag"):
            runs = samples.get((side.name, kind))
            if not runs:
                continue
            cpu = statistics.median(r["cpu"] for r in runs)
            wall = statistics.median(r["wall"] for r in runs)
            out[side.name][kind] = {
                "cpu_s": cpu,
                "wall_s": wall,
                "extra_cpu_s": cpu - base_cpu,
                "extra_wall_s": wall - base_wall,
                "runs": len(runs),
            }
    figures["parse"] = out
    names = [s.name for s in sides]

    def cell(side: str, kind: str, key: str) -> str:
        value = out.get(side, {}).get(kind, {}).get(key)
        return "n/a" if value is None else f"{value:.3f}"

    rows = [
        ("import airflow.sdk: CPU s", [cell(s, "sdk", "cpu_s") for s in names]),
        ("import airflow.sdk: wall s", [cell(s, "sdk", "wall_s") for s in names]),
        ("operator module: extra CPU s", [cell(s, "import", "extra_cpu_s") for s in names]),
        ("operator module: extra wall s", [cell(s, "import", "extra_wall_s") for s in names]),
        (f"DAG of {PARSE_TASKS} tasks: extra CPU s", [cell(s, "dag", "extra_cpu_s") for s in names]),
        (f"DAG of {PARSE_TASKS} tasks: extra wall s", [cell(s, "dag", "extra_wall_s") for s in names]),
    ]
    db._table(f"== 5. DAG parse cost, medians of {plan.parse_rounds} (ours | upstream)", rows, names)


# -------------------------------------------------------------------------------------------- main


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _figure_list(text: str) -> list[int]:
    chosen = [int(x) for x in text.split(",") if x.strip()]
    unknown = set(chosen) - set(FIGURES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown figure(s) {sorted(unknown)}; choose from 1-5")
    return chosen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a reduced run of all five figures (< 10 min)")
    parser.add_argument(
        "--figures", type=_figure_list, default=list(FIGURES), help="which figures, e.g. 1,2,5 (default: all)"
    )
    parser.add_argument(
        "--upstream-python",
        default=os.environ.get("K8SPOD_UPSTREAM_PYTHON"),
        help="an interpreter with upstream's provider (default: .venv-upstream, created when absent)",
    )
    parser.add_argument("--sides", type=lambda t: t.split(","), default=list(db.SIDES), help="ours,upstream")
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (child logs)")
    args = parser.parse_args(argv)
    unknown = set(args.sides) - set(db.SIDES)
    if unknown or not args.sides:
        parser.error(f"unknown side(s): {', '.join(sorted(unknown))}; choose from {', '.join(db.SIDES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    from airflow_provider_k8spod.testing import LocalCluster

    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    figures: dict[str, Any] = {}
    try:
        with LocalCluster(namespaces=(db.NAMESPACE, db.SCALE_NAMESPACE)) as cluster:
            sides = db.make_sides(
                cluster,
                args.sides,
                args.upstream_python,
                workdir,
                dagtests=bool({1, 2, 4} & set(args.figures)),
            )
            figures["versions"] = {s.name: s.versions or s.unavailable for s in sides}
            figures["started"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
            steps: list[tuple[set[int], Any]] = [
                ({5}, lambda: figure_parse(sides, plan, workdir, figures)),
                ({1, 2}, lambda: figures_requests_latency(sides, plan, workdir, figures)),
                ({4}, lambda: figure_log(sides, plan, workdir, figures)),
                ({3}, lambda: figure_scale(cluster, sides, plan, figures)),
            ]
            for wanted, step in steps:
                if wanted & set(args.figures):
                    step_began = time.monotonic()
                    try:
                        step()
                    except Exception as exc:  # a benchmark reports, it does not stop: that figure is null
                        print(
                            f"   figure(s) {sorted(wanted)} failed: {type(exc).__name__}: {exc}", flush=True
                        )
                    print(f"   ({time.monotonic() - step_began:.0f} s)", flush=True)
    finally:
        figures["seconds"] = time.monotonic() - began
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1, default=str))
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"all done in {figures['seconds'] / 60:.1f} min", flush=True)
    print(json.dumps(summary(figures)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
