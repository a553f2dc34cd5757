"""JSON of stored objects, encoded once and reused by gets, lists and every watch.

Stored objects are immutable snapshots (see :mod:`.store`), so the bytes of one snapshot never change.
With a thousand pods, encoding them again for each list took three quarters of the server's CPU in the
scale benchmark's steady state (~0.3 s a list), and each watch encoded every event again. The cache is keyed by the
snapshot's identity and holds the snapshot itself, so an id cannot be reused while its entry lives.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence

from airflow_provider_k8spod.testing._util import JSON

DEFAULT_BUDGET = 32 * 1024 * 1024  # bytes of JSON kept


def dumps(obj: object) -> bytes:
    """The API server's compact encoding."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class EncodedObjects:
    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[int, tuple[JSON, bytes]] = OrderedDict()

    def body(self, obj: JSON) -> bytes:
        """``obj`` without ``kind``/``apiVersion`` (as a list item), encoded."""
        key = id(obj)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is obj:
            self._entries.move_to_end(key)
            return entry[1]
        data = dumps({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
        if entry is not None:
            self.size -= len(entry[1])
        self._entries[key] = (obj, data)
        self.size += len(data)
        while self.size > self.budget and self._entries:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= len(dropped)
        return data

    def with_kind(self, kind: str, obj: JSON) -> bytes:
        """``obj`` as a single object: ``kind`` and ``apiVersion`` first, as the API server writes them."""
        data = self.body(obj)
        head = b'{"kind":' + dumps(kind) + b',"apiVersion":"v1"'
        return head + (b"}" if data == b"{}" else b"," + data[1:])

    def list_of(self, kind: str, items: Sequence[JSON], metadata: JSON) -> bytes:
        """A ``<Kind>List``; like the API server, items carry no kind/apiVersion."""
        return (
            b'{"kind":'
            + dumps(f"{kind}List")
            + b',"apiVersion":"v1","metadata":'
            + dumps(metadata)
            + b',"items":['
            + b",".join(self.body(item) for item in items)
            + b"]}"
        )

    def watch_event(self, event_type: str, kind: str, obj: JSON) -> bytes:
        return b'{"type":' + dumps(event_type) + b',"object":' + self.with_kind(kind, obj) + b"}\n"
