"""For the trigger tests: pods to follow, and a trigger run to its first event, bounded (a trigger that never
fires fails the test with where each of its coroutines waits, instead of hanging the test run)."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_k8spod.hooks.access import close_async_clients
from airflow_provider_k8spod.hooks.kubernetes import AsyncKubernetesHook, KubernetesHook
from airflow_provider_k8spod.pod.identity import UPSTREAM_MARKER_LABEL, TaskIdentity
from airflow_provider_k8spod.pod.spec import build_pod
from airflow_provider_k8spod.pod.xcom import SidecarSettings

#: Seconds a trigger of these tests may take to fire (their pods run for a few seconds).
EVENT_LIMIT = 120.0


def make_pods(
    cluster: Any, script: str, count: int = 1, *, xcom: bool = False, marker: bool = True
) -> tuple[KubernetesHook, list[str], Any]:
    """Create ``count`` pods running ``sh -c script``, labelled as the operator's pods are (without the
    ``kubernetes_pod_operator`` marker when ``marker`` is False), with the XCom sidecar when ``xcom``;
    return the hook, their names, and the cluster access a trigger follows them with."""
    hook = KubernetesHook(None, config_file=cluster.kubeconfig_path)
    names = []
    for i in range(count):
        pod = build_pod(
            {"image": "busybox:1.36", "cmds": ["sh", "-c", script]},
            task_id=f"t{i}",
            identity=TaskIdentity("triggers", f"t{i}", "run"),
            xcom_sidecar=SidecarSettings() if xcom else None,
        )
        if not marker:
            del pod["metadata"]["labels"][UPSTREAM_MARKER_LABEL]
        names.append(hook.create_pod(pod)["metadata"]["name"])
    access = asyncio.run(AsyncKubernetesHook(None, config_file=cluster.kubeconfig_path).get_cluster_access())
    return hook, names, access


async def first_event(trigger: Any, limit: float = EVENT_LIMIT) -> dict[str, Any]:
    """The payload of ``trigger``'s first event; the loop's clients are closed afterwards."""

    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    task = asyncio.ensure_future(run())
    try:
        done, _ = await asyncio.wait({task}, timeout=limit)
        if not done:
            waiting = "\n".join(
                f"  {t.get_name()}: {' <- '.join(await_chain(t.get_coro()))}" for t in asyncio.all_tasks()
            )
            task.cancel()
            raise AssertionError(
                f"no event from the trigger in {limit:g}s; where each task waits:\n{waiting}"
            )
        return task.result()
    finally:
        await close_async_clients()


def await_chain(coro: Any) -> list[str]:
    """Where a coroutine waits: each frame of its chain of awaits, outermost first."""
    chain = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        frame = frame or getattr(coro, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})")
        coro = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "ag_await", None)
            or getattr(coro, "gi_yieldfrom", None)
        )
    return chain
