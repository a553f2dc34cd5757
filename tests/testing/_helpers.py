"""Helpers shared by the local cluster tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_k8spod.testing import LocalCluster


def pod_manifest(
    name: str,
    command: list[str] | None = None,
    *,
    image: str = "busybox:1.36",
    restart_policy: str = "Never",
    grace: int | None = 1,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "base", "image": image}
    if command is not None:
        container["command"] = command
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": restart_policy, "containers": [container], **spec},
    }
    if grace is not None:
        body["spec"]["terminationGracePeriodSeconds"] = grace
    return body


def wait_for(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last value: {value!r}")


def phase_of(local: LocalCluster, namespace: str, name: str) -> str | None:
    pod = local.pod(namespace, name)
    return None if pod is None else (pod.get("status") or {}).get("phase")


def container_status(pod: dict[str, Any], name: str = "base", init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for status in (pod.get("status") or {}).get(key) or []:
        if status["name"] == name:
            return dict(status)
    raise AssertionError(f"no status for container {name}: {pod.get('status')}")


def reasons(local: LocalCluster, namespace: str, name: str) -> list[tuple[str, str]]:
    """(type, reason) of the pod's events, oldest first."""
    events = local.events(namespace, involved_name=name)
    events.sort(key=lambda e: (e.get("firstTimestamp") or e.get("eventTime") or "", e["metadata"]["name"]))
    return [(e["type"], e["reason"]) for e in events]


def raw_request(
    local: LocalCluster,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = "cluster",
) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTPS request to the cluster (``token=None``: no Authorization header)."""
    import http.client
    import ssl

    from airflow_provider_k8spod.testing.kubeconfig import current_server, read

    url, real_token, ca = current_server(read(local.kubeconfig_path))
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cadata=ca.decode())
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {real_token if token == 'cluster' else token}"
    try:
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def gated_pod(name: str, before: str, after: str, *, grace: int = 0) -> dict[str, Any]:
    """A pod that prints ``before``, waits until ``release(core, ns, name)`` is called, prints ``after``
    and then sleeps (deterministic ordering without sleeps in the test)."""
    script = f"echo {before}; while [ ! -e /gate/open ]; do sleep 0.02; done; echo {after}; sleep 60"
    body = pod_manifest(name, ["sh", "-c", script], grace=grace)
    body["spec"]["volumes"] = [{"name": "gate", "emptyDir": {}}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "gate", "mountPath": "/gate"}]
    return body


def release(core: Any, namespace: str, name: str) -> None:
    from kubernetes.stream import stream

    stream(
        core.connect_get_namespaced_pod_exec,
        name,
        namespace,
        command=["touch", "/gate/open"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )


def process_argvs() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of every process on this machine that can still be read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        text = raw.rstrip(b"\0").decode(errors="replace")
        yield int(entry.name), text.split("\0") if text else []
