"""The README demo: run example_dags/example_pod_run.py with the real Airflow against the local cluster.

Everything is temporary: an Airflow home with a sqlite database, a local Kubernetes cluster whose
containers are processes on this machine. At the end it prints what a user would look at: the task
states, the XCom result, and the pods left in the cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="k8spod-demo-airflow-"))
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "example_dags" / "example_pod_run.py", dags / "example_pod_run.py")
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }
    )
    try:
        print("== setting up a throw-away Airflow database", flush=True)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

        from airflow_provider_k8spod.testing import LocalCluster

        with LocalCluster() as cluster:
            print(f"== local cluster ready at {cluster.server_url}", flush=True)
            os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = cluster.airflow_connection("default")

            sys.path.insert(0, str(dags))
            import example_pod_run

            print("== the pod of task 'compute', as dry_run() shows it", flush=True)
            example_pod_run.compute.dry_run()

            print("== running the DAG with dag.test()", flush=True)
            dagrun = example_pod_run.dag.test()

            from airflow.models import TaskInstance
            from airflow.models.xcom import XComModel
            from airflow.utils.session import create_session

            with create_session() as session:
                tis = session.query(TaskInstance).filter_by(run_id=dagrun.run_id).all()
                states = {ti.task_id: str(ti.state) for ti in tis}
                row = (
                    session.query(XComModel)
                    .filter_by(run_id=dagrun.run_id, task_id="compute", key="return_value")
                    .one_or_none()
                )
                result = XComModel.deserialize_value(row) if row is not None else None
            print()
            print("== summary")
            print(f"dag run: {dagrun.state}")
            for task_id in ("hello", "compute", "report"):
                print(f"  {task_id:8} {states.get(task_id)}")
            print(f"XCom of 'compute': {result}")
            print(f"pods left in the cluster: {[p['metadata']['name'] for p in cluster.pods()] or 'none'}")
            return 0 if str(dagrun.state) == "success" else 1
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
