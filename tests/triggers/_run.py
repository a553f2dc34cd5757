"""Run a trigger to its first event in a test, bounded: a trigger that never fires fails the test with
where each of its coroutines waits, instead of hanging the test run."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_k8spod.hooks.access import close_async_clients

#: Seconds a trigger of these tests may take to fire (their pods run for a few seconds).
EVENT_LIMIT = 120.0


async def first_event(trigger: Any, limit: float = EVENT_LIMIT) -> dict[str, Any]:
    """The payload of ``trigger``'s first event; the loop's clients are closed afterwards."""

    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    task = asyncio.ensure_future(run())
    try:
        done, _ = await asyncio.wait({task}, timeout=limit)
        if not done:
            waiting = "\n".join(
                f"  {t.get_name()}: {' <- '.join(await_chain(t.get_coro()))}" for t in asyncio.all_tasks()
            )
            task.cancel()
            raise AssertionError(
                f"no event from the trigger in {limit:g}s; where each task waits:\n{waiting}"
            )
        return task.result()
    finally:
        await close_async_clients()


def await_chain(coro: Any) -> list[str]:
    """Where a coroutine waits: each frame of its chain of awaits, outermost first."""
    chain = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        frame = frame or getattr(coro, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})")
        coro = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "ag_await", None)
            or getattr(coro, "gi_yieldfrom", None)
        )
    return chain
