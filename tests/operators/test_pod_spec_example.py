"""example_dags/example_pod_spec.py parses, and dry_run() of its tasks works without a cluster."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from airflow_provider_k8spod.pod.security import restricted_profile_violations
from airflow_provider_k8spod.pod.validation import schema_errors

EXAMPLE = Path(__file__).parents[2] / "example_dags" / "example_pod_spec.py"


@pytest.fixture(scope="module")
def example_dag():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("example_pod_spec", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["example_pod_spec"] = module
    spec.loader.exec_module(module)
    return module.dag


def test_example_dry_runs(example_dag, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    report = example_dag.get_task("report")
    report.dry_run()
    pod = yaml.safe_load(capsys.readouterr().out)
    assert schema_errors(pod) == []
    # The template's hostNetwork: true is overridden by the explicit hostnetwork=False.
    assert pod["spec"]["hostNetwork"] is False
    # LOG_LEVEL replaced by name, REGION kept from the template.
    assert pod["spec"]["containers"][0]["env"] == [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "REGION", "value": "eu-west-1"},
    ]
    # A hardened task plus the default XCom sidecar passes the "restricted" Pod Security Standard.
    assert restricted_profile_violations(pod) == []

    example_dag.get_task("extract").dry_run()
    extract = yaml.safe_load(capsys.readouterr().out)
    assert extract["metadata"]["labels"]["team"] == "data", "default_args reach the pod"
    assert extract["spec"]["volumes"] == [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}]


def test_example_runs_as_a_script() -> None:
    import subprocess

    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    documents = [d for d in result.stdout.split("# --- ") if d.strip()]
    assert [d.split(" ---")[0] for d in documents] == ["extract", "report"]
