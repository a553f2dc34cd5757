"""``airflow k8spod cleanup-pods`` through the real ``airflow`` entry point (a subprocess), against the
local cluster and the real metadata database: only our pods whose task instance no longer runs go."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_k8spod.hooks.kubernetes import KubernetesHook
from airflow_provider_k8spod.pod.identity import TaskIdentity, identity_annotations, identity_labels

DAG_SOURCE = """
import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("cleanup_cli", schedule=None, start_date=datetime.datetime(2024, 1, 1)) as dag:
    for task_id in ("done", "busy", "waiting", "retrying"):
        EmptyOperator(task_id=task_id)
"""


def _set_ti(dag_id: str, run_id: str, task_id: str, state: str, try_number: int) -> None:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).one()
        ti.state = state
        ti.try_number = try_number


def _pod(name: str, identity: TaskIdentity, *, ours: bool = True, kept: bool = False) -> dict[str, Any]:
    labels = identity_labels(identity)
    if kept:
        labels["already_checked"] = "True"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": labels,
            "annotations": identity_annotations(identity) if ours else {},
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "base", "image": "busybox:1.36", "command": ["sleep", "300"]}],
        },
    }


def _airflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", "k8spod", "cleanup-pods", *args],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.airflow_db
def test_cleanup_pods_deletes_only_orphans(
    local_cluster_connection: Any, run_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    cluster = local_cluster_connection
    result = run_dag(DAG_SOURCE)
    assert result.task_states == dict.fromkeys(("done", "busy", "waiting", "retrying"), "success")
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run_id = session.query(DagRun).filter_by(dag_id="cleanup_cli").one().run_id
    _set_ti("cleanup_cli", run_id, "busy", "running", 1)
    _set_ti("cleanup_cli", run_id, "waiting", "deferred", 1)
    _set_ti("cleanup_cli", run_id, "retrying", "queued", 2)  # try 2 may adopt try 1's live pod

    def ident(task_id: str, try_number: int = 1, dag_id: str = "cleanup_cli") -> TaskIdentity:
        return TaskIdentity(dag_id, task_id, run_id, -1, try_number)

    pods = {
        "orphan-done": _pod("orphan-done", ident("done")),  # the task instance succeeded
        "orphan-gone": _pod("orphan-gone", ident("done", dag_id="deleted_dag")),  # no such task instance
        "running": _pod("running", ident("busy")),
        "deferred": _pod("deferred", ident("waiting")),
        "adoptable": _pod("adoptable", ident("retrying")),
        "upstream": _pod("upstream", ident("done"), ours=False),  # upstream's operator made it: not ours
        "kept": _pod("kept", ident("done"), kept=True),  # on_finish_action=keep_pod
    }
    hook = KubernetesHook()
    try:
        for body in pods.values():
            hook.create_pod(body)
        for name in pods:
            cluster.wait_for_pod("default", name, phase="Running")

        dry = _airflow("--dry-run", "--min-age", "0")
        assert dry.returncode == 0, dry.stderr[-3000:]
        lines = dry.stdout.splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("NAMESPACE"))
        assert lines[header].split() == ["NAMESPACE", "NAME", "TASK", "TRY", "STATE", "AGE", "WHY"]
        listed = {line.split()[1]: line for line in lines[header + 1 :] if line.startswith("default ")}
        assert set(listed) == {"orphan-done", "orphan-gone"}
        assert "cleanup_cli.done (" in listed["orphan-done"]
        assert " success " in listed["orphan-done"]
        assert "the task instance is success" in listed["orphan-done"]
        assert "no such task instance" in listed["orphan-gone"]
        assert "2 pod(s) would be deleted in namespace 'default' (dry run: nothing deleted)." in dry.stdout
        assert {p["metadata"]["name"] for p in cluster.pods("default")} >= set(pods)

        # The default --min-age (5 minutes) protects pods this young (Airflow's own parser, in-process).
        from airflow.cli.cli_parser import get_parser

        args = get_parser().parse_args(["k8spod", "cleanup-pods"])
        capfd.readouterr()
        assert (args.min_age, args.conn_id, args.dry_run) == ("5m", "kubernetes_default", False)
        args.func(args)
        assert "No pod of airflow-provider-k8spod to delete in namespace 'default'." in capfd.readouterr().out

        real = _airflow("--min-age", "0s")
        assert real.returncode == 0, real.stderr[-3000:]
        assert "Deleted 2 pod(s) in namespace 'default'." in real.stdout
        for name in ("orphan-done", "orphan-gone"):
            cluster.wait_for_pod("default", name, gone=True)
        left = {p["metadata"]["name"] for p in cluster.pods("default")}
        assert left >= {"running", "deferred", "adoptable", "upstream", "kept"}

        # --verbose says why each of ours is left alone; --include-kept would take the kept pod too (and
        # --all-namespaces lists the pods of every namespace).
        args = get_parser().parse_args(
            ["k8spod", "cleanup-pods", "--dry-run", "-v", "--include-kept", "--min-age=0", "--all-namespaces"]
        )
        capfd.readouterr()
        args.func(args)
        out = capfd.readouterr().out
        assert "1 pod(s) would be deleted in every namespace (dry run: nothing deleted)." in out
        rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("default ")}
        assert set(rows) == {"running", "deferred", "adoptable", "kept"}  # never upstream's
        assert "(left alone) its try is running" in rows["running"]
        assert "(left alone) its try is deferred" in rows["deferred"]
        assert "(left alone) a live pod of try 1: try 2 (queued) may adopt it" in rows["adoptable"]
        assert "the task instance is success" in rows["kept"]
        assert "(left alone)" not in rows["kept"]
    finally:
        for name in pods:
            hook.delete_pod(name, "default", grace_period_seconds=0)
