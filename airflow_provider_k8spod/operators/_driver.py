"""The worker's side of running the lifecycle: a loop thread that keeps signals on the main thread, the
observer that turns lifecycle notifications into XComs and callbacks, and the callback dispatcher that the
trigger uses too."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import queue
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from airflow_provider_k8spod.hooks.access import close_async_clients
from airflow_provider_k8spod.pod.logs import LogLine
from airflow_provider_k8spod.pod.normalize import to_model

__all__ = ["CallbackObserver", "LifecycleThread", "call_callbacks", "run_callbacks", "run_on_loop_thread"]

_T = Any


def _callback_calls(
    callbacks: Iterable[Any], method: str, kwargs: Mapping[str, Any]
) -> Iterable[Callable[[], Any]]:
    """One call per callback class defining ``method``, with upstream's arguments (``progress_callback``
    gets no operator nor context)."""
    for callback in callbacks:
        function = getattr(callback, method, None)
        if function is None:
            continue
        arguments = dict(kwargs)
        if method == "progress_callback":
            arguments.pop("operator", None)
            arguments.pop("context", None)

        def call(function: Any = function, arguments: dict[str, Any] = arguments) -> Any:
            return function(**arguments)

        call.__qualname__ = f"{getattr(callback, '__name__', callback)}.{method}"
        yield call


def _callback_failed(call: Callable[[], Any], exc: Exception, log: Any) -> None:
    log.warning("Callback %s failed: %s", call.__qualname__, exc)


async def run_callbacks(callbacks: Iterable[Any], method: str, *, log: Any, **kwargs: Any) -> None:
    """Call ``method`` of every callback class (sync or async methods alike); a callback that raises is
    logged as a warning and changes nothing. Used by the trigger (``mode=ExecutionMode.ASYNC``)."""
    for call in _callback_calls(callbacks, method, kwargs):
        try:
            outcome = call()
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:
            _callback_failed(call, exc, log)


def call_callbacks(callbacks: Iterable[Any], method: str, *, log: Any, **kwargs: Any) -> None:
    """:func:`run_callbacks` for synchronous code (the worker's main thread)."""
    for call in _callback_calls(callbacks, method, kwargs):
        try:
            outcome = call()
            if inspect.isawaitable(outcome):
                asyncio.run(_awaited(outcome))
        except Exception as exc:
            _callback_failed(call, exc, log)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class LifecycleThread:
    """Runs the lifecycle on its own event loop in a helper thread, while the task's main thread waits.

    The main thread is where Airflow delivers ``execution_timeout`` (SIGALRM raising AirflowTaskTimeout) and
    kills (SIGTERM calling ``on_kill``): there they interrupt a plain wait, never a coroutine of the loop,
    so they cannot be swallowed by an unrelated task. On such an interruption the lifecycle is cancelled and
    given ``cleanup_timeout`` seconds to clean up before the error propagates. Notifications the lifecycle
    posts (XCom pushes, user callbacks) run on the main thread too, as upstream runs them.
    """

    def __init__(self, cleanup_timeout: float = 60.0) -> None:
        self.cleanup_timeout = cleanup_timeout
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def post(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the waiting (main) thread."""
        self._calls.put(call)

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        outcome: concurrent.futures.Future[_T] = concurrent.futures.Future()

        async def main() -> _T:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            return await coroutine

        def target() -> None:
            try:
                outcome.set_result(asyncio.run(main()))
            except BaseException as exc:
                outcome.set_exception(exc)
            finally:
                self._calls.put(None)

        thread = threading.Thread(target=target, name="k8spod-lifecycle", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    call = self._calls.get(timeout=0.5)
                except queue.Empty:
                    continue
                if call is None:
                    break
                call()
        except BaseException:
            self.cancel()
            thread.join(self.cleanup_timeout)
            raise
        return outcome.result()

    def cancel(self) -> None:
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)


class CallbackObserver:
    """Turns lifecycle notifications into upstream-style callback calls (``pod`` as a ``V1Pod`` model),
    handed to ``dispatch(method, kwargs)``; ``created(name, namespace)`` is told when the pod exists.

    The worker's driver dispatches onto the task's main thread (as upstream runs callbacks there), the
    trigger onto its event loop.
    """

    def __init__(
        self,
        callbacks: Iterable[Any],
        dispatch: Callable[[str, dict[str, Any]], None],
        created: Callable[[str, str], None] | None = None,
        seen: Callable[[Any, bool], None] | None = None,
    ) -> None:
        self.callbacks = list(callbacks)
        self.dispatch = dispatch
        self.created = created
        #: Told each state the lifecycle reports (the pod's JSON; True for the pod as created or adopted):
        #: the operator keeps it as upstream's ``pod`` / ``remote_pod``.
        self.seen = seen
        self._model_cache: tuple[str, Any] | None = None

    def _model(self, pod: Mapping[str, Any] | None) -> Any:
        if pod is None:
            return None
        version = str((pod.get("metadata") or {}).get("resourceVersion"))
        if self._model_cache is None or self._model_cache[0] != version:
            self._model_cache = (version, to_model(dict(pod), "V1Pod"))
        return self._model_cache[1]

    def _callback(self, method: str, pod: Mapping[str, Any] | None, **kwargs: Any) -> None:
        if self.callbacks:
            self.dispatch(method, {"pod": self._model(pod), **kwargs})

    def _seen(self, pod: Mapping[str, Any] | None, created: bool = False) -> None:
        if self.seen is not None and pod:
            self.seen(pod, created)

    def pod_created(self, pod: Mapping[str, Any], *, adopted: bool) -> None:
        meta = pod.get("metadata") or {}
        self._seen(pod, True)
        if self.created is not None:
            self.created(str(meta["name"]), str(meta.get("namespace") or "default"))
        self._callback("on_pod_creation", pod)

    def pod_started(self, pod: Mapping[str, Any]) -> None:
        self._seen(pod)
        self._callback("on_pod_starting", pod)

    def pod_completed(self, pod: Mapping[str, Any]) -> None:
        self._seen(pod)
        self._callback("on_pod_completion", pod)
        self._callback("on_pod_teardown", pod)

    def log_line(self, container: str, line: LogLine, pod: Mapping[str, Any] | None) -> None:
        if self.callbacks:
            self._callback(
                "progress_callback",
                pod,
                line=line.text,
                container_name=container,
                timestamp=line.raw_timestamp or None,
            )

    def pod_cleaned_up(self, pod: Mapping[str, Any] | None, *, deleted: bool) -> None:
        self._callback("on_pod_cleanup", pod)


def run_on_loop_thread(coroutine: Coroutine[Any, Any, _T], runner: LifecycleThread | None = None) -> _T:
    """Run ``coroutine`` on a :class:`LifecycleThread` (the async clients of its loop closed at the end)."""

    async def main() -> Any:
        try:
            return await coroutine
        finally:
            await close_async_clients()

    return (runner or LifecycleThread()).run(main())
