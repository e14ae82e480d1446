"""Cache entries: RFC 9111 freshness from response headers, entries that know when they expire
(never past the object's own expiry), negative entries for recent failures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final, Generic, TypeVar

import httpx

from .failures import FetchErrorKind

T = TypeVar("T")


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


@dataclass(frozen=True)
class _Negative:
    kind: FetchErrorKind
    message: str
    failed_at: float
    until: float


def _no_expiry(obj: object) -> float | None:
    return None
