"""Fault injection: API errors, latency, cut streams, expired watches, forbidden verbs, evictions, OOM kills,
lost nodes and log rotation, each observed through the real clients."""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import kubernetes
import kubernetes_asyncio
import pytest
import urllib3
import websocket
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from airflow_provider_k8spod.testing import LocalCluster, Node
from tests.testing._helpers import (
    container_status,
    gated_pod,
    pod_manifest,
    raw_request,
    reasons,
    release,
    wait_for,
)
from tests.testing.conftest import FAST, async_api, sync_api

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def cluster(local_cluster_factory: Any) -> LocalCluster:
    """A fresh cluster per test: faults are cluster-wide."""
    return local_cluster_factory(timings=FAST)  # type: ignore[no-any-return]


@pytest.fixture
def core(cluster: LocalCluster) -> Iterator[kubernetes.client.CoreV1Api]:
    client = sync_api(cluster)
    yield kubernetes.client.CoreV1Api(client)
    client.close()


def _body(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def test_fail_with_429_and_retry_after(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    cluster.faults.fail("create", "pods", status=429, times=2, retry_after=3)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            core.create_namespaced_pod("default", pod_manifest("p", ["true"]))
        assert info.value.status == 429
        assert info.value.headers["Retry-After"] == "3"
        assert _body(info.value) == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Too many requests, please try again later.",
            "reason": "TooManyRequests",
            "details": {"retryAfterSeconds": 3},
            "code": 429,
        }
    core.create_namespaced_pod("default", pod_manifest("p", ["true"]))
    assert cluster.stats()["create pods"] == 3
    assert [r["hits"] for r in cluster.faults.rules()] == [2]


@pytest.mark.parametrize(
    ("status", "reason"), [(500, "InternalError"), (503, "ServiceUnavailable"), (504, "Timeout")]
)
def test_fail_statuses(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, status: int, reason: str
) -> None:
    cluster.faults.fail("list", "pods", status=status, times=1, namespace="default")
    with pytest.raises(ApiException) as info:
        core.list_namespaced_pod("default")
    assert info.value.status == status
    assert _body(info.value)["reason"] == reason
    core.list_pod_for_all_namespaces()
    core.list_namespaced_pod("default")


def test_fail_only_one_object(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    for name in ("a", "b"):
        core.create_namespaced_config_map("default", {"metadata": {"name": name}})
    cluster.faults.fail("get", "configmaps", status=500, times=None, name="a")
    for _ in range(3):
        with pytest.raises(ApiException):
            core.read_namespaced_config_map("a", "default")
    assert core.read_namespaced_config_map("b", "default").metadata.name == "b"
    cluster.faults.clear()
    assert core.read_namespaced_config_map("a", "default").metadata.name == "a"


def test_latency_delays_only_matching_requests(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api
) -> None:
    cluster.faults.latency("list", "pods", seconds=5.0, times=1)
    done = threading.Event()

    def slow() -> None:
        core.list_namespaced_pod("default")
        done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    wait_for(lambda: cluster.faults.rules()[0]["hits"] == 1)
    core.list_namespaced_config_map("default")  # not delayed: answers while the list is still held
    assert not done.is_set()
    thread.join(20)
    assert done.is_set()


def test_reset_log_stream(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod(
        "default",
        pod_manifest(
            "chatty", ["sh", "-c", "for i in $(seq 1 50); do echo line-$i; done; sleep 30"], grace=0
        ),
    )
    cluster.wait_for_pod("default", "chatty", phase="Running")
    wait_for(lambda: "line-50" in core.read_namespaced_pod_log("chatty", "default"))
    cluster.faults.reset_stream("pods/log", after_bytes=20)
    response = core.read_namespaced_pod_log("chatty", "default", follow=True, _preload_content=False)
    received: list[bytes] = []

    def drain() -> None:
        for chunk in response.stream(8):
            received.append(chunk)

    with pytest.raises(urllib3.exceptions.HTTPError):
        drain()
    full = "".join(f"line-{i}\n" for i in range(1, 51)).encode()
    assert b"".join(received) == full[:20]
    again = core.read_namespaced_pod_log("chatty", "default", tail_lines=1)
    assert again == "line-50\n"


def test_reset_watch_stream(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "one"}})
    cluster.faults.reset_stream("configmaps", after_bytes=10)
    watch = kubernetes.watch.Watch()
    with pytest.raises(urllib3.exceptions.HTTPError):
        for _ in watch.stream(core.list_namespaced_config_map, "default", timeout_seconds=5):
            pass


def test_reset_exec_stream(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod_manifest("ex", ["sleep", "60"], grace=0))
    cluster.wait_for_pod("default", "ex", phase="Running")
    cluster.faults.reset_stream("pods/exec", after_bytes=5)
    client = stream(
        core.connect_get_namespaced_pod_exec,
        "ex",
        "default",
        command=["sh", "-c", "echo 0123456789"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        client.run_forever(timeout=10)
    assert client.read_stdout() == "01234"


def test_expire_watches_ends_open_watch_with_410(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api
) -> None:
    rv = core.list_namespaced_pod("default").metadata.resource_version
    status: dict[str, Any] = {}

    def watch_raw() -> None:
        _, _, body = raw_request(
            cluster,
            "GET",
            f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&timeoutSeconds=20",
        )
        status["lines"] = [json.loads(line) for line in body.decode().splitlines() if line]

    thread = threading.Thread(target=watch_raw)
    thread.start()
    wait_for(lambda: cluster.open_watches() == {"pods": 1})
    assert cluster.faults.expire_watches("pods") == 1
    thread.join(20)
    (line,) = status["lines"]
    assert line["type"] == "ERROR"
    assert line["object"]["code"] == 410
    assert line["object"]["reason"] == "Expired"
    code, _, body = raw_request(
        cluster, "GET", f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}"
    )
    assert json.loads(body)["object"]["code"] == 410
    fresh = core.list_namespaced_pod("default").metadata.resource_version
    code, _, body = raw_request(
        cluster, "GET", f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={fresh}&timeoutSeconds=1"
    )
    assert (code, body) == (200, b"")


def test_reset_a_create_the_pod_exists_and_the_answer_is_lost(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api
) -> None:
    cluster.faults.reset_stream("pods", verb="create")
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.create_namespaced_pod("default", pod_manifest("lost", ["true"]), _request_timeout=10)
    assert cluster.pod("default", "lost") is not None
    with pytest.raises(ApiException) as info:  # the client's retry meets the pod it created
        core.create_namespaced_pod("default", pod_manifest("lost", ["true"]))
    assert info.value.status == 409


def test_unreachable_cuts_open_streams_resets_requests_then_ends(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api
) -> None:
    core.create_namespace({"metadata": {"name": "cut"}})
    outcome: dict[str, Any] = {}

    def watch_raw() -> None:
        try:
            raw_request(cluster, "GET", "/api/v1/namespaces/cut/pods?watch=true&timeoutSeconds=20")
        except Exception as exc:  # the cut
            outcome["error"] = exc

    thread = threading.Thread(target=watch_raw)
    thread.start()
    wait_for(lambda: cluster.open_watches() == {"pods": 1})
    cluster.faults.unreachable(1.5, namespace="cut")
    thread.join(10)
    assert isinstance(outcome.get("error"), (ConnectionError, OSError, http.client.HTTPException))
    # Meanwhile: no answer at all in that namespace (the connection is reset), others are served.
    with pytest.raises((ConnectionError, OSError, http.client.HTTPException)):
        raw_request(cluster, "GET", "/api/v1/namespaces/cut/pods")
    assert raw_request(cluster, "GET", "/api/v1/namespaces/default/pods")[0] == 200
    [rule] = cluster.faults.rules()
    assert (rule["kind"], rule["hits"]) == ("unreachable", 1)

    def served() -> bool:
        try:
            return raw_request(cluster, "GET", "/api/v1/namespaces/cut/pods")[0] == 200
        except (ConnectionError, OSError, http.client.HTTPException):
            return False

    wait_for(served, timeout=5)  # the window ends by itself
    with pytest.raises(ValueError, match="seconds must be > 0"):
        cluster.faults.unreachable(0)


def test_compact_and_close_watches_makes_the_resume_get_410(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api
) -> None:
    rv = core.list_namespaced_pod("default").metadata.resource_version
    lines: list[bytes] = []

    def watch_raw() -> None:
        path = f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&timeoutSeconds=20"
        lines.append(raw_request(cluster, "GET", path)[2])

    thread = threading.Thread(target=watch_raw)
    thread.start()
    wait_for(lambda: cluster.open_watches() == {"pods": 1})
    cluster.faults.compact("pods", close_watches=True)
    thread.join(10)
    assert lines == [b""]  # ended without an event
    _, _, body = raw_request(
        cluster, "GET", f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}"
    )
    assert json.loads(body)["object"]["code"] == 410


async def test_expired_watch_with_async_client(cluster: LocalCluster) -> None:
    client = await async_api(cluster)
    try:
        core = kubernetes_asyncio.client.CoreV1Api(client)
        rv = (await core.list_namespaced_pod("default")).metadata.resource_version
        cluster.faults.compact("pods")
        watch = kubernetes_asyncio.watch.Watch()

        async def consume() -> None:
            async with watch.stream(
                core.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=5
            ) as events:
                async for _ in events:
                    pass

        with pytest.raises(kubernetes_asyncio.client.exceptions.ApiException) as info:
            await consume()
        assert info.value.status == 410
    finally:
        await client.close()


def test_forbid(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    cluster.forbid("list", "pods")
    with pytest.raises(ApiException) as info:
        core.list_namespaced_pod("default")
    assert info.value.status == 403
    assert _body(info.value)["message"] == (
        'pods is forbidden: User "local-admin" cannot list resource "pods" in API group "" in the namespace "default"'
    )
    cluster.forbid("delete", "pods")
    with pytest.raises(ApiException) as named:
        core.delete_namespaced_pod("x", "default")
    assert _body(named.value)["message"].startswith('pods "x" is forbidden: User "local-admin" cannot delete')
    cluster.allow()
    core.list_namespaced_pod("default")


def test_evict_pod(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod_manifest("ev", ["sleep", "60"], grace=30))
    cluster.wait_for_pod("default", "ev", phase="Running")
    cluster.evict_pod("default", "ev")
    pod = cluster.wait_for_pod("default", "ev", phase="Failed")
    assert pod is not None
    assert pod["status"]["reason"] == "Evicted"
    assert pod["status"]["message"].startswith("The node was low on resource: memory.")
    disruption = next(c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (disruption["status"], disruption["reason"]) == ("True", "TerminationByKubelet")
    assert container_status(pod)["state"]["terminated"]["exitCode"] == 137
    assert ("Warning", "Evicted") in reasons(cluster, "default", "ev")
    assert not [p for p in cluster.container_processes() if p["pod"] == "ev"]


def test_oom_kill(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod_manifest("oom", ["sleep", "60"], grace=0))
    cluster.wait_for_pod("default", "oom", phase="Running")
    cluster.oom_kill("default", "oom")
    pod = cluster.wait_for_pod("default", "oom", phase="Failed")
    assert pod is not None
    terminated = container_status(pod)["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)


def test_oom_kill_restarts_with_on_failure(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod(
        "default", pod_manifest("oom2", ["sleep", "60"], restart_policy="OnFailure", grace=0)
    )
    cluster.wait_for_pod("default", "oom2", phase="Running")
    cluster.oom_kill("default", "oom2", "base")
    pod = cluster.wait_for_pod(
        "default",
        "oom2",
        condition=lambda p: (
            container_status(p).get("restartCount") == 1 and "running" in container_status(p)["state"]
        ),
    )
    assert pod is not None
    assert container_status(pod)["lastState"]["terminated"]["reason"] == "OOMKilled"


def test_lose_and_restore_node(local_cluster_factory: Any) -> None:
    """A lost node as kube-controller-manager handles it: pods stay Running until the node monitor grace
    period is over, then turn not Ready, then are deleted after their unreachable toleration; once no node
    is left (full disruption) the controller taints and evicts nothing more."""
    timings = dataclasses.replace(
        FAST, node_monitor_grace_seconds=0.5, default_unreachable_toleration_seconds=1
    )
    cluster = local_cluster_factory(timings=timings, nodes=[Node("node-1"), Node("node-2")])
    core = kubernetes.client.CoreV1Api(sync_api(cluster))
    forever = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}
    patient = dict(forever, tolerationSeconds=60)
    on_1 = {"nodeSelector": {"kubernetes.io/hostname": "node-1"}}
    core.create_namespaced_pod("default", pod_manifest("lost", ["sleep", "60"], grace=5, **on_1))
    core.create_namespaced_pod(
        "default", pod_manifest("kept", ["sleep", "60"], grace=5, tolerations=[forever], **on_1)
    )
    core.create_namespaced_pod(
        "default", pod_manifest("patient", ["sleep", "60"], tolerations=[patient], **on_1)
    )
    for name in ("lost", "kept", "patient"):
        cluster.wait_for_pod("default", name, phase="Running")
    unreachable = next(
        t for t in core.read_namespaced_pod("lost", "default").spec.tolerations if t.key == forever["key"]
    )
    assert unreachable.toleration_seconds == 1  # Timings.default_unreachable_toleration_seconds
    assert cluster.lose_node("node-1") == 3
    wait_for(lambda: not cluster.container_processes())
    # Within the grace period nothing shows: the pod is as the kubelet last reported it.
    pod = core.read_namespaced_pod("lost", "default")
    assert (pod.status.phase, pod.status.reason) == ("Running", None)
    assert next(c for c in pod.status.conditions if c.type == "Ready").status == "True"
    # Then the node is Unknown and tainted, and its pods are not Ready (still Running).
    wait_for(lambda: core.read_node("node-1").spec.taints)
    node = core.read_node("node-1")
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason, ready.message) == (
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert {(t.key, t.effect) for t in node.spec.taints} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    kept = core.read_namespaced_pod("kept", "default")
    assert kept.status.phase == "Running"
    assert {c.type: c.status for c in kept.status.conditions}["Ready"] == "False"
    assert {c.type: c.status for c in kept.status.conditions}["ContainersReady"] == "True"
    # After its one-second toleration the taint eviction controller deletes "lost"; no kubelet confirms it.
    wait_for(lambda: core.read_namespaced_pod("lost", "default").metadata.deletion_timestamp)
    pod = core.read_namespaced_pod("lost", "default")
    assert pod.status.phase == "Running"
    target = next(c for c in pod.status.conditions if c.type == "DisruptionTarget")
    assert (target.status, target.reason, target.message) == (
        "True",
        "DeletionByTaintManager",
        "Taint manager: deleting due to NoExecute taint",
    )
    events = {(e.reason, e.message, e.source.component) for e in core.list_namespaced_event("default").items}
    assert ("NodeNotReady", "Node is not ready", "node-controller") in events
    assert (
        "TaintManagerEviction",
        "Marking for deletion Pod default/lost",
        "taint-eviction-controller",
    ) in events
    assert ("NodeNotReady", "Node node-1 status is now: NodeNotReady", "node-controller") in events
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("kept", "default")
    assert info.value.status == 500
    assert core.read_namespaced_pod("kept", "default").metadata.deletion_timestamp is None
    core.create_namespaced_pod("default", pod_manifest("later", ["true"], **on_1))
    later = cluster.wait_for_pod("default", "later", condition=lambda p: bool(p["status"].get("conditions")))
    assert later is not None
    assert (
        "untolerated taint {node.kubernetes.io/unreachable: }" in later["status"]["conditions"][0]["message"]
    )
    # The last node goes too: full disruption, the NoExecute taints go and pending evictions are cancelled.
    cluster.lose_node("node-2")
    wait_for(lambda: core.read_node("node-2").spec.taints)
    assert [(t.key, t.effect) for t in core.read_node("node-2").spec.taints] == [
        ("node.kubernetes.io/unreachable", "NoSchedule")
    ]
    assert [(t.key, t.effect) for t in core.read_node("node-1").spec.taints] == [
        ("node.kubernetes.io/unreachable", "NoSchedule")
    ]
    events = {(e.reason, e.message) for e in core.list_namespaced_event("default").items}
    assert ("TaintManagerEviction", "Cancelling deletion of Pod default/patient") in events
    cluster.restore_node("node-2")
    cluster.restore_node("node-1")
    cluster.wait_for_pod("default", "later", phase="Succeeded")
    assert cluster.wait_for_pod("default", "kept", phase="Failed") is not None
    wait_for(lambda: cluster.pod("default", "lost") is None)
    assert core.read_namespaced_pod("patient", "default").metadata.deletion_timestamp is None


def test_rotate_logs(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", gated_pod("rot", "before", "after"))
    cluster.wait_for_pod("default", "rot", phase="Running")
    wait_for(lambda: core.read_namespaced_pod_log("rot", "default") == "before\n")
    follower = core.read_namespaced_pod_log("rot", "default", follow=True, _preload_content=False)
    chunks = follower.stream(1024)
    assert next(chunks) == b"before\n"
    cluster.rotate_logs("default", "rot")
    assert core.read_namespaced_pod_log("rot", "default") == ""
    release(core, "default", "rot")
    assert next(chunks) == b"after\n"
    assert core.read_namespaced_pod_log("rot", "default") == "after\n"
    follower.release_conn()


def test_rotate_logs_can_stall_followers(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", gated_pod("stall", "before", "after"))
    cluster.wait_for_pod("default", "stall", phase="Running")
    wait_for(lambda: core.read_namespaced_pod_log("stall", "default") == "before\n")
    follower = core.read_namespaced_pod_log("stall", "default", follow=True, _preload_content=False)
    chunks = follower.stream(1024)
    assert next(chunks) == b"before\n"
    cluster.rotate_logs("default", "stall", stall_followers=True)
    release(core, "default", "stall")
    wait_for(lambda: core.read_namespaced_pod_log("stall", "default") == "after\n")
    core.delete_namespaced_pod("stall", "default", grace_period_seconds=0)
    assert b"".join(chunks) == b""  # nothing after the rotation reached the stalled follower


def test_external_delete_is_not_counted(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod_manifest("ext", ["sleep", "60"], grace=0))
    cluster.wait_for_pod("default", "ext", phase="Running")
    cluster.reset_stats()
    cluster.delete_pod("default", "ext", grace_period_seconds=0)
    cluster.wait_for_pod("default", "ext", gone=True)
    assert "delete pods" not in cluster.stats()
