"""Watch semantics (resourceVersion, selectors, bookmarks, timeouts, 410) through the real clients."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import kubernetes
import kubernetes_asyncio
import pytest
from kubernetes.client.exceptions import ApiException

from airflow_provider_k8spod.testing import LocalCluster
from tests.testing._helpers import pod_manifest, raw_request
from tests.testing.conftest import async_api, sync_api

pytestmark = pytest.mark.timeout(120)


def collect(
    func: Callable[..., Any], *args: Any, until: Callable[[list[tuple[str, Any]]], bool], **kwargs: Any
) -> list[tuple[str, Any]]:
    """Run a sync watch in a thread until ``until(events)`` holds (or its timeout_seconds ends)."""
    events: list[tuple[str, Any]] = []
    watch = kubernetes.watch.Watch()
    for event in watch.stream(func, *args, **kwargs):
        events.append((event["type"], event["object"]))
        if until(events):
            watch.stop()
    return events


def test_watch_from_resource_version_sends_later_events_only(
    core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "before"}})
    rv = core.list_namespaced_config_map(ns).metadata.resource_version

    def later() -> None:
        time.sleep(0.3)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "after"}})
        core.patch_namespaced_config_map("after", ns, {"data": {"k": "v"}})
        core.delete_namespaced_config_map("after", ns)

    threading.Thread(target=later).start()
    events = collect(
        core.list_namespaced_config_map,
        ns,
        resource_version=rv,
        timeout_seconds=10,
        until=lambda ev: len(ev) >= 3,
    )
    assert [(t, o.metadata.name) for t, o in events] == [
        ("ADDED", "after"),
        ("MODIFIED", "after"),
        ("DELETED", "after"),
    ]
    assert events[1][1].data == {"k": "v"}
    versions = [int(o.metadata.resource_version) for _, o in events]
    assert versions == sorted(versions)
    assert versions[0] > int(rv)


def test_watch_without_resource_version_starts_with_current_objects(
    core: kubernetes.client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "one"}})
    events = collect(core.list_namespaced_config_map, ns, timeout_seconds=1, until=lambda ev: len(ev) >= 2)
    assert sorted((t, o.metadata.name) for t, o in events) == [
        ("ADDED", "kube-root-ca.crt"),
        ("ADDED", "one"),
    ]


def test_timeout_seconds_ends_the_stream(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    started = time.monotonic()
    events = collect(core.list_namespaced_pod, ns, timeout_seconds=1, until=lambda ev: False)
    assert events == []
    assert time.monotonic() - started < 10


def test_label_selector_transitions(core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    rv = core.list_namespaced_config_map(ns).metadata.resource_version

    def later() -> None:
        time.sleep(0.3)
        core.patch_namespaced_config_map("cm", ns, {"metadata": {"labels": {"app": "x"}}})
        core.patch_namespaced_config_map("cm", ns, {"metadata": {"annotations": {"a": "b"}}})
        core.patch_namespaced_config_map("cm", ns, {"metadata": {"labels": {"app": None}}})

    threading.Thread(target=later).start()
    events = collect(
        core.list_namespaced_config_map,
        ns,
        label_selector="app=x",
        resource_version=rv,
        timeout_seconds=10,
        until=lambda ev: len(ev) >= 3,
    )
    assert [t for t, _ in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2][1].metadata.labels == {"app": "x"}  # the last state that matched


def _raw_watch_lines(cluster: LocalCluster, path: str) -> list[dict[str, Any]]:
    status, headers, body = raw_request(cluster, "GET", path)
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    return [json.loads(line) for line in body.decode().splitlines() if line]


def test_bookmarks(cluster: LocalCluster, ns: str) -> None:
    lines = _raw_watch_lines(
        cluster, f"/api/v1/namespaces/{ns}/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=1"
    )
    assert lines
    assert {line["type"] for line in lines} == {"BOOKMARK"}
    assert lines[0]["object"]["kind"] == "Pod"
    assert int(lines[0]["object"]["metadata"]["resourceVersion"]) > 0


def test_send_initial_events(cluster: LocalCluster, core: kubernetes.client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    lines = _raw_watch_lines(
        cluster,
        f"/api/v1/namespaces/{ns}/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
    )
    assert [line["type"] for line in lines[:3]] == ["ADDED", "ADDED", "BOOKMARK"]
    assert lines[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_too_old_resource_version_is_410(local_cluster_factory: Callable[..., LocalCluster]) -> None:
    small = local_cluster_factory(watch_history=3)
    core = kubernetes.client.CoreV1Api(sync_api(small))
    first = core.create_namespaced_config_map("default", {"metadata": {"name": "c0"}})
    for i in range(1, 6):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
    lines = _raw_watch_lines(
        small,
        f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={first.metadata.resource_version}",
    )
    assert len(lines) == 1
    assert lines[0]["type"] == "ERROR"
    status = lines[0]["object"]
    assert status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {first.metadata.resource_version} (")
    with pytest.raises(ApiException) as info:
        collect(
            core.list_namespaced_config_map,
            "default",
            resource_version=first.metadata.resource_version,
            timeout_seconds=2,
            until=lambda ev: True,
        )
    assert info.value.status == 410


def test_watch_single_pod_by_name_and_deleted_event(
    core: kubernetes.client.CoreV1Api, ns: str, cluster: LocalCluster
) -> None:
    start = core.list_namespaced_pod(ns).metadata.resource_version
    core.create_namespaced_pod(ns, pod_manifest("w", ["sleep", "0.5"], grace=0))
    events = collect(
        core.list_namespaced_pod,
        ns,
        field_selector="metadata.name=w",
        resource_version=start,
        timeout_seconds=20,
        until=lambda ev: ev[-1][1].status.phase == "Succeeded",
    )
    phases = [o.status.phase for _, o in events]
    assert events[0][0] == "ADDED"
    assert phases[0] == "Pending"
    assert "Running" in phases
    assert phases[-1] == "Succeeded"
    rv = events[-1][1].metadata.resource_version

    def later() -> None:
        time.sleep(0.3)
        core.delete_namespaced_pod("w", ns)

    threading.Thread(target=later).start()
    deleted = collect(
        core.list_namespaced_pod,
        ns,
        field_selector="metadata.name=w",
        resource_version=rv,
        timeout_seconds=10,
        until=lambda ev: ev[-1][0] == "DELETED",
    )
    assert deleted[-1][0] == "DELETED"
    assert deleted[-1][1].status.phase == "Succeeded"


async def test_async_watch_sends_capital_true(cluster: LocalCluster, ns: str) -> None:
    client = await async_api(cluster)
    try:
        core = kubernetes_asyncio.client.CoreV1Api(client)
        await core.create_namespaced_pod(ns, pod_manifest("aw", ["sleep", "0.2"], grace=0))
        seen: list[str] = []
        watch = kubernetes_asyncio.watch.Watch()
        async with watch.stream(core.list_namespaced_pod, ns, timeout_seconds=20) as stream:
            async for event in stream:
                seen.append(event["object"].status.phase)
                if event["object"].status.phase == "Succeeded":
                    break
        assert seen[-1] == "Succeeded"
        assert cluster.stats()["watch pods"] >= 1
    finally:
        await client.close()


async def test_async_watch_410(local_cluster_factory: Callable[..., LocalCluster]) -> None:
    small = local_cluster_factory(watch_history=2)
    client = await async_api(small)
    try:
        core = kubernetes_asyncio.client.CoreV1Api(client)
        first = await core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
        for name in ("b", "c", "d", "e"):
            await core.create_namespaced_config_map("default", {"metadata": {"name": name}})
        watch = kubernetes_asyncio.watch.Watch()

        async def consume() -> None:
            async with watch.stream(
                core.list_namespaced_config_map,
                "default",
                resource_version=first.metadata.resource_version,
                timeout_seconds=2,
            ) as stream:
                async for _ in stream:
                    pass

        with pytest.raises(kubernetes_asyncio.client.exceptions.ApiException) as info:
            await consume()
        assert info.value.status == 410
    finally:
        await client.close()
        await asyncio.sleep(0)
