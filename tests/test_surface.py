"""The public surface a call-screening developer meets (issue 18 points 1-5): ``Verdict.failed``
is a bool, numbers not given never give TN-Validation-Passed, ``verify_sip`` gives one verdict per
call, trust anchors come as bytes, text, paths or lists, and a ``Verifier`` is a context manager.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shakenkit import CertificateError, HeaderResult, TrustStore, Verdict, Verifier
from shakenkit.testing import TestPKI, make_pki
from tests.conftest import DEST, DEST_TN, NOW, ORIG, ORIG_TN, X5U
from tests.https_server import HttpsServer, running_https_server


def invite(*identity: str, calling: str = ORIG_TN, called: str = DEST_TN) -> str:
    lines = [
        f"INVITE sip:+{called}@cr.example.net;user=phone SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1",
        f"From: <sip:+{calling}@sp.example.com;user=phone>;tag=1",
        f"To: <sip:+{called}@cr.example.net;user=phone>",
        "Call-ID: surface@sp.example.com",
        "CSeq: 1 INVITE",
        *(f"Identity: {h}" for h in identity),
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines)


# -- point 1: Verdict.failed is a bool ---------------------------------------------------------


def test_failed_is_false_for_a_passed_call(verifier: Verifier, good_header: str) -> None:
    """``if verdict.failed: block()`` must not block a call that passed (it was a classmethod,
    always truthy)."""
    v = verifier.verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert v.passed and v.failed is False
    assert not v.failed


def test_failed_is_true_exactly_for_tn_validation_failed(
    verifier: Verifier, pki: TestPKI, good_header: str
) -> None:
    forged = make_pki().sign(orig=ORIG, dest=DEST, iat=NOW, x5u=X5U)
    bad = verifier.verify(forged, orig=ORIG, dest=DEST, now=NOW)
    assert bad.failed is True and bad.passed is False and bad.verstat == "TN-Validation-Failed"
    none = verifier.verify(None, now=NOW)
    assert none.failed is False and none.passed is False
    unread = Verdict.failure(438, "identity_header", "not a header", spoofed=False)
    assert unread.failed and unread.caller_id == "unverified" and not unread.likely_spoofed


def test_failed_and_passed_agree_with_verstat_as_json(verifier: Verifier, good_header: str) -> None:
    """Properties, not fields: the JSON carries ``verstat`` only."""
    v = verifier.verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert "failed" not in v.model_dump() and "passed" not in v.model_dump()


# -- point 3: no numbers, no TN validation -----------------------------------------------------


def test_verify_without_numbers_is_no_tn_validation_with_the_signature_kept(
    verifier: Verifier, good_header: str
) -> None:
    """Attack: a PASSporT replayed into a hook that forgot orig/dest. Never Passed; the
    signature result stays visible for a smoke check."""
    v = verifier.verify(good_header, now=NOW)
    assert v.verstat == "No-TN-Validation"
    assert not v.passed and not v.failed and v.error is None
    assert v.caller_id == "unverified" and not v.likely_spoofed
    assert v.signature_verified and v.attest == "A" and v.signer is not None
    assert [c.name for c in v.checks if not c.ok] == ["orig_tn", "dest_tn"]


def test_cli_smoke_check_without_numbers_shows_the_signature(
    pki: TestPKI, good_header: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shakenkit.cli import main

    root, chain = tmp_path / "root.pem", tmp_path / "chain.pem"
    root.write_bytes(pki.root_pem)
    chain.write_bytes(pki.chain_pem)
    args = ["verify", "--offline", "--trust", str(root), "--cert", f"{X5U}={chain}"]
    code = main([*args, "--now", str(NOW), good_header])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("No-TN-Validation")
    assert "signature verified; numbers not compared" in out
    forged = make_pki().sign(orig=ORIG, dest=DEST, iat=NOW, x5u=X5U)
    assert main([*args, "--now", str(NOW), forged]) == 1
    assert main([*args, "--now", str(NOW), "--orig", ORIG, "--dest", DEST, good_header]) == 0
    capsys.readouterr()


# -- point 2: verify_sip, one verdict per call -------------------------------------------------


def test_verify_sip_returns_the_calls_verdict(verifier: Verifier, good_header: str) -> None:
    v = verifier.verify_sip(invite(good_header), now=NOW)
    assert isinstance(v, Verdict) and v.caller_id == "verified"
    assert v.headers == [HeaderResult(0, "shaken", "TN-Validation-Passed", "verified", "A",
                                      None, v.signer)]


def test_verify_sip_best_of_several_headers(verifier: Verifier, pki: TestPKI) -> None:
    """RFC 8224 §6.2 step 1: the best attestation wins; every header is listed."""
    b = pki.sign(orig=ORIG_TN, dest=DEST_TN, attest="B", iat=NOW)
    a = pki.sign(orig=ORIG_TN, dest=DEST_TN, attest="A", iat=NOW)
    v = verifier.verify_sip(invite(b, a), now=NOW)
    assert v.attest == "A" and v.caller_id == "verified"
    assert [(h.index, h.attest, h.passed) for h in v.headers] == [(0, "B", True), (1, "A", True)]


async def test_averify_sip_is_the_same_verdict(verifier: Verifier, good_header: str) -> None:
    msg = invite(good_header, "garbage")
    a = await verifier.averify_sip(msg, now=NOW)
    b = verifier.verify_sip(msg, now=NOW)
    assert a.model_dump() == b.model_dump()
    assert a.passed and [h.verstat for h in a.headers] == [
        "TN-Validation-Passed",
        "TN-Validation-Failed",
    ]


def test_headers_json_is_one_level(verifier: Verifier, good_header: str) -> None:
    """The per-header results are summaries (no nested checks or headers): JSON stays flat."""
    v = verifier.verify_sip(invite(good_header, good_header), now=NOW)
    d = v.model_dump()
    assert set(d["headers"][0]) == {
        "index", "ppt", "verstat", "caller_id", "attest", "error", "signer"
    }
    assert '"headers"' in v.model_dump_json()


def test_verify_gives_headers_too(verifier: Verifier, good_header: str) -> None:
    v = verifier.verify([good_header, "x"], orig=ORIG, dest=DEST, now=NOW)
    assert v.passed and [h.index for h in v.headers] == [0, 1]
    assert verifier.verify(None, now=NOW).headers == []


def test_unsupported_ppt_beside_a_div_never_raises(verifier: Verifier, pki: TestPKI) -> None:
    """A header with an unsupported ppt and a div PASSporT, without the SHAKEN PASSporT: the
    div linking found no Failed base and raised StopIteration (a crash on hostile input)."""
    from tests.conftest import claims, jose, signed

    rph = signed(pki, header=jose(ppt="rph"), payload=claims(rph={"auth": ["ets.0"]}), ppt="rph")
    div = pki.sign_div(orig=ORIG_TN, div=DEST_TN, dest="12155550000", iat=NOW)
    v = verifier.verify([rph, div], orig=ORIG, dest="+12155550000", now=NOW)
    assert v.verstat == "No-TN-Validation" and v.caller_id == "unverified"
    assert [h.ppt for h in v.headers] == ["rph", "div"]


# -- point 4: trust anchors as bytes, text, paths, lists; context manager -----------------------


@pytest.fixture
def anchor_files(pki: TestPKI, tmp_path: Path) -> Path:
    d = tmp_path / "roots"
    d.mkdir()
    (d / "root.pem").write_bytes(pki.root_pem)
    (d / "other.crt").write_bytes(make_pki().root_der)
    (d / "README").write_text("not a certificate")
    return d


@pytest.mark.parametrize(
    "form",
    ["pem-bytes", "der-bytes", "pem-text", "path-str", "pathlike", "directory", "list-mixed"],
)
def test_trust_anchors_in_every_form(
    pki: TestPKI, anchor_files: Path, good_header: str, form: str
) -> None:
    anchors: object = {
        "pem-bytes": pki.root_pem,
        "der-bytes": pki.root_der,
        "pem-text": pki.root_pem.decode(),
        "path-str": str(anchor_files / "root.pem"),
        "pathlike": anchor_files / "root.pem",
        "directory": anchor_files,
        "list-mixed": [make_pki().root_pem, str(anchor_files / "root.pem"), anchor_files],
    }[form]
    v = Verifier(trust_anchors=anchors, certificates=pki.certificates())  # type: ignore[arg-type]
    verdict = v.verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert verdict.caller_id == "verified", verdict.error
    assert len(TrustStore(anchors)) >= 1  # type: ignore[arg-type]


def test_trust_store_directory_reads_only_certificate_files(anchor_files: Path) -> None:
    assert len(TrustStore(anchor_files)) == 2


def test_bad_trust_anchors_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(CertificateError):
        Verifier(trust_anchors=b"not a certificate")
    with pytest.raises(CertificateError):
        Verifier(trust_anchors="-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
    with pytest.raises(FileNotFoundError):
        Verifier(trust_anchors=str(tmp_path / "missing.pem"))
    with pytest.raises(TypeError, match="trust anchor"):
        Verifier(trust_anchors=[42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="trust anchors"):
        Verifier(trust_anchors=42)  # type: ignore[arg-type]


def test_trust_store_reload_takes_a_single_source(pki: TestPKI) -> None:
    store = TrustStore()
    assert len(store) == 0
    store.reload(pki.root_pem)
    assert len(store) == 1


@pytest.fixture
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


def _fetching(srv: HttpsServer) -> tuple[TestPKI, dict[str, object]]:
    from shakenkit.repository import FetchPolicy

    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=None)
    srv.route("/sp.pem", body=pki.chain_pem)
    policy = FetchPolicy(
        allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path, total_timeout=2.0
    )
    return pki, {"trust_anchors": pki.root_pem, "fetch": policy}


def test_verifier_with_closes_its_clients(srv: HttpsServer) -> None:
    pki, kw = _fetching(srv)
    now = int(time.time())
    header = pki.sign(orig=ORIG, dest=DEST, iat=now)
    with Verifier(**kw) as v:  # type: ignore[arg-type]
        assert v.verify(header, orig=ORIG, dest=DEST, now=now).caller_id == "verified"
    with pytest.raises(RuntimeError, match="closed"):
        v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=srv.url("/other.pem")),
                 orig=ORIG, dest=DEST, now=now)


async def test_verifier_async_with_closes_its_clients(srv: HttpsServer) -> None:
    pki, kw = _fetching(srv)
    now = int(time.time())
    header = pki.sign(orig=ORIG, dest=DEST, iat=now)
    async with Verifier(**kw) as v:  # type: ignore[arg-type]
        verdict = await v.averify(header, orig=ORIG, dest=DEST, now=now)
        assert verdict.caller_id == "verified"
    with pytest.raises(RuntimeError, match="closed"):
        await v.averify(pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=srv.url("/other.pem")),
                        orig=ORIG, dest=DEST, now=now)


# -- point 5: typed -------------------------------------------------------------------------------


def test_verify_sip_and_testpki_verifier_are_typed() -> None:
    import typing

    hints = typing.get_type_hints(Verifier.verify_sip)
    assert hints["return"] is Verdict
    assert "SipMessage" in str(hints["message"]) and "bytes" in str(hints["message"])
    assert typing.get_type_hints(TestPKI.verifier)["return"] is Verifier
