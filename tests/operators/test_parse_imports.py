"""What a DAG file pays for at parse time: importing the operator and building pod tasks must not load the
Kubernetes clients or the pod schema (they are loaded when a pod is built or run). Measured as behaviour
(which modules get imported), in a fresh interpreter; benchmarks/run.py figure 5 measures the time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Loaded only when a pod is built, run or validated.
HEAVY = ("kubernetes", "kubernetes_asyncio", "kubernetes_validate", "aiohttp", "urllib3")

PARSE = """
import json, sys
from airflow.sdk import DAG
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

with DAG("parse_imports", schedule=None) as dag:
    for i in range(3):
        KubernetesPodOperator(
            task_id=f"t{i}", name=f"pod-{i}", image="busybox", cmds=["sh", "-c"], arguments=["echo {{ ds }}"],
            env_vars={"A": "1"}, labels={"team": "x"}, do_xcom_push=True, container_resources=None,
        )
print(json.dumps({"tasks": len(dag.tasks), "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def test_parsing_a_dag_of_pod_tasks_does_not_import_the_clients_or_the_schema(tmp_path):
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    env["AIRFLOW_HOME"] = str(tmp_path)
    code = f"HEAVY = {HEAVY!r}\n{PARSE}"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"tasks": 3, "heavy": []}
