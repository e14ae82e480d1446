"""Certificate-repository client: hardened HTTPS fetching of ``x5u`` (and CRL) URLs with a cache.

The verifier must dereference URLs chosen by whoever signed the call, so every fetch is treated as
hostile input (standards digest §1.7, §6.4; ATIS-1000074 v003, ATIS-1000080):

* URL policy before any I/O: ``https`` only, port 443 or 8443, no userinfo, query or fragment.
* SSRF protection at connect time: the host is resolved once, every address is checked, and the
  connection goes to a checked address while TLS SNI, certificate verification and ``Host`` keep
  the hostname (so DNS rebinding cannot swap the address between check and connect).
* Limits: connect timeout, a wall-clock total timeout (also against servers that trickle bytes),
  a response size limit enforced while streaming, no redirects unless explicitly enabled.
* Cache by exact URL holding the *parsed* object, with RFC 9111 freshness raised to a 24 h floor,
  capped, and never past the object's own expiry (``expires``); negative caching of failures;
  optional stale-if-error; optional persistent cache directory.
* Single flight: concurrent callers of one URL (threads, asyncio or trio tasks, or a mix) share one
  request.

The fetcher is generic: the caller supplies ``parse(body) -> T`` (e.g. PEM/DER sniffing into a
certificate chain) and optionally ``expires(obj)`` (e.g. the leaf ``notAfter``).

:class:`Fetcher` coordinates the parts, each in its own module: ``urlpolicy`` (what may be
fetched), ``transport`` (how: guarded HTTPS with limits), ``cache`` (entries and freshness),
``flight`` (single flight), ``store`` (the persistent cache directory) and ``failures``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Generic, Literal, TypeVar, cast

import anyio.to_thread
import httpx

from .aio import running_loop, spawn
from .cache import (
    _MISS,
    ENTRY_OVERHEAD,
    ByteLRU,
    CacheLimits,
    NegativeCache,
    _Entry,
    _Negative,
    _no_expiry,
    entry_size,
    freshness_lifetime,
)
from .failures import FetchError, FetchErrorKind, _Failure, _redact
from .flight import _WAIT_GRACE_S, _Err, _Flight, _Ok
from .store import _DiskStore
from .transport import _HttpTransport
from .urlpolicy import DEFAULT_POLICY, FetchPolicy, _AddressGuard, _check_target

__all__ = [
    "DEFAULT_POLICY",
    "CacheLimits",
    "FetchError",
    "FetchErrorKind",
    "FetchPolicy",
    "Fetcher",
    "freshness_lifetime",
]

logger = logging.getLogger("shakenkit.fetch")

T = TypeVar("T")


_LATENCY_WINDOW: Final = 1024


class _Latency:
    """Fetch latency: cumulative count/total/max and percentiles over a recent window."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.window: deque[float] = deque(maxlen=_LATENCY_WINDOW)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        self.window.append(seconds)

    def snapshot(self) -> dict[str, float | int | None]:
        ordered = sorted(self.window)

        def rank(q: float) -> float | None:
            if not ordered:
                return None
            return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

        return {
            "count": self.count,
            "total_s": self.total,
            "max_s": self.max,
            "p50_s": rank(0.50),
            "p99_s": rank(0.99),
        }


# ---- the I/O the steps of a call and of a flight ask for (answered by Fetcher._run/_arun) ----


@dataclass(frozen=True, slots=True)
class _Fly:
    """Run the flight this caller owns (answer: None)."""

    url: str
    target: httpx.URL
    flight: _Flight[Any]


@dataclass(frozen=True, slots=True)
class _Wait:
    """Wait up to ``timeout`` s for the flight (answer: its outcome, or None)."""

    flight: _Flight[Any]
    timeout: float


@dataclass(frozen=True, slots=True)
class _LoadDisk:
    """Read the persisted entry for ``url`` (answer: the entry or None)."""

    url: str


@dataclass(frozen=True, slots=True)
class _Download:
    """GET ``target`` (answer: ``(body, headers)``, or the ``_Failure``)."""

    target: httpx.URL


@dataclass(frozen=True, slots=True)
class _StoreDisk:
    """Persist a fetched entry (answer: None)."""

    url: str
    entry: _Entry[Any]
    body: bytes


_Op = _Fly | _Wait | _LoadDisk | _Download | _StoreDisk
R = TypeVar("R")
# A sans-IO computation: yields the I/O it needs, receives the answers, returns an R.
_Steps = Generator[_Op, Any, R]


@dataclass(frozen=True, slots=True)
class _Done(Generic[R]):
    """The steps returned ``value``."""

    value: R


def _advance(steps: _Steps[R], answer: object) -> _Op | _Done[R]:
    """Send ``answer`` to ``steps``: the next I/O they need, or what they returned."""
    try:
        return steps.send(answer)
    except StopIteration as done:
        return _Done(done.value)


def _weigh_body(obj: object, body: bytes) -> int:
    """Default estimate of a parsed object's size: three times its body (a parsed certificate
    or CRL holds its DER plus the decoded structures) plus 1 KiB."""
    return 3 * len(body) + 1024


# --------------------------------------------------------------------------------------------
# The fetcher


def _utc(t: float) -> str:
    """Unix seconds as an ISO 8601 UTC time (whole seconds)."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    except (OverflowError, OSError, ValueError):  # a clock far outside any calendar
        return f"{t:.0f} (Unix time)"


class Fetcher(Generic[T]):
    """Fetch, parse and cache objects published at HTTPS URLs (``x5u`` chains, CRLs).

    ``parse(body)`` turns the response body into ``T``; any exception it raises is a ``'parse'``
    failure (sniff PEM/DER there: Content-Type is not trusted, standards digest §6.4).
    ``expires(obj)`` returns the absolute unix time past which ``obj`` must never be served (the
    leaf ``notAfter``, a CRL's ``nextUpdate``) or None. ``name`` labels logs and messages and
    picks the memory budget in ``policy.cache_limits`` (:meth:`CacheLimits.memory_bytes`).
    ``weigh(obj, body)`` estimates the bytes a parsed object occupies (default: three times
    the body); the cache holds at most that budget, and an object larger than all of it is
    served but not kept. ``clock`` (unix seconds) drives cache ages and can be replaced in
    tests.

    :meth:`get` and :meth:`aget` share one cache and one single-flight table, so concurrent
    callers of one URL, sync or async, cause one request. Do not call :meth:`get` from inside a
    running event loop; use :meth:`aget` there.
    """

    def __init__(
        self,
        parse: Callable[[bytes], T],
        *,
        policy: FetchPolicy = DEFAULT_POLICY,
        expires: Callable[[T], float | None] = _no_expiry,
        name: str = "x5u",
        clock: Callable[[], float] = time.time,
        weigh: Callable[[T, bytes], int] | None = None,
    ) -> None:
        self._parse = parse
        self._policy = policy
        self._expires = expires
        self._name = name
        self._clock = clock
        self._weigh = weigh or _weigh_body
        self._guard = _AddressGuard(policy)
        self._http = _HttpTransport(policy, self._guard, name)
        self._store: _DiskStore[T] = _DiskStore(
            policy, name, clock, self._parse_body, self._size
        )
        self._lock = threading.Lock()
        limits = policy.cache_limits
        self._cache: ByteLRU[_Entry[T]] = ByteLRU(
            limits.memory_bytes(name), policy.max_entries, entry_size
        )
        self._negative = NegativeCache(
            min(limits.negative_entries, policy.max_entries),
            limits.negative_bytes,
            policy.negative_ttl,
            clock,
        )
        # URLs the policy refused, apart from real failures: a sender's refused x5u values
        # (free to make: no I/O) must not push out a down host's record (review 5).
        self._refused = NegativeCache(
            min(limits.negative_entries, policy.max_entries),
            limits.negative_bytes,
            policy.negative_ttl,
            clock,
        )
        self._inflight: dict[str, _Flight[T]] = {}
        self._negative_memo: tuple[_Negative, str] | None = None  # the last sentence made
        self._closed = False
        self._hits = 0
        self._misses = 0
        self._fetches = 0
        self._coalesced = 0
        self._disk_hits = 0
        self._stale_served = 0
        self._negative_hits = 0
        self._failures: Counter[str] = Counter()
        self._latency = _Latency()

    # ---- public API ------------------------------------------------------------------------

    @property
    def policy(self) -> FetchPolicy:
        """The policy this fetcher enforces."""
        return self._policy

    def get(self, url: str, *, max_age: float | None = None) -> T:
        """Return the parsed object at ``url`` (cached or fetched); raise :class:`FetchError`.

        ``max_age``: accept a cached object only if it was fetched at most that many seconds
        ago, else fetch again (single flight and the negative cache still apply; a failed
        refresh keeps the cached object for other callers)."""
        hit = self._fresh_value(url, max_age)
        if hit is _MISS:
            return self._run(self._get_steps(url, max_age))
        return hit  # type: ignore[return-value]

    async def aget(self, url: str, *, max_age: float | None = None) -> T:
        """Async :meth:`get`; the fetch runs in its own task, so a cancelled caller doesn't
        cancel it for the others."""
        hit = self._fresh_value(url, max_age)
        if hit is _MISS:
            return await self._arun(self._get_steps(url, max_age))
        return hit  # type: ignore[return-value]

    def stats(self) -> dict[str, object]:
        """Counters since creation.

        ``hits``: answered from a fresh cached entry; ``misses``: calls that needed a fetch
        (owners and ``coalesced`` callers that joined one already in flight); ``fetches``: HTTP
        fetches started; ``disk_hits``: flights answered by the persistent cache;
        ``stale_served``; ``negative_hits``; ``failures_by_kind``: failed fetches and refused URLs
        by kind; ``fetch_latency``: count/total_s/max_s (cumulative), p50_s/p99_s (recent window).
        ``entries``/``bytes`` and ``negative_entries``/``negative_bytes``: what the caches hold
        now (bytes as charged against ``limits``); ``limits``: the :class:`CacheLimits`
        budgets; ``disk`` (with ``cache_dir``): the directory's bytes as last counted and
        files evicted.
        """
        with self._lock:
            negative_entries, negative_bytes = self._negative.usage()
            refused_entries, refused_bytes = self._refused.usage()
            negative_entries += refused_entries
            negative_bytes += refused_bytes
            stats: dict[str, object] = {
                "name": self._name,
                "hits": self._hits,
                "misses": self._misses,
                "fetches": self._fetches,
                "coalesced": self._coalesced,
                "disk_hits": self._disk_hits,
                "stale_served": self._stale_served,
                "negative_hits": self._negative_hits,
                "failures_by_kind": dict(self._failures),
                "entries": len(self._cache),
                "bytes": int(self._cache.currsize),
                "negative_entries": negative_entries,
                "negative_bytes": negative_bytes,
                "in_flight": len(self._inflight),
                "fetch_latency": self._latency.snapshot(),
                "limits": {
                    "memory_bytes": int(self._cache.maxsize),
                    "max_entries": self._cache.max_entries,
                    **self._policy.cache_limits.as_dict(),
                },
            }
        if self._policy.cache_dir is not None:
            stats["disk"] = self._store.stats()
        return stats

    def close(self) -> None:
        """Close the sync client and forget async clients (use :meth:`aclose` to close those)."""
        with self._lock:
            self._closed = True
        self._http.close()

    async def aclose(self) -> None:
        """Close the current event loop's async client and the sync client."""
        if running_loop() is None:  # outside an event loop: RuntimeError, nothing closed
            raise RuntimeError("aclose() needs a running event loop")
        with self._lock:
            self._closed = True
        await self._http.aclose()

    def __enter__(self) -> Fetcher[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Fetcher[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- URL policy --------------------------------------------------------------------------

    def _vet_url(self, url: str) -> httpx.URL:
        try:
            return _check_target(url, self._policy, self._guard)
        except _Failure as failure:
            shown = _redact(url) if isinstance(url, str) else repr(url)
            with self._lock:
                self._failures[failure.kind] += 1
                if isinstance(url, str):
                    # Remembered like a failed fetch (negative_ttl, the negative cache's byte
                    # budget): the warm path then answers it with one lookup, not the URL
                    # checks again (a certificate whose CRL URL the policy refuses cost ~45
                    # us a call, issue 20). The error stays the same (kind and sentence).
                    # The whole reason (bounded by the URL it names), so the remembered
                    # refusal reads exactly as the first one.
                    now = self._clock()
                    size = len(url) + len(failure.reason) + ENTRY_OVERHEAD
                    ttl = self._policy.negative_ttl
                    record = _Negative(failure.kind, failure.reason, now, now + ttl, size, True)
                    self._refused.put(url, record)
            logger.info("%s refused %s: %s", self._name, shown, failure.reason)
            raise FetchError(
                failure.kind, shown, f"Refused to fetch {self._name} {shown}: {failure.reason}."
            ) from None

    # ---- cache and single flight ----------------------------------------------------------

    def peek(self, url: str) -> T | None:
        """The fresh cached object for ``url``, or None (also for a remembered failure): no
        I/O, no waiting."""
        hit = self._fresh_hit(url, count_negative=False)  # not answered here: get() counts it
        return None if hit is _MISS or isinstance(hit, _Negative) else hit  # type: ignore[return-value]

    def _fresh_hit(
        self, url: str, max_age: float | None = None, *, count_negative: bool = True
    ) -> T | _Negative | object:
        """The warm path: a fresh entry under exactly this URL string (its value), a failure
        remembered for it within ``negative_ttl`` (the :class:`_Negative` record), or
        ``_MISS``. Only vetted URLs are ever stored and the policy never changes, so the URL
        checks need not run again: an unreachable CRL costs a lookup per call, like a fetched
        one (issue 20)."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(url)
            if entry is not None:
                if not self._closed and entry.young(now, max_age):
                    self._hits += 1
                    return entry.value
                return _MISS
            negative = self._negative.get(url, now) or self._refused.get(url, now)
            if negative is None or self._closed:
                return _MISS
            if count_negative:
                self._negative_hits += 1
            return negative

    def _fresh_value(self, url: str, max_age: float | None) -> T | object:
        """:meth:`_fresh_hit` for :meth:`get`/:meth:`aget`: the value or ``_MISS``; a
        remembered failure is raised."""
        hit = self._fresh_hit(url, max_age)
        if hit.__class__ is _Negative:
            raise self._negative_error(url, hit)
        return hit

    def _enter(
        self, url: str, max_age: float | None = None
    ) -> _Ok[T] | _Err | tuple[_Flight[T], bool]:
        """Answer from the cache, or join/start the flight for ``url`` (True = caller owns it)."""
        now = self._clock()
        with self._lock:
            if self._closed:
                raise RuntimeError("this Fetcher is closed")
            entry = self._cache.get(url)
            if entry is not None:
                if entry.young(now, max_age):
                    self._hits += 1
                    return _Ok(entry.value, "cache")
                if entry.fresh(now):  # fresh but older than max_age: refresh, keep it meanwhile
                    if self._negative.get(url, now) is not None:
                        return _Ok(entry.value, "cache")  # a refresh just failed: not again yet
                elif not entry.stale_usable(now, self._policy.stale_if_error):
                    del self._cache[url]
                    entry = None
            negative = self._negative.get(url, now)
            if negative is not None:
                if entry is not None:  # stale-if-error while the failure is cached
                    return _Ok(entry.value, "stale")
                self._negative_hits += 1
                return _Err(self._negative_error(url, negative))
            self._misses += 1
            flight = self._inflight.get(url)
            if flight is not None:
                self._coalesced += 1
                return flight, False
            new: _Flight[T] = _Flight(max_age)
            self._inflight[url] = new
            return new, True

    def _negative_text(self, url: str, negative: _Negative) -> str:
        """The sentence for a call answered by a remembered failure. It names the failure's
        times, not ages, so it is the same on every call the record answers: computed once
        (the last record's sentence is kept), and whatever is memoised downstream by text
        (the revocation result, the verdict's ``crl`` check) stays a hit (issue 20)."""
        memo = self._negative_memo
        if memo is not None and memo[0] is negative:
            return memo[1]
        if negative.refused:  # the URL policy's refusal, in the words it was first given
            text = f"Refused to fetch {self._name} {_redact(url)}: {negative.message}."
            self._negative_memo = (negative, text)
            return text
        shown = _redact(url) if "@" in url or "?" in url else url  # vetted URLs have neither
        text = (
            f"Not retrying {self._name} {shown} before {_utc(negative.until)} "
            f"(FetchPolicy.negative_ttl): the attempt at {_utc(negative.failed_at)} failed "
            f"({negative.message})"
        )
        self._negative_memo = (negative, text)
        return text

    def _negative_error(self, url: str, negative: _Negative) -> FetchError:
        if negative.refused:  # the same error as the refusal itself
            kind = cast(FetchErrorKind, negative.kind)
            return FetchError(kind, _redact(url), self._negative_text(url, negative))
        return FetchError(
            "negative_cache",
            _redact(url) if "@" in url or "?" in url else url,
            self._negative_text(url, negative),
            cause_kind=cast(FetchErrorKind, negative.kind),
        )

    def _deliver(self, outcome: _Ok[T] | _Err) -> T:
        if isinstance(outcome, _Err):
            error = outcome.error
            raise error._clone() from error.__cause__
        if outcome.source == "stale":
            with self._lock:
                self._stale_served += 1
            logger.warning("%s serving a stale cached object (stale-if-error)", self._name)
        return outcome.value

    def _wait_budget(self) -> float:
        return self._policy.total_timeout + _WAIT_GRACE_S

    def _abandon(self, url: str, flight: _Flight[T]) -> _Ok[T] | _Err:
        """A waiter gave up on a flight that never completed (e.g. its event loop died)."""
        shown = _redact(url)
        error = FetchError(
            "timeout", shown, f"Gave up waiting for a concurrent fetch of {self._name} {shown}."
        )
        with self._lock:
            if self._inflight.get(url) is flight:
                del self._inflight[url]
        flight.complete(_Err(error))
        outcome = flight.outcome
        assert outcome is not None
        return outcome

    def _stale_candidate(self, url: str, disk: _Entry[T] | None) -> _Entry[T] | None:
        now = self._clock()
        with self._lock:
            memory = self._cache.get(url)
        usable = [
            e
            for e in (memory, disk)
            if e is not None and e.stale_usable(now, self._policy.stale_if_error)
        ]
        return max(usable, key=lambda e: e.expires_at, default=None)

    def _settle(
        self,
        url: str,
        flight: _Flight[T],
        result: _Entry[T] | _Failure,
        stale: _Entry[T] | None,
        source: Literal["network", "disk"] = "network",
    ) -> None:
        """Record the flight's result in the caches, then release every waiter."""
        now = self._clock()
        shown = _redact(url)
        outcome: _Ok[T] | _Err
        with self._lock:
            if isinstance(result, _Entry):
                if result.fresh(now):
                    self._cache.put(url, result)  # refused (not kept) if over the budget
                else:  # already past expires(obj): serve this once, do not cache
                    self._cache.pop(url, None)
                self._negative.discard(url)
                if source == "disk":
                    self._disk_hits += 1
                outcome = _Ok(result.value, source)
            else:
                self._failures[result.kind] += 1
                message = f"Could not fetch {self._name} {shown}: {result.reason}."
                error = FetchError(result.kind, shown, message)
                error.__cause__ = result.__cause__
                if result.kind != "call_deadline":  # the caller's time ran out, not the host
                    self._negative.put(
                        url,
                        _Negative.of(
                            url, result.kind, result.reason, now, self._policy.negative_ttl
                        ),
                    )
                if stale is not None:
                    self._cache.put(url, stale)
                    outcome = _Ok(stale.value, "stale")
                else:
                    outcome = _Err(error)
            if self._inflight.get(url) is flight:
                del self._inflight[url]
        flight.complete(outcome)
        if isinstance(result, _Entry):
            logger.info(
                "%s %s from %s, cached for %.0f s",
                self._name,
                shown,
                source,
                max(0.0, result.expires_at - now),
            )
        else:
            logger.info(
                "%s fetch of %s failed (%s): %s", self._name, shown, result.kind, result.reason
            )

    def _settle_interrupted(self, url: str, flight: _Flight[T]) -> None:
        """The owner died (cancelled, interrupted): release waiters, cache nothing."""
        shown = _redact(url)
        error = FetchError("connect", shown, f"The fetch of {self._name} {shown} was interrupted.")
        with self._lock:
            if self._inflight.get(url) is flight:
                del self._inflight[url]
        flight.complete(_Err(error))

    # ---- one implementation, two drivers ---------------------------------------------------
    #
    # What a call does on a cache miss (join or start the flight, wait, give up) and what a
    # flight does (disk, network, parse, settle, persist) is written once, as generators that
    # yield the I/O they need (_Fly, _Wait, _LoadDisk, _Download, _StoreDisk) and receive its
    # answer; :meth:`_run` answers with blocking calls (get), :meth:`_arun` with awaits (aget),
    # like the verifier's ``_call_steps`` behind ``verify``/``averify``.

    def _get_steps(self, url: str, max_age: float | None) -> _Steps[T]:
        """A call that missed the warm path: vet the URL, answer from the caches or join (or
        start) the single flight for ``url``, wait for it, deliver its outcome."""
        target = self._vet_url(url)
        ticket = self._enter(url, max_age)
        if not isinstance(ticket, tuple):
            return self._deliver(ticket)
        flight, owner = ticket
        if owner:
            yield _Fly(url, target, flight)
        outcome = yield _Wait(flight, self._wait_budget())
        if outcome is None:
            outcome = self._abandon(url, flight)
        return self._deliver(outcome)

    def _flight_steps(self, url: str, target: httpx.URL, flight: _Flight[T]) -> _Steps[None]:
        """The owner's work for a flight: a young enough disk entry, else the network (a failure
        may fall back to a stale entry); the caches are settled and the waiters released before
        the body is persisted. A driver interrupted at any step (cancelled, interrupted) closes
        this generator, which releases the waiters and caches nothing."""
        settled = False
        try:
            disk: _Entry[T] | None = None
            if self._policy.cache_dir is not None:
                disk = yield _LoadDisk(url)
            if disk is not None and disk.young(self._clock(), flight.max_age):
                self._settle(url, flight, disk, None, source="disk")
                settled = True
                return
            stale = self._stale_candidate(url, disk)
            self._count_fetch()
            started = time.monotonic()
            result: _Entry[T] | _Failure
            body = b""
            got = yield _Download(target)  # (body, headers), or the _Failure
            if isinstance(got, _Failure):
                result = got
            else:
                body, headers = got
                try:
                    result = self._make_entry(url, body, headers)
                except _Failure as failure:
                    result = failure
            self._record_latency(time.monotonic() - started)
            self._settle(url, flight, result, stale)
            settled = True
            if isinstance(result, _Entry) and self._policy.cache_dir is not None:
                yield _StoreDisk(url, result, body)
        finally:
            if not settled:
                self._settle_interrupted(url, flight)

    def _run(self, steps: _Steps[R]) -> R:
        """Drive ``steps`` with blocking I/O (this thread)."""
        with closing(steps):  # an interrupted driver closes them: their `finally` runs
            step = _advance(steps, None)
            while not isinstance(step, _Done):
                step = _advance(steps, self._io(step))
            return step.value

    async def _arun(self, steps: _Steps[R]) -> R:
        """Drive ``steps`` with awaited I/O (the running asyncio or trio loop)."""
        with closing(steps):  # an interrupted driver closes them: their `finally` runs
            step = _advance(steps, None)
            while not isinstance(step, _Done):
                step = _advance(steps, await self._aio(step))
            return step.value

    def _io(self, op: _Op) -> Any:
        """One step's I/O, blocking."""
        if isinstance(op, _Fly):  # the owner flies in this thread, then finds it complete
            self._run(self._flight_steps(op.url, op.target, op.flight))
            return None
        if isinstance(op, _Wait):
            if op.flight.loop is not None and running_loop() is op.flight.loop:
                raise RuntimeError(
                    "Fetcher.get() was called inside the event loop that is fetching the same "
                    "URL with aget(); use aget() in async code"
                )
            return op.flight.wait(op.timeout)
        if isinstance(op, _LoadDisk):
            return self._store.load(op.url)
        if isinstance(op, _Download):
            try:
                return self._http.download(op.target)
            except _Failure as failure:
                return failure
        self._store.store(op.url, op.entry, op.body)
        return None

    async def _aio(self, op: _Op) -> Any:
        """One step's I/O, awaited; files are read and written in a worker thread."""
        if isinstance(op, _Fly):  # in a task of its own: it outlives this caller
            op.flight.loop = running_loop()
            op.flight.task = spawn(self._arun, self._flight_steps(op.url, op.target, op.flight))
            return None
        if isinstance(op, _Wait):
            return await op.flight.wait_async(op.timeout)
        if isinstance(op, _LoadDisk):
            return await anyio.to_thread.run_sync(self._store.load, op.url)
        if isinstance(op, _Download):
            try:
                return await self._http.adownload(op.target)
            except _Failure as failure:
                return failure
        await anyio.to_thread.run_sync(self._store.store, op.url, op.entry, op.body)
        return None

    def _count_fetch(self) -> None:
        with self._lock:
            self._fetches += 1

    def _record_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency.add(seconds)

    def _make_entry(self, url: str, body: bytes, headers: httpx.Headers) -> _Entry[T]:
        """Parse the body and compute how long it may be served (standards digest §6.4)."""
        now = self._clock()
        obj, hard = self._parse_body(body)
        size = self._size(url, obj, body)
        lifetime = freshness_lifetime(headers, now)
        policy = self._policy
        # ATIS-1000074 v003 (standards digest §6.4): no or short directive -> 24 h floor; cap.
        ttl = policy.min_ttl if lifetime is None or lifetime < policy.min_ttl else lifetime
        ttl = min(ttl, policy.max_ttl)
        expires_at = now + ttl
        if hard is not None:
            expires_at = min(expires_at, hard)  # never past the leaf notAfter / CRL nextUpdate
        return _Entry(obj, now, expires_at, hard, size)

    def _size(self, url: str, obj: T, body: bytes) -> int:
        """Bytes an entry is charged: the parsed object (``weigh``), its URL key, overhead."""
        try:
            weight = int(self._weigh(obj, body))
        except Exception:  # a weigh function that fails: charge the default
            weight = _weigh_body(obj, body)
        return max(weight, 0) + len(url) + ENTRY_OVERHEAD

    def _parse_body(self, body: bytes) -> tuple[T, float | None]:
        try:
            obj = self._parse(body)
            hard = self._expires(obj)
        except Exception as exc:
            detail = str(exc)[:120] or type(exc).__name__
            raise _Failure("parse", f"the body is not usable ({detail})") from exc
        if hard is not None:
            hard = float(hard)
            if math.isnan(hard):
                hard = -math.inf
        return obj, hard
