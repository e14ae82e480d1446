"""Tests for shakenkit.fetch against a real HTTPS server on 127.0.0.1 (no mocked HTTP).

Rules: standards digest §6.4 (ATIS-1000074 v003 / ATIS-1000080 x5u fetching and caching) and
§1.7 (RFC 8224 §7: don't dereference abusable URIs: SSRF, DoS).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import pickle
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shakenkit.repository import Fetcher, FetchError, FetchPolicy, freshness_lifetime

try:  # tests/ as a package, or tests/ itself on sys.path
    from tests.https_server import HttpsServer, https_server
except ImportError:  # pragma: no cover
    from https_server import HttpsServer, https_server  # type: ignore[no-redef,import-not-found]  # noqa: F401

START = 1_700_000_000.0


def parse(body: bytes) -> bytes:
    """Stand-in for certificate parsing: any body but b"garbage" is usable."""
    if body == b"garbage":
        raise ValueError("not a certificate")
    return body


class Clock:
    """Injectable unix clock."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


MakeFetcher = Callable[..., Fetcher[bytes]]


@pytest.fixture
def make(https_server: HttpsServer) -> Iterator[MakeFetcher]:
    """Factory: a Fetcher trusting the test CA with 127.0.0.1:PORT allow-listed, short limits."""
    made: list[Fetcher[bytes]] = []

    def factory(
        *,
        clock: Callable[[], float] = time.time,
        expires: Callable[[bytes], float | None] | None = None,
        allow: bool = True,
        ca: bool = True,
        **policy: Any,
    ) -> Fetcher[bytes]:
        options: dict[str, Any] = {
            "connect_timeout": 1.0,
            "total_timeout": 2.0,
            "allow_hosts": frozenset({https_server.host_port}) if allow else frozenset(),
            "tls_ca_file": https_server.ca_pem_path if ca else None,
        }
        options.update(policy)
        kwargs: dict[str, Any] = {"policy": FetchPolicy(**options), "clock": clock}
        if expires is not None:
            kwargs["expires"] = expires
        fetcher = Fetcher(parse, **kwargs)
        made.append(fetcher)
        return fetcher

    yield factory
    for fetcher in made:
        fetcher.close()


def kind_of(call: Callable[[], object]) -> FetchError:
    with pytest.raises(FetchError) as info:
        call()
    return info.value


def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll for something the server thread records after the client has already returned."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def akind_of(fetcher: Fetcher[bytes], url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetcher.aget(url)
    return info.value


# ---- basics ------------------------------------------------------------------------------------


def test_http_200_body_is_parsed_and_returned(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: a 200 response's body goes through parse() and the parsed object is returned."""
    url = https_server.route("/cert.pem", body=b"CERT")
    assert make().get(url) == b"CERT"
    assert https_server.count("/cert.pem") == 1


async def test_aget_http_200_body_is_parsed_and_returned(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§6.4: the async path returns the same parsed object."""
    url = https_server.route("/cert.pem", body=b"CERT")
    fetcher = make()
    assert await fetcher.aget(url) == b"CERT"
    assert await fetcher.aget(url) == b"CERT"
    assert https_server.count("/cert.pem") == 1
    await fetcher.aclose()


@pytest.mark.parametrize("status", [404, 500, 204, 206])
def test_only_http_200_is_accepted(
    https_server: HttpsServer,
    make: MakeFetcher,
    status: int,
) -> None:
    """§6.4: HTTP 200 only; anything else is kind 'http_status'."""
    url = https_server.route("/x", status=status, body=b"CERT")
    error = kind_of(lambda: make().get(url))
    assert error.kind == "http_status"
    assert str(status) in str(error)


def test_tls_server_certificate_must_be_trusted(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§1.7: https gives authenticity; an untrusted server certificate is kind 'tls'."""
    url = https_server.route("/cert.pem", body=b"CERT")
    error = kind_of(lambda: make(ca=False).get(url))
    assert error.kind == "tls"
    assert https_server.count() == 0
    assert eventually(lambda: https_server.tls_failures == 1)


def test_unparsable_body_is_kind_parse(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: content is sniffed by parse(); a body it rejects is kind 'parse'."""
    url = https_server.route("/bad", body=b"garbage")
    error = kind_of(lambda: make().get(url))
    assert error.kind == "parse"
    assert "garbage" not in str(error).replace("not a certificate", "")


def test_content_type_is_not_trusted(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: an unexpected Content-Type does not cause a rejection (parse() decides)."""
    url = https_server.route("/c", body=b"CERT", headers=[("Content-Type", "text/html")])
    assert make().get(url) == b"CERT"


def test_connection_refused_is_kind_connect(make: MakeFetcher) -> None:
    """§6.4: an unreachable repository is kind 'connect'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fetcher = make(allow_hosts=frozenset({f"127.0.0.1:{port}"}))
    error = kind_of(lambda: fetcher.get(f"https://127.0.0.1:{port}/x"))
    assert error.kind == "connect"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_unresolvable_host_is_kind_dns(
    https_server: HttpsServer,
    make: MakeFetcher,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """§6.4: a repository name that does not resolve is kind 'dns' and is negative-cached."""
    real = socket.getaddrinfo

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "nx.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    fetcher = make()
    url = "https://nx.example/cert.pem"
    errors = []
    for _ in range(2):
        if mode == "sync":
            errors.append(await asyncio.to_thread(kind_of, functools.partial(fetcher.get, url)))
        else:
            errors.append(await akind_of(fetcher, url))
    assert errors[0].kind == "dns" and "nx.example" in str(errors[0])
    assert (errors[1].kind, errors[1].cause_kind) == ("negative_cache", "dns")
    await fetcher.aclose()


def test_connection_reset_mid_body_is_kind_connect(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§6.4: a connection reset in the middle of the body is kind 'connect', nothing cached."""
    url = https_server.route("/reset", body=b"x" * 5000, reset_after=1000)
    error = kind_of(lambda: make().get(url))
    assert error.kind == "connect"


# ---- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_total_timeout_slow_server(
    https_server: HttpsServer,
    make: MakeFetcher,
    mode: str,
) -> None:
    """§6.4: short timeouts; a server that does not answer in time is kind 'timeout'."""
    url = https_server.route("/slow", body=b"CERT", delay=5.0)
    fetcher = make(total_timeout=0.5)
    started = time.monotonic()
    if mode == "sync":
        error = await asyncio.to_thread(kind_of, lambda: fetcher.get(url))
    else:
        error = await akind_of(fetcher, url)
        await fetcher.aclose()
    assert error.kind == "timeout"
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_total_timeout_holds_against_trickling_body(
    https_server: HttpsServer,
    make: MakeFetcher,
    mode: str,
) -> None:
    """§6.4/§1.7 (DoS): the total limit is wall clock, so a body trickled byte by byte fails."""
    url = https_server.route("/trickle", body=b"x" * 400, trickle_interval=0.02)
    fetcher = make(total_timeout=0.5)
    started = time.monotonic()
    if mode == "sync":
        error = await asyncio.to_thread(kind_of, lambda: fetcher.get(url))
    else:
        error = await akind_of(fetcher, url)
        await fetcher.aclose()
    assert error.kind == "timeout"
    assert time.monotonic() - started < 1.5


def test_total_timeout_holds_against_trickling_headers(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§1.7 (DoS): status line and headers trickled byte by byte still hit the total limit."""
    url = https_server.route(
        "/trickle-head", body=b"CERT", trickle_interval=0.02, trickle_head=True
    )
    started = time.monotonic()
    error = kind_of(lambda: make(total_timeout=0.5).get(url))
    assert error.kind == "timeout"
    assert time.monotonic() - started < 1.5


def test_response_over_size_limit_stops_reading(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§1.7 (DoS): a 50 MB body without Content-Length is cut at the limit; memory stays small."""
    url = https_server.huge("/huge", 50_000_000)
    fetcher = make()
    tracemalloc.start()
    try:
        started = time.monotonic()
        error = kind_of(lambda: fetcher.get(url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "too_large"
    assert peak < 5_000_000
    assert time.monotonic() - started < 2.0


def test_response_announced_over_size_limit(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§1.7 (DoS): a Content-Length over the limit is refused before reading the body."""
    url = https_server.huge("/huge-cl", 50_000_000, content_length=True)
    assert kind_of(lambda: make().get(url)).kind == "too_large"


def test_size_limit_is_inclusive(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§1.7: max_response_bytes bytes are accepted, one more is not."""
    fetcher = make(max_response_bytes=1000)
    assert fetcher.get(https_server.route("/ok", body=b"a" * 1000)) == b"a" * 1000
    url = https_server.route("/over", body=b"a" * 1001, content_length=False)
    assert kind_of(lambda: fetcher.get(url)).kind == "too_large"


def test_compressed_body_is_limited_after_decoding(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§1.7 (DoS): a small gzip body that inflates past the limit is kind 'too_large'."""
    url = https_server.gzip_bomb("/bomb", 20_000_000)
    assert kind_of(lambda: make().get(url)).kind == "too_large"


# ---- redirects ---------------------------------------------------------------------------------


def test_redirect_not_followed_by_default(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: no redirects; a 3xx is kind 'redirect' and its target is never requested."""
    https_server.route("/target", body=b"CERT")
    url = https_server.redirect("/moved", https_server.url("/target"), 301)
    error = kind_of(lambda: make().get(url))
    assert error.kind == "redirect"
    assert https_server.count("/target") == 0


def test_redirect_followed_when_enabled(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4 opt-in: with follow_redirects, a relative Location to an allowed URL is followed."""
    https_server.route("/target", body=b"CERT")
    url = https_server.redirect("/moved", "/target", 307)
    assert make(follow_redirects=True).get(url) == b"CERT"
    assert (https_server.count("/moved"), https_server.count("/target")) == (1, 1)


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("http://127.0.0.1:{port}/target", "policy"),
        ("https://10.0.0.1/target", "ssrf"),
        ("https://169.254.169.254/latest/meta-data", "ssrf"),
        ("https://localhost/target", "ssrf"),
        ("/target?token=1", "policy"),
    ],
)
def test_redirect_hop_is_rechecked_by_full_policy(
    https_server: HttpsServer,
    make: MakeFetcher,
    location: str,
    kind: str,
) -> None:
    """§6.4/§1.7: every redirect hop gets the URL and SSRF policy; forbidden hops are refused."""
    https_server.route("/target", body=b"CERT")
    url = https_server.redirect("/moved", location.format(port=https_server.port))
    error = kind_of(lambda: make(follow_redirects=True).get(url))
    assert error.kind == kind
    assert https_server.count("/target") == 0


def test_redirect_limit(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4 opt-in: at most max_redirects hops are followed."""
    url = https_server.redirect("/loop", "/loop")
    error = kind_of(lambda: make(follow_redirects=True, max_redirects=2).get(url))
    assert error.kind == "redirect"
    assert https_server.count("/loop") == 3


# ---- cache lifetime ----------------------------------------------------------------------------


def test_max_age_is_honored(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4 (RFC 9111): fresh for max-age seconds, then fetched again."""
    clock = Clock()
    url = https_server.route("/c", body=b"CERT", headers=[("Cache-Control", "max-age=100")])
    fetcher = make(clock=clock, min_ttl=1)
    fetcher.get(url)
    clock.advance(99)
    fetcher.get(url)
    assert https_server.count("/c") == 1
    clock.advance(2)
    fetcher.get(url)
    assert https_server.count("/c") == 2


def test_min_ttl_floor_raises_short_max_age(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: a directive under the floor (24 h by default) is raised to the floor."""
    clock = Clock()
    url = https_server.route("/c", body=b"CERT", headers=[("Cache-Control", "max-age=5")])
    fetcher = make(clock=clock, min_ttl=100)
    fetcher.get(url)
    clock.advance(99)
    fetcher.get(url)
    assert https_server.count("/c") == 1
    clock.advance(2)
    fetcher.get(url)
    assert https_server.count("/c") == 2


def test_default_floor_is_24_hours(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: no Cache-Control at all (common on real CRs) caches 24 h by default."""
    clock = Clock()
    url = https_server.route("/c", body=b"CERT")
    fetcher = make(clock=clock, min_ttl=FetchPolicy().min_ttl)
    fetcher.get(url)
    clock.advance(86_399)
    fetcher.get(url)
    assert https_server.count("/c") == 1
    clock.advance(2)
    fetcher.get(url)
    assert https_server.count("/c") == 2


@pytest.mark.parametrize("directive", ["no-store", "no-cache", "private, no-cache, max-age=x"])
def test_no_store_does_not_force_a_fetch_per_call(
    https_server: HttpsServer,
    make: MakeFetcher,
    directive: str,
) -> None:
    """§6.4: no-store/no-cache are 'no usable directive'; the floor still applies."""
    url = https_server.route("/c", body=b"CERT", headers=[("Cache-Control", directive)])
    fetcher = make(clock=Clock(), min_ttl=100)
    fetcher.get(url)
    fetcher.get(url)
    assert https_server.count("/c") == 1


def test_max_ttl_caps_lifetime(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: a cache-wide maximum caps long directives."""
    clock = Clock()
    url = https_server.route("/c", body=b"CERT", headers=[("Cache-Control", "max-age=100000")])
    fetcher = make(clock=clock, min_ttl=1, max_ttl=100)
    fetcher.get(url)
    clock.advance(101)
    fetcher.get(url)
    assert https_server.count("/c") == 2


def test_object_expiry_caps_lifetime(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: never cached beyond the object's own expiry (leaf notAfter)."""
    clock = Clock()
    url = https_server.route("/c", body=b"CERT", headers=[("Cache-Control", "max-age=1000")])
    fetcher = make(clock=clock, min_ttl=1, expires=lambda _: START + 50)
    fetcher.get(url)
    clock.advance(49)
    fetcher.get(url)
    assert https_server.count("/c") == 1
    clock.advance(2)
    fetcher.get(url)
    assert https_server.count("/c") == 2


def test_expired_object_is_served_once_but_not_cached(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§6.4: an object already past its expiry is returned to this caller but not cached."""
    url = https_server.route("/c", body=b"CERT")
    fetcher = make(clock=Clock(), expires=lambda _: START - 1)
    assert fetcher.get(url) == b"CERT"
    assert fetcher.get(url) == b"CERT"
    assert https_server.count("/c") == 2


def test_expires_header_minus_date(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4 (RFC 9111 §4.2.1): without max-age, lifetime is Expires minus Date."""
    clock = Clock()
    headers = [
        ("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("Expires", "Mon, 01 Jan 2024 00:16:40 GMT"),  # Date + 1000 s
    ]
    url = https_server.route("/c", body=b"CERT", headers=headers)
    fetcher = make(clock=clock, min_ttl=1)
    fetcher.get(url)
    clock.advance(999)
    fetcher.get(url)
    assert https_server.count("/c") == 1
    clock.advance(2)
    fetcher.get(url)
    assert https_server.count("/c") == 2


def test_age_header_reduces_freshness(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4 (RFC 9111 §4.2.3): Age already spent upstream is subtracted from max-age."""
    clock = Clock()
    headers = [("Cache-Control", "max-age=100"), ("Age", "90")]
    url = https_server.route("/c", body=b"CERT", headers=headers)
    fetcher = make(clock=clock, min_ttl=1)
    fetcher.get(url)
    clock.advance(11)
    fetcher.get(url)
    assert https_server.count("/c") == 2


@given(
    st.dictionaries(
        st.sampled_from(["cache-control", "expires", "date", "age", "x-other"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    )
)
def test_freshness_lifetime_never_fails_on_hostile_headers(headers: dict[str, str]) -> None:
    """§6.4 (RFC 9111): header parsing is total: None or a finite lifetime >= 0, never an error."""
    lifetime = freshness_lifetime(headers, START)
    assert lifetime is None or 0 <= lifetime < float("inf")


# ---- negative cache and stale-if-error ---------------------------------------------------------


def test_negative_cache(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: failures are cached briefly; a repeat within negative_ttl makes no request."""
    clock = Clock()
    url = https_server.route("/gone", status=404)
    fetcher = make(clock=clock, negative_ttl=30)
    assert kind_of(lambda: fetcher.get(url)).kind == "http_status"
    error = kind_of(lambda: fetcher.get(url))
    assert (error.kind, error.cause_kind) == ("negative_cache", "http_status")
    assert https_server.count("/gone") == 1
    clock.advance(31)
    assert kind_of(lambda: fetcher.get(url)).kind == "http_status"
    assert https_server.count("/gone") == 2


def test_stale_if_error(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4 (RFC 5861): an expired entry may be served within stale_if_error if refresh fails."""
    clock = Clock()
    url = https_server.route("/c", body=b"OLD", headers=[("Cache-Control", "max-age=10")])
    fetcher = make(clock=clock, min_ttl=1, stale_if_error=100, negative_ttl=5)
    assert fetcher.get(url) == b"OLD"
    https_server.route("/c", status=500)
    clock.advance(20)
    assert fetcher.get(url) == b"OLD"  # refresh failed: served stale
    assert fetcher.get(url) == b"OLD"  # failure negative-cached: stale again, no request
    assert https_server.count("/c") == 2
    assert fetcher.stats()["stale_served"] == 2
    clock.advance(200)  # beyond the stale window
    assert kind_of(lambda: fetcher.get(url)).kind == "http_status"


def test_stale_if_error_never_past_object_expiry(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§6.4: stale-if-error never serves an object past its own expiry (notAfter)."""
    clock = Clock()
    url = https_server.route("/c", body=b"OLD", headers=[("Cache-Control", "max-age=10")])
    fetcher = make(clock=clock, min_ttl=1, stale_if_error=100, expires=lambda _: START + 15)
    fetcher.get(url)
    https_server.route("/c", status=500)
    clock.advance(16)
    assert kind_of(lambda: fetcher.get(url)).kind == "http_status"


def test_stale_if_error_off_by_default(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: without stale_if_error an expired entry is never served."""
    clock = Clock()
    url = https_server.route("/c", body=b"OLD", headers=[("Cache-Control", "max-age=10")])
    fetcher = make(clock=clock, min_ttl=1)
    fetcher.get(url)
    https_server.route("/c", status=500)
    clock.advance(20)
    assert kind_of(lambda: fetcher.get(url)).kind == "http_status"


# ---- single flight -----------------------------------------------------------------------------


async def test_single_flight_200_asyncio_tasks(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§6.4: concurrent fetches of one URL are deduplicated: 200 tasks, one request."""
    url = https_server.route("/c", body=b"CERT", delay=0.2)
    fetcher = make()
    results = await asyncio.gather(*(fetcher.aget(url) for _ in range(200)))
    assert results == [b"CERT"] * 200
    assert https_server.count("/c") == 1
    stats = fetcher.stats()
    assert (stats["fetches"], stats["misses"], stats["coalesced"]) == (1, 200, 199)
    await fetcher.aclose()


def run_threads(count: int, target: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target()
        except FetchError as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_single_flight_16_threads(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: concurrent fetches of one URL are deduplicated: 16 threads, one request."""
    url = https_server.route("/c", body=b"CERT", delay=0.2)
    fetcher = make()
    assert run_threads(16, lambda: fetcher.get(url)) == [b"CERT"] * 16
    assert https_server.count("/c") == 1
    assert fetcher.stats()["fetches"] == 1


def test_single_flight_shares_the_error(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: concurrent callers share one failed request and each gets the error."""
    url = https_server.route("/gone", status=404, delay=0.2)
    fetcher = make()
    results = run_threads(16, lambda: fetcher.get(url))
    kinds = {r.kind for r in results if isinstance(r, FetchError)}
    assert len(results) == 16 and kinds == {"http_status"}
    assert all(isinstance(r, FetchError) for r in results)
    assert https_server.count("/gone") == 1


@pytest.mark.parametrize("first", ["thread", "task"])
async def test_single_flight_mixed_threads_and_tasks(
    https_server: HttpsServer,
    make: MakeFetcher,
    first: str,
) -> None:
    """§6.4: sync get() and async aget() share one cache and one in-flight request."""
    url = https_server.route("/c", body=b"CERT", delay=0.3)
    fetcher = make()
    thread_results: list[bytes] = []

    def in_thread() -> None:
        thread_results.append(fetcher.get(url))

    threads = [threading.Thread(target=in_thread) for _ in range(8)]
    if first == "thread":
        threads[0].start()
        await asyncio.sleep(0.05)
        tasks = [asyncio.ensure_future(fetcher.aget(url)) for _ in range(50)]
    else:
        tasks = [asyncio.ensure_future(fetcher.aget(url)) for _ in range(50)]
        await asyncio.sleep(0.05)
        threads[0].start()
    for thread in threads[1:]:
        thread.start()
    results = await asyncio.gather(*tasks)
    for thread in threads:
        await asyncio.to_thread(thread.join, 10)
    assert results == [b"CERT"] * 50 and thread_results == [b"CERT"] * 8
    assert https_server.count("/c") == 1
    await fetcher.aclose()


async def test_cancelled_caller_does_not_cancel_the_shared_fetch(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§6.4: the shared fetch outlives a cancelled caller; the other callers get the result."""
    url = https_server.route("/c", body=b"CERT", delay=0.3)
    fetcher = make()
    first = asyncio.ensure_future(fetcher.aget(url))
    second = asyncio.ensure_future(fetcher.aget(url))
    await asyncio.sleep(0.05)
    first.cancel()
    assert await second == b"CERT"
    assert first.cancelled()
    assert https_server.count("/c") == 1
    await fetcher.aclose()


# ---- SSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "127.1.2.3",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0:{port}",
        "224.0.0.1",
        "[::1]:{port}",
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:127.0.0.1]:{port}",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",
        "localhost:{port}",
        "cr.localhost",
    ],
)
def test_ssrf_forbidden_addresses_are_refused_without_a_request(
    https_server: HttpsServer,
    make: MakeFetcher,
    host: str,
) -> None:
    """§1.7: loopback/private/link-local/... targets are refused and nothing is sent."""
    url = f"https://{host.format(port=https_server.port)}/cert.pem"
    fetcher = make(allow=False, insecure_allow_any_port=True)
    error = kind_of(lambda: fetcher.get(url))
    assert error.kind == "ssrf"
    assert (https_server.count(), https_server.connections) == (0, 0)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_ssrf_check_applies_to_resolved_addresses(
    https_server: HttpsServer,
    make: MakeFetcher,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """§1.7: a name that resolves to a forbidden address is refused, nothing is sent."""
    real = socket.getaddrinfo

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    fetcher = make(allow=False, insecure_allow_any_port=True)
    for url in (
        f"https://rebind.example:{https_server.port}/c",
        f"https://2130706433:{https_server.port}/c",  # 127.0.0.1 in inet_aton's decimal form
    ):
        if mode == "sync":
            error = await asyncio.to_thread(kind_of, functools.partial(fetcher.get, url))
        else:
            error = await akind_of(fetcher, url)
        assert error.kind == "ssrf"
    assert (https_server.count(), https_server.connections) == (0, 0)
    if mode == "async":
        await fetcher.aclose()


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_ssrf_connects_to_the_checked_address_with_hostname_for_tls(
    https_server: HttpsServer,
    make: MakeFetcher,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """§1.7 (DNS rebinding): resolve once, connect to that IP; SNI/cert/Host use the name."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def one_shot_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            lookups.append(host)
            if len(lookups) > 1:  # a second lookup would be a rebinding window
                raise socket.gaierror(socket.EAI_NONAME, "rebound")
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", one_shot_getaddrinfo)
    url = https_server.route("/c", body=b"CERT")
    url = url.replace("127.0.0.1", "rebind.example")
    fetcher = make(allow_hosts=frozenset({f"rebind.example:{https_server.port}"}))
    if mode == "sync":
        assert await asyncio.to_thread(fetcher.get, url) == b"CERT"
    else:
        assert await fetcher.aget(url) == b"CERT"
        await fetcher.aclose()
    assert lookups == ["rebind.example"]
    assert https_server.sni_names == ["rebind.example"]
    assert https_server.last_headers("/c")["Host"] == f"rebind.example:{https_server.port}"


def test_allow_hosts_host_port_allows_that_port_and_address(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§1.7 local choice: "127.0.0.1:PORT" in allow_hosts lifts the port and SSRF rules."""
    url = https_server.route("/c", body=b"CERT")
    assert kind_of(lambda: make(allow=False).get(url)).kind == "policy"  # port
    error = kind_of(lambda: make(allow=False, insecure_allow_any_port=True).get(url))
    assert error.kind == "ssrf"
    assert https_server.count() == 0
    assert make().get(url) == b"CERT"


def test_allow_hosts_bare_host_does_not_lift_the_port_rule(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§6.4: a bare "HOST" entry skips only the address check, not the port rule."""
    url = https_server.route("/c", body=b"CERT")
    fetcher = make(allow_hosts=frozenset({"127.0.0.1"}))
    assert kind_of(lambda: fetcher.get(url)).kind == "policy"
    fetcher = make(
        allow_hosts=frozenset({"127.0.0.1"}),
        allowed_ports=frozenset({443, 8443, https_server.port}),
    )
    assert fetcher.get(url) == b"CERT"


def test_allow_listed_name_keeps_hostname_for_tls(
    https_server: HttpsServer,
    make: MakeFetcher,
) -> None:
    """§1.7: an allow-listed name is verified against the certificate by name (SNI + Host)."""
    url = https_server.route("/c", body=b"CERT").replace("127.0.0.1", "localhost")
    fetcher = make(allow_hosts=frozenset({f"localhost:{https_server.port}"}))
    assert fetcher.get(url) == b"CERT"
    assert https_server.sni_names == ["localhost"]
    assert https_server.last_headers("/c")["Host"] == f"localhost:{https_server.port}"


# ---- URL policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/c",
        "ftp://cr.example/c",
        "file:///etc/passwd",
        "https://cr.example:80/c",
        "https://cr.example:8080/c",
        "https://user:secret@cr.example/c",
        "https://secret@cr.example/c",
        "https://@cr.example/c",
        "https://cr.example/c?x=secret",
        "https://cr.example/c?",
        "https://cr.example/c#frag",
        "https:///c",
        "https://cr.example/a b",
        "https://cr.example\\@127.0.0.1/c",
        "",
    ],
)
def test_url_policy_refusals_make_no_request(
    https_server: HttpsServer,
    make: MakeFetcher,
    url: str,
) -> None:
    """§6.4: https only, 443/8443, no userinfo/query/fragment; refused before any I/O."""
    fetcher = make()
    error = kind_of(lambda: fetcher.get(url.format(port=https_server.port)))
    assert error.kind == "policy"
    assert "secret" not in str(error) and "secret" not in error.url
    assert (https_server.count(), https_server.connections) == (0, 0)
    assert fetcher.stats()["fetches"] == 0


def test_insecure_allow_http_is_the_only_way_to_plain_http(make: MakeFetcher) -> None:
    """§6.4: plain http is refused unless the option named insecure_allow_http is set."""
    url = "http://cr.example/c"
    assert kind_of(lambda: make().get(url)).kind == "policy"
    relaxed = make(insecure_allow_http=True, allow_hosts=frozenset({"127.0.0.1"}))
    assert kind_of(lambda: relaxed.get("http://10.0.0.1:80/c")).kind == "policy"  # port 80
    lab = make(insecure_allow_http=True, insecure_allow_any_port=True)
    assert kind_of(lambda: lab.get("http://10.0.0.1:80/c")).kind == "ssrf"


def test_policy_rejects_inconsistent_settings() -> None:
    """§6.4: a policy with min_ttl > max_ttl or a malformed allow_hosts entry is an error."""
    with pytest.raises(ValueError):
        FetchPolicy(min_ttl=10, max_ttl=5)
    with pytest.raises(ValueError):
        FetchPolicy(allow_hosts=frozenset({"cr.example:notaport"}))
    with pytest.raises(ValueError):
        FetchPolicy(total_timeout=0)


# ---- persistent cache --------------------------------------------------------------------------


def test_persistent_cache_survives_a_new_fetcher(
    https_server: HttpsServer,
    make: MakeFetcher,
    tmp_path: Any,
) -> None:
    """§6.4: a new Fetcher on the same cache_dir starts warm: no request for a fresh entry."""
    url = https_server.route("/c", body=b"CERT")
    make(cache_dir=str(tmp_path)).get(url)
    name = hashlib.sha256(url.encode()).hexdigest() + ".cache"
    assert sorted(os.listdir(tmp_path)) == [name]  # atomic write leaves no temp files
    warm = make(cache_dir=str(tmp_path))
    assert warm.get(url) == b"CERT"
    assert https_server.count("/c") == 1
    assert warm.stats()["disk_hits"] == 1


async def test_persistent_cache_async_path(
    https_server: HttpsServer,
    make: MakeFetcher,
    tmp_path: Any,
) -> None:
    """§6.4: aget() reads and writes the same persistent cache."""
    url = https_server.route("/c", body=b"CERT")
    first = make(cache_dir=str(tmp_path))
    assert await first.aget(url) == b"CERT"
    await first.aclose()
    second = make(cache_dir=str(tmp_path))
    assert await second.aget(url) == b"CERT"
    assert https_server.count("/c") == 1
    await second.aclose()


def test_persistent_cache_expired_entry_is_refetched(
    https_server: HttpsServer,
    make: MakeFetcher,
    tmp_path: Any,
) -> None:
    """§6.4: a persisted entry past its lifetime is not served."""
    clock = Clock()
    url = https_server.route("/c", body=b"CERT", headers=[("Cache-Control", "max-age=60")])
    make(cache_dir=str(tmp_path), clock=clock, min_ttl=1).get(url)
    clock.advance(61)
    make(cache_dir=str(tmp_path), clock=clock, min_ttl=1).get(url)
    assert https_server.count("/c") == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"not a cache file",
        lambda data: data[:-2],  # truncated body
        lambda data: data[: len(data) // 3],  # truncated header
        lambda data: data[:-4] + b"XXXX",  # checksum mismatch
        lambda data: data + b"A" * 300_000,  # oversized
        lambda data: b"",
        lambda data: data.replace(b'"url":"', b'"url":"x'),  # another URL
        lambda data: data.replace(b"fetched_at", b"fetched_xx"),
    ],
)
def test_persistent_cache_damaged_file_is_a_miss(
    https_server: HttpsServer,
    make: MakeFetcher,
    tmp_path: Any,
    damage: Callable[[bytes], bytes],
) -> None:
    """§6.4: a corrupt/truncated/oversized cache file is a miss (fetched again), never a crash."""
    url = https_server.route("/c", body=b"CERT" * 10)
    make(cache_dir=str(tmp_path)).get(url)
    path = tmp_path / (hashlib.sha256(url.encode()).hexdigest() + ".cache")
    path.write_bytes(damage(path.read_bytes()))
    assert make(cache_dir=str(tmp_path)).get(url) == b"CERT" * 10
    assert https_server.count("/c") == 2


def test_persistent_cache_body_is_parsed_again(
    https_server: HttpsServer,
    make: MakeFetcher,
    tmp_path: Any,
) -> None:
    """§6.4: a persisted body that parse() rejects is a miss."""
    url = https_server.route("/c", body=b"CERT")
    make(cache_dir=str(tmp_path)).get(url)
    path = tmp_path / (hashlib.sha256(url.encode()).hexdigest() + ".cache")
    data = path.read_bytes()
    body = b"garbage"
    header = data[: data.rindex(b"CERT")]
    header = header.replace(b'"length":4', b'"length":7').replace(
        hashlib.sha256(b"CERT").hexdigest().encode(), hashlib.sha256(body).hexdigest().encode()
    )
    path.write_bytes(header + body)
    assert make(cache_dir=str(tmp_path)).get(url) == b"CERT"
    assert https_server.count("/c") == 2


# ---- observability -----------------------------------------------------------------------------


def test_stats_counters(https_server: HttpsServer, make: MakeFetcher) -> None:
    """§6.4: operators see hits, misses, fetches, negative hits, failures by kind, latency."""
    ok = https_server.route("/ok", body=b"CERT")
    gone = https_server.route("/gone", status=404)
    fetcher = make(clock=Clock())
    fetcher.get(ok)
    fetcher.get(ok)
    kind_of(lambda: fetcher.get(gone))
    kind_of(lambda: fetcher.get(gone))
    kind_of(lambda: fetcher.get("https://cr.example/c?q"))
    stats = fetcher.stats()
    assert stats["hits"] == 1
    assert stats["misses"] == 2
    assert stats["fetches"] == 2
    assert stats["negative_hits"] == 1
    assert stats["stale_served"] == 0
    assert stats["failures_by_kind"] == {"http_status": 1, "policy": 1}
    latency = stats["fetch_latency"]
    assert isinstance(latency, dict)
    assert latency["count"] == 2 and latency["max_s"] >= latency["p50_s"] > 0


def test_fetch_error_is_a_clear_picklable_sentence() -> None:
    """§1.7: errors carry a stable kind, the URL and one human sentence; they survive pickling."""
    error = FetchError("negative_cache", "https://cr.example/c", "Not now.", cause_kind="dns")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.url, str(copy), copy.cause_kind) == (
        "negative_cache",
        "https://cr.example/c",
        "Not now.",
        "dns",
    )
