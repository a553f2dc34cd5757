"""The pytest plugin, loaded through its ``pytest11`` entry point in a separate pytest run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_k8spod.testing import LocalCluster
from airflow_provider_k8spod.testing.pytest_plugin import CONNECTION_ENV

pytestmark = pytest.mark.timeout(180)

USER_TESTS = """
import json
import os

import kubernetes
import pytest

from airflow_provider_k8spod.testing import Node

ENV = "AIRFLOW_CONN_KUBERNETES_DEFAULT"


def test_connection_fixture(local_cluster_connection):
    conn = json.loads(os.environ[ENV])
    assert conn == {"conn_type": "k8spod", "extra": {"kube_config_path": local_cluster_connection.kubeconfig_path,
                                                      "namespace": "default"}}
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(conn["extra"]["kube_config_path"], client_configuration=config)
    core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))
    assert core.list_namespaced_pod("default").items == []


def test_connection_restored():
    assert os.environ[ENV] == "previous-value"


@pytest.mark.local_cluster(nodes=[Node("custom-node")])
def test_marker(local_cluster):
    assert local_cluster.container_processes() == []
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(local_cluster.kubeconfig_path, client_configuration=config)
    core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))
    assert [n.metadata.name for n in core.list_node().items] == ["custom-node"]


def test_shared(local_cluster_shared):
    local_cluster_shared.faults.fail("get", "pods", times=None)
    assert local_cluster_shared.faults.rules()


def test_shared_is_reset(local_cluster_shared, local_cluster_session):
    assert local_cluster_shared is local_cluster_session
    assert local_cluster_shared.faults.rules() == []


def test_factory(local_cluster_factory):
    a = local_cluster_factory()
    b = local_cluster_factory(namespaces=["x"])
    assert a.server_url != b.server_url
"""


def test_fixtures_in_a_user_test_run(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    env = dict(os.environ, **{CONNECTION_ENV: "previous-value"})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=170,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout


def test_airflow_connection_json(local_cluster: LocalCluster) -> None:
    conn = json.loads(local_cluster.airflow_connection("airflow"))
    assert conn["conn_type"] == "k8spod"
    assert conn["extra"] == {"kube_config_path": local_cluster.kubeconfig_path, "namespace": "airflow"}
