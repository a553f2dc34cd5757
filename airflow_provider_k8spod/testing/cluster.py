"""``LocalCluster``: start a local cluster in a child process and drive it from tests.

The cluster runs as ``python -m airflow_provider_k8spod.testing serve`` in its own process (so it never
competes with the test for the GIL and one implementation serves both the CLI and this API). The test
talks to it with the real Kubernetes clients through :attr:`LocalCluster.kubeconfig_path`, and to its
admin endpoint (``/_local/...``) through the methods below: statistics, faults, nodes, images and read
helpers that do not show up in :meth:`LocalCluster.stats`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import selectors
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from airflow_provider_k8spod.testing._util import new_state_dir
from airflow_provider_k8spod.testing.config import ClusterConfig, Image, Isolation, Node, Timings

JSON = dict[str, Any]


class LocalClusterError(RuntimeError):
    """The cluster could not start, or an admin call was refused."""


def _stream_verb(resource: str) -> str:
    if resource == "pods/log":
        return "get"
    if resource == "pods/exec":
        return "create"
    return "watch"


def server_environment() -> dict[str, str]:
    """Environment of the server process.

    With ``PYTHONDONTWRITEBYTECODE`` set (common in CI and dev containers) every start would compile the
    server's modules from source again, which takes longer than the rest of the start-up. The server then
    caches its bytecode outside the source tree, in ``$K8SPOD_LOCAL_PYCACHE`` (default
    ``$XDG_CACHE_HOME/airflow-provider-k8spod/pycache``); ``K8SPOD_LOCAL_PYCACHE=off`` disables this.
    """
    env = dict(os.environ)
    choice = env.get("K8SPOD_LOCAL_PYCACHE", "")
    if choice.lower() == "off" or not env.get("PYTHONDONTWRITEBYTECODE") or env.get("PYTHONPYCACHEPREFIX"):
        return env
    if not choice:
        cache_home = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        choice = os.path.join(cache_home, "airflow-provider-k8spod", "pycache")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = choice
    return env


class Faults:
    """Fault injection. Rules match a Kubernetes RBAC ``verb`` (``get``, ``list``, ``watch``, ``create``,
    ``update``, ``patch``, ``delete``, ``deletecollection``; ``*`` for any) and a ``resource`` such as
    ``pods``, ``pods/log``, ``pods/exec``, ``pods/status``, ``events``, ``configmaps`` (``*`` for any),
    optionally narrowed to a ``namespace`` and an object ``name``. Each method returns the rule id."""

    def __init__(self, cluster: LocalCluster) -> None:
        self._cluster = cluster

    def _add(self, rule: JSON) -> int:
        return int(self._cluster._admin("POST", "/_local/faults", rule)["id"])

    def fail(
        self,
        verb: str,
        resource: str,
        *,
        status: int = 500,
        times: int | None = 1,
        retry_after: float | None = None,
        message: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> int:
        """Answer the next ``times`` matching requests (``None``: all) with ``status`` and a Status body as
        the API server words it (429 TooManyRequests, 500 InternalError, 503 ServiceUnavailable, ...).
        ``retry_after`` sets the ``Retry-After`` header and ``details.retryAfterSeconds``."""
        return self._add(
            {
                "kind": "fail",
                "verb": verb,
                "resource": resource,
                "status": status,
                "times": times,
                "retry_after": retry_after,
                "message": message,
                "namespace": namespace,
                "name": name,
            }
        )

    def latency(
        self,
        verb: str,
        resource: str,
        *,
        seconds: float,
        times: int | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> int:
        """Delay matching requests by ``seconds`` before they are handled (``times=None``: all of them)."""
        return self._add(
            {
                "kind": "latency",
                "verb": verb,
                "resource": resource,
                "seconds": seconds,
                "times": times,
                "namespace": namespace,
                "name": name,
            }
        )

    def reset_stream(
        self,
        resource: str = "pods/log",
        *,
        verb: str | None = None,
        after_bytes: int = 0,
        times: int | None = 1,
        namespace: str | None = None,
        name: str | None = None,
    ) -> int:
        """Cut the connection of a streaming response after ``after_bytes`` bytes of body: a followed log
        (``pods/log``), a watch (``pods``, ``events``, ...) or an exec session (``pods/exec``). The client
        sees a broken chunked response (or websocket) exactly as after a TCP reset. On a request that is
        not streamed (``verb="create"``, ``"get"``, ``"delete"``, ...) the request takes effect and its
        answer is lost: the connection is reset before a successful answer is sent."""
        return self._add(
            {
                "kind": "reset_stream",
                "verb": verb or _stream_verb(resource),
                "resource": resource,
                "after_bytes": after_bytes,
                "times": times,
                "namespace": namespace,
                "name": name,
            }
        )

    def unreachable(
        self,
        seconds: float | None,
        *,
        verb: str = "*",
        resource: str = "*",
        namespace: str | None = None,
        name: str | None = None,
    ) -> int:
        """The API server unreachable for ``seconds`` (``None``: until the rule is removed), as behind a
        load balancer whose backend is gone: the connection of every matching request being answered (an
        open watch, followed log or exec session) is cut at once, and every matching request meanwhile has
        its connection reset without an answer. Scope it with ``namespace`` to leave other work alone;
        admin calls (these methods) are never affected."""
        if seconds is not None and seconds <= 0:
            raise ValueError(f"seconds must be > 0 or None (until removed), not {seconds!r}")
        return self._add(
            {
                "kind": "unreachable",
                "verb": verb,
                "resource": resource,
                "seconds": seconds or 0.0,
                "times": None,
                "namespace": namespace,
                "name": name,
            }
        )

    def expire_watches(self, resource: str | None = None) -> int:
        """Compact the watch history and end every open watch (of ``resource``, or all) with an ERROR event
        carrying ``410 Expired`` ("too old resource version"). Returns the number of watches ended. Later
        watches from an older resourceVersion get the same 410."""
        return int(self._cluster._admin("POST", "/_local/watches/expire", {"resource": resource})["closed"])

    def compact(self, resource: str | None = None, *, close_watches: bool = False) -> None:
        """Forget the watch history only: open watches continue, resuming from an older resourceVersion
        gets 410. With ``close_watches`` open watches (of ``resource``) are also ended without an event,
        as when the API server's watch timeout ends them, so their clients resume from a compacted
        resourceVersion and get 410 on the new request."""
        body = {"resource": resource, "close_watches": close_watches}
        self._cluster._admin("POST", "/_local/watches/compact", body)

    def rules(self) -> list[JSON]:
        """Active rules with their ``hits``."""
        return list(self._cluster._admin("GET", "/_local/faults"))

    def remove(self, rule_id: int) -> None:
        self._cluster._admin("DELETE", f"/_local/faults/{rule_id}")

    def clear(self) -> None:
        """Remove every fault rule and every forbidden verb."""
        self._cluster._admin("DELETE", "/_local/faults")


class LocalCluster:
    """A local Kubernetes API server + kubelet, for tests.

    Use as a context manager::

        with LocalCluster() as cluster:
            kubernetes.config.load_kube_config(cluster.kubeconfig_path)

    Options:

    - ``nodes``: fake nodes (default: one ``node-1``), with labels and taints for scheduling tests.
    - ``images``: declared images (missing images, pull failures, default entrypoint/cmd/env).
    - ``unknown_images``: ``"present"`` (default: any well-formed image runs) or ``"missing"``.
    - ``namespaces``: created at start besides ``default``, ``kube-system``, ``kube-public``,
      ``kube-node-lease``.
    - ``timings``: kubelet back-offs and watch bookmark interval (:class:`Timings`; fast by default).
    - ``watch_history``: events retained per resource for watch resumption (older ones get 410).
    - ``isolation``: ``"auto"`` (namespaces when possible), ``"namespaces"`` or ``"process"``.
    - ``python``: interpreter behind ``python``/``python3`` inside containers (default: this one).
    - ``port``: fixed port on 127.0.0.1 (default: a free port).
    """

    def __init__(
        self,
        *,
        nodes: Sequence[Node] | None = None,
        images: Iterable[Image] | Mapping[str, Image] | None = None,
        unknown_images: Literal["present", "missing"] = "present",
        namespaces: Sequence[str] = ("default",),
        timings: Timings | None = None,
        watch_history: int = 1000,
        isolation: Isolation = "auto",
        python: str | None = None,
        port: int = 0,
        startup_timeout: float = 30.0,
    ) -> None:
        image_list = list(images.values()) if isinstance(images, Mapping) else list(images or ())
        self.config = ClusterConfig(
            nodes=tuple(nodes) if nodes else ClusterConfig().nodes,
            images=tuple(image_list),
            unknown_images=unknown_images,
            namespaces=tuple(namespaces),
            timings=timings or Timings(),
            watch_history=watch_history,
            isolation=isolation,
            python=python or sys.executable,
        )
        self.port = port
        self.startup_timeout = startup_timeout
        self.faults = Faults(self)
        self.state_dir = ""
        self.kubeconfig_path = ""
        self.server_url = ""
        self.token = ""
        self._ca_pem = b""
        self._process: subprocess.Popen[bytes] | None = None
        self._ssl: ssl.SSLContext | None = None
        self._info: JSON = {}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalCluster {self.server_url or '-'} {state}>"

    # ---------------------------------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def server_pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def isolation(self) -> str:
        """The isolation mode the server actually uses (``namespaces`` or ``process``)."""
        return str(self._info.get("isolation", ""))

    def start(self) -> LocalCluster:
        if self._process is not None:
            raise LocalClusterError("this LocalCluster is already started")
        self.state_dir = new_state_dir()
        self.kubeconfig_path = os.path.join(self.state_dir, "kubeconfig")
        config_path = os.path.join(self.state_dir, "config.json")
        with open(config_path, "w") as fh:
            json.dump(self.config.to_json(), fh)
        log_path = os.path.join(self.state_dir, "server.log")
        command = [
            sys.executable,
            "-m",
            "airflow_provider_k8spod.testing",
            "serve",
            "--kubeconfig",
            self.kubeconfig_path,
            "--port",
            str(self.port),
            "--config",
            config_path,
            "--state-dir",
            self.state_dir,
            "--watch-parent",
        ]
        with open(log_path, "wb") as log_file:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                start_new_session=True,
                env=server_environment(),
            )
        try:
            self.server_url = self._read_ready(log_path)
            from airflow_provider_k8spod.testing.kubeconfig import current_server, read

            _, self.token, self._ca_pem = current_server(read(self.kubeconfig_path))
            self._ssl = ssl.create_default_context(cadata=self._ca_pem.decode())
            self._info = dict(self._admin("GET", "/_local/info"))
        except BaseException:
            self.stop()
            raise
        return self

    def _read_ready(self, log_path: str) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self._process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.startup_timeout
        buffer = b""
        try:
            while time.monotonic() < deadline:
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                chunk = os.read(self._process.stdout.fileno(), 4096)
                if not chunk:
                    break
                buffer += chunk
                if b"\n" in buffer:
                    line = buffer.split(b"\n", 1)[0].decode().strip()
                    if line.startswith("ready "):
                        return line.split(" ", 1)[1]
                    break
        finally:
            selector.close()
        try:
            with open(log_path, errors="replace") as fh:
                log = fh.read()[-4000:]
        except OSError:
            log = ""
        raise LocalClusterError(f"the local cluster did not start (output {buffer!r}); server log:\n{log}")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server: it kills every container and removes its state directory."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self.state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------- admin

    def _admin(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        if not self.server_url or self._ssl is None:
            raise LocalClusterError("the local cluster is not started")
        host_port = self.server_url.removeprefix("https://")
        host, _, port = host_port.rpartition(":")
        connection = http.client.HTTPSConnection(host, int(port), context=self._ssl, timeout=timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        result = json.loads(data) if data else None
        if response.status >= 400:
            if isinstance(result, dict):
                message = result.get("error") or result.get("message")  # admin route / API Status
            else:
                message = data.decode(errors="replace")
            raise LocalClusterError(f"{method} {path}: {response.status} {message}")
        return result

    # ------------------------------------------------------------------------------------------ stats

    def stats(self) -> dict[str, int]:
        """Request counts keyed ``"<verb> <resource[/subresource]>"`` with Kubernetes RBAC verbs, e.g.
        ``"create pods"``, ``"get pods"``, ``"list pods"``, ``"watch pods"`` (a list with watch=true),
        ``"get pods/log"``, ``"create pods/exec"``, ``"delete pods"``, ``"patch pods"``, ``"list events"``.
        Every API request counts, including those answered by an injected fault or a 403."""
        return {str(k): int(v) for k, v in self._admin("GET", "/_local/stats").items()}

    def reset_stats(self) -> None:
        self._admin("POST", "/_local/stats/reset")

    # ---------------------------------------------------------------------------------------- authz

    def forbid(self, verb: str, resource: str, *, namespace: str | None = None) -> None:
        """Answer ``verb`` on ``resource`` (e.g. ``"create", "pods/exec"``) with 403 Forbidden, worded as
        RBAC does. Exec counts as ``create pods/exec`` whether the client uses GET or POST."""
        self._admin("POST", "/_local/forbid", {"verb": verb, "resource": resource, "namespace": namespace})

    def allow(self, verb: str | None = None, resource: str | None = None) -> None:
        """Undo :meth:`forbid` (``None`` matches any verb / resource)."""
        self._admin("POST", "/_local/allow", {"verb": verb, "resource": resource})

    def service_account_token(
        self,
        namespace: str,
        name: str,
        *,
        expiration_seconds: int = 3600,
        audiences: Sequence[str] | None = None,
    ) -> str:
        """A token for the ServiceAccount ``namespace/name`` (a TokenRequest, as ``kubectl create token``
        makes). Requests with it are authorized by RBAC as that service account
        (``system:serviceaccount:<namespace>:<name>``, groups ``system:serviceaccounts``,
        ``system:serviceaccounts:<namespace>``, ``system:authenticated``). The token stops working when
        it expires or the service account is deleted."""
        spec: JSON = {"expirationSeconds": expiration_seconds}
        if audiences is not None:
            spec["audiences"] = list(audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        reply = self._admin("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", body)
        return str(reply["status"]["token"])

    def service_account_kubeconfig(
        self, namespace: str, name: str, *, path: str | None = None, expiration_seconds: int = 3600
    ) -> str:
        """Write a kubeconfig that authenticates as the ServiceAccount ``namespace/name`` (its context's
        namespace is ``namespace``) and return its path (default: in the cluster's state directory, removed
        when the cluster stops). The service account must exist; bind it to Roles to give it rights."""
        from airflow_provider_k8spod.testing import kubeconfig

        token = self.service_account_token(namespace, name, expiration_seconds=expiration_seconds)
        if path is None:
            path = os.path.join(self.state_dir, f"kubeconfig-{namespace}-{name}")
        config = kubeconfig.build(
            self.server_url, self._ca_pem, token, namespace=namespace, user=f"{namespace}-{name}"
        )
        kubeconfig.write(path, config)
        return path

    # ------------------------------------------------------------------------------------- pod faults

    def evict_pod(
        self, namespace: str, name: str, *, message: str | None = None, grace_period_seconds: int = 1
    ) -> None:
        """Evict like the kubelet under node pressure: containers stopped (SIGTERM, then SIGKILL after
        ``grace_period_seconds``: 1 s as for a hard eviction threshold; a soft threshold gives
        min(evictionMaxPodGracePeriod, terminationGracePeriodSeconds)), phase Failed, reason Evicted, a
        DisruptionTarget condition and a Warning ``Evicted`` event. The pod object stays. (The eviction
        API, ``pods/eviction``, deletes the pod gracefully instead, as a delete does.)"""
        body: JSON = {"grace_period_seconds": grace_period_seconds}
        if message:
            body["message"] = message
        self._admin("POST", f"/_local/pods/{namespace}/{name}/evict", body)

    def oom_kill(self, namespace: str, name: str, container: str | None = None) -> None:
        """SIGKILL the container's process and report ``OOMKilled`` (exit code 137); the restart policy
        applies as for any other exit."""
        self._admin("POST", f"/_local/pods/{namespace}/{name}/oom", {"container": container})

    def rotate_logs(
        self, namespace: str, name: str, container: str | None = None, *, stall_followers: bool = False
    ) -> None:
        """Rotate the container's log file: later reads no longer return earlier lines. With
        ``stall_followers`` open ``follow`` streams stop receiving output (the old kubelet behaviour that
        hung log followers) until the container exits."""
        self._admin(
            "POST",
            f"/_local/pods/{namespace}/{name}/rotate-logs",
            {"container": container, "stall_followers": stall_followers},
        )

    def delete_pod(self, namespace: str, name: str, grace_period_seconds: int | None = None) -> None:
        """Delete a pod as someone else would (not counted in :meth:`stats`)."""
        self._admin(
            "POST", f"/_local/pods/{namespace}/{name}/delete", {"grace_period_seconds": grace_period_seconds}
        )

    # ------------------------------------------------------------------------------------------ nodes

    def add_node(self, node: Node) -> None:
        """Add (or replace) a fake node; pending pods are scheduled again."""
        self._admin("POST", "/_local/nodes", node.to_json())

    def remove_node(self, name: str) -> None:
        self._admin("DELETE", f"/_local/nodes/{name}")

    def lose_node(self, name: str) -> int:
        """The node's kubelet stops responding and its pods' processes die. As on a real cluster, the pods
        keep their last reported status; after ``Timings.node_monitor_grace_seconds`` the node turns
        Ready=Unknown with the unreachable taints and its pods turn not Ready (still Running); each pod is
        then deleted after its unreachable toleration (``Timings.default_unreachable_toleration_seconds``,
        300 s) with a ``DeletionByTaintManager`` condition, and stays Terminating (as with a real lost
        kubelet) until the node returns or a delete with grace period 0. Returns the number of pods
        affected."""
        return int(self._admin("POST", f"/_local/nodes/{name}/lose")["pods"])

    def restore_node(self, name: str) -> None:
        """The node comes back: pods deleted meanwhile go away, the others end Failed."""
        self._admin("POST", f"/_local/nodes/{name}/restore")

    def add_image(self, image: Image) -> None:
        """Declare (or redeclare) an image, e.g. make a missing image available."""
        self._admin("POST", "/_local/images", image.to_json())

    # ------------------------------------------------------------------------------------------ reads

    def pods(self, namespace: str | None = None) -> list[JSON]:
        """Pods left in the cluster (not counted in :meth:`stats`)."""
        return list(self._admin("GET", "/_local/pods" + (f"?namespace={namespace}" if namespace else "")))

    def pod(self, namespace: str, name: str) -> JSON | None:
        for pod in self.pods(namespace):
            if pod["metadata"]["name"] == name:
                return pod
        return None

    def events(self, namespace: str | None = None, *, involved_name: str | None = None) -> list[JSON]:
        events = self._admin("GET", "/_local/events" + (f"?namespace={namespace}" if namespace else ""))
        if involved_name is not None:
            events = [e for e in events if (e.get("involvedObject") or {}).get("name") == involved_name]
        return list(events)

    def open_watches(self) -> dict[str, int]:
        """Watches currently open, per resource (e.g. ``{"pods": 1}``)."""
        return {str(k): int(v) for k, v in self._admin("GET", "/_local/watches").items()}

    def container_processes(self) -> list[JSON]:
        """Container processes the kubelet runs now: ``namespace``, ``pod``, ``container``,
        ``restart_count``, ``pid`` (the container's main process) and ``pids`` (every host process of it,
        including exec sessions)."""
        return list(self._admin("GET", "/_local/processes"))

    def wait_for_pod(
        self,
        namespace: str,
        name: str,
        *,
        phase: str | Iterable[str] | None = None,
        condition: Callable[[JSON], bool] | None = None,
        timeout: float = 30.0,
        gone: bool = False,
    ) -> JSON | None:
        """Poll until the pod reaches ``phase`` (one of), satisfies ``condition``, or (``gone=True``) no
        longer exists. Returns the pod (None when gone); raises TimeoutError with the last state."""
        phases = {phase} if isinstance(phase, str) else set(phase or ())
        deadline = time.monotonic() + timeout
        last: JSON | None = None
        while True:
            last = self.pod(namespace, name)
            if gone and last is None:
                return None
            if last is not None and not gone:
                ok = True
                if phases and (last.get("status") or {}).get("phase") not in phases:
                    ok = False
                if condition is not None and not condition(last):
                    ok = False
                if ok:
                    return last
            if time.monotonic() > deadline:
                state = json.dumps((last or {}).get("status"), indent=1)[:3000]
                raise TimeoutError(
                    f"pod {namespace}/{name} did not reach the expected state in {timeout}s; "
                    f"last status: {state}"
                )
            time.sleep(0.05)

    # ----------------------------------------------------------------------------------------- airflow

    def airflow_connection(self, namespace: str = "default", *, service_account: str | None = None) -> str:
        """JSON for ``AIRFLOW_CONN_<ID>`` pointing a ``k8spod`` connection at this cluster, as the admin or,
        with ``service_account``, as that ServiceAccount of ``namespace`` (see
        :meth:`service_account_kubeconfig`)."""
        path = self.kubeconfig_path
        if service_account is not None:
            path = self.service_account_kubeconfig(namespace, service_account)
        return json.dumps(
            {"conn_type": "k8spod", "extra": {"kube_config_path": path, "namespace": namespace}}
        )
