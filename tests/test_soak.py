"""The chaos soak's pure parts (benchmarks/soak.py): its seeded fault schedule, its plan and how its figures
are computed from a record. No cluster, no Airflow process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"
_spec = importlib.util.spec_from_file_location("k8spod_soak", _PATH)
assert _spec is not None
assert _spec.loader is not None
soak = importlib.util.module_from_spec(_spec)
sys.modules["k8spod_soak"] = soak
_spec.loader.exec_module(soak)


def test_the_fault_schedule_is_a_function_of_the_seed():
    first = soak.fault_schedule(seed=7, rate=12, duration=1200)
    assert first == soak.fault_schedule(seed=7, rate=12, duration=1200)
    assert first != soak.fault_schedule(seed=8, rate=12, duration=1200)
    # About rate x minutes faults, in time order, inside the window, every kind drawn.
    assert 170 < len(first) < 310
    assert [f.at for f in first] == sorted(f.at for f in first)
    assert all(0 < f.at < 1200 for f in first)
    assert {f.kind for f in first} == set(soak.FAULT_WEIGHTS)
    assert {f.params["status"] for f in first if f.kind == "api_error"} == {429, 500, 503}
    assert soak.fault_schedule(seed=7, rate=0, duration=1200) == []


def test_the_plan_mixes_modes_xcom_failures_and_mapping_and_keeps_failures_fragile():
    specs = soak.plan_tasks(200, seed=1)
    assert len(specs) == 200
    assert len({s.key for s in specs}) == 200
    assert {s.deferrable for s in specs} == {True, False}
    assert {s.xcom for s in specs} == {True, False}
    assert any(s.map_index >= 0 for s in specs)
    assert min(s.seconds for s in specs) >= 1
    assert max(s.seconds for s in specs) <= 30
    failing = [s for s in specs if s.fail]
    assert failing
    assert all(not s.resilient and s.node == "stable" for s in failing)
    assert all(s.node == "stable" for s in specs if not s.resilient)
    source = soak.dag_source(specs)
    compile(source, "soak_dag.py", "exec")
    for part in (".expand(arguments=", "retries=3", "retries=0", "deferrable=True", "deferrable=False"):
        assert part in source


def _record(specs, **changes):
    logs = {
        s.key: "\n".join(f"[base] soak-line {i}/{s.lines}" for i in range(1, s.lines + 1))
        + ("\ncontainer 'base' failed with exit code 3" if s.fail else "")
        for s in specs
    }
    fields = {
        "states": {s.key: s.expected_state for s in specs},
        "tries": {s.key: 1 for s in specs},
        "logs": logs,
        "xcoms": {s.key: s.expected_xcom for s in specs if s.expected_xcom is not None},
        "pods_seen": {f"uid-{s.key}": (s.key, 1) for s in specs},
        "pods_left": [],
        "processes_left": 0,
    }
    fields.update(changes)
    return soak.Record(**fields)


SPECS = [
    soak.TaskSpec("a", -1, True, 2, True, False, True, None),
    soak.TaskSpec("b", -1, False, 3, False, False, False, "stable"),
    soak.TaskSpec("c", -1, False, 1, True, True, False, "stable"),
    soak.TaskSpec("m", 0, True, 2, True, False, True, None),
]


def test_a_clean_record_has_no_loss():
    figures = soak.compute_figures(SPECS, _record(SPECS))
    assert soak.losses(figures) == {}
    assert figures["tasks_in_expected_state"] == 4
    assert figures["log_lines_expected"] == 4 + 6 + 2 + 4
    assert figures["problems"] == {}


def test_each_loss_is_counted_and_named():
    record = _record(SPECS)
    record.states["b"] = "failed"
    record.logs["a"] = "soak-line 1/4\nsoak-line 2/4\nsoak-line 2/4\nsoak-line 4/4"  # 3 lost, 2 repeated
    record.logs["m[0]"] = "soak-line 2/4\nsoak-line 1/4\nsoak-line 3/4\nsoak-line 4/4"  # out of order
    record.xcoms["b"] = {"task": "b", "n": 6}  # pushed although do_xcom_push is off
    record.pods_seen["uid-2"] = ("a", 1)  # a second pod for try 1 of a
    record.pods_left.append("a-x")
    figures = soak.compute_figures(SPECS, record)
    assert soak.losses(figures) == {
        "tasks_in_wrong_state": 1,
        "log_lines_lost": 1,
        "log_lines_repeated": 1,
        "log_lines_out_of_order": 1,
        "wrong_xcom_values": 1,
        "pods_left_behind": 1,
        "tries_with_more_than_one_pod": 1,
    }
    assert set(figures["problems"]) == {"a", "b", "m[0]"}
    assert "1 of 4 lines lost (3)" in figures["problems"]["a"]


def test_a_failure_without_its_reason_and_ambiguous_tasks():
    record = _record(SPECS, ambiguous={"a"})
    record.logs["c"] = "soak-line 1/2\nsoak-line 2/2"
    record.states["a"] = "failed"  # hit more often than it has retries: not counted
    figures = soak.compute_figures(SPECS, record)
    assert soak.losses(figures) == {}
    assert figures["tasks_checked"] == 3
    assert figures["problems"] == {"c": ["the log does not name exit code 3"]}


@pytest.mark.parametrize("bad", [["--tasks", "0"], ["--rate", "-1"]])
def test_bad_arguments_are_refused(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        soak.main(bad)
    assert exit_info.value.code == 2


def test_tasks_failed_by_airflows_scheduler_are_shown_apart():
    log = (
        "[error] Executor LocalExecutor(parallelism=12) reported that the task instance <TaskInstance: soak.a "
        "soak_run [queued] ti_id=01a2> finished with state success, but the task instance's state attribute "
        "is queued. Learn more: ...\n"
        "[error] Executor LocalExecutor(parallelism=12) reported that the task instance <TaskInstance: soak.m "
        "soak_run map_index=0 [running] ti_id=01a3> finished with state failed, but the task instance's state "
        "attribute is running. Learn more: ...\n"
    )
    mismatches = soak.airflow_mismatches(log)
    assert set(mismatches) == {"a", "m[0]"}
    record = _record(SPECS, airflow_mismatch=mismatches)
    record.states["a"] = "failed"
    record.logs["a"] = ""
    figures = soak.compute_figures(SPECS, record)
    assert soak.losses(figures) == {}  # m[0] ended as expected: its mismatch changed nothing
    assert figures["tasks_disturbed_by_airflow_state_mismatch"] == ["a"]
    assert figures["tasks_checked"] == 3
    assert figures["problems"]["a"] == [
        "set apart: the scheduler's executor event finished with state success, but the task instance's "
        "state attribute is queued; then state failed, expected success; 4 of 4 lines lost (1,2,3,4)"
    ]


def test_pods_and_lines_of_a_task_disturbed_by_airflow_are_set_apart_and_crash_repeats_counted_apart(
    tmp_path,
):
    record = _record(SPECS, airflow_mismatch={"a": "executor event finished with state success, but ..."})
    record.pods_seen["uid-2"] = ("a", 1)  # the stale workload adopted nothing but made a second pod
    record.pods_left[:] = ["a-x (a try 1, Succeeded)", "b-y (b try 1, Running)"]
    record.pods_left_tasks[:] = ["a", "b"]
    # c's trigger ran on a triggerer that was SIGKILLed (job 4), then again on job 5.
    folder = tmp_path
    (folder / "attempt=1.log").write_text("")
    (folder / "attempt=1.log.trigger.4.log").write_text("soak-line 1/2\n")
    (folder / "attempt=1.log.trigger.5.log").write_text("soak-line 1/2\nsoak-line 2/2\n")
    paths = sorted(folder.iterdir())
    assert soak._repeated_after_crash(paths, crashed={4}) == 1
    assert soak._repeated_after_crash(paths, crashed={5}) == 0
    record.logs["c"] = "soak-line 1/2\nsoak-line 1/2\nsoak-line 2/2\ncontainer 'base' failed with exit code 3"
    record.crash_repeats["c"] = 1
    figures = soak.compute_figures(SPECS, record)
    assert soak.losses(figures) == {"pods_left_behind": 1}
    assert figures["tasks_disturbed_by_airflow_state_mismatch"] == ["a"]
    assert figures["pods_left"] == ["b-y (b try 1, Running)"]
    assert figures["pods_left_of_tasks_set_apart"] == ["a-x (a try 1, Succeeded)"]
    assert figures["log_lines_repeated_after_triggerer_crash"] == 1
    record.processes_left = 2  # a's pod still runs a process (its XCom sidecar); one of a pod that is gone
    record.processes_left_tasks[:] = ["a", None]
    figures = soak.compute_figures(SPECS, record)
    assert (figures["processes_left_behind"], figures["processes_left_of_tasks_set_apart"]) == (1, 1)
    assert figures["log_lines_repeated"] == 0


def test_lines_the_triggerer_wrote_to_its_own_log_are_counted_apart_not_lost():
    log = (
        "2026-12-02T00:58:55.72Z [info     ] [base] soak-line 2/2          [airflow_provider_k8spod.triggers.pod."
        "KubernetesPodTrigger] dag_id=soak loc=triggerer_job_runner.py:1046 map_index=0 run_id=soak_run "
        "task_id=m ti_id=01a2 try_number=1\n"
        "2026-12-02T00:58:55.72Z [info     ] [base] soak-line 1/2          [x] dag_id=soak map_index=-1 "
        "run_id=soak_run task_id=a ti_id=01a3 try_number=2\n"  # a's earlier try: not its final one
    )
    misrouted = soak.misrouted_lines(log, {"m[0]": 1, "a": 1})
    assert misrouted == {"m[0]": {2}}
    record = _record(SPECS, misrouted=misrouted)
    record.logs["m[0]"] = "soak-line 1/4\nsoak-line 3/4\nsoak-line 4/4"
    figures = soak.compute_figures(SPECS, record)
    assert soak.losses(figures) == {}
    assert figures["log_lines_misrouted_by_airflow_triggerer"] == 1
