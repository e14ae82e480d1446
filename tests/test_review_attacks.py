"""An independent attacker's review of issue 16's fixes (review1).

Each test is one attack, named after it, run through the public API against the real test PKI
and a real HTTPS server on 127.0.0.1 that counts what reaches it. Tests marked "guard" pin a
subtle guarantee that was checked and holds; xfail(strict) tests are holes described in the
review report and left for a design decision.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from shakenkit import Policy, Verdict, Verifier
from shakenkit.repository import FetchPolicy
from shakenkit.testing import TestPKI, make_crl_signer, make_pki
from tests.https_server import HttpsServer, running_https_server

ORIG, DEST = "12155551212", "12155551213"


@pytest.fixture
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


def _fetch(srv: HttpsServer) -> FetchPolicy:
    return FetchPolicy(
        allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path,
        total_timeout=2.0, connect_timeout=1.0,
    )


def _invite(identity_lines: list[str]) -> str:
    return (
        "INVITE sip:+12155551213@example.com SIP/2.0\r\n"
        "From: <sip:+12155551212@example.com>;tag=1\r\nTo: <sip:+12155551213@example.com>\r\n"
        "Call-ID: x\r\nCSeq: 1 INVITE\r\n"
        + "".join(f"Identity: {h}\r\n" for h in identity_lines)
        + "\r\n"
    )


# -- bounded work per call ----------------------------------------------------------------------


def test_verify_sip_comma_joined_identity_values_fan_out_past_max_x5u_per_call(
    srv: HttpsServer,
) -> None:
    """One 60 KB INVITE, 16 Identity header lines, each a comma-joined list of 8 values naming
    distinct x5u: verify_sip verified every line as a call of its own, each with a fresh
    budget and deadline, so the one INVITE made 16 x max_x5u_per_call = 128 fetches to hosts
    the sender chose (and could hold the verifier 16 x call_deadline). The whole message is
    one call: its I/O must stay within one budget."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    lines = []
    for i in range(16):
        values = [
            pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=srv.url(f"/sp/{i}/{j}.pem"))
            for j in range(8)
        ]
        lines.append(", ".join(values))
    v = Verifier(trust_anchors=[pki.root_pem], source=_https(srv))
    verdict = v.verify_sip(_invite(lines), now=now)
    v.close()
    assert len(verdict.headers) == Policy().max_identity_headers  # one call: 16 of 128 values
    assert srv.count() <= Policy().max_x5u_per_call


async def test_averify_sip_comma_joined_identity_values_fan_out_past_max_x5u_per_call(
    srv: HttpsServer,
) -> None:
    """The async twin of the attack above."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    lines = [
        ", ".join(
            pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=srv.url(f"/sp/{i}/{j}.pem"))
            for j in range(4)
        )
        for i in range(4)
    ]
    v = Verifier(trust_anchors=[pki.root_pem], source=_https(srv),
                 policy=Policy(max_x5u_per_call=2))
    verdict = await v.averify_sip(_invite(lines), now=now)
    await v.aclose()
    assert len(verdict.headers) == 16
    assert srv.count() <= 2


def test_verify_sip_examines_at_most_max_identity_headers_values_in_all(
    srv: HttpsServer,
) -> None:
    """Comma-joined values count against Policy.max_identity_headers across the whole message,
    not per line: 4 lines x 4 values with max_identity_headers=4 examine 4 values; the lines
    past it are reported on the call's verdict (a failed identity_headers check), never parsed
    or fetched."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    good = pki.sign(orig=ORIG, dest=DEST, iat=now)
    lines = [", ".join([good] * 4) for _ in range(4)]
    v = pki.verifier(policy=Policy(max_identity_headers=4))
    verdict = v.verify_sip(_invite(lines), now=now)
    assert verdict.passed  # the call passes on the values examined
    assert len(verdict.headers) == 4  # 4 of the 16 values were examined
    assert any(c.name == "identity_headers" and not c.ok for c in verdict.checks)
    assert any("12 Identity header(s) beyond the first 4" in w for w in verdict.warnings)


# -- revocation under the call's budget ---------------------------------------------------------


def _https(srv: HttpsServer) -> Any:
    from shakenkit.repository import HttpsSource

    return HttpsSource(_fetch(srv))


def _revoked_and_decoy(srv: HttpsServer) -> tuple[TestPKI, TestPKI, Any]:
    """A carrier whose key leaked and whose certificate the STI-PA revoked (its CRL at
    /sti-pa.crl lists it), and a decoy: any valid chain whose path names another CRL URL."""
    sti_pa = make_crl_signer()
    revoked = make_pki(x5u=srv.url("/sp.pem"), crl_url=srv.url("/sti-pa.crl"))
    srv.route("/sp.pem", body=revoked.chain_pem)
    srv.route("/sti-pa.crl", body=sti_pa.crl([revoked.leaf_der]))
    decoy = make_pki(x5u=srv.url("/decoy.pem"), crl_url=srv.url("/decoy.crl"), spc="999Z")
    srv.route("/decoy.pem", body=decoy.chain_pem)
    srv.route("/decoy.crl", body=sti_pa.crl([]))
    return revoked, decoy, sti_pa


def _decoy_first_call(v: Verifier, revoked: TestPKI, decoy: TestPKI) -> Verdict:
    """The leaked key's call, behind a decoy header whose chain names another CRL URL (its
    PASSporT need not verify: the chain and its CRLs are fetched before the signature)."""
    now = int(time.time())
    decoy_header = decoy.sign(orig="19995550000", dest=DEST, iat=now)
    mine = revoked.sign(orig=ORIG, dest=DEST, iat=now)
    return v.verify([decoy_header, mine], orig=ORIG, dest=DEST, now=now)


def test_cached_revoking_crl_is_not_hidden_by_another_headers_crl_budget(srv: HttpsServer) -> None:
    """The verifier holds (cached) the STI-PA CRL that revokes the leaked certificate: alone,
    the call is 437 revoked. A decoy header placed first spends Policy.max_crl_urls_per_call
    on its own CRL URL; the revoked certificate's CRL request was then refused by the budget
    before the cache was looked at, the CRL counted as "unavailable", and soft-fail (the
    default) verified the call. A cached answer costs no I/O: the budget must not hide it."""
    revoked, decoy, sti_pa = _revoked_and_decoy(srv)
    v = Verifier(trust_anchors=[revoked.root_pem, decoy.root_pem], source=_https(srv),
                 crl_signers=[sti_pa.pem], policy=Policy(max_crl_urls_per_call=1))
    now = int(time.time())
    alone = v.verify(revoked.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert alone.error is not None and alone.error.check == "crl", alone  # revoked, CRL cached
    behind = _decoy_first_call(v, revoked, decoy)
    v.close()
    assert not behind.passed, behind.checks  # the first failure decides: the decoy's


async def test_cached_revoking_crl_is_not_hidden_by_another_headers_crl_budget_async(
    srv: HttpsServer,
) -> None:
    """The async twin (the cache fast path came after the budget's refusal)."""
    revoked, decoy, sti_pa = _revoked_and_decoy(srv)
    v = Verifier(trust_anchors=[revoked.root_pem, decoy.root_pem], source=_https(srv),
                 crl_signers=[sti_pa.pem], policy=Policy(max_crl_urls_per_call=1))
    now = int(time.time())
    alone = await v.averify(
        revoked.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now
    )
    assert alone.error is not None and alone.error.check == "crl"
    behind = await v.averify(
        [decoy.sign(orig="19995550000", dest=DEST, iat=now),
         revoked.sign(orig=ORIG, dest=DEST, iat=now)],
        orig=ORIG, dest=DEST, now=now,
    )
    await v.aclose()
    assert not behind.passed, behind.checks


def test_uncached_revoking_crl_is_crowded_out_by_a_decoy_headers_crl_budget(
    srv: HttpsServer,
) -> None:
    """The same with nothing cached: the sender's own decoy header spends the call's CRL URL
    budget, the revoking STI-PA CRL is never fetched, and soft-fail verifies a revoked
    certificate. The network did not fail; the caller's own headers caused the gap, so a CRL
    the call's budget refused is 437 'unverified', whatever the soft-fail policy."""
    revoked, decoy, sti_pa = _revoked_and_decoy(srv)
    v = Verifier(trust_anchors=[revoked.root_pem, decoy.root_pem], source=_https(srv),
                 crl_signers=[sti_pa.pem], policy=Policy(max_crl_urls_per_call=1))
    behind = _decoy_first_call(v, revoked, decoy)
    v.close()
    assert not behind.passed, behind.checks


def test_replay_is_not_burned_by_a_copy_with_wrong_numbers() -> None:
    """Whoever sees a PASSporT before the verifier sends it first with wrong numbers: that call
    fails (438), and must not record the PASSporT, or the genuine call would be refused as a
    replay (403 under replay_fails)."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    v = pki.verifier(policy=Policy(detect_replay=True, replay_fails=True))
    burnt = v.verify(h, orig=ORIG, dest="12155550000", now=now)
    assert burnt.error is not None and burnt.error.check == "dest_tn"
    genuine = v.verify(h, orig=ORIG, dest=DEST, now=now)
    assert genuine.passed, genuine.error
    again = v.verify(h, orig=ORIG, dest=DEST, now=now)
    assert again.error is not None and again.error.check == "replay"


def test_crl_only_certificate_cannot_sign_the_ca_list() -> None:
    """The STI-PA's "STI-PA CRL" certificate (keyUsage cRLSign only) sits under the same root as
    the CA-list signer: it must not be accepted as the list signer (RFC 5280 §4.2.1.3)."""
    from shakenkit.certs.calist import _check_signer_key_usage
    from shakenkit.certs.certificate import load_certificate
    from shakenkit.errors import CaListError
    from shakenkit.testing import make_crl_signer

    crl_only = load_certificate(make_crl_signer().der)
    with pytest.raises(CaListError, match="digitalSignature"):
        _check_signer_key_usage(crl_only)
    from shakenkit.certs.certificate import parse_certificates

    signer = parse_certificates(make_pki(crl_url=None).chain_pem)[0]  # digitalSignature: fine
    _check_signer_key_usage(signer)


def test_slow_dns_for_sender_chosen_hosts_cannot_pile_up_threads(monkeypatch: Any) -> None:
    """x5u hosts are the sender's choice: a DNS zone that never answers leaves each lookup's
    thread running after the call gives up (getaddrinfo has no timeout). The lookups in
    progress are capped process-wide; past the cap a lookup fails at once, starting no thread,
    and a given-up lookup holds its slot until its thread ends."""
    import threading as th

    from shakenkit.repository import transport

    release = th.Event()

    def never_answers(*args: Any, **kw: Any) -> Any:
        release.wait(30)
        raise OSError("no answer")

    monkeypatch.setattr(transport.socket, "getaddrinfo", never_answers)
    monkeypatch.setattr(transport, "_DNS_SLOTS", th.BoundedSemaphore(4))
    monkeypatch.setattr(transport, "MAX_DNS_LOOKUPS", 4)
    before = sum(t.name == "shakenkit-fetch-dns" for t in th.enumerate())
    outcomes = []
    for i in range(20):
        try:
            transport._resolve_sync(f"slow{i}.attacker.example", 443, 0.05)
        except transport._Failure as e:
            outcomes.append(e.kind)
    running = sum(t.name == "shakenkit-fetch-dns" for t in th.enumerate()) - before
    release.set()
    assert running <= 4  # never more lookup threads than the cap
    assert len(outcomes) == 20 and outcomes.count("dns") >= 12  # the rest refused at once


async def test_slow_dns_slots_come_back_when_the_async_caller_is_cancelled(
    monkeypatch: Any,
) -> None:
    """The async resolver holds a slot per lookup and gives it back when the lookup thread
    ends, or at once when the caller gives up before the thread started: no slot leaks."""
    import threading as th

    from shakenkit.repository import transport

    gate = th.Event()
    started: list[str] = []

    def slow(host: str, *args: Any, **kw: Any) -> Any:
        started.append(host)
        gate.wait(5)
        raise OSError("no answer")

    monkeypatch.setattr(transport.socket, "getaddrinfo", slow)
    slots = th.BoundedSemaphore(3)
    monkeypatch.setattr(transport, "_DNS_SLOTS", slots)
    for i in range(3):
        with pytest.raises(transport._Failure):  # given up; its thread runs on in its slot
            await transport._resolve_async(f"slow{i}.attacker.example", 443, 1.0)
    assert len(started) == 3  # (a thread that never started would have given its slot back)
    with pytest.raises(transport._Failure, match="already in progress"):
        await transport._resolve_async("one-more.attacker.example", 443, 0.01)
    gate.set()
    for _ in range(100):  # the abandoned threads end and give their slots back
        if slots._value == 3:  # type: ignore[attr-defined]
            break
        time.sleep(0.05)
    assert slots._value == 3  # type: ignore[attr-defined]
