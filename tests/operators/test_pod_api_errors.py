"""What a task shows when the API server cannot be trusted or refuses a request: certificate verification,
credentials, RBAC on logs and events, and TLS verification turned off. End to end against the local
cluster; assertions on the task state, the task log and the pods left."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from tests.operators.kpo import dag_source


def host_connection(cluster, *, token: str, ca: bool, **extra) -> str:
    with open(cluster.kubeconfig_path) as f:
        server = yaml.safe_load(f)["clusters"][0]["cluster"]
    if ca:
        extra["ca_cert"] = base64.b64decode(server["certificate-authority-data"]).decode()
    return json.dumps({"conn_type": "k8spod", "host": server["server"], "password": token, "extra": extra})


def test_an_untrusted_certificate_fails_the_task_at_once_with_a_hint(local_cluster, monkeypatch, run_dag):
    # No ca_cert: the cluster's own CA is not trusted.
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT", host_connection(local_cluster, token=local_cluster.token, ca=False)
    )
    result = run_dag(dag_source("tls_untrusted", """image="busybox:1.36", cmds=["true"]"""))
    assert result.task_states == {"task": "failed"}
    assert "the API server's TLS certificate could not be verified (" in result.log
    assert "Give connection 'kubernetes_default' the cluster's CA certificate (extra 'ca_cert'" in result.log
    assert "'disable_verify_ssl'" in result.log
    assert "retrying in" not in result.log
    assert "cannot reach the API server" not in result.log
    assert local_cluster.pods() == []


def test_rejected_credentials_name_the_connection(local_cluster, monkeypatch, run_dag):
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT", host_connection(local_cluster, token="expired-token", ca=True)
    )
    result = run_dag(dag_source("unauthorized", """image="busybox:1.36", cmds=["true"]"""))
    assert result.task_states == {"task": "failed"}
    assert "401 Unauthorized" in result.log
    assert "the credentials of connection 'kubernetes_default' were not accepted" in result.log


def test_no_rbac_for_logs_is_one_warning_not_retries_and_the_task_still_succeeds(
    local_cluster_connection, run_dag
):
    cluster = local_cluster_connection
    cluster.forbid("get", "pods/log")
    result = run_dag(
        dag_source("no_log_rbac", """image="busybox:1.36", cmds=["sh", "-c", "sleep 4; echo done"]""")
    )
    assert result.task_states == {"task": "success"}  # logs are an aid: the task state comes from the pod
    assert cluster.stats()["get pods/log"] == 1  # 403 is never retried
    warnings = [line for line in result.log.splitlines() if "pods/log" in line and "403 Forbidden" in line]
    assert len(warnings) == 1, warnings
    assert "Not following the log of container base" in warnings[0]
    assert "needs RBAC verb 'get' on 'pods/log'" in warnings[0]
    assert cluster.pods() == []


@pytest.mark.parametrize("verb", ["list", "watch"])
def test_no_rbac_for_events_is_one_warning(local_cluster_connection, run_dag, verb):
    cluster = local_cluster_connection
    cluster.forbid(verb, "events")
    result = run_dag(
        dag_source(
            f"no_events_rbac_{verb}", """image="busybox:1.36", cmds=["sh", "-c", "sleep 2; echo done"]"""
        )
    )
    assert result.task_states == {"task": "success"}
    warnings = [line for line in result.log.splitlines() if "Cannot read the events of pod" in line]
    assert len(warnings) == 1, warnings
    assert f"needs RBAC verb '{verb}' on 'events'" in warnings[0]
    assert "[base] done" in result.log


@pytest.mark.serial  # real task processes (use_executor) / a deadline of seconds
def test_disabled_tls_verification_is_warned_about_once_per_task(local_cluster, monkeypatch, run_dag):
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
        host_connection(local_cluster, token=local_cluster.token, ca=False, disable_verify_ssl=True),
    )
    # On a worker (the task log file users read); the operator resolves its connection once per task.
    result = run_dag(
        dag_source("tls_off", """image="busybox:1.36", cmds=["sh", "-c", "echo done"], do_xcom_push=True"""),
        use_executor=True,
    )
    assert result.task_states == {"task": "success"}
    warnings = [line for line in result.log.splitlines() if "TLS verification of the API server" in line]
    assert len(warnings) == 1, warnings
    assert "is off for connection 'kubernetes_default' (disable_verify_ssl)" in warnings[0]
    assert "'ca_cert'" in warnings[0]
