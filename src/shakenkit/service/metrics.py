"""Prometheus metrics of the verification service (``GET /metrics``, text exposition format).

Built on the official client, ``prometheus-client``. Each app has its own registry (several apps
can live in one process, e.g. in tests). With ``--workers N`` the service runs the client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by the runner before the workers start):
every worker writes its samples to that directory and a scrape served by any worker adds them up.

Series:

* ``shakenkit_verifications_total{verstat, code}`` — verdicts by verstat and RFC 8224 /
  ATIS-1000074 code (``none`` without an error);
* ``shakenkit_verification_duration_seconds`` — time from request to response (histogram);
* ``shakenkit_http_requests_total{endpoint, status}`` — every request, by route and status;
* ``shakenkit_signings_total`` — PASSporTs signed;
* ``shakenkit_certificate_cache_hits_total{kind}``, ``..._cache_misses_total{kind}``,
  ``shakenkit_certificate_fetches_total{kind}``,
  ``shakenkit_certificate_fetch_failures_total{kind, reason}`` — the certificate and CRL
  repository client (``kind`` ``x5u`` or ``crl``);
* ``shakenkit_certificate_cache_entries{kind}``, ``shakenkit_trust_anchors`` — gauges;
* ``shakenkit_reloads_total{result}`` — trust anchor / CRL reloads (``ok`` or ``error``).

Per-request counts (requests, verdicts, durations) are tallied in plain dicts and lists on the
hot path and brought into the Prometheus series by :meth:`Metrics.flush`: on every scrape and
once a second (the app's sync task). A prometheus-client update takes a lock and costs ~1.5 us;
three of them a request were ~2% of a served verification.

With ``--trust-dir`` (:class:`TrustListMetrics`, :mod:`.trust_refresh`; with several workers
the stalest worker's view):

* ``shakenkit_trust_list_sequence`` — sequence of the STI-PA CA list the anchors come from;
* ``shakenkit_trust_list_expiry_timestamp_seconds`` — that list's ``exp`` (Unix seconds);
* ``shakenkit_trust_list_age_seconds`` — seconds since the list was last confirmed current
  with the STI-PA (a successful pull) or installed;
* ``shakenkit_trust_list_pulls_total{result}`` — pulls: ``installed``, ``unchanged``,
  ``refused`` (the list failed a check) or ``failed`` (the STI-PA could not be reached).
"""

from __future__ import annotations

import os
from bisect import bisect_left
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as _mp

__all__ = ["CONTENT_TYPE", "Metrics", "TrustListMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Verification latency buckets (seconds): warm verification is ~0.1-0.3 ms, a fetch up to the
# fetch timeout.
BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_SOURCE_COUNTERS = ("hits", "misses", "fetches")

# No ``*_created`` series: they double the exposition and no dashboard here needs them.
disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess_enabled() -> bool:
    """True when the client runs in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """The service's metrics in their own registry; :meth:`exposition` renders them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.verifications = Counter(
            "shakenkit_verifications",
            "Verification verdicts by verstat and RFC 8224 / ATIS-1000074 error code",
            ["verstat", "code"],
            registry=r,
        )
        self.duration = Histogram(
            "shakenkit_verification_duration_seconds",
            "Time to answer one verification request",
            buckets=BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "shakenkit_http_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=r,
        )
        self.signings = Counter("shakenkit_signings", "PASSporTs signed", registry=r)
        self.cache_hits = Counter(
            "shakenkit_certificate_cache_hits",
            "Certificate / CRL lookups answered from the cache",
            ["kind"],
            registry=r,
        )
        self.cache_misses = Counter(
            "shakenkit_certificate_cache_misses",
            "Certificate / CRL lookups that needed a fetch",
            ["kind"],
            registry=r,
        )
        self.fetches = Counter(
            "shakenkit_certificate_fetches",
            "HTTPS fetches of certificates / CRLs started",
            ["kind"],
            registry=r,
        )
        self.fetch_failures = Counter(
            "shakenkit_certificate_fetch_failures",
            "Failed certificate / CRL fetches and refused URLs, by reason",
            ["kind", "reason"],
            registry=r,
        )
        self.cache_entries = Gauge(
            "shakenkit_certificate_cache_entries",
            "Entries in the certificate / CRL cache",
            ["kind"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.trust_anchors = Gauge(
            "shakenkit_trust_anchors",
            "Trust anchors loaded",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter(
            "shakenkit_reloads", "Trust anchor and CRL reloads", ["result"], registry=r
        )
        self._seen: dict[tuple[str, str], float] = {}
        # Hot-path tallies, flushed into the series above (see the module docstring).
        self._verdicts: dict[tuple[str, int | None], int] = {}
        self._requests: dict[tuple[str, int], int] = {}
        self._bucket_counts = [0] * (len(BUCKETS) + 1)  # the last one: above every bound
        self._duration_sum = 0.0
        self._flushed_verdicts: dict[tuple[str, int | None], int] = {}
        self._flushed_requests: dict[tuple[str, int], int] = {}
        self._flushed_buckets = [0] * (len(BUCKETS) + 1)
        self._flushed_sum = 0.0

    def verdict(self, verstat: str, code: int | None) -> None:
        """Count one verdict (hot path: a dict update)."""
        key = (verstat, code)
        self._verdicts[key] = self._verdicts.get(key, 0) + 1

    def request(self, endpoint: str, status: int) -> None:
        """Count one answered request (hot path: a dict update)."""
        key = (endpoint, status)
        self._requests[key] = self._requests.get(key, 0) + 1

    def observe(self, seconds: float) -> None:
        """Record one verification request's duration (hot path)."""
        self._bucket_counts[bisect_left(BUCKETS, seconds)] += 1
        self._duration_sum += seconds

    def flush(self) -> None:
        """Bring the tallies into the Prometheus series (counter increments by the delta
        since the last flush)."""
        for key, n in list(self._verdicts.items()):
            delta = n - self._flushed_verdicts.get(key, 0)
            if delta:
                verstat, code = key
                self.verifications.labels(verstat, "none" if code is None else str(code)).inc(delta)
                self._flushed_verdicts[key] = n
        for key, n in list(self._requests.items()):
            delta = n - self._flushed_requests.get(key, 0)
            if delta:
                self.requests.labels(key[0], str(key[1])).inc(delta)
                self._flushed_requests[key] = n
        self._flush_histogram()

    def _flush_histogram(self) -> None:
        counts = list(self._bucket_counts)
        total = self._duration_sum
        buckets = getattr(self.duration, "_buckets", None)
        value_sum = getattr(self.duration, "_sum", None)
        if buckets is None or value_sum is None or len(buckets) != len(counts):
            # prometheus-client without the bucket values this relies on: replay each
            # observation at its bucket's bound (counts exact, the sum approximate).
            bounds = (*BUCKETS, BUCKETS[-1] * 2)
            for i, n in enumerate(counts):
                for _ in range(n - self._flushed_buckets[i]):
                    self.duration.observe(bounds[i])
        else:
            for i, n in enumerate(counts):
                delta = n - self._flushed_buckets[i]
                if delta:
                    buckets[i].inc(delta)
            if total != self._flushed_sum:
                value_sum.inc(total - self._flushed_sum)
        self._flushed_buckets = counts
        self._flushed_sum = total

    def sync_source(self, stats: dict[str, Any]) -> None:
        """Bring the repository counters up to the verifier's ``stats()`` (cumulative values
        become counter increments, so a reload that keeps the source keeps counting)."""
        anchors = stats.get("trust_anchors")
        if isinstance(anchors, int):
            self.trust_anchors.set(anchors)
        for kind in ("x5u", "crl"):
            s = stats.get(kind)
            if not isinstance(s, dict):
                continue
            for name, counter in zip(
                _SOURCE_COUNTERS, (self.cache_hits, self.cache_misses, self.fetches), strict=True
            ):
                self._advance(counter.labels(kind), (kind, name), s.get(name))
            failures = s.get("failures_by_kind")
            if isinstance(failures, dict):
                for reason, n in failures.items():
                    self._advance(
                        self.fetch_failures.labels(kind, str(reason)), (kind, f"fail:{reason}"), n
                    )
            entries = s.get("entries")
            if isinstance(entries, int):
                self.cache_entries.labels(kind).set(entries)

    def _advance(self, child: Any, key: tuple[str, str], value: object) -> None:
        if not isinstance(value, int | float):
            return
        delta = value - self._seen.get(key, 0)
        if delta > 0:
            child.inc(delta)
            self._seen[key] = value

    def exposition(self) -> bytes:
        """The Prometheus text format: this process's registry, or every worker's samples in
        multiprocess mode."""
        self.flush()
        if multiprocess_enabled():
            registry = CollectorRegistry()
            _mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def mark_process_dead(pid: int) -> None:
    """Drop a stopped worker's live gauges (multiprocess mode)."""
    if multiprocess_enabled():
        _mp.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class TrustListMetrics:
    """The trust-list series (module docstring) in ``registry``: set by
    :class:`~shakenkit.service.trust_refresh.TrustRefresh`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sequence = Gauge(
            "shakenkit_trust_list_sequence",
            "Sequence of the STI-PA CA list the trust anchors come from",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.expiry = Gauge(
            "shakenkit_trust_list_expiry_timestamp_seconds",
            "Expiry (exp) of the STI-PA CA list in use, Unix seconds",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.age = Gauge(
            "shakenkit_trust_list_age_seconds",
            "Seconds since the CA list in use was last confirmed current with the STI-PA",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.pulls = Counter(
            "shakenkit_trust_list_pulls",
            "STI-PA CA list pulls by result (installed, unchanged, refused, failed)",
            ["result"],
            registry=registry,
        )
