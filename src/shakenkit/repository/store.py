"""The persistent store: cache entries written atomically to ``FetchPolicy.cache_dir`` and read
back with every check a hostile file deserves (size, magic, URL, length, checksum, clock); the
directory is kept under ``CacheLimits.disk_bytes`` by removing the least recently used files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
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

_CACHE_SUFFIX: Final = ".cache"

_TEMP_PREFIX: Final = ".tmp-"

_STALE_TEMP_S: Final = 3_600.0  # a temp file this old is a crashed writer's: removed

_EVICT_TO: Final = 0.9  # evicting, go down to 90 % of the cap, so not every write rescans

_RESCAN_FRACTION: Final = 8  # rescan after writing 1/8 of the cap (other processes write too)


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
        size: Callable[[str, T, bytes], int] | None = None,
    ) -> None:
        self._policy = policy
        self._name = name
        self._clock = clock
        self._parse_body = parse_body
        self._size = size
        self._cap = policy.cache_limits.disk_bytes
        self._lock = threading.Lock()
        self._counted: int | None = None  # directory bytes at the last scan, plus own writes
        self._since_scan = 0  # bytes this store wrote since that scan
        self._evictions = 0

    def stats(self) -> dict[str, int | None]:
        """``bytes``: the directory's size as last counted (plus this store's writes since);
        ``max_bytes``: the cap; ``evictions``: files this store removed to keep under it."""
        with self._lock:
            return {"bytes": self._counted, "max_bytes": self._cap, "evictions": self._evictions}

    def path(self, url: str) -> str:
        assert self._policy.cache_dir is not None
        digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self._policy.cache_dir, digest + _CACHE_SUFFIX)

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
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: the last file to be evicted (LRU by mtime)
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
        size = self._size(url, obj, body) if self._size is not None else len(body)
        return _Entry(obj, fetched_at, expires, hard, size)

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
        written = len(_DISK_MAGIC) + len(meta_raw) + 1 + len(body)
        if written > self._cap:  # larger than the whole directory budget: never written
            return
        path = self.path(url)
        temp: str | None = None
        try:
            os.makedirs(self._policy.cache_dir, mode=0o700, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self._policy.cache_dir, prefix=_TEMP_PREFIX)
            with os.fdopen(fd, "wb") as handle:
                handle.write(_DISK_MAGIC + meta_raw + b"\n" + body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
            temp = None
        except OSError as exc:
            logger.warning("%s could not write cache file %s: %s", self._name, path, exc)
            return
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
        self._account(written)

    def _account(self, written: int) -> None:
        """Count a write; past the cap (or after 1/8 of it, as other processes and fetchers
        share the directory) count the directory again and evict."""
        with self._lock:
            self._since_scan += written
            if self._counted is not None:
                self._counted += written
            due = (
                self._counted is None
                or self._counted > self._cap
                or self._since_scan * _RESCAN_FRACTION > self._cap
            )
            if not due:
                return
            self._since_scan = 0
            try:
                self._counted, evicted = self._evict()
            except OSError as exc:
                logger.warning("%s could not scan the cache directory: %s", self._name, exc)
                return
            self._evictions += evicted

    def _evict(self) -> tuple[int, int]:
        """Scan the directory; while over the cap remove the least recently used cache files
        (oldest mtime first) down to 90 % of it. Returns (bytes left, files removed)."""
        directory = self._policy.cache_dir
        assert directory is not None
        files: list[tuple[float, int, str]] = []
        total = 0
        stale_temp = time.time() - _STALE_TEMP_S
        with os.scandir(directory) as listing:
            for item in listing:
                try:
                    if not item.is_file(follow_symlinks=False):
                        continue
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                if item.name.endswith(_CACHE_SUFFIX):
                    files.append((st.st_mtime, st.st_size, item.path))
                    total += st.st_size
                elif item.name.startswith(_TEMP_PREFIX) and st.st_mtime < stale_temp:
                    with contextlib.suppress(OSError):
                        os.unlink(item.path)
        evicted = 0
        if total > self._cap:
            goal = int(self._cap * _EVICT_TO)
            files.sort()
            for _mtime, size, path in files:
                if total <= goal:
                    break
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass  # another process evicted it: gone all the same
                except OSError:
                    continue
                total -= size
                evicted += 1
            logger.info(
                "%s cache directory over %d bytes: removed %d files", self._name, self._cap, evicted
            )
        return total, evicted
