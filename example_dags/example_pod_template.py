"""A pod from a YAML manifest, with operator arguments overriding it.

The manifest comes first; every argument passed to the operator wins over it (containers are matched by
name, env vars by name). Use ``pod_template_file="pod.yaml"`` for a file next to the DAG, or
``pod_template_dict`` for a dict or a YAML string as here.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

MANIFEST = """
apiVersion: v1
kind: Pod
metadata:
  labels:
    app: nightly-job
spec:
  containers:
    - name: base
      image: busybox:1.36
      command: ["sh", "-c", "echo level=$LOG_LEVEL region=$REGION"]
      env:
        - {name: LOG_LEVEL, value: debug}
        - {name: REGION, value: eu-west-1}
"""

with DAG(
    dag_id="example_pod_template",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    from_manifest = KubernetesPodOperator(
        task_id="from_manifest",
        pod_template_dict=MANIFEST,
    )

    # LOG_LEVEL is replaced by name, REGION is kept from the manifest, and the labels are merged.
    overridden = KubernetesPodOperator(
        task_id="overridden",
        pod_template_dict=MANIFEST,
        env_vars={"LOG_LEVEL": "info"},
        labels={"team": "data"},
    )
