"""``KubernetesPodTrigger``: the deferrable driver of the one pod lifecycle.

The operator creates (or adopts) the pod on the worker and defers; this trigger follows the pod on the
triggerer with the same :class:`~airflow_provider_k8spod.pod.lifecycle.PodLifecycle` the synchronous path
uses (start-up classification, live logs, events, completion, XCom, verdict) and fires one event that
carries the whole outcome. The operator's ``trigger_reentry`` then cleans up and decides the task as the
synchronous path does.

What a cancellation means here:

- the triggerer stops or hands the trigger to another triggerer: the pod is kept, and where its logs were
  delivered up to is saved on the pod, so the next trigger continues without repeating a line;
- the user marks the task failed or success (Airflow 3.3+ calls :meth:`KubernetesPodTrigger.on_kill`): the
  pod is deleted (unless ``on_kill_action="keep_pod"``);
- ``execution_timeout``: enforced here as a deadline; the event says so and ``trigger_reentry`` deletes
  the pod and fails the task with ``AirflowTaskTimeout``.

Everything the trigger needs travels in its kwargs, resolved on the worker (the cluster access with its
credentials, never a local file path or a connection lookup); Airflow stores trigger kwargs encrypted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_k8spod.callbacks import ExecutionMode
from airflow_provider_k8spod.hooks.access import ClusterAccess, close_async_clients
from airflow_provider_k8spod.operators._driver import CallbackObserver, run_callbacks
from airflow_provider_k8spod.pod.lifecycle import LifecycleSettings, PodHandle, PodLifecycle
from airflow_provider_k8spod.pod.watches import SharedWatches
from airflow_provider_k8spod.pod.xcom import sidecar_wait_deadline

__all__ = ["KubernetesPodTrigger"]

#: The user killed the task (Airflow's triggerer cancels with this message before calling on_kill).
_USER_ACTION = "__airflow_user_action__"
#: The largest XCom result (bytes) carried in the event; a larger one is read by trigger_reentry.
XCOM_IN_EVENT_LIMIT = 64 * 1024
#: Seconds between two saves of the log position on the pod while following (bounds what may repeat after
#: a triggerer is killed without a chance to save it).
CHECKPOINT_INTERVAL = 300.0

#: Triggers following a pod on each event loop, to close the loop's clients when the last one ends (keyed
#: by the loop itself: a later loop may reuse a closed one's ``id()``).
_ACTIVE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


class KubernetesPodTrigger(BaseTrigger):
    """Follows one pod on the triggerer until it ends; fires one event with the outcome.

    :param handle: the pod (``PodHandle.to_dict()``).
    :param access: how to reach the cluster (``ClusterAccess.serialize()``), resolved on the worker.
    :param settings: the lifecycle settings (``LifecycleSettings.to_dict()``), from the operator's arguments.
    :param conn_id: the connection the access was resolved from (for messages only).
    :param deadline: ``time.time()`` seconds when ``execution_timeout`` ends, or None.
    :param callbacks: import paths of callback classes (run here with ``mode="async"``).
    :param log_formatter: import path of the operator's ``log_formatter``, or None.
    :param on_kill_action: ``delete_pod`` or ``keep_pod``: what a user kill does to the pod.
    :param deferred_at: ``time.time()`` seconds when the task deferred.
    """

    def __init__(
        self,
        *,
        handle: Mapping[str, Any],
        access: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
        conn_id: str | None = None,
        deadline: float | None = None,
        callbacks: Sequence[str] = (),
        log_formatter: str | None = None,
        on_kill_action: str = "delete_pod",
        deferred_at: float | None = None,
    ) -> None:
        super().__init__()
        self.handle = dict(handle)
        self.access = dict(access)
        self.settings = dict(settings or {})
        self.conn_id = conn_id
        self.deadline = deadline
        self.callbacks = list(callbacks)
        self.log_formatter = log_formatter
        self.on_kill_action = on_kill_action
        self.deferred_at = deferred_at
        # Checked at once, so that a bad trigger fails where it is made (the worker), not on the triggerer.
        self._pod = PodHandle.from_dict(self.handle)
        self._settings = LifecycleSettings.from_dict(self.settings)

    @classmethod
    def for_pod(
        cls,
        access: ClusterAccess,
        name: str,
        namespace: str,
        *,
        settings: LifecycleSettings | None = None,
        main: str = "base",
        managed: bool = True,
    ) -> KubernetesPodTrigger:
        """A trigger that follows an existing pod (``managed``: it carries this provider's labels, so the
        shared namespace watch sees it)."""
        handle = PodHandle(name=name, namespace=namespace, uid="", main=main, managed=managed)
        return cls(
            handle=handle.to_dict(),
            access=access.serialize(),
            settings=(settings or LifecycleSettings()).to_dict(),
            conn_id=access.conn_id,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "handle": self.handle,
                "access": self.access,
                "settings": self.settings,
                "conn_id": self.conn_id,
                "deadline": self.deadline,
                "callbacks": self.callbacks,
                "log_formatter": self.log_formatter,
                "on_kill_action": self.on_kill_action,
                "deferred_at": self.deferred_at,
            },
        )

    def __repr__(self) -> str:  # the kwargs hold credentials: never print them
        return f"<KubernetesPodTrigger pod={self._pod.namespace}/{self._pod.name}>"

    # -- running -------------------------------------------------------------------------------------------

    def _hook(self) -> Any:
        from airflow_provider_k8spod.hooks.kubernetes import AsyncKubernetesHook

        access = ClusterAccess.deserialize(self.access)
        return AsyncKubernetesHook(self.conn_id, cluster_access=access), access

    def _lifecycle(self) -> PodLifecycle:
        hook, access = self._hook()
        settings = dataclasses.replace(self._settings, xcom_inline_limit=XCOM_IN_EVENT_LIMIT)
        callbacks = _import_all(self.callbacks, self.log, "callback")
        formatter = _import_all([self.log_formatter] if self.log_formatter else [], self.log, "log_formatter")
        return PodLifecycle(
            hook,
            settings,
            log=self.log,
            observer=_TriggerObserver(callbacks, hook, self) if callbacks else None,
            log_formatter=formatter[0] if formatter else None,
            watches=SharedWatches(access.key),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        loop = asyncio.get_running_loop()
        _ACTIVE[loop] = _ACTIVE.get(loop, 0) + 1
        # The first trigger of a triggerer imports the client library: not on the event loop.
        await asyncio.to_thread(importlib.import_module, "kubernetes_asyncio.client")
        lifecycle = await asyncio.to_thread(self._lifecycle)
        event: dict[str, Any] = {"handle": self._pod.to_dict()}
        checkpoints = asyncio.create_task(self._checkpoints(lifecycle))
        try:
            result = await lifecycle.follow(self._pod, deadline=self.deadline)
            # If this event is lost (the triggerer stops before Airflow stored it), Airflow runs the trigger
            # again: it must continue the log from here (not repeat it), and read the XCom result again
            # (the sidecar is left running, stopped on re-entry).
            # A sidecar left running keeps the pod Running until the worker resumes; if Airflow never resumes
            # the task (it can fail it on its own), Kubernetes stops the pod after SIDECAR_WAIT_SECONDS.
            deadline = None
            if lifecycle.sidecar_left and lifecycle.watcher is not None and lifecycle.watcher.pod:
                deadline = sidecar_wait_deadline(lifecycle.watcher.pod, now=time.time())
            gone = lifecycle.watcher is not None and lifecycle.watcher.deleted
            if (lifecycle.log_cursors() or deadline is not None) and not gone:
                await lifecycle.save_log_cursors(graceful=True, active_deadline_seconds=deadline)
            event.update(
                status="done",
                result=result.to_dict(),
                xcom_pending=result.xcom_pending,
                sidecar_running=lifecycle.sidecar_left,
            )
        except asyncio.CancelledError as exc:
            if not (exc.args and exc.args[0] == _USER_ACTION):
                # The triggerer stops or hands the pod over: keep it, and where its logs were delivered up to.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(lifecycle.save_log_cursors(graceful=True)), 5.0)
            raise
        except Exception as exc:
            self.log.error("Following pod %s/%s failed: %s", self._pod.namespace, self._pod.name, exc)
            event.update(status="error", message=f"{type(exc).__name__}: {exc}")
        finally:
            checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await checkpoints
            if isinstance(lifecycle.observer, _TriggerObserver):
                await lifecycle.observer.wait()
            _ACTIVE[loop] -= 1
            if not _ACTIVE[loop]:
                del _ACTIVE[loop]
                await close_async_clients()
        yield TriggerEvent(event)

    async def _checkpoints(self, lifecycle: PodLifecycle) -> None:
        last: dict[str, Any] = {}
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            current = lifecycle.log_cursors()
            if current and current != last:
                await lifecycle.save_log_cursors(graceful=False)
                last = current

    async def on_kill(self) -> None:
        """The user marked the deferred task failed or success (Airflow 3.3+): delete its pod, as the
        synchronous operator's ``on_kill`` does."""
        name, namespace = self._pod.name, self._pod.namespace
        if self.on_kill_action == "keep_pod":
            self.log.info("Task killed; keeping pod %s/%s (on_kill_action=keep_pod)", namespace, name)
            return
        hook, _ = self._hook()
        try:
            deleted = await hook.delete_pod(
                name, namespace, grace_period_seconds=self._settings.termination_grace_period
            )
            if deleted is not None:
                self.log.info("Task killed; deleted pod %s/%s", namespace, name)
        except Exception as exc:
            self.log.error("Task killed, but deleting pod %s/%s failed: %s", namespace, name, exc)
        finally:
            if not _ACTIVE.get(asyncio.get_running_loop()):
                await close_async_clients()


def _import_all(paths: Sequence[str], log: Any, what: str) -> list[Any]:
    found = []
    for path in paths:
        try:
            found.append(_import(path))
        except Exception as exc:
            log.warning(
                "The %s %s cannot be imported on the triggerer (%s); it is not used here", what, path, exc
            )
    return found


def _import(path: str) -> Any:
    """The object at ``module.qualname`` (the module part is the longest importable prefix)."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(f"no module in {path!r}")


class _TriggerObserver(CallbackObserver):
    """Runs callbacks on the triggerer's loop (``mode="async"``), in order, as the lifecycle reports."""

    def __init__(self, callbacks: list[Any], hook: Any, trigger: KubernetesPodTrigger) -> None:
        super().__init__(callbacks, self._dispatch)
        self.hook, self.log, self.trigger = hook, trigger.log, trigger
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def _dispatch(self, method: str, kwargs: dict[str, Any]) -> None:
        self._queue.put_nowait((method, kwargs))
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        from kubernetes_asyncio.client import CoreV1Api

        client = CoreV1Api(await self.hook.get_api_client())
        while (item := await self._queue.get()) is not None:
            method, kwargs = item
            # There is no operator on the triggerer: callbacks get the trigger (it has ``log``) and no context.
            await run_callbacks(
                self.callbacks,
                method,
                log=self.log,
                client=client,
                mode=ExecutionMode.ASYNC,
                operator=self.trigger,
                context=None,
                **kwargs,
            )

    async def wait(self) -> None:
        """Let the callbacks reported so far run (before the event fires)."""
        if self._worker is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._worker, 60)
