"""The persistent store: cache entries written atomically to ``FetchPolicy.cache_dir`` and read
back with every check a hostile file deserves (size, magic, URL, length, checksum, clock).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from typing import Final, Generic, TypeVar

from .cache import _Entry
from .failures import _redact
from .urlpolicy import FetchPolicy

T = TypeVar("T")

logger = logging.getLogger("shakenkit.fetch")


_DISK_MAGIC: Final = b"shakenkit-fetch-cache v1\n"

_DISK_META_MAX: Final = 16_384

_CLOCK_SKEW_S: Final = 300.0


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("bad timestamp")
    if not math.isfinite(value):
        raise ValueError("bad timestamp")
    return float(value)


class _DiskStore(Generic[T]):
    """Entries of one :class:`~shakenkit.repository.fetch.Fetcher` on disk, one file per URL
    (named by its SHA-256). ``parse_body(body) -> (obj, hard expiry)`` re-parses a stored body;
    a file that fails any check is a miss, never a crash; write errors only log."""

    def __init__(
        self,
        policy: FetchPolicy,
        name: str,
        clock: Callable[[], float],
        parse_body: Callable[[bytes], tuple[T, float | None]],
    ) -> None:
        self._policy = policy
        self._name = name
        self._clock = clock
        self._parse_body = parse_body

    def path(self, url: str) -> str:
        assert self._policy.cache_dir is not None
        digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self._policy.cache_dir, digest + ".cache")

    def load(self, url: str) -> _Entry[T] | None:
        """Read a persisted entry; anything odd (missing, corrupt, oversized) is a miss."""
        if self._policy.cache_dir is None:
            return None
        path = self.path(url)
        limit = len(_DISK_MAGIC) + _DISK_META_MAX + self._policy.max_response_bytes
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.debug("%s cache file for %s unreadable: %s", self._name, _redact(url), exc)
            return None
        try:
            entry = self._decode(url, data, limit)
        except Exception as exc:  # a bad file is a miss, never a crash
            logger.info("%s ignoring cache file %s: %s", self._name, path, str(exc)[:120])
            return None
        logger.debug("%s loaded %s from the cache directory", self._name, _redact(url))
        return entry

    def _decode(self, url: str, data: bytes, limit: int) -> _Entry[T]:
        if len(data) > limit:
            raise ValueError("file is larger than any valid entry")
        if not data.startswith(_DISK_MAGIC):
            raise ValueError("not a cache file")
        meta_raw, sep, body = data[len(_DISK_MAGIC) :].partition(b"\n")
        if not sep or len(meta_raw) > _DISK_META_MAX:
            raise ValueError("bad header")
        meta = json.loads(meta_raw)
        if not isinstance(meta, dict) or meta.get("url") != url:
            raise ValueError("entry is for another URL")
        fetched_at = _finite(meta.get("fetched_at"))
        expires_at = _finite(meta.get("expires_at"))
        if meta.get("length") != len(body):
            raise ValueError("truncated body")
        if meta.get("sha256") != hashlib.sha256(body).hexdigest():
            raise ValueError("body checksum mismatch")
        if fetched_at > self._clock() + _CLOCK_SKEW_S:
            raise ValueError("fetched in the future")
        obj, hard = self._parse_body(body)
        expires = min(expires_at, fetched_at + self._policy.max_ttl)
        if hard is not None:
            expires = min(expires, hard)
        return _Entry(obj, fetched_at, expires, hard)

    def store(self, url: str, entry: _Entry[T], body: bytes) -> None:
        """Write atomically (temp file in the same directory + os.replace); errors only log."""
        if self._policy.cache_dir is None or entry.expires_at <= entry.fetched_at:
            return
        meta = {
            "url": url,
            "fetched_at": entry.fetched_at,
            "expires_at": entry.expires_at,
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        meta_raw = json.dumps(meta, separators=(",", ":")).encode()
        if len(meta_raw) > _DISK_META_MAX:
            return
        path = self.path(url)
        temp: str | None = None
        try:
            os.makedirs(self._policy.cache_dir, mode=0o700, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self._policy.cache_dir, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(_DISK_MAGIC + meta_raw + b"\n" + body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
            temp = None
        except OSError as exc:
            logger.warning("%s could not write cache file %s: %s", self._name, path, exc)
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
