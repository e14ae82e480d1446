"""Trust anchors: :class:`TrustStore` (the STI-PA-approved roots, reloadable) and the immutable
:class:`Anchors` snapshot a validation runs against.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.x509 import verification as xv

from ..errors import CaListError
from .certificate import (
    StiCertificate,
    parse_certificates,
)

if TYPE_CHECKING:
    from .calist import CaList

__all__ = [
    "ANCHOR_SUFFIXES",
    "AnchorSource",
    "AnchorSources",
    "Anchors",
    "TrustStore",
    "read_anchor_directory",
]

#: The files of a plain trust-anchor directory that are read (any other file is ignored).
ANCHOR_SUFFIXES = (".pem", ".crt", ".cer", ".der")
_MAX_ANCHOR_FILE = 1 << 26


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


#: One source of trust anchors: PEM or DER bytes, PEM text, or the path of a file or directory.
AnchorSource = bytes | bytearray | str | os.PathLike[str]
#: What :class:`TrustStore` (and ``Verifier(trust_anchors=...)``) takes: one source or several.
AnchorSources = AnchorSource | Iterable[AnchorSource]

_SINGLE = (bytes, bytearray, str, os.PathLike)
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
    if p.is_dir():  # a trust directory gives exactly its CA list's roots
        return [c for blob in read_anchor_directory(p) for c in _parse(blob)]
    return _parse(p.read_bytes())  # OSError (FileNotFoundError ...) names the path


def _parse(data: bytes) -> list[StiCertificate]:
    return parse_certificates(data, max_certs=_MAX_ANCHOR_CERTS, max_bytes=_MAX_ANCHOR_BYTES)


class TrustStore:
    """STI-PA-approved root certificates: the verifier's trust anchors (standards digest §6.1).

    ``anchors`` is one source or a list of them; a source is PEM or DER bytes, PEM text
    (a ``str`` holding ``-----BEGIN``), or the path (``str`` or :class:`os.PathLike`) of a
    PEM/DER file or of a directory whose ``.pem``/``.crt``/``.cer``/``.der`` files are read (a
    trust directory of ``shakenkit trust update`` gives exactly its CA list's roots,
    :func:`read_anchor_directory`), or build it from a checked STI-PA CA list
    (:meth:`from_ca_list`). Unreadable input raises: :class:`~shakenkit.CertificateError` for
    bytes that hold no certificate, :class:`OSError` for a path that cannot be read,
    :class:`TypeError` for anything else. :meth:`reload` swaps in a new set atomically:
    verifications already running keep the snapshot they started with. Certificates inside an
    ``x5u`` bundle are never trusted as anchors.
    """

    def __init__(self, anchors: AnchorSources = ()) -> None:
        self._sources = _anchor_sources(anchors)
        self._snapshot = _anchor_snapshot(self._load(self._sources), _new_generation())

    @staticmethod
    def _load(sources: Iterable[AnchorSource]) -> list[StiCertificate]:
        return [c for src in sources for c in _read_source(src)]

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> TrustStore:
        """Load the anchors of directory ``path`` (see :func:`read_anchor_directory`)."""
        return cls([path])

    @classmethod
    def from_ca_list(cls, calist: CaList) -> TrustStore:
        """Exactly the roots of a checked STI-PA CA list (see :mod:`shakenkit.certs.calist`)."""
        return cls([r.der for r in calist.roots])

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


def read_anchor_directory(path: str | os.PathLike[str]) -> list[bytes]:
    """The trust-anchor files of directory ``path``, read.

    A directory written by ``shakenkit trust update`` (it holds ``state.json``) yields exactly
    the root files its state file lists, each checked against the SHA-256 recorded there, all
    read through one open handle of the directory, so a concurrent update (which swaps the
    whole directory) is seen entirely or not at all; any other file in it is ignored. Any other
    directory yields every ``.pem``/``.crt``/``.cer``/``.der`` file, in name order. Raises
    :class:`OSError`, or :class:`~shakenkit.errors.CaListError` (``directory``) for a trust
    directory that does not match its state file.
    """
    from .calist import STATE_FILE

    p = Path(path)
    if not (p / STATE_FILE).is_file():
        return [
            q.read_bytes()
            for q in sorted(p.iterdir())
            if q.is_file() and q.suffix.lower() in ANCHOR_SUFFIXES
        ]
    for _ in range(5):
        try:
            return _read_trust_directory(p)
        except FileNotFoundError:
            continue  # swapped by an update while being read: read the new one
    raise CaListError(f"the trust directory {p} kept changing while being read", kind="directory")


def _read_trust_directory(p: Path) -> list[bytes]:
    from .calist import STATE_FILE, TrustDirState

    if os.open not in os.supports_dir_fd:  # pragma: no cover - Windows
        state = TrustDirState.from_json((p / STATE_FILE).read_bytes())
        blobs = [(r, (p / r.file).read_bytes()) for r in state.roots]
    else:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            state = TrustDirState.from_json(_read_at(fd, STATE_FILE))
            blobs = [(r, _read_at(fd, r.file)) for r in state.roots]
        finally:
            os.close(fd)
    out: list[bytes] = []
    for record, blob in blobs:
        certs = parse_certificates(blob, max_certs=1, max_bytes=_MAX_ANCHOR_FILE)
        if hashlib.sha256(certs[0].der).hexdigest() != record.sha256:
            raise CaListError(
                f"{p / record.file} is not the certificate {STATE_FILE} records (changed by "
                "hand?); run 'shakenkit trust update' again",
                kind="directory",
            )
        out.append(blob)
    return out


def _read_at(dir_fd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        data = f.read(_MAX_ANCHOR_FILE + 1)
    if len(data) > _MAX_ANCHOR_FILE:
        raise CaListError(f"{name} in the trust directory is too large", kind="directory")
    return data
