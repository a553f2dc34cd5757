"""The object store: one global resourceVersion counter, per-resource objects, a bounded event history
per resource and the watch hub.

Everything runs on the server's event loop; nothing here is thread-safe or needs to be. Stored objects
are immutable snapshots: every change stores a new dict, so history entries and watch events can be
shared without copying.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_k8spod.testing._util import JSON
from airflow_provider_k8spod.testing.apiserver.errors import expired
from airflow_provider_k8spod.testing.apiserver.selectors import (
    FIELD_EXTRACTORS,
    FieldSelector,
    LabelSelector,
)

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


@dataclass(frozen=True)
class Change:
    """One stored change. ``prev`` is the snapshot before the change (None for ADDED)."""

    type: str
    rv: int
    obj: JSON
    prev: JSON | None


@dataclass(frozen=True)
class WatchError:
    """Ends a watch with an ERROR event carrying a Status (e.g. 410 Expired)."""

    status: JSON


@dataclass(frozen=True)
class WatchClose:
    """Ends a watch stream without an event (as the API server does when a watch is cut)."""


WatchItem = Change | WatchError | WatchClose


def _labels(obj: JSON | None) -> dict[str, str]:
    if obj is None:
        return {}
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, dict) else {}


@dataclass(eq=False)
class Watcher:
    resource: str
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[WatchItem] = field(default_factory=asyncio.Queue)
    last_rv: int = 0

    def matches(self, obj: JSON | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace", "") != self.namespace:
            return False
        if not self.labels.matches(_labels(obj)):
            return False
        if self.fields.requirements:
            return self.fields.matches(FIELD_EXTRACTORS[self.resource](obj))
        return True

    def translate(self, change: Change) -> Change | None:
        """Apply the watch-cache rules: an object entering the selection is ADDED, leaving it DELETED."""
        if change.type == "DELETED":
            return change if self.matches(change.obj) else None
        now = self.matches(change.obj)
        before = self.matches(change.prev) if change.prev is not None else False
        if now and before:
            return change
        if now:
            return Change("ADDED", change.rv, change.obj, change.prev)
        if before and change.prev is not None:
            prev = dict(change.prev)
            prev["metadata"] = {**(prev.get("metadata") or {}), "resourceVersion": str(change.rv)}
            return Change("DELETED", change.rv, prev, None)
        return None

    def offer(self, change: Change) -> None:
        event = self.translate(change)
        if event is not None:
            self.last_rv = event.rv
            self.queue.put_nowait(event)


class Store:
    def __init__(self, history: int = 1000) -> None:
        self.rv = 1
        self.history_size = max(1, history)
        self._objects: dict[str, dict[Key, JSON]] = {}
        self._history: dict[str, deque[Change]] = {}
        self._compacted: dict[str, int] = {}
        self._watchers: dict[str, set[Watcher]] = {}
        self._listeners: dict[str, list[Callable[[Change], None]]] = {}

    # ---------------------------------------------------------------------------------------------- reads

    def get(self, resource: str, namespace: str, name: str) -> JSON | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def list(self, resource: str, namespace: str | None = None) -> list[JSON]:
        items = self._objects.get(resource, {})
        keys = sorted(k for k in items if namespace is None or k[0] == namespace)
        return [items[k] for k in keys]

    def count(self, resource: str) -> int:
        return len(self._objects.get(resource, {}))

    # --------------------------------------------------------------------------------------------- writes

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    @staticmethod
    def _key(obj: JSON) -> Key:
        meta = obj["metadata"]
        return (meta.get("namespace") or "", meta["name"])

    def _record(self, resource: str, change: Change) -> None:
        history = self._history.setdefault(resource, deque())
        history.append(change)
        while len(history) > self.history_size:
            dropped = history.popleft()
            self._compacted[resource] = max(self._compacted.get(resource, 0), dropped.rv)
        for watcher in list(self._watchers.get(resource, ())):
            watcher.offer(change)
        for listener in self._listeners.get(resource, ()):
            listener(change)

    def create(self, resource: str, obj: JSON) -> JSON:
        """Store a new object (the caller checked it does not exist). Sets metadata.resourceVersion."""
        snapshot = copy.deepcopy(obj)
        rv = self._next_rv()
        snapshot["metadata"]["resourceVersion"] = str(rv)
        self._objects.setdefault(resource, {})[self._key(snapshot)] = snapshot
        self._record(resource, Change("ADDED", rv, snapshot, None))
        return snapshot

    def update(self, resource: str, obj: JSON) -> JSON:
        """Replace an existing object with ``obj`` (a fresh dict the caller will not mutate again)."""
        key = self._key(obj)
        prev = self._objects.get(resource, {}).get(key)
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        self._objects.setdefault(resource, {})[key] = obj
        self._record(resource, Change("MODIFIED", rv, obj, prev))
        return obj

    def delete(self, resource: str, namespace: str, name: str) -> JSON | None:
        prev = self._objects.get(resource, {}).pop((namespace, name), None)
        if prev is None:
            return None
        rv = self._next_rv()
        # Snapshots are immutable, so a copy of the top level and of metadata is enough (a deep copy
        # of every pod was most of the server's CPU when a thousand pods were deleted at once).
        final = dict(prev)
        final["metadata"] = dict(prev["metadata"])
        final["metadata"]["resourceVersion"] = str(rv)
        self._record(resource, Change("DELETED", rv, final, prev))
        return final

    # -------------------------------------------------------------------------------------------- watches

    def oldest_available(self, resource: str) -> int:
        history = self._history.get(resource)
        if history:
            return history[0].rv
        return self.rv

    def check_rv(self, resource: str, since: int) -> None:
        """Raise 410 Expired when events after ``since`` are no longer all retained."""
        if since < self._compacted.get(resource, 0):
            raise expired(f"too old resource version: {since} ({self.oldest_available(resource)})")

    def watch(
        self,
        resource: str,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        since: int | None,
    ) -> Watcher:
        """Register a watcher. ``since=None`` sends synthetic ADDED events for the current objects first."""
        watcher = Watcher(resource, namespace, labels, fields)
        if since is None:
            for obj in self.list(resource, namespace):
                if watcher.matches(obj):
                    watcher.queue.put_nowait(
                        Change("ADDED", int(obj["metadata"]["resourceVersion"]), obj, None)
                    )
            watcher.last_rv = self.rv
        else:
            self.check_rv(resource, since)
            watcher.last_rv = since
            for change in self._history.get(resource, ()):
                if change.rv > since:
                    watcher.offer(change)
        self._watchers.setdefault(resource, set()).add(watcher)
        return watcher

    def subscribe(self, resource: str, listener: Callable[[Change], None]) -> None:
        """Call ``listener`` with every change of ``resource`` as it is stored (the cluster's own
        controllers; unlike watches, never expired or cut, and not counted as client watches). The
        listener must not write to the store synchronously."""
        self._listeners.setdefault(resource, []).append(listener)

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.resource, set()).discard(watcher)

    def watchers(self, resource: str | None = None) -> builtins.list[Watcher]:
        if resource is not None:
            return list(self._watchers.get(resource, ()))
        return [w for ws in self._watchers.values() for w in ws]

    def compact(self, resource: str | None = None) -> None:
        """Forget the retained history (like an etcd compaction): every resourceVersion handed out so far
        becomes too old (410). The global resourceVersion moves on by one, so a fresh list gives a version
        that can be watched again."""
        resources = [resource] if resource else list(set(self._history) | set(self._objects))
        self.rv += 1
        for res in resources:
            self._history[res] = deque()
            self._compacted[res] = self.rv

    def expire_watchers(self, resource: str | None = None) -> int:
        """Compact, then end every open watch (of ``resource`` or all) with an ERROR 410 event."""
        self.compact(resource)
        count = 0
        for watcher in self.watchers(resource):
            error = expired(f"too old resource version: {watcher.last_rv} ({self.rv})")
            watcher.queue.put_nowait(WatchError(error.status()))
            count += 1
        return count

    def close_watchers(self, resource: str | None = None) -> int:
        """End every open watch (of ``resource`` or all) without an event; returns how many."""
        watchers = self.watchers(resource)
        for watcher in watchers:
            watcher.queue.put_nowait(WatchClose())
        return len(watchers)
