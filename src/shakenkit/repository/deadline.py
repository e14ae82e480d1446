"""One deadline for all the I/O of one call (docs/security.md, "Bounded work per call").

The verifier sets it (``Policy.call_deadline``) around the I/O a call needs; the HTTPS
transport shortens every connect, read and body wait to what is left of it, in threads and
tasks alike (a context variable: an asyncio task created for a fetch inherits it). A fetch
shared by several calls (single flight) runs under the deadline of the call that started it.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["call_deadline", "call_time_left"]

# Monotonic time by which the current call's I/O must be done (None: no call deadline).
_CALL_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "shakenkit_call_deadline", default=None
)


@contextmanager
def call_deadline(deadline: float | None) -> Iterator[None]:
    """Run the block under ``deadline`` (a :func:`time.monotonic` value; None: none). An
    enclosing, earlier deadline still applies."""
    outer = _CALL_DEADLINE.get()
    if deadline is None or (outer is not None and outer <= deadline):
        yield
        return
    token = _CALL_DEADLINE.set(deadline)
    try:
        yield
    finally:
        _CALL_DEADLINE.reset(token)


def call_time_left() -> float | None:
    """Seconds left before the current call's deadline (may be <= 0), or None without one."""
    deadline = _CALL_DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()
