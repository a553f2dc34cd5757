"""Where the local cluster used to differ from a real one (issue 11, items 4, 5 and 8), through the real
clients: quantities, a lost node, image pull back-off, init container readiness, eviction grace, log
``sinceTime``, and a quiet server log when clients close their streams."""

from __future__ import annotations

import json
import os
import time

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from airflow_provider_k8spod.testing import LocalCluster
from tests.testing._helpers import container_status, pod_manifest, raw_request, wait_for

pytestmark = pytest.mark.timeout(120)


def in_state(pod: dict[str, object], name: str, state: str) -> bool:
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []  # type: ignore[attr-defined]
    return any(s["name"] == name and state in s["state"] for s in statuses)


QUANTITY_RE = "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def _post_pod(cluster: LocalCluster, ns: str, body: dict[str, object]) -> dict[str, object]:
    # a raw request: the client's models refuse numbers and nulls that the API server accepts
    status, _, raw = raw_request(
        cluster,
        "POST",
        f"/api/v1/namespaces/{ns}/pods",
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 201, raw
    return dict(json.loads(raw))


def test_quantities_are_written_back_canonical(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("q", ["sleep", "0"])
    body["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": 0.25, "memory": "1024Mi", "ephemeral-storage": "1.5Gi"},
        "requests": {"cpu": "0.1", "memory": "100000k", "example.com/gpu": None},
    }
    body["spec"]["containers"][0]["env"] = [
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1000m"}}}
    ]
    body["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {"sizeLimit": "12e6"}}]
    created: dict[str, object] = _post_pod(cluster, ns, body)
    container = created["spec"]["containers"][0]  # type: ignore[index]
    assert container["resources"] == {
        "limits": {"cpu": "250m", "memory": "1Gi", "ephemeral-storage": "1536Mi"},
        # requests absent from the manifest default to the limit (SetDefaults_Pod)
        "requests": {"cpu": "100m", "memory": "100M", "example.com/gpu": "0", "ephemeral-storage": "1536Mi"},
    }
    assert container["env"][0]["valueFrom"]["resourceFieldRef"]["divisor"] == "1"
    assert created["spec"]["volumes"][0]["emptyDir"]  # type: ignore[index] == {"sizeLimit": "12e6"}
    body["metadata"]["name"] = "q2"
    body["spec"]["containers"][0]["resources"] = None
    assert _post_pod(cluster, ns, body)["spec"]["containers"][0]["resources"] == {}  # type: ignore[index]
    fetched = core.api_client.sanitize_for_serialization(core.read_namespaced_pod("q", ns))
    assert fetched["spec"]["containers"][0]["resources"] == container["resources"]


def test_a_bare_json_number_is_read_from_its_text(cluster: LocalCluster, ns: str) -> None:
    body = pod_manifest("n", ["sleep", "0"])
    text = json.dumps(body).replace(
        '"image"', '"resources": {"limits": {"cpu": 1e3, "memory": 1.500}}, "image"'
    )
    status, _, raw = raw_request(
        cluster,
        "POST",
        f"/api/v1/namespaces/{ns}/pods",
        body=text.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 201, raw
    assert json.loads(raw)["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "1e3",
        "memory": "1.500",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2 cores", f"quantities must match the regular expression {QUANTITY_RE}"),
        ("32MMi", "unable to parse quantity's suffix"),
    ],
)
def test_an_invalid_quantity_is_rejected_like_the_api_server(
    core: kubernetes.client.CoreV1Api, ns: str, value: str, message: str
) -> None:
    body = pod_manifest("bad", ["sleep", "0"])
    body["spec"]["containers"][0]["resources"] = {"limits": {"cpu": value}}
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(ns, body)
    assert info.value.status == 400
    status = json.loads(info.value.body)
    assert status["reason"] == "BadRequest"
    assert status["message"] == f'Pod in version "v1" cannot be handled as a Pod: {message}'


def test_clients_closing_streams_is_not_an_error(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    log_path = os.path.join(cluster.state_dir, "server.log")
    before = os.path.getsize(log_path)
    core.create_namespaced_pod(
        ns, pod_manifest("talker", ["sh", "-c", "while true; do echo hi; sleep 0.05; done"])
    )
    cluster.wait_for_pod(ns, "talker", phase="Running")
    for _ in range(3):
        # a watch the client stops after its first event, and a followed log it closes mid-stream
        watch = kubernetes.watch.Watch()
        for _event in watch.stream(core.list_namespaced_pod, ns, timeout_seconds=30):
            watch.stop()
        response = core.read_namespaced_pod_log("talker", ns, follow=True, _preload_content=False)
        next(response.stream(16))
        response.release_conn()
        response.close()
        session = stream(
            core.connect_get_namespaced_pod_exec,
            "talker",
            ns,
            command=["sleep", "30"],
            stderr=True,
            stdout=True,
            _preload_content=False,
        )
        session.close()
    time.sleep(1.0)  # the server notices the closed connections
    with open(log_path, encoding="utf-8", errors="replace") as log_file:
        log_file.seek(before)
        written = log_file.read()
    assert "ERROR" not in written, written
    assert "Traceback" not in written, written


def test_a_running_init_container_is_not_ready(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("init", ["true"], grace=0)
    body["spec"]["initContainers"] = [
        {"name": "setup", "image": "busybox", "command": ["sleep", "30"]},
        {"name": "proxy", "image": "busybox", "command": ["sleep", "30"], "restartPolicy": "Always"},
    ]
    body["spec"]["initContainers"].reverse()  # the sidecar starts first, then the init container runs
    core.create_namespaced_pod(ns, body)
    pod = cluster.wait_for_pod(ns, "init", condition=lambda p: in_state(p, "setup", "running"))
    assert pod is not None
    setup = container_status(pod, "setup", init=True)
    assert (setup["ready"], setup["started"]) == (False, True)
    proxy = container_status(pod, "proxy", init=True)
    assert (proxy["ready"], proxy["started"]) == (True, True)  # a running sidecar without probes is ready
    initialized = next(c for c in pod["status"]["conditions"] if c["type"] == "Initialized")
    assert (initialized["status"], initialized["reason"], initialized["message"]) == (
        "False",
        "ContainersNotInitialized",
        "containers with incomplete status: [setup]",
    )


TERM_HANDLER = "trap 'echo got TERM; exit 3' TERM; echo up; while true; do sleep 0.05; done"
IGNORE_TERM = "trap 'echo got TERM' TERM; echo up; while true; do sleep 0.05; done"


def test_eviction_api_honours_the_grace_period(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod_manifest("ev", ["sh", "-c", IGNORE_TERM], grace=2))
    cluster.wait_for_pod(ns, "ev", phase="Running")
    wait_for(lambda: core.read_namespaced_pod_log("ev", ns) == "up\n")  # its TERM handler is in place
    started = time.monotonic()
    core.create_namespaced_pod_eviction("ev", ns, {"metadata": {"name": "ev", "namespace": ns}})
    pod = core.read_namespaced_pod("ev", ns)
    assert pod.metadata.deletion_grace_period_seconds == 2
    assert pod.status.phase == "Running"
    target = next(c for c in pod.status.conditions if c.type == "DisruptionTarget")
    assert (target.reason, target.message) == ("EvictionByEvictionAPI", "Eviction API: evicting")
    wait_for(lambda: "got TERM" in core.read_namespaced_pod_log("ev", ns))
    cluster.wait_for_pod(ns, "ev", gone=True)
    assert time.monotonic() - started >= 1.5  # killed at the end of its 2 s grace period, not at once


def test_node_pressure_eviction_sends_sigterm_first(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod_manifest("pressure", ["sh", "-c", TERM_HANDLER], grace=30))
    cluster.wait_for_pod(ns, "pressure", phase="Running")
    wait_for(lambda: core.read_namespaced_pod_log("pressure", ns) == "up\n")
    cluster.evict_pod(ns, "pressure")
    pod = cluster.wait_for_pod(ns, "pressure", phase="Failed")
    assert pod is not None
    assert pod["status"]["reason"] == "Evicted"
    # SIGTERM, then SIGKILL after the eviction manager's 1 s: the handler ran and chose the exit code
    assert container_status(pod)["state"]["terminated"]["exitCode"] == 3
    assert core.read_namespaced_pod_log("pressure", ns) == "up\ngot TERM\n"
