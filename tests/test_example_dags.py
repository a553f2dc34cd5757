"""Every example DAG runs end to end against the local cluster and does what its docstring says."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_k8spod.testing import Node, Taint

EXAMPLES = Path(__file__).parent.parent / "example_dags"


def run_example(run_dag, name: str):
    return run_dag((EXAMPLES / f"{name}.py").read_text())


def test_example_pod_run(local_cluster_connection, run_dag):
    result = run_example(run_dag, "example_pod_run")
    assert result.task_states == {"hello": "success", "compute": "success", "report": "success"}
    assert "[base] hello world" in result.log
    day = result.xcom("compute")["day"]
    assert result.xcom("compute") == {"rows": 42, "day": day}
    assert f"[base] report: 42 rows on {day}" in result.log
    assert local_cluster_connection.pods() == []


def test_example_hello_world(local_cluster_connection, run_dag):
    result = run_example(run_dag, "example_hello_world")
    assert result.state == "failed"
    assert result.task_states == {"passing": "success", "failing": "failed"}
    assert "[base] hello world" in result.log
    assert "[base] about to fail" in result.log
    assert "exit code 3" in result.log
    assert local_cluster_connection.pods() == []


def test_example_xcom_multiple_outputs(local_cluster_connection, run_dag):
    result = run_example(run_dag, "example_xcom_multiple_outputs")
    assert result.task_states == {"stats": "success", "report": "success"}
    assert result.xcom("stats", "rows") == 42
    assert result.xcom("stats", "table") == "events"
    assert "[base] events has 42 rows" in result.log
    assert local_cluster_connection.pods() == []


def test_example_pod_template(local_cluster_connection, run_dag):
    result = run_example(run_dag, "example_pod_template")
    assert result.task_states == {"from_manifest": "success", "overridden": "success"}
    assert "[base] level=debug region=eu-west-1" in result.log
    assert "[base] level=info region=eu-west-1" in result.log
    assert local_cluster_connection.pods() == []


def test_example_deferrable(local_cluster_connection, run_dag):
    result = run_example(run_dag, "example_deferrable")
    assert result.task_states == {"wait_and_count": "success"}
    assert "Deferring: the triggerer follows pod" in result.log
    assert "[base] slept, counting" in result.log
    assert result.xcom("wait_and_count") == {"count": 7}
    assert local_cluster_connection.pods() == []


def test_example_dynamic_mapping(local_cluster_connection, run_dag):
    result = run_example(run_dag, "example_dynamic_mapping")
    assert result.task_states == {"shard[0]": "success", "shard[1]": "success", "shard[2]": "success"}
    assert [result.xcom(f"shard[{i}]") for i in range(3)] == ["eu", "us", "apac"]
    for shard in ("eu", "us", "apac"):
        assert f"[base] processing {shard}" in result.log
    assert local_cluster_connection.pods() == []


def test_example_init_and_sidecar(local_cluster_connection, run_dag):
    result = run_example(run_dag, "example_init_and_sidecar")
    assert result.task_states == {"job": "success"}
    assert "[prepare] init done" in result.log
    assert "[base] main read: prepared" in result.log
    assert "[proxy] proxy up" in result.log
    assert "[proxy] proxy stopping" in result.log  # stopped by SIGTERM once the main container ended
    wait_until_gone(local_cluster_connection)


@pytest.mark.local_cluster(
    nodes=[
        Node("general-1"),
        Node("batch-hdd", labels={"pool": "batch"}, taints=[Taint("dedicated", "batch")]),
        Node("batch-ssd", labels={"pool": "batch", "disktype": "ssd"}, taints=[Taint("dedicated", "batch")]),
    ]
)
def test_example_scheduling(local_cluster_connection, run_dag):
    result = run_example(run_dag, "example_scheduling")
    assert result.task_states == {"placed": "success"}
    assert "[base] running on batch-ssd" in result.log
    assert local_cluster_connection.pods() == []


def test_example_secrets_and_configmaps(local_cluster_connection, run_dag):
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
    result = run_example(run_dag, "example_secrets_and_configmaps")
    assert result.task_states == {"configured": "success"}
    assert "[base] password has 6 chars" in result.log
    assert "[base] file password has 6 bytes" in result.log
    assert "[base] level=debug" in result.log
    assert "[base] retries = 3" in result.log
    assert local_cluster_connection.pods() == []


def wait_until_gone(cluster, timeout: float = 30.0) -> None:
    """Pod deletion finishes once the sidecar has exited."""
    import time

    deadline = time.monotonic() + timeout
    while cluster.pods() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster.pods() == []
