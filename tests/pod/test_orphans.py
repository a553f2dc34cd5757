"""Which of our pods outlived their task instance (airflow_provider_k8spod.pod.orphans.judge): a table."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from airflow_provider_k8spod.cli.cleanup import format_age, parse_min_age
from airflow_provider_k8spod.pod.identity import TaskIdentity, identity_annotations, identity_labels
from airflow_provider_k8spod.pod.orphans import TaskInstanceRecord, judge

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
IDENTITY = TaskIdentity("etl", "load", "manual__1", -1, 2)  # the pod is of try 2


def pod(
    phase: str = "Running",
    *,
    age: float = 3600,
    ours: bool = True,
    kept: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    labels = identity_labels(IDENTITY)
    if kept:
        labels["already_checked"] = "True"
    metadata: dict[str, Any] = {
        "name": "load-abc",
        "namespace": "default",
        "labels": labels,
        "annotations": identity_annotations(IDENTITY) if ours else {},
        "creationTimestamp": (NOW - datetime.timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if deleting:
        metadata["deletionTimestamp"] = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": metadata, "spec": {}, "status": {"phase": phase}}


def ti(state: str | None, try_number: int = 2) -> TaskInstanceRecord:
    return TaskInstanceRecord(state, try_number)


DELETE, KEEP = True, False

CASES = [
    # (id, pod, task instance, delete?, why contains)
    ("finished-ti", pod(), ti("success"), DELETE, "the task instance is success"),
    ("failed-ti", pod("Pending"), ti("failed"), DELETE, "the task instance is failed"),
    ("skipped-ti", pod("Succeeded"), ti("skipped"), DELETE, "the task instance is skipped"),
    ("no-ti", pod(), None, DELETE, "no such task instance"),
    ("running", pod(), ti("running"), KEEP, "its try is running"),
    ("deferred", pod(), ti("deferred"), KEEP, "its try is deferred"),
    # A deferred task resuming on a worker reads its finished pod.
    ("resuming", pod("Succeeded"), ti("queued"), KEEP, "its try is queued"),
    ("restarting", pod(), ti("restarting"), KEEP, "its try is restarting"),
    # The try failed (its worker died) and the next one may adopt the still-running pod.
    ("up-for-retry-live", pod(), ti("up_for_retry"), KEEP, "its next try may adopt the pod"),
    ("up-for-retry-finished", pod("Failed"), ti("up_for_retry"), DELETE, "the pod failed"),
    ("cleared-live", pod(), ti(None), KEEP, "the task instance is none"),
    # A newer try: a live pod may have been adopted by it (adoption keeps the labels), a finished one not.
    ("newer-try-running-live", pod(), ti("running", 3), KEEP, "try 3 (running) may adopt it"),
    ("newer-try-queued-live", pod("Pending"), ti("queued", 3), KEEP, "may adopt it"),
    ("newer-try-finished-pod", pod("Succeeded"), ti("running", 3), DELETE, "the task instance is on try 3"),
    ("newer-try-done", pod(), ti("success", 3), DELETE, "the task instance is success"),
    ("pod-newer-than-ti", pod(), ti("running", 1), KEEP, "newer than the task instance's try 1"),
    ("kept", pod("Failed", kept=True), ti("failed"), KEEP, "already_checked"),
    ("young", pod(age=30), ti("success"), KEEP, "younger than --min-age"),
    ("deleting", pod(deleting=True), ti("success"), KEEP, "already being deleted"),
]


@pytest.mark.parametrize(
    ("pod_", "record", "delete", "why"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_judge(pod_: dict[str, Any], record: TaskInstanceRecord | None, delete: bool, why: str) -> None:
    judgement = judge(pod_, record, now=NOW, min_age_seconds=300)
    assert judgement is not None
    assert (judgement.delete, judgement.identity) == (delete, IDENTITY)
    assert why in judgement.why


def test_include_kept_deletes_a_kept_pod_of_a_finished_task() -> None:
    judgement = judge(pod("Failed", kept=True), ti("failed"), now=NOW, min_age_seconds=300, include_kept=True)
    assert judgement is not None
    assert judgement.delete


def test_upstreams_pods_are_never_judged() -> None:
    assert judge(pod(ours=False), None, now=NOW, min_age_seconds=0) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("300", 300), ("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("0", 0)]
)
def test_parse_min_age(text: str, seconds: float) -> None:
    assert parse_min_age(text) == seconds


@pytest.mark.parametrize("text", ["five", "-5m", "5w", ""])
def test_parse_min_age_refuses(text: str) -> None:
    with pytest.raises(SystemExit, match=r"--min-age: .* is not a duration"):
        parse_min_age(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(42, "42s"), (432, "7m12s"), (11100, "3h5m"), (187200, "2d4h")]
)
def test_format_age(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


def test_namespace_and_all_namespaces_together_are_refused() -> None:
    import argparse

    from airflow_provider_k8spod.cli.cleanup import run

    args = argparse.Namespace(
        min_age="5m", all_namespaces=True, namespace="etl", conn_id="kubernetes_default"
    )
    with pytest.raises(SystemExit, match="--namespace and --all-namespaces: give one of them"):
        run(args)


def test_the_kept_label_is_the_lifecycles() -> None:
    from airflow_provider_k8spod.pod import lifecycle, orphans

    assert orphans.CHECKED_LABEL == lifecycle.CHECKED_LABEL == "already_checked"
