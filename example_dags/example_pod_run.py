"""Running pods: a three-task pipeline with logs, an XCom result and templating.

Run it against the project's local cluster (no Kubernetes needed)::

    bash scripts/demo.sh

or against your own cluster by pointing the ``kubernetes_default`` connection at it.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

with DAG(
    dag_id="example_pod_run",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    hello = KubernetesPodOperator(
        task_id="hello",
        image="python:3.12-slim",
        cmds=["python", "-c"],
        arguments=["print('hello world')"],
    )

    compute = KubernetesPodOperator(
        task_id="compute",
        image="python:3.12-slim",
        cmds=["python", "-c"],
        arguments=[
            "import json, os\n"
            "rows = sum(1 for _ in range(42))\n"
            "print(f'counted {rows} rows')\n"
            "os.makedirs('/airflow/xcom', exist_ok=True)\n"
            "json.dump({'rows': rows, 'day': os.environ['DAY']}, open('/airflow/xcom/return.json', 'w'))\n"
        ],
        env_vars={"DAY": "{{ ds }}"},
        do_xcom_push=True,
    )

    report = KubernetesPodOperator(
        task_id="report",
        image="busybox:1.36",
        cmds=["sh", "-c"],
        arguments=["echo \"report: {{ ti.xcom_pull('compute')['rows'] }} rows on {{ ds }}\""],
        on_finish_action="delete_succeeded_pod",
    )

    hello >> compute >> report
