"""The README demo (``scripts/demo.py``, what ``bash scripts/demo.sh`` runs after installing) runs end to end,
and its summary says what a user needs to see: each task's state with what its pod reported, the XCom
result, and that no pod was left behind."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_fixtures import _template_db

ROOT = Path(__file__).parent.parent
DEMO = ROOT / "scripts" / "demo.py"


def _demo_module() -> Any:
    spec = importlib.util.spec_from_file_location("k8spod_demo_script", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of this session's Airflow settings, no cluster."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "K8SPOD_")) and key not in ("KUBECONFIG", "PYTEST_CURRENT_TEST")
    }
    return {**env, **extra}


def _rows(block: str) -> dict[str, tuple[str, str]]:
    """``task: (state, what its pod reported)`` from one mode's block of the summary."""
    rows = {}
    for match in re.finditer(r"^  (\w+)\s+(success|failed|skipped|not run)\s+(.*)$", block, re.MULTILINE):
        rows[match[1]] = (match[2], match[3])
    return rows


def test_demo_runs_both_modes_and_summarizes_each_outcome(airflow_db: Path) -> None:
    env = _clean_env(K8SPOD_DEMO_AIRFLOW_DB=str(_template_db()))
    proc = subprocess.run(
        [sys.executable, str(DEMO)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:] + proc.stderr[-4000:]
    log, summary = out.split("== summary\n", 1)

    # The log before the summary: the pods' own lines and this provider's status lines, not Airflow's chatter.
    assert "[base] hello world" in log
    assert "[base] no new files today" in log
    assert "Deferring: the triggerer follows pod default/hello-" in log
    assert re.search(r"Pod default/missing-command-\w+ failed: container 'base' could not start", log)
    for chatter in ("[DAG TEST]", "Task instance state updated", "Filling up the DagBag", "::group::"):
        assert chatter not in log

    blocks = re.split(r"^(sync|deferrable) mode: ", summary, flags=re.MULTILINE)[1:]
    assert [blocks[0], blocks[2]] == ["sync", "deferrable"]
    for block in (blocks[1], blocks[3]):
        assert block.startswith("dag run failed (expected: a failed task fails the run)")
        rows = _rows(block)
        assert {task: state for task, (state, _) in rows.items()} == {
            "hello": "success",
            "compute": "success",
            "report": "success",
            "missing_command": "failed",
            "nothing_to_do": "skipped",
        }
        assert rows["hello"][1].endswith(": Completed, exit code 0")
        assert rows["missing_command"][1].endswith(": StartError, exit code 128")
        assert rows["nothing_to_do"][1].endswith(": Error, exit code 99 (99 is in skip_on_exit_code)")
        assert 'exec: "no-such-command": executable file not found in $PATH' in block
        assert re.search(r"XCom: \{'rows': 42, 'day': '\d{4}-\d\d-\d\d'\}", block)
    assert "pods in namespace 'default' now: none\n" in summary
    assert "pods of the demo: 10 created, 0 left\n" in summary
    assert "UNEXPECTED" not in summary


def test_demo_exits_non_zero_when_an_outcome_is_not_the_intended_one() -> None:
    demo = _demo_module()
    pod = {
        "metadata": {"name": "missing-command-x"},
        "status": {"containerStatuses": [{"name": "base", "state": {"terminated": {"exitCode": 0}}}]},
    }
    states = {**demo.EXPECTED_STATES, "missing_command": "success"}
    pods = {task: [pod] for task in states}
    _, problems = demo.summarize(
        "sync", "failed", "2024-01-01", states, {"rows": 42, "day": "2024-01-01"}, pods
    )
    assert problems == ["sync: task missing_command is success, expected failed"]
    _, problems = demo.summarize("sync", "success", "2024-01-01", demo.EXPECTED_STATES, None, {})
    assert "sync: no pod was seen for task hello" in problems
    assert "sync: XCom of compute is None, expected {'rows': 42, 'day': '2024-01-01'}" in problems
    assert "sync: the dag run is success, expected failed (missing_command fails)" in problems


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"K8SPOD_DEMO_MODES": "sync,eager"}, "K8SPOD_DEMO_MODES must list modes among sync, deferrable"),
        ({"K8SPOD_DEMO_AIRFLOW_DB": "/nonexistent/airflow.db"}, "/nonexistent/airflow.db: no such file"),
        ({"KUBECONFIG": "/nonexistent/kubeconfig"}, "KUBECONFIG names files that do not exist"),
    ],
)
def test_demo_refuses_bad_settings(env: dict[str, str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(DEMO)],
        cwd=ROOT,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
