"""The classic pair: a pod that prints "hello world" and succeeds, and a pod that fails.

The failing task's log says why in Kubernetes terms (the container's exit code), and both pods are
deleted at the end (``on_finish_action="delete_pod"``, the default).
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

with DAG(
    dag_id="example_hello_world",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    passing = KubernetesPodOperator(
        task_id="passing",
        image="python:3.12-slim",
        cmds=["python", "-c"],
        arguments=["print('hello world')"],
    )

    failing = KubernetesPodOperator(
        task_id="failing",
        image="python:3.12-slim",
        cmds=["python", "-c"],
        arguments=["import sys; print('about to fail'); sys.exit(3)"],
    )
