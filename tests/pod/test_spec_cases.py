"""Table tests: each tests/pod/cases/*.yaml gives operator arguments (and a manifest) and the exact pod.

The operator is created the way a DAG creates it and builds its pod through the same code ``execute`` and
``dry_run`` use; the connection, when a case has one, comes from an ``AIRFLOW_CONN_...`` variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_k8spod.operators import pod as operator_module
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
from airflow_provider_k8spod.pod.identity import MAX_NAME_LENGTH
from airflow_provider_k8spod.pod.spec import main_container_name
from airflow_provider_k8spod.pod.validation import schema_errors, semantic_errors
from tests.pod import casefiles

CASES = casefiles.case_files()


def _airflow_version_label() -> str:
    from airflow_provider_k8spod.operators._airflow import airflow_version_label as label

    return label()


def build_case(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for key, value in casefiles.connection_env(case).items():
        monkeypatch.setenv(key, value)
    kwargs = casefiles.operator_kwargs(case, tmp_path)
    if case.get("dag_id"):
        from airflow.sdk import DAG

        with DAG(case["dag_id"], schedule=None):
            operator = KubernetesPodOperator(task_id=case.get("task_id", "task"), **kwargs)
    else:
        operator = KubernetesPodOperator(task_id=case.get("task_id", "task"), **kwargs)
    return operator.build_pod_manifest(casefiles.context(case))


@pytest.fixture(autouse=True)
def _no_in_cluster_namespace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The table must not depend on whether the tests run inside a Kubernetes pod.
    monkeypatch.setattr(operator_module, "IN_CLUSTER_NAMESPACE_FILE", str(tmp_path / "no-such-file"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def test_there_are_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_builds_the_expected_pod(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = casefiles.load_case(path)
    built = build_case(case, tmp_path, monkeypatch)

    assert built == casefiles.expected_pod(case, _airflow_version_label())
    # Every pod a test builds is valid against the Kubernetes schema and the semantic checks.
    assert schema_errors(built) == []
    assert semantic_errors(built) == []
    assert len(built["metadata"]["name"]) <= MAX_NAME_LENGTH or "random_name_suffix" in case["arguments"]
    # The main container is recorded on the pod and can be read back from it alone.
    annotated = built["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
    assert main_container_name(built) == annotated


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_is_deterministic(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the same task twice gives the same pod (reattach and 409-adoption depend on it)."""
    case = casefiles.load_case(path)
    assert build_case(case, tmp_path, monkeypatch) == build_case(case, tmp_path, monkeypatch)


def test_cases_cover_every_pod_argument() -> None:
    from airflow_provider_k8spod.pod.spec import POD_ARGUMENTS

    covered: set[str] = set()
    for path in CASES:
        case = casefiles.load_case(path)
        covered |= set(case.get("arguments") or {})
        covered |= set(case.get("files") or {})
    extra = {
        "do_xcom_push",
        "xcom_sidecar_container_image",
        "xcom_sidecar_container_resources",
        "xcom_sidecar_container_security_context",
    }
    assert POD_ARGUMENTS | extra <= covered, sorted((POD_ARGUMENTS | extra) - covered)


def test_cases_cover_every_manifest_form() -> None:
    forms = set()
    for path in CASES:
        case = casefiles.load_case(path)
        forms |= {f"file:{k}" for k in case.get("files") or {}}
        forms |= {f"text:{k}:{v}" for k, v in (case.get("text") or {}).items()}
        forms |= {f"model:{k}" for k, v in (case.get("models") or {}).items() if v == "V1Pod"}
        if isinstance((case.get("arguments") or {}).get("pod_template_dict"), dict):
            forms.add("dict:pod_template_dict")
    assert {
        "file:pod_template_file",
        "dict:pod_template_dict",
        "text:pod_template_dict:yaml",
        "text:pod_template_dict:json",
        "model:full_pod_spec",
    } <= forms
