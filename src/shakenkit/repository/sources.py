"""Where certificates come from: the capabilities a source may have (:class:`ChainSource`, also
named :class:`CertificateSource`; :class:`RefreshableChainSource`; :class:`CrlSource`) and a
static source. The verifier checks a source against these protocols once, when it is built,
never by probing for attributes.

A source maps an ``x5u`` URL to a parsed :class:`~shakenkit.certs.CertChain` and raises
:class:`~shakenkit.errors.CertificateFetchError` (436) when it cannot. A source that is also a
:class:`CrlSource` is asked for the CRLs the validated path names. The static source serves
a mapping or a directory; :mod:`shakenkit.repository` adds HTTPS fetching with caching.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from cryptography import x509

from ..certs.certificate import CertChain, parse_chain
from ..errors import CertificateError, CertificateFetchError

__all__ = [
    "CertificateSource",
    "ChainSource",
    "CrlList",
    "CrlSource",
    "PeekableChainSource",
    "PeekableCrlSource",
    "RefreshableChainSource",
    "StaticSource",
    "SupportsClose",
    "SupportsStats",
]

# What a CRL source returns: the CRLs found at one distribution point.
CrlList = tuple[x509.CertificateRevocationList, ...]


@runtime_checkable
class ChainSource(Protocol):
    """Anything that turns an ``x5u`` URL into a parsed certificate chain: the one capability
    the verifier needs. A user's own source implements these two methods."""

    def get(self, url: str) -> CertChain:
        """Return the chain for ``url``; raise CertificateFetchError (436) when unavailable."""
        ...

    async def aget(self, url: str) -> CertChain:
        """Async twin of :meth:`get`."""
        ...


# The name the public API has always used for a chain source.
CertificateSource = ChainSource


@runtime_checkable
class RefreshableChainSource(ChainSource, Protocol):
    """A chain source that can fetch a URL again when the cached chain's key does not verify a
    PASSporT (x5u URLs are reused for new keys, corpus README). It bounds how often it does so
    (:class:`~shakenkit.repository.HttpsSource`: once per URL per ``key_refresh_after``)."""

    def refresh(self, url: str) -> CertChain:
        """The chain at ``url``, fetched again if the source's own rate limit allows."""
        ...

    async def arefresh(self, url: str) -> CertChain:
        """Async twin of :meth:`refresh`."""
        ...


@runtime_checkable
class CrlSource(Protocol):
    """Anything that turns a CRL distribution point URL into CRLs (what :class:`HttpsSource`
    does). The verifier asks a source for CRLs only when it is one (checked once); what the
    CRLs establish is decided by :class:`~shakenkit.certs.RevocationChecker`, never by the
    source: a CRL from here is as untrusted as the ``x5u`` it came with."""

    def get_crl(self, url: str) -> CrlList:
        """The CRL(s) at ``url``; raise CertificateFetchError when unavailable."""
        ...

    async def aget_crl(self, url: str) -> CrlList:
        """Async twin of :meth:`get_crl`."""
        ...


@runtime_checkable
class PeekableChainSource(Protocol):
    """A chain source that can say, without I/O or waiting, whether it holds a fresh chain for
    ``url`` (its cache): the async verifier then answers without arming a timer."""

    def peek(self, url: str) -> CertChain | None:
        """The fresh cached chain for ``url``, or None (never fetches, never blocks)."""
        ...


@runtime_checkable
class PeekableCrlSource(Protocol):
    """A CRL source that can answer from its cache without I/O (see PeekableChainSource)."""

    def peek_crl(self, url: str) -> CrlList | None:
        """The fresh cached CRLs for ``url``, or None (never fetches, never blocks)."""
        ...


@runtime_checkable
class SupportsStats(Protocol):
    """A source that reports counters (cache hits, fetches, failures)."""

    def stats(self) -> dict[str, Any]:
        """Counters since creation."""
        ...


@runtime_checkable
class SupportsClose(Protocol):
    """A source holding network clients to release."""

    def close(self) -> None:
        """Release the clients."""
        ...

    async def aclose(self) -> None:
        """Release the clients (async)."""
        ...


class StaticSource:
    """Certificates given up front: a mapping of ``x5u`` URL to PEM/DER bytes (or a file path),
    or a directory in which the file named like the URL's last path segment is served.
    Each chain is parsed once and kept.
    """

    def __init__(
        self,
        certificates: Mapping[str, bytes | str | os.PathLike[str]] | str | os.PathLike[str],
    ) -> None:
        self._dir: Path | None = None
        self._raw: dict[str, bytes | str | os.PathLike[str]] = {}
        if isinstance(certificates, str | os.PathLike):
            self._dir = Path(certificates)
        else:
            self._raw = dict(certificates)
        self._parsed: dict[str, CertChain | CertificateFetchError] = {}
        self._lock = threading.Lock()

    def _load(self, url: str) -> CertChain:
        data: bytes | None = None
        if url in self._raw:
            v = self._raw[url]
            data = v if isinstance(v, bytes) else Path(v).read_bytes()
        elif self._dir is not None:
            name = os.path.basename(urlsplit(url).path)
            p = self._dir / name
            if name and p.is_file() and p.resolve().parent == self._dir.resolve():
                data = p.read_bytes()
        if data is None:
            raise CertificateFetchError(f"no certificate is configured for {url}", kind="not_found")
        try:
            return parse_chain(data)
        except CertificateError as e:
            raise CertificateFetchError(
                f"the certificate configured for {url} is unusable: {e.detail}", kind="parse"
            ) from e

    def get(self, url: str) -> CertChain:
        """Return the chain for ``url`` (parsed once)."""
        hit = self._parsed.get(url)
        if hit is None:
            with self._lock:
                hit = self._parsed.get(url)
                if hit is None:
                    try:
                        hit = self._load(url)
                    except CertificateFetchError as e:
                        hit = e
                    except OSError as e:
                        hit = CertificateFetchError(
                            f"cannot read certificate for {url}: {e}", kind="io"
                        )
                    if len(self._parsed) < 100_000:
                        self._parsed[url] = hit
        if isinstance(hit, CertificateFetchError):
            # A fresh exception each time: re-raising one instance would grow its traceback.
            raise CertificateFetchError(hit.detail, kind=hit.kind)
        return hit

    async def aget(self, url: str) -> CertChain:
        """Async twin of :meth:`get` (no I/O beyond a local file read)."""
        return self.get(url)

    def peek(self, url: str) -> CertChain | None:
        """The chain for ``url`` if it was already parsed, else None."""
        hit = self._parsed.get(url)
        return hit if isinstance(hit, CertChain) else None
