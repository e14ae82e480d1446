"""Trust anchors: :class:`TrustStore` (the STI-PA-approved roots, reloadable) and the immutable
:class:`Anchors` snapshot a validation runs against.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.x509 import verification as xv

from .certificate import (
    StiCertificate,
    parse_certificates,
)

__all__ = [
    "Anchors",
    "TrustStore",
]


@dataclass(frozen=True, slots=True, eq=False)
class Anchors:
    """An immutable snapshot of a :class:`TrustStore` (what one verification uses)."""

    certs: tuple[StiCertificate, ...]
    generation: int
    store: xv.Store | None
    by_subject: dict[str, tuple[StiCertificate, ...]]


def _anchor_snapshot(certs: Sequence[StiCertificate], generation: int) -> Anchors:
    # A NULL-parameter anchor (corpus README) in its repaired encoding: RFC 5280 §6.1 trusts an
    # anchor's name and key; its own signature is not part of path validation.
    strict = [c.cert for c in certs]
    by_subject: dict[str, list[StiCertificate]] = {}
    for c in certs:
        by_subject.setdefault(c.subject, []).append(c)
    return Anchors(
        tuple(certs),
        generation,
        xv.Store(strict) if strict else None,
        {k: tuple(v) for k, v in by_subject.items()},
    )


_generation_lock = threading.Lock()

_next_generation = [1]


def _new_generation() -> int:
    with _generation_lock:
        g = _next_generation[0]
        _next_generation[0] += 1
        return g


class TrustStore:
    """STI-PA-approved root certificates: the verifier's trust anchors (standards digest §6.1).

    Build it from PEM/DER bytes, files or a directory. :meth:`reload` swaps in a new set
    atomically: verifications already running keep the snapshot they started with.
    Certificates inside an ``x5u`` bundle are never trusted as anchors.
    """

    def __init__(self, anchors: Iterable[bytes | str | os.PathLike[str]] = ()) -> None:
        self._sources = list(anchors)
        self._snapshot = _anchor_snapshot(self._load(self._sources), _new_generation())

    @staticmethod
    def _load(sources: Iterable[bytes | str | os.PathLike[str]]) -> list[StiCertificate]:
        certs: list[StiCertificate] = []
        for src in sources:
            if isinstance(src, bytes | bytearray):
                certs.extend(parse_certificates(bytes(src), max_certs=10_000, max_bytes=1 << 26))
                continue
            p = Path(src)
            files = sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p]
            for f in files:
                if p.is_dir() and f.suffix.lower() not in (".pem", ".crt", ".cer", ".der"):
                    continue
                certs.extend(
                    parse_certificates(f.read_bytes(), max_certs=10_000, max_bytes=1 << 26)
                )
        return certs

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> TrustStore:
        """Load every ``.pem``/``.crt``/``.cer``/``.der`` file in ``path``."""
        return cls([path])

    def reload(self, anchors: Iterable[bytes | str | os.PathLike[str]] | None = None) -> None:
        """Re-read the anchors (from the same sources, or from ``anchors``) and swap them in."""
        if anchors is not None:
            self._sources = list(anchors)
        self._snapshot = _anchor_snapshot(self._load(self._sources), _new_generation())

    def snapshot(self) -> Anchors:
        """The current anchors (immutable)."""
        return self._snapshot

    def __len__(self) -> int:
        return len(self._snapshot.certs)
