"""Callbacks around a pod's lifecycle, with upstream ``cncf-kubernetes``' names and call points.

Subclass :class:`KubernetesPodOperatorCallback`, override the static methods you need, and pass the
*class* (or a list of classes) as ``callbacks=``. Callback classes written for upstream work unchanged:
they are called by method name with the same keyword arguments.

Call points (non-deferrable mode, on the worker; ``mode`` is :attr:`ExecutionMode.SYNC`):

- ``on_sync_client_creation(client, operator)``: once, when the operator creates its ``CoreV1Api``;
- ``on_pod_manifest_created(pod_request, client, mode, operator, context)``: the pod about to be created;
- ``on_pod_creation(pod, ...)``: the pod exists (created or adopted);
- ``on_pod_starting(pod, ...)``: its main container has started;
- ``on_pod_completion(pod, ...)``: its main container has finished;
- ``on_pod_teardown(pod, ...)``: right after completion, before the XCom result is read;
- ``on_pod_cleanup(pod, ...)``: after the pod was deleted or kept, whatever the outcome;
- ``progress_callback(line, client, mode, container_name, timestamp, pod)``: each log line.

``pod`` and ``pod_request`` are ``kubernetes.client.V1Pod`` models and ``client`` a
``kubernetes.client.CoreV1Api``, as upstream. An exception raised by a callback is logged as a warning and
does not change the task's outcome.
"""

from __future__ import annotations

import enum
from typing import Any


class ExecutionMode(enum.StrEnum):
    SYNC = "sync"
    ASYNC = "async"


class KubernetesPodOperatorCallback:
    """Base class of pod callbacks; every method is a no-op static method."""

    @staticmethod
    def on_sync_client_creation(*, client: Any, operator: Any, **kwargs: Any) -> None:
        pass

    @staticmethod
    def on_pod_manifest_created(
        *, pod_request: Any, client: Any, mode: str, operator: Any, context: Any, **kwargs: Any
    ) -> None:
        pass

    @staticmethod
    def on_pod_creation(
        *, pod: Any, client: Any, mode: str, operator: Any, context: Any, **kwargs: Any
    ) -> None:
        pass

    @staticmethod
    def on_pod_starting(
        *, pod: Any, client: Any, mode: str, operator: Any, context: Any, **kwargs: Any
    ) -> None:
        pass

    @staticmethod
    def on_pod_completion(
        *, pod: Any, client: Any, mode: str, operator: Any, context: Any, **kwargs: Any
    ) -> None:
        pass

    @staticmethod
    def on_pod_teardown(
        *, pod: Any, client: Any, mode: str, operator: Any, context: Any, **kwargs: Any
    ) -> None:
        pass

    @staticmethod
    def on_pod_cleanup(
        *, pod: Any, client: Any, mode: str, operator: Any, context: Any, **kwargs: Any
    ) -> None:
        pass

    @staticmethod
    def on_operator_resuming(
        *, pod: Any, event: dict[str, Any], client: Any, mode: str, operator: Any, context: Any, **kwargs: Any
    ) -> None:
        pass

    @staticmethod
    def progress_callback(
        *, line: str, client: Any, mode: str, container_name: str, timestamp: Any, pod: Any, **kwargs: Any
    ) -> None:
        pass
