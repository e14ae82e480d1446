"""Attacks on the verifier's inputs, tried as an attacker would (issue 16 items 2, 4 and 7):

* a junk certificate with the NULL signature-parameter quirk added to an ``x5u`` bundle must not
  change which path-validation rules apply (RFC 5280 §6.1 through `cryptography`, always);
* a malleated (``s -> n - s``) or re-signed copy of a PASSporT is a replay (RFC 8224 §12.1);
* numbers that configure the verifier are refused at the door (``Policy``, ``FetchPolicy``,
  the verification time ``now``);
* ``averify`` works under every event loop ``anyio`` supports (asyncio and trio).

Each test is named after the attack it tries.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shakenkit import Policy, TrustStore, Verifier, parse_chain
from shakenkit.certs.certificate import load_certificate
from shakenkit.certs.path import validate_chain
from shakenkit.core.passport import b64url_encode, decode_passport, sign_passport
from shakenkit.core.replay import ReplayCache
from shakenkit.repository import FetchError, FetchPolicy, HttpsSource
from shakenkit.repository.fetch import Fetcher
from shakenkit.testing import issue_certificate, make_pki, sign_identity
from tests.conftest import DATA, DAY, DEST, NOW, ORIG, der_to_pem_lenient, utc
from tests.https_server import HttpsServer, running_https_server

X5U = "https://cr.example.com/sp/pathlen.pem"


def _err(v: Any) -> tuple[int, str]:
    assert v.error is not None, f"expected a failure, got {v.verstat}"
    return v.error.sip_code, v.error.check


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shakenkit attack lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class _Hierarchy:
    """root -> CA1 -> CA2 -> SP certificate (SPC 123A), with knobs for the attacks below."""

    def __init__(
        self,
        *,
        ca1_path_length: int | None = 0,
        null_root: bool = False,
        null_ca1: bool = False,
        null_leaf: bool = False,
    ) -> None:
        self.root_key, self.ca1_key, self.ca2_key, self.leaf_key = (_key() for _ in range(4))
        nb, na = NOW - 60 * DAY, NOW + 3650 * DAY
        root_n, ca1_n, ca2_n = _name("Lab ROOT"), _name("Lab CA1"), _name("Lab CA2")
        self.root = issue_certificate(
            subject=root_n, key=self.root_key, ca=True, policy=False, crl_url=None,
            not_before=nb, not_after=na, null_sigalg=null_root,
        )  # fmt: skip
        self.ca1 = issue_certificate(
            subject=ca1_n, key=self.ca1_key, issuer=root_n, issuer_key=self.root_key, ca=True,
            crl_url=None, not_before=nb, not_after=na, null_sigalg=null_ca1,
            path_length=ca1_path_length,
        )  # fmt: skip
        self.ca2 = issue_certificate(
            subject=ca2_n, key=self.ca2_key, issuer=ca1_n, issuer_key=self.ca1_key, ca=True,
            crl_url=None, not_before=nb, not_after=na,
        )  # fmt: skip
        self.leaf = issue_certificate(
            subject=_name("SHAKEN 123A"), key=self.leaf_key, issuer=ca2_n,
            issuer_key=self.ca2_key, spc="123A", crl_url=None, not_before=nb, not_after=na,
            null_sigalg=null_leaf,
        )  # fmt: skip

    def bundle(self, *extra: bytes) -> bytes:
        return b"".join(der_to_pem_lenient(d) for d in (self.leaf, self.ca2, self.ca1, *extra))

    def verify(self, *extra: bytes) -> Any:
        v = Verifier(
            trust_anchors=[der_to_pem_lenient(self.root)], certificates={X5U: self.bundle(*extra)}
        )
        h = sign_identity(self.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, iat=NOW)
        return v.verify(h, orig=ORIG, dest=DEST, now=NOW)


def _junk_null_param_cert() -> bytes:
    """Any self-made certificate whose ECDSA AlgorithmIdentifier carries NULL (corpus README)."""
    return issue_certificate(
        subject=_name("junk"), key=_key(), ca=True, crl_url=None, null_sigalg=True,
        not_before=NOW - DAY, not_after=NOW + DAY,
    )  # fmt: skip


# -- item 4: one validator (RFC 5280 §6.1 via cryptography, whatever the bundle holds) --------


def test_pathlen_violation_is_refused_baseline() -> None:
    """RFC 5280 §4.2.1.9: CA1 says pathLen=0, yet CA2 sits below it -> 437."""
    assert _err(_Hierarchy().verify()) == (437, "certificate_chain")
    assert _Hierarchy(ca1_path_length=1).verify().caller_id == "verified"


def test_junk_null_param_cert_does_not_disable_pathlen() -> None:
    """An attacker appends one junk NULL-parameter certificate to the bundle: the chain that
    breaks CA1's pathLen=0 must still fail (the rules never depend on the bundle)."""
    junk = _junk_null_param_cert()
    assert load_certificate(junk).lenient is not None
    assert _err(_Hierarchy().verify(junk)) == (437, "certificate_chain")


def test_junk_null_param_cert_does_not_break_a_good_chain() -> None:
    """The junk certificate is ignored, not fatal: the good chain still verifies."""
    assert _Hierarchy(ca1_path_length=1).verify(_junk_null_param_cert()).caller_id == "verified"


@pytest.mark.parametrize(
    "quirk",
    [{"null_root": True}, {"null_ca1": True}, {"null_root": True, "null_ca1": True}],
    ids=["root", "ca1", "root+ca1"],
)
def test_null_param_ca_on_the_path_does_not_escape_pathlen(quirk: dict[str, bool]) -> None:
    """The quirk on a CA of the path itself (as T-Mobile's root and sub-CA): pathLen is still
    enforced by the RFC 5280 verifier, and the same chain with a correct pathLen verifies
    (with the lenient-parse warning)."""
    assert _err(_Hierarchy(**quirk).verify()) == (437, "certificate_chain")
    good = _Hierarchy(ca1_path_length=1, **quirk).verify()
    assert good.caller_id == "verified", good.error
    assert any("lenient" in w for w in good.warnings)


def test_null_param_leaf_is_validated_by_the_rfc5280_verifier() -> None:
    """The quirk on the SP certificate itself (Ribbon-issued leaves, corpus README): validated,
    and pathLen above it is still enforced."""
    assert _Hierarchy(ca1_path_length=1, null_leaf=True).verify().caller_id == "verified"
    assert _err(_Hierarchy(null_leaf=True).verify()) == (437, "certificate_chain")


@pytest.mark.parametrize("null_ca1", [False, True], ids=["plain", "null-param"])
def test_ca_without_keycertsign_cannot_issue(null_ca1: bool) -> None:
    """RFC 5280 §4.2.1.3, §6.1.4 (n): a CA whose keyUsage lacks keyCertSign signs no
    certificate, whether or not it carries the quirk (the plain path let it through)."""
    h = _Hierarchy(ca1_path_length=None, null_ca1=null_ca1)
    assert h.verify().caller_id == "verified"
    h.ca1 = _reissue_ca1_without_keycertsign(h, null=null_ca1)
    assert _err(h.verify()) == (437, "certificate_chain")


def _reissue_ca1_without_keycertsign(h: _Hierarchy, *, null: bool) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization

    from shakenkit.testing import _add_null_sigalg

    old = load_certificate(h.ca1).cert
    b = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(old.issuer)
        .public_key(h.ca1_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(old.not_valid_before_utc)
        .not_valid_after(old.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
    )
    der = b.sign(h.root_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return _add_null_sigalg(der, h.root_key) if null else der


def test_forged_null_param_ca_signature_is_refused() -> None:
    """A NULL-parameter CA whose signature was not made by the root's key -> 437."""
    h = _Hierarchy(ca1_path_length=1, null_ca1=True)
    h.ca1 = h.ca1[:-1] + bytes([h.ca1[-1] ^ 1])
    assert _err(h.verify()) == (437, "certificate_chain")


def test_tmobile_chain_with_junk_null_param_cert_still_validates() -> None:
    """The real T-Mobile chain (NULL parameter on its sub-CA and root, corpus README) validates
    through the RFC 5280 verifier, with or without a junk NULL-parameter certificate added."""
    tm = DATA / "tmobile"
    bundle = (tm / "leaf-6529.pem").read_bytes() + (tm / "sub-ca.pem").read_bytes()
    for extra in (b"", der_to_pem_lenient(_junk_null_param_cert())):
        for root in ("root.pem", "root-reissued.pem"):
            res = validate_chain(
                parse_chain(bundle + extra), TrustStore([tm / root]).snapshot(), utc(2026, 1, 1)
            )
            assert res.ok and res.lenient, res.detail
            assert [c.subject.split(",")[0] for c in res.path] == [
                "CN=SHAKEN 6529",
                "CN=TMOBILE-PROD-SUB-STIRSHAKEN-EC",
                "CN=TMOBILE-PROD-ROOT-STIRSHAKEN-EC",
            ]


# -- item 2: replay keyed by content (RFC 8224 §12.1) ----------------------------------------

_N = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)  # P-256 order


def _malleate(header: str) -> str:
    """The same PASSporT with the other valid ECDSA signature: s -> n - s."""
    token, rest = header.split(";", 1)
    head, payload, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    return f"{head}.{payload}.{b64url_encode(r + (_N - s).to_bytes(32, 'big'))};{rest}"


def test_malleated_signature_replay_is_detected() -> None:
    """RFC 8224 §12.1: replaying a PASSporT with ``s`` replaced by ``n - s`` (a second valid
    ES256 signature over the same bytes) is a replay, not a new call."""
    pki = make_pki(crl_url=None)
    v = pki.verifier(policy=Policy(detect_replay=True, replay_fails=True))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    other = _malleate(h)
    assert other != h
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed
    again = v.verify(other, orig=ORIG, dest=DEST, now=now + 1)
    assert _err(again) == (403, "replay")
    # The malleated copy alone does verify: it is the replay that stops it.
    fresh = pki.verifier(policy=Policy(detect_replay=True, replay_fails=True))
    assert fresh.verify(other, orig=ORIG, dest=DEST, now=now).passed


def test_resigned_passport_replay_is_detected() -> None:
    """The same header and claims signed again (a fresh ECDSA nonce) is the same PASSporT."""
    pki = make_pki(crl_url=None)
    v = pki.verifier(policy=Policy(detect_replay=True, replay_fails=True))
    now = int(time.time())
    token = pki.sign(orig=ORIG, dest=DEST, iat=now).split(";", 1)[0]
    p = decode_passport(token)
    again = sign_passport(dict(p.raw_header), dict(p.raw_claims), pki.leaf_key)
    assert again != token
    first = v.verify(f"{token};info=<{pki.x5u}>", orig=ORIG, dest=DEST, now=now)
    assert first.passed
    second = v.verify(f"{again};info=<{pki.x5u}>", orig=ORIG, dest=DEST, now=now)
    assert _err(second) == (403, "replay")


def test_replay_store_is_pluggable_and_keeps_fixed_size_keys() -> None:
    """A carrier's shared store (e.g. Redis) plugs in with ``replay_store=``; it receives a
    fixed-size digest, never the attacker-sized PASSporT."""

    class Shared:
        def __init__(self) -> None:
            self.keys: dict[bytes, float] = {}

        def seen(self, key: bytes, now: float, keep_until: float) -> bool:
            hit = self.keys.get(key, -1.0) >= now
            self.keys[key] = keep_until
            return hit

    from shakenkit.core.replay import ReplayStore

    shared = Shared()
    assert isinstance(shared, ReplayStore)
    pki = make_pki(crl_url=None)
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    pol = Policy(detect_replay=True, replay_fails=True)
    a = pki.verifier(policy=pol, replay_store=shared)
    b = pki.verifier(policy=pol, replay_store=shared)  # another process, the same store
    assert a.verify(h, orig=ORIG, dest=DEST, now=now).passed
    assert _err(b.verify(_malleate(h), orig=ORIG, dest=DEST, now=now)) == (403, "replay")
    assert {len(k) for k in shared.keys} == {32}


def test_failing_replay_store_is_a_warning_not_an_exception() -> None:
    """A shared store that is down (an exception from ``seen``) never turns into an exception
    from ``verify``: the call is judged on the rest, with a failed ``replay`` check."""

    class Down:
        def seen(self, key: bytes, now: float, keep_until: float) -> bool:
            raise ConnectionError("redis is down")

    pki = make_pki(crl_url=None)
    now = int(time.time())
    v = pki.verifier(policy=Policy(detect_replay=True, replay_fails=True), replay_store=Down())
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert verdict.caller_id == "verified"
    assert any(c.name == "replay" and not c.ok for c in verdict.checks)
    assert any("replay store unavailable" in w for w in verdict.warnings)


def test_replay_store_without_detect_replay_is_refused() -> None:
    """A store that would silently never be asked is a configuration error."""
    with pytest.raises(ValueError, match="detect_replay"):
        make_pki(crl_url=None).verifier(replay_store=ReplayCache())


def test_replay_cache_flood_stays_bounded_in_bytes() -> None:
    """A flood of distinct PASSporTs cannot grow the in-memory store past its entry cap, and
    each entry is a 32-byte digest whatever the size of the key it was given."""
    cache = ReplayCache(max_entries=50)
    for i in range(500):
        cache.seen(i.to_bytes(4, "big") * 2000, now=0, keep_until=60)
    assert len(cache) == 50
    assert all(len(k) == 32 for k in cache._seen)


# -- item 7: inputs validated at the door -------------------------------------------------------


def test_policy_nan_max_age_refused() -> None:
    """``Policy(max_age=nan)`` would pass every freshness comparison (a three-year-old PASSporT
    verified): refused at construction, naming the field."""
    with pytest.raises(ValueError, match="max_age"):
        Policy(max_age=float("nan"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_age", float("inf")),
        ("max_age", -1),
        ("future_tolerance", float("nan")),
        ("future_tolerance", -5),
        ("max_age", True),
        ("max_age", "60"),
        ("replay_cache_size", 0),
        ("replay_cache_size", 2.5),
        ("max_header_bytes", 0),
        ("max_passport_bytes", -1),
        ("max_div_depth", -1),
        ("max_rcd_fetches", -1),
        ("verified_attest", frozenset({"A", "Z"})),
        ("verified_attest", "A"),
        ("detect_replay", "yes"),
    ],
)
def test_policy_hostile_number_refused(field: str, value: Any) -> None:
    """Non-finite, negative or wrongly typed knobs are a ValueError naming the field."""
    with pytest.raises(ValueError, match=field):
        Policy(**{field: value})


def test_policy_accepts_its_documented_values() -> None:
    p = Policy(max_age=0, future_tolerance=0, verified_attest=frozenset({"A", "B", "C"}))
    assert p.max_age == 0
    assert Policy(verified_attest={"A", "B"}).verified_attest == frozenset({"A", "B"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_timeout", float("nan")),
        ("total_timeout", 0),
        ("connect_timeout", float("inf")),
        ("connect_timeout", -1.0),
        ("min_ttl", float("nan")),
        ("max_ttl", -1),
        ("negative_ttl", float("nan")),
        ("max_response_bytes", 0),
        ("max_response_bytes", 1.5),
        ("max_redirects", -1),
        ("max_redirects", True),
        ("max_entries", True),
        ("allowed_ports", frozenset({True})),
        ("allowed_ports", frozenset({"443"})),
        ("insecure_allow_http", "false"),
        ("follow_redirects", 1),
    ],
)
def test_fetch_policy_hostile_number_refused(field: str, value: Any) -> None:
    """FetchPolicy timeouts, TTLs and limits: a NaN timeout would never expire."""
    with pytest.raises(ValueError, match=field):
        FetchPolicy(**{field: value})


@pytest.mark.parametrize("now", [9e15, 1e12, 253_402_300_800, -1, -1e10])
def test_now_out_of_range_is_a_verdict_naming_now(now: float) -> None:
    """``now`` beyond what certificate times can express (or before 1970) is a verdict naming
    ``now``, never an exception from inside the certificate code, even for a PASSporT whose
    ``iat`` matches it."""
    pki = make_pki(crl_url=None)
    h = pki.sign(orig=ORIG, dest=DEST, iat=int(now))
    for v in (
        pki.verifier().verify(h, orig=ORIG, dest=DEST, now=now),
        anyio.run(lambda: pki.verifier().averify(h, orig=ORIG, dest=DEST, now=now)),
    ):
        assert _err(v) == (403, "freshness")
        assert v.error is not None and "now" in v.error.detail
        assert not v.likely_spoofed


@pytest.mark.parametrize("now", [float("nan"), float("inf"), float("-inf")])
def test_now_non_finite_is_a_verdict_naming_now(now: float) -> None:
    pki = make_pki(crl_url=None)
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    v = pki.verifier().verify(h, orig=ORIG, dest=DEST, now=now)
    assert _err(v) == (403, "freshness") and "now" in v.error.detail  # type: ignore[union-attr]


def test_now_out_of_range_in_verify_sip() -> None:
    pki = make_pki(crl_url=None)
    h = pki.sign(orig=ORIG, dest=DEST, iat=int(9e15))
    msg = (
        "INVITE sip:+12155551213@example.net SIP/2.0\r\n"
        "From: <sip:+12155551212@example.com>;tag=1\r\nTo: <sip:+12155551213@example.net>\r\n"
        f"Call-ID: a\r\nCSeq: 1 INVITE\r\nIdentity: {h}\r\nContent-Length: 0\r\n\r\n"
    )
    v = pki.verifier().verify_sip(msg, now=9e15)
    assert _err(v) == (403, "freshness")


# -- item 7: averify under every anyio backend --------------------------------------------------


@pytest.fixture(scope="module")
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_averify_under_trio(srv: HttpsServer, backend: str) -> None:
    """``anyio`` is a dependency, so the async path runs under its trio backend too: x5u over
    HTTPS, single flight for concurrent callers, and ``aclose``."""
    pytest.importorskip(backend)
    path = f"/{backend}.pem"
    pki = make_pki(x5u=srv.url(path), crl_url=None)
    srv.route(path, body=pki.chain_pem, delay=0.2)
    now = int(time.time())
    policy = FetchPolicy(allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path)
    v = Verifier(trust_anchors=[pki.root_pem], source=HttpsSource(policy))
    verdicts: list[Any] = []

    async def one() -> None:
        h = pki.sign(orig=ORIG, dest=DEST, iat=now)
        verdicts.append(await v.averify(h, orig=ORIG, dest=DEST, now=now))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
        await one()  # from the cache
        await v.aclose()

    anyio.run(main, backend=backend)
    assert [x.caller_id for x in verdicts] == ["verified"] * 6, [x.error for x in verdicts]
    assert srv.count(path) == 1  # five concurrent callers, one fetch


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_averify_with_a_cancelled_caller_under_trio(srv: HttpsServer, backend: str) -> None:
    """A caller cancelled while it owns the fetch does not cancel it for the others."""
    pytest.importorskip(backend)
    path = f"/cancel-{backend}.pem"
    pki = make_pki(x5u=srv.url(path), crl_url=None)
    srv.route(path, body=pki.chain_pem, delay=0.5)
    now = int(time.time())
    policy = FetchPolicy(allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path)
    v = Verifier(trust_anchors=[pki.root_pem], source=HttpsSource(policy))
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    got: list[Any] = []

    async def main() -> None:
        with anyio.move_on_after(0.1):  # the owner gives up early
            await v.averify(h, orig=ORIG, dest=DEST, now=now)
        got.append(await v.averify(h, orig=ORIG, dest=DEST, now=now))
        await v.aclose()

    anyio.run(main, backend=backend)
    assert got[0].caller_id == "verified", got[0].error
    assert srv.count(path) == 1


def _fetcher(srv: HttpsServer, **policy: Any) -> Fetcher[bytes]:
    options: dict[str, Any] = {
        "connect_timeout": 1.0,
        "total_timeout": 2.0,
        "allow_hosts": frozenset({srv.host_port}),
        "tls_ca_file": srv.ca_pem_path,
    }
    options.update(policy)
    return Fetcher(bytes, policy=FetchPolicy(**options))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_single_flight_joins_threads_and_trio_tasks(srv: HttpsServer, backend: str) -> None:
    """A thread's ``get`` and the tasks' ``aget`` share one request, whichever loop the tasks
    run on (the thread wakes them across threads)."""
    pytest.importorskip(backend)
    url = srv.route(f"/mixed-{backend}", body=b"CERT", delay=0.3)
    fetcher = _fetcher(srv)
    from_thread: list[bytes] = []
    from_tasks: list[bytes] = []

    async def task() -> None:
        from_tasks.append(await fetcher.aget(url))

    async def main() -> None:
        thread = threading.Thread(target=lambda: from_thread.append(fetcher.get(url)))
        thread.start()  # the thread owns the flight
        await anyio.sleep(0.05)
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(task)
        await anyio.to_thread.run_sync(thread.join, 10)
        await fetcher.aclose()

    anyio.run(main, backend=backend)
    assert from_thread == [b"CERT"] and from_tasks == [b"CERT"] * 20
    assert srv.count(f"/mixed-{backend}") == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_slow_repository_times_out_under_trio(srv: HttpsServer, backend: str) -> None:
    """The total fetch deadline holds on every loop: a repository that never answers is a
    ``timeout`` failure, not a hang."""
    pytest.importorskip(backend)
    url = srv.route(f"/slow-{backend}", body=b"CERT", delay=5.0)
    fetcher = _fetcher(srv, total_timeout=0.5)

    async def main() -> str:
        try:
            await fetcher.aget(url)
        except FetchError as e:
            return e.kind
        finally:
            await fetcher.aclose()
        return "fetched"

    assert anyio.run(main, backend=backend) == "timeout"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_rebinding_name_is_refused_under_trio(
    srv: HttpsServer, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSRF: a name resolving to a loopback address is refused on every loop (the async
    resolver is anyio's, and the guard vets what it returns); nothing is sent."""
    pytest.importorskip(backend)
    real = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "rebind.example" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    fetcher = _fetcher(srv, allow_hosts=frozenset(), insecure_allow_any_port=True)
    before = srv.connections

    async def main() -> str:
        try:
            await fetcher.aget(f"https://rebind.example:{srv.port}/c")
        except FetchError as e:
            return e.kind
        finally:
            await fetcher.aclose()
        return "fetched"

    assert anyio.run(main, backend=backend) == "ssrf"
    assert srv.connections == before


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_persistent_cache_under_trio(srv: HttpsServer, backend: str, tmp_path: Any) -> None:
    """The persistent cache is read and written from worker threads on every loop."""
    pytest.importorskip(backend)
    url = srv.route(f"/disk-{backend}", body=b"CERT")

    async def main() -> list[bytes]:
        got = []
        for _ in range(2):
            fetcher = _fetcher(srv, cache_dir=str(tmp_path))
            got.append(await fetcher.aget(url))
            await fetcher.aclose()
        return got

    assert anyio.run(main, backend=backend) == [b"CERT", b"CERT"]
    assert srv.count(f"/disk-{backend}") == 1
