"""``@task.kubernetes`` and ``@task.kubernetes_cmd`` end to end: real DAG files (``from airflow.sdk import
task``: the decorators are found through the provider info), ``dag.test()`` against the local cluster, in
both modes. The scenarios of upstream's decorator tests: arguments (positional, keyword, an upstream task's
XComArg), return value, multiple_outputs, mapping, templated fields, a failing function, and the command
decorator. Several tasks share one DAG run to keep the suite short."""

from __future__ import annotations

import re

import pytest

from airflow_provider_k8spod.testing import Image

pytestmark = pytest.mark.usefixtures("local_cluster_connection", "mode")

HEADER = """
import pendulum
from airflow.sdk import DAG, task

with DAG({dag_id!r}, start_date=pendulum.datetime(2024, 1, 1), schedule=None, params={{"region": "eu"}}) as dag:
"""


def dag(dag_id: str, body: str) -> str:
    return HEADER.format(dag_id=dag_id) + "\n".join("    " + line for line in body.strip("\n").splitlines())


def test_arguments_return_values_mapping_and_templates(local_cluster_connection, run_dag):
    result = run_dag(
        dag(
            "deco_values",
            """
@task
def rows():
    return [3, 4]

@task.kubernetes(image="python:3.11-slim", do_xcom_push=True, env_vars={"ZONE": "{{ params.region }}-1"})
def total(values, scale, *, label="sum", region=None):
    import os

    print(f"{label}: {values} x {scale} in {region}, zone {os.environ['ZONE']}", flush=True)
    return {"total": sum(values) * scale, "label": label, "region": region}

@task.kubernetes(image="python:3.11-slim", do_xcom_push=True, multiple_outputs=True)
def split(numbers):
    return {"low": min(numbers), "high": max(numbers)}

@task.kubernetes(image="python:3.11-slim", do_xcom_push=True)
def square(value, offset):
    return value * value + offset

@task.kubernetes(image="python:3.11-slim")
def no_push():
    return "not pushed"

@task.kubernetes(image="python:3.11-slim", do_xcom_push=True)
def returns_none():
    print("nothing to return", flush=True)

numbers = rows()
total(numbers, 10, label="total", region="{{ params.region }}")
split(numbers)
square.partial(offset=1).expand(value=[1, 2, 3])
no_push()
returns_none()
""",
        )
    )
    assert set(result.task_states.values()) == {"success"}, result.log[-4000:]
    assert result.xcom("total") == {"total": 70, "label": "total", "region": "eu"}
    # Templated: the function's arguments and the operator's own fields (env_vars here).
    assert "[base] total: [3, 4] x 10 in eu, zone eu-1" in result.log
    assert (result.xcom("split", "low"), result.xcom("split", "high")) == (3, 4)
    assert [result.xcom(f"square[{i}]") for i in range(3)] == [2, 5, 10]
    assert result.xcom("no_push") is None
    assert ("returns_none", "return_value") not in result.xcoms
    assert "[base] nothing to return" in result.log
    # The pod is named after the function, as upstream names it.
    assert result.xcom("total", "pod_name").startswith("k8s-airflow-pod-total-")
    assert local_cluster_connection.pods() == []


def test_failing_function_fails_the_task_with_its_traceback(local_cluster_connection, run_dag):
    source = dag(
        "deco_failing",
        """
@task.kubernetes(image="python:3.11-slim", do_xcom_push=True, retries=0)
def check(limit):
    value = limit * 2
    if value > limit:
        raise ValueError(f"value {value} is over the limit {limit}")

@task.kubernetes(image="python:3.11-slim", do_xcom_push=True, retries=0)
def not_json():
    return {1, 2}

@task.kubernetes(image="python:3.11-slim", skip_on_exit_code=99)
def nothing_to_do():
    import sys

    sys.exit(99)

check(21)
not_json()
nothing_to_do()
""",
    )
    result = run_dag(source)
    assert result.task_states == {"check": "failed", "not_json": "failed", "nothing_to_do": "skipped"}
    raise_line = next(i for i, line in enumerate(source.splitlines(), 1) if "raise ValueError" in line)
    # The traceback points at the DAG file's own line, with its source, and the launcher's frame is hidden.
    assert re.search(rf'\[base\]   File ".*k8spod_test_dag_\w+\.py", line {raise_line}, in check', result.log)
    assert '[base]     raise ValueError(f"value {value} is over the limit {limit}")' in result.log
    assert "[base] ValueError: value 42 is over the limit 21" in result.log
    assert 'File "<string>"' not in result.log
    assert "container 'base' terminated with exit code 1" in result.log
    # The pod's final state is logged without the payload's base64 (up to 1 MiB).
    assert re.search(r"name: __PYTHON_SCRIPT\n\s+value: <\d+ characters of base64>", result.log)
    assert "[base] not_json returned set, which cannot be written as JSON for XCom" in result.log
    assert local_cluster_connection.pods() == []


@pytest.mark.local_cluster(images=[Image("registry.example.com/greeter:1", entrypoint=["echo", "greeter:"])])
def test_kubernetes_cmd(local_cluster_connection, run_dag):
    result = run_dag(
        dag(
            "deco_cmd",
            """
def show_request(context):
    print("request command:", context["task"].pod_request_obj.spec.containers[0].command, flush=True)

@task.kubernetes_cmd(image="busybox:1.36", on_success_callback=show_request)
def say(word, ds=None):
    return ["sh", "-c", f"echo {word} on {ds} in {{{{ params.region }}}}"]

@task.kubernetes_cmd(image="registry.example.com/greeter:1", args_only=True)
def greet(names):
    return [f"hello {name}" for name in names]

@task.kubernetes_cmd(image="busybox:1.36", retries=0)
def bad():
    return "echo not a list"

say("hi")
greet.expand(names=[["ann"], ["bob", "cy"]])
bad()
""",
        )
    )
    assert result.task_states == {
        "say": "success",
        "greet[0]": "success",
        "greet[1]": "success",
        "bad": "failed",
    }
    # Context keys reach the function on the worker; Jinja in the returned command is rendered.
    assert re.search(r"\[base\] hi on \d{4}-\d\d-\d\d in eu", result.log)
    # The pod request (upstream's pod_request_obj) has the command, after a deferral too.
    assert "request command: ['sh', '-c', 'echo hi on 2" in result.log
    # args_only: the image's entrypoint runs with the returned arguments.
    assert "[base] greeter: hello ann" in result.log
    assert "[base] greeter: hello bob hello cy" in result.log
    assert (
        "bad must return a list of strings (the container's command), got str 'echo not a list'" in result.log
    )
    assert local_cluster_connection.pods() == []
