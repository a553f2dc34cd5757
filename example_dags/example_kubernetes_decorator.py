"""TaskFlow in pods: ``@task.kubernetes`` runs a Python function in a pod, ``@task.kubernetes_cmd`` runs
the command a function returns.

The function's source and its (pickled) arguments go into the pod; with ``do_xcom_push=True`` its return
value comes back as the task's XCom. Import what the function needs inside it: only its own source is sent.
The image needs ``python`` (and whatever the function imports).
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, task

with DAG(
    dag_id="example_kubernetes_decorator",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    params={"table": "events"},
    tags=["example", "k8spod"],
) as dag:

    @task.kubernetes(image="python:3.12-slim", do_xcom_push=True, multiple_outputs=True)
    def count_rows(table: str, days: int) -> dict[str, object]:
        import statistics

        per_day = [40 + day for day in range(days)]
        print(f"counting {table} over {days} days", flush=True)
        return {"table": table, "rows": sum(per_day), "mean": statistics.mean(per_day)}

    @task.kubernetes_cmd(image="busybox:1.36")
    def report(table: str, rows: int) -> list[str]:
        # Runs on the worker; the list it returns is the pod's command (Jinja in it is rendered).
        return ["sh", "-c", f"echo '{table} has {rows} rows ({{{{ ds }}}})'"]

    stats = count_rows("{{ params.table }}", days=3)
    report(stats["table"], stats["rows"])
