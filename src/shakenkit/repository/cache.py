"""Cache entries: RFC 9111 freshness from response headers, entries that know when they expire
(never past the object's own expiry), negative entries for recent failures; and the budgets that
bound every cache of the repository in bytes (:class:`CacheLimits`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final, Generic, TypeVar

import cachetools
import httpx

T = TypeVar("T")
V = TypeVar("V")

_MIB: Final = 2**20


@dataclass(frozen=True)
class CacheLimits:
    """Budgets of the caches a certificate source keeps: one object, handed to each cache and
    reported by its ``stats()``. Everything an attacker can make a verifier hold (parsed chains
    and CRLs from hosts they run, failures for URLs they invent, files in ``cache_dir``) is
    bounded here in **bytes**; an object larger than its whole cache is used once and not kept.

    * ``x5u_bytes``: parsed ``x5u`` chains held in memory (per :class:`HttpsSource` or
      :class:`StaticSource`); a chain is charged ~2x its DER plus 3 KiB per certificate.
    * ``crl_bytes``: parsed CRLs held in memory (per source).
    * ``content_bytes``: any other fetched content (Rich Call Data ``icn``/``jcl``).
    * ``negative_entries`` / ``negative_bytes``: remembered failures (one per URL, each
      ~300 bytes plus its URL), per cache; they also expire (``FetchPolicy.negative_ttl``,
      ``StaticSource(recheck_after=)``).
    * ``disk_bytes``: the files of ``FetchPolicy.cache_dir`` (shared by all caches writing
      there); past it the least recently used files are removed.

    Bytes are estimates of what the parsed objects occupy (they err high), not exact
    interpreter figures; 0 disables a cache. The defaults hold ~3,600 SP chains per source,
    more ``x5u`` URLs than the live STI ecosystem publishes (docs/fetching.md).
    """

    x5u_bytes: int = 32 * _MIB
    crl_bytes: int = 16 * _MIB
    content_bytes: int = 8 * _MIB
    negative_entries: int = 4_096
    negative_bytes: int = 2 * _MIB
    disk_bytes: int = 256 * _MIB

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"CacheLimits.{name} must be an integer >= 0, not {value!r}")

    def memory_bytes(self, name: str) -> int:
        """The in-memory budget of the cache called ``name`` (``"x5u"``, ``"crl"``, else
        ``content_bytes``)."""
        if name == "x5u":
            return self.x5u_bytes
        if name == "crl":
            return self.crl_bytes
        return self.content_bytes

    def as_dict(self) -> dict[str, int]:
        """The budgets, for ``stats()``."""
        return asdict(self)


DEFAULT_CACHE_LIMITS: Final = CacheLimits()

# What a cache entry costs beyond its payload: the key's str object, the entry object, the
# cache's bookkeeping (dict slots, LRU links). Measured roughly; errs high.
ENTRY_OVERHEAD: Final = 256

_DETAIL_MAX: Final = 200  # characters of a failure's reason kept in a negative record


def short_detail(text: str) -> str:
    """A failure reason as kept in a negative record: at most 200 characters."""
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 3] + "..."


class ByteLRU(cachetools.LRUCache[str, V]):
    """An LRU cache bounded in bytes (``getsizeof``, cachetools) and in entries.

    ``put`` refuses (returns False) an item larger than the whole cache instead of raising, so
    "too big" simply means "not cached"."""

    def __init__(
        self, max_bytes: int, max_entries: int, getsizeof: Callable[[V], int]
    ) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=getsizeof)
        self.max_entries = max_entries

    def put(self, key: str, value: V) -> bool:
        """Insert, evicting least recently used entries; False (and ``key`` dropped) when the
        item alone exceeds the byte budget."""
        if self.getsizeof(value) > self.maxsize or self.max_entries < 1:
            self.pop(key, None)
            return False
        while key not in self and len(self) >= self.max_entries:
            self.popitem()
        self[key] = value
        return True


class ByteMemo(Generic[V]):
    """A memo of immutable values bounded in bytes and entries, for hot paths: reading is one
    dict lookup without a lock (``get``); ``put`` (under a lock) drops the oldest entries first
    and refuses an item larger than the whole budget."""

    def __init__(self, max_bytes: int, max_entries: int = 1 << 30) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._data: dict[str, V] = {}
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.get: Callable[[str], V | None] = self._data.get

    def put(self, key: str, value: V, size: int) -> bool:
        """Keep ``value`` under ``key``, charged ``size`` bytes; False if it is not kept."""
        with self._lock:
            self._drop(key)
            if size > self.max_bytes or self.max_entries < 1:
                return False
            while self._sizes and (
                self._bytes + size > self.max_bytes or len(self._sizes) >= self.max_entries
            ):
                self._drop(next(iter(self._sizes)))
            self._data[key] = value
            self._sizes[key] = size
            self._bytes += size
            return True

    def discard(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._drop(key)

    def _drop(self, key: str) -> None:
        size = self._sizes.pop(key, None)
        if size is not None:
            self._bytes -= size
            self._data.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()
            self._sizes.clear()
            self._bytes = 0

    def stats(self) -> dict[str, int]:
        """``entries``, ``bytes`` (as charged) and ``max_bytes``."""
        with self._lock:
            return {"entries": len(self._sizes), "bytes": self._bytes, "max_bytes": self.max_bytes}


class NegativeCache:
    """Recent failures keyed by URL, bounded three ways: entries, bytes (each record counts its
    URL) and time (a record is void ``ttl`` seconds after the failure and dropped at the next
    insertion, asked for again or not). Records are small (:class:`_Negative`: kind, a short
    reason, times), never exceptions. Not locked: its owner holds its own lock.

    One TTL for all records makes insertion order expiry order, so a dict serves as the queue:
    expired and evicted records leave from the front, and a lookup is one dict access."""

    def __init__(
        self, max_entries: int, max_bytes: int, ttl: float, timer: Callable[[], float]
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._timer = timer
        self._data: dict[str, _Negative] = {}
        self._bytes = 0

    def get(self, key: str, now: float | None = None) -> _Negative | None:
        """The failure remembered for ``key``, if it is still within its TTL at ``now``."""
        record = self._data.get(key)
        if record is None:
            return None
        return record if (self._timer() if now is None else now) < record.until else None

    def put(self, key: str, record: _Negative) -> bool:
        """Remember a failure; False when nothing may be remembered (limits or TTL of 0, or a
        record larger than the byte budget)."""
        self.discard(key)
        if self.ttl <= 0 or self.max_entries < 1 or record.size > self.max_bytes:
            return False
        self._expire(record.failed_at)
        data = self._data
        while data and (
            len(data) >= self.max_entries or self._bytes + record.size > self.max_bytes
        ):
            self.discard(next(iter(data)))
        data[key] = record
        self._bytes += record.size
        return True

    def discard(self, key: str) -> None:
        """Forget ``key``."""
        record = self._data.pop(key, None)
        if record is not None:
            self._bytes -= record.size

    def _expire(self, now: float) -> None:
        data = self._data
        while data:
            first = next(iter(data))
            if now < data[first].until:
                return
            self.discard(first)

    def usage(self) -> tuple[int, int]:
        """(entries, bytes) after dropping expired records."""
        self._expire(self._timer())
        return len(self._data), self._bytes


_MISS: Final = object()  # "not in the cache" (a cached value may be anything)


def _http_date(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is None:
            from datetime import timezone

            parsed = parsed.replace(tzinfo=timezone.utc)
        stamp = parsed.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return stamp if math.isfinite(stamp) else None


def _delta_seconds(value: str) -> int | None:
    value = value.strip().strip('"')
    if not (value.isascii() and value.isdigit()):
        return None
    return min(int(value), 2**31)  # RFC 9111 §1.2.2: cap huge values


def freshness_lifetime(headers: httpx.Headers | Mapping[str, str], now: float) -> float | None:
    """Remaining freshness in seconds from response headers (RFC 9111 §4.2), or None.

    ``Cache-Control: max-age`` wins (first occurrence); ``s-maxage`` is for shared caches and is
    ignored; ``no-store``/``no-cache`` are not directives here (the caller applies its floor).
    Otherwise ``Expires`` minus ``Date`` (or ``now``); an invalid ``Expires`` means already
    expired. ``Age`` is subtracted. None means the headers say nothing usable.
    """
    fields = headers if isinstance(headers, httpx.Headers) else httpx.Headers(headers)
    lifetime: float | None = None
    for directive in fields.get_list("cache-control", split_commas=True):
        name, sep, value = directive.partition("=")
        if name.strip().lower() == "max-age" and sep:
            seconds = _delta_seconds(value)
            if seconds is not None:
                lifetime = float(seconds)
                break
    if lifetime is None:
        expires = fields.get("expires")
        if expires is None:
            return None
        expires_at = _http_date(expires)
        if expires_at is None:
            lifetime = 0.0  # RFC 9111 §5.3: invalid Expires (e.g. "0") is in the past
        else:
            date = _http_date(fields.get("date"))
            lifetime = expires_at - (date if date is not None else now)
    age = _delta_seconds(fields.get("age", ""))
    if age is not None:
        lifetime -= age
    return max(lifetime, 0.0)


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    fetched_at: float
    expires_at: float  # fresh while now < expires_at
    hard_expiry: float | None  # expires(obj): never served at or after this, not even stale
    size: int = 0  # bytes charged to the cache (payload estimate + key + overhead)

    def fresh(self, now: float) -> bool:
        return now < self.expires_at

    def young(self, now: float, max_age: float | None) -> bool:
        """Fresh, and (with ``max_age``) fetched at most ``max_age`` seconds ago."""
        return now < self.expires_at and (max_age is None or now - self.fetched_at <= max_age)

    def stale_usable(self, now: float, grace: float) -> bool:
        """RFC 5861 stale-if-error window, bounded by the object's own expiry."""
        if grace <= 0 or now >= self.expires_at + grace:
            return False
        return self.hard_expiry is None or now < self.hard_expiry


@dataclass(frozen=True, slots=True)
class _Negative:
    """A remembered failure: what went wrong, in a sentence of at most 200 characters; never the
    exception (its traceback would keep the failing frames and their locals alive)."""

    kind: str  # a FetchErrorKind for fetchers; StaticSource adds "io"
    message: str
    failed_at: float
    until: float
    size: int = 0  # bytes charged: the URL it is keyed by, the message, overhead
    refused: bool = False  # the URL policy refused the URL (no attempt was made)

    @staticmethod
    def of(url: str, kind: str, reason: str, now: float, ttl: float) -> _Negative:
        """A record for ``url`` failing now with ``reason`` (truncated)."""
        message = short_detail(reason)
        return _Negative(kind, message, now, now + ttl, len(url) + len(message) + ENTRY_OVERHEAD)


def entry_size(entry: _Entry[Any]) -> int:
    """``getsizeof`` for caches of :class:`_Entry`."""
    return entry.size


def _no_expiry(obj: object) -> float | None:
    return None
