"""Loader for the table-test cases in tests/pod/cases/*.yaml (one YAML file per case).

A case file has these keys (all but ``arguments`` and ``expected`` optional):

- ``description``: what the case shows.
- ``task_id`` (default ``"task"``) and ``dag_id`` (the operator is made inside a DAG of that id).
- ``arguments``: keyword arguments of ``KubernetesPodOperator``, as the user would write them.
- ``models``: ``{argument: OpenAPI type}``: the argument is turned into ``kubernetes.client`` models (by the
  ``kubernetes`` client's own deserializer) before it is passed, e.g. ``affinity: V1Affinity``,
  ``tolerations: List[V1Toleration]``, ``full_pod_spec: V1Pod``; ``List[Secret]`` makes ``Secret`` objects.
- ``text``: ``{argument: yaml | json}``: the argument is passed as YAML or JSON text.
- ``files``: ``{argument: manifest}``: the manifest is written to a file whose path is passed.
- ``context``: ``{dag_id, task_id, run_id, map_index, try_number}`` of the task instance; without it the pod
  is built as ``dry_run()`` builds it (no task instance).
- ``connection``: extras of the connection the operator uses (made available as ``AIRFLOW_CONN_...``).
- ``expected``: the whole pod. ``AIRFLOW_VERSION`` stands for the ``airflow_version`` label value.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

CASES_DIR = Path(__file__).parent / "cases"
CONN_ID = "k8s_case"


def case_files() -> list[Path]:
    return sorted(CASES_DIR.glob("*.yaml"))


def load_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict), path
    unknown = set(case) - {
        "description",
        "task_id",
        "dag_id",
        "arguments",
        "models",
        "text",
        "files",
        "context",
        "connection",
        "expected",
    }
    assert not unknown, f"{path.name}: unknown keys {unknown}"
    return case


def _deserialize(value: Any, type_name: str) -> Any:
    from kubernetes.client import ApiClient

    if type_name == "List[Secret]":
        from airflow_provider_k8spod.secret import Secret

        return [Secret(**item) for item in value]
    return ApiClient()._ApiClient__deserialize(value, _client_spelling(type_name))  # type: ignore[attr-defined]


def _client_spelling(type_name: str) -> str:
    """``List[V1Toleration]`` as the installed client spells it (``list[...]`` before kubernetes 37)."""
    from kubernetes.client import V1PodSpec

    if V1PodSpec.openapi_types["containers"].startswith("list["):
        return type_name.replace("List[", "list[").replace("Dict[", "dict[")
    return type_name


def operator_kwargs(case: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The keyword arguments the case passes to the operator."""
    kwargs = dict(case.get("arguments") or {})
    for name, type_name in (case.get("models") or {}).items():
        kwargs[name] = _deserialize(kwargs[name], type_name)
    for name, form in (case.get("text") or {}).items():
        kwargs[name] = json.dumps(kwargs[name], indent=2) if form == "json" else yaml.safe_dump(kwargs[name])
    for name, manifest in (case.get("files") or {}).items():
        target = tmp_path / f"{name}.yaml"
        target.write_text(yaml.safe_dump(manifest), encoding="utf-8")
        kwargs[name] = str(target)
    if case.get("connection") is not None:
        kwargs["kubernetes_conn_id"] = CONN_ID
    return kwargs


def connection_env(case: dict[str, Any]) -> dict[str, str]:
    if case.get("connection") is None:
        return {}
    value = json.dumps({"conn_type": "k8spod", "extra": case["connection"]})
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": value}


def context(case: dict[str, Any]) -> dict[str, Any] | None:
    """A context with just the task instance fields the pod identity reads."""
    if case.get("context") is None:
        return None
    ti = SimpleNamespace(**{"map_index": -1, "try_number": 1, **case["context"]})
    return {"ti": ti, "run_id": ti.run_id}


def expected_pod(case: dict[str, Any], airflow_version_label: str) -> dict[str, Any]:
    text = json.dumps(case["expected"]).replace("AIRFLOW_VERSION", airflow_version_label)
    loaded: dict[str, Any] = json.loads(text)
    return loaded
