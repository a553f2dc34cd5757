"""Which pods of this provider outlived their task instance (pure; ``airflow k8spod cleanup-pods``).

A pod is judged by its identity (the annotations :mod:`airflow_provider_k8spod.pod.identity` writes: never
a pod of upstream's operator, which has the same labels but not our annotations) and by Airflow's record
of that task instance (its state and current try number, read by the caller from the metadata database).

Public API:

- :class:`TaskInstanceRecord` ``(state, try_number)``: what the metadata database says.
- :func:`judge` ``(pod, record, *, found, now, min_age_seconds, include_kept) -> Judgement | None``: None
  for a pod that is not this provider's (or whose identity cannot be read); else whether to delete it and
  why.
- :data:`RUNNING_STATES`, :data:`WAITING_STATES`: task instance states in which a pod may still be in use.

The rules, in order (docs/operator.md, "Cleaning up after Airflow"):

1. A pod already being deleted, a kept pod (label ``already_checked=True``: ``on_finish_action`` kept it)
   unless ``include_kept``, and a pod younger than ``min_age_seconds`` are left alone.
2. No such task instance (its DAG run or DAG was deleted): delete.
3. The pod's own try is running, deferred, or scheduled/queued (a deferred task resuming on a worker
   reads its pod) or restarting: leave it.
4. Otherwise, while the task instance is running or waits for a try (no state yet, scheduled, queued,
   up_for_retry, up_for_reschedule, restarting, deferred): a live pod may be, or be about to be, adopted
   by the current or coming try (adopted pods keep the labels of the try that created them): leave it. A
   finished one is a leftover: delete.
5. The task instance finished (success, failed, skipped, upstream_failed, removed, ...): delete.

A pod with a try number above the task instance's (the database was reset, or the pod's labels were
edited) is left alone while the task instance is running or waiting.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_k8spod.pod.identity import TaskIdentity, is_managed, pod_task_identity

__all__ = [
    "CHECKED_LABEL",
    "RUNNING_STATES",
    "WAITING_STATES",
    "Judgement",
    "TaskInstanceRecord",
    "judge",
    "pod_age_seconds",
]

#: Upstream's label on a pod whose outcome a task already took (``on_finish_action`` kept it); the same as
#: ``pod.lifecycle.CHECKED_LABEL``, not imported from there to keep this module free of I/O code.
CHECKED_LABEL = "already_checked"
#: A try runs: its pod is in use (a deferred task's pod is followed by the triggerer).
RUNNING_STATES = frozenset({"running", "deferred"})
#: A try is about to run, or a running one is being restarted: a live pod may be adopted by it.
WAITING_STATES = frozenset({"none", "scheduled", "queued", "up_for_retry", "up_for_reschedule", "restarting"})
#: With the pod's own try: a deferred task resuming on a worker (it reads the pod), or being restarted.
_RESUMING_STATES = frozenset({"scheduled", "queued", "restarting"})
_LIVE_PHASES = frozenset({"Pending", "Running", ""})


@dataclass(frozen=True)
class TaskInstanceRecord:
    """A task instance as Airflow's metadata database has it: ``state`` (``None`` for no state yet) and
    the current ``try_number``."""

    state: str | None
    try_number: int


@dataclass(frozen=True)
class Judgement:
    """What to do with one of our pods: ``delete`` or not, and ``why`` (one line, for the table)."""

    identity: TaskIdentity
    delete: bool
    why: str
    age_seconds: float
    state: str  # the task instance's state as shown: "-" when there is no such task instance


def pod_age_seconds(pod: Mapping[str, Any], now: datetime.datetime) -> float:
    """Seconds since the pod's ``metadata.creationTimestamp`` (0 when it has none)."""
    raw = (pod.get("metadata") or {}).get("creationTimestamp")
    if not raw:
        return 0.0
    created = datetime.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    return max(0.0, (now - created).total_seconds())


def judge(
    pod: Mapping[str, Any],
    record: TaskInstanceRecord | None,
    *,
    now: datetime.datetime,
    min_age_seconds: float,
    include_kept: bool = False,
) -> Judgement | None:
    """Whether ``pod`` outlived its task instance (``record``: None when the database has none)."""
    identity = pod_task_identity(pod) if is_managed(pod) else None
    if identity is None:
        return None
    age = pod_age_seconds(pod, now)
    state = "-" if record is None else (record.state or "none")

    def verdict(delete: bool, why: str) -> Judgement:
        return Judgement(identity, delete, why, age, state)

    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return verdict(False, "already being deleted")
    if (meta.get("labels") or {}).get(CHECKED_LABEL) == "True" and not include_kept:
        return verdict(False, "kept by on_finish_action (label already_checked=True; --include-kept)")
    if age < min_age_seconds:
        return verdict(False, f"younger than --min-age ({int(min_age_seconds)} s)")
    if record is None:
        return verdict(True, "no such task instance in Airflow (its DAG run or DAG was deleted)")
    phase = str((pod.get("status") or {}).get("phase") or "")
    live = phase in _LIVE_PHASES
    pod_try, ti_try = identity.try_number, record.try_number
    if state in RUNNING_STATES or state in WAITING_STATES:
        if pod_try == ti_try:
            if state in RUNNING_STATES or state in _RESUMING_STATES:
                return verdict(False, f"its try is {state}")
            if live:
                return verdict(False, f"the task instance is {state}; its next try may adopt the pod")
            return verdict(True, f"the pod {phase.lower()}; the task instance is {state}")
        if pod_try > ti_try:
            return verdict(False, f"try {pod_try} is newer than the task instance's try {ti_try}")
        if live:
            return verdict(False, f"a live pod of try {pod_try}: try {ti_try} ({state}) may adopt it")
        finished = phase.lower() or "finished"
        return verdict(True, f"a {finished} pod of try {pod_try}; the task instance is on try {ti_try}")
    return verdict(True, f"the task instance is {state}")
