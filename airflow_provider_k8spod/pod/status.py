"""Decisions over observed pods, as pure functions of pod JSON (no I/O).

The sync operator path and the deferrable trigger call the same functions, so the two cannot disagree:

- :class:`StartupTracker`: fed each observed version of a pod, it says whether to keep waiting, whether the
  main container has started, or why the start has failed (fatal waiting reasons, a failed init container,
  scheduling and startup timeouts). Waiting reasons are classified by one table, :data:`WAITING_REASONS`.
- :func:`main_container_done`: has the container that decides the task finished?
- :func:`decide`: the final :class:`Verdict` (success, failure or skip) from the final pod, with a
  :class:`FailureRecord` that says what happened in Kubernetes terms.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_k8spod.pod.identity import ACTIVE_DEADLINE_SOURCE_ANNOTATION

__all__ = [
    "CRASH_LOOP_MAX_RESTARTS",
    "LOST_POD_REASONS",
    "WAITING_REASONS",
    "ContainerRecord",
    "CrashLoopTracker",
    "FailureRecord",
    "InfrastructureLoss",
    "Outcome",
    "StartupDecision",
    "StartupTracker",
    "Verdict",
    "WaitingClass",
    "container_state",
    "container_status",
    "decide",
    "event_is_warning",
    "failure_record",
    "format_event",
    "infrastructure_loss",
    "is_finished",
    "last_failed_exit",
    "main_container_done",
    "main_container_started",
    "node_lost",
    "restarted_success",
]

Pod = Mapping[str, Any]


class WaitingClass(enum.Enum):
    """How a container's ``waiting`` reason bears on the start of the pod."""

    #: Part of a normal start (ContainerCreating, PodInitializing).
    NORMAL = "normal"
    #: The kubelet retries; give it until the startup timeout (image pulls, a crash loop that may recover).
    TRANSIENT = "transient"
    #: Cannot succeed without a change to the pod: fail at once.
    FATAL = "fatal"
    #: Usually a missing ConfigMap/Secret that somebody may be creating right now: fail after a short grace.
    FATAL_AFTER_GRACE = "fatal_after_grace"


#: Container ``waiting`` reasons of the kubelet and what they mean for the start. Unknown reasons are
#: TRANSIENT: the startup timeout bounds them.
WAITING_REASONS: dict[str, WaitingClass] = {
    "ContainerCreating": WaitingClass.NORMAL,
    "PodInitializing": WaitingClass.NORMAL,
    "ErrImagePull": WaitingClass.TRANSIENT,
    "ImagePullBackOff": WaitingClass.TRANSIENT,
    "RegistryUnavailable": WaitingClass.TRANSIENT,
    "CrashLoopBackOff": WaitingClass.TRANSIENT,
    "InvalidImageName": WaitingClass.FATAL,
    "ErrImageNeverPull": WaitingClass.FATAL,
    "CreateContainerConfigError": WaitingClass.FATAL_AFTER_GRACE,
    "CreateContainerError": WaitingClass.FATAL_AFTER_GRACE,
    "RunContainerError": WaitingClass.FATAL_AFTER_GRACE,
}

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


# -- reading a pod -------------------------------------------------------------------------------------


def _status(pod: Pod) -> Mapping[str, Any]:
    return pod.get("status") or {}


def phase(pod: Pod) -> str:
    return str(_status(pod).get("phase") or "Pending")


def is_finished(pod: Pod) -> bool:
    """The pod has reached Succeeded or Failed: nothing in it will run again."""
    return phase(pod) in TERMINAL_PHASES


def container_status(pod: Pod, name: str) -> Mapping[str, Any] | None:
    """The status of the (init or regular) container ``name``, or None if the kubelet has not reported it."""
    status = _status(pod)
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for item in status.get(key) or []:
            if item.get("name") == name:
                found: Mapping[str, Any] = item
                return found
    return None


def container_state(pod: Pod, name: str) -> tuple[str, Mapping[str, Any]]:
    """``(kind, details)`` of a container's current state: kind is ``waiting``, ``running``,
    ``terminated`` or ``unknown`` (not reported yet)."""
    return _state(container_status(pod, name))


def _state(status: Mapping[str, Any] | None) -> tuple[str, Mapping[str, Any]]:
    state = (status or {}).get("state") or {}
    for kind in ("terminated", "running", "waiting"):
        if kind in state and state[kind] is not None:
            return kind, state[kind]
    return "unknown", {}


def main_container_started(pod: Pod, main: str) -> bool:
    """The main container is running or has run: a terminated state counts (it did start or fail), and so
    does a container waiting to be restarted (``restartPolicy: OnFailure`` crash loop) after a first run."""
    status = container_status(pod, main)
    if _state(status)[0] in ("running", "terminated"):
        return True
    return bool((status or {}).get("restartCount")) or bool(
        ((status or {}).get("lastState") or {}).get("terminated")
    )


def node_lost(pod: Pod) -> bool:
    """The pod's node is gone, as real Kubernetes shows it: the taint eviction controller marked the pod for
    deletion (DisruptionTarget ``DeletionByTaintManager``) after the node became unreachable. No kubelet
    will report on it again, and the object stays Terminating until the node returns.
    """
    if not (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    target = _condition(pod, "DisruptionTarget")
    return (
        target is not None
        and target.get("status") == "True"
        and target.get("reason") == "DeletionByTaintManager"
    )


def main_container_done(pod: Pod, main: str) -> bool:
    """The container ``main`` will not run again: it terminated and the pod will not restart it (used for
    any container whose end matters: the main one for the task, each followed one for its logs).

    With ``restartPolicy: OnFailure`` a failed container is restarted, so only a successful exit (or a
    finished pod) counts. A pod in phase Unknown (its node stopped reporting) counts too: nothing more
    about it can be observed, and waiting for it would hang the task.
    """
    if is_finished(pod) or phase(pod) == "Unknown" or node_lost(pod):
        return True
    kind, state = _state(container_status(pod, main))
    if kind != "terminated":
        return False
    restart = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    return restart == "Never" or (restart == "OnFailure" and state.get("exitCode") == 0)


def _parse_time(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def start_time(pod: Pod) -> float | None:
    """When the kubelet started the pod (``status.startTime``, the clock of ``activeDeadlineSeconds``)."""
    return _parse_time(_status(pod).get("startTime"))


def _condition(pod: Pod, kind: str) -> Mapping[str, Any] | None:
    for item in _status(pod).get("conditions") or []:
        if item.get("type") == kind:
            found: Mapping[str, Any] = item
            return found
    return None


def _containers(pod: Pod) -> list[tuple[str, str]]:
    """(kind, name) of every container in spec order: init, then regular."""
    spec = pod.get("spec") or {}
    found = []
    for item in spec.get("initContainers") or []:
        kind = "sidecar" if item.get("restartPolicy") == "Always" else "init"
        found.append((kind, str(item.get("name"))))
    found.extend(("container", str(item.get("name"))) for item in spec.get("containers") or [])
    return found


# -- startup ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartupDecision:
    """What to do after observing a pod during startup.

    ``kind``: ``wait`` (keep watching), ``started`` (the main container runs or ran), ``failed`` (give up:
    ``reason`` is a Kubernetes reason or ``ScheduleTimeout``/``StartupTimeout``, ``message`` says why).
    ``waiting`` describes what the pod is waiting for, for a status line.
    """

    kind: str
    reason: str = ""
    message: str = ""
    waiting: str = ""


@dataclass
class StartupTracker:
    """Sans-I/O start-up state machine: :meth:`observe` each version of the pod with the current time.

    - Scheduling may take ``schedule_timeout`` seconds from the first observation (capacity: node
      scale-up); the condition's message (e.g. FailedScheduling's) explains a timeout.
    - Once scheduled, the main container must start within ``startup_timeout`` seconds; image pulls and
      other TRANSIENT waits spend that budget.
    - FATAL waiting reasons fail at once, FATAL_AFTER_GRACE ones after ``config_error_grace`` seconds;
      an init container that failed for good fails the start.
    - A timeout of 0 means no limit (the task's ``execution_timeout`` still applies).
    """

    main: str
    schedule_timeout: float = 120.0
    startup_timeout: float = 120.0
    config_error_grace: float = 30.0
    _first_seen: float | None = None
    _scheduled_at: float | None = None
    _reason_since: dict[tuple[str, str], float] = field(default_factory=dict)

    def observe(self, pod: Pod, now: float) -> StartupDecision:
        if self._first_seen is None:
            self._first_seen = now
        if main_container_started(pod, self.main):
            return StartupDecision("started")
        # Before is_finished: with restartPolicy Never the pod is Failed at the same time.
        failed_init = _failed_init_container(pod)
        if failed_init is not None:
            return failed_init
        if is_finished(pod):
            return StartupDecision("started")

        scheduled = _condition(pod, "PodScheduled")
        is_scheduled = bool((pod.get("spec") or {}).get("nodeName")) or (
            scheduled is not None and scheduled.get("status") == "True"
        )
        if not is_scheduled:
            waited = now - self._first_seen
            why = ""
            if scheduled is not None and scheduled.get("status") == "False":
                why = (
                    f"{scheduled.get('reason') or 'Unschedulable'}: {scheduled.get('message') or ''}".strip()
                )
            if _exceeded(waited, self.schedule_timeout):
                return StartupDecision(
                    "failed",
                    "ScheduleTimeout",
                    f"the pod was not scheduled within {self.schedule_timeout:g}s"
                    + (f" ({why})" if why else ""),
                )
            return StartupDecision("wait", waiting=why or "waiting to be scheduled")
        if self._scheduled_at is None:
            self._scheduled_at = now

        waiting = _waiting_containers(pod)
        seen = set()
        for kind, name, reason, message in waiting:
            key = (name, reason)
            seen.add(key)
            since = self._reason_since.setdefault(key, now)
            verdict = WAITING_REASONS.get(reason, WaitingClass.TRANSIENT)
            label = f"{'init container' if kind != 'container' else 'container'} {name!r}: {reason}"
            if verdict is WaitingClass.FATAL:
                return StartupDecision("failed", reason, f"{label}" + (f": {message}" if message else ""))
            if verdict is WaitingClass.FATAL_AFTER_GRACE and now - since >= self.config_error_grace:
                return StartupDecision(
                    "failed",
                    reason,
                    f"{label} for {now - since:.0f}s" + (f": {message}" if message else ""),
                )
        for key in list(self._reason_since):
            if key not in seen:
                del self._reason_since[key]

        description = "; ".join(
            f"{name}: {reason}" + (f" ({message})" if message else "") for _, name, reason, message in waiting
        )
        if _exceeded(now - self._scheduled_at, self.startup_timeout):
            return StartupDecision(
                "failed",
                "StartupTimeout",
                f"the main container {self.main!r} did not start within {self.startup_timeout:g}s of the pod "
                f"being scheduled" + (f"; waiting: {description}" if description else ""),
            )
        return StartupDecision("wait", waiting=description or f"phase {phase(pod)}")


def _exceeded(waited: float, limit: float) -> bool:
    """Whether ``waited`` seconds went past ``limit``; a limit of 0 (or less) is no limit."""
    return limit > 0 and waited > limit


def _waiting_containers(pod: Pod) -> list[tuple[str, str, str, str]]:
    """(kind, name, reason, message) of each container reported as waiting, in spec order."""
    found = []
    for kind, name in _containers(pod):
        state_kind, state = _state(container_status(pod, name))
        if state_kind == "waiting" and state.get("reason"):
            found.append((kind, name, str(state["reason"]), str(state.get("message") or "")))
    return found


def _failed_init_container(pod: Pod) -> StartupDecision | None:
    restart = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    for kind, name in _containers(pod):
        if kind != "init":
            continue
        state_kind, state = _state(container_status(pod, name))
        if state_kind == "terminated" and state.get("exitCode") not in (0, None) and restart == "Never":
            reason = str(state.get("reason") or "Error")
            message = f"init container {name!r} failed with exit code {state.get('exitCode')} ({reason})"
            if state.get("message"):
                message += f": {str(state['message']).strip()}"
            return StartupDecision("failed", "InitContainerFailed", message)
    return None


# -- crash loops -----------------------------------------------------------------------------------------

#: Restarts after failures of the main container that end the task whatever the time (see CrashLoopTracker).
CRASH_LOOP_MAX_RESTARTS = 10


def last_failed_exit(pod: Pod, main: str) -> int | None:
    """The exit code of the main container's latest failed run (current or last state), if any."""
    status = container_status(pod, main) or {}
    for state in (
        (status.get("state") or {}).get("terminated"),
        (status.get("lastState") or {}).get("terminated"),
    ):
        if state and state.get("exitCode") not in (0, None):
            return int(state["exitCode"])
    return None


@dataclass
class CrashLoopTracker:
    """Sans-I/O crash-loop rule for a main container the kubelet restarts (``restartPolicy: OnFailure``).

    :meth:`observe` each version of the pod with the current time; it returns None (keep waiting) or the
    message to fail the task with. The main container is in a crash loop, and the task fails, when it has
    failed and been restarted

    - :data:`CRASH_LOOP_MAX_RESTARTS` times (whatever the time it took), or
    - at least once, is not running now (waiting to be restarted, e.g. CrashLoopBackOff), and its first
      failure was more than ``startup_timeout`` seconds ago: restarts count against the start-up window.
      A run that is going on is never cut short by this, so a job that fails once and then runs long
      succeeds. ``startup_timeout`` 0: only the restart budget applies.
    """

    main: str
    startup_timeout: float = 120.0
    max_restarts: int = CRASH_LOOP_MAX_RESTARTS
    _first_failure: float | None = None
    _restarts: int = 0

    def observe(self, pod: Pod, now: float) -> str | None:
        status = container_status(pod, self.main) or {}
        restarts = int(status.get("restartCount") or 0)
        exit_code = last_failed_exit(pod, self.main)
        if exit_code is None and not restarts:
            return None
        if self._first_failure is None:
            self._first_failure = now
        self._restarts = restarts
        kind, state = _state(status)
        if restarts >= self.max_restarts:
            why = f"it failed and was restarted {restarts} times"
        elif kind != "running" and _exceeded(now - self._first_failure, self.startup_timeout):
            why = (
                f"it failed and was restarted {restarts} time{'s' if restarts != 1 else ''} and was still not "
                f"running {now - self._first_failure:.0f}s after its first failure (startup_timeout_seconds="
                f"{self.startup_timeout:g})"
            )
        else:
            return None
        waiting = f", now {state.get('reason')}" if kind == "waiting" and state.get("reason") else ""
        return (
            f"container {self.main!r} is in a crash loop: {why}; last exit code {exit_code}{waiting} "
            f"(restartPolicy {(pod.get('spec') or {}).get('restartPolicy') or 'Always'})"
        )

    def status_line(self, pod: Pod) -> str:
        """What the main container is doing, for a status line while it is restarted."""
        status = container_status(pod, self.main) or {}
        kind, state = _state(status)
        what = kind + (f" ({state.get('reason')})" if state.get("reason") else "")
        return (
            f"container {self.main!r} failed with exit code {last_failed_exit(pod, self.main)} and is restarted "
            f"by the kubelet (restart {int(status.get('restartCount') or 0)}, now {what})"
        )


def restarted_success(pod: Pod, main: str) -> str | None:
    """For a main container that succeeded after restarts: one line naming them and the earlier exit code."""
    status = container_status(pod, main) or {}
    restarts = int(status.get("restartCount") or 0)
    if not restarts:
        return None
    earlier = ((status.get("lastState") or {}).get("terminated") or {}).get("exitCode")
    return (
        f"container {main!r} succeeded after {restarts} restart{'s' if restarts != 1 else ''} "
        f"(restartPolicy {(pod.get('spec') or {}).get('restartPolicy') or 'Always'}); "
        f"its earlier run exited with code {earlier}"
    )


# -- events ----------------------------------------------------------------------------------------------


def event_is_warning(event: Mapping[str, Any]) -> bool:
    return event.get("type") == "Warning"


def event_about(event: Mapping[str, Any], uid: str | None) -> bool:
    """The event is about the pod ``uid``, not an earlier pod of the same name (an unknown uid matches)."""
    other = (event.get("involvedObject") or {}).get("uid")
    return not (uid and other and other != uid)


def started_in_events(events: Sequence[Mapping[str, Any]], main: str, uid: str | None = None) -> bool:
    """Whether the kubelet reported container ``main`` started (its ``Started`` event). The events outlive
    the pod: a pod deleted before any of its states showed the container running may still have said so
    here. Events of another pod of the same name (another ``uid``) do not count."""
    return any(
        event.get("reason") == "Started"
        and (event.get("involvedObject") or {}).get("fieldPath") == f"spec.containers{{{main}}}"
        and event_about(event, uid)
        for event in events
    )


def format_event(event: Mapping[str, Any]) -> str:
    """One line for an Event: ``Reason: message (xN, from component, on container c)``."""
    details = []
    count = event.get("count") or (event.get("series") or {}).get("count")
    if count and int(count) > 1:
        details.append(f"x{count}")
    source = (event.get("source") or {}).get("component") or event.get("reportingComponent")
    if source:
        details.append(f"from {source}")
    field_path = (event.get("involvedObject") or {}).get("fieldPath") or ""
    if field_path.startswith(("spec.containers{", "spec.initContainers{")):
        details.append(f"on {field_path.split('{', 1)[1].rstrip('}')}")
    text = f"{event.get('reason', '')}: {str(event.get('message', '')).strip()}"
    return f"{text} ({', '.join(details)})" if details else text


def event_time(event: Mapping[str, Any], *, first: bool = False) -> float:
    """When the event last happened (``first``: when it first did), in seconds; 0.0 if it says nothing."""
    keys = (
        ("firstTimestamp", "eventTime", "lastTimestamp")
        if first
        else ("lastTimestamp", "eventTime", "firstTimestamp")
    )
    for key in keys:
        value = _parse_time(event.get(key))
        if value is not None:
            return value
    return _parse_time((event.get("metadata") or {}).get("creationTimestamp")) or 0.0


# -- verdict ---------------------------------------------------------------------------------------------


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    SKIP = "skip"


@dataclass(frozen=True)
class ContainerRecord:
    name: str
    kind: str  # init, sidecar, container
    state: str  # waiting, running, terminated, unknown
    reason: str = ""
    exit_code: int | None = None
    signal: int | None = None
    message: str = ""
    restart_count: int = 0

    def describe(self) -> str:
        text = f"{self.kind} {self.name!r}: {self.state}"
        if self.state == "terminated":
            text += f" with exit code {self.exit_code}"
            if self.signal:
                text += f" (signal {self.signal})"
        if self.reason:
            text += f", reason {self.reason}"
        if self.restart_count:
            text += f", restarted {self.restart_count} time(s)"
        if self.message:
            text += f", message: {self.message.strip()}"
        return text


@dataclass(frozen=True)
class FailureRecord:
    """What happened to a pod, in Kubernetes terms: put into the error, the task log and XCom."""

    pod: str
    namespace: str
    phase: str
    reason: str
    message: str
    node: str
    containers: tuple[ContainerRecord, ...]
    warnings: tuple[str, ...]
    oom_killed: bool = False
    deleted: bool = False
    #: The container that decides the task ("" when unknown: then the first regular container).
    main: str = ""
    #: Why the pod was stopped (deleted, evicted or otherwise disrupted, past its deadline) before its main
    #: container ended on its own; "" when it was not (or the main container ended first).
    stopped: str = ""

    def render(self) -> str:
        lines = [
            f"pod: {self.namespace}/{self.pod}",
            f"phase: {self.phase}" + (" (deleted)" if self.deleted else ""),
        ]
        if self.reason:
            lines.append(f"reason: {self.reason}")
        if self.message:
            lines.append(f"message: {self.message}")
        if self.node:
            lines.append(f"node: {self.node}")
        if self.oom_killed:
            lines.append("out of memory: a container was OOMKilled (raise its memory limit)")
        lines.extend(f"  {c.describe()}" for c in self.containers)
        if self.warnings:
            lines.append("last warning events:")
            lines.extend(f"  {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pod": self.pod,
            "namespace": self.namespace,
            "phase": self.phase,
            "reason": self.reason,
            "message": self.message,
            "node": self.node,
            "oom_killed": self.oom_killed,
            "deleted": self.deleted,
            "main": self.main,
            "stopped": self.stopped,
            "containers": [c.__dict__ for c in self.containers],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailureRecord:
        """The inverse of :meth:`to_dict` (for the trigger's event)."""
        return cls(
            pod=str(data.get("pod") or ""),
            namespace=str(data.get("namespace") or ""),
            phase=str(data.get("phase") or ""),
            reason=str(data.get("reason") or ""),
            message=str(data.get("message") or ""),
            node=str(data.get("node") or ""),
            containers=tuple(ContainerRecord(**dict(c)) for c in data.get("containers") or ()),
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
            oom_killed=bool(data.get("oom_killed")),
            deleted=bool(data.get("deleted")),
            main=str(data.get("main") or ""),
            stopped=str(data.get("stopped") or ""),
        )

    def main_container(self) -> ContainerRecord | None:
        """The record of the container that decides the task (``main``, else the first regular one)."""
        regular = [c for c in self.containers if c.kind == "container"]
        for item in regular:
            if item.name == self.main:
                return item
        return regular[0] if regular and not self.main else None


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    #: One line: what decided the outcome.
    summary: str
    exit_code: int | None = None
    record: FailureRecord | None = None
    #: Why the start failed (``ImagePullBackOff``, ``Unschedulable``, ...), when the main container never
    #: started; empty for a verdict on a pod that ran.
    startup_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (the trigger's event carries it)."""
        return {
            "outcome": self.outcome.value,
            "summary": self.summary,
            "exit_code": self.exit_code,
            "record": self.record.to_dict() if self.record is not None else None,
            "startup_reason": self.startup_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        record = data.get("record")
        code = data.get("exit_code")
        return cls(
            outcome=Outcome(data["outcome"]),
            summary=str(data.get("summary") or ""),
            exit_code=int(code) if code is not None else None,
            record=FailureRecord.from_dict(record) if record else None,
            startup_reason=str(data.get("startup_reason") or ""),
        )


def failure_record(
    pod: Pod,
    events: Sequence[Mapping[str, Any]] = (),
    *,
    reason: str = "",
    message: str = "",
    deleted: bool = False,
    max_warnings: int = 5,
    main: str = "",
    stopped: str = "",
) -> FailureRecord:
    """Describe ``pod`` (its last known state), with the last ``max_warnings`` Warning events."""
    meta = pod.get("metadata") or {}
    status = _status(pod)
    containers = []
    oom = False
    for kind, name in _containers(pod):
        item = container_status(pod, name)
        state_kind, state = _state(item)
        if state_kind == "terminated" and state.get("reason") == "OOMKilled":
            oom = True
        code = state.get("exitCode")
        containers.append(
            ContainerRecord(
                name=name,
                kind=kind,
                state=state_kind,
                reason=str(state.get("reason") or ""),
                exit_code=int(code) if code is not None else None,
                signal=state.get("signal"),
                message=str(state.get("message") or ""),
                restart_count=int((item or {}).get("restartCount") or 0),
            )
        )
    warnings = sorted((e for e in events if event_is_warning(e)), key=event_time)[-max_warnings:]
    return FailureRecord(
        pod=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        phase=phase(pod),
        reason=reason or str(status.get("reason") or ""),
        message=message or str(status.get("message") or ""),
        node=str((pod.get("spec") or {}).get("nodeName") or ""),
        containers=tuple(containers),
        warnings=tuple(format_event(e) for e in warnings),
        oom_killed=oom,
        deleted=deleted,
        main=main,
        stopped=stopped,
    )


def _stopped(pod: Pod) -> tuple[float, str] | None:
    """When and why the pod was told to stop (deleted, evicted or otherwise disrupted, past its
    activeDeadlineSeconds), or None. The earliest of these counts."""
    found: list[tuple[float, str]] = []
    status = _status(pod)
    pod_reason = str(status.get("reason") or "")
    pod_why = pod_reason + (f": {str(status.get('message')).strip()}" if status.get("message") else "")
    meta = pod.get("metadata") or {}
    deleted_at = _parse_time(meta.get("deletionTimestamp"))
    if deleted_at is not None:
        # During the grace period and after the kubelet's final delete alike, the timestamp minus the grace
        # period is when the deletion was requested.
        grace = float(meta.get("deletionGracePeriodSeconds") or 0)
        found.append((deleted_at - grace, "the pod was deleted"))
    disruption = _condition(pod, "DisruptionTarget")
    if disruption is not None and disruption.get("status") == "True":
        at = _parse_time(disruption.get("lastTransitionTime"))
        if at is not None:
            why = (
                pod_why
                or f"{disruption.get('reason') or 'DisruptionTarget'}: {disruption.get('message') or ''}"
            )
            found.append((at, why.strip().rstrip(":")))
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    started = _parse_time(status.get("startTime"))
    if pod_reason == "DeadlineExceeded" and deadline and started is not None:
        found.append((started + float(deadline), pod_why))
    return min(found) if found else None


def decide(
    pod: Pod,
    *,
    main: str,
    events: Sequence[Mapping[str, Any]] = (),
    skip_on_exit_code: Container[int] = (),
    deleted: bool = False,
) -> Verdict:
    """The task's outcome from the final pod (its last known state when ``deleted``).

    The main container decides: its exit code 0 is success whatever sidecars do; an exit code listed in
    ``skip_on_exit_code`` is a skip (0 included, as upstream); anything else, a pod that failed before the
    main container ran (eviction, deadline, failed init container, lost node) and a pod deleted before it
    finished, are failures. An exit code 0 that came only after the pod was told to stop (deleted, evicted,
    past ``activeDeadlineSeconds``: a container that exits 0 on SIGTERM) is a failure too.
    """

    def record(**kwargs: Any) -> FailureRecord:
        return failure_record(pod, events, main=main, **kwargs)

    kind, state = _state(container_status(pod, main))
    if kind == "terminated":
        code = state.get("exitCode")
        exit_code = int(code) if code is not None else None
        stopped = _stopped(pod)
        finished_at = _parse_time(state.get("finishedAt"))
        # Stopped before it ended on its own: its end (whatever the exit code) came after the stop.
        cut = (
            stopped[1]
            if stopped is not None and finished_at is not None and finished_at >= stopped[0]
            else ""
        )
        if exit_code == 0 and cut:
            # It exited 0 on SIGTERM: it was stopped, it did not finish.
            summary = (
                f"container {main!r} exited with 0, but only after the pod was stopped ({cut}): "
                "its work may not be finished"
            )
            return Verdict(Outcome.FAILURE, summary, 0, record(deleted=deleted, stopped=cut))
        if exit_code is not None and exit_code in skip_on_exit_code:
            return Verdict(
                Outcome.SKIP,
                f"container {main!r} exited with {exit_code}, listed in skip_on_exit_code",
                exit_code,
            )
        if exit_code == 0:
            return Verdict(Outcome.SUCCESS, f"container {main!r} exited with 0", 0)
        reason = str(state.get("reason") or "Error")
        summary = f"container {main!r} terminated with exit code {exit_code} ({reason})"
        if reason == "OOMKilled":
            summary = (
                f"container {main!r} was killed for using too much memory (OOMKilled, exit code {exit_code})"
            )
        elif reason == "StartError" or exit_code == 128:
            summary = f"container {main!r} could not start ({reason}, exit code {exit_code})"
        message = str(state.get("message") or "").strip()
        if message:
            summary += f": {message.splitlines()[-1][:300]}"
        pod_reason = str(_status(pod).get("reason") or "")
        if pod_reason:
            pod_message = str(_status(pod).get("message") or "").strip()
            summary += f"; the pod {phase(pod).lower()}: {pod_reason}" + (
                f": {pod_message}" if pod_message else ""
            )
            summary += _deadline_note(pod, pod_reason)
        if deleted:
            summary += "; the pod has since been deleted"
        return Verdict(Outcome.FAILURE, summary, exit_code, record(deleted=deleted, stopped=cut))

    if phase(pod) == "Succeeded":
        return Verdict(Outcome.SUCCESS, "the pod succeeded")
    status = _status(pod)
    # The main container did not end: whatever stopped the pod (if anything did) stopped it first.
    stop = _stopped(pod)
    cut = stop[1] if stop is not None else ("the pod was deleted" if deleted else "")
    if deleted:
        uid = (pod.get("metadata") or {}).get("uid")
        if kind in ("waiting", "unknown") and started_in_events(events, main, uid):
            # No state seen showed it running, but the kubelet's event did: it was deleted after it started.
            summary = (
                f"the pod was deleted after container {main!r} started (its Started event says so; the "
                f"last state read was phase {phase(pod)}): somebody or something else deleted it"
            )
        else:
            summary = (
                f"the pod was deleted while container {main!r} was {kind}"
                f" (phase {phase(pod)}): somebody or something else deleted it"
            )
        return Verdict(Outcome.FAILURE, summary, None, record(reason="Deleted", deleted=True, stopped=cut))
    if node_lost(pod):
        target = _condition(pod, "DisruptionTarget") or {}
        summary = "the pod's node stopped reporting; Kubernetes is evicting the pod (DeletionByTaintManager)"
        if target.get("message"):
            summary += f": {target['message']}"
        return Verdict(Outcome.FAILURE, summary, None, record(reason="NodeLost", stopped=cut))
    if phase(pod) == "Unknown":
        summary = "the pod's node stopped reporting (phase Unknown)"
        if status.get("message"):
            summary += f": {status['message']}"
        return Verdict(Outcome.FAILURE, summary, None, record(stopped=cut))
    init = _failed_init_container(pod)
    if init is not None:
        return Verdict(Outcome.FAILURE, init.message, None, record(reason=init.reason, stopped=cut))
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "").strip()
    summary = f"the pod {phase(pod).lower()} before container {main!r} finished"
    if reason:
        summary += f" ({reason}" + (f": {message}" if message else "") + _deadline_note(pod, reason) + ")"
    return Verdict(Outcome.FAILURE, summary, None, record(stopped=cut))


def _deadline_note(pod: Pod, reason: str) -> str:
    """For a pod stopped by its ``activeDeadlineSeconds``: which deadline, and where it came from."""
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    if reason != "DeadlineExceeded" or not deadline:
        return ""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if annotations.get(ACTIVE_DEADLINE_SOURCE_ANNOTATION) == "execution_timeout":
        return (
            f" (activeDeadlineSeconds={deadline}, set from the task's execution_timeout plus a margin "
            "because active_deadline_seconds was not given)"
        )
    return f" (activeDeadlineSeconds={deadline})"


# -- infrastructure failures -------------------------------------------------------------------------------

#: Pod reasons (``status.reason``, or the record's own) that say the infrastructure ended the pod, with how
#: the task log says it. A pod that failed for one of these before its main container ended on its own may
#: be created again for the same try (``pod_recreate_attempts``).
LOST_POD_REASONS: dict[str, str] = {
    "Evicted": "evicted by the kubelet",
    "Preempting": "preempted by a pod of higher priority",
    "NodeLost": "its node was lost",
    "Deleted": "deleted by someone else",
    "Shutdown": "its node shut down",
    "NodeShutdown": "its node shut down",
    "Terminated": "its node shut down",
    "UnexpectedAdmissionError": "refused by its node's kubelet at admission",
    "OutOfcpu": "refused by its node's kubelet at admission (out of cpu)",
    "OutOfmemory": "refused by its node's kubelet at admission (out of memory)",
    "OutOfpods": "refused by its node's kubelet at admission (too many pods)",
    "OutOfephemeral-storage": "refused by its node's kubelet at admission (out of ephemeral storage)",
}

#: Text of an image pull error that says the registry failed for a while (retrying later may work).
TRANSIENT_PULL_ERRORS = (
    "429 Too Many Requests",
    "toomanyrequests",
    "500 Internal Server Error",
    "502 Bad Gateway",
    "503 Service Unavailable",
    "504 Gateway Timeout",
    "i/o timeout",
    "connection refused",
    "connection reset by peer",
    "TLS handshake timeout",
    "context deadline exceeded",
    "Client.Timeout exceeded",
    "temporary failure in name resolution",
    "unexpected EOF",
)
#: Text of an image pull error that says the image or the credentials are wrong: the user must act.
PERMANENT_PULL_ERRORS = (
    "not found",
    "manifest unknown",
    "unauthorized",
    "authentication required",
    "access denied",
    "denied:",
    "invalid reference format",
    "no match for platform",
    "no such host",
    "401 Unauthorized",
    "403 Forbidden",
)
_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "RegistryUnavailable")
#: Record reasons that are the task's own limits or code, whatever else happened to the pod.
_NEVER_LOST = frozenset({"DeadlineExceeded", "Timeout", "CrashLoop", "InitContainerFailed"})


@dataclass(frozen=True)
class InfrastructureLoss:
    """The pod was lost to the infrastructure, not to the task's code: ``kind`` names how (a key of
    :data:`LOST_POD_REASONS`, or ``ImagePull``), ``message`` says it in one line for the task log."""

    kind: str
    message: str


def infrastructure_loss(record: FailureRecord | None) -> InfrastructureLoss | None:
    """Whether a failed pod was lost to the infrastructure before its main container ended on its own
    (pure; the failure record of :func:`decide` or of a failed start). None: the failure is the task's.

    Lost: evicted or preempted, its node lost or shut down, refused at admission, deleted by someone else,
    or a start that ran out of time pulling an image because the registry failed (rate limit, 5xx,
    timeouts). Never lost: a main container that ended on its own (any exit code), an OOMKilled container,
    ``activeDeadlineSeconds`` or ``execution_timeout``, a crash loop, a failed init container, a bad image
    name, a missing image or refused credentials, a configuration error, a pod that could not be scheduled.
    """
    if record is None or record.oom_killed:
        return None
    main = record.main_container()
    if main is not None and main.state == "terminated" and not record.stopped:
        return None  # it ended on its own: its exit code is the task's
    reason = record.reason
    if reason in _NEVER_LOST:
        return None
    if reason == "StartupTimeout":
        return _pull_loss(record)
    kind = reason if reason in LOST_POD_REASONS else ""
    if not kind and record.phase == "Unknown":
        kind = "NodeLost"
    if not kind and record.deleted:
        kind = "Deleted"
    if not kind:
        return None
    detail = record.message or (record.stopped if kind != "Deleted" else "")
    message = f"{LOST_POD_REASONS[kind]} ({kind}" + (f": {detail.strip()}" if detail.strip() else "") + ")"
    return InfrastructureLoss(kind, message)


def _pull_loss(record: FailureRecord) -> InfrastructureLoss | None:
    """A start that timed out on image pulls: lost when the pull errors seen are transient only."""
    pulling = [c for c in record.containers if c.state == "waiting" and c.reason in _PULL_REASONS]
    if not pulling:
        return None
    errors = [c.message for c in pulling] + [w for w in record.warnings if "pull" in w.lower()]
    text = "\n".join(errors).lower()
    if any(marker.lower() in text for marker in PERMANENT_PULL_ERRORS):
        return None
    transient = next((m for m in TRANSIENT_PULL_ERRORS if m.lower() in text), None)
    if transient is None:
        return None
    names = ", ".join(f"{c.name!r}" for c in pulling)
    return InfrastructureLoss(
        "ImagePull", f"the image registry failed while pulling for {names} (ImagePull: {transient})"
    )
