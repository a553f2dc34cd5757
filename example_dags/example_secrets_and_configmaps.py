"""Secrets and ConfigMaps as environment variables and as files.

Expects a Secret ``db-credentials`` (key ``password``) and a ConfigMap ``app-settings`` (keys
``level`` and ``settings.ini``) in the pod's namespace, e.g.::

    kubectl create secret generic db-credentials --from-literal=password=s3cr3t
    kubectl create configmap app-settings --from-literal=level=debug --from-file=settings.ini

Secret values printed by the pod are masked in the task log when they are known to Airflow; here the
pod only prints the password's length.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG
from kubernetes.client import models as k8s

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
from airflow_provider_k8spod.secret import Secret

with DAG(
    dag_id="example_secrets_and_configmaps",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "k8spod"],
) as dag:
    configured = KubernetesPodOperator(
        task_id="configured",
        image="busybox:1.36",
        cmds=["sh", "-c"],
        arguments=[
            # (arguments are Jinja templates: shell's ${#VAR} would open a Jinja comment, so count with wc)
            'echo "password has $(printf %s "$DB_PASSWORD" | wc -c) chars"; '
            'echo "file password has $(wc -c < /etc/db/password) bytes"; '
            'echo "level=$LOG_LEVEL"; '
            "cat /etc/app/settings.ini"
        ],
        # Secret(deploy_type, deploy_target, secret, key): one key as an env var, the whole Secret as files.
        secrets=[
            Secret("env", "DB_PASSWORD", "db-credentials", "password"),
            Secret("volume", "/etc/db", "db-credentials"),
        ],
        env_vars=[
            k8s.V1EnvVar(
                name="LOG_LEVEL",
                value_from=k8s.V1EnvVarSource(
                    config_map_key_ref=k8s.V1ConfigMapKeySelector(name="app-settings", key="level")
                ),
            )
        ],
        volumes=[k8s.V1Volume(name="settings", config_map=k8s.V1ConfigMapVolumeSource(name="app-settings"))],
        volume_mounts=[k8s.V1VolumeMount(name="settings", mount_path="/etc/app", read_only=True)],
    )
