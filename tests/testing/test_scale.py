"""The local cluster under load: watches keep up while pods start, host limits are raised or named."""

from __future__ import annotations

import errno
import json
import resource
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
import pytest

from airflow_provider_k8spod.testing import LocalCluster
from airflow_provider_k8spod.testing.apiserver.encoding import EncodedObjects
from airflow_provider_k8spod.testing.node import limits

from ._helpers import wait_for
from .conftest import sync_api


def _sleeper(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "base", "image": "busybox", "command": ["sleep", "600"]}],
        },
    }


@pytest.fixture
def own_cluster() -> Iterator[tuple[LocalCluster, kubernetes.client.CoreV1Api]]:
    with LocalCluster() as local:
        client = sync_api(local)
        try:
            yield local, kubernetes.client.CoreV1Api(client)
        finally:
            client.close()


def test_a_watch_keeps_up_while_pods_start(
    own_cluster: tuple[LocalCluster, kubernetes.client.CoreV1Api],
) -> None:
    # Two clients create pods as fast as they can while a third watches: each ADDED event arrives right
    # after its create is answered. (Before watch writes were batched, the kubelet starting the pods
    # starved the watch: for 40 pods the median lag was about half a second and grew with every pod.)
    local, core = own_cluster
    count = 40
    start_rv = core.list_namespaced_pod("default").metadata.resource_version
    added: dict[str, float] = {}

    def watch() -> None:
        watcher = kubernetes.watch.Watch()
        for event in watcher.stream(
            core.list_namespaced_pod,
            "default",
            resource_version=start_rv,
            timeout_seconds=60,
            deserialize=False,
        ):
            if event["type"] == "ADDED":
                added[event["object"]["metadata"]["name"]] = time.perf_counter()
            if len(added) >= count:
                watcher.stop()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.3)

    def create(i: int) -> tuple[str, float]:
        core.create_namespaced_pod("default", _sleeper(f"burst-{i}"), _preload_content=False).read()
        return f"burst-{i}", time.perf_counter()

    with ThreadPoolExecutor(2) as pool:
        created = list(pool.map(create, range(count)))
    thread.join(30)
    assert len(added) == count
    lags = [added[name] - answered for name, answered in created]
    assert statistics.median(lags) < 0.25, sorted(lags)
    core.delete_collection_namespaced_pod("default", grace_period_seconds=0)
    wait_for(lambda: not local.container_processes(), timeout=30)


def test_a_burst_of_events_arrives_whole_and_in_order(
    own_cluster: tuple[LocalCluster, kubernetes.client.CoreV1Api],
) -> None:
    # A delete of a collection queues all its DELETED events at once; they go out together, in order,
    # and an ERROR that ends the watch still comes after them.
    local, core = own_cluster
    names = [f"cm-{i:03d}" for i in range(60)]
    for name in names:
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": {"burst": "1"}}})
    start_rv = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    response = core.list_namespaced_config_map(
        "default", watch=True, resource_version=start_rv, timeout_seconds=30, _preload_content=False
    )
    core.delete_collection_namespaced_config_map("default", label_selector="burst=1")
    wait_for(lambda: local.open_watches().get("configmaps") == 1)
    local.faults.expire_watches("configmaps")

    for line in response.read().splitlines():
        event = json.loads(line)
        seen.append(
            (event["type"], event["object"].get("metadata", {}).get("name") or event["object"]["code"])
        )
    assert seen == [("DELETED", name) for name in names] + [("ERROR", 410)]


def test_the_server_raises_its_soft_open_files_limit_but_not_its_containers() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(1000, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        with LocalCluster() as local:
            assert local.server_pid is not None
            server_soft, server_hard = resource.prlimit(local.server_pid, resource.RLIMIT_NOFILE)
            client = sync_api(local)
            core = kubernetes.client.CoreV1Api(client)
            pod = _sleeper("ulimit")
            pod["spec"]["containers"][0]["command"] = ["sh", "-c", "ulimit -Sn; ulimit -Hn"]
            core.create_namespaced_pod("default", pod)
            local.wait_for_pod("default", "ulimit", phase="Succeeded")
            log = core.read_namespaced_pod_log("ulimit", "default")
            client.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert (server_soft, server_hard) == (hard, hard)
    assert log.split() == [str(low), str(hard)]


def test_a_container_past_the_open_files_limit_fails_to_start_with_the_limit_named(
    own_cluster: tuple[LocalCluster, kubernetes.client.CoreV1Api],
) -> None:
    # The hard limit is what it is (here lowered from outside, as a container or CI runner might have
    # it): the containers beyond it fail with a StartError that names it, and the API keeps answering.
    local, core = own_cluster
    assert local.server_pid is not None
    resource.prlimit(
        local.server_pid, resource.RLIMIT_NOFILE, (limits.RESERVED_FDS + 60, limits.RESERVED_FDS + 60)
    )
    for i in range(14):
        core.create_namespaced_pod("default", _sleeper(f"limited-{i}"))

    def settled() -> list[dict[str, Any]] | None:
        pods = local.pods("default")
        phases = [p["status"].get("phase") for p in pods]
        return pods if len(pods) == 14 and all(ph in ("Running", "Failed") for ph in phases) else None

    pods = wait_for(settled, timeout=30)
    failed = [p for p in pods if p["status"]["phase"] == "Failed"]
    running = [p for p in pods if p["status"]["phase"] == "Running"]
    assert running
    assert failed
    terminated = failed[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "StartError"
    assert "too many open files: the local cluster runs" in terminated["message"]
    assert "raise the hard limit (ulimit -Hn" in terminated["message"]
    assert len(core.list_namespaced_pod("default").items) == 14
    core.delete_collection_namespaced_pod("default", grace_period_seconds=0)
    wait_for(lambda: not local.container_processes(), timeout=30)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.EMFILE, "too many open files: the local cluster runs 7 containers"),
        (errno.ENFILE, "too many open files in the system (fs.file-max)"),
        (errno.EAGAIN, "a limit on processes was reached (ulimit -u, the cgroup's pids.max"),
        (errno.ENOENT, "[Errno 2] No such file or directory"),
    ],
)
def test_spawn_errors_name_the_host_limit(code: int, expected: str) -> None:
    explained = limits.explain_spawn_error(OSError(code, "No such file or directory"), 7)
    assert expected in str(explained)


def test_the_budget_counts_open_files_only_near_the_limit() -> None:
    limits.ContainerBudget(limit=100_000).check(running=10)  # far from it: not even counted
    with pytest.raises(limits.HostLimitError, match="raise the hard limit"):
        limits.ContainerBudget(limit=limits.RESERVED_FDS).check(running=0)
    assert limits.containers_capacity(20_000) == (20_000 - limits.RESERVED_FDS) // limits.FDS_PER_CONTAINER


def test_encoded_objects_follow_each_snapshot_within_their_budget() -> None:
    encoded = EncodedObjects(budget=400)
    first = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "4"}}
    assert json.loads(encoded.with_kind("Pod", first)) == first
    assert encoded.with_kind("Pod", first).startswith(b'{"kind":"Pod","apiVersion":"v1",')
    second = {**first, "metadata": {"name": "a", "resourceVersion": "5"}}  # the next snapshot
    assert json.loads(encoded.list_of("Pod", [second], {"resourceVersion": "5"})) == {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "5"},
        "items": [{"metadata": {"name": "a", "resourceVersion": "5"}}],
    }
    event = json.loads(encoded.watch_event("DELETED", "Pod", {"metadata": {"name": "b"}}))
    assert event == {
        "type": "DELETED",
        "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "b"}},
    }
    for i in range(50):
        encoded.body({"metadata": {"name": f"pod-{i}"}})
    assert encoded.size <= 400
