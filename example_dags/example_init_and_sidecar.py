"""An init container that prepares a shared volume, and a sidecar that runs next to the main container.

The sidecar is a native one (an init container with ``restartPolicy: Always``, Kubernetes 1.29+): it
starts before the main container, keeps running beside it, and is stopped when the main container ends,
so it never holds the task. ``init_container_logs`` and ``container_logs`` add their lines to the task log.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG
from kubernetes.client import models as k8s

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

with DAG(
    dag_id="example_init_and_sidecar",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    workspace = k8s.V1VolumeMount(name="workspace", mount_path="/workspace")

    job = KubernetesPodOperator(
        task_id="job",
        image="busybox:1.36",
        cmds=["sh", "-c", "echo main read: $(cat /workspace/config.txt)"],
        volumes=[k8s.V1Volume(name="workspace", empty_dir=k8s.V1EmptyDirVolumeSource())],
        volume_mounts=[workspace],
        init_containers=[
            k8s.V1Container(
                name="prepare",
                image="busybox:1.36",
                command=["sh", "-c", "echo prepared > /workspace/config.txt; echo init done"],
                volume_mounts=[workspace],
            ),
            k8s.V1Container(
                name="proxy",
                image="busybox:1.36",
                restart_policy="Always",
                # A well-behaved sidecar exits on SIGTERM instead of holding the pod for its grace period.
                command=[
                    "sh",
                    "-c",
                    "trap 'echo proxy stopping; exit 0' TERM; echo proxy up; sleep 3600 & wait",
                ],
            ),
        ],
        init_container_logs=True,
        termination_grace_period=2,
    )
