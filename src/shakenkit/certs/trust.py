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
    "AnchorSource",
    "AnchorSources",
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
    strict = [c.cert for c in certs if c.lenient is None]
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


#: One source of trust anchors: PEM or DER bytes, PEM text, or the path of a file or directory.
AnchorSource = bytes | bytearray | str | os.PathLike[str]
#: What :class:`TrustStore` (and ``Verifier(trust_anchors=...)``) takes: one source or several.
AnchorSources = AnchorSource | Iterable[AnchorSource]

_SINGLE = (bytes, bytearray, str, os.PathLike)
_ANCHOR_SUFFIXES = (".pem", ".crt", ".cer", ".der")
_MAX_ANCHOR_CERTS = 10_000
_MAX_ANCHOR_BYTES = 1 << 26


def _anchor_sources(anchors: object) -> list[AnchorSource]:
    """``anchors`` as a list of sources: one source (bytes, text, path) is a list of one, so
    ``TrustStore(root_pem)`` reads the PEM instead of iterating its bytes. Raises TypeError
    naming what is not a source."""
    if isinstance(anchors, _SINGLE):
        return [anchors]
    try:
        items = list(anchors)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            "trust anchors must be PEM/DER bytes, PEM text, a file or directory path, or a "
            f"list of them, not {type(anchors).__name__}"
        ) from None
    out: list[AnchorSource] = []
    for item in items:
        if not isinstance(item, _SINGLE):
            raise TypeError(
                "each trust anchor must be PEM/DER bytes, PEM text or a file or directory "
                f"path, not {type(item).__name__}"
            )
        out.append(item)
    return out


def _read_source(src: AnchorSource) -> list[StiCertificate]:
    """The certificates of one source: bytes and PEM text are parsed, a file read, a
    directory's ``.pem``/``.crt``/``.cer``/``.der`` files read in name order."""
    if isinstance(src, bytes | bytearray):
        return _parse(bytes(src))
    if isinstance(src, str) and "-----BEGIN" in src:
        return _parse(src.encode("ascii", "replace"))
    p = Path(src)
    if p.is_dir():
        out: list[StiCertificate] = []
        for f in sorted(q for q in p.iterdir() if q.is_file()):
            if f.suffix.lower() in _ANCHOR_SUFFIXES:
                out.extend(_parse(f.read_bytes()))
        return out
    return _parse(p.read_bytes())  # OSError (FileNotFoundError ...) names the path


def _parse(data: bytes) -> list[StiCertificate]:
    return parse_certificates(data, max_certs=_MAX_ANCHOR_CERTS, max_bytes=_MAX_ANCHOR_BYTES)


class TrustStore:
    """STI-PA-approved root certificates: the verifier's trust anchors (standards digest §6.1).

    ``anchors`` is one source or a list of them; a source is PEM or DER bytes, PEM text
    (a ``str`` holding ``-----BEGIN``), or the path (``str`` or :class:`os.PathLike`) of a
    PEM/DER file or of a directory whose ``.pem``/``.crt``/``.cer``/``.der`` files are read.
    Unreadable input raises: :class:`~shakenkit.CertificateError` for bytes that hold no
    certificate, :class:`OSError` for a path that cannot be read, :class:`TypeError` for
    anything else. :meth:`reload` swaps in a new set atomically: verifications already
    running keep the snapshot they started with. Certificates inside an ``x5u`` bundle are
    never trusted as anchors.
    """

    def __init__(self, anchors: AnchorSources = ()) -> None:
        self._sources = _anchor_sources(anchors)
        self._snapshot = _anchor_snapshot(self._load(self._sources), _new_generation())

    @staticmethod
    def _load(sources: Iterable[AnchorSource]) -> list[StiCertificate]:
        return [c for src in sources for c in _read_source(src)]

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> TrustStore:
        """Load every ``.pem``/``.crt``/``.cer``/``.der`` file in ``path``."""
        return cls([path])

    def reload(self, anchors: AnchorSources | None = None) -> None:
        """Re-read the anchors (from the same sources, or from ``anchors``) and swap them in."""
        if anchors is not None:
            self._sources = _anchor_sources(anchors)
        self._snapshot = _anchor_snapshot(self._load(self._sources), _new_generation())

    def snapshot(self) -> Anchors:
        """The current anchors (immutable)."""
        return self._snapshot

    def __len__(self) -> int:
        return len(self._snapshot.certs)
