"""Adoption on a retry selects pods by upstream's labels and keeps only this provider's (against the local
cluster): the running pod of an earlier try is adopted; a pod upstream's operator made for the same task
instance (same labels, no managed-by annotation) is neither adopted nor deleted."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from airflow_provider_k8spod.hooks.access import close_async_clients
from airflow_provider_k8spod.hooks.kubernetes import AsyncKubernetesHook, KubernetesHook
from airflow_provider_k8spod.pod.identity import TaskIdentity
from airflow_provider_k8spod.pod.lifecycle import LifecycleSettings, PodLifecycle, abandoned_pod_action
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


def _pod(try_number: int, phase: str, *, deleting: bool = False, ours: bool = True) -> dict:
    pod = build_pod(ARGUMENTS, task_id="t", identity=TaskIdentity("d", "t", "r", -1, try_number))
    pod["metadata"]["name"] = f"p{try_number}-{phase}"
    if not ours:
        pod["metadata"]["annotations"] = {}
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pod["status"] = {"phase": phase}
    return pod


@pytest.mark.parametrize(
    ("pod", "action", "expected"),
    [
        (_pod(1, "Succeeded"), "delete_pod", "delete"),  # its try died before cleaning up
        (_pod(1, "Failed"), "delete_pod", "delete"),
        (_pod(1, "Failed"), "delete_succeeded_pod", "keep"),  # as that try would have decided
        (_pod(1, "Succeeded"), "delete_succeeded_pod", "delete"),
        (_pod(1, "Succeeded"), "keep_pod", "keep"),
        (_pod(1, "Running"), "delete_pod", None),  # live: adopted (or deleted) by the adoption itself
        (_pod(1, "Unknown"), "delete_pod", None),  # its node is unreachable: nothing is known
        (_pod(1, "Failed", deleting=True), "delete_pod", None),  # already being deleted
        (_pod(1, "Succeeded", ours=False), "delete_pod", None),  # upstream's: never touched
        (_pod(2, "Succeeded"), "delete_pod", None),  # this try's own
    ],
    ids=lambda v: v["metadata"]["name"] if isinstance(v, dict) else str(v),
)
def test_abandoned_pods_of_earlier_tries(pod: dict, action: str, expected: str | None) -> None:
    second = TaskIdentity("d", "t", "r", -1, 2)
    assert abandoned_pod_action(action, pod, second) == expected


def test_a_retry_deletes_the_finished_pod_an_earlier_try_left_behind(local_cluster) -> None:
    first, second = TaskIdentity("d", "t", "r", -1, 1), TaskIdentity("d", "t", "r", -1, 2)
    hook = KubernetesHook(None, config_file=local_cluster.kubeconfig_path)
    quick = {"image": "busybox:1.36", "cmds": ["sh", "-c", "echo done"]}
    left = hook.create_pod(build_pod(quick, task_id="t", identity=first))["metadata"]["name"]
    local_cluster.wait_for_pod("default", left, phase="Succeeded", timeout=60)

    async def retry() -> tuple[dict, bool]:
        lifecycle = PodLifecycle(
            AsyncKubernetesHook(None, config_file=local_cluster.kubeconfig_path),
            LifecycleSettings(termination_grace_period=0),
            log=logging.getLogger(__name__),
        )
        try:
            return await lifecycle.create_or_adopt(build_pod(quick, task_id="t", identity=second), second)
        finally:
            await close_async_clients()

    pod, adopted = asyncio.run(retry())
    assert not adopted
    local_cluster.wait_for_pod("default", left, gone=True, timeout=60)
    assert [p["metadata"]["name"] for p in local_cluster.pods("default")] == [pod["metadata"]["name"]]
