"""kubectl against the local cluster (skipped when no ``kubectl`` binary is on PATH)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import kubernetes
import pytest

from airflow_provider_k8spod.testing import LocalCluster
from tests.testing._helpers import pod_manifest

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(cluster: LocalCluster, tmp_path: Path) -> Kubectl:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=cluster.kubeconfig_path, HOME=str(tmp_path))
        result = subprocess.run(
            ["kubectl", f"--cache-dir={tmp_path / 'cache'}", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return run


def test_get_pods_table(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str, kubectl: Kubectl
) -> None:
    core.create_namespaced_pod(ns, pod_manifest("done", ["true"]))
    core.create_namespaced_pod(ns, pod_manifest("bad", ["sh", "-c", "exit 2"]))
    core.create_namespaced_pod(ns, pod_manifest("up", ["sleep", "60"], grace=0))
    cluster.wait_for_pod(ns, "done", phase="Succeeded")
    cluster.wait_for_pod(ns, "bad", phase="Failed")
    cluster.wait_for_pod(ns, "up", phase="Running")
    out = kubectl("get", "pods", "-n", ns).stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {line.split()[0]: line.split()[1:4] for line in out[1:]}
    assert rows == {
        "bad": ["0/1", "Error", "0"],
        "done": ["0/1", "Completed", "0"],
        "up": ["1/1", "Running", "0"],
    }
    wide = kubectl("get", "pod", "up", "-n", ns, "-o", "wide").stdout
    assert "node-1" in wide
    core.delete_namespaced_pod("up", ns)


def test_get_json_and_names(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str, kubectl: Kubectl
) -> None:
    core.create_namespaced_pod(ns, pod_manifest("j", ["true"]))
    cluster.wait_for_pod(ns, "j", phase="Succeeded")
    pod = json.loads(kubectl("get", "pod", "j", "-n", ns, "-o", "json").stdout)
    assert pod["status"]["phase"] == "Succeeded"
    listing = json.loads(kubectl("get", "pods", "-n", ns, "-o", "json").stdout)
    assert [p["metadata"]["name"] for p in listing["items"]] == ["j"]
    assert kubectl("get", "pods", "-n", ns, "-o", "name").stdout == "pod/j\n"
    assert "node-1" in kubectl("get", "nodes").stdout
    missing = kubectl("get", "pod", "nope", "-n", ns, check=False)
    assert missing.returncode != 0
    assert 'pods "nope" not found' in missing.stderr


def test_logs(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str, kubectl: Kubectl) -> None:
    core.create_namespaced_pod(ns, pod_manifest("l", ["sh", "-c", "echo one; echo two"]))
    cluster.wait_for_pod(ns, "l", phase="Succeeded")
    assert kubectl("logs", "l", "-n", ns).stdout == "one\ntwo\n"
    assert kubectl("logs", "l", "-n", ns, "--tail=1").stdout == "two\n"
    assert kubectl("logs", "-f", "l", "-n", ns).stdout == "one\ntwo\n"


def test_exec(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str, kubectl: Kubectl) -> None:
    core.create_namespaced_pod(ns, pod_manifest("x", ["sleep", "60"], grace=0))
    cluster.wait_for_pod(ns, "x", phase="Running")
    assert kubectl("exec", "x", "-n", ns, "--", "echo", "hi from exec").stdout == "hi from exec\n"
    failed = kubectl("exec", "x", "-n", ns, "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    core.delete_namespaced_pod("x", ns)
