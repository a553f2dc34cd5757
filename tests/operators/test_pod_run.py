"""KubernetesPodOperator end to end with the real Airflow (dag.test) against the local cluster: the classic
passing and failing pods, XCom through the sidecar, and logs. Assertions are on what a user sees: the task
state, the task log, XCom values, and the pods left in the cluster."""

from __future__ import annotations

import json

import pytest

from tests.operators.kpo import dag_source, task_pods

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")


def test_passing_pod_prints_hello_world_and_is_deleted(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "hello_world",
            """image="python:3.11-slim", cmds=["python", "-c"], arguments=["print('hello world')"]""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert "[base] hello world" in result.log
    pod_name = result.xcom("task", "pod_name")
    assert pod_name.startswith("task-")
    assert result.xcom("task", "pod_namespace") == "default"
    assert f"Deleting pod {pod_name} (on_finish_action=delete_pod)" in result.log
    assert local_cluster_connection.pods() == []


def test_failing_pod_command_not_in_image(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source("command_missing", """image="ubuntu:24.04", cmds=["command-that-does-not-exist"]""")
    )
    assert result.task_states == {"task": "failed"}
    # The reason in Kubernetes terms, not just "returned a failure".
    assert "container 'base' could not start (StartError, exit code 128)" in result.log
    assert 'exec: "command-that-does-not-exist": executable file not found in $PATH' in result.log
    assert "phase: Failed" in result.log
    assert local_cluster_connection.pods() == []


def test_failure_record_has_exit_code_termination_message_and_node(run_dag):
    result = run_dag(
        dag_source(
            "failure_record",
            """image="busybox:1.36", cmds=["sh", "-c", "echo 'disk full' > /dev/termination-log; echo oops >&2; exit 3"]""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "container 'base' terminated with exit code 3 (Error): disk full" in result.log
    assert "container 'base': terminated with exit code 3, reason Error, message: disk full" in result.log
    assert "node: node-1" in result.log
    assert "[base] oops" in result.log


# -- XCom ------------------------------------------------------------------------------------------------

WRITE_RESULT = """
import json, os, sys
os.makedirs('/airflow/xcom', exist_ok=True)
with open('/airflow/xcom/return.json', 'w') as f:
    f.write(sys.argv[1])
"""


def xcom_task(dag_id: str, content: str | None, extra_kwargs: str = "") -> str:
    if content is None:
        command = """cmds=["python", "-c", "print('no result written')"]"""
    else:
        command = f"""cmds=["python", "-c", {WRITE_RESULT!r}, {content!r}]"""
    return dag_source(dag_id, f"""image="python:3.11-slim", {command}, do_xcom_push=True, {extra_kwargs}""")


def test_xcom_dict(local_cluster_connection, run_dag):
    result = run_dag(xcom_task("xcom_dict", json.dumps({"rows": 3, "files": ["a", "b"], "ok": True})))
    assert result.task_states == {"task": "success"}
    assert result.xcom("task") == {"rows": 3, "files": ["a", "b"], "ok": True}
    assert local_cluster_connection.pods() == []


def test_xcom_large_value(run_dag):
    big = {"payload": "x" * (3 * 1024 * 1024), "n": list(range(1000))}
    result = run_dag(
        dag_source(
            "xcom_large",
            """image="python:3.11-slim", do_xcom_push=True, cmds=["python", "-c",
            "import json, os; os.makedirs('/airflow/xcom', exist_ok=True); "
            "json.dump({'payload': 'x' * (3 * 1024 * 1024), 'n': list(range(1000))}, open('/airflow/xcom/return.json', 'w'))"]""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert result.xcom("task") == big


def test_xcom_above_the_size_limit_fails_clearly(run_dag):
    result = run_dag(
        dag_source(
            "xcom_too_big",
            """image="python:3.11-slim", do_xcom_push=True, max_xcom_size=1000, cmds=["python", "-c",
            "import json, os; os.makedirs('/airflow/xcom', exist_ok=True); json.dump('y' * 5000, open('/airflow/xcom/return.json', 'w'))"]""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "/airflow/xcom/return.json is larger than the limit of 1000 bytes (max_xcom_size)" in result.log


def test_xcom_invalid_json_names_file_and_position(run_dag):
    result = run_dag(xcom_task("xcom_invalid", '{"a": 1,\n "b": hello}'))
    assert result.task_states == {"task": "failed"}
    assert (
        "/airflow/xcom/return.json is not valid JSON: Expecting value at line 2 column 7 (position 15)"
        in result.log
    )


def test_xcom_without_file_is_none_not_a_hang(local_cluster_connection, run_dag):
    result = run_dag(xcom_task("xcom_no_file", None))
    assert result.task_states == {"task": "success"}
    assert result.xcom("task") is None
    assert "[base] no result written" in result.log
    assert local_cluster_connection.pods() == []


def test_multiple_outputs(run_dag):
    result = run_dag(
        xcom_task("xcom_multiple", json.dumps({"left": 1, "right": [2]}), "multiple_outputs=True")
    )
    assert result.task_states == {"task": "success"}
    assert (result.xcom("task", "left"), result.xcom("task", "right")) == (1, [2])
    assert result.xcom("task") == {"left": 1, "right": [2]}


def test_multiple_outputs_with_a_list_fails_saying_an_object_is_needed(run_dag):
    result = run_dag(xcom_task("xcom_multiple_list", json.dumps([1, 2]), "multiple_outputs=True"))
    assert result.task_states == {"task": "failed"}
    assert "multiple_outputs=True needs /airflow/xcom/return.json to hold a JSON object" in result.log
    assert "it holds a JSON array: [1, 2]" in result.log
    assert "expected dictionary for multiple_outputs" not in result.log  # Airflow's generic TypeError


def test_xcom_of_a_failed_pod_is_still_published(run_dag):
    result = run_dag(
        dag_source(
            "xcom_failed",
            """image="python:3.11-slim", do_xcom_push=True, cmds=["python", "-c",
            "import json, os, sys; os.makedirs('/airflow/xcom', exist_ok=True); "
            "json.dump({'partial': 7}, open('/airflow/xcom/return.json', 'w')); sys.exit(2)"]""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert result.xcom("task") == {"partial": 7}


# -- logs ------------------------------------------------------------------------------------------------


def test_ten_thousand_lines_with_three_cut_streams_arrive_exactly_once_in_order(
    local_cluster_connection, run_dag
):
    cluster = local_cluster_connection
    # Each followed log stream is cut (TCP reset) after 40 kB: three times.
    cluster.faults.reset_stream("pods/log", after_bytes=40_000, times=3)
    result = run_dag(
        dag_source(
            "ten_thousand_lines",
            """image="python:3.11-slim", cmds=["python", "-c",
            "import sys, time\\nfor i in range(10000):\\n    print(f'line {i:05d} ' + 'é' * 3)\\n    sys.stdout.flush()\\n    time.sleep(0.0003 if i % 10 else 0.001)"]""",
        )
    )
    assert result.task_states == {"task": "success"}
    lines = [line for line in result.log.splitlines() if "[base] line " in line]
    numbers = [int(line.split("[base] line ", 1)[1][:5]) for line in lines]
    assert numbers == list(range(10000))
    assert all(line.split("[base] line ", 1)[1][5:].startswith(" ééé") for line in lines)
    assert sum(rule["hits"] for rule in cluster.faults.rules()) == 3 or cluster.stats()["get pods/log"] >= 4
    assert result.log.count("was interrupted") >= 3


def test_multibyte_characters_split_across_chunks_are_intact(run_dag):
    result = run_dag(
        dag_source(
            "utf8_logs",
            """image="python:3.11-slim", cmds=["python", "-c",
            "import sys\\nfor i in range(200):\\n    sys.stdout.buffer.write(('ü€😀' * 50 + '\\\\n').encode())\\nsys.stdout.flush()"]""",
        )
    )
    assert result.task_states == {"task": "success"}
    lines = [line for line in result.log.splitlines() if "[base] " in line and "ü" in line]
    assert len(lines) == 200
    assert all(line.split("[base] ", 1)[1].startswith("ü€😀" * 50) for line in lines)
    assert "\ufffd" not in result.log


def test_init_containers_and_all_containers_are_followed(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "many_containers",
            """image="busybox:1.36", cmds=["sh", "-c", "echo from-main"],
            init_containers=[{"name": "prepare", "image": "busybox:1.36", "command": ["sh", "-c", "echo from-init"]}],
            init_container_logs=True,
            container_logs=True,
            full_pod_spec={"spec": {"containers": [
                {"name": "base", "image": "busybox:1.36"},
                {"name": "helper", "image": "busybox:1.36", "command": ["sh", "-c", "echo from-helper"]},
            ]}},""",
        )
    )
    assert result.task_states == {"task": "success"}
    assert "[prepare] from-init" in result.log
    assert "[base] from-main" in result.log
    assert "[helper] from-helper" in result.log


def test_log_formatter_and_prefix(run_dag):
    result = run_dag(
        dag_source(
            "log_format",
            """image="busybox:1.36", cmds=["sh", "-c", "echo formatted"], log_formatter=angle""",
            extra='def angle(container, line):\n    return f"<<{container}|{line}>>"\n',
        )
    )
    assert "<<base|formatted>>" in result.log
    result = run_dag(
        dag_source(
            "log_noprefix",
            """image="busybox:1.36", cmds=["sh", "-c", "echo plain-line"], container_name_log_prefix_enabled=False""",
        )
    )
    assert "[base] plain-line" not in result.log
    assert "plain-line" in result.log


def test_a_log_formatter_that_cannot_travel_is_reported_not_dropped(run_dag, mode):
    result = run_dag(
        dag_source(
            "log_format_lambda",
            """image="busybox:1.36", cmds=["sh", "-c", "echo formatted"],
            log_formatter=lambda container, line: f"<<{container}|{line}>>" """,
        )
    )
    assert result.task_states == {"task": "success"}
    if mode == "sync":
        assert "<<base|formatted>>" in result.log
    else:
        assert "cannot be imported by the triggerer" in result.log
        assert "[base] formatted" in result.log


def test_get_logs_false_still_waits_for_completion(local_cluster_connection, run_dag):
    result = run_dag(
        dag_source(
            "no_logs",
            """image="busybox:1.36", cmds=["sh", "-c", "sleep 1; echo hidden; exit 4"], get_logs=False""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert "[base] hidden" not in result.log
    assert "exit code 4" in result.log


def test_log_levels_follow_the_line(run_dag):
    lines = {
        "it broke": "ERROR: it broke",
        "careful": "WARNING - careful",
        "fine": "fine",
        # Never dropped: a DEBUG line is logged at INFO, so it shows at the default log level.
        "x=1": "DEBUG: x=1",
        "mode is off": "debug mode is off",
        # Level words used as words are not levels.
        "rate": "Error rate: 0.0%",
        "path": "Critical path: extract, load",
    }
    script = "; ".join(f"echo '{line}'" for line in lines.values())
    result = run_dag(dag_source("log_levels", f"""image="busybox:1.36", cmds=["sh", "-c", {script!r}]"""))
    levels = {}
    for line in result.log.splitlines():
        for marker in lines:
            if "[base] " in line and marker in line:
                levels[marker] = line.split("[", 1)[1].split("]", 1)[0].strip()
    assert levels == {
        "it broke": "error",
        "careful": "warning",
        "fine": "info",
        "x=1": "info",
        "mode is off": "info",
        "rate": "info",
        "path": "info",
    }


def test_pods_of_other_tasks_are_left_alone(local_cluster_connection, run_dag):
    result = run_dag(dag_source("isolation", """image="busybox:1.36", cmds=["true"]"""))
    assert result.task_states == {"task": "success"}
    assert task_pods(local_cluster_connection) == []
