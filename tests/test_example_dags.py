"""The runnable example (the README demo's DAG) works end to end against the local cluster."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).parent.parent / "example_dags" / "example_pod_run.py"


def test_example_pod_run(local_cluster_connection, run_dag):
    result = run_dag(EXAMPLE.read_text())
    assert result.task_states == {"hello": "success", "compute": "success", "report": "success"}
    assert "[base] hello world" in result.log
    day = result.xcom("compute")["day"]
    assert result.xcom("compute") == {"rows": 42, "day": day}
    assert f"[base] report: 42 rows on {day}" in result.log
    assert local_cluster_connection.pods() == []
