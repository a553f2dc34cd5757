"""The kubelet: container lifecycle, statuses, events, images, config errors, init containers, sidecars,
restarts, deadlines, graceful deletion, scheduling and volumes, observed through the real client."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from airflow_provider_k8spod.testing import Image, LocalCluster, Node, Taint
from tests.testing._helpers import container_status, pod_manifest, reasons, wait_for
from tests.testing.conftest import FAST

pytestmark = pytest.mark.timeout(120)

IMAGES = [
    Image(
        "registry.local/tool:1",
        entrypoint=["sh", "-c"],
        cmd=["echo from-image $FROM_IMAGE; pwd"],
        env={"FROM_IMAGE": "yes"},
        working_dir="/tmp",
    ),
    Image("registry.local/flaky:1", pull_failures=1),
]
NODES = [Node("node-1"), Node("gpu-1", labels={"accelerator": "gpu"}, taints=[Taint("dedicated", "gpu")])]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(timings=FAST, images=IMAGES, nodes=NODES) as local:
        yield local


def logs(core: kubernetes.client.CoreV1Api, ns: str, name: str, **kwargs: Any) -> str:
    return str(core.read_namespaced_pod_log(name, ns, **kwargs))


def run_to_end(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str, body: dict[str, Any]
) -> dict[str, Any]:
    core.create_namespaced_pod(ns, body)
    pod = cluster.wait_for_pod(ns, body["metadata"]["name"], phase={"Succeeded", "Failed"})
    assert pod is not None
    return pod


def test_hello_world(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    body = pod_manifest("hello", ["python", "-c", "print('hello world')"], image="python:3.11-hello")
    pod = run_to_end(cluster, core, ns, body)
    assert pod["status"]["phase"] == "Succeeded"
    status = container_status(pod)
    terminated = status["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    assert terminated["startedAt"] <= terminated["finishedAt"]
    assert terminated["containerID"].startswith("containerd://")
    assert status["ready"] is False
    assert status["started"] is False
    assert status["restartCount"] == 0
    assert status["image"] == "docker.io/library/python:3.11-hello"
    assert status["imageID"].startswith("docker.io/library/python@sha256:")
    conditions = {c["type"]: (c["status"], c.get("reason")) for c in pod["status"]["conditions"]}
    assert conditions == {
        "PodReadyToStartContainers": ("False", None),
        "Initialized": ("True", "PodCompleted"),
        "Ready": ("False", "PodCompleted"),
        "ContainersReady": ("False", "PodCompleted"),
        "PodScheduled": ("True", None),
    }
    assert pod["status"]["startTime"]
    assert pod["status"]["podIP"] == "127.0.0.1"
    assert logs(core, ns, "hello") == "hello world\n"
    assert [r for _, r in reasons(cluster, ns, "hello")] == [
        "Scheduled",
        "Pulling",
        "Pulled",
        "Created",
        "Started",
    ]
    pulled = next(e for e in cluster.events(ns, involved_name="hello") if e["reason"] == "Pulled")
    assert pulled["message"].startswith('Successfully pulled image "python:3.11-hello" in ')
    again = run_to_end(cluster, core, ns, pod_manifest("again", ["true"], image="python:3.11-hello"))
    assert again["status"]["phase"] == "Succeeded"
    messages = [e["message"] for e in cluster.events(ns, involved_name="again") if e["reason"] == "Pulled"]
    assert messages == ['Container image "python:3.11-hello" already present on machine']


def test_running_status_and_pid_one(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    script = "import os, socket, time; print(os.getpid(), socket.gethostname(), flush=True); time.sleep(30)"
    core.create_namespaced_pod(ns, pod_manifest("run", ["python3", "-c", script], grace=0))
    pod = cluster.wait_for_pod(ns, "run", phase="Running")
    assert pod is not None
    status = container_status(pod)
    assert set(status["state"]) == {"running"}
    assert status["ready"] is True
    assert status["started"] is True
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    output = wait_for(lambda: logs(core, ns, "run"))
    if cluster.isolation == "namespaces":
        assert output == "1 run\n"
    core.delete_namespaced_pod("run", ns)


def test_failure_exit_code(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    pod = run_to_end(cluster, core, ns, pod_manifest("fail", ["sh", "-c", "echo oops >&2; exit 3"]))
    assert pod["status"]["phase"] == "Failed"
    terminated = container_status(pod)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PodFailed"
    assert logs(core, ns, "fail") == "oops\n"


def test_command_not_found_is_start_error(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    pod = run_to_end(cluster, core, ns, pod_manifest("nf", ["no-such-binary", "x"]))
    assert pod["status"]["phase"] == "Failed"
    terminated = container_status(pod)["state"]["terminated"]
    assert terminated["exitCode"] == 128
    assert terminated["reason"] == "StartError"
    assert terminated["startedAt"] == "1970-01-01T00:00:00Z"
    assert 'exec: "no-such-binary": executable file not found in $PATH' in terminated["message"]
    assert terminated["message"].startswith("failed to create containerd task: ")
    assert ("Warning", "Failed") in reasons(cluster, ns, "nf")


def test_image_entrypoint_cmd_env_and_workdir(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    plain = pod_manifest("img", None, image="registry.local/tool:1")
    run_to_end(cluster, core, ns, plain)
    assert logs(core, ns, "img") == "from-image yes\n/tmp\n"
    with_args = pod_manifest("img-args", None, image="registry.local/tool:1")
    with_args["spec"]["containers"][0]["args"] = ["echo args-win"]
    run_to_end(cluster, core, ns, with_args)
    assert logs(core, ns, "img-args") == "args-win\n"


def test_missing_image_pull_backoff_then_available(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    cluster.add_image(Image("registry.local/absent:1", missing=True))
    core.create_namespaced_pod(ns, pod_manifest("pull", ["true"], image="registry.local/absent:1"))

    def waiting_reason() -> str | None:
        pod = cluster.pod(ns, "pull")
        statuses = (pod or {}).get("status", {}).get("containerStatuses") or []
        return statuses[0]["state"].get("waiting", {}).get("reason") if statuses else None

    wait_for(lambda: waiting_reason() == "ErrImagePull")
    pod = cluster.pod(ns, "pull")
    assert pod is not None
    message = container_status(pod)["state"]["waiting"]["message"]
    assert 'failed to resolve reference "registry.local/absent:1"' in message
    wait_for(lambda: waiting_reason() == "ImagePullBackOff")
    backing_off = cluster.pod(ns, "pull")
    assert backing_off is not None
    # the kubelet wraps the last pull error into the back-off message (not into the BackOff event)
    assert container_status(backing_off)["state"]["waiting"]["message"] == (
        f'Back-off pulling image "registry.local/absent:1": ErrImagePull: {message}'
    )
    assert pod["status"]["phase"] == "Pending"
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("pull", ns)
    assert info.value.status == 400
    assert "is waiting to start: " in info.value.body
    seen = reasons(cluster, ns, "pull")
    assert ("Normal", "Pulling") in seen
    assert ("Warning", "Failed") in seen
    assert ("Normal", "BackOff") in seen
    events = cluster.events(ns, involved_name="pull")
    messages = {e["message"] for e in events}
    assert "Error: ErrImagePull" in messages
    assert "Error: ImagePullBackOff" in messages
    backoff = wait_for(
        lambda: [
            e
            for e in cluster.events(ns, involved_name="pull")
            if e["reason"] == "BackOff" and e["count"] >= 2
        ]
    )
    assert backoff[0]["lastTimestamp"] >= backoff[0]["firstTimestamp"]
    cluster.add_image(Image("registry.local/absent:1"))
    cluster.wait_for_pod(ns, "pull", phase="Succeeded")


def test_transient_pull_failure(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    pod = run_to_end(cluster, core, ns, pod_manifest("flaky", ["true"], image="registry.local/flaky:1"))
    assert pod["status"]["phase"] == "Succeeded"
    failures = [e["message"] for e in cluster.events(ns, involved_name="flaky") if e["reason"] == "Failed"]
    assert any("429 Too Many Requests" in m for m in failures)


def test_invalid_image_name(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_manifest("inv", ["true"], image="Not A Valid:Image"))
    pod = cluster.wait_for_pod(
        ns, "inv", condition=lambda p: "InvalidImageName" in str(p["status"].get("containerStatuses"))
    )
    assert pod is not None
    waiting = container_status(pod)["state"]["waiting"]
    assert waiting["message"].startswith('Failed to apply default image tag "Not A Valid:Image"')
    assert ("Warning", "InspectFailed") in reasons(cluster, ns, "inv")


def test_missing_configmap_is_config_error_until_created(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("cfg", ["sh", "-c", "echo $GREETING $PASSWORD"])
    body["spec"]["containers"][0]["env"] = [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
    ]
    core.create_namespaced_pod(ns, body)
    pod = cluster.wait_for_pod(
        ns,
        "cfg",
        condition=lambda p: "CreateContainerConfigError" in str(p["status"].get("containerStatuses")),
    )
    assert pod is not None
    assert pod["status"]["phase"] == "Pending"
    assert container_status(pod)["state"]["waiting"]["message"] == 'configmap "settings" not found'
    core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"greeting": "hi"}})
    cluster.wait_for_pod(
        ns, "cfg", condition=lambda p: 'secret "creds" not found' in str(p["status"].get("containerStatuses"))
    )
    core.create_namespaced_secret(ns, {"metadata": {"name": "creds"}, "stringData": {"password": "pw"}})
    cluster.wait_for_pod(ns, "cfg", phase="Succeeded")
    assert logs(core, ns, "cfg") == "hi pw\n"


def test_env_from_and_downward_api(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "all"}, "data": {"A": "1", "B": "2"}})
    body = pod_manifest("env", ["sh", "-c", "echo $CFG_A$CFG_B $MY_NAME $MY_NS $EXPANDED $HOSTNAME"])
    container = body["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "all"}, "prefix": "CFG_"}]
    container["env"] = [
        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "EXPANDED", "value": "<$(MY_NAME)>"},
    ]
    run_to_end(cluster, core, ns, body)
    assert logs(core, ns, "env") == f"12 env {ns} <env> env\n"


def test_init_containers_run_in_order(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("init", ["sh", "-c", "cat /work/log"])
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "work", "mountPath": "/work"}]
    body["spec"]["initContainers"] = [
        {
            "name": f"step{i}",
            "image": "busybox",
            "command": ["sh", "-c", f"echo step{i} >> /work/log"],
            "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        }
        for i in (1, 2)
    ]
    pod = run_to_end(cluster, core, ns, body)
    assert pod["status"]["phase"] == "Succeeded"
    assert logs(core, ns, "init") == "step1\nstep2\n"
    for name in ("step1", "step2"):
        assert container_status(pod, name, init=True)["state"]["terminated"]["reason"] == "Completed"
        assert container_status(pod, name, init=True)["ready"] is True  # ready once completed
    assert logs(core, ns, "init", container="step2") == ""


def test_failing_init_container_fails_the_pod(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("initfail", ["true"])
    body["spec"]["initContainers"] = [
        {"name": "setup", "image": "busybox", "command": ["sh", "-c", "exit 7"]}
    ]
    pod = run_to_end(cluster, core, ns, body)
    assert pod["status"]["phase"] == "Failed"
    init = container_status(pod, "setup", init=True)["state"]["terminated"]
    assert (init["exitCode"], init["reason"]) == (7, "Error")
    assert container_status(pod)["state"]["waiting"]["reason"] == "PodInitializing"


def test_native_sidecar(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    wait = "while [ ! -s /shared/ready ]; do sleep 0.05; done; cat /shared/ready"
    body = pod_manifest("side", ["sh", "-c", wait], grace=5)
    body["spec"]["volumes"] = [{"name": "shared", "emptyDir": {}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
    body["spec"]["initContainers"] = [
        {
            "name": "proxy",
            "image": "busybox",
            "restartPolicy": "Always",
            "command": [
                "sh",
                "-c",
                "echo up > /shared/ready; trap 'exit 0' TERM; while true; do sleep 0.05; done",
            ],
            "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
        }
    ]
    pod = run_to_end(cluster, core, ns, body)
    assert pod["status"]["phase"] == "Succeeded"
    assert logs(core, ns, "side") == "up\n"
    sidecar = container_status(pod, "proxy", init=True)
    main = container_status(pod)
    assert sidecar["state"]["terminated"]["startedAt"] <= main["state"]["terminated"]["startedAt"]
    assert sidecar["state"]["terminated"]["finishedAt"] >= main["state"]["terminated"]["finishedAt"]
    killing = [e for e in cluster.events(ns, involved_name="side") if e["reason"] == "Killing"]
    assert [e["involvedObject"]["fieldPath"] for e in killing] == ["spec.initContainers{proxy}"]


def test_restart_on_failure_with_previous_logs(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    script = (
        "n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo attempt $n; [ $n -ge 3 ]"
    )
    body = pod_manifest("retry", ["sh", "-c", script], restart_policy="OnFailure")
    body["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    pod = run_to_end(cluster, core, ns, body)
    assert pod["status"]["phase"] == "Succeeded"
    status = container_status(pod)
    assert status["restartCount"] == 2
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert logs(core, ns, "retry") == "attempt 3\n"
    assert logs(core, ns, "retry", previous=True) == "attempt 2\n"
    assert ("Warning", "BackOff") in reasons(cluster, ns, "retry")


def test_crash_loop_back_off_state(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(
        ns, pod_manifest("crash", ["sh", "-c", "exit 1"], restart_policy="Always", grace=0)
    )
    pod = cluster.wait_for_pod(
        ns, "crash", condition=lambda p: "CrashLoopBackOff" in str(p["status"].get("containerStatuses"))
    )
    assert pod is not None
    status = container_status(pod)
    assert status["restartCount"] >= 1
    assert status["state"]["waiting"]["message"].startswith("back-off ")
    assert pod["status"]["phase"] == "Running"
    core.delete_namespaced_pod("crash", ns)


def test_active_deadline(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    body = pod_manifest("deadline", ["sleep", "60"], activeDeadlineSeconds=1, grace=0)
    pod = run_to_end(cluster, core, ns, body)
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
    assert container_status(pod)["state"]["terminated"]["exitCode"] == 137


def test_active_deadline_counts_from_the_pod_start(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    # Like the kubelet: the deadline runs from status.startTime, init containers included, and stops the
    # pod before its main container ever starts; the event is a Normal one.
    body = pod_manifest("deadline-init", ["true"], activeDeadlineSeconds=1, grace=0)
    body["spec"]["initContainers"] = [{"name": "setup", "image": "busybox:1.36", "command": ["sleep", "30"]}]
    pod = run_to_end(cluster, core, ns, body)
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert container_status(pod, "setup", init=True)["state"]["terminated"]["exitCode"] == 137
    main = container_status(pod)["state"]["terminated"]  # never started: the kubelet's "unknown" record
    assert (main["reason"], main["startedAt"]) == ("ContainerStatusUnknown", None)
    assert ("Normal", "DeadlineExceeded") in reasons(cluster, ns, "deadline-init")
    assert not [p for p in cluster.container_processes() if p.get("pod") == "deadline-init"]


def test_a_deadline_set_or_lowered_on_a_running_pod_takes_effect_and_cannot_be_raised(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod_manifest("later", ["sleep", "60"], grace=0))
    cluster.wait_for_pod(ns, "later", phase="Running")
    core.patch_namespaced_pod("later", ns, {"spec": {"activeDeadlineSeconds": 600}})
    with pytest.raises(kubernetes.client.ApiException) as raised:
        core.patch_namespaced_pod("later", ns, {"spec": {"activeDeadlineSeconds": 900}})
    assert raised.value.status == 422
    assert "spec.activeDeadlineSeconds: Invalid value: 900: must be less than or equal to previous value" in (
        raised.value.body
    )
    core.patch_namespaced_pod("later", ns, {"spec": {"activeDeadlineSeconds": 2}})  # the kubelet follows
    pod = cluster.wait_for_pod(ns, "later", phase="Failed", timeout=30)
    assert pod is not None
    assert pod["status"]["reason"] == "DeadlineExceeded"
    core.delete_namespaced_pod("later", ns)


def test_graceful_delete(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod_manifest("grace", ["sleep", "60"], grace=1))
    cluster.wait_for_pod(ns, "grace", phase="Running")
    start = core.list_namespaced_pod(ns).metadata.resource_version
    deleted = core.delete_namespaced_pod("grace", ns)
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 1
    watch = kubernetes.watch.Watch()
    events = []
    for event in watch.stream(core.list_namespaced_pod, ns, resource_version=start, timeout_seconds=30):
        events.append(event)
        if event["type"] == "DELETED":
            watch.stop()
    assert events[0]["type"] == "MODIFIED"
    assert events[0]["object"].metadata.deletion_timestamp is not None
    assert events[-1]["type"] == "DELETED"
    final = events[-1]["object"].status
    if cluster.isolation == "namespaces":
        assert final.container_statuses[0].state.terminated.exit_code == 137  # PID 1 ignored SIGTERM
    assert final.phase == "Failed"
    assert ("Normal", "Killing") in reasons(cluster, ns, "grace")


def test_sigterm_handler_exits_early(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    script = "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.05; done"
    core.create_namespaced_pod(ns, pod_manifest("trap", ["sh", "-c", script], grace=30))
    cluster.wait_for_pod(ns, "trap", phase="Running")
    wait_for(lambda: logs(core, ns, "trap") == "ready\n")
    start = core.list_namespaced_pod(ns).metadata.resource_version
    core.delete_namespaced_pod("trap", ns)
    watch = kubernetes.watch.Watch()
    last = None
    for event in watch.stream(core.list_namespaced_pod, ns, resource_version=start, timeout_seconds=20):
        last = event
        if event["type"] == "DELETED":
            watch.stop()
    assert last is not None
    assert last["type"] == "DELETED"
    final = last["object"].status.container_statuses[0].state.terminated
    assert final.exit_code == 0
    assert last["object"].status.phase == "Succeeded"


def test_delete_with_zero_grace_kills_at_once(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod_manifest("now", ["sleep", "60"], grace=30))
    cluster.wait_for_pod(ns, "now", phase="Running")
    pids = [p["pids"] for p in cluster.container_processes() if p["pod"] == "now"]
    assert pids
    core.delete_namespaced_pod("now", ns, grace_period_seconds=0)
    assert cluster.pod(ns, "now") is None
    wait_for(lambda: not [p for p in cluster.container_processes() if p["pod"] == "now"])


def test_unschedulable_then_node_added(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("picky", ["true"], nodeSelector={"zone": "moon"})
    core.create_namespaced_pod(ns, body)
    pod = cluster.wait_for_pod(
        ns,
        "picky",
        condition=lambda p: any(c["type"] == "PodScheduled" for c in p["status"].get("conditions", [])),
    )
    assert pod is not None
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert scheduled["message"] == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated "
        "taint {dedicated: gpu}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    failed = [e for e in cluster.events(ns, involved_name="picky") if e["reason"] == "FailedScheduling"]
    assert failed[0]["type"] == "Warning"
    assert failed[0]["reportingComponent"] == "default-scheduler"
    assert pod["status"]["phase"] == "Pending"
    cluster.add_node(Node("moon-1", labels={"zone": "moon"}))
    done = cluster.wait_for_pod(ns, "picky", phase="Succeeded")
    assert done is not None
    assert done["spec"]["nodeName"] == "moon-1"
    cluster.remove_node("moon-1")


def test_toleration_and_pending_delete(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest(
        "gpu",
        ["true"],
        nodeSelector={"accelerator": "gpu"},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
    )
    pod = run_to_end(cluster, core, ns, body)
    assert pod["spec"]["nodeName"] == "gpu-1"
    stuck = pod_manifest("stuck", ["true"], nodeSelector={"accelerator": "gpu"})
    core.create_namespaced_pod(ns, stuck)
    cluster.wait_for_pod(ns, "stuck", condition=lambda p: bool(p["status"].get("conditions")))
    core.delete_namespaced_pod("stuck", ns)
    assert cluster.pod(ns, "stuck") is None


def test_volumes(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "cm"}, "data": {"app.conf": "x=1", "other": "y"}}
    )
    core.create_namespaced_secret(
        ns, {"metadata": {"name": "sec"}, "data": {"token": base64.b64encode(b"t0k").decode()}}
    )
    body = pod_manifest(
        "vols",
        [
            "sh",
            "-c",
            "cat /etc/app/conf /etc/sec/token; echo; cat /info/labels; echo; ls /etc/app; "
            "touch /etc/app/x 2>/dev/null || echo read-only",
        ],
    )
    body["metadata"]["labels"] = {"team": "data"}
    body["spec"]["volumes"] = [
        {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "app.conf", "path": "conf"}]}},
        {"name": "sec", "secret": {"secretName": "sec"}},
        {
            "name": "info",
            "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
        },
    ]
    body["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "cfg", "mountPath": "/etc/app"},
        {"name": "sec", "mountPath": "/etc/sec"},
        {"name": "info", "mountPath": "/info"},
    ]
    run_to_end(cluster, core, ns, body)
    output = logs(core, ns, "vols")
    if cluster.isolation == "namespaces":
        assert output == 'x=1t0k\nteam="data"\nconf\nread-only\n'


def test_missing_configmap_volume_waits(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("mnt", ["cat", "/cfg/k"])
    body["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "later"}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "cfg", "mountPath": "/cfg"}]
    core.create_namespaced_pod(ns, body)
    wait_for(lambda: ("Warning", "FailedMount") in reasons(cluster, ns, "mnt"))
    pod = cluster.pod(ns, "mnt")
    assert pod is not None
    assert container_status(pod)["state"]["waiting"]["reason"] == "ContainerCreating"
    core.create_namespaced_config_map(ns, {"metadata": {"name": "later"}, "data": {"k": "v"}})
    cluster.wait_for_pod(ns, "mnt", phase="Succeeded")
    if cluster.isolation == "namespaces":
        assert logs(core, ns, "mnt") == "v"


def test_empty_dir_shared_in_pod_isolated_between_pods(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    if cluster.isolation != "namespaces":
        pytest.skip("mount paths need mount namespaces")

    def body(name: str) -> dict[str, Any]:
        manifest = pod_manifest(name, ["sh", "-c", "sleep 0.3; cat /data/who"])
        manifest["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
        manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        manifest["spec"]["containers"].append(
            {
                "name": "writer",
                "image": "busybox",
                "command": ["sh", "-c", f"echo {name} > /data/who"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        )
        return manifest

    core.create_namespaced_pod(ns, body("left"))
    core.create_namespaced_pod(ns, body("right"))
    for name in ("left", "right"):
        cluster.wait_for_pod(ns, name, phase="Succeeded")
        assert logs(core, ns, name, container="base") == f"{name}\n"


def test_termination_message(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    if cluster.isolation != "namespaces":
        pytest.skip("the termination message path needs mount namespaces")
    body = pod_manifest("msg", ["sh", "-c", "echo -n '{\"result\": 42}' > /dev/termination-log"])
    pod = run_to_end(cluster, core, ns, body)
    assert container_status(pod)["state"]["terminated"]["message"] == '{"result": 42}'
    custom = pod_manifest("msg2", ["sh", "-c", "echo done > /tmp/term"])
    custom["spec"]["containers"][0]["terminationMessagePath"] = "/tmp/term"
    pod = run_to_end(cluster, core, ns, custom)
    assert container_status(pod)["state"]["terminated"]["message"] == "done\n"
    long = pod_manifest(
        "msg3",
        [
            "sh",
            "-c",
            "head -c 5000 /dev/zero | tr '\\0' a > /dev/termination-log; echo -n END >> /dev/termination-log",
        ],
    )
    pod = run_to_end(cluster, core, ns, long)
    message = container_status(pod)["state"]["terminated"]["message"]
    assert len(message) == 4096
    assert message.endswith("aaaEND")


def test_termination_message_path_inside_a_volume(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    """A terminationMessagePath inside an emptyDir mount: the kubelet's file is mounted over that path (a
    deeper mount point goes on top), so what the container writes there becomes the message, and the
    volume itself stays usable."""
    if cluster.isolation != "namespaces":
        pytest.skip("the termination message path needs mount namespaces")
    body = pod_manifest(
        "inside",
        [
            "sh",
            "-c",
            "echo -n '[1, 2]' > /airflow/xcom/return.json; echo kept > /airflow/xcom/other; cat /airflow/xcom/other",
        ],
        volumes=[{"name": "xcom", "emptyDir": {}}],
    )
    container = body["spec"]["containers"][0]
    container["volumeMounts"] = [{"name": "xcom", "mountPath": "/airflow/xcom"}]
    container["terminationMessagePath"] = "/airflow/xcom/return.json"
    pod = run_to_end(cluster, core, ns, body)
    assert container_status(pod)["state"]["terminated"]["message"] == "[1, 2]"
    assert logs(core, ns, "inside", container="base") == "kept\n"


def test_termination_messages_share_12_kib_per_pod(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    """Four containers: each keeps an equal share of the pod's 12 KiB (3072 bytes), not 4096."""
    if cluster.isolation != "namespaces":
        pytest.skip("the termination message path needs mount namespaces")
    write = "head -c 5000 /dev/zero | tr '\\0' a > /dev/termination-log"
    body = pod_manifest("share", ["sh", "-c", write])
    first = body["spec"]["containers"][0]
    body["spec"]["containers"] = [first] + [{**first, "name": f"c{i}"} for i in range(3)]
    pod = run_to_end(cluster, core, ns, body)
    sizes = {
        name: len(container_status(pod, name)["state"]["terminated"]["message"])
        for name in ("base", "c0", "c1", "c2")
    }
    assert sizes == {"base": 3072, "c0": 3072, "c1": 3072, "c2": 3072}


def test_fallback_to_logs_on_error(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    body = pod_manifest("fb", ["sh", "-c", "for i in $(seq 1 100); do echo line $i; done; exit 1"])
    body["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    pod = run_to_end(cluster, core, ns, body)
    message = container_status(pod)["state"]["terminated"]["message"]
    assert message.splitlines()[-1] == "line 100"
    assert len(message.splitlines()) == 80


def test_in_cluster_config_from_a_pod(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    if cluster.isolation != "namespaces":
        pytest.skip("the service account token path needs mount namespaces")
    # The pod's token is its service account's (``default``): RBAC must let it read pods.
    rbac = kubernetes.client.RbacAuthorizationV1Api(core.api_client)
    rbac.create_namespaced_role(
        ns,
        {
            "metadata": {"name": "read-pods"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": "read-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-pods"},
            "subjects": [{"kind": "ServiceAccount", "name": "default"}],
        },
    )
    script = (
        "import os\nfrom kubernetes import client, config\nconfig.load_incluster_config()\n"
        "ns = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read()\n"
        "print(client.CoreV1Api().read_namespaced_pod(os.environ['HOSTNAME'], ns).metadata.name)\n"
    )
    run_to_end(cluster, core, ns, pod_manifest("incluster", ["python", "-c", script]))
    assert logs(core, ns, "incluster") == "incluster\n"


def test_many_pods_concurrently(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    for i in range(20):
        core.create_namespaced_pod(ns, pod_manifest(f"many-{i}", ["sh", "-c", f"sleep 0.2; echo {i}"]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        phases = [p["status"].get("phase") for p in cluster.pods(ns)]
        if phases.count("Succeeded") == 20:
            break
        time.sleep(0.1)
    assert [p["status"]["phase"] for p in cluster.pods(ns)] == ["Succeeded"] * 20
    assert logs(core, ns, "many-7") == "7\n"


def test_container_environment_is_exactly_the_pods(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    body = pod_manifest("envonly", ["env"])
    body["spec"]["containers"][0]["env"] = [{"name": "MINE", "value": "1"}]
    run_to_end(cluster, core, ns, body)
    keys = {line.split("=", 1)[0] for line in logs(core, ns, "envonly").splitlines()}
    service = {k for k in keys if k.startswith("KUBERNETES_")}
    assert {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} <= service
    assert keys - service == {"PATH", "HOSTNAME", "HOME", "MINE"}


def test_container_statuses_list_the_volume_mounts(
    cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    # Kubelets report each container's mounts in its status since 1.31 (RecursiveReadOnlyMounts), from
    # the start: a container still waiting for its init container has them too.
    body = pod_manifest("mounts", ["true"])
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "work", "mountPath": "/work"}]
    body["spec"]["initContainers"] = [{"name": "setup", "image": "busybox", "command": ["sleep", "30"]}]
    core.create_namespaced_pod(ns, body)

    def init_running() -> dict[str, Any] | None:
        pod = cluster.pod(ns, "mounts") or {}
        statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
        return pod if statuses and "running" in statuses[0]["state"] else None

    pod = wait_for(init_running)
    main = container_status(pod)
    assert main["state"]["waiting"]["reason"] == "PodInitializing"
    work, token = main["volumeMounts"]
    assert work == {"name": "work", "mountPath": "/work"}
    assert token["name"].startswith("kube-api-access-")
    assert token == {
        "name": token["name"],
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        "readOnly": True,
        "recursiveReadOnly": "Disabled",
    }
    assert container_status(pod, "setup", init=True)["volumeMounts"] == [token]
    read = core.read_namespaced_pod("mounts", ns).status.container_statuses[0].volume_mounts
    assert [(m.name, m.mount_path, m.read_only) for m in read] == [
        ("work", "/work", None),
        (token["name"], token["mountPath"], True),
    ]
    core.delete_namespaced_pod("mounts", ns, grace_period_seconds=0)
