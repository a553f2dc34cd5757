"""Table tests of :func:`~airflow_provider_k8spod.pod.status.infrastructure_loss`: which failed pods were lost
to the infrastructure (and may be created again for the same try, ``pod_recreate_attempts``) and which
failed because of the task itself, over the pod snapshots (captured from the local cluster, and what real
clusters published in the same situations)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_k8spod.pod.status import (
    FailureRecord,
    Outcome,
    StartupTracker,
    decide,
    failure_record,
    infrastructure_loss,
)
from tests.pod.pods import names, pod, snapshot
from tests.pod.pods.real import counterpart

MAIN = "base"
EVICTION = (
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. Container base was "
    "using 1948Mi, request is 0, has larger consumption of memory."
)


def loss_of(name: str, *, deleted: bool = False) -> tuple[str, str] | None:
    snap = snapshot(name)
    verdict = decide(snap.pod, main=MAIN, events=snap.events, deleted=deleted)
    assert verdict.outcome is Outcome.FAILURE, name
    loss = infrastructure_loss(verdict.record)
    return None if loss is None else (loss.kind, loss.message)


# (snapshot, deleted by someone else, (kind, message) or None: the task's own failure)
LOSSES: list[tuple[str, bool, tuple[str, str] | None]] = [
    ("evicted", False, ("Evicted", f"evicted by the kubelet (Evicted: {EVICTION})")),
    # Exited 0 on the eviction's SIGTERM: its work was cut short, not done.
    ("evicted_graceful_exit_real", False, ("Evicted", f"evicted by the kubelet (Evicted: {EVICTION})")),
    (
        "node_lost",
        False,
        (
            "NodeLost",
            "its node was lost (NodeLost: DeletionByTaintManager: Taint manager: deleting due to "
            "NoExecute taint)",
        ),
    ),
    (
        "node_lost_real",
        False,
        (
            "NodeLost",
            "its node was lost (NodeLost: DeletionByTaintManager: Taint "
            "manager: deleting due to NoExecute taint)",
        ),
    ),
    ("deleted_while_running", True, ("Deleted", "deleted by someone else (Deleted)")),
    ("deleted_graceful_exit", True, ("Deleted", "deleted by someone else (Deleted)")),
    ("deleted_force", True, ("Deleted", "deleted by someone else (Deleted)")),
    # The task's own failures: never recreated.
    ("failed_exit_code", False, None),
    ("main_failed_user_sidecar_running", False, None),
    ("termination_message", False, None),
    ("termination_message_fallback", False, None),
    ("oom_killed", False, None),
    ("start_error", False, None),
    ("init_failed", False, None),
    ("deadline_exceeded", False, None),
    ("deadline_exceeded_graceful_exit", False, None),
]


@pytest.mark.parametrize(("name", "deleted", "expected"), LOSSES)
def test_which_failed_pods_were_lost_to_the_infrastructure(
    name: str, deleted: bool, expected: tuple[str, str] | None
) -> None:
    assert loss_of(name, deleted=deleted) == expected


def test_every_failure_snapshot_is_in_the_table() -> None:
    failing = []
    for name in names():
        snap = snapshot(name)
        deleted = name.startswith("deleted")
        if decide(snap.pod, main=MAIN, events=snap.events, deleted=deleted).outcome is Outcome.FAILURE:
            failing.append(name)
    starts = {
        "create_container_config_error",
        "err_image_pull",
        "image_pull_backoff",
        "image_pull_backoff_real",
        "invalid_image_name",
    }  # decided as failed starts: see the start-up table below
    unfinished = {
        n
        for n in failing
        if n.startswith(("init_running", "pending", "running", "native_sidecar", "init_crash", "on_failure"))
    }
    assert sorted(set(failing) - starts - unfinished) == sorted(n for n, _, _ in LOSSES)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("evicted", "Evicted"), ("oom_killed", None), ("failed_exit_code", None)],
)
def test_real_clusters_pods_read_the_same(name: str, kind: str | None) -> None:
    real = counterpart(name)
    verdict = decide(real.pod, main=real.main)
    assert verdict.outcome is Outcome.FAILURE
    loss = infrastructure_loss(verdict.record)
    assert (loss.kind if loss else None) == kind


def test_a_main_container_that_failed_before_the_eviction_is_the_tasks_failure() -> None:
    # Exit code 1 at 18:26:50, the eviction at 18:26:55: the task had failed already.
    p = pod("evicted")
    p["status"]["containerStatuses"][0]["state"]["terminated"].update(
        exitCode=1, finishedAt="2026-12-01T18:26:50Z"
    )
    assert infrastructure_loss(decide(p, main=MAIN).record) is None


def test_a_pod_evicted_before_its_main_container_started_was_lost() -> None:
    p = pod("evicted")
    p["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
    loss = infrastructure_loss(decide(p, main=MAIN).record)
    assert loss is not None
    assert loss.kind == "Evicted"


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("Preempting", "Preempting"),
        ("UnexpectedAdmissionError", "UnexpectedAdmissionError"),
        ("OutOfcpu", "OutOfcpu"),
        ("Terminated", "Terminated"),
        ("SomethingElse", None),
    ],
)
def test_pod_reasons_of_the_node_or_scheduler(reason: str, kind: str | None) -> None:
    p = pod("evicted")
    p["status"]["reason"] = reason
    p["status"]["conditions"] = [c for c in p["status"]["conditions"] if c["type"] != "DisruptionTarget"]
    p["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
    loss = infrastructure_loss(decide(p, main=MAIN).record)
    assert (loss.kind if loss else None) == kind


def test_an_oom_kill_during_an_eviction_is_the_tasks_failure() -> None:
    p = pod("evicted")
    p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "OOMKilled"
    assert infrastructure_loss(decide(p, main=MAIN).record) is None


def test_phase_unknown_is_a_lost_node() -> None:
    p = pod("running")
    p["status"]["phase"] = "Unknown"
    loss = infrastructure_loss(decide(p, main=MAIN).record)
    assert loss is not None
    assert loss.kind == "NodeLost"


# -- failed starts -------------------------------------------------------------------------------------------

RATE_LIMITED = (
    'rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/busybox:1.36": failed '
    'to resolve reference "docker.io/library/busybox:1.36": unexpected status from HEAD request to '
    "https://registry-1.docker.io/v2/library/busybox/manifests/1.36: 429 Too Many Requests"
)


def startup_record(p: dict[str, Any], events: list[dict[str, Any]] | None = None) -> FailureRecord:
    """The record of a start given up by the tracker, as the lifecycle makes it."""
    tracker = StartupTracker(MAIN, startup_timeout=10)
    tracker.observe(p, 0.0)
    decision = tracker.observe(p, 11.0)
    assert decision.kind == "failed"
    return failure_record(p, events or [], reason=decision.reason, message=decision.message, main=MAIN)


def with_pull_error(name: str, error: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    snap = snapshot(name)
    p, events = copy.deepcopy(snap.pod), copy.deepcopy(snap.events)
    waiting = p["status"]["containerStatuses"][0]["state"]["waiting"]
    waiting["message"] = f'Back-off pulling image "busybox:1.36": ErrImagePull: {error}'
    for event in events:
        if str(event.get("message", "")).startswith("Failed to pull image"):
            event["message"] = f'Failed to pull image "busybox:1.36": {error}'
    return p, events


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (RATE_LIMITED, True),
        (
            'failed to do request: Head "https://registry.example.com/v2/x/manifests/1": dial tcp 10.0.0.1:443: '
            "i/o timeout",
            True,
        ),
        ("unexpected status from HEAD request: 503 Service Unavailable", True),
        ("failed to resolve reference: registry.example.com/team/missing:1.0: not found", False),
        (
            "pull access denied, repository does not exist or may require authorization: server message: "
            "insufficient_scope: authorization failed",
            False,
        ),
        ("failed to authorize: failed to fetch anonymous token: 401 Unauthorized", False),
        ("failed to pull and unpack image: some error nobody has classified", False),
    ],
)
def test_a_start_that_ran_out_of_time_pulling_is_lost_only_on_a_transient_registry_error(
    error: str, lost: bool
) -> None:
    p, events = with_pull_error("image_pull_backoff", error)
    loss = infrastructure_loss(startup_record(p, events))
    assert (loss is not None) is lost
    if lost:
        assert loss is not None
        assert loss.kind == "ImagePull"
        assert loss.message.startswith("the image registry failed while pulling for 'base' (ImagePull: ")


@pytest.mark.parametrize("name", ["image_pull_backoff", "image_pull_backoff_real"])
def test_a_missing_image_is_the_tasks_failure(name: str) -> None:
    snap = snapshot(name)
    assert infrastructure_loss(startup_record(copy.deepcopy(snap.pod), snap.events)) is None


def test_other_failed_starts_are_the_tasks_failure() -> None:
    for name in ("invalid_image_name", "pending_unschedulable", "create_container_config_error"):
        p = pod(name)
        tracker = StartupTracker(MAIN, startup_timeout=10, schedule_timeout=10, config_error_grace=1)
        tracker.observe(p, 0.0)
        decision = tracker.observe(p, 11.0)
        assert decision.kind == "failed", name
        record = failure_record(p, [], reason=decision.reason, message=decision.message, main=MAIN)
        assert infrastructure_loss(record) is None, name


def test_the_record_keeps_what_the_classification_reads_across_the_triggers_event() -> None:
    snap = snapshot("evicted")
    record = decide(snap.pod, main=MAIN, events=snap.events).record
    assert record is not None
    again = FailureRecord.from_dict(record.to_dict())
    assert again == record
    assert infrastructure_loss(again) == infrastructure_loss(record)
