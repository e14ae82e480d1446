"""Memory bounded in bytes under attacker-chosen input (issue 16 item 5; issue 20's unreachable
CRL).

Everything a call carries is chosen by whoever sent it: the ``x5u`` URL, the protected header,
the CRL a certificate names. Each test below is an attack on one cache and asserts on what the
cache holds (entries, bytes, files): deterministic numbers, never the process's RSS.
``benchmarks/bench_memory.py`` measures RSS.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

import shakenkit.repository.fetch as fetch_module
from shakenkit import Verifier
from shakenkit.certs import certificate as certificate_module
from shakenkit.core import passport as passport_module
from shakenkit.core.passport import b64url_encode, decode_passport, header_memo_stats
from shakenkit.errors import CertificateFetchError
from shakenkit.repository import (
    CacheLimits,
    Fetcher,
    FetchError,
    FetchPolicy,
    HttpsSource,
    StaticSource,
)
from shakenkit.testing import TestPKI, make_pki, sign_identity
from tests.https_server import HttpsServer, running_https_server

ORIG, DEST = "12155551212", "12155551213"


@pytest.fixture(scope="module")
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return make_pki(crl_url=None)


class Clock:
    """An injectable unix clock."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _closed_port() -> int:
    """A 127.0.0.1 port where nothing listens: a connection there is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _long_url(base: str, i: int, size: int = 5_000) -> str:
    head = f"{base}/{i:06d}/"
    return head + "x" * (size - len(head) - 4) + ".pem"


def _retained(call: Callable[[int], object], n: int) -> int:
    """Bytes of Python memory still allocated after ``n`` calls (tracemalloc), warm-up excluded:
    what the calls left behind, not what they used on the way. Tracing starts before a warm-up
    of 150 calls that fills bounded caches (ours, and the standard library's memo of 128
    parsed URLs in ``urllib.parse``), so a bounded cache that churns nets out to ~0."""
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(150):
            call(-1 - i)
        gc.collect()
        base, _ = tracemalloc.get_traced_memory()
        for i in range(n):
            call(i)
        gc.collect()
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return now - base


def _unreachable_policy(port: int, **limits: int) -> FetchPolicy:
    return FetchPolicy(
        allow_hosts=frozenset({f"127.0.0.1:{port}"}),
        connect_timeout=1.0,
        total_timeout=2.0,
        cache_limits=CacheLimits(**limits),
    )


# ---- StaticSource: Verifier(certificates=...) ----------------------------------------------


def test_distinct_unknown_x5u_urls_do_not_grow_static_source(pki: TestPKI) -> None:
    """2,000 calls, each for a distinct unknown 5 KB x5u URL, through the README's
    ``Verifier(certificates=...)``: every call is 436 and nothing is kept per URL (the old code
    kept a CertificateFetchError with its traceback for every URL: 571 MB for 20,000)."""
    verifier = Verifier(trust_anchors=[pki.root_pem], certificates=pki.certificates())
    now = int(time.time())

    def call(i: int) -> None:
        url = _long_url("https://cr.example.com/unknown", i)
        identity = pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=url)
        verdict = verifier.verify(identity, orig=ORIG, dest=DEST, now=now)
        assert verdict.error is not None and verdict.error.sip_code == 436

    retained = _retained(call, 2_000)
    assert retained < 512 * 1024, f"{retained} bytes kept for 2,000 unknown URLs"
    stats = verifier.source.stats()  # type: ignore[attr-defined]
    assert stats["negative_entries"] == 0
    assert stats["entries"] == 0


def test_static_source_failures_not_kept_as_exceptions_with_tracebacks() -> None:
    """A configured entry that cannot be used, asked for many times: the failure is remembered
    as a small record (kind, short detail) for ``recheck_after`` seconds, never as an exception
    object holding a traceback and the frames' locals."""
    marker = "https://cr.example.com/broken-" + "b" * 3_000 + ".pem"
    source = StaticSource({marker: b"not a certificate"})
    for _ in range(50):
        with pytest.raises(CertificateFetchError) as info:
            source.get(marker)
        assert info.value.kind == "parse"
    del info
    gc.collect()
    kept = [
        o
        for o in gc.get_objects()
        if isinstance(o, BaseException) and marker in str(o)
    ]
    assert kept == []
    stats = source.stats()
    assert stats["negative_entries"] == 1
    assert stats["negative_bytes"] < len(marker) + 1_024


def test_static_source_recheck_after_bounds_a_failure_in_time(tmp_path: Path) -> None:
    """A broken file in the certificate directory is remembered for ``recheck_after`` seconds,
    then read again (an operator may fix it): failures are bounded in time, not kept forever."""
    clock = Clock()
    good = make_pki(crl_url=None)
    (tmp_path / "sp.pem").write_bytes(b"garbage")
    source = StaticSource(tmp_path, recheck_after=30.0, clock=clock)
    with pytest.raises(CertificateFetchError):
        source.get("https://cr.example.com/sp.pem")
    (tmp_path / "sp.pem").write_bytes(good.chain_pem)
    clock.now += 10
    with pytest.raises(CertificateFetchError):
        source.get("https://cr.example.com/sp.pem")  # still remembered
    clock.now += 25
    assert source.get("https://cr.example.com/sp.pem").leaf.spc == good.spc
    assert source.stats()["negative_entries"] == 0


def test_distinct_urls_naming_one_file_share_one_parsed_chain(tmp_path: Path) -> None:
    """Directory mode serves a file by the URL's last path segment: 500 distinct URLs (other
    hosts, other paths) that end in the same file name get the one parsed chain; the cache is
    keyed by the file, not by the attacker's URL."""
    good = make_pki(crl_url=None)
    (tmp_path / "sp.pem").write_bytes(good.chain_pem)
    source = StaticSource(tmp_path)
    chains = {id(source.get(f"https://h{i}.example/{'p' * 2_000}/{i}/sp.pem")) for i in range(500)}
    assert len(chains) == 1
    stats = source.stats()
    assert stats["entries"] == 1
    assert stats["negative_entries"] == 0


def test_static_source_parsed_chains_bounded_in_bytes(tmp_path: Path) -> None:
    """A directory of many chains: the parsed chains kept are bounded by
    ``CacheLimits.x5u_bytes`` (least recently used first out); each is parsed again on need."""
    pkis = [make_pki(spc=f"{i:03d}A", crl_url=None) for i in range(12)]
    for i, p in enumerate(pkis):
        (tmp_path / f"sp{i}.pem").write_bytes(p.chain_pem)
    source = StaticSource(tmp_path, limits=CacheLimits(x5u_bytes=40_000))
    for i, p in enumerate(pkis):
        assert source.get(f"https://cr.example.com/sp{i}.pem").leaf.spc == p.spc
    stats = source.stats()
    assert 0 < stats["bytes"] <= 40_000
    assert stats["entries"] < 12
    assert stats["limits"]["x5u_bytes"] == 40_000


# ---- the HTTPS fetcher's negative entries --------------------------------------------------


def test_distinct_unreachable_x5u_urls_bounded_in_number() -> None:
    """An attacker sends calls whose x5u URLs (distinct paths) all point at a host that refuses
    connections: each failure is remembered, but at most ``negative_entries`` of them."""
    port = _closed_port()
    fetcher: Fetcher[bytes] = Fetcher(bytes, policy=_unreachable_policy(port, negative_entries=16))
    for i in range(64):
        with pytest.raises(FetchError):
            fetcher.get(f"https://127.0.0.1:{port}/sp/{i}.pem")
    stats = fetcher.stats()
    assert stats["negative_entries"] == 16
    fetcher.close()


def test_distinct_unreachable_5kb_x5u_urls_bounded_in_bytes() -> None:
    """Long URLs make each negative entry large: the negative cache is bounded in bytes too
    (``negative_bytes``), counting the URL it is keyed by."""
    port = _closed_port()
    fetcher: Fetcher[bytes] = Fetcher(
        bytes, policy=_unreachable_policy(port, negative_bytes=20_000)
    )
    for i in range(20):
        with pytest.raises(FetchError):
            fetcher.get(_long_url(f"https://127.0.0.1:{port}/sp", i))
    stats = fetcher.stats()
    assert stats["negative_bytes"] <= 20_000
    assert 1 <= stats["negative_entries"] <= 4
    fetcher.close()


def test_negative_entries_expire_after_negative_ttl() -> None:
    """Negative entries are bounded in time: once ``negative_ttl`` has passed they are dropped,
    whether or not their URL is asked for again."""
    port = _closed_port()
    clock = Clock()
    policy = FetchPolicy(
        allow_hosts=frozenset({f"127.0.0.1:{port}"}), connect_timeout=1.0, negative_ttl=30.0
    )
    fetcher: Fetcher[bytes] = Fetcher(bytes, policy=policy, clock=clock)
    for i in range(10):
        with pytest.raises(FetchError):
            fetcher.get(f"https://127.0.0.1:{port}/{i}.pem")
    assert fetcher.stats()["negative_entries"] == 10
    clock.now += 31
    assert fetcher.stats()["negative_entries"] == 0
    fetcher.close()


def test_https_source_distinct_unreachable_x5u_keeps_small_records(pki: TestPKI) -> None:
    """Through the Verifier's default HTTPS source: 300 calls for distinct unreachable 5 KB
    x5u URLs keep no exception objects, only records bounded by ``negative_bytes``."""
    port = _closed_port()
    verifier = Verifier(
        trust_anchors=[pki.root_pem], fetch=_unreachable_policy(port, negative_bytes=64_000)
    )
    now = int(time.time())

    def call(i: int) -> None:
        url = _long_url(f"https://127.0.0.1:{port}/sp", i)
        identity = pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=url)
        verdict = verifier.verify(identity, orig=ORIG, dest=DEST, now=now)
        assert verdict.error is not None and verdict.error.sip_code == 436

    retained = _retained(call, 300)
    assert retained < 256 * 1024, f"{retained} bytes kept for 300 unreachable URLs"
    x5u = verifier.source.stats()["x5u"]  # type: ignore[attr-defined]
    assert x5u["negative_bytes"] <= 64_000
    verifier.close()


# ---- caches bounded in bytes ---------------------------------------------------------------


def test_cache_bounded_in_bytes_refuses_oversized_item(srv: HttpsServer) -> None:
    """An object larger than the whole cache is served but not cached (it would evict
    everything else); smaller ones fill the cache up to its byte budget, never beyond."""
    policy = FetchPolicy(
        allow_hosts=frozenset({srv.host_port}),
        tls_ca_file=srv.ca_pem_path,
        cache_limits=CacheLimits(content_bytes=30_000),
    )
    fetcher: Fetcher[bytes] = Fetcher(bytes, policy=policy, name="rcd")
    big = srv.route("/mem/big.bin", body=b"B" * 40_000)
    assert fetcher.get(big) == b"B" * 40_000
    assert fetcher.stats()["entries"] == 0 and fetcher.stats()["bytes"] == 0
    assert fetcher.get(big) == b"B" * 40_000
    assert srv.count("/mem/big.bin") == 2  # not cached: fetched again
    for i in range(10):
        url = srv.route(f"/mem/small{i}.bin", body=bytes([i]) * 3_000)
        assert fetcher.get(url) == bytes([i]) * 3_000
    stats = fetcher.stats()
    assert 0 < stats["bytes"] <= 30_000
    assert stats["entries"] < 10
    assert stats["limits"]["content_bytes"] == 30_000
    fetcher.close()


def test_x5u_cache_of_big_chains_bounded_in_bytes_not_count(srv: HttpsServer) -> None:
    """Chains from repositories the attacker runs: the parsed-chain cache holds at most
    ``x5u_bytes`` of them, however few entries that is."""
    source = HttpsSource(
        FetchPolicy(
            allow_hosts=frozenset({srv.host_port}),
            tls_ca_file=srv.ca_pem_path,
            cache_limits=CacheLimits(x5u_bytes=60_000),
        )
    )
    for i in range(15):
        p = make_pki(spc=f"{i:03d}B", crl_url=None)
        url = srv.route(f"/mem/chain{i}.pem", body=p.chain_pem)
        assert source.get(url).leaf.spc == p.spc
    stats = source.stats()["x5u"]
    assert 0 < stats["bytes"] <= 60_000
    assert stats["entries"] < 15
    source.close()


_PAD_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")


def _big_certificate(i: int, size: int) -> bytes:
    """A self-signed certificate padded with an unknown, non-critical extension."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, f"big {i}")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(i + 1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.UnrecognizedExtension(_PAD_OID, b"\x00" * size),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def test_interned_certificates_bounded_in_bytes() -> None:
    """Parsed certificates are shared by DER (interning). An attacker's repository serving big
    distinct certificates cannot grow that table past its byte budget."""
    budget = certificate_module.INTERN_MAX_BYTES
    size = 60_000
    for i in range(budget // size + 20):
        certificate_module.parse_certificates(_big_certificate(i, size))
    held = sum(len(c.der) for c in list(certificate_module._INTERN.values()))
    assert held <= budget


# ---- the on-disk cache ---------------------------------------------------------------------


def _files(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in directory.iterdir() if p.name.endswith(".cache")}


def test_disk_cache_evicts_past_cap(srv: HttpsServer, tmp_path: Path) -> None:
    """An attacker makes the verifier fetch many distinct x5u URLs with a persistent cache:
    the directory stays under ``disk_bytes``, oldest files out first; an entry larger than the
    cap is never written."""
    cap = 30_000
    policy = FetchPolicy(
        allow_hosts=frozenset({srv.host_port}),
        tls_ca_file=srv.ca_pem_path,
        cache_dir=str(tmp_path),
        cache_limits=CacheLimits(disk_bytes=cap),
    )
    fetcher: Fetcher[bytes] = Fetcher(bytes, policy=policy, name="rcd")
    urls = [srv.route(f"/disk/{i}.bin", body=bytes([i]) * 4_000) for i in range(20)]
    for url in urls:
        fetcher.get(url)
    files = _files(tmp_path)
    assert sum(files.values()) <= cap
    assert fetcher._store.path(urls[-1]).endswith(tuple(files))  # the newest is kept
    assert not os.path.exists(fetcher._store.path(urls[0]))  # the oldest is gone
    huge = srv.route("/disk/huge.bin", body=b"H" * 40_000)
    fetcher.get(huge)
    assert not os.path.exists(fetcher._store.path(huge))
    disk = fetcher.stats()["disk"]
    assert disk["evictions"] > 0 and disk["bytes"] <= cap
    fetcher.close()


def test_disk_cache_evicts_least_recently_used(srv: HttpsServer, tmp_path: Path) -> None:
    """Eviction is LRU by file time: a file read back from the cache directory is touched, so
    a hot entry outlives entries written after it but never used."""
    cap = 25_000
    policy = FetchPolicy(
        allow_hosts=frozenset({srv.host_port}),
        tls_ca_file=srv.ca_pem_path,
        cache_dir=str(tmp_path),
        cache_limits=CacheLimits(disk_bytes=cap),
    )
    first: Fetcher[bytes] = Fetcher(bytes, policy=policy, name="rcd")
    urls = [srv.route(f"/lru/{i}.bin", body=bytes([i]) * 4_000) for i in range(5)]
    for i, url in enumerate(urls):
        first.get(url)
        stamp = time.time() - 1_000 + i  # written in order, url 0 the oldest
        os.utime(first._store.path(url), (stamp, stamp))
    first.close()
    second: Fetcher[bytes] = Fetcher(bytes, policy=policy, name="rcd")
    assert second.get(urls[0]) == bytes([0]) * 4_000  # from disk: touched
    assert srv.count("/lru/0.bin") == 1
    for i in range(5, 8):
        second.get(srv.route(f"/lru/{i}.bin", body=bytes([i]) * 4_000))
    assert os.path.exists(second._store.path(urls[0]))  # used recently: kept
    assert not os.path.exists(second._store.path(urls[1]))  # least recently used: evicted
    assert sum(_files(tmp_path).values()) <= cap
    second.close()


# ---- the PASSporT header memo --------------------------------------------------------------


def _token(header: dict[str, Any], claims: dict[str, Any] | None = None) -> str:
    h = b64url_encode(json.dumps(header).encode())
    claims = claims or {"iat": 1, "orig": {"tn": ORIG}, "dest": {"tn": [DEST]}}
    c = b64url_encode(json.dumps(claims).encode())
    return f"{h}.{c}.{b64url_encode(b'x' * 64)}"


def test_invalid_headers_not_memoized() -> None:
    """5,000 distinct protected headers that never passed validation (unsigned junk, alg
    none, padded) are decoded each time and never kept."""
    passport_module._HEADER_MEMO.clear()
    for i in range(500):
        decode_passport(_token({"alg": "none", "typ": "passport", "x5u": f"https://a/{i}"}))
        decode_passport(
            _token({"alg": "ES256", "typ": "passport", "x5u": "https://a/x", "pad": "p" * i})
        )
    stats = header_memo_stats()
    assert stats["entries"] == 0 and stats["bytes"] == 0


def test_distinct_7kb_identity_headers_do_not_grow_the_memo(pki: TestPKI) -> None:
    """Through the verifier: distinct 7 KB Identity headers whose signature fails leave no
    trace in the header memo (the old memo kept up to 4,096 of them, ~50 MB)."""
    verifier = pki.verifier()
    now = int(time.time())
    other = ec.generate_private_key(ec.SECP256R1())
    def call(i: int) -> None:
        identity = sign_identity(
            other,
            x5u=pki.x5u,
            orig=ORIG,
            dest=DEST,
            iat=now,
            header_overrides={"pad": f"{i:08d}" + "p" * 4_992},
        )
        verdict = verifier.verify(identity, orig=ORIG, dest=DEST, now=now)
        assert verdict.error is not None and verdict.error.check == "signature"

    passport_module._HEADER_MEMO.clear()
    retained = _retained(call, 300)
    assert retained < 256 * 1024, f"{retained} bytes kept for 300 forged headers"
    assert header_memo_stats()["entries"] == 0


def test_verified_headers_memo_bounded_in_bytes(pki: TestPKI) -> None:
    """A header is memoized once its PASSporT's signature verified; however many distinct
    verified headers there are, the memo stays within its byte budget, and one larger than
    the per-header limit is never kept."""
    urls = [f"https://cr.example.com/{'r' * 600}/{i}.pem" for i in range(400)]
    certificates = dict.fromkeys(urls, pki.chain_pem)
    verifier = Verifier(trust_anchors=[pki.root_pem], certificates=certificates)
    now = int(time.time())
    passport_module._HEADER_MEMO.clear()
    first = pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=urls[0])
    assert verifier.verify(first, orig=ORIG, dest=DEST, now=now).passed
    assert header_memo_stats()["entries"] == 1
    for url in urls:
        identity = pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=url)
        assert verifier.verify(identity, orig=ORIG, dest=DEST, now=now).passed
    stats = header_memo_stats()
    assert 0 < stats["bytes"] <= stats["max_bytes"]
    assert stats["entries"] < 400
    passport_module._HEADER_MEMO.clear()
    padded = pki.sign(
        orig=ORIG, dest=DEST, iat=now, x5u=urls[0], header_overrides={"pad": "p" * 5_000}
    )
    assert verifier.verify(padded, orig=ORIG, dest=DEST, now=now).passed
    assert header_memo_stats()["entries"] == 0


# ---- issue 20: an unreachable CRL -------------------------------------------------------------


def test_unreachable_crl_outcome_cached_for_its_retry_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A certificate names a CRL whose host is down: the failure is served from the negative
    cache until ``negative_ttl``, like a fetched CRL until nextUpdate, without parsing and
    vetting the URL again on every call (the old path re-ran the URL policy each time)."""
    port = _closed_port()
    source = HttpsSource(_unreachable_policy(port))
    url = f"https://127.0.0.1:{port}/crl/sti-pa.crl"
    with pytest.raises(CertificateFetchError):
        source.get_crl(url)
    vetted: list[str] = []
    real = fetch_module._check_target

    def counting(raw: str, *args: Any) -> Any:
        vetted.append(raw)
        return real(raw, *args)

    monkeypatch.setattr(fetch_module, "_check_target", counting)
    for _ in range(20):
        with pytest.raises(CertificateFetchError) as info:
            source.get_crl(url)
        assert info.value.kind == "connect"
    stats = source.stats()["crl"]
    assert stats["fetches"] == 1 and stats["negative_hits"] == 20
    assert vetted == []
    source.close()


@pytest.mark.parametrize(
    "field, value",
    [("x5u_bytes", -1), ("negative_entries", 1.5), ("disk_bytes", True), ("crl_bytes", "1")],
)
def test_cache_limits_refuse_nonsense_budgets(field: str, value: object) -> None:
    """A budget is an integer >= 0, checked at construction; the error names the field."""
    with pytest.raises(ValueError, match=field):
        CacheLimits(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_static_source_refuses_nonsense_recheck_after(value: float) -> None:
    """``recheck_after`` is a finite number of seconds >= 0."""
    with pytest.raises(ValueError, match="recheck_after"):
        StaticSource({}, recheck_after=value)


def test_zero_budgets_disable_caches_without_errors(srv: HttpsServer) -> None:
    """Budgets of 0: nothing is cached or remembered, every call still works."""
    policy = FetchPolicy(
        allow_hosts=frozenset({srv.host_port}),
        tls_ca_file=srv.ca_pem_path,
        cache_limits=CacheLimits(content_bytes=0, negative_entries=0),
    )
    fetcher: Fetcher[bytes] = Fetcher(bytes, policy=policy, name="rcd")
    ok = srv.route("/zero/ok.bin", body=b"ok")
    down = srv.route("/zero/down.bin", status=503)
    for _ in range(2):
        assert fetcher.get(ok) == b"ok"
        with pytest.raises(FetchError) as info:
            fetcher.get(down)
        assert info.value.kind == "http_status"
    stats = fetcher.stats()
    assert (stats["entries"], stats["negative_entries"]) == (0, 0)
    assert srv.count("/zero/ok.bin") == 2 and srv.count("/zero/down.bin") == 2
    fetcher.close()
