"""A token or kubeconfig content never reaches the task log, even when a task logs them outright.

The task runs as on a worker (LocalExecutor, supervisor, task process) and the assertions read the task
log file that the worker wrote: that file is what users see in the UI.
"""

from __future__ import annotations

import json

import pytest
import yaml


@pytest.mark.serial  # real task processes (use_executor) / a deadline of seconds
def test_token_and_kubeconfig_content_are_masked_in_the_task_log(local_cluster, run_dag, monkeypatch):
    with open(local_cluster.kubeconfig_path) as f:
        kubeconfig = yaml.safe_load(f)
    content = yaml.safe_dump(kubeconfig)
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
        json.dumps({"conn_type": "k8spod", "extra": {"kube_config": content}}),
    )
    result = run_dag(
        f"""
        import json
        import pendulum
        from airflow.sdk import DAG, BaseOperator
        from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook

        TOKEN = {local_cluster.token!r}

        class Probe(BaseOperator):
            def execute(self, context):
                hook = KubernetesHook()
                ok, message = hook.test_connection()
                self.log.info("test_connection: %s %s", ok, message)
                access = hook.cluster_access
                self.log.info("access repr: %r", access)
                self.log.info("access serialized: %s", json.dumps(access.serialize()))
                self.log.info("a careless line with the token: %s", TOKEN)
                raise RuntimeError(f"failing with the token in the message: {{TOKEN}}")

        with DAG("secrets_masked", start_date=pendulum.datetime(2024, 1, 1), schedule=None) as dag:
            Probe(task_id="probe")
        """,
        use_executor=True,
    )
    assert result.task_states == {"probe": "failed"}
    assert "test_connection: True Connected to https://127.0.0.1" in result.log
    assert "a careless line with the token: ***" in result.log
    assert "failing with the token in the message: ***" in result.log
    assert local_cluster.token not in result.log
    assert content not in result.log
