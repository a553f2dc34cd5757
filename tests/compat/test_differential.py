"""The differential suite: for every corpus case, the pod upstream's operator builds and the pod ours builds
for the same arguments and task context must be equal field by field, but for the documented allowlist
(tests/compat/compare.py, printed in docs/migrating.md).

Upstream's provider runs in its own virtualenv (tests/compat/upstream_env.py), one subprocess for the
whole corpus. Neither side contacts a cluster: the connection's kubeconfig names an unreachable server.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.compat import compare, corpus, harness, upstream_env

#: Creating the upstream virtualenv on a fresh machine (downloads) is part of the first test's setup.
pytestmark = pytest.mark.timeout(900)

HERE = Path(__file__).parent
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


def _connection(workdir: Path) -> str:
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    return json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compat")


def _start_upstream(workdir: Path) -> subprocess.Popen[bytes]:
    python = upstream_env.upstream_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KUBERNETES_SERVICE"))}
    env |= {
        "AIRFLOW_HOME": str(workdir / "upstream-airflow-home"),
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": _connection(workdir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    command = [str(python), str(HERE / "upstream_build.py"), str(workdir / "upstream-files")]
    with open(workdir / "upstream.log", "w") as log:  # a file: a full pipe would stall the process
        return subprocess.Popen(
            [*command, str(workdir / "upstream.json")], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def _build_ours(workdir: Path) -> dict[str, Any]:
    from kubernetes.client import models as k8s

    from airflow_provider_k8spod.operators import pod as operator_module
    from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
    from airflow_provider_k8spod.secret import Secret

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", _connection(workdir))
        mp.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        mp.setattr(operator_module, "IN_CLUSTER_NAMESPACE_FILE", str(workdir / "no-such-file"))
        return {
            case["id"]: harness.build_case(
                case, KubernetesPodOperator, lambda op, ctx: op.build_pod_manifest(ctx)
            )
            for case in corpus.cases(k8s, Secret, workdir / "our-files")
        }


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """(upstream's results, ours): upstream's subprocess runs while ours are built in this process."""
    workdir = tmp_path_factory.mktemp("compat")
    process = _start_upstream(workdir)
    try:
        ours = _build_ours(workdir)
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, (workdir / "upstream.log").read_text(errors="replace")[-3000:]
    upstream: dict[str, Any] = json.loads((workdir / "upstream.json").read_text(encoding="utf-8"))
    return upstream, ours


@pytest.fixture(scope="module")
def upstream(results: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return results[0]


@pytest.fixture(scope="module")
def ours(results: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return results[1]


def test_the_corpus_has_at_least_100_argument_sets(ours: dict[str, Any]) -> None:
    assert len(ours) >= 100


def test_every_pod_is_upstreams_but_for_the_allowlist(upstream: dict[str, Any], ours: dict[str, Any]) -> None:
    assert sorted(upstream) == sorted(ours)
    # Upstream builds every case but those meant to fail, so no case passes by failing on both sides.
    failing = {case_id: result["error"] for case_id, result in upstream.items() if "error" in result}
    assert sorted(failing) == sorted(case_id for case_id in upstream if case_id.startswith("error_")), failing
    failures: list[str] = []
    for case_id, mine in ours.items():
        left, _ = compare.compare_results(case_id, upstream[case_id], mine)
        failures += [f"{case_id}: {difference}\n{mine.get('traceback', '')}".rstrip() for difference in left]
    assert not failures, "differences outside the allowlist:\n" + "\n".join(failures)


def test_every_allowlist_entry_is_needed(upstream: dict[str, Any], ours: dict[str, Any]) -> None:
    used = {allowed.id: 0 for allowed in compare.ALLOWLIST}
    for case_id, mine in ours.items():
        for key, count in compare.compare_results(case_id, upstream[case_id], mine)[1].items():
            used[key] += count
    assert [key for key, count in used.items() if not count] == []


def test_the_allowlist_is_printed_in_the_migration_guide() -> None:
    guide = (HERE.parents[1] / "docs" / "migrating.md").read_text(encoding="utf-8")
    for allowed in compare.ALLOWLIST:
        assert f"`{allowed.id}`" in guide, allowed.id
        assert allowed.summary in guide, allowed.id
        assert allowed.reason in guide, allowed.id
