"""The few event-loop primitives the async fetch path needs, for each event loop `anyio` runs on:
asyncio and trio.

Everything else in the async path is `anyio` (timeouts, sleeps, DNS, worker threads) or
`httpcore`'s AnyIO backend. What `anyio` has no portable form for is here: the identity of the
running loop (one HTTP client per loop), a waiter that any thread can wake (single flight joins
threads and tasks of several loops), and a task that outlives the caller that started it (a
cancelled caller must not cancel a fetch others wait for).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import anyio

__all__ = ["Waiter", "running_loop", "spawn"]

logger = logging.getLogger("shakenkit.fetch")


def _trio() -> Any:
    """The trio module when this thread is inside ``trio.run``, else None (trio is never
    imported here: if it runs, it is loaded)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return None
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:  # not inside trio.run
        return None
    return trio


def running_loop() -> object | None:
    """The running event loop of this thread (the asyncio loop, or trio's run token), or None
    outside one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    trio = _trio()
    return trio.lowlevel.current_trio_token() if trio is not None else None


def _call_soon_threadsafe() -> Callable[[Callable[[], object]], object]:
    """Schedule a sync callback on the running loop, from any thread (this one included)."""
    loop = running_loop()
    if isinstance(loop, asyncio.AbstractEventLoop):
        return loop.call_soon_threadsafe
    if loop is not None:
        schedule: Callable[[Callable[[], object]], object] = loop.run_sync_soon  # type: ignore[attr-defined]
        return schedule
    raise RuntimeError("no running asyncio or trio event loop")


class Waiter:
    """Created in a task; :meth:`wake` may be called from any thread or loop, once or more;
    :meth:`wait` returns when woken or after ``timeout`` seconds."""

    __slots__ = ("_event", "_schedule")

    def __init__(self) -> None:
        self._schedule = _call_soon_threadsafe()
        self._event = anyio.Event()

    def wake(self) -> None:
        """Wake the waiting task. RuntimeError when its loop has ended (nobody waits then)."""
        self._schedule(self._event.set)

    async def wait(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self._event.wait()


async def _logged(fn: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
    try:
        await fn(*args)
    except Exception:  # a crashed detached task must not take the event loop down (trio)
        logger.exception("a background fetch task failed")


def spawn(fn: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> object:
    """Run ``fn(*args)`` in the running loop as a task of its own, not cancelled with the
    caller: an asyncio task (the returned handle: keep it referenced) or a trio system task
    (cancelled only when the trio run ends)."""
    loop = running_loop()
    if isinstance(loop, asyncio.AbstractEventLoop):
        return loop.create_task(_logged(fn, *args))
    trio = _trio()
    if trio is None:
        raise RuntimeError("no running asyncio or trio event loop")
    trio.lowlevel.spawn_system_task(_logged, fn, *args)
    return None
