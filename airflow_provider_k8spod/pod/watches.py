"""Shared watches: one pods watch and one events watch per (cluster, namespace) per event loop, fanned out
to every lifecycle that follows a pod there (the triggerer's driver).

A triggerer following 1,000 pods keeps two watch connections per namespace instead of 2,000, and the API
server sends each change once. The pods watch selects upstream's marker label (``kubernetes_pod_operator=True``,
which this provider's pods carry like upstream's) and keeps only the pods with this provider's managed-by
annotation; a pod without it (adopted from elsewhere) gets a watch of its own.

Each :class:`NamespaceWatch` lists, then watches from the list's resourceVersion, resumes from the last
resourceVersion seen (bookmarks keep it fresh), relists after 410 Gone (pods missing from the new list are
reported deleted), and retries transient errors with a capped back-off. An error that is not transient is
handed to every subscriber, which ends its follow with that error rather than waiting forever.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_k8spod.exceptions import (
    ApiUnavailableError,
    ExpiredError,
    ForbiddenError,
    KubernetesApiError,
    NotFoundError,
)
from airflow_provider_k8spod.pod.identity import MARKER_SELECTOR, carries_marker, is_managed
from airflow_provider_k8spod.pod.lifecycle import (
    LifecycleSettings,
    OwnWatches,
    PodEvents,
    PodHandle,
    PodWatcher,
)

__all__ = ["NamespaceWatch", "SharedWatches"]

#: Events kept per namespace for subscribers that arrive after them (the oldest are dropped first).
MAX_CACHED_EVENTS = 5000

_Listener = Callable[[str, Mapping[str, Any] | None, Exception | None], None]


class NamespaceWatch:
    """One list + watch of ``kind`` ("pods" or "events") in a namespace, fanned out by pod name."""

    def __init__(self, hook: Any, namespace: str, kind: str, *, log: Any) -> None:
        self.hook, self.namespace, self.kind, self.log = hook, namespace, kind, log
        self.listeners: dict[str, set[_Listener]] = collections.defaultdict(set)
        #: pods: name -> latest pod; events: uid -> event (bounded).
        self.cache: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.listed = asyncio.Event()
        self.error: Exception | None = None
        self.task: asyncio.Task[None] | None = None

    # -- subscribers ---------------------------------------------------------------------------------------

    def subscribe(self, name: str, listener: _Listener) -> None:
        self.listeners[name].add(listener)
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=f"k8spod-{self.kind}-{self.namespace}")

    def unsubscribe(self, name: str, listener: _Listener) -> bool:
        """Remove ``listener``; True when nobody listens any more (the caller stops the watch)."""
        listeners = self.listeners.get(name)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self.listeners[name]
        return not self.listeners

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    def events_of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.cache.values() if _involved_name(e) == name]

    # -- the watch -----------------------------------------------------------------------------------------

    def _emit(self, name: str, obj: Mapping[str, Any] | None, error: Exception | None = None) -> None:
        for listener in list(self.listeners.get(name, ())):
            listener(name, obj, error)

    def _store(self, obj: Mapping[str, Any], *, deleted: bool = False) -> None:
        meta = obj.get("metadata") or {}
        if self.kind == "pods":
            name = str(meta.get("name") or "")
            if not is_managed(obj) and name not in self.cache:
                return  # another operator's pod (upstream's also carries the marker label)
            if deleted:
                self.cache.pop(name, None)
            else:
                self.cache[name] = dict(obj)
            self._emit(name, obj if not deleted else {**obj, "_deleted": True})
            return
        key = str(meta.get("uid") or meta.get("name") or "")
        self.cache[key] = dict(obj)
        self.cache.move_to_end(key)
        while len(self.cache) > MAX_CACHED_EVENTS:
            self.cache.popitem(last=False)
        self._emit(_involved_name(obj), obj)

    async def _list(self) -> str:
        if self.kind == "pods":
            listed = await self.hook.list_pods(self.namespace, label_selector=MARKER_SELECTOR)
            gone = set(self.cache) - {str((p.get("metadata") or {}).get("name")) for p in listed}
            for name in gone:
                self._store(self.cache[name], deleted=True)
        else:
            listed = await self.hook.list_pod_events(None, self.namespace)
        for obj in listed:
            self._store(obj)
        self.listed.set()
        return str(listed.resource_version or "0")

    def _watch(self, resource_version: str) -> Any:
        if self.kind == "pods":
            return self.hook.watch_pods(
                self.namespace, resource_version=resource_version, label_selector=MARKER_SELECTOR
            )
        return self.hook.watch_pod_events(None, self.namespace, resource_version=resource_version)

    async def _run(self) -> None:
        resource_version: str | None = None
        failures = 0
        while True:
            try:
                if resource_version is None:
                    resource_version = await self._list()
                async for event in self._watch(resource_version):
                    resource_version = event.resource_version or resource_version
                    failures = 0
                    if event.type == "BOOKMARK":
                        continue
                    if event.type == "ERROR":
                        continue
                    self._store(event.object, deleted=event.type == "DELETED")
            except ExpiredError:
                resource_version = None
            except asyncio.CancelledError:
                raise
            except (ApiUnavailableError, KubernetesApiError, OSError) as exc:
                transient = isinstance(exc, ApiUnavailableError | OSError) or exc.status in (None, 500)
                if not transient:
                    self._fail(exc)
                    return
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                self.log.warning(
                    "Watch of %s in namespace %s interrupted (%s); resuming in %.1fs",
                    self.kind,
                    self.namespace,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
            except Exception as exc:
                # Not an API error (a bug, a malformed event): every follower ends with it rather than
                # waiting for ever for events from a watch that is gone.
                self.log.error("Watch of %s in namespace %s failed: %r", self.kind, self.namespace, exc)
                self._fail(exc)
                return

    def _fail(self, exc: Exception) -> None:
        self.error = exc
        self.listed.set()
        for name in list(self.listeners):
            self._emit(name, None, exc)


def _no_rbac_to_watch(error: Exception | None) -> bool:
    return isinstance(error, ForbiddenError) and error.verb in ("watch", "list")


def _involved_name(event: Mapping[str, Any]) -> str:
    return str((event.get("involvedObject") or {}).get("name") or "")


#: loop -> (access key, namespace, kind) -> its watch. One event loop per triggerer process, but one per
#: ``asyncio.run`` in ``dag.test()`` and tests: keyed by the loop itself, not its ``id()``, which a later loop
#: can reuse (a new loop given an old loop's watch would wait for ever for events that never come).
_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str, str], NamespaceWatch]] = (
    weakref.WeakKeyDictionary()
)

#: Watches being stopped.
_STOPPING: set[asyncio.Task[None]] = set()


def _acquire(hook: Any, key: str, namespace: str, kind: str, log: Any) -> NamespaceWatch:
    watches = _WATCHES.setdefault(asyncio.get_running_loop(), {})
    watch = watches.get((key, namespace, kind))
    if watch is None or (watch.task is not None and watch.task.done()):
        watch = watches[key, namespace, kind] = NamespaceWatch(hook, namespace, kind, log=log)
    return watch


def _release(key: str, namespace: str, kind: str, watch: NamespaceWatch) -> None:
    loop = asyncio.get_running_loop()
    watches = _WATCHES.get(loop, {})
    if watches.get((key, namespace, kind)) is watch:
        del watches[key, namespace, kind]
    # Referenced until done: the loop keeps only a weak reference to a task.
    _STOPPING.add(task := loop.create_task(watch.stop()))
    task.add_done_callback(_STOPPING.discard)


class _SharedPodWatcher(PodWatcher):
    """A :class:`PodWatcher` fed by the namespace's shared watch instead of a watch of its own."""

    def __init__(self, source: SharedWatches, hook: Any, handle: PodHandle, log: Any, **kwargs: Any) -> None:
        super().__init__(hook, handle.name, handle.namespace, log=log, uid=handle.uid or None, **kwargs)
        self.source = source
        self._wakers: set[asyncio.Task[None]] = set()
        self._fallback = asyncio.Event()

    def _listener(self, name: str, pod: Mapping[str, Any] | None, error: Exception | None) -> None:
        # The state changes at once, in the watch's order; waiters are woken on the loop.
        if self._fallback.is_set():
            return  # followed by a watch of its own now
        if (
            pod is not None
            and pod.get("_deleted")
            and not (pod.get("metadata") or {}).get("deletionTimestamp")
        ):
            # A pod being deleted carries a deletionTimestamp; without one, the pod may only have left the
            # shared watch's selection (its marker label removed or changed): not a deletion to act on.
            self._own_watch(f"the namespace watch of {MARKER_SELECTOR} pods no longer sees it")
            pod = None
        elif pod is not None:
            self._set({k: v for k, v in pod.items() if k != "_deleted"}, deleted=bool(pod.get("_deleted")))
        if _no_rbac_to_watch(error):
            self._fallback.set()  # not an error of the pod: follow it on its own instead
            error = None
        self._wakers.add(task := asyncio.get_running_loop().create_task(self._wake(error)))
        task.add_done_callback(self._wakers.discard)

    def _own_watch(self, why: str) -> None:
        """Follow this pod with a watch of its own from now on: it lists the pod first (so a pod that is
        gone is reported deleted), then watches it by name, whatever its labels."""
        if not self._fallback.is_set():
            self.log.info("Pod %s: %s; following it with a watch of its own", self.name, why)
            self._fallback.set()

    async def _run(self) -> None:
        watch = _acquire(self.hook, self.source.key, self.namespace, "pods", self.log)
        watch.subscribe(self.name, self._listener)
        try:
            await watch.listed.wait()
            if _no_rbac_to_watch(watch.error):
                self._fallback.set()
            elif watch.error is not None:
                raise watch.error
            cached = watch.cache.get(self.name)
            if self._fallback.is_set():
                pass
            elif cached is not None:
                await self._update(cached)
            else:
                # Not (yet) seen by the shared watch: read it once.
                try:
                    pod = await self.hook.get_pod(self.name, self.namespace)
                except NotFoundError:
                    await self._update(None, deleted=True)
                else:
                    if not carries_marker(pod):
                        # The shared watch selects the marker label: it would never report this pod.
                        self._own_watch(f"it has no {MARKER_SELECTOR} label")
                    await self._update(pod)
            while not self.deleted and self.error is None and not self._fallback.is_set():
                await self.changes()
            if self._fallback.is_set() and not self.deleted:
                # No RBAC for a namespace-wide watch: follow this pod on its own (a watch, or polling).
                await PodWatcher._run(self)
        finally:
            if watch.unsubscribe(self.name, self._listener):
                _release(self.source.key, self.namespace, "pods", watch)


class _SharedEvents(PodEvents):
    """:class:`PodEvents` fed by the namespace's shared events watch."""

    def __init__(self, source: SharedWatches, hook: Any, handle: PodHandle, log: Any, enabled: bool) -> None:
        super().__init__(hook, handle.name, handle.namespace, log=log, enabled=enabled)
        self.source = source
        self._queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()

    def _listener(self, name: str, event: Mapping[str, Any] | None, error: Exception | None) -> None:
        # Recorded (and logged) by run(), in this lifecycle's own task: the triggerer routes a line to a
        # task's log by the context of the asyncio task that logs it, and the shared watch runs in another.
        if event is not None:
            self._queue.put_nowait(event)
        elif error is not None:
            self._queue.put_nowait({"_error": error})

    async def run(self) -> None:
        watch = _acquire(self.hook, self.source.key, self.namespace, "events", self.log)
        watch.subscribe(self.name, self._listener)
        try:
            await watch.listed.wait()
            if watch.error is not None:
                self.log.warning("Cannot read the events of pod %s: %s", self.name, watch.error)
                return
            for cached in watch.events_of(self.name):
                self._record(cached)
            while True:
                event = await self._queue.get()
                if "_error" in event:
                    self.log.warning("Cannot read the events of pod %s: %s", self.name, event["_error"])
                    return
                self._record(event)
        finally:
            if watch.unsubscribe(self.name, self._listener):
                _release(self.source.key, self.namespace, "events", watch)


class SharedWatches:
    """A :class:`~.lifecycle.WatchSource` that shares one pods watch and one events watch per
    (cluster, namespace) among every lifecycle of this event loop."""

    def __init__(self, key: str) -> None:
        #: Identifies the cluster and credentials (``ClusterAccess.key``).
        self.key = key

    def pod_watcher(
        self,
        hook: Any,
        handle: PodHandle,
        log: Any,
        initial: Mapping[str, Any] | None,
        settings: LifecycleSettings,
    ) -> PodWatcher:
        if not handle.managed:
            return OwnWatches().pod_watcher(hook, handle, log, initial, settings)
        return _SharedPodWatcher(
            self, hook, handle, log, initial=initial, poll_interval=settings.poll_interval
        )

    def event_stream(self, hook: Any, handle: PodHandle, log: Any, enabled: bool) -> PodEvents:
        return _SharedEvents(self, hook, handle, log, enabled)
