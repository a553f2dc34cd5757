"""Capture the pod snapshots in this directory from the local cluster.

Run from the repository root (needs no Kubernetes; starts a LocalCluster)::

    .venv/bin/python -m tests.pod.pods.capture            # every scenario
    .venv/bin/python -m tests.pod.pods.capture oom_killed # some of them

Each scenario creates one pod, waits for the interesting state and writes ``<scenario>.yaml``: the pod as
the API server returned it, the Kubernetes events about it, and a description. The tests read those files;
they never start a cluster. Files whose ``source`` is ``hand-written`` (real-Kubernetes variants of shapes
the local cluster does not produce) are not touched by this script.
"""

from __future__ import annotations

import argparse
import copy
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_k8spod.pod.xcom import inject_xcom_sidecar
from airflow_provider_k8spod.testing import Image, LocalCluster, Node, Taint

HERE = Path(__file__).parent
NAMESPACE = "default"
JSON = dict[str, Any]

MISSING_IMAGE = "registry.example.com/team/missing:1.0"
SLOW_IMAGE = "registry.example.com/team/slow-to-pull:1.0"
LOST_NODE = "node-2"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    run: Callable[[Capture], tuple[JSON, list[JSON]]]


SCENARIOS: dict[str, Scenario] = {}


def scenario(description: str) -> Callable[[Callable[[Capture], Any]], Callable[[Capture], Any]]:
    def register(func: Callable[[Capture], Any]) -> Callable[[Capture], Any]:
        SCENARIOS[func.__name__] = Scenario(func.__name__, description.strip(), func)
        return func

    return register


def manifest(
    name: str,
    script: str | None = None,
    *,
    command: list[str] | None = None,
    image: str = "busybox:1.36",
    restart_policy: str = "Never",
    grace: int = 1,
    **spec: Any,
) -> JSON:
    container: JSON = {"name": "base", "image": image}
    if script is not None:
        container["command"] = ["sh", "-c", script]
    if command is not None:
        container["command"] = command
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name.replace("_", "-"), "labels": {"scenario": name.replace("_", "-")}},
        "spec": {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": grace,
            "containers": [container],
            **spec,
        },
    }


def state_of(pod: Mapping[str, Any] | None, container: str = "base") -> tuple[str, JSON]:
    status = (pod or {}).get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses"):
        for item in status.get(key) or []:
            if item.get("name") == container:
                for kind in ("terminated", "running", "waiting"):
                    if (item.get("state") or {}).get(kind) is not None:
                        return kind, dict(item["state"][kind])
    return "unknown", {}


def waiting_reason(container: str, reason: str) -> Callable[[JSON], bool]:
    def check(pod: JSON) -> bool:
        kind, state = state_of(pod, container)
        return kind == "waiting" and state.get("reason") == reason

    return check


def in_state(container: str, kind: str) -> Callable[[JSON], bool]:
    return lambda pod: state_of(pod, container)[0] == kind


class Capture:
    def __init__(self, cluster: LocalCluster) -> None:
        import kubernetes

        self.cluster = cluster
        client = kubernetes.config.new_client_from_config(cluster.kubeconfig_path)
        self.v1 = kubernetes.client.CoreV1Api(client)

    def create(self, body: JSON) -> str:
        self.v1.create_namespaced_pod(NAMESPACE, body)
        return str(body["metadata"]["name"])

    def wait(self, name: str, condition: Callable[[JSON], bool], timeout: float = 30.0) -> JSON:
        pod = self.cluster.wait_for_pod(NAMESPACE, name, condition=condition, timeout=timeout)
        assert pod is not None
        return pod

    def settle(self, name: str, seconds: float = 0.3) -> JSON:
        """The pod after a short pause (lets the kubelet publish the events that go with a change)."""
        time.sleep(seconds)
        pod = self.cluster.pod(NAMESPACE, name)
        assert pod is not None, name
        return pod

    def events(self, name: str) -> list[JSON]:
        events = self.cluster.events(NAMESPACE, involved_name=name)
        return sorted(
            events,
            key=lambda e: (
                e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or "",
                e["metadata"].get("resourceVersion", ""),
            ),
        )

    def done(self, name: str) -> tuple[JSON, list[JSON]]:
        pod = self.cluster.pod(NAMESPACE, name)
        assert pod is not None, name
        return pod, self.events(name)


# -- scenarios ---------------------------------------------------------------------------------------------


@scenario("""
Pending: no node matches the pod's nodeSelector (and the other node has a taint the pod does not tolerate).
PodScheduled is False with reason Unschedulable; the scheduler emits a FailedScheduling warning.
""")
def pending_unschedulable(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("pending_unschedulable", "sleep 300", nodeSelector={"disktype": "ssd"}))
    c.wait(name, lambda p: any(e["reason"] == "FailedScheduling" for e in c.events(name)))
    return c.done(name)


@scenario("""
Pending: scheduled, the image is still being pulled; the container waits with reason ContainerCreating.
""")
def pending_container_creating(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("pending_container_creating", "sleep 300", image=SLOW_IMAGE))
    c.wait(name, waiting_reason("base", "ContainerCreating"))
    c.settle(name)
    return c.done(name)


@scenario("""
Pending: the image reference is malformed (upper case in the repository): waiting InvalidImageName, which
no retry can fix.
""")
def invalid_image_name(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("invalid_image_name", "true", image="registry.example.com/Team/App:1.0"))
    c.wait(name, waiting_reason("base", "InvalidImageName"))
    c.settle(name)
    return c.done(name)


@scenario("""
Pending: the image does not exist; first pull attempt failed: waiting ErrImagePull.
""")
def err_image_pull(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("err_image_pull", "true", image=MISSING_IMAGE))
    pod = c.wait(name, waiting_reason("base", "ErrImagePull"))
    return pod, c.events(name)


@scenario("""
Pending: the image does not exist; after failed pulls the kubelet backs off: waiting ImagePullBackOff.
""")
def image_pull_backoff(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("image_pull_backoff", "true", image=MISSING_IMAGE))
    pod = c.wait(name, waiting_reason("base", "ImagePullBackOff"))
    return pod, c.events(name)


@scenario("""
Pending: an environment variable refers to a ConfigMap that does not exist: waiting
CreateContainerConfigError (the kubelet retries; somebody may be creating the ConfigMap).
""")
def create_container_config_error(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("create_container_config_error", "true")
    body["spec"]["containers"][0]["env"] = [
        {"name": "SETTING", "valueFrom": {"configMapKeyRef": {"name": "task-settings", "key": "setting"}}}
    ]
    name = c.create(body)
    c.wait(name, waiting_reason("base", "CreateContainerConfigError"))
    c.settle(name)
    return c.done(name)


@scenario("""
Pending: the init container 'setup' runs; the main container waits with reason PodInitializing.
""")
def init_running(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("init_running", "echo main")
    body["spec"]["initContainers"] = [{"name": "setup", "image": "busybox:1.36", "command": ["sleep", "300"]}]
    name = c.create(body)
    c.wait(name, in_state("setup", "running"))
    c.settle(name)
    return c.done(name)


@scenario("""
Failed: the init container 'setup' exited with 2 (restartPolicy Never); the main container never ran.
""")
def init_failed(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("init_failed", "echo main")
    body["spec"]["initContainers"] = [
        {
            "name": "setup",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "echo 'cannot migrate' >&2; exit 2"],
        }
    ]
    name = c.create(body)
    c.wait(name, lambda p: p["status"].get("phase") == "Failed")
    c.settle(name)
    return c.done(name)


@scenario("""
Pending: the init container 'setup' keeps failing with restartPolicy OnFailure: the kubelet restarts it
(Init:CrashLoopBackOff); the pod stays Pending.
""")
def init_crash_loop(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("init_crash_loop", "echo main", restart_policy="OnFailure")
    body["spec"]["initContainers"] = [
        {"name": "setup", "image": "busybox:1.36", "command": ["sh", "-c", "echo 'not yet' >&2; exit 1"]}
    ]
    name = c.create(body)
    c.wait(name, waiting_reason("setup", "CrashLoopBackOff"))
    return c.done(name)


@scenario("""
Running: a native sidecar (init container 'proxy' with restartPolicy Always) runs next to the main
container.
""")
def native_sidecar_running(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("native_sidecar_running", "sleep 300")
    body["spec"]["initContainers"] = [
        {"name": "proxy", "image": "busybox:1.36", "restartPolicy": "Always", "command": ["sleep", "3000"]}
    ]
    name = c.create(body)
    c.wait(name, in_state("base", "running"))
    c.settle(name)
    return c.done(name)


@scenario("""
Succeeded: the main container exited 0; the kubelet then stopped the native sidecar 'proxy'.
""")
def native_sidecar_succeeded(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("native_sidecar_succeeded", "echo done")
    body["spec"]["initContainers"] = [
        {"name": "proxy", "image": "busybox:1.36", "restartPolicy": "Always", "command": ["sleep", "3000"]}
    ]
    name = c.create(body)
    c.wait(name, lambda p: p["status"].get("phase") == "Succeeded")
    c.settle(name)
    return c.done(name)


@scenario("""
Running: the main container runs.
""")
def running(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("running", "sleep 300"))
    c.wait(name, in_state("base", "running"))
    c.settle(name)
    return c.done(name)


def _xcom_pod(name: str, script: str) -> JSON:
    return inject_xcom_sidecar(manifest(name, script), "base")


@scenario("""
Running: the main container and the XCom sidecar (airflow-xcom-sidecar) both run.
""")
def running_xcom_sidecar(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(_xcom_pod("running_xcom_sidecar", "sleep 300"))
    c.wait(name, lambda p: in_state("base", "running")(p) and in_state("airflow-xcom-sidecar", "running")(p))
    c.settle(name)
    return c.done(name)


@scenario("""
Running: the main container wrote its XCom result and exited 0; the XCom sidecar still runs, so the phase
is Running.
""")
def xcom_main_done_sidecar_running(c: Capture) -> tuple[JSON, list[JSON]]:
    script = "mkdir -p /airflow/xcom; echo '{\"rows\": 42}' > /airflow/xcom/return.json"
    name = c.create(_xcom_pod("xcom_main_done_sidecar_running", script))
    c.wait(name, in_state("base", "terminated"))
    c.settle(name)
    return c.done(name)


@scenario("""
Running: the main container exited 0 but a user sidecar (a regular container named istio-proxy) still
runs, so the phase stays Running.
""")
def main_done_user_sidecar_running(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("main_done_user_sidecar_running", "echo done")
    body["spec"]["containers"].append(
        {"name": "istio-proxy", "image": "busybox:1.36", "command": ["sleep", "3000"]}
    )
    name = c.create(body)
    c.wait(name, in_state("base", "terminated"))
    c.settle(name)
    return c.done(name)


@scenario("""
Running: the main container exited 1 but a user sidecar (istio-proxy) still runs; phase Running.
""")
def main_failed_user_sidecar_running(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("main_failed_user_sidecar_running", "echo 'boom' >&2; exit 1")
    body["spec"]["containers"].append(
        {"name": "istio-proxy", "image": "busybox:1.36", "command": ["sleep", "3000"]}
    )
    name = c.create(body)
    c.wait(name, in_state("base", "terminated"))
    c.settle(name)
    return c.done(name)


@scenario("""
Succeeded: the main container printed hello world and exited 0.
""")
def succeeded(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("succeeded", command=["python", "-c", "print('hello world')"]))
    c.wait(name, lambda p: p["status"].get("phase") == "Succeeded")
    c.settle(name)
    return c.done(name)


@scenario("""
Failed: the main container exited with code 3 (reason Error, no termination message).
""")
def failed_exit_code(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("failed_exit_code", "echo 'no input files' >&2; exit 3"))
    c.wait(name, lambda p: p["status"].get("phase") == "Failed")
    c.settle(name)
    return c.done(name)


@scenario("""
Failed: the command does not exist in the image; the runtime could not start the container: StartError,
exit code 128.
""")
def start_error(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("start_error", command=["run-my-task", "--date", "2024-01-01"]))
    c.wait(name, lambda p: p["status"].get("phase") == "Failed")
    c.settle(name)
    return c.done(name)


@scenario("""
Failed: the main container was killed by the kernel's OOM killer: OOMKilled, exit code 137.
""")
def oom_killed(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("oom_killed", "echo loading; sleep 300")
    body["spec"]["containers"][0]["resources"] = {
        "limits": {"memory": "64Mi"},
        "requests": {"memory": "64Mi"},
    }
    name = c.create(body)
    c.wait(name, in_state("base", "running"))
    c.cluster.oom_kill(NAMESPACE, name, "base")
    c.wait(name, lambda p: p["status"].get("phase") == "Failed")
    c.settle(name)
    return c.done(name)


@scenario("""
Failed: the kubelet evicted the pod under memory pressure: phase Failed, reason Evicted.
""")
def evicted(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("evicted", "sleep 300"))
    c.wait(name, in_state("base", "running"))
    c.settle(name, 0.5)
    c.cluster.evict_pod(
        NAMESPACE,
        name,
        message="The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. "
        "Container base was using 1948Mi, request is 0, has larger consumption of memory. ",
    )
    c.wait(name, lambda p: p["status"].get("phase") == "Failed")
    c.settle(name)
    return c.done(name)


@scenario("""
Failed: activeDeadlineSeconds (2) passed while the main container ran: phase Failed, reason
DeadlineExceeded.
""")
def deadline_exceeded(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("deadline_exceeded", "sleep 300", activeDeadlineSeconds=2))
    c.wait(name, lambda p: p["status"].get("phase") == "Failed", timeout=60)
    c.settle(name)
    return c.done(name)


_GRACEFUL = "trap 'echo stopping; exit 0' TERM; echo working; sleep 300 & wait"


@scenario("""
Failed: activeDeadlineSeconds (2) passed; the main container handled SIGTERM and exited 0 (reason
Completed), but the pod failed with reason DeadlineExceeded: the task did not finish its work.
""")
def deadline_exceeded_graceful_exit(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(manifest("deadline_exceeded_graceful_exit", _GRACEFUL, grace=5, activeDeadlineSeconds=2))
    c.wait(name, lambda p: p["status"].get("phase") == "Failed", timeout=60)
    c.settle(name)
    return c.done(name)


@scenario("""
Running (stale): the node running the pod stopped responding; the node lifecycle controller set the pod's
Ready condition False, and after its unreachable toleration (1 s here instead of the default 300 s) the taint
eviction controller marked it for deletion (DisruptionTarget DeletionByTaintManager). It stays Terminating.
""")
def node_lost(c: Capture) -> tuple[JSON, list[JSON]]:
    body = manifest("node_lost", "sleep 300", nodeSelector={"kubernetes.io/hostname": LOST_NODE})
    body["spec"]["tolerations"] = [
        {"key": "capture", "operator": "Equal", "value": "node-lost", "effect": "NoSchedule"},
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 1,
        },
    ]
    name = c.create(body)
    c.wait(name, in_state("base", "running"))
    c.cluster.lose_node(LOST_NODE)
    c.wait(name, lambda p: bool(p["metadata"].get("deletionTimestamp")), timeout=60)
    c.settle(name)
    return c.done(name)


@scenario("""
Failed: the main container wrote a termination message to /dev/termination-log and exited 1.
""")
def termination_message(c: Capture) -> tuple[JSON, list[JSON]]:
    script = "echo 'working'; printf 'table orders is locked\\nretry later' > /dev/termination-log; exit 1"
    name = c.create(manifest("termination_message", script))
    c.wait(name, lambda p: p["status"].get("phase") == "Failed")
    c.settle(name)
    return c.done(name)


@scenario("""
Failed: terminationMessagePolicy FallbackToLogsOnError and no message file: the tail of the log becomes
the termination message.
""")
def termination_message_fallback(c: Capture) -> tuple[JSON, list[JSON]]:
    script = "echo 'step 1 ok'; echo 'Traceback (most recent call last):'; echo 'ValueError: bad row 17' >&2; exit 1"
    body = manifest("termination_message_fallback", script)
    body["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    name = c.create(body)
    c.wait(name, lambda p: p["status"].get("phase") == "Failed")
    c.settle(name)
    return c.done(name)


_FAIL_ONCE = (
    "if [ -e /work/tried ]; then echo 'second try'; sleep {sleep}; exit 0; "
    "else touch /work/tried; echo 'first try fails' >&2; exit 1; fi"
)


def _on_failure_pod(name: str, sleep: int) -> JSON:
    body = manifest(name, _FAIL_ONCE.format(sleep=sleep), restart_policy="OnFailure")
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "work", "mountPath": "/work"}]
    return body


@scenario("""
Running: restartPolicy OnFailure; the main container failed once (lastState terminated, exit 1) and runs
again after its restart.
""")
def on_failure_restarted_running(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(_on_failure_pod("on_failure_restarted_running", 300))
    c.wait(name, lambda p: in_state("base", "running")(p) and _restarts(p) >= 1, timeout=60)
    c.settle(name)
    return c.done(name)


@scenario("""
Succeeded: restartPolicy OnFailure; the main container failed once, was restarted and then exited 0.
""")
def on_failure_restarted_succeeded(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(_on_failure_pod("on_failure_restarted_succeeded", 0))
    c.wait(name, lambda p: p["status"].get("phase") == "Succeeded", timeout=60)
    c.settle(name)
    return c.done(name)


@scenario("""
Running: restartPolicy OnFailure; the main container fails every time: waiting CrashLoopBackOff with the
last termination in lastState.
""")
def on_failure_crash_loop(c: Capture) -> tuple[JSON, list[JSON]]:
    name = c.create(
        manifest("on_failure_crash_loop", "echo 'cannot connect' >&2; exit 1", restart_policy="OnFailure")
    )
    c.wait(name, lambda p: waiting_reason("base", "CrashLoopBackOff")(p) and _restarts(p) >= 1, timeout=60)
    return c.done(name)


def _restarts(pod: JSON, container: str = "base") -> int:
    for item in (pod.get("status") or {}).get("containerStatuses") or []:
        if item.get("name") == container:
            return int(item.get("restartCount") or 0)
    return 0


def _deleted(c: Capture, name: str, script: str, grace: int) -> tuple[JSON, list[JSON]]:
    """The object of the watch's DELETED event for a pod deleted (by somebody else) while it ran."""
    import kubernetes

    name = c.create(manifest(name, script, grace=5))
    c.wait(name, in_state("base", "running"))
    pod = c.settle(name, 0.5)
    found: list[JSON] = []
    version = pod["metadata"]["resourceVersion"]

    def watch() -> None:
        w = kubernetes.watch.Watch()
        for event in w.stream(
            c.v1.list_namespaced_pod,
            NAMESPACE,
            field_selector=f"metadata.name={name}",
            resource_version=version,
            timeout_seconds=30,
        ):
            if event["type"] == "DELETED":
                found.append(copy.deepcopy(event["raw_object"]))
                w.stop()

    thread = threading.Thread(target=watch)
    thread.start()
    time.sleep(0.3)
    c.cluster.delete_pod(NAMESPACE, name, grace_period_seconds=grace)
    thread.join(40)
    assert found, "no DELETED event"
    return found[0], c.events(name)


@scenario("""
Deleted: somebody deleted the pod (grace period 1 s) while the main container ran; it ignored SIGTERM and
was killed. This is the object of the watch's DELETED event: the pod's last state before it went away.
""")
def deleted_while_running(c: Capture) -> tuple[JSON, list[JSON]]:
    return _deleted(c, "deleted_while_running", "echo started; sleep 300", grace=1)


@scenario("""
Deleted: somebody deleted the pod while the main container ran; it handled SIGTERM and exited 0. The
object of the watch's DELETED event.
""")
def deleted_graceful_exit(c: Capture) -> tuple[JSON, list[JSON]]:
    return _deleted(c, "deleted_graceful_exit", _GRACEFUL, grace=5)


@scenario("""
Deleted: somebody force-deleted the pod (grace period 0) while the main container ran: the object of the
watch's DELETED event still shows the container running.
""")
def deleted_force(c: Capture) -> tuple[JSON, list[JSON]]:
    return _deleted(c, "deleted_force", "echo started; sleep 300", grace=0)


# -- writing -----------------------------------------------------------------------------------------------


def write(scenario: Scenario, pod: JSON, events: list[JSON]) -> Path:
    path = HERE / f"{scenario.name}.yaml"
    if path.exists():
        existing = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if existing.get("source") != "local-cluster":
            raise SystemExit(f"{path.name} is not a capture ({existing.get('source')!r}); not overwriting it")
    document = {
        "description": scenario.description,
        "source": "local-cluster",
        "main": "base",
        "pod": pod,
        "events": events,
    }
    header = (
        f"# Captured from the local cluster by tests/pod/pods/capture.py (scenario {scenario.name}).\n"
        f"# Regenerate with: .venv/bin/python -m tests.pod.pods.capture {scenario.name}\n"
    )
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    path.write_text(header + text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenarios", nargs="*", help=f"default: all ({', '.join(SCENARIOS)})")
    args = parser.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    # node_lost takes its node down: run it last.
    names.sort(key=lambda n: n == "node_lost")
    cluster = LocalCluster(
        nodes=[Node("node-1"), Node(LOST_NODE, taints=[Taint("capture", "node-lost", "NoSchedule")])],
        images=[Image(MISSING_IMAGE, missing=True), Image(SLOW_IMAGE, pull_seconds=600)],
    )
    with cluster:
        capture = Capture(cluster)
        for name in names:
            started = time.monotonic()
            pod, events = SCENARIOS[name].run(capture)
            path = write(SCENARIOS[name], pod, events)
            print(
                f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
                f"  ({time.monotonic() - started:.1f}s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
