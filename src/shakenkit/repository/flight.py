"""Single flight: concurrent callers of one URL (threads, asyncio or trio tasks, or a mix) share
one request and all receive its outcome.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from .aio import Waiter, running_loop
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


class _Flight(Generic[T]):
    """One in-progress fetch of one URL; threads wait on an Event, tasks (asyncio or trio) on
    a :class:`~shakenkit.repository.aio.Waiter` of their own loop."""

    def __init__(self, max_age: float | None = None) -> None:
        self.max_age = max_age  # the owner's: a disk entry older than this is not used
        self._done = threading.Event()
        self._mutex = threading.Lock()
        self._outcome: _Ok[T] | _Err | None = None
        self._waiters: list[Callable[[], None]] = []
        self.loop: object | None = None  # the event loop whose aget() owns the flight
        self.task: object | None = None  # strong reference to the owner task (asyncio)

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
        for wake in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                wake()
        return True

    def wait(self, timeout: float) -> _Ok[T] | _Err | None:
        self._done.wait(timeout)
        return self._outcome

    async def wait_async(self, timeout: float) -> _Ok[T] | _Err | None:
        waiter = Waiter()
        with self._mutex:
            if self._outcome is not None:
                return self._outcome
            self._waiters.append(waiter.wake)
        await waiter.wait(timeout)
        return self._outcome


_running_loop = running_loop
