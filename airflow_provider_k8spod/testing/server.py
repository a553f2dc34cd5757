"""The cluster process: API server + kubelet on one asyncio loop, TLS, kubeconfig, lifecycle, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import glob
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable

from airflow_provider_k8spod.testing import certs, kubeconfig
from airflow_provider_k8spod.testing._util import (
    JSON,
    STATE_PREFIX,
    new_state_dir,
    new_uid,
    rfc3339,
    state_dir_base,
)
from airflow_provider_k8spod.testing.apiserver import objects, rbac, tokens
from airflow_provider_k8spod.testing.apiserver._http import HttpServer
from airflow_provider_k8spod.testing.apiserver.admin import Admin
from airflow_provider_k8spod.testing.apiserver.api import Api
from airflow_provider_k8spod.testing.apiserver.events import EventRecorder
from airflow_provider_k8spod.testing.apiserver.faults import FaultTable
from airflow_provider_k8spod.testing.apiserver.store import Store
from airflow_provider_k8spod.testing.config import ClusterConfig, Node
from airflow_provider_k8spod.testing.controllers import clusterroles
from airflow_provider_k8spod.testing.controllers.nodelifecycle import NodeLifecycle
from airflow_provider_k8spod.testing.controllers.volumes import VolumeController
from airflow_provider_k8spod.testing.node import limits, podstatus
from airflow_provider_k8spod.testing.node.kubelet import Kubelet, KubeletDeps, PodWorker
from airflow_provider_k8spod.testing.node.runtime import Runtime, choose_mode, write_python_shims

log = logging.getLogger(__name__)

PID_FILE = "server.pid"


def _process_start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str | None) -> bool:
    if sys.platform.startswith("linux"):
        current = _process_start_time(pid)
        return current is not None and (start is None or current == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_state_dirs(base: str | None = None, min_age_without_pid: float = 600.0) -> list[str]:
    """Remove state directories of local clusters whose server process is gone (e.g. SIGKILLed)."""
    removed = []
    bases = [base] if base else list(dict.fromkeys([state_dir_base(), tempfile.gettempdir()]))
    paths = [p for b in bases for p in glob.glob(os.path.join(b, STATE_PREFIX + "*"))]
    for path in paths:
        if not os.path.isdir(path):
            continue
        pid_path = os.path.join(path, PID_FILE)
        try:
            with open(pid_path) as fh:
                fields = fh.read().split()
            pid = int(fields[0])
            start = fields[1] if len(fields) > 1 else None
            stale = not _alive(pid, start)
        except (OSError, ValueError, IndexError):
            try:
                stale = time.time() - os.path.getmtime(path) > min_age_without_pid
            except OSError:
                stale = False
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class ClusterServer:
    def __init__(
        self,
        config: ClusterConfig,
        *,
        state_dir: str,
        kubeconfig_path: str,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.kubeconfig_path = kubeconfig_path
        self.host = host
        self.port = port
        self.token = token or secrets.token_urlsafe(32)
        self.user = config.user
        self.stats: Counter[str] = Counter()
        self.faults = FaultTable()
        self.store = Store(config.watch_history)
        self.recorder = EventRecorder(self.store)
        self.tokens = tokens.TokenIssuer(secrets.token_bytes(32))
        self.policy = rbac.Policy(self.store.list, self.store.get)
        self.mode = choose_mode(config.isolation)
        python = config.python or sys.executable
        self.runtime = Runtime(self.mode, python)
        self.shim_dir = os.path.join(state_dir, "bin")
        self.ca_pem = ""
        self.api = Api(self)
        self.admin = Admin(self)
        self._http: HttpServer | None = None
        self._namespace_tasks: set[asyncio.Task[None]] = set()
        self.background: set[asyncio.Task[None]] = set()
        self.kubelet: Kubelet
        self.node_lifecycle = NodeLifecycle(self)
        self.url = ""

    # ---------------------------------------------------------------------------------------- lifecycle

    def _prepare_state_dir(self) -> tuple[certs.ServerCertificates, str, str]:
        """PID file (for stale-directory sweeps), python shims, and a fresh CA + server certificate."""
        os.makedirs(self.state_dir, exist_ok=True)
        with open(os.path.join(self.state_dir, PID_FILE), "w") as fh:
            fh.write(f"{os.getpid()} {_process_start_time(os.getpid()) or ''}")
        write_python_shims(self.shim_dir, self.runtime.python)
        material = certs.generate()
        cert_path = os.path.join(self.state_dir, "server.crt")
        key_path = os.path.join(self.state_dir, "server.key")
        with open(cert_path, "wb") as fh:
            fh.write(material.cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(material.key_pem)
        return material, cert_path, key_path

    async def start(self) -> str:
        material, cert_path, key_path = self._prepare_state_dir()
        self.ca_pem = material.ca_pem.decode()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        context.set_alpn_protocols(["http/1.1"])

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(1024)
        sock.set_inheritable(False)
        self.port = sock.getsockname()[1]
        self.url = f"https://{self.host}:{self.port}"

        self.kubelet = Kubelet(
            KubeletDeps(
                store=self.store,
                recorder=self.recorder,
                runtime=self.runtime,
                config=self.config,
                state_dir=self.state_dir,
                shim_dir=self.shim_dir,
                api_host=self.host,
                api_port=self.port,
                token=self.token,
                service_account_token=self.pod_token,
            )
        )
        self.kubelet.on_pod_terminated = self._pod_terminated
        self.volumes = VolumeController(
            self.store, self.recorder, self.state_dir, on_claims_changed=self.kubelet.reschedule_pending
        )
        self.kubelet.claim_node_selected = self.volumes.select_node
        self.volumes.start()
        self._seed_policy()
        for name in dict.fromkeys(
            ("default", "kube-system", "kube-public", "kube-node-lease", *self.config.namespaces)
        ):
            self.store.create("namespaces", objects.namespace_object(name))
            self.seed_namespace(name)
        for node in self.config.nodes:
            self.store.create("nodes", objects.node_object(node))

        self._http = HttpServer(self.api.handle)
        await self._http.start(sock, context)
        kubeconfig.write(self.kubeconfig_path, kubeconfig.build(self.url, material.ca_pem, self.token))
        return self.url

    async def stop(self) -> None:
        self.node_lifecycle.stop()
        self.store.close_watchers()
        with contextlib.suppress(Exception):
            await self.kubelet.shutdown()
        if hasattr(self, "volumes"):
            self.volumes.stop()
        for task in list(self._namespace_tasks):
            task.cancel()
        if self._http is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._http.close(), timeout=5)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # ------------------------------------------------------------------------------------ namespaces

    def seed_namespace(self, name: str) -> None:
        """What the controllers add to a new namespace: the root CA ConfigMap and the ``default``
        ServiceAccount (created with the namespace here, a moment later in a real cluster)."""
        if self.store.get("configmaps", name, "kube-root-ca.crt") is None:
            self.store.create("configmaps", objects.root_ca_configmap(name, self.ca_pem))
        if self.store.get("serviceaccounts", name, "default") is None:
            self.store.create("serviceaccounts", objects.service_account_object(name))

    # ------------------------------------------------------------------------------------------ rbac

    def _seed_policy(self) -> None:
        roles, bindings = rbac.bootstrap_policy()
        for resource, items in (("clusterroles", roles), ("clusterrolebindings", bindings)):
            for obj in items:
                obj["metadata"].update(uid=new_uid(), creationTimestamp=rfc3339())
                self.store.create(resource, obj)
        self.aggregate_cluster_roles()

    def aggregate_cluster_roles(self) -> None:
        clusterroles.aggregate(self.store)

    def pod_token(self, pod: JSON, source: JSON) -> str:
        """The kubelet's token for a pod's projected ``serviceAccountToken`` source (bound to the pod).
        Raises KeyError when the pod's service account no longer exists."""
        namespace = pod["metadata"]["namespace"]
        name = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
        account = self.store.get("serviceaccounts", namespace, name)
        if account is None:
            raise KeyError(f'serviceaccounts "{name}" not found')
        audience = source.get("audience")
        issued = self.tokens.issue(
            account,
            audiences=[audience] if audience else None,
            expiration=int(source.get("expirationSeconds") or 3607),
            pod=pod,
        )
        return issued.token

    def delete_namespace(self, namespace: JSON) -> JSON:
        name = namespace["metadata"]["name"]
        if namespace["metadata"].get("deletionTimestamp"):
            return namespace
        updated = copy.deepcopy(namespace)
        updated["metadata"]["deletionTimestamp"] = rfc3339()
        updated["status"] = {"phase": "Terminating"}
        stored = self.store.update("namespaces", updated)
        for pod in self.store.list("pods", name):
            self.delete_pod(pod, None)

        async def finish() -> None:
            while self.store.list("pods", name):  # noqa: ASYNC110 - no store event for "namespace empty"
                await asyncio.sleep(0.1)
            for resource in (
                "configmaps",
                "secrets",
                "persistentvolumeclaims",
                "events",
                "serviceaccounts",
                "roles",
                "rolebindings",
            ):
                for obj in self.store.list(resource, name):
                    self.store.delete(resource, name, obj["metadata"]["name"])
            self.store.delete("namespaces", "", name)

        task = asyncio.ensure_future(finish())
        self._namespace_tasks.add(task)
        task.add_done_callback(self._namespace_tasks.discard)
        return stored

    # ------------------------------------------------------------------------------------------ pods

    def delete_pod(self, pod: JSON, grace: int | None) -> JSON:
        """Graceful deletion as kube-apiserver + kubelet do it. Returns the object as the API answers."""
        meta = pod["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        spec = pod.get("spec") or {}
        if grace is None:
            grace = int(spec.get("terminationGracePeriodSeconds", 30))
        grace = max(0, grace)
        node = spec.get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        worker = self.kubelet.workers.get(uid)
        immediate = not node or phase in podstatus.TERMINAL_PHASES or grace == 0
        if meta.get("deletionTimestamp") and not immediate:
            current = int(meta.get("deletionGracePeriodSeconds") or 0)
            if grace >= current:
                return pod
        if immediate and not meta.get("finalizers"):
            if worker is not None:
                worker.terminate(0.0, "Deleted")
            final = self.store.delete("pods", namespace, name) or pod
            self.kubelet.forget(uid)
            return final
        updated = copy.deepcopy(pod)
        updated["metadata"]["deletionTimestamp"] = rfc3339(time.time_ns() + grace * 1_000_000_000)
        updated["metadata"]["deletionGracePeriodSeconds"] = grace
        stored = self.store.update("pods", updated)
        if node in self.kubelet.lost_nodes:
            return stored
        if worker is not None and not worker.done.is_set():
            worker.terminate(float(grace), "Deleted")
        else:
            self.maybe_finish_deletion(stored)
        return stored

    def _pod_terminated(self, worker: PodWorker) -> None:
        pod = self.store.get("pods", worker.namespace, worker.name)
        if pod is not None and pod["metadata"]["uid"] == worker.uid:
            self.maybe_finish_deletion(pod)

    def maybe_finish_deletion(self, pod: JSON) -> None:
        """Remove a terminating pod once nothing runs any more and no finalizer holds it."""
        meta = pod["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return
        worker = self.kubelet.workers.get(meta["uid"])
        if worker is not None and not worker.done.is_set():
            return
        if (pod.get("spec") or {}).get("nodeName") in self.kubelet.lost_nodes:
            return
        self.store.delete("pods", meta["namespace"], meta["name"])
        self.kubelet.forget(meta["uid"])

    def add_condition(self, pod: JSON, condition: JSON) -> JSON:
        updated = copy.deepcopy(pod)
        status = updated.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
        full = {
            "type": condition["type"],
            "status": condition["status"],
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(),
        }
        for key in ("reason", "message"):
            if condition.get(key):
                full[key] = condition[key]
        conditions.append(full)
        status["conditions"] = conditions
        worker = self.kubelet.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.extra_conditions = [c for c in worker.extra_conditions if c["type"] != condition["type"]]
            worker.extra_conditions.append(condition)
        return self.store.update("pods", updated)

    # ----------------------------------------------------------------------------------------- nodes

    def add_node(self, node: Node) -> JSON:
        existing = self.store.get("nodes", "", node.name)
        obj = objects.node_object(node, ready=node.name not in self.kubelet.lost_nodes)
        if existing is not None:
            obj["metadata"]["uid"] = existing["metadata"]["uid"]
            obj["metadata"]["creationTimestamp"] = existing["metadata"]["creationTimestamp"]
            stored = self.store.update("nodes", obj)
        else:
            stored = self.store.create("nodes", obj)
        self.kubelet.reschedule_pending()
        return stored

    def lose_node(self, name: str) -> int:
        """The node's kubelet stops responding (its processes die with it). Nothing changes in the API until
        the node lifecycle controller's grace period is over (see controllers/nodelifecycle.py)."""
        if self.store.get("nodes", "", name) is None:
            raise KeyError(name)
        self.kubelet.lose_node(name)
        self.node_lifecycle.node_lost(name)
        return sum(
            1
            for pod in self.store.list("pods")
            if (pod.get("spec") or {}).get("nodeName") == name
            and (pod.get("status") or {}).get("phase") not in podstatus.TERMINAL_PHASES
        )

    def restore_node(self, name: str) -> None:
        node = self.store.get("nodes", "", name)
        if node is None:
            raise KeyError(name)
        self.node_lifecycle.node_restored(name)
        updated = copy.deepcopy(node)
        updated["status"]["conditions"] = objects.node_conditions(True, rfc3339())
        updated["spec"]["taints"] = [
            t for t in updated["spec"].get("taints") or [] if t.get("key") != "node.kubernetes.io/unreachable"
        ]
        if not updated["spec"]["taints"]:
            del updated["spec"]["taints"]
        self.store.update("nodes", updated)
        for worker in self.kubelet.restore_node(name):
            pod = self.store.get("pods", worker.namespace, worker.name)
            if pod is None:
                continue
            if pod["metadata"].get("deletionTimestamp"):
                self.maybe_finish_deletion(pod)
                continue
            # The kubelet comes back and finds the containers gone.
            worker.lost = False
            for runner in worker.all_runners():
                state = runner.status["state"]
                if "terminated" not in state:
                    runner.status["state"] = podstatus.status_unknown_state()
                    runner.status["ready"] = False
                    runner.status["started"] = False
            worker.final_phase = podstatus.FAILED
            worker.stop_reason = ""
            worker.sandbox_ready = False
            changed = copy.deepcopy(pod)
            changed["status"].pop("reason", None)
            changed["status"].pop("message", None)
            self.store.update("pods", changed)
            worker.publish()
        self.kubelet.reschedule_pending()


# ---------------------------------------------------------------------------------------------------------


def _set_child_watcher(loop: asyncio.AbstractEventLoop) -> None:
    """Python 3.11 defaults to one waitpid thread per child; use pidfds instead (3.12+ does by default)."""
    if sys.version_info >= (3, 12) or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(loop)
        asyncio.set_child_watcher(watcher)


def serve(
    config: ClusterConfig,
    kubeconfig_path: str,
    *,
    port: int = 0,
    state_dir: str | None = None,
    watch_parent: bool = False,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Run a cluster until SIGINT/SIGTERM (or, with ``watch_parent``, until the parent goes away)."""
    parent = os.getppid()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sweep_stale_state_dirs()
    # Before the runtime reads them: a thousand containers need about 4000 open files.
    raised = limits.raise_soft_limits()
    own_state_dir = state_dir is None
    if state_dir is None:
        state_dir = new_state_dir()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    _set_child_watcher(loop)
    server = ClusterServer(config, state_dir=state_dir, kubeconfig_path=kubeconfig_path, port=port)
    before, after = raised.get("open files", (0, 0))
    if after != before:
        server.runtime.container_open_files = before
    stop = asyncio.Event()
    try:
        url = loop.run_until_complete(server.start())
    except BaseException:
        # A state directory given by the caller (LocalCluster) holds the server log it wants to show.
        if own_state_dir:
            shutil.rmtree(state_dir, ignore_errors=True)
        raise
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if watch_parent:

        def on_stdin() -> None:
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(0)
                stop.set()

        with contextlib.suppress(OSError, ValueError, NotImplementedError):
            loop.add_reader(0, on_stdin)

        async def poll_parent() -> None:
            while not stop.is_set():
                if os.getppid() != parent:
                    stop.set()
                    return
                await asyncio.sleep(0.5)

        parent_task = loop.create_task(poll_parent())
        server.background.add(parent_task)
    (announce or _print_ready)(url)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        loop.run_until_complete(server.stop())
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


def _print_ready(url: str) -> None:
    sys.stdout.write(f"ready {url}\n")
    sys.stdout.flush()
