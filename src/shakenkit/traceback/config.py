"""Verifier configuration a worker process can rebuild: :class:`VerifierConfig` (picklable) and
:func:`verifier_for` (one cached :class:`~shakenkit.Verifier` per configuration and process).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..certs.trust import read_anchor_directory
from ..core.verifier import Policy, Verifier
from ..errors import ShakenError
from ..repository.fetch import FetchPolicy

__all__ = [
    "VerifierConfig",
    "verifier_for",
]


def _bytes_of(value: bytes | str | os.PathLike[str], what: str) -> list[bytes]:
    """File contents (a directory: its anchor files, as TrustStore reads one; a trust directory
    of ``shakenkit trust update`` gives exactly its CA list's roots)."""
    if isinstance(value, bytes | bytearray):
        return [bytes(value)]
    p = Path(value)
    if p.is_dir():
        try:
            return read_anchor_directory(p)
        except ShakenError as e:
            raise ValueError(e.detail) from e
    try:
        return [p.read_bytes()]
    except OSError as e:
        raise ValueError(f"cannot read {what} {os.fspath(value)!r}: {e.strerror or e}") from e


@dataclass(frozen=True)
class VerifierConfig:
    """Everything needed to build a :class:`~shakenkit.Verifier`, as plain picklable values, so
    that each worker process (or each Dask worker, on any machine) builds its own verifier and
    certificate cache from it.

    * ``trust_anchors`` — PEM/DER bytes of the STI-PA-approved roots;
    * ``certificates`` — ``(x5u, chain PEM bytes)`` pairs served without fetching;
    * ``crls`` — PEM/DER CRL bytes checked for every chain;
    * ``crl_signers`` — PEM/DER certificates of the configured CRL signers (the STI-PA's
      "STI-PA CRL" signer; docs/security.md "Revocation");
    * ``policy`` — the :class:`~shakenkit.Policy`;
    * ``fetch`` — None (the default): never fetch, only ``certificates`` are known (an unknown
      ``x5u`` gives 436); a :class:`~shakenkit.FetchPolicy`: fetch every other ``x5u`` (and the
      CRLs certificates name) over HTTPS under that policy.

    Build one from files with :meth:`load`. Hashable: equal configurations share one verifier
    per process (:func:`verifier_for`).
    """

    trust_anchors: tuple[bytes, ...] = ()
    certificates: tuple[tuple[str, bytes], ...] = ()
    crls: tuple[bytes, ...] = ()
    policy: Policy = field(default_factory=Policy)
    fetch: FetchPolicy | None = None
    crl_signers: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists and mappings too, and keep a canonical (hashable, ordered) form.
        certs: Any = self.certificates
        pairs = certs.items() if isinstance(certs, Mapping) else certs
        object.__setattr__(
            self, "certificates", tuple(sorted((str(u), bytes(c)) for u, c in pairs))
        )
        object.__setattr__(self, "trust_anchors", tuple(bytes(a) for a in self.trust_anchors))
        object.__setattr__(self, "crls", tuple(bytes(c) for c in self.crls))
        object.__setattr__(self, "crl_signers", tuple(bytes(c) for c in self.crl_signers))

    @classmethod
    def load(
        cls,
        trust_anchors: Iterable[bytes | str | os.PathLike[str]] = (),
        certificates: Mapping[str, bytes | str | os.PathLike[str]] | None = None,
        crls: Iterable[bytes | str | os.PathLike[str]] = (),
        *,
        policy: Policy | None = None,
        fetch: FetchPolicy | None = None,
        crl_signers: Iterable[bytes | str | os.PathLike[str]] = (),
    ) -> VerifierConfig:
        """A configuration from bytes or files: ``trust_anchors`` may name PEM files or
        directories (their ``.pem``/``.crt``/``.cer``/``.der`` files; a trust directory of
        ``shakenkit trust update``: exactly its CA list's roots), ``certificates`` maps
        ``x5u`` URLs to chain bytes or files, ``crls`` CRL bytes or files, ``crl_signers`` CRL
        signer certificates (bytes or files). Files are read here,
        once, so workers on other machines need none of them. Raises ValueError when a file
        cannot be read."""
        anchors = [b for a in trust_anchors for b in _bytes_of(a, "trust anchor file")]
        certs = {
            url: _bytes_of(v, "certificate file")[0] if not isinstance(v, bytes) else v
            for url, v in (certificates or {}).items()
        }
        crl_bytes = [b for c in crls for b in _bytes_of(c, "CRL file")]
        signer_bytes = [b for c in crl_signers for b in _bytes_of(c, "CRL signer file")]
        return cls(
            tuple(anchors),
            tuple(certs.items()),
            tuple(crl_bytes),
            policy or Policy(),
            fetch,
            tuple(signer_bytes),
        )

    def build(self) -> Verifier:
        """A new :class:`~shakenkit.Verifier` for this configuration."""
        certs = dict(self.certificates)
        anchors: list[bytes] = list(self.trust_anchors)
        if self.fetch is None:
            return Verifier(
                trust_anchors=anchors, certificates=certs, crls=self.crls,
                crl_signers=self.crl_signers, policy=self.policy,
            )
        from ..repository.https import HttpsSource, LayeredSource
        from ..repository.sources import CertificateSource

        source: CertificateSource = HttpsSource(self.fetch)
        if certs:
            source = LayeredSource(certs, source)
        return Verifier(
            trust_anchors=anchors, source=source, crls=self.crls, crl_signers=self.crl_signers,
            policy=self.policy,
        )


_VERIFIERS: dict[VerifierConfig, Verifier] = {}

_VERIFIERS_LOCK = threading.Lock()

_MAX_VERIFIERS = 4


def verifier_for(config: VerifierConfig) -> Verifier:
    """The verifier this process keeps for ``config`` (built on first use): one certificate
    cache per process, shared by every chunk or partition the process verifies."""
    v = _VERIFIERS.get(config)
    if v is not None:
        return v
    with _VERIFIERS_LOCK:
        v = _VERIFIERS.get(config)
        if v is None:
            if len(_VERIFIERS) >= _MAX_VERIFIERS:
                _VERIFIERS.pop(next(iter(_VERIFIERS))).close()
            v = _VERIFIERS[config] = config.build()
        return v
