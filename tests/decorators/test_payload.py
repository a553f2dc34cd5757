"""What ``@task.kubernetes`` sends into the pod (pure, no cluster), and the errors a DAG author gets when
the DAG is parsed."""

from __future__ import annotations

import base64
import os
import pickle
import subprocess
import sys
import textwrap

import pendulum
import pytest
from airflow.sdk import DAG, setup, task

from airflow_provider_k8spod.decorators._payload import (
    CHUNK_CHARS,
    DecoratedFunctionError,
    function_source,
    launcher_command,
    payload_env,
)


@task.kubernetes(
    image="python:3.11-slim",
    labels={"a": "b"},
)
def module_level(x):
    # a comment stays
    return x + 1


@setup
@task.kubernetes(image="python:3.11-slim")
def prepare():
    return "ready"


def test_setup_and_teardown_markers_are_removed_too():
    assert prepare.is_setup
    _, source = function_source(prepare.function, "@task.kubernetes")
    assert "@" not in source
    scope: dict[str, object] = {}
    exec(compile(source, "f", "exec"), scope)
    assert scope["prepare"]() == "ready"  # type: ignore[operator]


def test_source_keeps_the_files_line_numbers_without_airflow_decorators():
    filename, source = function_source(module_level.function, "@task.kubernetes")
    assert filename == __file__
    lines = source.splitlines()
    with open(__file__) as handle:
        def_line = next(i for i, line in enumerate(handle, 1) if line.startswith("def module_level"))
    assert lines[def_line - 1] == "def module_level(x):"
    assert "task.kubernetes" not in source
    assert "labels" not in source
    assert "    # a comment stays" in lines
    scope: dict[str, object] = {}
    exec(compile(source, filename, "exec"), scope)
    assert scope["module_level"](1) == 2  # type: ignore[operator]


def test_indented_definition_with_other_decorators_kept():
    def keep(f):
        return f

    def outer():
        @task.kubernetes(image="x")
        @keep
        def inner(a):
            return a

        return inner

    _, source = function_source(outer().function, "@task.kubernetes")
    assert "        @keep\n" in source
    assert "@task" not in source
    assert source.count("if True:") == 1
    compile(source, "f", "exec")


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda: 1, "cannot run a lambda"),
        (print, "needs a function defined with def"),
    ],
)
def test_functions_that_cannot_run_from_source(function, message):
    with pytest.raises(DecoratedFunctionError, match=message):
        function_source(function, "@task.kubernetes")


def test_async_and_closures_are_refused():
    async def fetch():
        return 1

    limit = 3

    def uses_enclosing():
        return limit

    with pytest.raises(DecoratedFunctionError, match="async function"):
        function_source(fetch, "@task.kubernetes")
    with pytest.raises(DecoratedFunctionError, match="it uses limit from the function that defines it"):
        function_source(uses_enclosing, "@task.kubernetes")


def test_dag_parsing_errors():
    with DAG("deco_errors", start_date=pendulum.datetime(2024, 1, 1), schedule=None):
        with pytest.raises(DecoratedFunctionError, match="lambda"):
            task.kubernetes(image="x")(lambda: 1)()
        with pytest.raises(TypeError, match="cmds cannot be set"):
            task.kubernetes(image="x", cmds=["sh"])(module_level.function)(1)
        with pytest.raises(TypeError, match="arguments cannot be set"):
            task.kubernetes_cmd(image="x", arguments=["a"])(module_level.function)(1)


def test_large_arguments_are_split_and_too_large_ones_refused():
    env = payload_env("def f(x): return x\n", ["y" * 200_000], {}, use_dill=False, function="f")
    names = [e["name"] for e in env]
    assert names[:2] == ["__PYTHON_SCRIPT", "__PYTHON_INPUT"]
    assert "__PYTHON_INPUT_1" in names
    assert max(len(e["value"]) for e in env) <= CHUNK_CHARS
    with pytest.raises(DecoratedFunctionError, match="KiB once encoded; at most 1024 KiB fit in a pod spec"):
        payload_env("def f(x): return x\n", ["y" * 900_000], {}, use_dill=False, function="f")
    with pytest.raises(DecoratedFunctionError, match="cannot be pickled"):
        payload_env("def f(x): return x\n", [lambda: 1], {}, use_dill=False, function="f")


def test_launcher_with_dill_takes_what_pickle_cannot(tmp_path):
    # A lambda pickle cannot take; dill also pickles its globals: keep them empty (not this module's).
    triple = eval("lambda x: x * 3", {})
    env = payload_env("def f(g, x):\n    return g(x)\n", [triple, 14], {}, use_dill=True, function="f")
    command = launcher_command("/dags/f.py", "f", use_dill=True, do_xcom_push=True)
    assert command[-2:] == ["dill", "/airflow/xcom/return.json"]
    command[-1] = str(tmp_path / "return.json")
    proc = subprocess.run(
        [sys.executable, *command[1:]],
        env={**os.environ, **{e["name"]: e["value"] for e in env}},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "return.json").read_text() == "42"


def test_launcher_runs_the_function_and_writes_json(tmp_path):
    source = textwrap.dedent(
        """
        def f(text, *, times):
            import os
            assert not [k for k in os.environ if k.startswith("__PYTHON")]  # not passed on
            return {"length": len(text) * times}
        """
    )
    env = payload_env(source, ["y" * 200_000], {"times": 2}, use_dill=False, function="f")
    command = launcher_command("/dags/f.py", "f", use_dill=False, do_xcom_push=True)
    result = tmp_path / "return.json"
    command[-1] = str(result)
    assert not any("$(" in part for part in command)  # the kubelet would expand it
    proc = subprocess.run(
        [sys.executable, *command[1:]],
        env={**os.environ, **{e["name"]: e["value"] for e in env}},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert result.read_text() == '{"length": 400000}'
    # The input is upstream's: a pickled {"args", "kwargs"} in base64.
    data = "".join(e["value"] for e in env if e["name"].startswith("__PYTHON_INPUT"))
    assert pickle.loads(base64.b64decode(data)) == {"args": ["y" * 200_000], "kwargs": {"times": 2}}


def test_template_fields_as_upstream():
    from airflow_provider_k8spod.decorators.kubernetes import _KubernetesDecoratedOperator
    from airflow_provider_k8spod.decorators.kubernetes_cmd import _KubernetesCmdDecoratedOperator
    from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

    kpo = set(KubernetesPodOperator.template_fields)
    assert set(_KubernetesDecoratedOperator.template_fields) == kpo - {"cmds", "arguments"} | {
        "op_args",
        "op_kwargs",
    }
    assert set(_KubernetesCmdDecoratedOperator.template_fields) == kpo | {"op_args", "op_kwargs"}
    for operator in (_KubernetesDecoratedOperator, _KubernetesCmdDecoratedOperator):
        assert operator.template_fields_renderers == {"op_args": "py", "op_kwargs": "py", "env_vars": "py"}
