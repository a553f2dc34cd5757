"""Kubernetes Events (core/v1), recorded the way the kubelet and the scheduler record them."""

from __future__ import annotations

import copy

from airflow_provider_k8spod.testing._util import JSON, new_uid, now_ns, rfc3339, rfc3339_micro
from airflow_provider_k8spod.testing.apiserver.store import Store


class EventRecorder:
    """Creates Event objects, aggregating repeats (same object, reason, message, source) into ``count``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._index: dict[tuple[str, ...], tuple[str, str]] = {}

    def _involved(self, obj: JSON, field_path: str | None) -> JSON:
        meta = obj.get("metadata") or {}
        involved: JSON = {
            "kind": obj.get("kind", "Pod"),
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", "v1"),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        return involved

    def _repeat(self, key: tuple[str, ...]) -> JSON | None:
        """A copy of the stored event that ``key`` aggregates into, if it still exists."""
        existing_key = self._index.get(key)
        if existing_key is None:
            return None
        existing = self.store.get("events", *existing_key)
        return copy.deepcopy(existing) if existing is not None else None

    def _create(
        self, key: tuple[str, ...], obj: JSON, field_path: str | None, ts: int, created: str, fields: JSON
    ) -> JSON:
        """Store a new event named ``<object>.<ts in hex>`` (as client-go names them) and index it."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "default")
        name = f"{meta.get('name', 'unknown')}.{ts:x}"
        event: JSON = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": new_uid(),
                "creationTimestamp": created,
            },
            "involvedObject": self._involved(obj, field_path),
            **fields,
        }
        self._index[key] = (namespace, name)
        return self.store.create("events", event)

    def kubelet(
        self,
        obj: JSON,
        event_type: str,
        reason: str,
        message: str,
        *,
        node: str,
        field_path: str | None = None,
    ) -> JSON:
        """An event from the kubelet (legacy core/v1 recorder: source, count, first/lastTimestamp)."""
        return self._legacy(obj, event_type, reason, message, "kubelet", node, field_path)

    def controller(self, obj: JSON, event_type: str, reason: str, message: str, component: str) -> JSON:
        """An event from a controller using the legacy recorder (persistentvolume-controller, a provisioner):
        ``source.component`` without a host, aggregated into ``count``."""
        return self._legacy(obj, event_type, reason, message, component, "", None)

    def _legacy(
        self,
        obj: JSON,
        event_type: str,
        reason: str,
        message: str,
        component: str,
        node: str,
        field_path: str | None,
    ) -> JSON:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        key = (namespace, meta.get("uid", ""), field_path or "", reason, message, component, event_type)
        timestamp = rfc3339()
        repeat = self._repeat(key)
        if repeat is not None:
            repeat["count"] = int(repeat.get("count") or 1) + 1
            repeat["lastTimestamp"] = timestamp
            return self.store.update("events", repeat)
        return self._create(
            key,
            obj,
            field_path,
            now_ns(),
            timestamp,
            {
                "reason": reason,
                "message": message,
                "source": {"component": component, "host": node} if node else {"component": component},
                "firstTimestamp": timestamp,
                "lastTimestamp": timestamp,
                "count": 1,
                "type": event_type,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": node,
            },
        )

    def scheduler(self, obj: JSON, event_type: str, reason: str, message: str, action: str) -> JSON:
        """An event from the scheduler. The scheduler uses the events.k8s.io API, so in core/v1 it shows
        ``eventTime`` and ``reportingComponent`` with an empty ``source`` and null first/lastTimestamp."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "default")
        key = (namespace, meta.get("uid", ""), "", reason, message, "default-scheduler", event_type)
        repeat = self._repeat(key)
        if repeat is not None:
            series = repeat.get("series") or {"count": 1}
            repeat["series"] = {"count": int(series.get("count", 1)) + 1, "lastObservedTime": rfc3339_micro()}
            return self.store.update("events", repeat)
        ts = now_ns()
        return self._create(
            key,
            obj,
            None,
            ts,
            rfc3339(),
            {
                "reason": reason,
                "message": message,
                "source": {},
                "firstTimestamp": None,
                "lastTimestamp": None,
                "type": event_type,
                "eventTime": rfc3339_micro(ts),
                "action": action,
                "reportingComponent": "default-scheduler",
                "reportingInstance": "default-scheduler-local",
            },
        )

    def forget(self, namespace: str, name: str) -> None:
        for key, value in list(self._index.items()):
            if value == (namespace, name):
                del self._index[key]
