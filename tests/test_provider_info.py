"""Provider metadata as Airflow sees it: registration, package name, connection form."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import distribution, entry_points

import pytest

from airflow_provider_k8spod import get_provider_info
from airflow_provider_k8spod.hooks.connection import ConnectionSettings, settings_from_connection_fields
from airflow_provider_k8spod.hooks.fields import EXTRA_FIELDS


def test_package_name_equals_distribution_name():
    # A mismatch makes Airflow's providers manager raise, which breaks every `airflow` command.
    info = get_provider_info()
    assert info["package-name"] == distribution("airflow-provider-k8spod").metadata["Name"]
    (entry_point,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.dist.name == info["package-name"]
    ]
    assert entry_point.load() is get_provider_info


def test_provider_info_validates_against_airflow_schema():
    import jsonschema
    from airflow import providers_manager  # noqa: F401 - loads airflow's package data path

    schema_path = os.path.join(
        os.path.dirname(importlib.import_module("airflow").__file__), "provider_info.schema.json"
    )
    with open(schema_path) as f:
        jsonschema.validate(get_provider_info(), json.load(f))


def test_every_listed_module_imports():
    info = get_provider_info()
    modules = [
        m
        for key in ("hooks", "operators", "triggers")
        for entry in info.get(key, [])
        for m in entry["python-modules"]
    ]
    assert "airflow_provider_k8spod.hooks.kubernetes" in modules
    assert "airflow_provider_k8spod.triggers.pod" in modules
    for module in modules:
        importlib.import_module(module)
    for conn in info["connection-types"]:
        module, _, name = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        assert hook.conn_type == conn["connection-type"] == "k8spod"


def test_connection_form_fields_are_exactly_what_the_hook_reads():
    (conn_type,) = get_provider_info()["connection-types"]
    form_fields = set(conn_type["conn-fields"])
    # Every field of the form is read by the hook ...
    sample = {"bool": True, "json": '{"a": 1}', "str": "x", "text": "x", "secret": "x"}
    for name in form_fields:
        fields = {"host": "https://h"} if name == "ca_cert" else {}
        value = "logs" if name == "xcom_transport" else sample[EXTRA_FIELDS[name][0]]
        settings = settings_from_connection_fields("c", extra={name: value}, **fields)
        assert getattr(settings, name) not in (None, ""), name
    # ... and every extra the hook reads is on the form.
    read_by_hook = set(ConnectionSettings.__dataclass_fields__) - {
        "conn_id",
        "host",
        "token",
        "ignored_extras",
    }
    assert read_by_hook == form_fields
    assert conn_type["conn-fields"]["kube_config"]["schema"]["format"] == "password"
    # A PEM certificate needs its line breaks: a text area, not a one-line input.
    assert conn_type["conn-fields"]["ca_cert"]["schema"]["format"] == "multiline"


@pytest.mark.parametrize("command", [["providers", "list"], ["providers", "hooks"]])
def test_airflow_cli_lists_the_provider(command):
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *command, "-o", "json"], capture_output=True, text=True, check=True
    )
    assert "airflow-provider-k8spod" in result.stdout, result.stderr[-2000:]
    if command[1] == "hooks":
        hooks = {row["connection_type"]: row for row in json.loads(result.stdout)}
        assert hooks["k8spod"]["class"] == "airflow_provider_k8spod.hooks.kubernetes.KubernetesHook"


def test_task_decorators_are_registered():
    from airflow.sdk import task

    from airflow_provider_k8spod.decorators.kubernetes import kubernetes_task
    from airflow_provider_k8spod.decorators.kubernetes_cmd import kubernetes_cmd_task

    registered = {d["name"]: d["class-name"] for d in get_provider_info()["task-decorators"]}
    assert set(registered) == {"kubernetes", "kubernetes_cmd", "k8spod", "k8spod_cmd"}
    assert task.kubernetes is task.k8spod is kubernetes_task
    assert task.kubernetes_cmd is task.k8spod_cmd is kubernetes_cmd_task


FAKE_UPSTREAM = """
def get_provider_info():
    return {
        "package-name": "apache-airflow-providers-cncf-kubernetes",
        "name": "Kubernetes",
        "description": "stand-in for upstream's provider info",
        "versions": ["99.0.0"],
        "task-decorators": [
            {"class-name": "airflow.providers.cncf.kubernetes.decorators.kubernetes_task", "name": "kubernetes"},
            {"class-name": "airflow.providers.cncf.kubernetes.decorators.kubernetes_task", "name": "kubernetes_cmd"},
        ],
    }

def kubernetes_task(*args, **kwargs):
    raise AssertionError("upstream's decorator")
"""


def test_upstream_provider_installed_too(tmp_path):
    """With upstream's provider installed as well (its entry point and decorator names), Airflow keeps the
    first registration in package name order: ours. ``@task.k8spod`` is ours in any case."""
    package = tmp_path / "airflow" / "providers" / "cncf" / "kubernetes"
    package.mkdir(parents=True)
    for directory in (package.parent, package):
        (directory / "__init__.py").write_text("")
    (package / "decorators.py").write_text(FAKE_UPSTREAM)
    dist = tmp_path / "apache_airflow_providers_cncf_kubernetes-99.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: apache-airflow-providers-cncf-kubernetes\nVersion: 99.0.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[apache_airflow_provider]\n"
        "provider_info = airflow.providers.cncf.kubernetes.decorators:get_provider_info\n"
    )
    script = (
        "from airflow.sdk import task\n"
        "from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as M\n"
        "assert 'apache-airflow-providers-cncf-kubernetes' in M().providers\n"
        "print(task.kubernetes.__module__, task.kubernetes_cmd.__module__, task.k8spod.__module__)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1].split() == [
        "airflow_provider_k8spod.decorators.kubernetes",
        "airflow_provider_k8spod.decorators.kubernetes_cmd",
        "airflow_provider_k8spod.decorators.kubernetes",
    ]
    assert "The taskflow decorator 'kubernetes' has been already registered" in result.stdout + result.stderr


def test_cli_commands_are_registered():
    from airflow.providers_manager import ProvidersManager

    (path,) = get_provider_info()["cli"]
    functions = {f"{f.__module__}.{f.__name__}" for f in ProvidersManager().cli_command_functions}
    assert path in functions
    module, _, name = path.rpartition(".")
    (group,) = getattr(importlib.import_module(module), name)()
    assert group.name == "k8spod"
    assert [c.name for c in group.subcommands] == ["cleanup-pods"]
