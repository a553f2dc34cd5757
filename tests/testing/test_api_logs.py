"""``pods/log`` through the real clients: container choice, waiting errors, options, follow, raw bytes."""

from __future__ import annotations

import datetime as dt
import re
import time

import kubernetes
import kubernetes_asyncio
import pytest
from kubernetes.client.exceptions import ApiException

from airflow_provider_k8spod.testing import LocalCluster
from tests.testing._helpers import gated_pod, pod_manifest, raw_request, release, wait_for
from tests.testing.conftest import async_api

pytestmark = pytest.mark.timeout(120)


def _two_containers(name: str) -> dict[str, object]:
    body = pod_manifest(name, ["sh", "-c", "echo a"])
    body["spec"]["containers"].append({"name": "side", "image": "busybox", "command": ["sh", "-c", "echo b"]})
    body["spec"]["initContainers"] = [{"name": "setup", "image": "busybox", "command": ["true"]}]
    return body


def test_container_must_be_named(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, _two_containers("two"))
    cluster.wait_for_pod(ns, "two", phase="Succeeded")
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("two", ns)
    assert info.value.status == 400
    assert (
        '"message":"a container name must be specified for pod two, choose one of: [base side] or one of the '
        'init containers: [setup]"' in info.value.body
    )
    assert '"reason":"BadRequest"' in info.value.body
    with pytest.raises(ApiException) as bad:
        core.read_namespaced_pod_log("two", ns, container="nope")
    assert "container nope is not valid for pod two" in bad.value.body
    assert core.read_namespaced_pod_log("two", ns, container="side") == "b\n"


def test_waiting_to_start(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    body = pod_manifest("wait", ["true"])
    body["spec"]["volumes"] = [{"name": "v", "configMap": {"name": "absent"}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "v", "mountPath": "/v"}]
    core.create_namespaced_pod(ns, body)
    cluster.wait_for_pod(ns, "wait", condition=lambda p: bool(p["status"].get("containerStatuses")))
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("wait", ns)
    assert info.value.status == 400
    assert 'container \\"base\\" in pod \\"wait\\" is waiting to start: ContainerCreating' in info.value.body


def test_unscheduled_pod_has_empty_log(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_manifest("nowhere", ["true"], nodeSelector={"x": "y"}))
    assert core.read_namespaced_pod_log("nowhere", ns) == ""


def test_previous_without_restart(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_manifest("once", ["true"]))
    cluster.wait_for_pod(ns, "once", phase="Succeeded")
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("once", ns, previous=True)
    assert 'previous terminated container \\"base\\" in pod \\"once\\" not found' in info.value.body


def test_options(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    script = "for i in 1 2 3 4 5; do echo line$i; done; echo err >&2"
    core.create_namespaced_pod(ns, pod_manifest("opts", ["sh", "-c", script]))
    cluster.wait_for_pod(ns, "opts", phase="Succeeded")
    read = core.read_namespaced_pod_log
    assert read("opts", ns) == "line1\nline2\nline3\nline4\nline5\nerr\n"
    assert read("opts", ns, tail_lines=2) == "line5\nerr\n"
    assert read("opts", ns, limit_bytes=8) == "line1\nli"
    stamped = read("opts", ns, timestamps=True).splitlines()
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line1$")
    assert pattern.match(stamped[0]), stamped[0]
    assert read("opts", ns, since_seconds=3600).startswith("line1")
    # The generated sync client has no since_time parameter: use the query string directly.
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    third = stamped[2].split(" ")[0]
    path = f"/api/v1/namespaces/{ns}/pods/opts/log"
    assert raw_request(cluster, "GET", f"{path}?sinceTime={future}")[2] == b""
    # sinceTime counts in whole seconds (the API server passes it to the kubelet without its fraction)
    second = third.split(".")[0]
    expected = "".join(
        line.split(" ", 1)[1] + "\n" for line in stamped if line.split(".")[0] >= second
    ).encode()
    assert raw_request(cluster, "GET", f"{path}?sinceTime={third}")[2] == expected
    assert raw_request(cluster, "GET", f"{path}?sinceTime={second}.999999999Z")[2] == expected
    assert read("opts", ns, stream="Stderr") == "err\n"
    with pytest.raises(ApiException) as info:
        read("opts", ns, since_seconds=0)
    assert info.value.status == 422


def test_follow_ends_when_container_ends(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    script = "for i in 1 2 3; do echo tick$i; sleep 0.2; done; echo last >&2"
    core.create_namespaced_pod(ns, pod_manifest("fol", ["sh", "-c", script]))
    cluster.wait_for_pod(ns, "fol", phase={"Running", "Succeeded"})
    response = core.read_namespaced_pod_log("fol", ns, follow=True, _preload_content=False)
    received = b"".join(response.stream(64))
    assert received == b"tick1\ntick2\ntick3\nlast\n"
    assert (core.read_namespaced_pod("fol", ns).status.phase) == "Succeeded"


def test_follow_streams_as_written(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, gated_pod("live", "first", "second"))
    cluster.wait_for_pod(ns, "live", phase="Running")
    response = core.read_namespaced_pod_log("live", ns, follow=True, _preload_content=False)
    chunks = response.stream(1024)
    assert next(chunks) == b"first\n"
    release(core, ns, "live")
    assert next(chunks) == b"second\n"
    core.delete_namespaced_pod("live", ns)
    assert b"".join(chunks) == b""


def test_raw_utf8_bytes(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    script = "import sys; sys.stdout.buffer.write('héllo ✓ \\xff'.encode('utf-8') + b'\\xfe\\n')"
    core.create_namespaced_pod(ns, pod_manifest("utf", ["python", "-c", script]))
    cluster.wait_for_pod(ns, "utf", phase="Succeeded")
    response = core.read_namespaced_pod_log("utf", ns, _preload_content=False)
    assert response.data == "héllo ✓ \xff".encode() + b"\xfe\n"


async def test_async_follow(cluster: LocalCluster, ns: str) -> None:
    client = await async_api(cluster)
    try:
        core = kubernetes_asyncio.client.CoreV1Api(client)
        await core.create_namespaced_pod(
            ns, pod_manifest("afol", ["sh", "-c", "echo one; sleep 0.3; echo two"])
        )
        deadline = time.monotonic() + 20
        while (await core.read_namespaced_pod("afol", ns)).status.phase == "Pending":
            assert time.monotonic() < deadline
            await _sleep()
        response = await core.read_namespaced_pod_log("afol", ns, follow=True, _preload_content=False)
        lines = []
        async for line in response.content:
            lines.append(line)
        assert lines == [b"one\n", b"two\n"]
    finally:
        await client.close()


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.05)


def test_logs_while_running(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_manifest("part", ["sh", "-c", "echo early; sleep 30"], grace=0))
    cluster.wait_for_pod(ns, "part", phase="Running")
    assert wait_for(lambda: core.read_namespaced_pod_log("part", ns)) == "early\n"
    core.delete_namespaced_pod("part", ns)
