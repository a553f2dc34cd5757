"""Deferrable mode: the worker slot is released while the pod runs; the triggerer watches it.

``deferrable=True`` per task (or ``[operators] default_deferrable = True`` in the Airflow config for all).
The task's log, XCom and cleanup are the same as in the default (sync) mode.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

with DAG(
    dag_id="example_deferrable",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    wait_and_count = KubernetesPodOperator(
        task_id="wait_and_count",
        image="python:3.12-slim",
        cmds=["python", "-c"],
        arguments=[
            "import json, os, time\n"
            "time.sleep(1)\n"
            "print('slept, counting')\n"
            "os.makedirs('/airflow/xcom', exist_ok=True)\n"
            "json.dump({'count': 7}, open('/airflow/xcom/return.json', 'w'))\n"
        ],
        do_xcom_push=True,
        deferrable=True,
        poll_interval=1,
    )
