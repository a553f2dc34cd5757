"""The pod report (airflow_provider_k8spod/pod/report.py), table-tested over real pod JSON.

Real pods come from tests/pod/pods/real/ (published ``kubectl get pod -o yaml`` of real clusters) and the
local cluster's captures; requests and limits are added where a case needs them. The clock is injected.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from airflow_provider_k8spod.pod.lifecycle import LifecycleResult
from airflow_provider_k8spod.pod.report import pod_report
from airflow_provider_k8spod.pod.status import Outcome, Verdict
from tests.pod.pods import snapshot
from tests.pod.pods.real import counterpart


def at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def real(name: str) -> dict[str, Any]:
    return counterpart(name).pod


def with_resources(pod: dict[str, Any], *per_container: dict[str, Any]) -> dict[str, Any]:
    for container, resources in zip(pod["spec"]["containers"], per_container, strict=True):
        container["resources"] = resources
    return pod


SUCCEEDED_NOW = at("2025-11-04T20:00:00Z")  # long after the pod ended: an ended pod ignores the clock


def test_failed_real_pod_node_digest_exit_code_running_time():
    report = pod_report(real("failed_exit_code"), now=SUCCEEDED_NOW)
    assert report.node == "datagen-1-32"
    assert report.running == 5.0  # startedAt 19:11:32 -> finishedAt 19:11:37
    assert report.still_running is False
    assert report.pending is None  # the published dump has no creationTimestamp
    [main] = report.containers
    assert (main.name, main.exit_code, main.state, main.restarts) == ("main", 42, "Error", 0)
    assert main.image_id == (
        "docker.io/library/bash@sha256:ae4668c2560999e65e89532cd2ad1b6688bb23298189f0bd229ef80fa4bd0831"
    )
    assert (report.cpu, report.memory, report.basis, report.cpu_seconds) == (None, None, None, None)
    assert "resources: no requests or limits set" in report.render()


def test_pending_is_creation_to_first_start_and_scheduling_is_shown():
    pod = real("succeeded")
    pod["metadata"]["creationTimestamp"] = "2025-11-04T19:11:50Z"
    report = pod_report(pod, now=SUCCEEDED_NOW)
    assert report.pending == 10.0  # -> startedAt 19:12:00
    assert report.scheduled_after == 10.0  # PodScheduled at 19:12:00
    assert report.running == 21.0  # -> finishedAt 19:12:21
    assert report.render().splitlines()[1] == "  pending 10s (scheduled after 10s), running 21s"


@pytest.mark.parametrize(
    ("resources", "cpu", "gib", "basis", "cpu_seconds", "gib_seconds"),
    [
        pytest.param(
            {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "4", "memory": "1Gi"}},
            0.5, 0.25, "requests", 10.5, 5.25, id="requests-win-over-limits",
        ),
        pytest.param(
            {"limits": {"cpu": "2", "memory": "1Gi"}}, 2.0, 1.0, "limits", 42.0, 21.0, id="only-limits",
        ),
        pytest.param(
            {"requests": {"cpu": "250m"}, "limits": {"memory": "512Mi"}},
            0.25, 0.5, "requests and limits", 5.25, 10.5, id="memory-only-limited",
        ),
        pytest.param(
            {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
            2.0, 1.0, "requests, equal to limits", 42.0, 21.0, id="limits-as-the-api-server-stores-them",
        ),
        pytest.param({"requests": {"memory": "1G"}}, None, 1e9 / 2**30, "requests", None, 21e9 / 2**30, id="decimal-suffix"),
    ],
)  # fmt: skip
def test_resources_times_running_time(resources, cpu, gib, basis, cpu_seconds, gib_seconds):
    report = pod_report(with_resources(real("succeeded"), resources), now=SUCCEEDED_NOW)
    assert report.cpu == cpu
    assert report.memory == pytest.approx(gib * 2**30)
    assert report.basis == basis
    assert report.cpu_seconds == (pytest.approx(cpu_seconds) if cpu_seconds is not None else None)
    assert report.gib_seconds == pytest.approx(gib_seconds)


def test_effective_request_counts_init_containers_sidecars_and_overhead_as_the_scheduler_does():
    pod = real("native_sidecar_running")  # init (plain), sidecar (restartPolicy Always), sleep
    init, sidecar = pod["spec"]["initContainers"]
    assert sidecar.get("restartPolicy") == "Always"
    init["resources"] = {"requests": {"cpu": "3", "memory": "64Mi"}}
    sidecar["resources"] = {"requests": {"cpu": "500m", "memory": "128Mi"}}
    pod["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "256Mi"}}
    pod["spec"]["overhead"] = {"cpu": "100m", "memory": "32Mi"}
    report = pod_report(pod, now=at("2030-01-01T00:00:00Z"))
    # cpu: max(sidecar + main = 1.5, init = 3) + overhead; memory: max(128 + 256, 64) + 32 Mi.
    assert report.cpu == pytest.approx(3.1)
    assert report.memory == 416 * 2**20
    assert report.basis == "requests and limits"


def test_restarts_and_the_previous_exit_code_of_a_pod_still_running_are_measured_to_now():
    pod = real("on_failure_restarted_running")
    now = at("2021-07-08T11:10:00Z")
    report = pod_report(pod, now=now)
    [container] = report.containers
    assert (container.restarts, container.previous_exit_code, container.exit_code) == (10, 255, None)
    assert container.state == "running"
    assert report.still_running is True
    assert report.running == now - at("2021-07-08T10:59:33Z")  # the earliest start the pod still records
    assert "running 10m27s (still running)" in report.render()
    assert "10 restarts (previous exit code 255)" in report.render()


def test_init_container_crash_loop_main_never_started():
    report = pod_report(real("init_crash_loop"), now=at("2024-11-01T00:56:00Z"))
    init, main = report.containers
    assert (init.name, init.init, init.restarts, init.previous_exit_code) == ("init-myservice", True, 3, 127)
    assert init.state == "waiting: CrashLoopBackOff"
    assert init.image_id.startswith("docker.io/library/busybox@sha256:")
    assert (main.init, main.image_id, main.state) == (False, "", "waiting: PodInitializing")
    assert report.pending == 50.0  # created 00:54:05, the init container's recorded start 00:54:55
    assert (
        "orange-container: waiting: PodInitializing, 0 restarts, image (none: never started)"
        in report.render()
    )


def test_a_pod_never_scheduled_is_pending_until_the_report():
    pod = snapshot("pending_unschedulable").pod
    created = at(pod["metadata"]["creationTimestamp"])
    report = pod_report(pod, now=created + 125)
    assert (report.node, report.pending, report.running, report.containers) == (None, 125.0, None, ())
    assert report.render().splitlines()[:2] == [
        "Pod report: default/pending-unschedulable never scheduled",
        "  pending 2m05s, never ran",
    ]


def test_rendered_block():
    pod = with_resources(real("failed_exit_code"), {"requests": {"cpu": "1", "memory": "2Gi"}})
    pod["metadata"]["creationTimestamp"] = "2025-11-04T19:11:08Z"
    assert pod_report(pod, now=SUCCEEDED_NOW).render() == (
        "Pod report: scraper/e2e-failjob-98pzq on node datagen-1-32\n"
        "  pending 24s (scheduled after 2s), running 5s\n"
        "  main: exit code 42 (Error), 0 restarts, image "
        "docker.io/library/bash@sha256:ae4668c2560999e65e89532cd2ad1b6688bb23298189f0bd229ef80fa4bd0831\n"
        "  resources (requests): 1 CPU, 2 GiB x 5s = 5 CPU-seconds, 10 GiB-seconds"
    )


def test_the_report_travels_in_the_result_as_small_json():
    pod = real("running_xcom_sidecar")  # seven containers
    report = pod_report(pod, now=at("2030-01-01T00:00:00Z"))
    result = LifecycleResult(Verdict(Outcome.SUCCESS, "done", None, None), pod, report=report)
    data = json.loads(json.dumps(result.to_dict()))
    assert len(json.dumps(data["report"])) < 4096
    assert LifecycleResult.from_dict(data).report == report
    assert LifecycleResult.from_dict({**data, "report": None}).report is None


def test_a_pod_that_ran_and_went_between_two_reads_is_reported_from_its_events():
    # The last state read is the one it was created with; its Events (they outlive it) say where it ran.
    snap = snapshot("running")
    snap.pod["spec"].pop("nodeName", None)
    snap.pod["status"] = {"phase": "Pending"}
    created = at(snap.pod["metadata"]["creationTimestamp"])
    report = pod_report(snap.pod, now=created + 60, events=snap.events)
    assert (report.node, report.pending, report.running, report.ran_unseen) == ("node-1", 0.0, None, True)
    assert report.render().splitlines()[:2] == [
        "Pod report: default/running on node node-1",
        "  pending 0s, ran (its Started event says so; no state read showed it: running time unknown)",
    ]
    # Events of an earlier pod of the same name say nothing about this one.
    snap.pod["metadata"]["uid"] = "another-pod"
    report = pod_report(snap.pod, now=created + 60, events=snap.events)
    assert (report.node, report.pending, report.ran_unseen) == (None, 60.0, False)
