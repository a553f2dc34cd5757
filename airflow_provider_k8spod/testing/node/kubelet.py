"""The scheduler and the kubelet: bind pods to fake nodes and run their containers as local processes.

One :class:`PodWorker` per scheduled pod drives the pod lifecycle (sandbox, volumes, init containers,
sidecars, containers, restarts, termination) and publishes the pod status; one :class:`ContainerRunner`
per container handles image pulls, configuration errors, start, exit and restart back-off.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_k8spod.testing._util import JSON, random_hex, rfc3339
from airflow_provider_k8spod.testing.apiserver.events import EventRecorder
from airflow_provider_k8spod.testing.apiserver.storage import PV_SOURCES
from airflow_provider_k8spod.testing.apiserver.store import Store
from airflow_provider_k8spod.testing.config import ClusterConfig, Image
from airflow_provider_k8spod.testing.controllers.scheduler import (
    choose_node,
    claim_owner_error,
    prefilter_failure_message,
    volume_claims_prefilter,
)
from airflow_provider_k8spod.testing.node import images as imagelib
from airflow_provider_k8spod.testing.node import podstatus
from airflow_provider_k8spod.testing.node.envvars import (
    ConfigError,
    EnvSources,
    container_env,
    expand_command,
    service_env,
)
from airflow_provider_k8spod.testing.node.logs import LineSplitter, LogEntry, LogFile
from airflow_provider_k8spod.testing.node.runtime import (
    DEFAULT_PATH,
    ContainerProcess,
    ExecutableNotFound,
    LaunchSpec,
    Mount,
    Runtime,
    resolve_executable,
    start_error_message,
)

log = logging.getLogger(__name__)

EPOCH = "1970-01-01T00:00:00Z"
POD_IP = "127.0.0.1"
MAX_TERMINATION_MESSAGE = 4096
#: The kubelet's budget for the termination messages of all the containers of a pod: when the pod has more
#: containers (init containers included) than fit at 4096 bytes each, each gets an equal share.
MAX_POD_TERMINATION_MESSAGES = 12 * 1024
FALLBACK_LINES = 80
FALLBACK_BYTES = 2048


@dataclass
class KubeletDeps:
    store: Store
    recorder: EventRecorder
    runtime: Runtime
    config: ClusterConfig
    state_dir: str
    shim_dir: str
    api_host: str
    api_port: int
    token: str
    #: (pod, projected serviceAccountToken source) -> the token to write; KeyError: no service account.
    service_account_token: Callable[[JSON, JSON], str] | None = None


@dataclass
class ImageRegistry:
    """Declared images and what each fake node has pulled."""

    unknown: str
    declared: dict[str, Image] = field(default_factory=dict)
    failures_left: dict[str, int] = field(default_factory=dict)
    pulled: set[tuple[str, str]] = field(default_factory=set)

    def declare(self, image: Image) -> None:
        key = imagelib.image_key(image.name)
        self.declared[key] = image
        self.failures_left[key] = image.pull_failures
        self.pulled = {p for p in self.pulled if p[1] != key}

    def lookup(self, reference: str) -> Image | None:
        return self.declared.get(imagelib.image_key(reference))

    def is_missing(self, reference: str) -> bool:
        image = self.lookup(reference)
        if image is None:
            return self.unknown == "missing"
        return image.missing


# ---------------------------------------------------------------------------------------------------------


def termination_message_limit(pod_spec: JSON) -> int:
    """How many bytes (the last ones) of a container's termination message file the kubelet keeps: 4096,
    or an equal share of 12 KiB when the pod has more than three containers (init containers included)."""
    count = len(pod_spec.get("containers") or []) + len(pod_spec.get("initContainers") or [])
    return min(MAX_TERMINATION_MESSAGE, MAX_POD_TERMINATION_MESSAGES // max(1, count))


class ContainerRunner:
    def __init__(self, worker: PodWorker, container: JSON, kind: str) -> None:
        self.worker = worker
        self.spec = container
        self.kind = kind  # "init", "sidecar" or "regular"
        self.name: str = container["name"]
        default_reason = "PodInitializing" if worker.spec.get("initContainers") else "ContainerCreating"
        self.status: JSON = {
            "name": self.name,
            "state": {"waiting": {"reason": default_reason}},
            "lastState": {},
            "ready": False,
            "restartCount": 0,
            "image": container.get("image", ""),
            "imageID": "",
            "started": False,
        }
        if mounts := podstatus.volume_mount_statuses(container):
            self.status["volumeMounts"] = mounts
        self.restart_count = 0
        self.crashes = 0
        self.crash_backoff = 0.0
        self.process: ContainerProcess | None = None
        self.env: dict[str, str] = {}
        self.cwd = "/"
        self.logs: dict[str, LogFile] = {}
        self.started = asyncio.Event()
        self.oom = False

    # ------------------------------------------------------------------------------------------ helpers

    @property
    def field_path(self) -> str:
        section = "containers" if self.kind == "regular" else "initContainers"
        return f"spec.{section}{{{self.name}}}"

    def event(self, event_type: str, reason: str, message: str) -> None:
        self.worker.event(event_type, reason, message, self.field_path)

    def set_waiting(self, reason: str, message: str = "") -> None:
        waiting: JSON = {"reason": reason}
        if message:
            waiting["message"] = message
        self.status["state"] = {"waiting": waiting}
        self.status["ready"] = False
        self.status["started"] = False
        self.worker.changed()

    def _move_to_last_state(self) -> None:
        terminated = self.status["state"].get("terminated")
        if terminated is not None:
            self.status["lastState"] = {"terminated": terminated}

    def log_for(self, container_id: str) -> LogFile | None:
        return self.logs.get(container_id)

    def current_container_id(self) -> str:
        state = self.status["state"]
        if "running" in state:
            return str(self.status.get("containerID", "")).removeprefix("containerd://")
        if "terminated" in state:
            return str(state["terminated"].get("containerID", "")).removeprefix("containerd://")
        return ""

    def last_container_id(self) -> str:
        terminated = (self.status.get("lastState") or {}).get("terminated") or {}
        return str(terminated.get("containerID", "")).removeprefix("containerd://")

    def should_restart(self, exit_code: int) -> bool:
        if self.worker.stopping:
            return False
        if self.kind == "sidecar":
            return True
        policy = self.worker.spec.get("restartPolicy") or "Always"
        if self.kind == "init":
            return policy != "Never" and exit_code != 0
        if policy == "Always":
            return True
        if policy == "OnFailure":
            return exit_code != 0
        return False

    # -------------------------------------------------------------------------------------------- loop

    async def run_loop(self) -> int | None:
        """Run, restarting per policy, until done or the pod stops. Returns the last exit code."""
        timings = self.worker.kubelet.deps.config.timings
        last: int | None = None
        try:
            while True:
                exit_code = await self.attempt()
                if exit_code is None:
                    return last
                last = exit_code
                if not self.should_restart(exit_code):
                    return last
                self.crashes += 1
                if self.crashes > 1:
                    if self.crash_backoff == 0:
                        self.crash_backoff = timings.crash_loop_backoff_initial
                    else:
                        self.crash_backoff = min(self.crash_backoff * 2, timings.crash_loop_backoff_max)
                    delay = self.crash_backoff
                    pod_ref = f"{self.worker.name}_{self.worker.namespace}({self.worker.uid})"
                    self._move_to_last_state()
                    self.set_waiting(
                        "CrashLoopBackOff",
                        f"back-off {_duration(delay)} restarting failed container={self.name} pod={pod_ref}",
                    )
                    self.event(
                        "Warning",
                        "BackOff",
                        f"Back-off restarting failed container {self.name} in pod {pod_ref}",
                    )
                    if not await self.worker.sleep(delay):
                        return last
                self.restart_count += 1
        finally:
            self.worker.changed()

    async def attempt(self) -> int | None:
        worker = self.worker
        deps = worker.kubelet.deps
        if not await self.ensure_image():
            return None
        while True:
            try:
                env = worker.container_environment(self.spec)
                break
            except ConfigError as exc:
                self.set_waiting("CreateContainerConfigError", str(exc))
                self.event("Warning", "Failed", f"Error: {exc}")
                if not await worker.sleep(deps.config.timings.config_retry_seconds):
                    return None
        image = worker.kubelet.registry.lookup(self.spec.get("image", ""))
        command = list(self.spec.get("command") or [])
        args = list(self.spec.get("args") or [])
        if not command:
            command = list(image.entrypoint) if image else []
            if not args:
                args = list(image.cmd) if image else []
        command, args = expand_command(command, args, env)
        argv = command + args
        container_id = random_hex(32)
        if not argv:
            message = (
                f'failed to generate container "{container_id}" spec: failed to generate spec: no command '
                f"specified"
            )
            while True:
                self.set_waiting("CreateContainerError", message)
                self.event("Warning", "Failed", f"Error: {message}")
                if not await worker.sleep(max(deps.config.timings.crash_loop_backoff_initial, 1.0)):
                    return None
        base_env: dict[str, str] = {"PATH": DEFAULT_PATH}
        if image:
            base_env.update(image.env)
        base_env["HOSTNAME"] = worker.hostname
        base_env.update(env)
        base_env.setdefault("HOME", "/root")
        base_env["PATH"] = deps.shim_dir + ":" + base_env.get("PATH", DEFAULT_PATH)
        self.env = base_env
        self.cwd = self.spec.get("workingDir") or (image.working_dir if image and image.working_dir else "/")

        instance_dir, logfile, termination_file = self._create_instance_files()
        self.logs[container_id] = logfile
        mounts = [
            *worker.container_mounts(self.spec),
            Mount(termination_file, self.spec.get("terminationMessagePath") or "/dev/termination-log"),
        ]
        # Like containerd: shallower mount points first, so a mount inside another (the termination
        # message file at a path inside a volume) is mounted over it, not under it.
        mounts.sort(key=lambda m: len([part for part in m.target.split("/") if part]))
        ref = _image_ref(self.spec.get("image", ""))
        self._move_to_last_state()
        self.status["image"] = ref.normalized if ref else self.spec.get("image", "")
        self.status["imageID"] = ref.image_id if ref else ""
        self.status["containerID"] = f"containerd://{container_id}"
        self.status["restartCount"] = self.restart_count
        self.event("Normal", "Created", f"Created container: {self.name}")
        try:
            exe = resolve_executable(argv[0], base_env.get("PATH", DEFAULT_PATH), self.cwd, mounts)
        except ExecutableNotFound as exc:
            return self._start_failed(container_id, logfile, start_error_message(str(exc)))
        spec = LaunchSpec(exe, argv, base_env, self.cwd, mounts, worker.hostname, instance_dir)

        def on_output(stream: str, chunk: bytes) -> None:
            splitters[stream].feed(chunk)

        def on_eof(stream: str) -> None:
            splitters[stream].close()

        def sink(entry: LogEntry) -> None:
            logfile.write(entry)

        splitters = {"stdout": LineSplitter("stdout", sink), "stderr": LineSplitter("stderr", sink)}
        self.oom = False
        try:
            process = await deps.runtime.start(spec, on_output, on_eof)
        except OSError as exc:
            return self._start_failed(
                container_id, logfile, start_error_message(f"error during container init: {exc}")
            )
        self.process = process
        started_at = rfc3339()
        self.status["state"] = {"running": {"startedAt": started_at}}
        # No probes run: a running container is ready, except a regular init container, which is ready
        # only once it has completed (prober manager's rule for init containers).
        self.status["ready"] = self.kind != "init"
        self.status["started"] = True
        self.event("Normal", "Started", f"Started container {self.name}")
        self.started.set()
        worker.changed()
        if worker.stopping:
            # The pod began terminating while this container was starting.
            worker.kick_stop()
        exit_code = await process.wait()
        logfile.close()
        self.process = None
        start_error = process.start_error()
        if start_error:
            self.status["state"] = {}
            return self._start_failed(container_id, logfile, start_error)
        reason = "OOMKilled" if self.oom else ("Completed" if exit_code == 0 else "Error")
        terminated: JSON = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started_at,
            "finishedAt": rfc3339(),
            "containerID": f"containerd://{container_id}",
        }
        message = self._termination_message(termination_file, logfile, exit_code)
        if message:
            terminated["message"] = message
        self.status["state"] = {"terminated": terminated}
        self.status["ready"] = self.kind == "init" and exit_code == 0
        self.status["started"] = False
        worker.changed()
        return exit_code

    def _create_instance_files(self) -> tuple[str, LogFile, str]:
        """Directory, log file and termination message file of a new container instance."""
        instance_dir = os.path.join(self.worker.pod_dir, "containers", f"{self.name}-{self.restart_count}")
        os.makedirs(instance_dir, exist_ok=True)
        logfile = LogFile(os.path.join(instance_dir, "log"))
        termination_file = os.path.join(instance_dir, "termination-log")
        with open(termination_file, "w"):
            pass
        return instance_dir, logfile, termination_file

    def _start_failed(self, container_id: str, logfile: LogFile, message: str) -> int:
        logfile.close()
        self.event("Warning", "Failed", f"Error: {message}")
        self.status["state"] = {
            "terminated": {
                "exitCode": 128,
                "reason": "StartError",
                "message": message,
                "startedAt": EPOCH,
                "finishedAt": rfc3339(),
                "containerID": f"containerd://{container_id}",
            }
        }
        self.status["ready"] = False
        self.status["started"] = False
        self.worker.changed()
        return 128

    def _termination_message(self, path: str, logfile: LogFile, exit_code: int) -> str:
        try:
            with open(path, "rb") as fh:
                # Like the kubelet: at most the last 4096 bytes of the file.
                limit = termination_message_limit(self.worker.spec)
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
                data = fh.read(limit)
        except OSError:
            data = b""
        message = data.decode("utf-8", errors="replace")
        if (
            not message
            and exit_code != 0
            and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            message = logfile.tail_text(FALLBACK_LINES, FALLBACK_BYTES)
        return message

    async def ensure_image(self) -> bool:
        worker = self.worker
        kubelet = worker.kubelet
        timings = kubelet.deps.config.timings
        reference = self.spec.get("image", "")
        try:
            ref = imagelib.parse_image(reference)
        except imagelib.InvalidImageName as exc:
            self.set_waiting("InvalidImageName", str(exc))
            self.event("Warning", "InspectFailed", str(exc))
            self.event("Warning", "Failed", "Error: InvalidImageName")
            await worker.wait_stop()
            return False
        key = ref.normalized
        node_key = (worker.node, key)
        policy = self.spec.get("imagePullPolicy") or imagelib.default_pull_policy(reference)
        registry = kubelet.registry
        if policy == "Never":
            if registry.is_missing(reference) and node_key not in registry.pulled:
                message = f'Container image "{reference}" is not present with pull policy of Never'
                self.set_waiting("ErrImageNeverPull", message)
                self.event("Warning", "ErrImageNeverPull", message)
                await worker.wait_stop()
                return False
            self.event("Normal", "Pulled", f'Container image "{reference}" already present on machine')
            return True
        if policy == "IfNotPresent" and node_key in registry.pulled:
            self.event("Normal", "Pulled", f'Container image "{reference}" already present on machine')
            return True
        backoff = timings.image_pull_backoff_initial
        while True:
            self.event("Normal", "Pulling", f'Pulling image "{reference}"')
            image = registry.lookup(reference)
            started = time.monotonic()
            if image is not None and image.pull_seconds > 0 and not await worker.sleep(image.pull_seconds):
                return False
            failure = ""
            if registry.is_missing(reference):
                failure = imagelib.not_found_message(reference)
            elif registry.failures_left.get(key, 0) > 0:
                registry.failures_left[key] -= 1
                failure = (
                    f'rpc error: code = Unknown desc = failed to pull and unpack image "{key}": failed to resolve '
                    f'reference "{key}": unexpected status from HEAD request to '
                    f"https://{ref.domain}/v2/{ref.path}/manifests/{ref.tag or 'latest'}: 429 Too Many Requests"
                )
            if not failure:
                elapsed = time.monotonic() - started
                registry.pulled.add(node_key)
                size = 1_000_000 + int(ref.image_id.rsplit(":", 1)[-1][:5], 16)
                self.event(
                    "Normal",
                    "Pulled",
                    f'Successfully pulled image "{reference}" in {_seconds(elapsed)} ({_seconds(elapsed)} including '
                    f"waiting). Image size: {size} bytes.",
                )
                return True
            self.event("Warning", "Failed", f'Failed to pull image "{reference}": {failure}')
            self.event("Warning", "Failed", "Error: ErrImagePull")
            self.set_waiting("ErrImagePull", failure)
            shown = min(1.0, backoff / 2)
            if not await worker.sleep(shown):
                return False
            message = f'Back-off pulling image "{reference}"'
            # The status wraps the last pull error (kubelet image manager: prevPullErrMsg); the event does not.
            self.set_waiting("ImagePullBackOff", f"{message}: ErrImagePull: {failure}")
            self.event("Normal", "BackOff", message)
            self.event("Warning", "Failed", "Error: ImagePullBackOff")
            if not await worker.sleep(max(0.0, backoff - shown)):
                return False
            backoff = min(backoff * 2, timings.image_pull_backoff_max)

    async def stop(self, worker: PodWorker) -> None:
        """SIGTERM the running process, SIGKILL it at the pod's kill deadline."""
        process = self.process
        if process is None or not process.running:
            return
        self.event("Normal", "Killing", f"Stopping container {self.name}")
        if worker.kill_deadline <= time.monotonic():
            process.kill()
        else:
            process.signal(signal.SIGTERM)
        while process.running:
            remaining = worker.kill_deadline - time.monotonic()
            if remaining <= 0:
                process.kill()
                break
            changed = worker.deadline_changed
            waiter = asyncio.ensure_future(process.proc.wait())
            flag = asyncio.ensure_future(changed.wait())
            _, pending = await asyncio.wait(
                {waiter, flag}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
        with contextlib.suppress(Exception):
            await process.proc.wait()

    def mark_unknown_if_waiting(self) -> None:
        """At pod termination, a container that never ran is reported the way the kubelet does."""
        if "waiting" in self.status["state"] and not self.status.get("lastState"):
            self.status["state"] = podstatus.status_unknown_state()
            self.status["ready"] = False
            self.status["started"] = False
        elif "waiting" in self.status["state"]:
            last = self.status["lastState"].get("terminated")
            if last:
                self.status["state"] = {"terminated": last}

    def public_status(self) -> JSON:
        status = copy.deepcopy(self.status)
        status["restartCount"] = self.restart_count
        if "containerID" in status and "waiting" in status["state"] and not status.get("lastState"):
            del status["containerID"]
        return status


def _image_ref(reference: str) -> imagelib.ImageRef | None:
    try:
        return imagelib.parse_image(reference)
    except imagelib.InvalidImageName:
        return None


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def _duration(seconds: float) -> str:
    """Go's time.Duration formatting for whole and fractional seconds / minutes."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m0s"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{_trim(seconds % 60)}s"
    return f"{_trim(seconds)}s"


def _trim(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ---------------------------------------------------------------------------------------------------------


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: JSON) -> None:
        self.kubelet = kubelet
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.spec: JSON = copy.deepcopy(pod["spec"])
        self.node: str = self.spec["nodeName"]
        self.hostname: str = (self.spec.get("hostname") or self.name)[:63]
        self.pod_dir = os.path.join(kubelet.deps.state_dir, "pods", self.uid)
        self.init_runners = [
            ContainerRunner(self, c, "sidecar" if podstatus.is_sidecar(c) else "init")
            for c in self.spec.get("initContainers") or []
        ]
        self.runners = [ContainerRunner(self, c, "regular") for c in self.spec.get("containers") or []]
        self.stopping = False
        self.stop_reason = ""
        self.stop_message = ""
        self.stop_event = asyncio.Event()
        self.kill_deadline = float("inf")
        self.deadline_changed = asyncio.Event()
        self.start_time = rfc3339()
        self.sandbox_ready = False  # the sandbox is created once every volume is mounted
        self.final_phase: str | None = None
        self.lost = False
        self.deleting = False
        self.extra_conditions: list[JSON] = []
        self.volume_dirs: dict[str, str] = {}
        self.volume_readonly: set[str] = set()
        self._publish_pending = False
        self._stop_task: asyncio.Task[None] | None = None
        self._deadline_handle: asyncio.TimerHandle | None = None
        self._started_at = time.monotonic()
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------ status

    def all_runners(self) -> list[ContainerRunner]:
        return self.init_runners + self.runners

    def runner(self, name: str) -> ContainerRunner | None:
        for runner in self.all_runners():
            if runner.name == name:
                return runner
        return None

    def event(self, event_type: str, reason: str, message: str, field_path: str | None = None) -> None:
        if self.lost:
            return
        pod = self.kubelet.deps.store.get("pods", self.namespace, self.name)
        if pod is None or pod["metadata"].get("uid") != self.uid:
            pod = {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid},
            }
        self.kubelet.deps.recorder.kubelet(
            pod, event_type, reason, message, node=self.node, field_path=field_path
        )

    def changed(self) -> None:
        if self._publish_pending or self.lost:
            return
        self._publish_pending = True
        asyncio.get_running_loop().call_soon(self.publish)

    def build_status(self, previous: JSON) -> JSON:
        init_statuses = [r.public_status() for r in self.init_runners]
        statuses = [r.public_status() for r in self.runners]
        if self.final_phase is not None:
            phase = self.final_phase
        else:
            phase = podstatus.compute_phase(self.spec, init_statuses, statuses)
            if phase in podstatus.TERMINAL_PHASES:
                before = str(previous.get("phase") or "")
                phase = before if before not in podstatus.TERMINAL_PHASES else "Running"
                phase = phase or podstatus.PENDING
        conditions = podstatus.kubelet_conditions(
            self.spec, init_statuses, statuses, phase, sandbox_ready=self.sandbox_ready
        )
        old_conditions = previous.get("conditions") or []
        merged = podstatus.merge_conditions(old_conditions, conditions + self.extra_conditions, rfc3339())
        status: JSON = {
            "phase": phase,
            "conditions": merged,
            "hostIP": POD_IP,
            "hostIPs": [{"ip": POD_IP}],
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "startTime": self.start_time,
        }
        if self.init_runners:
            status["initContainerStatuses"] = init_statuses
        status["containerStatuses"] = statuses
        status["qosClass"] = previous.get("qosClass") or podstatus.qos_class(self.spec)
        if self.final_phase is not None and self.stop_reason in ("DeadlineExceeded", "Evicted"):
            status["reason"] = self.stop_reason
            status["message"] = self.stop_message
        return status

    def publish(self) -> None:
        self._publish_pending = False
        if self.lost:
            return
        store = self.kubelet.deps.store
        pod = store.get("pods", self.namespace, self.name)
        if pod is None or pod["metadata"].get("uid") != self.uid:
            return
        status = self.build_status(pod.get("status") or {})
        if status == pod.get("status"):
            return
        # Stored snapshots are never mutated: a shallow copy with a new status and metadata is enough.
        updated = dict(pod)
        updated["metadata"] = dict(pod["metadata"])
        updated["status"] = status
        store.update("pods", updated)

    # ------------------------------------------------------------------------------------------ helpers

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless the pod stops first. Returns False when it stopped."""
        if self.stopping:
            return False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), timeout=max(0.0, seconds))
        return not self.stopping

    async def wait_stop(self) -> None:
        await self.stop_event.wait()

    def container_environment(self, container: JSON) -> dict[str, str]:
        deps = self.kubelet.deps
        pod = deps.store.get("pods", self.namespace, self.name) or {"metadata": {}, "spec": self.spec}
        node = self.kubelet.node_object(self.node) or {}
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        sources = EnvSources(
            pod=pod,
            configmaps=lambda name: deps.store.get("configmaps", self.namespace, name),
            secrets=lambda name: deps.store.get("secrets", self.namespace, name),
            node_allocatable=allocatable,
            service_env=service_env(deps.api_host, deps.api_port),
        )
        return container_env(sources, container)

    def container_mounts(self, container: JSON) -> list[Mount]:
        mounts = []
        for mount in container.get("volumeMounts") or []:
            source = self.volume_dirs.get(mount["name"])
            if source is None:
                continue
            if mount.get("subPath"):
                source = os.path.join(source, mount["subPath"])
                if not os.path.exists(source):
                    os.makedirs(source, exist_ok=True)
            readonly = bool(mount.get("readOnly")) or mount["name"] in self.volume_readonly
            mounts.append(Mount(source, mount["mountPath"], readonly))
        return mounts

    # ------------------------------------------------------------------------------------------ volumes

    def _claimed_volume(self, volume: JSON) -> JSON:
        """The PersistentVolume source behind a claim, as the kubelet's volume populator resolves it; raises
        :class:`VolumeProcessError` worded like the populator's errors."""
        store = self.kubelet.deps.store
        source = volume.get("persistentVolumeClaim") or {}
        name = str(source.get("claimName", "")) if source else f"{self.name}-{volume['name']}"
        prefix = f"error processing PVC {self.namespace}/{name}"
        claim = store.get("persistentvolumeclaims", self.namespace, name)
        if claim is None:
            raise VolumeProcessError(
                f'{prefix}: failed to fetch PVC from API server: persistentvolumeclaims "{name}" not found'
            )
        pod = {"metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid}}
        if not source and (owner_error := claim_owner_error(pod, claim)) is not None:
            raise VolumeProcessError(f"{prefix}: {owner_error}")
        if claim["metadata"].get("deletionTimestamp"):
            raise VolumeProcessError(f"{prefix}: PVC is being deleted")
        if (claim.get("status") or {}).get("phase") != "Bound":
            raise VolumeProcessError(f"{prefix}: PVC is not bound")
        pv_name = (claim.get("spec") or {}).get("volumeName") or ""
        if not pv_name:
            raise VolumeProcessError(f"{prefix}: PVC has empty pvc.Spec.VolumeName")
        pv = store.get("persistentvolumes", "", pv_name)
        if pv is None:
            raise VolumeProcessError(
                f'{prefix}: failed to fetch PV {pv_name} from API server: persistentvolumes "{pv_name}" not found'
            )
        spec = pv.get("spec") or {}
        if "local" in spec:
            pv = {"hostPath": {"path": spec["local"].get("path", ""), "type": "Directory"}}
        elif "hostPath" in spec:
            pv = {"hostPath": spec["hostPath"]}
        else:
            kinds = [k for k in spec if k in _PV_SOURCES]
            pv = {kinds[0] if kinds else "persistentVolume": {}}
        if source.get("readOnly"):
            self.volume_readonly.add(volume["name"])
        return {"name": volume["name"], **pv}

    def _volume_error(self, volume: JSON) -> str | None:
        """Prepare one volume; return a FailedMount message if it cannot be set up yet."""
        store = self.kubelet.deps.store
        name = volume["name"]
        path = os.path.join(self.pod_dir, "volumes", name)
        if "persistentVolumeClaim" in volume or "ephemeral" in volume:
            volume = self._claimed_volume(volume)
        if "hostPath" in volume:
            host = volume["hostPath"]
            target = host.get("path", "/")
            kind = host.get("type") or ""
            if kind in ("DirectoryOrCreate",) and not os.path.exists(target):
                os.makedirs(target, exist_ok=True)
            elif kind == "FileOrCreate" and not os.path.exists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                open(target, "a").close()
            elif kind in ("Directory", "File") and not os.path.exists(target):
                return (
                    f'MountVolume.SetUp failed for volume "{name}" : hostPath type check failed: {target} is not '
                    f"a {'directory' if kind == 'Directory' else 'file'}"
                )
            self.volume_dirs[name] = target
            return None
        os.makedirs(path, exist_ok=True)
        self.volume_dirs[name] = path
        if "emptyDir" in volume:
            return None
        files: dict[str, tuple[bytes, int]] = {}
        if "configMap" in volume or "secret" in volume or "downwardAPI" in volume or "projected" in volume:
            self.volume_readonly.add(name)
            sources: list[tuple[str, JSON]] = []
            default_mode = 0o644
            if "projected" in volume:
                default_mode = int(volume["projected"].get("defaultMode", 0o644))
                for source in volume["projected"].get("sources") or []:
                    for kind in ("configMap", "secret", "downwardAPI", "serviceAccountToken"):
                        if kind in source:
                            sources.append((kind, source[kind]))
            else:
                for kind in ("configMap", "secret", "downwardAPI"):
                    if kind in volume:
                        sources.append((kind, volume[kind]))
                        default_mode = int(volume[kind].get("defaultMode", 0o644))
            for kind, source in sources:
                error = self._collect_files(kind, source, files, default_mode, store, name)
                if error:
                    return error
            _write_volume(path, files)
            return None
        kinds = [k for k in volume if k != "name"]
        return (
            f'MountVolume.SetUp failed for volume "{name}" : volume type {kinds[0] if kinds else "?"} is not '
            f"supported by the local cluster"
        )

    def _collect_files(
        self,
        kind: str,
        source: JSON,
        files: dict[str, tuple[bytes, int]],
        mode: int,
        store: Store,
        volume: str,
    ) -> str | None:
        if kind == "serviceAccountToken":
            issue = self.kubelet.deps.service_account_token
            pod = store.get("pods", self.namespace, self.name)
            try:
                if issue is None:  # a kubelet without an issuer (not the cluster's): the admin token
                    token = self.kubelet.deps.token
                elif pod is None:
                    raise KeyError(f'pods "{self.name}" not found')
                else:
                    token = issue(pod, source)
            except KeyError as exc:
                return (
                    f'MountVolume.SetUp failed for volume "{volume}" : failed to fetch token: {exc.args[0]}'
                )
            files[source.get("path", "token")] = (token.encode(), mode)
            return None
        if kind == "downwardAPI":
            pod = store.get("pods", self.namespace, self.name) or {}
            for item in source.get("items") or []:
                value = _downward_value(pod, item)
                files[item["path"]] = (value.encode(), int(item.get("mode", mode)))
            return None
        is_secret = kind == "secret"
        obj_name = source.get("secretName" if is_secret and "secretName" in source else "name", "")
        obj = store.get("secrets" if is_secret else "configmaps", self.namespace, obj_name)
        if obj is None:
            if source.get("optional"):
                return None
            what = "secret" if is_secret else "configmap"
            return f'MountVolume.SetUp failed for volume "{volume}" : {what} "{obj_name}" not found'
        data: dict[str, bytes] = {}
        for key, text in (obj.get("data") or {}).items():
            data[key] = base64.b64decode(text) if is_secret else str(text).encode()
        for key, text in (obj.get("binaryData") or {}).items():
            data[key] = base64.b64decode(text)
        items = source.get("items")
        if items:
            for item in items:
                if item["key"] not in data:
                    if source.get("optional"):
                        continue
                    what = "secret" if is_secret else "configmap"
                    return (
                        f'MountVolume.SetUp failed for volume "{volume}" : {what} references non-existent '
                        f"config key: {item['key']}"
                    )
                files[item.get("path") or item["key"]] = (data[item["key"]], int(item.get("mode", mode)))
        else:
            for key, content in data.items():
                files[key] = (content, mode)
        return None

    async def prepare_volumes(self) -> bool:
        """Mount every volume before the sandbox exists, retrying as the kubelet does: a volume whose set-up
        fails is retried with exponential back-off (``MountVolume.SetUp failed`` events, aggregated into
        ``count``); a claim that cannot be resolved fails the pod sync, which is retried after a pause
        (``Unable to attach or mount volumes`` events)."""
        timings = self.kubelet.deps.config.timings
        pending = {str(v["name"]): v for v in self.spec.get("volumes") or []}
        backoff: dict[str, float] = {}
        due: dict[str, float] = {}
        next_sync = 0.0
        while pending:
            now = time.monotonic()
            process_errors: dict[str, str] = {}
            for name, volume in list(pending.items()):
                if due.get(name, 0.0) > now:
                    continue
                try:
                    error = self._volume_error(volume)
                except VolumeProcessError as exc:
                    process_errors[name] = str(exc)
                    continue
                if error is None:
                    del pending[name]
                    continue
                self.event("Warning", "FailedMount", error)
                previous = backoff.get(name)
                backoff[name] = (
                    timings.mount_backoff_initial
                    if previous is None
                    else min(previous * 2, timings.mount_backoff_max)
                )
                due[name] = now + backoff[name]
            if process_errors and now >= next_sync:
                self.event(
                    "Warning",
                    "FailedMount",
                    f"Unable to attach or mount volumes: unmounted volumes=[{' '.join(sorted(pending))}], "
                    f"unattached volumes=[], failed to process volumes=[{' '.join(sorted(process_errors))}]: "
                    + "; ".join(process_errors[n] for n in sorted(process_errors)),
                )
                next_sync = now + timings.pod_sync_retry_seconds
            if not pending:
                break
            wakes = [due.get(n, 0.0) for n in pending if n not in process_errors]
            if process_errors:
                wakes.append(min(next_sync, now + _CLAIM_POLL_SECONDS))
            if not await self.sleep(max(0.01, min(wakes) - time.monotonic())):
                return False
        self.sandbox_ready = True
        self.changed()
        return True

    # ---------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._started_at = time.monotonic()
        self._arm_deadline(self.spec.get("activeDeadlineSeconds"))
        self.task = asyncio.ensure_future(self._run())

    def _arm_deadline(self, deadline: Any) -> None:
        """(Re)arm ``activeDeadlineSeconds``, counted from the pod's start (the kubelet reads the spec's
        current value: an update that lowers it takes effect)."""
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
            self._deadline_handle = None
        if deadline:
            left = float(deadline) - (time.monotonic() - self._started_at)
            self._deadline_handle = asyncio.get_running_loop().call_later(
                max(0.0, left), self._deadline_exceeded
            )

    def spec_updated(self, spec: JSON) -> None:
        deadline = spec.get("activeDeadlineSeconds")
        if deadline != self.spec.get("activeDeadlineSeconds") and not self.done.is_set():
            self.spec["activeDeadlineSeconds"] = deadline
            self._arm_deadline(deadline)

    async def _run(self) -> None:
        try:
            os.makedirs(self.pod_dir, exist_ok=True)
            self.changed()
            await self._lifecycle()
            await self._stop_all()
            self._finalize()
        except Exception:  # pragma: no cover - a bug in the kubelet must not kill the server
            log.exception("pod worker %s/%s failed", self.namespace, self.name)
            for runner in self.all_runners():
                if runner.process is not None:
                    runner.process.kill()
        finally:
            if self._deadline_handle is not None:
                self._deadline_handle.cancel()
            self.done.set()

    async def _lifecycle(self) -> None:
        if not await self.prepare_volumes():
            return
        for runner in self.init_runners:
            if self.stopping:
                return
            if runner.kind == "sidecar":
                task = asyncio.ensure_future(runner.run_loop())
                self.kubelet.track(task)
                started = asyncio.ensure_future(runner.started.wait())
                stopped = asyncio.ensure_future(self.stop_event.wait())
                await asyncio.wait({started, stopped}, return_when=asyncio.FIRST_COMPLETED)
                started.cancel()
                stopped.cancel()
                continue
            exit_code = await runner.run_loop()
            if self.stopping:
                return
            if exit_code != 0:
                return  # restartPolicy Never and the init container failed: the pod fails
        if self.stopping:
            return
        tasks = [asyncio.ensure_future(r.run_loop()) for r in self.runners]
        await asyncio.gather(*tasks, return_exceptions=True)

    def _deadline_exceeded(self) -> None:
        if self.stopping or self.final_phase is not None:
            return
        message = "Pod was active on the node longer than the specified deadline"
        self.event("Normal", "DeadlineExceeded", message)
        self.terminate(float(self.spec.get("terminationGracePeriodSeconds", 30)), "DeadlineExceeded", message)

    def terminate(self, grace: float, reason: str, message: str = "") -> None:
        """Stop the pod (delete, deadline, eviction): SIGTERM now, SIGKILL after ``grace`` seconds."""
        deadline = time.monotonic() + max(0.0, grace)
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason
            self.stop_message = message
            self.stop_event.set()
        elif reason in ("Evicted", "DeadlineExceeded") and self.stop_reason not in (
            "Evicted",
            "DeadlineExceeded",
        ):
            self.stop_reason = reason
            self.stop_message = message
        if reason == "Deleted":
            self.deleting = True
        if deadline < self.kill_deadline:
            self.kill_deadline = deadline
            changed, self.deadline_changed = self.deadline_changed, asyncio.Event()
            changed.set()
        self.kick_stop()

    def kick_stop(self) -> None:
        if self._stop_task is None or self._stop_task.done():
            self._stop_task = asyncio.ensure_future(self._stop_all())
            self.kubelet.track(self._stop_task)

    async def _stop_all(self) -> None:
        """Stop regular containers, then sidecars in reverse order (native sidecar termination order)."""
        if not self.stopping:
            # Natural completion: sidecars get the pod's grace period and are not restarted any more.
            self.kill_deadline = time.monotonic() + float(self.spec.get("terminationGracePeriodSeconds", 30))
            self.stopping = True
            self.stop_event.set()
        await asyncio.gather(*(r.stop(self) for r in self.runners))
        for runner in reversed(self.init_runners):
            await runner.stop(self)
        # Wait for every runner to have recorded its exit.
        for _ in range(200):
            if all(r.process is None for r in self.all_runners()):
                break
            await asyncio.sleep(0.01)

    def _finalize(self) -> None:
        if self.lost:
            return
        for runner in self.all_runners():
            if self.stop_reason or runner.kind == "sidecar":
                runner.mark_unknown_if_waiting()
        init_statuses = [r.public_status() for r in self.init_runners]
        statuses = [r.public_status() for r in self.runners]
        if self.stop_reason in ("DeadlineExceeded", "Evicted"):
            phase = podstatus.FAILED
        else:
            phase = podstatus.compute_phase(self.spec, init_statuses, statuses, pod_is_terminal=True)
            if phase not in podstatus.TERMINAL_PHASES:
                phase = podstatus.FAILED
        self.final_phase = phase
        self.sandbox_ready = False
        self.publish()
        self.done.set()
        self.kubelet.pod_terminated(self)

    # ------------------------------------------------------------------------------------------ faults

    def evict(self, message: str, grace: float = 1.0) -> None:
        """Node-pressure eviction: SIGTERM, then SIGKILL after ``grace`` seconds (the eviction manager's
        1 s ``immediateEvictionGracePeriodSeconds`` for hard thresholds)."""
        self.event("Warning", "Evicted", message)
        self.extra_conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "TerminationByKubelet",
                "message": message,
            }
        )
        self.terminate(grace, "Evicted", message)

    def oom_kill(self, runner: ContainerRunner) -> bool:
        process = runner.process
        if process is None or not process.running:
            return False
        runner.oom = True
        process.kill()
        return True

    def lose(self) -> None:
        """The node went away: processes die, nothing reports status any more."""
        self.lost = True
        self.stopping = True
        self.stop_event.set()
        for runner in self.all_runners():
            if runner.process is not None:
                runner.process.kill()


class VolumeProcessError(Exception):
    """A volume the kubelet cannot even add to its desired state (a claim that is missing or unbound)."""


_CLAIM_POLL_SECONDS = 0.2
#: Persistent volume sources this node cannot mount (only ``hostPath`` and ``local`` are local directories).
_PV_SOURCES = tuple(s for s in PV_SOURCES if s not in ("hostPath", "local"))


def _write_volume(path: str, files: dict[str, tuple[bytes, int]]) -> None:
    for rel, (data, mode) in files.items():
        target = os.path.join(path, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(data)
        os.chmod(target, mode)


def _downward_value(pod: JSON, item: JSON) -> str:
    meta = pod.get("metadata") or {}
    field_path = (item.get("fieldRef") or {}).get("fieldPath", "")
    if field_path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(field_path.split(".", 1)[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    lookup = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
    }
    if field_path.startswith(("metadata.labels['", "metadata.annotations['")):
        kind, _, key = field_path.partition("['")
        return str((meta.get(kind.split(".", 1)[1]) or {}).get(key.rstrip("']"), ""))
    return str(lookup.get(field_path, ""))


# ---------------------------------------------------------------------------------------------------------


class Kubelet:
    """Scheduler + kubelet for all fake nodes."""

    def __init__(self, deps: KubeletDeps) -> None:
        self.deps = deps
        self.registry = ImageRegistry(deps.config.unknown_images)
        for image in deps.config.images:
            self.registry.declare(image)
        self.workers: dict[str, PodWorker] = {}
        self.lost_nodes: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.on_pod_terminated: Callable[[PodWorker], None] | None = None
        # Set by the server: records the scheduler's node on a WaitForFirstConsumer claim, returns if bound.
        self.claim_node_selected: Callable[[JSON, str], bool] = lambda claim, node: False

    def track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------------------------------- nodes

    def node_object(self, name: str) -> JSON | None:
        return self.deps.store.get("nodes", "", name)

    def nodes(self) -> list[JSON]:
        return self.deps.store.list("nodes")

    # -------------------------------------------------------------------------------------- scheduling

    def pod_created(self, pod: JSON) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"])
        asyncio.get_running_loop().call_soon(self._schedule, key)

    def reschedule_pending(self) -> None:
        for pod in self.deps.store.list("pods"):
            if not pod["spec"].get("nodeName") and not pod["metadata"].get("deletionTimestamp"):
                meta = pod["metadata"]
                self._schedule((meta["namespace"], meta["name"], meta["uid"]))
            elif pod["spec"].get("nodeName") and pod["metadata"]["uid"] not in self.workers:
                self._maybe_start(pod)

    def _schedule(self, key: tuple[str, str, str]) -> None:
        namespace, name, uid = key
        store = self.deps.store
        pod = store.get("pods", namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return
        if pod["spec"].get("nodeName"):
            self._maybe_start(pod)
            return
        nodes = self.nodes()
        load: dict[str, int] = {}
        if len(nodes) > 1:  # the spread only matters between nodes; counting is O(pods) per pod
            for worker in self.workers.values():
                load[worker.node] = load.get(worker.node, 0) + 1
        reason, delayed = volume_claims_prefilter(
            pod, lambda claim: store.get("persistentvolumeclaims", namespace, claim), self._delays_binding
        )
        if reason is not None and nodes:
            node, message = None, prefilter_failure_message(len(nodes), reason)
        else:
            node, message = choose_node(pod, nodes, load, self._bound_volumes(pod))
        updated = copy.deepcopy(pod)
        status = updated.setdefault("status", {})
        now = rfc3339()
        if node is None:
            condition = {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": now,
                "reason": "Unschedulable",
                "message": message,
            }
            previous = [c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"]
            if previous and previous[0].get("message") == message:
                condition["lastTransitionTime"] = previous[0].get("lastTransitionTime", now)
            status["conditions"] = [
                c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"
            ]
            status["conditions"].append(condition)
            if updated != pod:
                store.update("pods", updated)
            self.deps.recorder.scheduler(updated, "Warning", "FailedScheduling", message, "Scheduling")
            return
        if delayed:
            # WaitForFirstConsumer: the node goes on each claim, and the pod is bound once they all are.
            claims = [store.get("persistentvolumeclaims", namespace, claim) for claim in delayed]
            ready = [self.claim_node_selected(claim, node) for claim in claims if claim is not None]
            if not all(ready):
                return
            pod = store.get("pods", namespace, name) or pod
            if pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
                return
            updated = copy.deepcopy(pod)
            status = updated.setdefault("status", {})
        updated["spec"]["nodeName"] = node
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        status["conditions"].append(
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        )
        bound = store.update("pods", updated)
        self.deps.recorder.scheduler(
            bound, "Normal", "Scheduled", f"Successfully assigned {namespace}/{name} to {node}", "Binding"
        )
        self._maybe_start(bound)

    def _bound_volumes(self, pod: JSON) -> list[JSON]:
        store = self.deps.store
        out = []
        for volume in pod["spec"].get("volumes") or []:
            name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            claim = store.get("persistentvolumeclaims", pod["metadata"]["namespace"], name) if name else None
            pv_name = ((claim or {}).get("spec") or {}).get("volumeName")
            pv = store.get("persistentvolumes", "", pv_name) if pv_name else None
            if pv is not None:
                out.append(pv)
        return out

    def _delays_binding(self, class_name: str) -> bool:
        storage_class = self.deps.store.get("storageclasses", "", class_name) if class_name else None
        return storage_class is not None and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"

    def pod_updated(self, pod: JSON) -> None:
        """A pod's spec was updated through the API: its worker follows the fields a running pod may change."""
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.spec_updated(pod.get("spec") or {})

    def _maybe_start(self, pod: JSON) -> None:
        uid = pod["metadata"]["uid"]
        node = pod["spec"].get("nodeName")
        if uid in self.workers or node in self.lost_nodes or self.node_object(node) is None:
            return
        if (pod.get("status") or {}).get("phase") in podstatus.TERMINAL_PHASES:
            return
        worker = PodWorker(self, pod)
        self.workers[uid] = worker
        worker.start()
        if worker.task is not None:
            self.track(worker.task)

    # ---------------------------------------------------------------------------------------- deletion

    def pod_terminated(self, worker: PodWorker) -> None:
        if self.on_pod_terminated is not None:
            self.on_pod_terminated(worker)

    def forget(self, uid: str) -> None:
        """The pod object is gone: drop the worker and its files once its processes are gone."""
        worker = self.workers.pop(uid, None)
        if worker is None:
            return

        async def cleanup() -> None:
            if not worker.done.is_set():
                worker.terminate(0.0, "Deleted")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(worker.done.wait(), timeout=30)
            shutil.rmtree(worker.pod_dir, ignore_errors=True)

        self.track(asyncio.ensure_future(cleanup()))

    # ------------------------------------------------------------------------------------------- nodes

    def lose_node(self, name: str) -> list[PodWorker]:
        self.lost_nodes.add(name)
        lost = [w for w in self.workers.values() if w.node == name and not w.done.is_set()]
        for worker in lost:
            worker.lose()
        return lost

    def restore_node(self, name: str) -> list[PodWorker]:
        self.lost_nodes.discard(name)
        return [w for w in self.workers.values() if w.node == name and w.lost]

    # ------------------------------------------------------------------------------------------ control

    def all_processes(self) -> list[tuple[PodWorker, ContainerRunner, ContainerProcess]]:
        out = []
        for worker in self.workers.values():
            for runner in worker.all_runners():
                if runner.process is not None:
                    out.append((worker, runner, runner.process))
        return out

    async def shutdown(self) -> None:
        """Kill every container process at once and wait for them to be gone."""
        for worker in list(self.workers.values()):
            worker.stopping = True
            worker.kill_deadline = 0.0
            worker.stop_event.set()
            for runner in worker.all_runners():
                if runner.process is not None:
                    runner.process.kill()
        waits = [p.proc.wait() for _, _, p in self.all_processes()]
        if waits:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), timeout=10)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
