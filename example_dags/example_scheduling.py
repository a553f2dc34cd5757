"""Resources, node selector, tolerations and affinity: where a pod runs and what it may use.

The pod asks for CPU and memory, must land on a node labelled ``pool=batch`` (node selector) with
``disktype=ssd`` (node affinity, which also takes ``In``/``NotIn``/``Exists`` and preferences), and tolerates the ``dedicated=batch:NoSchedule`` taint that keeps
other pods off those nodes. Dicts in Kubernetes' camelCase or ``kubernetes.client`` models both work.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG
from kubernetes.client import models as k8s

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

with DAG(
    dag_id="example_scheduling",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    placed = KubernetesPodOperator(
        task_id="placed",
        image="python:3.12-slim",
        cmds=["python", "-c", "import os; print('running on', os.environ['NODE_NAME'])"],
        # The downward API tells the container which node it was scheduled on.
        env_vars=[{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "100m", "memory": "64Mi"},
            limits={"memory": "128Mi"},
        ),
        node_selector={"pool": "batch"},
        tolerations=[k8s.V1Toleration(key="dedicated", operator="Equal", value="batch", effect="NoSchedule")],
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]}
                    ]
                }
            }
        },
    )
