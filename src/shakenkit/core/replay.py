"""Replay detection (RFC 8224 §12.1; standards digest §9): remember the PASSporTs seen within the
freshness window and recognise a repeat.

A valid PASSporT is only usable for ``max_age`` seconds after its ``iat``, so an entry is kept
until then. Memory is bounded by ``max_entries``: when full, the oldest entries are dropped
first (a flood can push out an entry early; it cannot grow memory). Thread-safe; a pure
function of the verification time it is given (no clock of its own).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["ReplayCache"]


class ReplayCache:
    """Seen PASSporT signatures with the time after which each may be forgotten."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: bytes, *, now: float, keep_until: float) -> bool:
        """Record ``key`` (kept until ``keep_until``) and say whether it was already there
        (and still within its window at ``now``)."""
        with self._lock:
            # Entries arrive roughly in time order: expired ones sit at the front.
            while self._seen:
                first_key, until = next(iter(self._seen.items()))
                if until >= now:
                    break
                del self._seen[first_key]
            prior = self._seen.get(key)
            if prior is not None and prior >= now:
                return True
            self._seen[key] = keep_until
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return False

    def __len__(self) -> int:
        return len(self._seen)
