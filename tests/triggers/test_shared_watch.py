"""The triggerer follows the pods of a namespace through one shared watch of ``kubernetes_pod_operator=True``
pods. A pod that does not carry that label (a mutating webhook or a cluster policy changed it), or that
loses it while it runs, must still be followed to its end; and a shared watch that fails must end the
triggers it feeds with its error instead of leaving them waiting for ever (against the local cluster)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from airflow_provider_k8spod.pod import watches
from airflow_provider_k8spod.pod.identity import UPSTREAM_MARKER_LABEL
from airflow_provider_k8spod.pod.lifecycle import LifecycleSettings
from airflow_provider_k8spod.triggers.pod import KubernetesPodTrigger
from tests.triggers._run import first_event, make_pods


def _follow(access, names: list[str], limit: float = 60) -> list[dict]:
    async def all_of_them() -> list[dict]:
        triggers = [
            KubernetesPodTrigger.for_pod(access, n, "default", settings=LifecycleSettings()) for n in names
        ]
        return list(await asyncio.gather(*(first_event(t, limit=limit) for t in triggers)))

    return asyncio.run(all_of_them())


@pytest.mark.parametrize("when", ["from the start", "while it runs"])
def test_a_pod_without_the_marker_label_is_followed_to_its_end(local_cluster_connection, caplog, capfd, when):
    cluster = local_cluster_connection
    hook, names, access = make_pods(cluster, "sleep 3; echo done", 1, marker=when == "while it runs")
    name = names[0]
    caplog.set_level(logging.INFO)
    if when == "while it runs":
        cluster.wait_for_pod("default", name, phase="Running")

        def unlabel() -> None:
            hook.patch_pod_metadata(name, "default", labels={UPSTREAM_MARKER_LABEL: None})

        async def unlabel_soon() -> None:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(unlabel)

        async def both() -> dict:
            trigger = KubernetesPodTrigger.for_pod(access, name, "default", settings=LifecycleSettings())
            event, _ = await asyncio.gather(first_event(trigger, limit=60), unlabel_soon())
            return event

        event = asyncio.run(both())
    else:
        event = _follow(access, names)[0]
    assert event["status"] == "done", event
    assert event["result"]["verdict"]["outcome"] == "success", event
    out, err = capfd.readouterr()
    assert "following it with a watch of its own" in out + err + caplog.text, out + err
    hook.delete_pod(name, "default", grace_period_seconds=0)


def test_a_broken_shared_watch_ends_its_triggers_with_the_error(local_cluster_connection, monkeypatch):
    cluster = local_cluster_connection
    hook, names, access = make_pods(cluster, "sleep 5", 2)
    store = watches.NamespaceWatch._store

    def broken(self, obj, *, deleted=False):
        if self.kind == "pods" and self.listed.is_set():
            raise RuntimeError("a bug in the watch")
        store(self, obj, deleted=deleted)

    monkeypatch.setattr(watches.NamespaceWatch, "_store", broken)
    for event in _follow(access, names):
        assert event["status"] == "error", event
        assert "a bug in the watch" in event["message"], event
    for name in names:
        hook.delete_pod(name, "default", grace_period_seconds=0)
