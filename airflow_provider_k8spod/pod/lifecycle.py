"""The pod lifecycle, written once: create or adopt, wait for the start, follow logs, wait for completion,
read the XCom result, decide, clean up.

It is async (``kubernetes_asyncio`` through :class:`~airflow_provider_k8spod.hooks.kubernetes.AsyncKubernetesHook`):
the non-deferrable operator runs it with ``asyncio.run`` on the worker, the deferrable trigger on the
triggerer's loop. Every decision is delegated to the pure modules (:mod:`.status`, :mod:`.logs`,
:mod:`.xcom`); this module only sequences I/O.

Principles:

- Completion is observed from the pod's status through one watch (resumed from its resourceVersion,
  relisted after 410), never from a log stream and never by polling: the number of API requests for a pod
  does not grow with how long it runs.
- Logs are best effort and resumable: a dropped stream is resumed with ``sinceTime`` and the cursor drops
  what was already delivered, so no line is lost or repeated. Following ends when the container has
  terminated and the stream drained, within ``drain_timeout``.
- The main container decides; sidecars (the XCom sidecar, a proxy, a user's) never keep the task waiting.
- Cleanup runs on every path and never replaces the original error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_k8spod.exceptions import (
    AlreadyExistsError,
    ApiUnavailableError,
    BadRequestError,
    ExecError,
    ExpiredError,
    ForbiddenError,
    KubernetesApiError,
    NotFoundError,
    PodAdoptionError,
    XComResultError,
)
from airflow_provider_k8spod.hooks.retry import DEFAULT_POLICY, worth_retrying
from airflow_provider_k8spod.pod import status as st
from airflow_provider_k8spod.pod.identity import (
    ANNOTATION_PREFIX,
    RECREATE_ANNOTATION,
    TaskIdentity,
    is_managed,
    pod_recreate_attempt,
    pod_task_identity,
    pod_try_number,
    recreated_pod_name,
    task_instance_selector,
)
from airflow_provider_k8spod.pod.logs import (
    LogCursor,
    LogLine,
    LogSplitter,
    ResumePolicy,
    format_line,
    line_level,
    missing_range,
    read_after_follow,
    unread_when_gone,
)
from airflow_provider_k8spod.pod.report import PodReport, pod_report
from airflow_provider_k8spod.pod.spec import main_container_name
from airflow_provider_k8spod.pod.xcom import (
    DEFAULT_MAX_XCOM_SIZE,
    NO_RESULT,
    XCOM_READ_COMMAND,
    XCOM_SIDECAR_NAME,
    XCOM_SIDECAR_STOP_COMMAND,
    LogResultCollector,
    parse_termination_message,
    parse_xcom_result,
    pod_xcom_marker,
    read_failure,
)

__all__ = [
    "LifecycleObserver",
    "LifecycleResult",
    "LifecycleSettings",
    "PodHandle",
    "PodLifecycle",
    "PodWatcher",
    "cleanup_action",
    "newest_first",
    "task_pods_selector",
]

#: Upstream's label on a pod whose outcome a task already took: such a pod is never adopted again.
CHECKED_LABEL = "already_checked"

#: Where a follower that stops (a triggerer shutting down) leaves the log cursors for the next one.
LOG_CURSOR_ANNOTATION = f"{ANNOTATION_PREFIX}log-cursor"

ON_FINISH_ACTIONS = ("delete_pod", "delete_succeeded_pod", "delete_active_pod", "keep_pod")


@dataclass(frozen=True)
class LifecycleSettings:
    """Everything the lifecycle needs besides the pod; plain data (the trigger will carry it)."""

    schedule_timeout: float = 120.0
    startup_timeout: float = 120.0
    #: How long CreateContainerConfigError & co. may last before the start is given up.
    config_error_grace: float = 30.0
    get_logs: bool = True
    #: Containers to follow: names, or True for all but the XCom sidecar; empty: the main container.
    container_logs: tuple[str, ...] | bool = ()
    init_container_logs: tuple[str, ...] | bool = ()
    log_prefix: bool = True
    log_events: bool = True
    do_xcom_push: bool = False
    max_xcom_size: int = DEFAULT_MAX_XCOM_SIZE
    #: How the result comes back: ``sidecar`` (exec), ``termination_message`` or ``logs``.
    xcom_transport: str = "sidecar"
    skip_on_exit_code: tuple[int, ...] = ()
    on_finish_action: str = "delete_pod"
    termination_grace_period: int | None = None
    #: Adopt a still-running pod of an earlier try of this task instead of creating another.
    durable: bool = True
    #: After a container terminated, how long its log stream may take to end before it is cut short.
    drain_timeout: float = 30.0
    #: How long reading the rest of an ended container's log may go without delivering a line before it
    #: gives up (and says which lines are missing); each read that delivers lines starts it over.
    log_stall_timeout: float = 60.0
    #: How long to wait for the XCom sidecar to be running once the main container finished.
    sidecar_timeout: float = 120.0
    #: Server-side timeout of each watch request (the watch is resumed after it).
    watch_timeout: int = 3600
    #: Interval of the status line while waiting for the start (it is also logged on every change).
    status_interval: float = 30.0
    #: How long to wait, after the main container ended, for the pod's final phase (and its reason).
    settle_timeout: float = 5.0
    #: How long cleanup keeps trying to delete the pod through transient API errors (429, 5xx, cut
    #: connections), the retries of each call included.
    cleanup_timeout: float = 60.0
    #: Seconds between two reads of the pod when ``watch`` is forbidden (``poll_interval``).
    poll_interval: float = 2.0
    #: Seconds between checks of the start-up deadlines when nothing changes (``startup_check_interval``).
    startup_check_interval: float = 1.0
    #: A result larger than this (bytes) is left in the sidecar for the driver to read later (the trigger
    #: sets it: its event must stay small); None: always read it. When set, the sidecar is also left
    #: running after a read, for the worker to stop: Airflow runs a trigger again when its event was
    #: lost (a triggerer stopped just after the trigger fired), and the run again must read the result too.
    xcom_inline_limit: int | None = None
    #: Make the pod report at the end (:mod:`.report`; the operator's ``pod_report``).
    pod_report: bool = True
    #: How many times a pod lost to the infrastructure (:func:`.status.infrastructure_loss`) is created
    #: again for the same try (the operator's ``pod_recreate_attempts``); 0: never.
    pod_recreate_attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (the trigger's kwargs carry it)."""
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifecycleSettings:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown lifecycle settings: {', '.join(unknown)}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


@dataclass(frozen=True)
class PodHandle:
    """The pod a task follows: small and JSON-compatible, so a trigger can take it over."""

    name: str
    namespace: str
    uid: str
    #: The container whose end decides the task.
    main: str
    adopted: bool = False
    #: The pod carries this provider's managed-by annotation (a shared namespace watch follows it).
    managed: bool = False
    identity: TaskIdentity | None = None
    #: Which recreation of its try this pod is (0: the first pod; see ``pod_recreate_attempts``).
    attempt: int = 0

    @classmethod
    def of(cls, pod: Mapping[str, Any], *, adopted: bool = False) -> PodHandle:
        meta = pod.get("metadata") or {}
        return cls(
            name=str(meta["name"]),
            namespace=str(meta.get("namespace") or "default"),
            uid=str(meta.get("uid") or ""),
            main=main_container_name(pod),
            adopted=adopted,
            managed=is_managed(pod),
            identity=pod_task_identity(pod),
            attempt=pod_recreate_attempt(pod),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PodHandle:
        identity = data.get("identity")
        return cls(
            name=str(data["name"]),
            namespace=str(data["namespace"]),
            uid=str(data.get("uid") or ""),
            main=str(data.get("main") or "base"),
            adopted=bool(data.get("adopted")),
            managed=bool(data.get("managed")),
            identity=TaskIdentity(**identity) if identity else None,
            attempt=int(data.get("attempt") or 0),
        )


class LifecycleObserver(Protocol):
    """What the lifecycle tells its driver (the operator: XCom pushes, callbacks). All methods are sync
    and must be quick."""

    def pod_created(self, pod: Mapping[str, Any], *, adopted: bool) -> None: ...

    def pod_started(self, pod: Mapping[str, Any]) -> None: ...

    def pod_completed(self, pod: Mapping[str, Any]) -> None: ...

    def log_line(self, container: str, line: LogLine, pod: Mapping[str, Any] | None) -> None: ...

    def pod_cleaned_up(self, pod: Mapping[str, Any] | None, *, deleted: bool) -> None: ...


@dataclass
class LifecycleResult:
    """How a pod ended: the one channel for every outcome, start-up failures included."""

    verdict: st.Verdict
    pod: Mapping[str, Any]
    #: The parsed XCom result, or :data:`~airflow_provider_k8spod.pod.xcom.NO_RESULT`.
    xcom: Any = NO_RESULT
    xcom_error: Exception | None = None
    #: The main container started (False: the verdict is a start-up failure).
    started: bool = True
    #: Following was stopped by the task's deadline (``execution_timeout``) before the pod ended.
    timed_out: bool = False
    #: The XCom result was larger than ``xcom_inline_limit``: still in the sidecar, read it with
    #: :meth:`PodLifecycle.read_xcom` before cleaning up.
    xcom_pending: bool = False
    #: The pod report (:mod:`.report`), or None (``pod_report=False``, or no pod was seen).
    report: PodReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (the trigger's event carries it)."""
        return {
            "verdict": self.verdict.to_dict(),
            "pod": _compact_pod(self.pod),
            "xcom": None if self.xcom is NO_RESULT else self.xcom,
            "has_xcom": self.xcom is not NO_RESULT,
            "xcom_error": str(self.xcom_error) if self.xcom_error is not None else None,
            "started": self.started,
            "timed_out": self.timed_out,
            "xcom_pending": self.xcom_pending,
            "report": self.report.to_dict() if self.report is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifecycleResult:
        error = data.get("xcom_error")
        return cls(
            verdict=st.Verdict.from_dict(data["verdict"]),
            pod=dict(data.get("pod") or {}),
            xcom=data.get("xcom") if data.get("has_xcom") else NO_RESULT,
            xcom_error=XComResultError(str(error)) if error is not None else None,
            started=bool(data.get("started", True)),
            timed_out=bool(data.get("timed_out")),
            xcom_pending=bool(data.get("xcom_pending")),
            report=PodReport.from_dict(data["report"]) if data.get("report") else None,
        )


def _compact_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod without ``managedFields`` (large, and of no use to the verdict or the user)."""
    compact = dict(pod)
    meta = compact.get("metadata")
    if isinstance(meta, Mapping) and "managedFields" in meta:
        compact["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return compact


def cleanup_action(
    on_finish_action: str, outcome: st.Outcome | None, main_done: bool, pod_finished: bool = True
) -> bool:
    """Whether to delete the pod at the end of the task (pure).

    A pod whose main container has not finished (start failure, timeout, kill, error) is always deleted:
    a pod that keeps running after its task gave up is an orphan. Otherwise ``on_finish_action`` decides:
    ``delete_pod`` always; ``delete_succeeded_pod`` on success; ``delete_active_pod`` when the pod is
    still active (``pod_finished`` False: e.g. a sidecar keeps it Running); ``keep_pod`` never.
    """
    if not main_done:
        return True
    if on_finish_action == "delete_pod":
        return True
    if on_finish_action == "delete_succeeded_pod":
        return outcome is st.Outcome.SUCCESS
    if on_finish_action == "delete_active_pod":
        return not pod_finished
    return False


def abandoned_pod_action(
    on_finish_action: str, pod: Mapping[str, Any], identity: TaskIdentity | None = None
) -> str | None:
    """What a later try does with a pod of an earlier try of its task instance that is not adopted (pure):
    ``"delete"``, ``"keep"`` (and label it ``already_checked``) or None (not abandoned: leave it).

    A finished pod still found by :func:`task_pods_selector` (not labelled ``already_checked``) was left
    by a try that ended before its cleanup (its worker killed while resuming, for example): nobody else
    will ever clean it up, so ``on_finish_action`` applies to it as that try's cleanup would have applied
    it. A pod still live is the adoption's business; one being deleted or of unknown phase is left as is.
    With ``identity`` (the try looking): only this provider's pods of earlier tries of that task instance
    (an upstream pod of the same task, or this try's own, is never touched).
    """
    if identity is not None:
        tried = pod_try_number(pod)
        if not _is_ours(pod, identity) or (tried is not None and tried >= identity.try_number):
            return None
    if not st.is_finished(pod) or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    outcome = st.Outcome.SUCCESS if st.phase(pod) == "Succeeded" else st.Outcome.FAILURE
    return "delete" if cleanup_action(on_finish_action, outcome, main_done=True) else "keep"


def task_pods_selector(identity: TaskIdentity, *, exclude_checked: bool = True) -> str:
    """Label selector for the pods of this task instance (any try); without those already checked (kept
    by ``on_finish_action`` at the end of a try) unless ``exclude_checked`` is False."""
    selector = task_instance_selector(identity)
    return f"{selector},{CHECKED_LABEL}!=True" if exclude_checked else selector


def newest_first(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods of one task instance, the newest first: highest try, then latest creation (pure)."""
    return sorted(
        pods,
        key=lambda p: (pod_try_number(p) or 0, (p.get("metadata") or {}).get("creationTimestamp") or ""),
        reverse=True,
    )


class PodWatcher:
    """Keeps the latest version of one pod from a single watch; others wait on it.

    Lists once, then watches from the list's resourceVersion; a watch that ends is resumed from the last
    resourceVersion seen (bookmarks keep it fresh), a 410 Gone relists. Without RBAC for ``watch`` it falls
    back to reading the pod every ``poll_interval`` seconds (with one warning).
    """

    def __init__(
        self,
        hook: Any,
        name: str,
        namespace: str,
        *,
        log: Any,
        initial: Mapping[str, Any] | None = None,
        uid: str | None = None,
        watch_timeout: int = 3600,
        poll_interval: float = 2.0,
    ) -> None:
        self.hook, self.name, self.namespace, self.log = hook, name, namespace, log
        self.uid = uid or (initial or {}).get("metadata", {}).get("uid")
        self.watch_timeout = watch_timeout
        self.poll_interval = poll_interval
        #: The latest version seen; starts as the version the pod was created (or found) with, so a pod
        #: deleted before the first list still has a last known state.
        self.pod: dict[str, Any] | None = dict(initial) if initial is not None else None
        self.deleted = False
        self.error: Exception | None = None
        self._changed = asyncio.Condition()
        #: Facts that, once true of any version seen, stay true (see :meth:`remember`).
        self._facts: dict[str, Callable[[Mapping[str, Any]], bool]] = {}
        self._seen: set[str] = set()

    def remember(self, fact: str, predicate: Callable[[Mapping[str, Any]], bool]) -> None:
        """Note whether ``predicate`` holds of any version of the pod seen from now on (and of the current
        one). Waiters only look at the latest version when they wake, and several changes (say, running,
        then deleted) can arrive before they do: what happened in between must not be lost."""
        self._facts[fact] = predicate
        if self.pod is not None and predicate(self.pod):
            self._seen.add(fact)

    def saw(self, fact: str) -> bool:
        """Whether the fact :meth:`remember`-ed under this name held of some version seen."""
        return fact in self._seen

    def _set(self, pod: Mapping[str, Any] | None, *, deleted: bool = False) -> None:
        """Record a new version of the pod (or its deletion); waiters are woken by :meth:`_wake`."""
        if pod is not None:
            uid = (pod.get("metadata") or {}).get("uid")
            if self.uid and uid and uid != self.uid:
                deleted = True  # a new pod with the same name: ours is gone
            else:
                self.pod = dict(pod)
                self.uid = self.uid or uid
                for fact, predicate in self._facts.items():
                    if fact not in self._seen and predicate(self.pod):
                        self._seen.add(fact)
        if deleted:
            self.deleted = True

    async def _wake(self, error: Exception | None = None) -> None:
        async with self._changed:
            if error is not None:
                self.error = error
            self._changed.notify_all()

    async def _update(self, pod: Mapping[str, Any] | None, *, deleted: bool = False) -> None:
        self._set(pod, deleted=deleted)
        await self._wake()

    async def run(self) -> None:
        """Watch until the pod is deleted; an error that is not transient ends the watch and is raised to
        everyone waiting on the pod (rather than leaving them waiting for a change that cannot come)."""
        try:
            await self._run()
        except Exception as exc:
            async with self._changed:
                self.error = exc
                self._changed.notify_all()
            raise

    async def _run(self) -> None:
        selector = f"metadata.name={self.name}"
        resource_version: str | None = None
        failures = 0
        while not self.deleted:
            try:
                if resource_version is None:
                    listed = await self.hook.list_pods(self.namespace, field_selector=selector)
                    if not listed:
                        await self._update(None, deleted=True)
                        return
                    await self._update(listed[0])
                    resource_version = listed.resource_version
                    if self.deleted:
                        return
                async for event in self.hook.watch_pods(
                    self.namespace,
                    resource_version=resource_version,
                    field_selector=selector,
                    timeout_seconds=self.watch_timeout,
                ):
                    resource_version = event.resource_version or resource_version
                    failures = 0
                    if event.type == "BOOKMARK":
                        continue
                    await self._update(event.object, deleted=event.type == "DELETED")
                    if self.deleted:
                        return
            except ExpiredError:
                resource_version = None
            except ForbiddenError as exc:
                if exc.verb != "watch":
                    raise
                self.log.warning(
                    "Cannot watch pods (%s); reading pod %s every %.0fs instead",
                    exc,
                    self.name,
                    self.poll_interval,
                )
                await self._poll()
                return
            except (ApiUnavailableError, KubernetesApiError) as exc:
                if not isinstance(exc, ApiUnavailableError) and exc.status not in (None, 500):
                    raise
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                self.log.warning("Watch of pod %s interrupted (%s); resuming in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)

    async def _poll(self) -> None:
        while not self.deleted:
            try:
                await self._update(await self.hook.get_pod(self.name, self.namespace))
            except NotFoundError:
                await self._update(None, deleted=True)
                return
            except ApiUnavailableError as exc:
                self.log.warning("Reading pod %s failed (%s); trying again", self.name, exc)
            await asyncio.sleep(self.poll_interval)

    async def wait_for(
        self, predicate: Callable[[Mapping[str, Any]], bool], limit: float | None = None
    ) -> dict[str, Any] | None:
        """The latest pod once ``predicate`` holds (or the pod is deleted: then its last known state)."""

        async def wait() -> dict[str, Any] | None:
            async with self._changed:
                while True:
                    if self.error is not None:
                        raise self.error
                    if self.pod is not None and (self.deleted or predicate(self.pod)):
                        return self.pod
                    if self.deleted:
                        return None
                    await self._changed.wait()

        if limit is None:
            return await wait()
        return await asyncio.wait_for(wait(), limit)

    async def changes(self) -> None:
        """Wait for the next change (or deletion); raises the watch's error if it ended on one."""
        async with self._changed:
            if self.error is None:
                await self._changed.wait()
            if self.error is not None:
                raise self.error


class PodEvents:
    """Streams a pod's Events into the task log at their real severity, each event once (a repeated event
    is mentioned again every 10 repetitions); keeps them for the failure record."""

    def __init__(self, hook: Any, name: str, namespace: str, *, log: Any, enabled: bool) -> None:
        self.hook, self.name, self.namespace, self.log, self.enabled = hook, name, namespace, log, enabled
        self.events: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, int] = {}

    def _record(self, event: Mapping[str, Any]) -> None:
        meta = event.get("metadata") or {}
        key = str(meta.get("uid") or meta.get("name") or "")
        self.events[key] = dict(event)
        count = int(event.get("count") or 1)
        previous = self._counts.get(key)
        self._counts[key] = max(count, previous or 0)
        if not self.enabled or (
            previous is not None and (count <= previous or count // 10 == previous // 10)
        ):
            return
        text = f"Pod {self.name} event: {st.format_event(event)}"
        if st.event_is_warning(event):
            self.log.warning("%s", text)
        else:
            self.log.info("%s", text)

    async def refresh(self) -> None:
        """List the events once more (before deciding, so the record has the latest warnings)."""
        with contextlib.suppress(KubernetesApiError):
            for event in await self.hook.list_pod_events(self.name, self.namespace):
                self._record(event)

    async def run(self) -> None:
        """List, then watch the pod's events until cancelled; errors only end the stream (events are an aid)."""
        resource_version: str | None = None
        while True:
            try:
                if resource_version is None:
                    listed = await self.hook.list_pod_events(self.name, self.namespace)
                    for event in listed:
                        self._record(event)
                    resource_version = listed.resource_version or "0"
                async for watch_event in self.hook.watch_pod_events(
                    self.name, self.namespace, resource_version=resource_version
                ):
                    resource_version = watch_event.resource_version or resource_version
                    if watch_event.type in ("ADDED", "MODIFIED"):
                        self._record(watch_event.object)
            except ExpiredError:
                resource_version = None
            except ApiUnavailableError as exc:
                self.log.debug("Event stream of pod %s interrupted: %s", self.name, exc)
                await asyncio.sleep(2.0)
            except KubernetesApiError as exc:
                self.log.warning("Cannot read the events of pod %s: %s", self.name, exc)
                return


class WatchSource(Protocol):
    """Makes the objects that tell the lifecycle about its pod: its state, and its events."""

    def pod_watcher(
        self,
        hook: Any,
        handle: PodHandle,
        log: Any,
        initial: Mapping[str, Any] | None,
        settings: LifecycleSettings,
    ) -> PodWatcher: ...

    def event_stream(self, hook: Any, handle: PodHandle, log: Any, enabled: bool) -> PodEvents: ...


class OwnWatches:
    """One watch of the pod and one of its events, for this lifecycle alone (the worker's driver)."""

    def pod_watcher(
        self,
        hook: Any,
        handle: PodHandle,
        log: Any,
        initial: Mapping[str, Any] | None,
        settings: LifecycleSettings,
    ) -> PodWatcher:
        return PodWatcher(
            hook,
            handle.name,
            handle.namespace,
            log=log,
            initial=initial,
            uid=handle.uid or None,
            watch_timeout=settings.watch_timeout,
            poll_interval=settings.poll_interval,
        )

    def event_stream(self, hook: Any, handle: PodHandle, log: Any, enabled: bool) -> PodEvents:
        return PodEvents(hook, handle.name, handle.namespace, log=log, enabled=enabled)


class PodLifecycle:
    """Runs one task's pod from creation to cleanup. See the module docstring."""

    def __init__(
        self,
        hook: Any,
        settings: LifecycleSettings,
        *,
        log: Any,
        observer: LifecycleObserver | None = None,
        log_formatter: Callable[[str, str], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        watches: WatchSource | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.hook = hook
        #: Where pod states and events come from: a watch of this pod (default), or a shared one.
        self.watches: WatchSource = watches or OwnWatches()
        self.handle: PodHandle | None = None
        self._events: PodEvents | None = None
        self._xcom_pending = False
        #: The XCom sidecar was left running after its result was read (see ``xcom_inline_limit``).
        self.sidecar_left = False
        #: Set by the operator (both modes) when the pod is deleted as soon as the verdict is in and nothing
        #: reads its final state (``on_finish_action="delete_pod"``, no callbacks, no subclass cleanup):
        #: the XCom sidecar is then left for the deletion to stop, instead of an exec to stop it and a
        #: wait for the pod's final phase. Cleanup stops it if the deletion fails.
        self.sidecar_stopped_by_deletion = False
        self.settings = settings
        self.log = log
        self.observer = observer
        self.log_formatter = log_formatter
        self.clock = clock
        #: ``time.time()``: ends what has not ended in the pod report.
        self.wall_clock = wall_clock
        #: Set as soon as the pod exists, for the driver's kill and interrupt paths.
        self.pod_name: str | None = None
        self.namespace: str | None = None
        self.main: str = "base"
        self.cleaned_up = False
        #: The driver is stopping the task (a kill): a pod deleted now is not lost, never recreated.
        self.stopping = False
        #: Why cleanup could not delete the pod it had to delete (the driver fails the task with it).
        self.cleanup_problem: str | None = None
        self.watcher: PodWatcher | None = None
        self._cursors: dict[str, LogCursor] = {}
        self._followers: dict[str, asyncio.Task[Any]] = {}
        #: ``xcom_transport="logs"``: takes the result's lines out of the main container's log.
        self._log_result: LogResultCollector | None = None
        #: Containers followed only for the result, whose own lines are not logged (get_logs=False & co.).
        self._quiet: set[str] = set()

    # -- create or adopt ---------------------------------------------------------------------------------

    async def create_or_adopt(
        self, request: Mapping[str, Any], identity: TaskIdentity | None, *, look: bool = True
    ) -> tuple[dict[str, Any], bool]:
        """Adopt a still-running pod of this task instance, or create the pod. Returns (pod, adopted).

        ``look=False``: do not look for pods of earlier tries (the driver already did)."""
        meta = request.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        if look and identity is not None and identity.try_number > 1:
            # Only a later try can find a pod of an earlier one (a first try's pod has a name derived from
            # its identity, so running the same try again meets it as AlreadyExists below).
            # Pods kept by an earlier try's on_finish_action are labelled already_checked: never adopted.
            # The selector is upstream's labels: keep only this provider's pods of this task instance.
            found = await self.hook.list_pods(namespace, label_selector=task_pods_selector(identity))
            for pod in found:
                await self._clean_up_abandoned(pod, identity)
            adoptable = newest_first([p for p in found if _is_live(p) and _is_ours(p, identity)])
            chosen = None
            if adoptable and self.settings.durable:
                chosen = adoptable.pop(0)
            for other in adoptable:
                name = other["metadata"]["name"]
                self.log.warning(
                    "Deleting pod %s (try %s) of this task instance: %s",
                    name,
                    pod_try_number(other),
                    "a newer pod is adopted" if chosen else "durable=False, a new pod is created",
                )
                await self.hook.delete_pod(
                    name, namespace, grace_period_seconds=self.settings.termination_grace_period
                )
            if chosen is not None:
                self.log.info(
                    "Adopting pod %s of try %s, still %s, instead of creating another one",
                    chosen["metadata"]["name"],
                    pod_try_number(chosen),
                    st.phase(chosen),
                )
                return chosen, True
        try:
            return await self.hook.create_pod(request), False
        except AlreadyExistsError:
            existing = await self.hook.get_pod(str(meta.get("name")), namespace)
            owner = pod_task_identity(existing)
            if identity is not None and (owner is None or not _same_task_instance(owner, identity)):
                raise PodAdoptionError(
                    f"pod {namespace}/{meta.get('name')} already exists and belongs to "
                    f"{_describe_identity(owner)}, not to this task; choose another 'name' or keep "
                    "random_name_suffix=True"
                ) from None
            if ((existing.get("metadata") or {}).get("labels") or {}).get(CHECKED_LABEL) == "True":
                raise PodAdoptionError(
                    f"pod {namespace}/{meta.get('name')} already exists and was kept by on_finish_action at "
                    f"the end of an earlier run of this try (label {CHECKED_LABEL}=True), so it is not "
                    f"adopted; delete it (kubectl delete pod -n {namespace} {meta.get('name')}) or clear the "
                    "task to run a new try"
                ) from None
            self.log.info(
                "Pod %s already exists (a retried create, or the same try run again); adopting it",
                meta.get("name"),
            )
            return existing, True

    async def _clean_up_abandoned(self, pod: Mapping[str, Any], identity: TaskIdentity) -> None:
        """Apply :func:`abandoned_pod_action` to a pod of an earlier try; a failure is a warning."""
        action = abandoned_pod_action(self.settings.on_finish_action, pod, identity)
        if action is None:
            return
        meta = pod.get("metadata") or {}
        name, namespace = str(meta.get("name")), str(meta.get("namespace") or "default")
        why = (
            f"pod {name} of try {pod_try_number(pod)} finished ({st.phase(pod)}), but its try ended before "
            f"cleaning it up"
        )
        try:
            if action == "delete":
                self.log.warning("Deleting %s (on_finish_action=%s)", why, self.settings.on_finish_action)
                await self.hook.delete_pod(
                    name, namespace, grace_period_seconds=self.settings.termination_grace_period
                )
            else:
                self.log.info("Keeping %s (on_finish_action=%s)", why, self.settings.on_finish_action)
                await self.hook.patch_pod_metadata(name, namespace, labels={CHECKED_LABEL: "True"})
        except (KubernetesApiError, OSError) as exc:
            self.log.warning("Could not clean up pod %s of an earlier try: %s", name, exc)

    # -- the whole run -----------------------------------------------------------------------------------

    async def start(
        self,
        request: Mapping[str, Any],
        identity: TaskIdentity | None,
        *,
        existing: tuple[Mapping[str, Any], bool] | None = None,
    ) -> tuple[PodHandle, dict[str, Any]]:
        """Create the pod (or adopt one of an earlier try); returns its handle and the pod as created.

        ``existing``: (pod, adopted) when the pod was already created or found by the driver (an
        operator subclass overriding ``get_or_create_pod``): it is followed from there."""
        if existing is not None:
            pod, adopted = dict(existing[0]), existing[1]
        else:
            pod, adopted = await self.create_or_adopt(request, identity)
        handle = PodHandle.of(pod, adopted=adopted)
        self.attach(handle)
        self._notify("pod_created", pod, adopted=adopted)
        return handle, pod

    def attach(self, handle: PodHandle) -> None:
        """Follow and clean up the pod of ``handle`` (set by :meth:`start`, or by a trigger taking over)."""
        self.handle = handle
        self.pod_name, self.namespace, self.main = handle.name, handle.namespace, handle.main

    async def run(
        self,
        request: Mapping[str, Any],
        identity: TaskIdentity | None,
        *,
        existing: tuple[Mapping[str, Any], bool] | None = None,
        clean_up: bool = True,
    ) -> LifecycleResult:
        """Start, follow and clean up, in one go (the synchronous driver). Any interruption deletes the pod.

        ``clean_up=False``: the driver cleans up itself once it has the result (an operator subclass
        overriding upstream's ``cleanup``); an interruption still deletes the pod here."""
        handle, pod = await self.start(request, identity, existing=existing)
        result: LifecycleResult | None = None
        try:
            while True:
                # A pod given without a status (a request object) is read by the watch before anything is
                # decided.
                initial = pod if (pod.get("metadata") or {}).get("uid") else None
                result = await self.follow(handle, initial=initial)
                loss = self.loss_to_recreate(result)
                if loss is None:
                    return result
                handle, pod = await self.recreate(request, identity, result, loss)
                result = None
        finally:
            if result is None or clean_up:
                last = result.pod if result is not None else (self.watcher.pod if self.watcher else None)
                await self.cleanup(last or pod, result.verdict if result is not None else None)

    # -- a pod lost to the infrastructure ------------------------------------------------------------------

    def loss_to_recreate(self, result: LifecycleResult) -> st.InfrastructureLoss | None:
        """The infrastructure loss for which the pod of ``result`` is to be created again for the same try
        (``pod_recreate_attempts`` not used up), else None."""
        loss = self.infrastructure_loss(result)
        attempt = self.handle.attempt if self.handle is not None else 0
        if loss is None or self.stopping or attempt >= self.settings.pod_recreate_attempts:
            return None
        return loss

    def infrastructure_loss(self, result: LifecycleResult) -> st.InfrastructureLoss | None:
        """How the pod of a failed ``result`` was lost to the infrastructure (None: the task failed, or
        succeeded, or its ``execution_timeout`` ended it)."""
        if result.timed_out or result.verdict.outcome is not st.Outcome.FAILURE:
            return None
        return st.infrastructure_loss(result.verdict.record)

    def recreate_exhausted(self, result: LifecycleResult) -> str | None:
        """With ``pod_recreate_attempts`` set, why a pod lost to the infrastructure was not created again
        (one line for the task's error), else None."""
        limit = self.settings.pod_recreate_attempts
        loss = self.infrastructure_loss(result) if limit > 0 else None
        if loss is None:
            return None
        return (
            f"The pod was lost to the infrastructure: {loss.message}; it is not created again: "
            f"pod_recreate_attempts={limit} are used up"
        )

    async def recreate(
        self,
        request: Mapping[str, Any],
        identity: TaskIdentity | None,
        result: LifecycleResult,
        loss: st.InfrastructureLoss,
    ) -> tuple[PodHandle, dict[str, Any]]:
        """Clean up the pod of ``result``, lost to the infrastructure, and create the next pod of the same
        try (its name ``-r<attempt>``, the same identity labels); returns its handle and the pod as created.

        The lost pod is deleted (or kept as ``on_finish_action`` says, labelled so that nothing adopts it)
        before the next pod is created, so one try never has two live pods. What was logged of it stays
        in the task log; the next pod's log starts over."""
        lost = self.handle
        if lost is None:
            raise RuntimeError("no pod to recreate")
        attempt = lost.attempt + 1
        self.log.warning(
            "Pod %s/%s was lost to the infrastructure: %s. Creating a new pod for the same try (pod recreate "
            "attempt %d of %d, pod_recreate_attempts)",
            lost.namespace,
            lost.name,
            loss.message,
            attempt,
            self.settings.pod_recreate_attempts,
        )
        await self.cleanup(result.pod, result.verdict)
        # What belongs to the lost pod: its log positions, result collector, sidecar state.
        self._cursors = {}
        self._followers = {}
        self._events = None
        self._log_result = None
        self._quiet = set()
        self._xcom_pending = False
        self.sidecar_left = False
        self.watcher = None
        self.cleaned_up = False
        meta = dict(request.get("metadata") or {})
        meta["name"] = recreated_pod_name(str(meta.get("name") or lost.name), attempt)
        meta["annotations"] = {**(meta.get("annotations") or {}), RECREATE_ANNOTATION: str(attempt)}
        pod, adopted = await self.create_or_adopt({**request, "metadata": meta}, identity, look=False)
        handle = PodHandle.of(pod, adopted=adopted)
        self.attach(handle)
        self.log.info("Created pod %s/%s in place of %s", handle.namespace, handle.name, lost.name)
        self._notify("pod_created", pod, adopted=adopted)
        return handle, pod

    async def follow(
        self,
        handle: PodHandle,
        *,
        initial: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> LifecycleResult:
        """Follow the pod of ``handle`` to its end: start-up, logs, events, completion, XCom, verdict.

        Every outcome comes back as the result, a failed start included; nothing is cleaned up here (the
        driver calls :meth:`cleanup`). ``deadline`` (``time.time()`` seconds) stops following early with a
        ``timed_out`` result. A cancellation propagates: the driver decides what it means for the pod.
        The result carries the pod report (``settings.pod_report``), made from the pod's last state now.
        """
        result = await self._follow_pod(handle, initial=initial, deadline=deadline)
        if self.settings.pod_report and result.pod:
            result.report = pod_report(result.pod, now=self.wall_clock(), events=self._known_events())
        return result

    def _known_events(self) -> list[dict[str, Any]]:
        """The pod's events received so far (none before following starts)."""
        return list(self._events.events.values()) if self._events is not None else []

    async def _follow_pod(
        self,
        handle: PodHandle,
        *,
        initial: Mapping[str, Any] | None,
        deadline: float | None,
    ) -> LifecycleResult:
        self.attach(handle)
        watcher = self.watcher = self.watches.pod_watcher(self.hook, handle, self.log, initial, self.settings)
        events = self._events = self.watches.event_stream(
            self.hook, handle, self.log, self.settings.log_events
        )
        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(watcher.run(), name="k8spod-watch")]
        tasks.append(asyncio.create_task(events.run(), name="k8spod-events"))
        try:
            if deadline is None:
                return await self._follow_to_end(watcher, events, initial)
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout_at(loop.time() + (deadline - time.time())):
                    return await self._follow_to_end(watcher, events, initial)
            except TimeoutError:
                pod = watcher.pod or dict(initial or {})
                await events.refresh()
                record = st.failure_record(
                    pod, list(events.events.values()), reason="Timeout", main=self.main
                )
                started = st.main_container_started(pod, self.main) if pod else False
                verdict = st.Verdict(
                    st.Outcome.FAILURE,
                    "the task's execution_timeout was reached while the pod was still "
                    + ("running" if started else "starting"),
                    None,
                    record,
                )
                return LifecycleResult(verdict, pod, started=started, timed_out=True)
        finally:
            for task in [*tasks, *self._followers.values()]:
                task.cancel()
            await asyncio.gather(*tasks, *self._followers.values(), return_exceptions=True)

    async def _follow_to_end(
        self, watcher: PodWatcher, events: PodEvents, initial: Mapping[str, Any] | None
    ) -> LifecycleResult:
        pod = dict(initial) if initial is not None else await watcher.wait_for(lambda p: True)
        if pod is None:
            pod = {"metadata": {"name": self.pod_name, "namespace": self.namespace}}
        self._resume_log_cursors(watcher.pod or pod)
        if self.settings.do_xcom_push and self.settings.xcom_transport == "logs":
            marker = pod_xcom_marker(watcher.pod or pod)
            if marker:
                self._log_result = LogResultCollector(marker, max_size=self.settings.max_xcom_size)
        # A pod never seen (gone before the first read) has no spec: no containers to choose from.
        seen = bool(pod.get("spec"))
        if seen:
            self._start_followers(pod, watcher, init=True)
        failure = await self._await_start(watcher, events)
        if failure is not None:
            await self._drain_followers(watcher)  # what init containers printed belongs in the log
            return LifecycleResult(failure, watcher.pod or pod, started=False)
        started = watcher.pod or pod
        self._notify("pod_started", started)
        if started.get("spec"):
            self._start_followers(started, watcher, init=False)
        elif self.settings.get_logs:
            # Its Started event says it ran, and it went before any read: so did its log.
            cursor = self._cursors.setdefault(self.main, LogCursor())
            self.log.warning("%s", unread_when_gone(self.main, cursor))
        done, crash_loop = await self._await_end(watcher)
        final = done or watcher.pod or pod
        if crash_loop is not None:
            await events.refresh()
            record = st.failure_record(
                final, list(events.events.values()), reason="CrashLoop", message=crash_loop, main=self.main
            )
            await self._drain_followers(watcher)
            return LifecycleResult(st.Verdict(st.Outcome.FAILURE, crash_loop, None, record), final)
        self._notify("pod_completed", final)
        await self._drain_followers(watcher)
        xcom, xcom_error = NO_RESULT, None
        transport = self.settings.xcom_transport
        if self.settings.do_xcom_push and transport == "sidecar" and watcher.deleted:
            # Its main container may have succeeded, but the result went with the pod: never a silent None.
            xcom_error = XComResultError(
                f"pod {self.pod_name} was deleted before its XCom result could be read from the "
                f"{XCOM_SIDECAR_NAME} container"
            )
        elif self.settings.do_xcom_push and (
            # No exec into a pod whose main container never ended (its node lost: no kubelet answers, and
            # there is no result to read).
            transport != "sidecar" or st.container_state(watcher.pod or final, self.main)[0] == "terminated"
        ):
            try:
                if transport == "termination_message":
                    xcom = parse_termination_message(watcher.pod or final, self.main)
                elif transport == "logs":
                    if self._log_result is None:
                        raise XComResultError(
                            f"pod {self.pod_name} has no XCom log marker annotation, so its result cannot be "
                            "told apart in the log (was it built with xcom_transport='logs'?)"
                        )
                    xcom = self._log_result.result(self.main)
                else:
                    xcom = await self._read_xcom(watcher)
            except XComResultError as exc:
                xcom_error = exc
        await self._settle(watcher)
        final = watcher.pod or final
        restarted = st.restarted_success(final, self.main)
        if restarted and st.container_state(final, self.main)[1].get("exitCode") == 0:
            # It succeeded in the end, but not at the first run: say so, once.
            self.log.warning("Pod %s: %s", self.pod_name, restarted)
        verdict = st.decide(
            final,
            main=self.main,
            events=list(events.events.values()),
            skip_on_exit_code=self.settings.skip_on_exit_code,
            deleted=watcher.deleted,
        )
        if verdict.outcome is st.Outcome.FAILURE:
            # The failure record names the last warnings: read what the event stream may not have yet.
            await events.refresh()
            verdict = st.decide(
                final,
                main=self.main,
                events=list(events.events.values()),
                skip_on_exit_code=self.settings.skip_on_exit_code,
                deleted=watcher.deleted,
            )
        return LifecycleResult(verdict, final, xcom, xcom_error, xcom_pending=self._xcom_pending)

    # -- where the logs were delivered up to -------------------------------------------------------------

    def log_cursors(self) -> dict[str, dict[str, int]]:
        """Each followed container's log cursor, JSON-compatible."""
        return {name: cursor.to_dict() for name, cursor in self._cursors.items() if cursor.last is not None}

    def _resume_log_cursors(self, pod: Mapping[str, Any]) -> None:
        """Continue the log where an earlier follower of this pod (a stopped triggerer) left it."""
        raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(LOG_CURSOR_ANNOTATION)
        if not raw:
            return
        try:
            saved = json.loads(raw)
            cursors = {str(k): LogCursor.from_dict(v) for k, v in (saved.get("containers") or {}).items()}
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            self.log.warning("Ignoring the saved log position of pod %s: %s", self.pod_name, exc)
            return
        self._cursors.update(cursors)
        if saved.get("graceful"):
            self.log.info("Resuming the log of pod %s where the previous follower stopped", self.pod_name)
        else:
            self.log.warning(
                "Resuming the log of pod %s from the position saved at %s: the previous follower stopped "
                "without saving its place, so lines logged after that may appear twice",
                self.pod_name,
                saved.get("at") or "?",
            )

    async def save_log_cursors(self, *, graceful: bool, active_deadline_seconds: int | None = None) -> None:
        """Keep the log cursors on the pod (an annotation), for whoever follows the pod next; in the same
        request, lower the pod's ``activeDeadlineSeconds`` when given."""
        if self.pod_name is None or self.namespace is None:
            return
        value = json.dumps(
            {
                "containers": self.log_cursors(),
                "graceful": graceful,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            separators=(",", ":"),
        )
        try:
            await self.hook.patch_pod_metadata(
                self.pod_name,
                self.namespace,
                annotations={LOG_CURSOR_ANNOTATION: value} if self.log_cursors() else None,
                active_deadline_seconds=active_deadline_seconds,
            )
        except (KubernetesApiError, OSError) as exc:
            self.log.warning("Could not save the log position on pod %s: %s", self.pod_name, exc)

    # -- start -------------------------------------------------------------------------------------------

    async def _await_start(self, watcher: PodWatcher, events: PodEvents) -> st.Verdict | None:
        """Wait until the main container started (None) or the start failed (a failure verdict)."""
        tracker = st.StartupTracker(
            self.main,
            schedule_timeout=self.settings.schedule_timeout,
            startup_timeout=self.settings.startup_timeout,
            config_error_grace=self.settings.config_error_grace,
        )
        last_status = ""
        last_status_at = 0.0
        watcher.remember("main-started", lambda p: st.main_container_started(p, self.main))
        while True:
            pod = watcher.pod
            if watcher.saw("main-started"):
                # Started, even if the pod has been deleted since: a version seen showed it running (the
                # verdict then says it was deleted while running, never that it did not start).
                return None
            if watcher.deleted:
                await events.refresh()
                if st.started_in_events(list(events.events.values()), self.main, watcher.uid):
                    # No version seen showed it running (it ran and went between two reads: a loaded
                    # follower, a watch behind), but the kubelet said it started: never "did not start".
                    return None
            if pod is None and watcher.deleted:
                # Gone before this follower saw it at all (a trigger that starts late): say so plainly.
                gone = {"metadata": {"name": self.pod_name, "namespace": self.namespace}}
                return st.Verdict(
                    st.Outcome.FAILURE,
                    "the pod has since been deleted: it was deleted before it could be followed "
                    "(somebody or something else deleted it)",
                    None,
                    st.failure_record(
                        gone, list(events.events.values()), reason="Deleted", deleted=True, main=self.main
                    ),
                    startup_reason="Deleted",
                )
            if pod is not None:
                if watcher.deleted:
                    record = st.failure_record(
                        pod, list(events.events.values()), reason="Deleted", deleted=True, main=self.main
                    )
                    return st.Verdict(
                        st.Outcome.FAILURE,
                        f"the pod was deleted before its main container {self.main!r} started",
                        None,
                        record,
                        startup_reason="Deleted",
                    )
                decision = tracker.observe(pod, self.clock())
                if decision.kind == "started":
                    return None
                if decision.kind == "failed":
                    await events.refresh()
                    record = st.failure_record(
                        pod,
                        list(events.events.values()),
                        reason=decision.reason,
                        message=decision.message,
                        main=self.main,
                    )
                    return st.Verdict(
                        st.Outcome.FAILURE,
                        f"the pod did not start: {decision.reason}: {decision.message}",
                        None,
                        record,
                        startup_reason=decision.reason,
                    )
                now = self.clock()
                if decision.waiting != last_status or now - last_status_at >= self.settings.status_interval:
                    self.log.info("Waiting for pod %s to start: %s", self.pod_name, decision.waiting)
                    last_status, last_status_at = decision.waiting, now
            # Wake up on the next change, or in time for the next deadline.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.changes(), timeout=self.settings.startup_check_interval)

    async def _await_end(self, watcher: PodWatcher) -> tuple[dict[str, Any] | None, str | None]:
        """Wait for the main container to end for good: (the pod, None), or (the pod, why it is a crash
        loop) once :class:`~.status.CrashLoopTracker` says so; a status line on every restart meanwhile."""
        tracker = st.CrashLoopTracker(self.main, startup_timeout=self.settings.startup_timeout)
        last_status = ""
        last_status_at = 0.0
        while True:
            pod = watcher.pod
            if pod is not None and (watcher.deleted or st.main_container_done(pod, self.main)):
                return pod, None
            if pod is None and watcher.deleted:
                return None, None
            if pod is not None:
                crash = tracker.observe(pod, self.clock())
                if crash is not None:
                    self.log.error("Pod %s: %s", self.pod_name, crash)
                    return pod, crash
                if st.last_failed_exit(pod, self.main) is not None:
                    line = tracker.status_line(pod)
                    now = self.clock()
                    if line != last_status or now - last_status_at >= self.settings.status_interval:
                        self.log.warning("Pod %s: %s", self.pod_name, line)
                        last_status, last_status_at = line, now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.changes(), timeout=self.settings.startup_check_interval)

    # -- logs --------------------------------------------------------------------------------------------

    def _containers_to_follow(self, pod: Mapping[str, Any], *, init: bool) -> list[str]:
        spec = pod.get("spec") or {}
        if init:
            requested = self.settings.init_container_logs
            available = [str(c.get("name")) for c in spec.get("initContainers") or []]
            exclude: list[str] = []
        else:
            requested = self.settings.container_logs or (self.main,)
            available = [str(c.get("name")) for c in spec.get("containers") or []]
            exclude = [XCOM_SIDECAR_NAME]
        wanted = self._requested_containers(requested, available, exclude, init=init)
        if not init and self._log_result is not None and self.main in available and self.main not in wanted:
            # The result of xcom_transport="logs" is in the main container's log: follow it, quietly.
            self._quiet.add(self.main)
            wanted.append(self.main)
        return wanted

    def _requested_containers(
        self,
        requested: tuple[str, ...] | bool,
        available: list[str],
        exclude: list[str],
        *,
        init: bool,
    ) -> list[str]:
        if not self.settings.get_logs or requested is False or not requested:
            return []
        if requested is True:
            return [n for n in available if n not in exclude]
        wanted = [requested] if isinstance(requested, str) else list(requested)
        unknown = [n for n in wanted if n not in available]
        if unknown:
            self.log.warning(
                "Not following logs of %s: no such %scontainer in pod %s (containers: %s)",
                ", ".join(repr(u) for u in unknown),
                "init " if init else "",
                self.pod_name,
                ", ".join(available) or "none",
            )
        return [n for n in wanted if n in available]

    def _start_followers(self, pod: Mapping[str, Any], watcher: PodWatcher, *, init: bool) -> None:
        """Start a log follower per container to follow. Init containers run one after the other, before
        the main containers: a follower first waits for the followers of the regular init containers that
        ran before its container (all of them, for a main container), so the task log has their lines in
        the order they were printed, however late this follower starts (a trigger) or whichever stream
        answers first. Native sidecars (init containers with ``restartPolicy: Always``) run alongside the
        later containers: nothing waits for them."""
        order = _container_names(pod)
        regular = _regular_init_containers(pod)
        for name in sorted(self._containers_to_follow(pod, init=init), key=order.index):
            if name in self._followers:
                continue
            earlier = [n for n in regular if order.index(n) < order.index(name)]
            after = [self._followers[n] for n in earlier if n in self._followers]
            self._followers[name] = asyncio.create_task(
                self._follow(name, watcher, after=after, regular_init=name in regular),
                name=f"k8spod-logs-{name}",
            )

    async def _drain_followers(self, watcher: PodWatcher) -> None:
        """Let the log followers of containers that ran and ended finish; stop the others.

        Each follower is bounded itself (``drain_timeout`` plus one bounded read), so this cannot hang. A
        container that still runs (a sidecar) is not waited for: its follower is stopped and what it printed
        so far is read once.
        """
        pod = watcher.pod or {}
        finishing = []
        stopped = []
        for name, task in self._followers.items():
            if watcher.deleted or st.main_container_done(pod, name):
                finishing.append(task)
            else:
                task.cancel()
                stopped.append(name)
        if finishing:
            # A safety net only: each follower bounds itself (no line for log_stall_timeout ends it).
            limit = self.settings.drain_timeout + 2 * self.settings.log_stall_timeout + 75
            _, late = await asyncio.wait(finishing, timeout=limit)
            for name, task in self._followers.items():
                if task in late:
                    task.cancel()
                    self.log.warning(
                        "%s: reading it took longer than %.0fs",
                        missing_range(name, self._cursors.setdefault(name, LogCursor())),
                        limit,
                    )
        for name in stopped:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._followers[name]
            if st.container_state(pod, name)[0] in ("running", "terminated"):
                await self._read_rest(name, self._cursors.setdefault(name, LogCursor()))

    def _emit(self, container: str, line: LogLine, cursor: LogCursor) -> None:
        if not cursor.admit(line):
            return
        text = line.text
        if container == self.main and self._log_result is not None and self._log_result.take(text):
            return  # a line of the XCom result (xcom_transport="logs"), never a line of the task log
        if container in self._quiet:
            return
        if text.startswith(("::group::", "::endgroup::")):
            self.log.info("%s", text)
        else:
            self.log.log(
                line_level(text),
                "%s",
                format_line(container, text, prefix=self.settings.log_prefix, formatter=self.log_formatter),
            )
        self._notify("log_line", container, line, self.watcher.pod if self.watcher else None)

    async def _follow(
        self,
        container: str,
        watcher: PodWatcher,
        *,
        after: Sequence[asyncio.Task[Any]] = (),
        regular_init: bool = False,
    ) -> None:
        """Follow one container's log until it has terminated and the stream is drained; first wait for
        the followers ``after`` (of containers that ran before this one) to end. ``regular_init``: the
        container is an init container that runs to completion (not a native sidecar)."""
        if after:
            await asyncio.wait(after)
        cursor = self._cursors.setdefault(container, LogCursor())
        splitter = LogSplitter()
        # While the container runs, following never gives up on a transient error (a silent container
        # delivers nothing either); progress resets the back-off however often the stream is cut.
        policy = ResumePolicy(self.clock(), stall_limit=0)
        name, namespace = self._pod_ref()

        def ran(p: Mapping[str, Any]) -> bool:
            return st.container_state(p, container)[0] in ("running", "terminated")

        def settled(p: Mapping[str, Any]) -> bool:
            return ran(p) or st.is_finished(p)

        def finished(p: Mapping[str, Any]) -> bool:
            kind, state = st.container_state(p, container)
            if regular_init and kind == "terminated" and state.get("exitCode") == 0:
                return True  # a regular init container that succeeded never runs again, whatever the policy
            return st.main_container_done(p, container)

        async def consume() -> None:
            async for chunk in self.hook.read_pod_logs(
                name,
                namespace,
                container=container,
                follow=True,
                timestamps=True,
                since_time=cursor.since_time(),
                read_timeout=None,
            ):
                for line in splitter.feed(chunk):
                    self._emit(container, line, cursor)

        while True:
            pod = await watcher.wait_for(settled)
            if pod is None or not ran(pod):
                if watcher.deleted and st.started_in_events(self._known_events(), container, watcher.uid):
                    # It ran and went between two reads of the pod: its log went with it, unread.
                    self.log.warning("%s", unread_when_gone(container, cursor))
                return  # the pod ended or was deleted without this container ever running
            restarts = _restart_count(pod, container)
            before = cursor.delivered
            cursor.new_stream()
            splitter.reset()  # a partial line of a cut stream comes again, whole, in the next one
            consumer = asyncio.create_task(consume())
            ended = asyncio.create_task(watcher.wait_for(finished))
            try:
                await asyncio.wait({consumer, ended}, return_when=asyncio.FIRST_COMPLETED)
                if not consumer.done():
                    # The container has terminated: its stream should end by itself once drained.
                    done, _ = await asyncio.wait({consumer}, timeout=self.settings.drain_timeout)
                    if not done:
                        consumer.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await consumer
                        self.log.warning(
                            "The log stream of container %s did not end %.0fs after it terminated; "
                            "reading its remaining lines",
                            container,
                            self.settings.drain_timeout,
                        )
                        await self._read_rest(container, cursor)
                        return
                error = consumer.exception()
            finally:
                ended.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ended
                if not consumer.done():
                    consumer.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await consumer
            if error is None and not finished(watcher.pod or {}) and not watcher.deleted:
                # A stream ends when its container does, usually a moment before the watch says so: give the
                # watch that moment rather than taking the end for a cut and reconnecting.
                with contextlib.suppress(TimeoutError):
                    await watcher.wait_for(finished, limit=2.0)
            current = watcher.pod
            over = current is None or watcher.deleted or finished(current)
            if error is None:
                if over:
                    for line in splitter.flush():
                        self._emit(container, line, cursor)
                    if current is not None and (
                        # The container restarted while this stream read an earlier instance, or the
                        # stream may have stopped receiving lines before its container ended (rotation).
                        _restart_count(current, container) != restarts
                        or read_after_follow(
                            st.container_state(current, container)[0], pod_deleted=watcher.deleted
                        )
                    ):
                        await self._read_rest(container, cursor, gone_ok=True)
                    return
                # The stream ended but the container runs on: the connection was cut. Resume.
                self.log.info(
                    "Log stream of container %s ended while it still runs; resuming from %s",
                    container,
                    cursor.since_time(),
                )
                pause = policy.next_delay(progressed=cursor.delivered > before, now=self.clock())
                if pause:
                    await asyncio.sleep(pause)
                continue
            if isinstance(error, NotFoundError):
                # The pod is gone with its log: what was not read yet cannot be read any more. Say so.
                self.log.warning("%s", unread_when_gone(container, cursor))
                return
            if isinstance(error, BadRequestError):
                if over:
                    await self._read_rest(container, cursor)
                    return
                # e.g. "container ... is waiting to start" (restarting): try again on the next change.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watcher.changes(), timeout=2.0)
                continue
            if not worth_retrying(error):  # 401, 403 (RBAC): no retry helps; the logs are only an aid
                self.log.warning("Not following the log of container %s: %s", container, error)
                return
            if not isinstance(error, KubernetesApiError | OSError):
                raise error
            if over:
                self.log.warning(
                    "Log stream of container %s was interrupted (%s); reading the rest from %s",
                    container,
                    error,
                    cursor.since_time(),
                )
                await self._read_rest(container, cursor)
                return
            delay = policy.next_delay(progressed=cursor.delivered > before, now=self.clock()) or 0.0
            self.log.warning(
                "Log stream of container %s was interrupted (%s); resuming from %s in %.1fs",
                container,
                error,
                cursor.since_time(),
                delay,
            )
            await asyncio.sleep(delay)

    async def _read_rest(self, container: str, cursor: LogCursor, *, gone_ok: bool = False) -> None:
        """Non-following reads of what the cursor has not delivered yet, until one reads to the end.

        ``gone_ok``: a pod deleted meanwhile (404) ends the reading quietly (a read that only checks).

        A read that is cut after delivering lines is followed by the next at once; reads that deliver
        nothing back off, and after ``log_stall_timeout`` seconds without a line this gives up and says
        which lines are missing (:class:`~.logs.ResumePolicy`).
        """
        name, namespace = self._pod_ref()
        stall = self.settings.log_stall_timeout
        policy = ResumePolicy(self.clock(), stall_limit=stall)
        while True:
            splitter = LogSplitter()
            before = cursor.delivered
            cursor.new_stream()
            try:
                async with asyncio.timeout(stall if stall > 0 else None):
                    async for chunk in self.hook.read_pod_logs(
                        name,
                        namespace,
                        container=container,
                        timestamps=True,
                        since_time=cursor.since_time(),
                    ):
                        for line in splitter.feed(chunk):
                            self._emit(container, line, cursor)
                # Read to the end: the last line may lack its newline. (Not after a cut: that part of a
                # line comes again, whole, in the next read.)
                for line in splitter.flush():
                    self._emit(container, line, cursor)
                return
            except (KubernetesApiError, OSError, TimeoutError) as exc:
                error: Exception = exc
            if gone_ok and isinstance(error, NotFoundError):
                return
            delay = None
            if worth_retrying(error) and not isinstance(error, NotFoundError):
                delay = policy.next_delay(progressed=cursor.delivered > before, now=self.clock())
            if delay is None:
                self.log.warning("%s: %s", missing_range(container, cursor), error)
                return
            self.log.info(
                "Reading the rest of the log of container %s was interrupted (%s); continuing from %s",
                container,
                error,
                cursor.since_time(),
            )
            await asyncio.sleep(delay)

    # -- XCom --------------------------------------------------------------------------------------------

    async def _read_xcom(self, watcher: PodWatcher) -> Any:
        """Read return.json through the sidecar, then stop the sidecar (always)."""
        name, namespace = self._pod_ref()

        def sidecar_ready(p: Mapping[str, Any]) -> bool:
            kind = st.container_state(p, XCOM_SIDECAR_NAME)[0]
            return kind in ("running", "terminated") or st.is_finished(p)

        try:
            pod = await watcher.wait_for(sidecar_ready, limit=self.settings.sidecar_timeout)
        except TimeoutError:
            raise XComResultError(
                f"the {XCOM_SIDECAR_NAME} container did not start within {self.settings.sidecar_timeout:g}s, "
                "so the result cannot be read"
            ) from None
        kind, state = st.container_state(pod or {}, XCOM_SIDECAR_NAME)
        if kind != "running" or watcher.deleted:
            raise XComResultError(
                f"the {XCOM_SIDECAR_NAME} container is {kind}"
                + (f" ({state.get('reason')})" if state.get("reason") else "")
                + ", so the result cannot be read"
            )
        result = None
        try:
            result = await self._exec_read_xcom(name, namespace)
        finally:
            limit = self.settings.xcom_inline_limit
            if result is not None and limit is not None and len(result.stdout) > limit:
                # Too large to travel in the trigger's event: the sidecar keeps it for read_xcom().
                self._xcom_pending = True
            elif limit is None and not self.sidecar_stopped_by_deletion:
                await self._stop_sidecar()
            else:
                # A trigger: the worker stops the sidecar on re-entry (stop_sidecar), once the event is in;
                # or the pod is deleted next, which stops it.
                self.sidecar_left = True
        if self._xcom_pending:
            return NO_RESULT
        return parse_xcom_result(result.stdout, result.exit_code, stderr=result.stderr)

    async def _exec_read_xcom(self, name: str, namespace: str) -> Any:
        """Read return.json; a cut read is read again (the file stays, the read is idempotent), bounded by
        the hooks' retry policy (6 attempts, 60s); each failure is worded for what it is
        (:func:`~.xcom.read_failure`)."""
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.hook.exec_in_pod(
                    name,
                    namespace,
                    XCOM_READ_COMMAND,
                    container=XCOM_SIDECAR_NAME,
                    max_stdout=self.settings.max_xcom_size,
                )
            except (ExecError, KubernetesApiError, OSError) as exc:
                again, message = read_failure(exc, max_size=self.settings.max_xcom_size, attempts=attempt)
                delay = (
                    DEFAULT_POLICY.delay(attempt=attempt, elapsed=self.clock() - started, status=None)
                    if again
                    else None
                )
                if delay is None:
                    raise XComResultError(message) from exc
                self.log.warning("Reading the XCom result: %s; reading it again in %.1fs", message, delay)
                await asyncio.sleep(delay)

    async def read_xcom(self) -> Any:
        """Read the XCom result now, from the sidecar of the attached pod (left there by a trigger whose
        event could not carry it), and stop the sidecar."""
        name, namespace = self._pod_ref()
        pod = await self.hook.get_pod(name, namespace)
        watcher = PodWatcher(self.hook, name, namespace, log=self.log, initial=pod)
        self.settings = dataclasses.replace(self.settings, xcom_inline_limit=None, sidecar_timeout=1.0)
        self._xcom_pending = False
        return await self._read_xcom(watcher)

    async def stop_sidecar(self) -> dict[str, Any] | None:
        """Stop the XCom sidecar of the attached pod (left running by a trigger once it read the result);
        return the pod as it then ends: its final phase, read within ``settle_timeout`` (the pod as last
        read if it takes longer; None if it cannot be read), so cleanup and the operator's ``remote_pod``
        see the finished pod, as in the synchronous path."""
        await self._stop_sidecar()
        name, namespace = self._pod_ref()
        deadline = self.clock() + self.settings.settle_timeout
        pod: dict[str, Any] | None = None
        while True:
            try:
                pod = await self.hook.get_pod(name, namespace)
            except (KubernetesApiError, OSError):
                return pod
            if st.is_finished(pod) or self.clock() >= deadline:
                return pod
            await asyncio.sleep(0.2)

    async def _stop_sidecar(self) -> None:
        name, namespace = self._pod_ref()
        self.sidecar_left = False
        try:
            await self.hook.exec_in_pod(
                name,
                namespace,
                XCOM_SIDECAR_STOP_COMMAND,
                container=XCOM_SIDECAR_NAME,
                timeout=30,
            )
        except (KubernetesApiError, ExecError) as exc:
            self.log.warning(
                "Could not stop the %s container (%s); the pod is cleaned up anyway", XCOM_SIDECAR_NAME, exc
            )

    async def _settle(self, watcher: PodWatcher) -> None:
        """Give the pod a moment to reach its final phase once the main container has ended.

        Why a pod stopped (Evicted, DeadlineExceeded) can arrive in a status update after the containers'
        states; deciding on the earlier one would lose it. Not done when other regular containers still run
        (a sidecar that keeps the pod Running would only delay the task).
        """
        pod = watcher.pod
        if pod is None or watcher.deleted or st.is_finished(pod):
            return
        spec = pod.get("spec") or {}
        others = [str(c.get("name")) for c in spec.get("containers") or [] if c.get("name") != self.main]
        if any(st.container_state(pod, name)[0] == "running" for name in others):
            return
        with contextlib.suppress(TimeoutError):
            await watcher.wait_for(st.is_finished, limit=self.settings.settle_timeout)

    # -- cleanup -----------------------------------------------------------------------------------------

    async def cleanup(self, pod: Mapping[str, Any] | None, verdict: st.Verdict | None) -> str | None:
        """Apply ``on_finish_action``. Never raises (the task's own outcome or error stands); returns (and
        keeps in :attr:`cleanup_problem`) why a pod that had to be deleted could not be, for the driver
        to fail the task with (appended to the task's own error, if it has one).

        Transient API errors are retried for ``cleanup_timeout`` seconds; a refusal (403) is not.
        """
        if self.cleaned_up or self.pod_name is None or self.namespace is None:
            return None
        self.cleaned_up = True
        main_done = pod is not None and st.main_container_done(pod, self.main)
        outcome = verdict.outcome if verdict is not None else None
        deleted = False
        try:
            if self.watcher is not None and self.watcher.deleted:
                pass
            elif cleanup_action(
                self.settings.on_finish_action,
                outcome,
                main_done,
                pod_finished=pod is not None and st.is_finished(pod),
            ):
                if not main_done and self.settings.on_finish_action == "keep_pod":
                    self.log.warning(
                        "Deleting pod %s although on_finish_action=keep_pod: its main container had not "
                        "finished, and a pod must not keep running after its task ended",
                        self.pod_name,
                    )
                else:
                    self.log.info(
                        "Deleting pod %s (on_finish_action=%s)", self.pod_name, self.settings.on_finish_action
                    )
                self.cleanup_problem = await self._delete(pod, main_done)
                deleted = self.cleanup_problem is None
            else:
                running = [
                    c for c in _container_names(pod) if st.container_state(pod or {}, c)[0] == "running"
                ]
                self.log.info(
                    "Keeping pod %s (on_finish_action=%s)%s",
                    self.pod_name,
                    self.settings.on_finish_action,
                    f"; its containers {', '.join(running)} still run" if running else "",
                )
                await self.mark_checked()
        except Exception as exc:  # cleanup must never replace the task's outcome
            self.log.error("Cleaning up pod %s failed: %s", self.pod_name, exc)
        self._notify("pod_cleaned_up", pod, deleted=deleted)
        return self.cleanup_problem

    async def mark_checked(self) -> bool:
        """Label the pod ``already_checked=True`` (upstream's label for a pod whose outcome was taken), so
        that no later try adopts it. A failure is a warning: the task's outcome stands."""
        name, namespace = self._pod_ref()
        try:
            await self.hook.patch_pod_metadata(name, namespace, labels={CHECKED_LABEL: "True"})
            return True
        except (KubernetesApiError, OSError) as exc:
            self.log.warning("Could not label kept pod %s %s=True: %s", name, CHECKED_LABEL, exc)
            return False

    async def _delete(self, pod: Mapping[str, Any] | None, main_done: bool) -> str | None:
        """Delete the pod, retrying transient errors for ``cleanup_timeout`` seconds; None when deleted (or
        already gone), else why it is left."""
        name, namespace = self._pod_ref()
        started = self.clock()
        while True:
            try:
                await self.hook.delete_pod(
                    name, namespace, grace_period_seconds=self.settings.termination_grace_period
                )
                return None
            except (KubernetesApiError, OSError) as exc:
                error: Exception = exc
            left = self.settings.cleanup_timeout - (self.clock() - started)
            if worth_retrying(error) and left > 0:
                delay = min(5.0, left)
                self.log.warning("Deleting pod %s failed (%s); trying again in %.0fs", name, error, delay)
                await asyncio.sleep(delay)
                continue
            why = "on_finish_action=" + self.settings.on_finish_action
            if not main_done:
                why = "its main container had not finished"
            problem = (
                f"pod {namespace}/{name} could not be deleted ({why}) and is left in the cluster"
                + (", still running" if pod is not None and not st.is_finished(pod) else "")
                + f": {error}. Delete it yourself: kubectl delete pod -n {namespace} {name}"
            )
            self.log.error("%s", problem)
            if self.sidecar_left:
                # Left for the deletion to stop, which failed: stop it, so the pod at least ends.
                await self._stop_sidecar()
            return problem

    # -- observer ----------------------------------------------------------------------------------------

    def _pod_ref(self) -> tuple[str, str]:
        if self.pod_name is None or self.namespace is None:
            raise RuntimeError("the pod does not exist yet")
        return self.pod_name, self.namespace

    def _notify(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.observer is None:
            return
        try:
            getattr(self.observer, method)(*args, **kwargs)
        except Exception as exc:
            self.log.warning("%s failed: %s", method, exc)


def _is_live(pod: Mapping[str, Any]) -> bool:
    """Pending or running and not being deleted: a pod that can still produce this task's result."""
    meta = pod.get("metadata") or {}
    return not st.is_finished(pod) and st.phase(pod) != "Unknown" and not meta.get("deletionTimestamp")


def _container_names(pod: Mapping[str, Any] | None) -> list[str]:
    spec = (pod or {}).get("spec") or {}
    return [
        str(c.get("name")) for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    ]


def _regular_init_containers(pod: Mapping[str, Any]) -> list[str]:
    """The init containers that run to completion one after the other, in order (not native sidecars)."""
    spec = pod.get("spec") or {}
    return [
        str(c.get("name")) for c in spec.get("initContainers") or [] if c.get("restartPolicy") != "Always"
    ]


def _restart_count(pod: Mapping[str, Any], name: str) -> int:
    return int((st.container_status(pod, name) or {}).get("restartCount") or 0)


def _is_ours(pod: Mapping[str, Any], identity: TaskIdentity) -> bool:
    owner = pod_task_identity(pod)
    return is_managed(pod) and owner is not None and _same_task_instance(owner, identity)


def _same_task_instance(a: TaskIdentity, b: TaskIdentity) -> bool:
    return (a.dag_id, a.task_id, a.run_id, a.map_index) == (b.dag_id, b.task_id, b.run_id, b.map_index)


def _describe_identity(identity: TaskIdentity | None) -> str:
    if identity is None:
        return "no Airflow task"
    return f"dag {identity.dag_id!r}, task {identity.task_id!r}, run {identity.run_id!r}"
