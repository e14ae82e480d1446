"""The certificate repository (STI-CR) client that production uses: ``x5u`` chains and the
CRLs they name, fetched over HTTPS by :class:`shakenkit.repository.Fetcher` (limits, SSRF policy,
RFC 9111 cache with the ATIS-1000074 v003 24 h floor, negative cache, single flight, optional
persistent cache) and kept parsed.

One :class:`HttpsSource` serves the sync and the async verifier alike (one cache).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..certs.certificate import CertChain, parse_chain
from ..certs.crl import load_crls
from ..errors import CertificateError, CertificateFetchError
from .cache import _MISS, _Negative
from .fetch import Fetcher, FetchError, FetchPolicy
from .sources import (
    CertificateSource,
    CrlList,
    CrlSource,
    PeekableChainSource,
    PeekableCrlSource,
    RefreshableChainSource,
    StaticSource,
    SupportsClose,
    SupportsStats,
    chain_weight,
)

__all__ = ["HttpsSource", "LayeredSource"]


T = TypeVar("T")


def _crl_expiry(crls: CrlList) -> float | None:
    """A CRL is served until its nextUpdate (RFC 5280 §5.1.2.5)."""
    ups = [c.next_update_utc.timestamp() for c in crls if c.next_update_utc is not None]
    return min(ups) if ups else None


def _parse_crls(body: bytes) -> CrlList:
    crls = tuple(load_crls(body))
    if not crls:
        raise ValueError("no CRL in response")
    return crls


def _as_436(e: FetchError) -> CertificateFetchError:
    kind = e.cause_kind if e.kind == "negative_cache" and e.cause_kind else e.kind
    return CertificateFetchError(str(e), kind=kind)


def _cached(fetcher: Fetcher[T], url: str) -> T | object:
    """A fresh cached object, or ``_MISS``; a failure remembered for ``url`` is raised as
    CertificateFetchError (436) straight away: the warm path of every call, one lookup and at
    most one exception (an unreachable CRL is answered like a fetched one, issue 20)."""
    hit = fetcher._fresh_hit(url)
    if hit.__class__ is _Negative:
        raise CertificateFetchError(fetcher._negative_text(url, hit), kind=hit.kind)
    return hit


class HttpsSource:
    """Fetch ``x5u`` certificate chains (and CRLs) over HTTPS, per ATIS-1000074 v003 and
    ATIS-1000080 (standards digest §6.4), caching the parsed objects.

    ``policy`` sets limits, the SSRF allow-list, TLS trust and the cache (its
    ``cache_limits`` bound the parsed chains, CRLs and remembered failures in bytes);
    ``max_certs`` caps the certificates in one bundle. A chain is never served past its
    earliest notAfter, a CRL never past its nextUpdate. ``key_refresh_after``: see
    :meth:`refresh` (key rotation under a reused URL).
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        max_certs: int = 10,
        key_refresh_after: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self.key_refresh_after = key_refresh_after
        limit = self.policy.max_response_bytes

        def parse(body: bytes) -> CertChain:
            try:
                return parse_chain(body, max_certs=max_certs, max_bytes=limit)
            except CertificateError as e:
                raise ValueError(e.detail) from e

        self._chains: Fetcher[CertChain] = Fetcher(
            parse,
            policy=self.policy,
            expires=lambda c: c.not_after,
            name="x5u",
            clock=clock,
            weigh=chain_weight,
        )
        self._crls: Fetcher[CrlList] = Fetcher(
            _parse_crls, policy=self.policy, expires=_crl_expiry, name="crl", clock=clock
        )
        # The last remembered CRL failure peek_crl answered, and its error (one slot).
        self._crl_failure: tuple[_Negative, CertificateFetchError] | None = None

    def get(self, url: str) -> CertChain:
        """The chain at ``url`` (cached); CertificateFetchError (436) when it cannot be had."""
        hit = _cached(self._chains, url)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        try:
            return self._chains.get(url)
        except FetchError as e:
            raise _as_436(e) from None

    async def aget(self, url: str) -> CertChain:
        """Async twin of :meth:`get`, sharing its cache and in-flight requests."""
        hit = _cached(self._chains, url)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        try:
            return await self._chains.aget(url)
        except FetchError as e:
            raise _as_436(e) from None

    def peek(self, url: str) -> CertChain | None:
        """The fresh cached chain for ``url``, or None (no I/O)."""
        return self._chains.peek(url)

    def peek_crl(self, url: str) -> CrlList | CertificateFetchError | None:
        """The fresh cached CRLs for ``url``; a failure remembered for it (within
        ``negative_ttl``) as the CertificateFetchError :meth:`get_crl` would raise, returned,
        not raised (the same object for every call the record answers: read it, do not raise
        it); else None. No I/O: the async verifier answers both without a timer."""
        hit = self._crls._fresh_hit(url)
        if hit is _MISS:
            return None
        if isinstance(hit, _Negative):
            memo = self._crl_failure
            if memo is not None and memo[0] is hit:
                return memo[1]  # the same record: the same (never raised) error object
            error = CertificateFetchError(self._crls._negative_text(url, hit), kind=hit.kind)
            self._crl_failure = (hit, error)
            return error
        return hit  # type: ignore[return-value]

    def refresh(self, url: str) -> CertChain:
        """The chain at ``url``, fetched again unless the cached one is younger than
        ``key_refresh_after`` seconds. The verifier calls this when a PASSporT's signature does
        not verify with the cached certificate: x5u URLs are reused for new keys (corpus README),
        so the PASSporT is matched to the certificate by its key, and a forged call can make at
        most one request per URL per ``key_refresh_after``."""
        try:
            return self._chains.get(url, max_age=self.key_refresh_after)
        except FetchError as e:
            raise _as_436(e) from None

    async def arefresh(self, url: str) -> CertChain:
        """Async twin of :meth:`refresh`."""
        try:
            return await self._chains.aget(url, max_age=self.key_refresh_after)
        except FetchError as e:
            raise _as_436(e) from None

    def get_crl(self, url: str) -> CrlList:
        """The CRL(s) at ``url`` (cached until nextUpdate; a failure remembered for
        ``negative_ttl``)."""
        hit = _cached(self._crls, url)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        try:
            return self._crls.get(url)
        except FetchError as e:
            raise _as_436(e) from None

    async def aget_crl(self, url: str) -> CrlList:
        """Async twin of :meth:`get_crl`."""
        hit = _cached(self._crls, url)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        try:
            return await self._crls.aget(url)
        except FetchError as e:
            raise _as_436(e) from None

    def stats(self) -> dict[str, Any]:
        """Counters: ``{"x5u": {...}, "crl": {...}}`` (hits, misses, fetches, failures by kind,
        fetch latency); see :meth:`shakenkit.repository.Fetcher.stats`."""
        return {"x5u": self._chains.stats(), "crl": self._crls.stats()}

    def close(self) -> None:
        """Close the HTTP clients."""
        self._chains.close()
        self._crls.close()

    async def aclose(self) -> None:
        """Close the HTTP clients (async)."""
        await self._chains.aclose()
        await self._crls.aclose()


class LayeredSource:
    """Configured certificates first (a :class:`StaticSource`), everything else from
    ``fallback`` (e.g. :class:`HttpsSource`): what ``shakenkit verify --cert`` does."""

    def __init__(
        self,
        certificates: Mapping[str, bytes | str],
        fallback: CertificateSource,
    ) -> None:
        self._static = StaticSource(dict(certificates))
        self._urls = frozenset(certificates)
        self.fallback = fallback

    @property
    def fallback(self) -> CertificateSource:
        """The source of every chain not configured (and of CRLs)."""
        return self._fallback

    @fallback.setter
    def fallback(self, fallback: CertificateSource) -> None:
        # Capabilities checked once against their protocols (a runtime Protocol isinstance
        # costs ~10 us: never per call).
        self._fallback = fallback
        self._peek = fallback if isinstance(fallback, PeekableChainSource) else None
        self._crl = fallback if isinstance(fallback, CrlSource) else None
        self._peek_crl = fallback if isinstance(fallback, PeekableCrlSource) else None
        self._refresh = fallback if isinstance(fallback, RefreshableChainSource) else None

    def get(self, url: str) -> CertChain:
        """The configured chain for ``url``, else the fallback's."""
        return self._static.get(url) if url in self._urls else self.fallback.get(url)

    async def aget(self, url: str) -> CertChain:
        """Async twin of :meth:`get`."""
        if url in self._urls:
            return self._static.get(url)
        return await self.fallback.aget(url)

    def peek(self, url: str) -> CertChain | None:
        """The configured chain, or the fallback's cached one, without I/O."""
        if url in self._urls:
            return self._static.peek(url)
        return self._peek.peek(url) if self._peek is not None else None

    def peek_crl(self, url: str) -> CrlList | CertificateFetchError | None:
        """The fallback's cached CRLs (or its remembered failure), without I/O."""
        return self._peek_crl.peek_crl(url) if self._peek_crl is not None else None

    def refresh(self, url: str) -> CertChain:
        """Configured chains are fixed; others are refreshed by the fallback."""
        if url in self._urls or self._refresh is None:
            return self.get(url)
        return self._refresh.refresh(url)

    async def arefresh(self, url: str) -> CertChain:
        """Async twin of :meth:`refresh`."""
        if url in self._urls or self._refresh is None:
            return await self.aget(url)
        return await self._refresh.arefresh(url)

    def get_crl(self, url: str) -> CrlList:
        """The fallback's CRL(s) at ``url`` (a :class:`CrlSource` itself, so the verifier asks
        it for CRLs by type, not by probing)."""
        if self._crl is None:
            raise CertificateFetchError(f"no CRL source for {url}", kind="unsupported")
        return tuple(self._crl.get_crl(url))

    async def aget_crl(self, url: str) -> CrlList:
        """Async twin of :meth:`get_crl`."""
        if self._crl is None:
            raise CertificateFetchError(f"no CRL source for {url}", kind="unsupported")
        return tuple(await self._crl.aget_crl(url))

    def stats(self) -> dict[str, Any]:
        """The fallback's counters."""
        return self.fallback.stats() if isinstance(self.fallback, SupportsStats) else {}

    def close(self) -> None:
        """Close the fallback's clients."""
        if isinstance(self.fallback, SupportsClose):
            self.fallback.close()

    async def aclose(self) -> None:
        """Close the fallback's clients (async)."""
        if isinstance(self.fallback, SupportsClose):
            await self.fallback.aclose()
