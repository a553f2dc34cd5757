"""Every example DAG runs end to end against the local cluster, in both modes, and does what it says.

One table: for each DAG file, the task states, log lines and XComs a user would check. The mode (sync or
deferrable) is the Airflow-wide default (``[operators] default_deferrable``), so the same DAG file runs
both ways unchanged; ``example_deferrable`` asks for deferrable mode itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_k8spod.testing import Node, Taint

EXAMPLES = Path(__file__).parent.parent / "example_dags"

BATCH_NODES = pytest.mark.local_cluster(
    nodes=[
        Node("general-1"),
        Node("batch-hdd", labels={"pool": "batch"}, taints=[Taint("dedicated", "batch")]),
        Node("batch-ssd", labels={"pool": "batch", "disktype": "ssd"}, taints=[Taint("dedicated", "batch")]),
    ]
)

# name: (task states, log lines, XComs {(task, key): value})
CASES: dict[str, tuple[dict[str, str], list[str], dict[tuple[str, str], Any]]] = {
    "example_hello_world": (
        {"passing": "success", "failing": "failed"},
        ["[base] hello world", "[base] about to fail", "container 'base' terminated with exit code 3"],
        {},
    ),
    "example_xcom_multiple_outputs": (
        {"stats": "success", "report": "success"},
        ["[base] events has 42 rows"],
        {("stats", "rows"): 42, ("stats", "table"): "events"},
    ),
    "example_pod_template": (
        {"from_manifest": "success", "overridden": "success"},
        ["[base] level=debug region=eu-west-1", "[base] level=info region=eu-west-1"],
        {},
    ),
    "example_deferrable": (
        {"wait_and_count": "success"},
        ["Deferring: the triggerer follows pod", "[base] slept, counting"],
        {("wait_and_count", "return_value"): {"count": 7}},
    ),
    "example_dynamic_mapping": (
        {"shard[0]": "success", "shard[1]": "success", "shard[2]": "success"},
        ["[base] processing eu", "[base] processing us", "[base] processing apac"],
        {
            ("shard[0]", "return_value"): "eu",
            ("shard[1]", "return_value"): "us",
            ("shard[2]", "return_value"): "apac",
        },
    ),
    "example_init_and_sidecar": (
        {"job": "success"},
        # Not "[proxy] proxy stopping": the sidecar prints it on SIGTERM while the pod is deleted, after the
        # main container ended; whether the log follower still reads it then is a race in either mode.
        ["[prepare] init done", "[base] main read: prepared", "[proxy] proxy up"],
        {},
    ),
    "example_kubernetes_decorator": (
        {"count_rows": "success", "report": "success"},
        ["[base] counting events over 3 days", "[base] events has 123 rows (2"],
        {("count_rows", "rows"): 123, ("count_rows", "mean"): 41},
    ),
    "example_scheduling": ({"placed": "success"}, ["[base] running on batch-ssd"], {}),
    "example_secrets_and_configmaps": (
        {"configured": "success"},
        [
            "[base] password has 6 chars",
            "[base] file password has 6 bytes",
            "[base] level=debug",
            "[base] retries = 3",
        ],
        {},
    ),
}


def create_secret_and_configmap() -> None:
    """What example_secrets_and_configmaps expects to find (its docstring says how with kubectl)."""
    from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

    core = KubernetesHook().core_v1_client
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "db-credentials"}, "stringData": {"password": "s3cr3t"}}
    )
    core.create_namespaced_config_map(
        "default",
        {
            "metadata": {"name": "app-settings"},
            "data": {"level": "debug", "settings.ini": "[app]\nretries = 3\n"},
        },
    )


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=BATCH_NODES) if n == "example_scheduling" else n for n in CASES]
)
def test_example_dag(name, mode, local_cluster_connection, run_dag):
    states, lines, xcoms = CASES[name]
    if name == "example_secrets_and_configmaps":
        create_secret_and_configmap()
    result = run_dag((EXAMPLES / f"{name}.py").read_text())
    assert result.task_states == states
    for line in lines:
        assert line in result.log
    assert {key: result.xcom(*key) for key in xcoms} == xcoms
    deadline = time.monotonic() + 30  # deletion is asynchronous: a sidecar gets SIGTERM first
    while local_cluster_connection.pods() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert local_cluster_connection.pods() == []


def test_every_example_is_tested():
    assert {p.stem for p in EXAMPLES.glob("example_*.py")} == {*CASES, "example_pod_run", "example_pod_spec"}


def test_example_pod_run(local_cluster_connection, run_dag):
    result = run_dag((EXAMPLES / "example_pod_run.py").read_text())
    assert result.task_states == {
        "hello": "success",
        "compute": "success",
        "report": "success",
        "missing_command": "failed",
        "nothing_to_do": "skipped",
    }
    assert "[base] hello world" in result.log
    assert "container 'base' could not start (StartError, exit code 128)" in result.log
    assert 'exec: "no-such-command": executable file not found in $PATH' in result.log
    assert "[base] no new files today" in result.log
    day = result.xcom("compute")["day"]
    assert result.xcom("compute") == {"rows": 42, "day": day}
    assert f"[base] report: 42 rows on {day}" in result.log
    assert local_cluster_connection.pods() == []
