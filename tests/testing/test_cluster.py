"""``LocalCluster`` lifecycle: kubeconfig, TLS, start failures, and cleanup (also after the owner is killed)."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import kubernetes
import pytest
import yaml
from cryptography import x509

from airflow_provider_k8spod.testing import LocalCluster, LocalClusterError, Node
from tests.testing._helpers import pod_manifest, wait_for
from tests.testing.conftest import sync_api

pytestmark = pytest.mark.timeout(120)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_kubeconfig_shape(local_cluster: LocalCluster) -> None:
    with open(local_cluster.kubeconfig_path) as fh:
        config = yaml.safe_load(fh)
    assert oct(os.stat(local_cluster.kubeconfig_path).st_mode & 0o777) == "0o600"
    assert config["current-context"] == "local"
    (cluster,) = config["clusters"]
    (user,) = config["users"]
    (context,) = config["contexts"]
    assert cluster["cluster"]["server"] == local_cluster.server_url
    assert local_cluster.server_url.startswith("https://127.0.0.1:")
    assert user["user"] == {"token": local_cluster.token}
    assert context == {
        "name": "local",
        "context": {"cluster": cluster["name"], "user": user["name"], "namespace": "default"},
    }
    ca = x509.load_pem_x509_certificate(base64.b64decode(cluster["cluster"]["certificate-authority-data"]))
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_server_certificate_names(local_cluster: LocalCluster) -> None:
    port = int(local_cluster.server_url.rsplit(":", 1)[1])
    with open(local_cluster.kubeconfig_path) as fh:
        ca = base64.b64decode(yaml.safe_load(fh)["clusters"][0]["cluster"]["certificate-authority-data"])
    context = ssl.create_default_context(cadata=ca.decode())
    for host in ("127.0.0.1", "localhost"):
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]


def test_everything_is_cleaned_up_on_exit() -> None:
    with LocalCluster() as cluster:
        core = kubernetes.client.CoreV1Api(sync_api(cluster))
        core.create_namespaced_pod("default", pod_manifest("long", ["sleep", "300"], grace=30))
        core.create_namespaced_pod("default", pod_manifest("trap", ["sh", "-c", "trap '' TERM; sleep 300"]))
        cluster.wait_for_pod("default", "long", phase="Running")
        cluster.wait_for_pod("default", "trap", phase="Running")
        pids = [pid for p in cluster.container_processes() for pid in p["pids"]]
        server_pid = cluster.server_pid
        state_dir = cluster.state_dir
        assert pids
        assert os.path.isdir(state_dir)
    assert server_pid is not None
    assert not _alive(server_pid)
    assert not [pid for pid in pids if _alive(pid)]
    assert not os.path.exists(state_dir)
    assert not cluster.running


def test_cleanup_after_owner_is_sigkilled(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(
        textwrap.dedent(
            """
        import json, sys, time
        import kubernetes
        from airflow_provider_k8spod.testing import LocalCluster
        cluster = LocalCluster().start()
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(cluster.kubeconfig_path, client_configuration=config)
        core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))
        core.create_namespaced_pod("default", {"metadata": {"name": "long"}, "spec": {"containers": [
            {"name": "base", "image": "busybox", "command": ["sleep", "300"]}]}})
        cluster.wait_for_pod("default", "long", phase="Running")
        pids = [pid for p in cluster.container_processes() for pid in p["pids"]]
        print(json.dumps({"server": cluster.server_pid, "pids": pids, "state_dir": cluster.state_dir}), flush=True)
        time.sleep(300)
        """
        )
    )
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        info = json.loads(owner.stdout.readline())
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    wait_for(lambda: not _alive(info["server"]), timeout=30)
    wait_for(lambda: not [pid for pid in info["pids"] if _alive(pid)], timeout=30)
    wait_for(lambda: not os.path.exists(info["state_dir"]), timeout=30)


def test_stale_state_directories_are_swept(tmp_path: Path) -> None:
    from airflow_provider_k8spod.testing.server import sweep_stale_state_dirs

    dead = tmp_path / "k8spod-local-dead"
    dead.mkdir()
    (dead / "server.pid").write_text("999999999 1")
    alive = tmp_path / "k8spod-local-alive"
    alive.mkdir()
    (alive / "server.pid").write_text(f"{os.getpid()}")
    young = tmp_path / "k8spod-local-young"
    young.mkdir()
    removed = sweep_stale_state_dirs(str(tmp_path))
    assert removed == [str(dead)]
    assert alive.exists()
    assert young.exists()


def test_start_failure_reports_the_server_log() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        cluster = LocalCluster(port=port)
        with pytest.raises(LocalClusterError, match="did not start") as info:
            cluster.start()
        assert "Address already in use" in str(info.value)
        assert not cluster.running
        assert not os.path.exists(cluster.state_dir)


def test_wait_for_pod_timeout_shows_last_status(local_cluster: LocalCluster) -> None:
    core = kubernetes.client.CoreV1Api(sync_api(local_cluster))
    core.create_namespaced_pod("default", pod_manifest("stuck", ["true"], nodeSelector={"a": "b"}))
    with pytest.raises(TimeoutError, match="Unschedulable"):
        local_cluster.wait_for_pod("default", "stuck", phase="Running", timeout=1)


def test_admin_errors_are_reported(local_cluster: LocalCluster) -> None:
    with pytest.raises(LocalClusterError, match=r'404 pods "nope" not found'):
        local_cluster.evict_pod("default", "nope")
    with pytest.raises(LocalClusterError, match="404"):
        local_cluster.lose_node("nope")


@pytest.mark.local_cluster(nodes=[Node("a"), Node("b")], namespaces=["team"])
def test_marker_options_reach_the_cluster(local_cluster: LocalCluster) -> None:
    core = kubernetes.client.CoreV1Api(sync_api(local_cluster))
    assert [n.metadata.name for n in core.list_node().items] == ["a", "b"]
    assert core.read_namespace("team").status.phase == "Active"
    assert core.read_namespaced_config_map("kube-root-ca.crt", "team").data["ca.crt"].startswith("-----BEGIN")


def test_namespace_deletion_removes_its_pods(local_cluster: LocalCluster) -> None:
    core = kubernetes.client.CoreV1Api(sync_api(local_cluster))
    core.create_namespace({"metadata": {"name": "temp"}})
    core.create_namespaced_pod("temp", pod_manifest("p", ["sleep", "60"], grace=1))
    local_cluster.wait_for_pod("temp", "p", phase="Running")
    deleted = core.delete_namespace("temp")  # kubernetes 37 returns deletes as plain dicts
    assert deleted["status"]["phase"] == "Terminating"
    with pytest.raises(kubernetes.client.exceptions.ApiException) as info:
        core.create_namespaced_config_map("temp", {"metadata": {"name": "x"}})
    assert info.value.status == 403
    wait_for(lambda: "temp" not in [n.metadata.name for n in core.list_namespace().items], timeout=20)
    assert local_cluster.pods("temp") == []


def test_repr_does_not_leak_the_token(local_cluster: LocalCluster) -> None:
    assert local_cluster.token not in repr(local_cluster)
    assert local_cluster.server_url in repr(local_cluster)
