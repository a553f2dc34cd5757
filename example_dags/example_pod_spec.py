"""Describing pods with KubernetesPodOperator: arguments, models, a manifest, templates and XCom.

Try it without a cluster::

    python example_dags/example_pod_spec.py

prints the pod each task would create (``dry_run()``). See docs/pod-spec.md.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG
from kubernetes.client import models as k8s

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
from airflow_provider_k8spod.secret import Secret

# A pod template as it would live in a file next to the DAG (pod_template_file=...) or in a ConfigMap.
REPORT_TEMPLATE = """
apiVersion: v1
kind: Pod
metadata:
  labels:
    app: report
spec:
  hostNetwork: true
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: report
      image: python:3.12-slim
      env:
        - {name: LOG_LEVEL, value: debug}
        - {name: REGION, value: eu-west-1}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
"""

with DAG(
    dag_id="example_pod_spec",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    params={"memory": "256Mi"},
    default_args={"namespace": "default", "labels": {"team": "data"}},
    tags=["example", "k8spod"],
) as dag:
    # Plain arguments, dicts in either case and kubernetes.client models, with templates inside them.
    extract = KubernetesPodOperator(
        task_id="extract",
        image="python:3.12-slim",
        cmds=["python", "-c"],
        arguments=["import json, os; print('extracting', os.environ['DAY'])"],
        env_vars={"DAY": "{{ ds }}", "OUTPUT": "/data/{{ ds_nodash }}.json"},
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "250m", "memory": "{{ params.memory }}"},
            limits={"memory": "{{ params.memory }}"},
        ),
        volumes=[{"name": "data", "empty_dir": {"size_limit": "1Gi"}}],
        volume_mounts=[k8s.V1VolumeMount(name="data", mount_path="/data")],
        secrets=[Secret("env", "API_TOKEN", "extract-credentials", "token")],
        tolerations=[{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
    )

    # A manifest plus arguments: the manifest first, then every argument passed wins.
    # hostnetwork=False turns off the template's hostNetwork: true; LOG_LEVEL is replaced by name.
    report = KubernetesPodOperator(
        task_id="report",
        pod_template_dict=REPORT_TEMPLATE,
        hostnetwork=False,
        env_vars={"LOG_LEVEL": "info"},
        arguments=["--day", "{{ ds }}"],
        do_xcom_push=True,
    )

    # One pod per element, each with its own name and map_index label.
    shards = KubernetesPodOperator.partial(task_id="shard", image="busybox:1.36", cmds=["echo"]).expand(
        arguments=[["shard-0"], ["shard-1"], ["shard-2"]]
    )

    extract >> report >> shards


if __name__ == "__main__":
    for task in (extract, report):
        print(f"# --- {task.task_id} ---")
        task.dry_run()
