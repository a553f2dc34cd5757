"""Running pods: a three-task pipeline with logs, an XCom result and templating, next to a task that
fails and one that is skipped, to show what each outcome looks like.

``missing_command`` asks for a command its image does not have: the container never starts (reason
``StartError``, exit code 128, the runtime's message) and the task fails with that reason. ``nothing_to_do``
exits with 99, which ``skip_on_exit_code`` turns into a skipped task. Every pod is deleted at the end.

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

    missing_command = KubernetesPodOperator(
        task_id="missing_command",
        image="busybox:1.36",
        cmds=["no-such-command"],
        # The failure is logged with its reason, the container's state and the warning events; the whole
        # pod as YAML (logged by default, as upstream does) would add a hundred lines to it.
        log_pod_spec_on_failure=False,
    )

    nothing_to_do = KubernetesPodOperator(
        task_id="nothing_to_do",
        image="busybox:1.36",
        cmds=["sh", "-c"],
        arguments=["echo 'no new files today'; exit 99"],
        skip_on_exit_code=99,
    )
