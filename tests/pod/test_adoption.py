"""Adoption on a retry selects pods by upstream's labels and keeps only this provider's (against the local
cluster): the running pod of an earlier try is adopted; a pod upstream's operator made for the same task
instance (same labels, no managed-by annotation) is neither adopted nor deleted."""

from __future__ import annotations

import asyncio
import logging
import time

from airflow_provider_k8spod.hooks.access import close_async_clients
from airflow_provider_k8spod.hooks.kubernetes import AsyncKubernetesHook, KubernetesHook
from airflow_provider_k8spod.pod.identity import TaskIdentity
from airflow_provider_k8spod.pod.lifecycle import LifecycleSettings, PodLifecycle
from airflow_provider_k8spod.pod.spec import build_pod

ARGUMENTS = {"image": "busybox:1.36", "cmds": ["sh", "-c", "sleep 300"]}


def test_a_retry_adopts_our_earlier_pod_and_leaves_upstreams_alone(local_cluster) -> None:
    first, second = TaskIdentity("d", "t", "r", -1, 1), TaskIdentity("d", "t", "r", -1, 2)
    hook = KubernetesHook(None, config_file=local_cluster.kubeconfig_path)
    ours = hook.create_pod(build_pod(ARGUMENTS, task_id="t", identity=first))
    theirs = build_pod(ARGUMENTS, task_id="t", identity=first)
    theirs["metadata"]["name"] = "made-by-upstream"
    theirs["metadata"]["annotations"] = {}
    hook.create_pod(theirs)
    deadline = time.monotonic() + 60
    while any((p.get("status") or {}).get("phase") != "Running" for p in local_cluster.pods("default")):
        assert time.monotonic() < deadline, local_cluster.pods("default")
        time.sleep(0.2)

    async def retry() -> tuple[dict, bool]:
        lifecycle = PodLifecycle(
            AsyncKubernetesHook(None, config_file=local_cluster.kubeconfig_path),
            LifecycleSettings(),
            log=logging.getLogger(__name__),
        )
        try:
            return await lifecycle.create_or_adopt(build_pod(ARGUMENTS, task_id="t", identity=second), second)
        finally:
            await close_async_clients()

    pod, adopted = asyncio.run(retry())
    assert adopted
    assert pod["metadata"]["name"] == ours["metadata"]["name"]
    assert sorted(p["metadata"]["name"] for p in local_cluster.pods("default")) == sorted(
        [ours["metadata"]["name"], "made-by-upstream"]
    )
