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

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from cryptography import x509

from ..certs.certificate import CertChain, parse_chain
from ..errors import CertificateError, CertificateFetchError
from .cache import (
    DEFAULT_CACHE_LIMITS,
    ENTRY_OVERHEAD,
    ByteMemo,
    CacheLimits,
    NegativeCache,
    _Negative,
)

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
    "chain_weight",
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

    def peek_crl(self, url: str) -> CrlList | CertificateFetchError | None:
        """The fresh cached CRLs for ``url``, a failure the source remembers for it (the error
        :meth:`CrlSource.get_crl` would raise, returned, not raised), or None (never fetches,
        never blocks)."""
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


def chain_weight(chain: CertChain, body: bytes = b"") -> int:
    """Bytes a parsed chain occupies, roughly: each certificate ~2x its DER plus 3 KiB of parsed
    fields (measured: ~5 KiB for a 700-byte SP certificate). Shared intermediates are counted
    in every chain that holds them, so this errs high."""
    return sum(2 * len(c.der) + 3_072 for c in chain.certs)


class StaticSource:
    """Certificates given up front: a mapping of ``x5u`` URL to PEM/DER bytes (or a file path),
    or a directory in which the file named like the URL's last path segment is served.

    Nothing is kept per URL a call names: parsed chains are keyed by what was configured (the
    mapping's URL, or the file name in the directory, so distinct URLs ending in one name share
    one chain), held within ``limits.x5u_bytes`` (:class:`CacheLimits`; least recently stored
    out first, parsed again on need). An unknown URL leaves no trace. A configured entry that
    cannot be read or parsed is remembered as a small record (kind, a short reason) for
    ``recheck_after`` seconds, within ``limits.negative_entries`` / ``negative_bytes``, and
    then read again. ``clock`` (unix seconds) times those records.
    """

    def __init__(
        self,
        certificates: Mapping[str, bytes | str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        limits: CacheLimits | None = None,
        recheck_after: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (isinstance(recheck_after, int | float) and math.isfinite(recheck_after)):
            raise ValueError("recheck_after must be a finite number of seconds >= 0")
        if recheck_after < 0:
            raise ValueError("recheck_after must be a finite number of seconds >= 0")
        self._dir: Path | None = None
        self._raw: dict[str, bytes | str | os.PathLike[str]] = {}
        if isinstance(certificates, str | os.PathLike):
            self._dir = Path(certificates)
        else:
            self._raw = dict(certificates)
        self.limits = limits or DEFAULT_CACHE_LIMITS
        self.recheck_after = float(recheck_after)
        self._clock = clock
        self._chains: ByteMemo[CertChain] = ByteMemo(self.limits.x5u_bytes)
        self._negative = NegativeCache(
            self.limits.negative_entries, self.limits.negative_bytes, self.recheck_after, clock
        )
        self._lock = threading.Lock()

    def _key(self, url: str) -> str | None:
        """What ``url`` names in the configuration: the mapping's key, or the file name in the
        directory; None when nothing is configured for it."""
        if self._dir is None:
            return url if url in self._raw else None
        try:
            name = os.path.basename(urlsplit(url).path)
        except ValueError:
            return None
        return name or None

    def _read(self, key: str) -> bytes | None:
        if self._dir is None:
            v = self._raw[key]
            return v if isinstance(v, bytes) else Path(v).read_bytes()
        p = self._dir / key
        try:
            here = p.is_file() and p.resolve().parent == self._dir.resolve()
        except (OSError, ValueError):  # a name no file can have (too long, NUL): not configured
            return None
        return p.read_bytes() if here else None

    def get(self, url: str) -> CertChain:
        """Return the chain for ``url``; CertificateFetchError (436) when none is configured or
        the configured one is unusable."""
        if not isinstance(url, str):
            raise CertificateFetchError("the x5u URL is not a string", kind="not_found")
        hit = self._chains.get(url)  # the mapping's keys are URLs: the warm path
        if hit is not None:
            return hit
        key = self._key(url)
        if key is not None:
            with self._lock:
                found = self._chains.get(key) or self._negative.get(key) or self._load(key)
            if isinstance(found, CertChain):
                return found
            if found is not None:
                raise CertificateFetchError(
                    f"the certificate configured for {url} is unusable: {found.message}",
                    kind=found.kind,
                )
        raise CertificateFetchError(f"no certificate is configured for {url}", kind="not_found")

    def _load(self, key: str) -> CertChain | _Negative | None:
        """Read and parse the configured entry (lock held): the chain (kept), a failure
        (remembered for ``recheck_after``), or None when the directory has no such file."""
        reason: tuple[str, str]
        try:
            data = self._read(key)
            if data is None:
                return None
            chain = parse_chain(data)
        except CertificateError as e:
            reason = ("parse", e.detail)
        except OSError as e:
            reason = ("io", f"cannot be read ({type(e).__name__}: {e.strerror or e})")
        else:
            self._chains.put(key, chain, chain_weight(chain) + len(key) + ENTRY_OVERHEAD)
            return chain
        record = _Negative.of(key, reason[0], reason[1], self._clock(), self.recheck_after)
        self._negative.put(key, record)
        return record

    async def aget(self, url: str) -> CertChain:
        """Async twin of :meth:`get` (no I/O beyond a local file read)."""
        return self.get(url)

    def peek(self, url: str) -> CertChain | None:
        """The chain configured under exactly ``url`` if it is parsed and held, else None."""
        return self._chains.get(url) if isinstance(url, str) else None

    def stats(self) -> dict[str, Any]:
        """What the source holds: ``entries``/``bytes`` (parsed chains, bytes as charged),
        ``negative_entries``/``negative_bytes`` (remembered failures) and ``limits``."""
        chains = self._chains.stats()
        with self._lock:
            negative_entries, negative_bytes = self._negative.usage()
        return {
            "entries": chains["entries"],
            "bytes": chains["bytes"],
            "negative_entries": negative_entries,
            "negative_bytes": negative_bytes,
            "limits": {**self.limits.as_dict(), "recheck_after": self.recheck_after},
        }
