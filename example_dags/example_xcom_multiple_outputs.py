"""XCom from a pod: the container writes JSON to /airflow/xcom/return.json.

With ``multiple_outputs=True`` each key of that JSON object becomes its own XCom, so downstream tasks
can template ``ti.xcom_pull('stats', key='rows')`` or take ``stats.output['rows']``.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

WRITE_STATS = """
import json, os
os.makedirs('/airflow/xcom', exist_ok=True)
with open('/airflow/xcom/return.json', 'w') as f:
    json.dump({'rows': 42, 'table': 'events'}, f)
"""

with DAG(
    dag_id="example_xcom_multiple_outputs",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    stats = KubernetesPodOperator(
        task_id="stats",
        image="python:3.12-slim",
        cmds=["python", "-c", WRITE_STATS],
        do_xcom_push=True,
        multiple_outputs=True,
    )

    report = KubernetesPodOperator(
        task_id="report",
        image="busybox:1.36",
        cmds=["sh", "-c"],
        arguments=[
            "echo \"{{ ti.xcom_pull('stats', key='table') }} has {{ ti.xcom_pull('stats', key='rows') }} rows\""
        ],
    )

    stats >> report
