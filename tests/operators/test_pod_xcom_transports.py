"""XCom without ``pods/exec``: ``xcom_transport="termination_message"`` and ``"logs"``, end to end (dag.test
against the local cluster, both modes) with exec forbidden for the whole run. One DAG per transport, one
task per scenario: a result with multiple_outputs, a result just under and just over the transport's limit,
invalid JSON, no result file, a failed container. The connection extra says ``termination_message``; the
``logs`` DAG's tasks override it with the operator argument (which wins)."""

from __future__ import annotations

import json

import pytest

from tests.operators.kpo import HEADER

pytestmark = pytest.mark.usefixtures("mode")

WRITE = (
    "import os, sys; os.makedirs('/airflow/xcom', exist_ok=True); "
    "open('/airflow/xcom/return.json', 'w').write(sys.argv[1]); print('wrote', len(sys.argv[1]), 'bytes')"
)


def json_string_of(size: int) -> str:
    """A JSON document (a string) of exactly ``size`` bytes."""
    return json.dumps("x" * (size - 2))


def scenarios(under: int, over: int) -> dict[str, tuple[str, int]]:
    """task id -> (what return.json holds, exit code); None: no file."""
    return {
        "ok": (json.dumps({"rows": 3, "files": ["a", "b"]}), 0),
        "under": (json_string_of(under), 0),
        "over": (json_string_of(over), 0),
        "invalid": ('{"a": 1,\n "b": hello}', 0),
        "failed": (json.dumps({"partial": 7}), 2),
    }


def dag(dag_id: str, kwargs: str, under: int, over: int) -> str:
    tasks = []
    for task_id, (content, code) in scenarios(under, over).items():
        command = WRITE + (f"; sys.exit({code})" if code else "")
        extra = ", multiple_outputs=True" if task_id == "ok" else ""
        tasks.append(
            f"    KubernetesPodOperator(task_id={task_id!r}, image='python:3.11-slim', do_xcom_push=True, "
            f"cmds=['python', '-c', {command!r}, {content!r}]{extra}, {kwargs})"
        )
    tasks.append(
        f"    KubernetesPodOperator(task_id='missing', image='python:3.11-slim', do_xcom_push=True, "
        f"cmds=['python', '-c', 'print(\"no result written\")'], {kwargs})"
    )
    return (
        HEADER
        + f"with DAG({dag_id!r}, start_date=pendulum.datetime(2024, 1, 1), schedule=None) as dag:\n"
        + "\n".join(tasks)
        + "\n"
    )


@pytest.fixture
def exec_forbidden(local_cluster, monkeypatch):
    """The connection's extra chooses ``termination_message``; exec into pods is refused as RBAC would."""
    connection = json.loads(local_cluster.airflow_connection("default"))
    connection["extra"]["xcom_transport"] = "termination_message"
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(connection))
    local_cluster.forbid("create", "pods/exec")
    try:
        yield local_cluster
    finally:
        local_cluster.allow("create", "pods/exec")


def check_common(result, cluster) -> None:
    assert result.xcom("ok") == {"rows": 3, "files": ["a", "b"]}
    assert (result.xcom("ok", "rows"), result.xcom("ok", "files")) == (3, ["a", "b"])
    assert result.xcom("missing") is None
    assert "[base] no result written" in result.log
    assert (
        "/airflow/xcom/return.json is not valid JSON: Expecting value at line 2 column 7 (position 15)"
        in result.log
    )
    # A failed container fails the task for its exit code, and what it returned is still published.
    assert "container 'base' terminated with exit code 2" in result.log
    assert result.xcom("failed") == {"partial": 7}
    assert "pods/exec" not in result.log
    assert cluster.pods() == []
    for task_id in ("ok", "under", "missing"):
        assert result.task_states[task_id] == "success", (task_id, result.log[-3000:])
    for task_id in ("over", "invalid", "failed"):
        assert result.task_states[task_id] == "failed", (task_id, result.log[-3000:])


def test_termination_message_transport_without_exec(exec_forbidden, run_dag):
    # Kubernetes keeps at most 4096 bytes: 4095 is the largest result that cannot have been cut.
    result = run_dag(dag("xcom_termination_message", "", 4095, 4096))
    check_common(result, exec_forbidden)
    assert result.xcom("under") == "x" * 4093
    assert (
        "/airflow/xcom/return.json is 4096 bytes or more, the most Kubernetes keeps of a termination message"
        in result.log
    )
    assert "use xcom_transport='logs' (up to max_xcom_size) or 'sidecar'" in result.log


def test_logs_transport_without_exec(exec_forbidden, run_dag):
    result = run_dag(dag("xcom_logs", "xcom_transport='logs', max_xcom_size=100_000", 100_000, 100_001))
    check_common(result, exec_forbidden)
    assert result.xcom("under") == "x" * 99_998
    assert "/airflow/xcom/return.json is larger than the limit of 100000 bytes (max_xcom_size)" in result.log
    # The result's lines are taken out of the log; the user's own lines stay.
    assert "[base] ::k8spod-xcom-" not in result.log
    assert "[base] wrote 100000 bytes" in result.log
