"""``python -m airflow_provider_k8spod.testing serve``: ready line, kubeconfig, config file, clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.testing._helpers import wait_for

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_get(kubeconfig: Path, path: str) -> Any:
    import http.client
    import ssl

    from airflow_provider_k8spod.testing.kubeconfig import current_server, read

    url, token, ca = current_server(read(str(kubeconfig)))
    host, port = url.removeprefix("https://").rsplit(":", 1)
    connection = http.client.HTTPSConnection(
        host, int(port), context=ssl.create_default_context(cadata=ca.decode())
    )
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    return json.loads(connection.getresponse().read())


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_k8spod.testing",
            "serve",
            "--kubeconfig",
            str(kubeconfig),
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line


def test_serve_until_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "cluster.yaml"
    config.write_text(
        yaml.safe_dump({"nodes": [{"name": "edge-1", "labels": {"zone": "edge"}}], "namespaces": ["airflow"]})
    )
    process, line = _serve(tmp_path, "--port", str(port), "--config", str(config))
    try:
        assert line == f"ready https://127.0.0.1:{port}\n"
        api_config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(str(tmp_path / "kubeconfig"), client_configuration=api_config)
        core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(api_config))
        assert [n.metadata.name for n in core.list_node().items] == ["edge-1"]
        assert core.read_namespace("airflow").metadata.name == "airflow"
        core.create_namespaced_pod(
            "airflow",
            {
                "metadata": {"name": "long"},
                "spec": {"containers": [{"name": "base", "image": "busybox", "command": ["sleep", "300"]}]},
            },
        )
        wait_for(lambda: core.read_namespaced_pod("long", "airflow").status.phase == "Running")
        info = _admin_get(tmp_path / "kubeconfig", "/_local/info")
        processes = _admin_get(tmp_path / "kubeconfig", "/_local/processes")
        pids = [pid for p in processes for pid in p["pids"]]
        assert pids
        assert os.path.isdir(info["state_dir"])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert process.stdout is not None
    assert process.stdout.read() == ""  # exactly one line on stdout
    assert (tmp_path / "kubeconfig").exists()
    assert not os.path.exists(info["state_dir"])
    assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}")]


def test_sigint_also_stops(tmp_path: Path) -> None:
    process, line = _serve(tmp_path)
    assert line.startswith("ready https://127.0.0.1:")
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0


def test_bad_config_fails(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"isolation": "vm"}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_k8spod.testing",
            "serve",
            "--kubeconfig",
            str(tmp_path / "k"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "isolation must be" in result.stderr
    assert result.stdout == ""
