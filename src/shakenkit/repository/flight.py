"""Single flight: concurrent callers of one URL (threads, asyncio tasks, or a mix) share one
request and all receive its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from .failures import FetchError

T = TypeVar("T")


_WAIT_GRACE_S: Final = 10.0  # waiters give up this long after the owner's own total timeout


@dataclass(frozen=True)
class _Ok(Generic[T]):
    value: T
    source: Literal["cache", "network", "disk", "stale"]


@dataclass(frozen=True)
class _Err:
    error: FetchError


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Flight(Generic[T]):
    """One in-progress fetch of one URL; threads wait on an Event, tasks on per-loop futures."""

    def __init__(self, max_age: float | None = None) -> None:
        self.max_age = max_age  # the owner's: a disk entry older than this is not used
        self._done = threading.Event()
        self._mutex = threading.Lock()
        self._outcome: _Ok[T] | _Err | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # set when an aget() owns the flight
        self.task: asyncio.Task[None] | None = None  # strong reference to the owner task

    @property
    def outcome(self) -> _Ok[T] | _Err | None:
        return self._outcome

    def complete(self, outcome: _Ok[T] | _Err) -> bool:
        """Publish the outcome to every waiter; the first completion wins."""
        with self._mutex:
            if self._outcome is not None:
                return False
            self._outcome = outcome
            waiters, self._waiters = self._waiters, []
        self._done.set()
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_wake, future)
        return True

    def wait(self, timeout: float) -> _Ok[T] | _Err | None:
        self._done.wait(timeout)
        return self._outcome

    async def wait_async(self, timeout: float) -> _Ok[T] | _Err | None:
        loop = asyncio.get_running_loop()
        with self._mutex:
            if self._outcome is not None:
                return self._outcome
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(future, timeout)
        return self._outcome


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
