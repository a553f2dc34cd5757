"""Dynamic task mapping over pods: one pod per element, created at run time.

``.partial()`` holds what every pod shares, ``.expand()`` what differs. Each mapped pod gets its own name
and a ``map_index`` label; each mapped task instance has its own log and XCom.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

with DAG(
    dag_id="example_dynamic_mapping",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    shards = KubernetesPodOperator.partial(
        task_id="shard",
        image="busybox:1.36",
        cmds=["sh", "-c"],
        # Each pod prints its shard and returns it as its XCom (a JSON string).
        arguments=["echo processing $SHARD; printf '\"%s\"' $SHARD > /airflow/xcom/return.json"],
        do_xcom_push=True,
    ).expand(env_vars=[{"SHARD": "eu"}, {"SHARD": "us"}, {"SHARD": "apac"}])
