"""A small memo of signatures already verified, keyed by content (issue 20, docs/performance.md).

The same PASSporT reaches a verifier many times: a forked INVITE carries it on every branch, a
retransmitted INVITE carries it again, a capture taken at several points of a network holds it
once per point. ES256 verification is a pure function of (signing input, signature, public
key), so its *positive* answer can be remembered under exactly that triple:

* the key is the received signing input and signature bytes, and the identity of the chain
  whose key verified them — a malleated signature (``s -> n - s``), another payload or another
  certificate is a different key and is verified afresh;
* only successes are kept: an attacker's invalid signatures never enter it;
* it is bounded in bytes (``Policy.signature_memo_bytes``; 0 turns it off), least recently used
  first out, and thread-safe;
* it replaces nothing else: freshness, numbers, certificate and CRL checks, and replay
  detection (keyed by content too, RFC 8224 §12.1) run on every call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["SignatureMemo"]

_ENTRY_OVERHEAD = 200  # tuple, two bytes objects' headers, the OrderedDict link, the int


class SignatureMemo:
    """Signatures that verified, as (chain id, signing input, signature), bounded in bytes."""

    __slots__ = ("_bytes", "_entries", "_lock", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("signature memo max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, bytes, bytes], int] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def hit(self, chain_id: int, signing_input: bytes, signature: bytes) -> bool:
        """Did exactly this signature over exactly this input verify with this chain's key?"""
        key = (chain_id, signing_input, signature)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True
        return False

    def add(self, chain_id: int, signing_input: bytes, signature: bytes) -> None:
        """Remember a signature that verified (an entry larger than the memo is not kept)."""
        size = len(signing_input) + len(signature) + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        key = (chain_id, signing_input, signature)
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = size
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped

    def stats(self) -> dict[str, int]:
        """Entries and bytes held."""
        with self._lock:
            held = {"entries": len(self._entries), "bytes": self._bytes}
        return {**held, "max_bytes": self.max_bytes}
