"""``pods/exec`` over websockets with both clients: channels, exit status, stdin, tty, protocols."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import kubernetes_asyncio
import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from kubernetes.stream.ws_client import ERROR_CHANNEL
from kubernetes_asyncio.stream import WsApiClient

from airflow_provider_k8spod.testing import LocalCluster
from tests.testing._helpers import container_status, pod_manifest, wait_for
from tests.testing.conftest import FAST

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(timings=FAST) as local:
        yield local


@pytest.fixture(scope="module")
def running(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> str:
    """A running pod in ``default`` with env from the pod spec."""
    body = pod_manifest("box", ["sleep", "600"], grace=0)
    body["spec"]["containers"][0]["env"] = [{"name": "GREETING", "value": "hi"}]
    body["spec"]["containers"][0]["workingDir"] = "/tmp"
    core.create_namespaced_pod("default", body)
    cluster.wait_for_pod("default", "box", phase="Running")
    return "box"


def test_sync_exec_output_and_v5(core: kubernetes.client.CoreV1Api, running: str) -> None:
    client = stream(
        core.connect_get_namespaced_pod_exec,
        running,
        "default",
        command=["sh", "-c", "echo out; echo err >&2; echo $GREETING; pwd"],
        stderr=True,
        stdout=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    client.run_forever(timeout=20)
    assert client.subprotocol == "v5.channel.k8s.io"
    assert client.read_stdout() == "out\nhi\n/tmp\n"
    assert client.read_stderr() == "err\n"
    assert client.returncode == 0


def test_sync_exec_preloaded(core: kubernetes.client.CoreV1Api, running: str) -> None:
    output = stream(
        core.connect_get_namespaced_pod_exec,
        running,
        "default",
        command=["echo", "hello world"],
        stderr=True,
        stdout=True,
        stdin=False,
        tty=False,
    )
    assert output == "hello world\n"


def test_sync_exec_non_zero_exit(core: kubernetes.client.CoreV1Api, running: str) -> None:
    client = stream(
        core.connect_get_namespaced_pod_exec,
        running,
        "default",
        command=["sh", "-c", "exit 3"],
        stderr=True,
        stdout=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    client.run_forever(timeout=20)
    assert client.returncode == 3


def test_sync_exec_v4_status_channel(core: kubernetes.client.CoreV1Api, running: str) -> None:
    client = stream(
        core.connect_get_namespaced_pod_exec,
        running,
        "default",
        command=["sh", "-c", "exit 5"],
        stderr=True,
        stdout=True,
        stdin=False,
        tty=False,
        _preload_content=False,
        _headers={"sec-websocket-protocol": "v4.channel.k8s.io"},
    )
    client.run_forever(timeout=20)
    assert client.subprotocol == "v4.channel.k8s.io"
    status = json.loads(client.read_channel(ERROR_CHANNEL))
    assert status == {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command [sh -c exit 5], exit code 5",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "5"}]},
    }


def test_sync_exec_stdin_with_v5_close(core: kubernetes.client.CoreV1Api, running: str) -> None:
    client = stream(
        core.connect_get_namespaced_pod_exec,
        running,
        "default",
        command=["cat"],
        stderr=True,
        stdout=True,
        stdin=True,
        tty=False,
        _preload_content=False,
    )
    client.write_stdin("line one\n")
    client.write_stdin("line two\n")
    client.close_channel(0)
    client.run_forever(timeout=20)
    assert client.read_stdout() == "line one\nline two\n"
    assert client.returncode == 0


def test_sync_exec_tty(core: kubernetes.client.CoreV1Api, running: str) -> None:
    output = stream(
        core.connect_get_namespaced_pod_exec,
        running,
        "default",
        command=["sh", "-c", "[ -t 1 ] && echo terminal"],
        stderr=True,
        stdout=True,
        stdin=False,
        tty=True,
    )
    assert output.strip() == "terminal"


def test_command_not_found(core: kubernetes.client.CoreV1Api, running: str) -> None:
    client = stream(
        core.connect_get_namespaced_pod_exec,
        running,
        "default",
        command=["nope-cmd"],
        stderr=True,
        stdout=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    client.run_forever(timeout=20)
    status = json.loads(client.read_channel(ERROR_CHANNEL))
    assert status["status"] == "Failure"
    assert status["reason"] == "InternalError"
    assert 'exec: "nope-cmd": executable file not found in $PATH' in status["message"]


def test_exec_into_completed_pod(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_manifest("done", ["true"]))
    cluster.wait_for_pod(ns, "done", phase="Succeeded")
    with pytest.raises(ApiException) as info:
        stream(
            core.connect_get_namespaced_pod_exec,
            "done",
            ns,
            command=["true"],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
        )
    assert "400" in str(info.value)


def test_forbidden_exec(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, running: str) -> None:
    cluster.forbid("create", "pods/exec")
    try:
        with pytest.raises(ApiException) as info:
            stream(
                core.connect_get_namespaced_pod_exec,
                running,
                "default",
                command=["true"],
                stdout=True,
                stderr=True,
                stdin=False,
                tty=False,
            )
        assert "403" in str(info.value)
    finally:
        cluster.allow("create", "pods/exec")
    assert (
        stream(
            core.connect_get_namespaced_pod_exec,
            running,
            "default",
            command=["echo", "ok"],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
        )
        == "ok\n"
    )


async def test_async_exec(cluster: LocalCluster, running: str) -> None:
    configuration = kubernetes_asyncio.client.Configuration()
    await kubernetes_asyncio.config.load_kube_config(
        cluster.kubeconfig_path, client_configuration=configuration
    )
    async with WsApiClient(configuration=configuration) as ws_api:
        core = kubernetes_asyncio.client.CoreV1Api(api_client=ws_api)
        output = await core.connect_get_namespaced_pod_exec(
            running,
            "default",
            command=["sh", "-c", "echo async; echo $GREETING >&2"],
            stderr=True,
            stdout=True,
            stdin=False,
            tty=False,
        )
        assert output == "async\nhi\n"
        ws_context = await core.connect_get_namespaced_pod_exec(
            running,
            "default",
            command=["sh", "-c", "echo partial; exit 4"],
            stderr=True,
            stdout=True,
            stdin=False,
            tty=False,
            _preload_content=False,
        )
        channels: dict[int, bytes] = {}
        async with ws_context as ws:
            async for message in ws:
                data = message.data
                channels[data[0]] = channels.get(data[0], b"") + data[1:]
        assert channels[1] == b"partial\n"
        assert WsApiClient.parse_error_data(channels[3]) == 4


def test_kill_pid_one_via_exec(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    if cluster.isolation != "namespaces":
        pytest.skip("needs a PID namespace")
    script = "import time\ntry:\n    time.sleep(600)\nexcept KeyboardInterrupt:\n    print('interrupted')\n"
    core.create_namespaced_pod(ns, pod_manifest("pid1", ["python", "-u", "-c", script]))
    cluster.wait_for_pod(ns, "pid1", phase="Running")
    wait_for(lambda: any(p["pod"] == "pid1" for p in cluster.container_processes()))
    stream(
        core.connect_get_namespaced_pod_exec,
        "pid1",
        ns,
        command=["kill", "-15", "1"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    # PID 1 has no SIGTERM handler: the signal is ignored, as on a node.
    assert core.read_namespaced_pod("pid1", ns).status.phase == "Running"
    stream(
        core.connect_get_namespaced_pod_exec,
        "pid1",
        ns,
        command=["kill", "-2", "1"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    pod = cluster.wait_for_pod(ns, "pid1", phase="Succeeded")
    assert pod is not None
    assert container_status(pod)["state"]["terminated"]["exitCode"] == 0
    assert core.read_namespaced_pod_log("pid1", ns) == "interrupted\n"


def test_exec_stats_key(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, running: str) -> None:
    cluster.reset_stats()
    stream(
        core.connect_get_namespaced_pod_exec,
        running,
        "default",
        command=["true"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    assert cluster.stats()["create pods/exec"] == 1


@pytest.mark.parametrize("protocol", ["v4.base64.channel.k8s.io", "base64.channel.k8s.io", "channel.k8s.io"])
def test_other_subprotocols(cluster: LocalCluster, running: str, protocol: str, tmp_path: Path) -> None:
    import base64
    import ssl
    import urllib.parse

    import websocket

    from airflow_provider_k8spod.testing.kubeconfig import current_server, read

    url, token, ca = current_server(read(cluster.kubeconfig_path))
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca)
    query = urllib.parse.urlencode(
        [
            ("command", "sh"),
            ("command", "-c"),
            ("command", "echo hi; exit 2"),
            ("stdout", "true"),
            ("stderr", "true"),
        ]
    )
    ws = websocket.create_connection(
        f"{url.replace('https', 'wss')}/api/v1/namespaces/default/pods/{running}/exec?{query}",
        header=[f"Authorization: Bearer {token}"],
        subprotocols=[protocol],
        sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(ca_file)},
    )
    assert ws.subprotocol == protocol
    frames: list[tuple[int, bytes]] = []
    while True:
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        if "base64" in protocol:
            frames.append((data[0] - ord("0"), base64.b64decode(data[1:])))
        else:
            frames.append((data[0], data[1:]))
    ws.close()
    stdout = b"".join(d for c, d in frames if c == 1)
    status = b"".join(d for c, d in frames if c == 3)
    assert stdout == b"hi\n"
    if protocol.startswith("v4"):
        assert json.loads(status)["details"]["causes"] == [{"reason": "ExitCode", "message": "2"}]
    else:
        assert status.startswith(b"command terminated with non-zero exit code")
