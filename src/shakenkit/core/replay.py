"""Replay detection (RFC 8224 §12.1; standards digest §9): remember the PASSporTs seen within the
freshness window and recognise a repeat.

A PASSporT is recognised by its **content**, not its signature bytes: the key is a SHA-256
digest over the signer's certificate and the signing input as received (protected header and
payload, :func:`replay_key`). An ES256 signature is malleable (``(r, s)`` and ``(r, n - s)``
both verify) and the signer can sign the same bytes again with a new nonce, so keying on the
signature would let a copy through as a new call.

Where the keys live is a :class:`ReplayStore`: :class:`ReplayCache` (in memory, one process,
the default) or a carrier's shared store (e.g. Redis, so every verifier of a cluster sees every
call), given as ``Verifier(replay_store=...)``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Protocol, runtime_checkable

__all__ = ["ReplayCache", "ReplayStore", "replay_key"]

_KEY_CONTEXT = b"shakenkit replay v1\x00"


def replay_key(signing_input: bytes, signer: str) -> bytes:
    """The replay key of a PASSporT: SHA-256 over ``signer`` (the signing certificate's
    fingerprint) and ``signing_input`` (``header.payload`` as received). 32 bytes, whatever the
    size of the PASSporT; the signature is left out on purpose (module docstring)."""
    h = hashlib.sha256(_KEY_CONTEXT)
    h.update(signer.encode("ascii", "replace"))
    h.update(b"\x00")
    h.update(signing_input)
    return h.digest()


@runtime_checkable
class ReplayStore(Protocol):
    """Where replay keys are remembered (RFC 8224 §12.1).

    ``seen`` records ``key`` until ``keep_until`` (Unix seconds: the end of the PASSporT's
    freshness window) and returns whether it was already recorded and still kept at ``now``.
    It must be atomic ("check and set"), so two verifiers racing on one PASSporT do not both
    see it as new: with Redis, ``SET key 1 NX EXAT <keep_until>`` and "seen" when it was not
    set. The verifier passes 32-byte keys (:func:`replay_key`) and the verification time it was
    given, never a clock of its own.

    An exception from ``seen`` does not fail the call: the verdict gets a failed ``replay``
    check and a warning (the PASSporT could not be checked, which is no evidence against it).
    """

    def seen(self, key: bytes, now: float, keep_until: float) -> bool:
        """Record ``key`` until ``keep_until``; True when it was already there at ``now``."""
        ...


class ReplayCache:
    """The in-memory :class:`ReplayStore`: seen keys with the time after which each may go.

    Bounded in entries and bytes: at most ``max_entries`` entries, each a 32-byte SHA-256 of
    the key it was given (about 170 bytes with its bookkeeping, so ~17 MB for the default
    100 000). When full, the oldest entries are dropped first: a flood can push an entry out
    early, it cannot grow memory. Thread-safe; a pure function of the times it is given.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be an integer >= 1, not {max_entries!r}")
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: bytes, now: float, keep_until: float) -> bool:
        """Record ``key`` (kept until ``keep_until``) and say whether it was already there
        (and still within its window at ``now``)."""
        digest = hashlib.sha256(key).digest()
        with self._lock:
            # Entries arrive roughly in time order: expired ones sit at the front.
            while self._seen:
                first_key, until = next(iter(self._seen.items()))
                if until >= now:
                    break
                del self._seen[first_key]
            prior = self._seen.get(digest)
            if prior is not None and prior >= now:
                return True
            self._seen[digest] = keep_until
            self._seen.move_to_end(digest)
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return False

    def __len__(self) -> int:
        return len(self._seen)
