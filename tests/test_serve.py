"""``shakenkit serve``: the ATIS-1000082 HTTP API, tested with httpx against a running server.

The server runs as a real process (``tests/serve_process.py``) and fetches certificates from the
real HTTPS repository of ``tests/https_server.py``. Every verification carries its ``time``, so
verdicts are compared with ``shakenkit verify --now`` for the same call at the same time.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
pytest.importorskip("prometheus_client", reason="shakenkit serve needs the 'serve' extra")

from shakenkit import cli
from shakenkit.service import schemas
from shakenkit.testing import TestPKI, make_crl, make_pki
from tests.https_server import HttpsServer, running_https_server
from tests.serve_process import ServeProcess

T = int(time.time())  # the calls' time; the test PKIs are valid around it
ORIG, DEST = "12155551212", "12155551213"
ORIGID = "123e4567-e89b-12d3-a456-426655440000"


@pytest.fixture(scope="module")
def repo() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


@pytest.fixture(scope="module")
def good_pki(repo: HttpsServer) -> TestPKI:
    pki = make_pki(x5u=repo.url("/sp/123A.pem"), crl_url=None)
    repo.route("/sp/123A.pem", body=pki.chain_pem)
    return pki


@pytest.fixture(scope="module")
def forger(good_pki: TestPKI) -> TestPKI:
    """Another PKI whose key signs for good_pki's x5u: a forged signature."""
    return make_pki(x5u=good_pki.x5u, crl_url=None)


@pytest.fixture(scope="module")
def rogue_pki(repo: HttpsServer) -> TestPKI:
    """A PKI whose root nobody trusts, serving its own chain."""
    pki = make_pki(spc="666F", x5u=repo.url("/sp/666F.pem"), crl_url=None)
    repo.route("/sp/666F.pem", body=pki.chain_pem)
    return pki


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, good_pki: TestPKI) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("serve")
    (d / "roots").mkdir()
    (d / "roots" / "root.pem").write_bytes(good_pki.root_pem)
    (d / "key.pem").write_bytes(good_pki.leaf_key_pem)
    return {"roots": d / "roots", "key": d / "key.pem"}


def _options(repo: HttpsServer, roots: Path) -> list[str]:
    """The verification options shared by the server and the ``shakenkit verify`` reference."""
    return [
        "--trust",
        str(roots),
        "--tls-ca",
        repo.ca_pem_path,
        "--allow-host",
        repo.host_port,
        "--timeout",
        "10",
        "--no-crl-fetch",
    ]


@pytest.fixture(scope="module")
def server(repo: HttpsServer, files: dict[str, Path], good_pki: TestPKI) -> Iterator[ServeProcess]:
    args = [*_options(repo, files["roots"]), "--key", str(files["key"]), "--x5u", good_pki.x5u]
    with ServeProcess(args) as s:
        yield s


def request(
    identity: object = None,
    orig: object = ORIG,
    dest: object = DEST,
    when: object = T,
    **extra: Any,
) -> dict[str, Any]:
    req: dict[str, Any] = {"from": {"tn": orig}, "to": {"tn": [dest]}, "time": when}
    if identity is not None:
        req["identity"] = identity
    req.update(extra)
    return {"verificationRequest": req}


def post(server: ServeProcess, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(server.url + "/stir/v1/verification", json=body, timeout=30, **kw)


def answer(server: ServeProcess, body: Any) -> dict[str, Any]:
    r = post(server, body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    out: dict[str, Any] = r.json()["verificationResponse"]
    return out


def cli_verdict(repo: HttpsServer, roots: Path, identity: str, orig: str, dest: str) -> Any:
    """What ``shakenkit verify --json`` says about the call at time T (in-process)."""
    out = io.StringIO()
    argv = ["verify", *_options(repo, roots), "--now", str(T), "--json"]
    argv += ["--orig", orig, "--dest", dest, "--", identity]
    with redirect_stdout(out):
        cli.main(argv)
    return json.loads(out.getvalue().splitlines()[0])


# -- verification ---------------------------------------------------------------------------


def test_good_call_passes(server: ServeProcess, good_pki: TestPKI) -> None:
    """ATIS-1000082: a valid call answers verstat TN-Validation-Passed and no reason."""
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T, origid=ORIGID)
    assert answer(server, request(h)) == {"verstat": "TN-Validation-Passed"}


def test_forged_signature_fails_438(server: ServeProcess, forger: TestPKI) -> None:
    h = forger.sign(orig=ORIG, dest=DEST, iat=T)
    assert answer(server, request(h)) == {
        "verstat": "TN-Validation-Failed",
        "reasoncode": 438,
        "reasontext": "Invalid Identity Header",
    }


def test_stale_call_fails_403(server: ServeProcess, good_pki: TestPKI) -> None:
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T - 3600)
    assert answer(server, request(h)) == {
        "verstat": "TN-Validation-Failed",
        "reasoncode": 403,
        "reasontext": "Stale Date",
    }


@pytest.mark.parametrize("identity", [None, "", "  ", []])
def test_no_identity_is_no_tn_validation(server: ServeProcess, identity: object) -> None:
    body = request()
    if identity is not None:
        body["verificationRequest"]["identity"] = identity
    assert answer(server, body) == {"verstat": "No-TN-Validation"}


def test_time_is_the_verification_time(server: ServeProcess, good_pki: TestPKI) -> None:
    """``time`` is when the INVITE was received: a call signed at T passes at T + 30 and is
    stale at T + 3600, as ``shakenkit verify --now`` judges it."""
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T)
    assert answer(server, request(h, when=T + 30))["verstat"] == "TN-Validation-Passed"
    assert answer(server, request(h, when=T + 3600))["reasoncode"] == 403


def test_same_verdicts_as_shakenkit_verify(
    server: ServeProcess,
    repo: HttpsServer,
    files: dict[str, Path],
    good_pki: TestPKI,
    forger: TestPKI,
    rogue_pki: TestPKI,
) -> None:
    """For each call the service answers the verstat, reason code and reason text that
    ``shakenkit verify --json`` reports for the same call at the same time."""
    repo.route("/sp/gone.pem", status=404, body=b"no")
    sign = good_pki.sign
    cases = {
        "good": (sign(orig=ORIG, dest=DEST, iat=T), ORIG, DEST),
        "b-attest": (sign(orig=ORIG, dest=DEST, attest="B", iat=T), ORIG, DEST),
        "forged": (forger.sign(orig=ORIG, dest=DEST, iat=T), ORIG, DEST),
        "stale": (sign(orig=ORIG, dest=DEST, iat=T - 120), ORIG, DEST),
        "future": (sign(orig=ORIG, dest=DEST, iat=T + 600), ORIG, DEST),
        "orig mismatch": (sign(orig=ORIG, dest=DEST, iat=T), "12155559999", DEST),
        "dest mismatch": (sign(orig=ORIG, dest=DEST, iat=T), ORIG, "12155559999"),
        "untrusted root": (rogue_pki.sign(orig=ORIG, dest=DEST, iat=T), ORIG, DEST),
        "repository 404": (
            sign(orig=ORIG, dest=DEST, iat=T, x5u=repo.url("/sp/gone.pem")),
            ORIG,
            DEST,
        ),
        "not allowed host": (
            sign(orig=ORIG, dest=DEST, iat=T, x5u="https://127.0.0.1:1/sp.pem"),
            ORIG,
            DEST,
        ),
        "malformed": ("not-a-jwt;info=<https://cr.example/x.pem>", ORIG, DEST),
        "e164 numbers": (sign(orig=ORIG, dest=DEST, iat=T), "+1 215-555-1212", "tel:+12155551213"),
    }
    seen = set()
    for name, (identity, orig, dest) in cases.items():
        got = answer(server, request(identity, orig=orig, dest=dest))
        want = cli_verdict(repo, files["roots"], identity, orig, dest)
        expected = {"verstat": want["verstat"]}
        if want["error"] is not None:
            expected["reasoncode"] = want["error"]["sip_code"]
            expected["reasontext"] = want["error"]["reason"]
        assert got == expected, name
        seen.add(got.get("reasoncode"))
    assert seen == {None, 403, 436, 437, 438}  # the cases cover every outcome


def test_detail_adds_the_whole_verdict(server: ServeProcess, good_pki: TestPKI) -> None:
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T, origid=ORIGID)
    r = httpx.post(server.url + "/stir/v1/verification?detail=1", json=request(h), timeout=30)
    verdict = r.json()["verificationResponse"]["verdict"]
    assert verdict["caller_id"] == "verified"
    assert verdict["origid"] == ORIGID
    assert verdict["signer"]["spc"] == "123A"


def test_liberal_request_shapes(server: ServeProcess, good_pki: TestPKI) -> None:
    """Liberal in what is accepted: from.tn as a list, to.tn as a string, numbers as JSON
    numbers, time as a numeric string, identity as a list of header values or a whole
    ``Identity:`` line, extra members ignored."""
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T)
    shapes = [
        {"from": {"tn": [ORIG]}, "to": {"tn": DEST}, "time": T, "identity": h},
        {"from": {"tn": int(ORIG)}, "to": {"tn": [int(DEST)]}, "time": str(T), "identity": h},
        {"from": ORIG, "to": DEST, "time": float(T), "identity": [h]},
        {"from": {"tn": ORIG}, "to": {"tn": [DEST]}, "time": T, "identity": f"Identity: {h}"},
        {"from": {"tn": ORIG}, "to": {"tn": [DEST]}, "time": T, "identity": h, "x-vendor": 1},
    ]
    for shape in shapes:
        assert answer(server, {"verificationRequest": shape}) == {
            "verstat": "TN-Validation-Passed"
        }, shape


def test_several_identity_headers_best_wins(
    server: ServeProcess, good_pki: TestPKI, forger: TestPKI
) -> None:
    """RFC 8224 §6.2 step 1: the full Identity header list; the call passes if one passes."""
    good = good_pki.sign(orig=ORIG, dest=DEST, iat=T)
    bad = forger.sign(orig=ORIG, dest=DEST, iat=T)
    assert answer(server, request([bad, good]))["verstat"] == "TN-Validation-Passed"
    assert answer(server, request(f"{bad},{good}"))["verstat"] == "TN-Validation-Passed"
    assert answer(server, request([bad, bad]))["reasoncode"] == 438


def _invite(identity: str | None, orig: str = ORIG, dest: str = DEST) -> str:
    lines = [
        f"INVITE sip:+{dest}@example.net;user=phone SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1",
        f"From: <sip:+{orig}@example.com;user=phone>;tag=1",
        f"To: <sip:+{dest}@example.net;user=phone>",
        f"P-Asserted-Identity: <sip:+{orig}@example.com;user=phone>",
        "Call-ID: serve-test-1",
        "CSeq: 1 INVITE",
        "Max-Forwards: 70",
    ]
    if identity is not None:
        lines.append(f"Identity: {identity}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


def test_raw_sip_invite(server: ServeProcess, good_pki: TestPKI, forger: TestPKI) -> None:
    """Extension: the INVITE itself, in the JSON ``sip`` member or as a ``message/sip`` body;
    the numbers come from P-Asserted-Identity and To, as for ``shakenkit verify --sip``."""
    good = _invite(good_pki.sign(orig=ORIG, dest=DEST, iat=T))
    forged = _invite(forger.sign(orig=ORIG, dest=DEST, iat=T))
    body = {"verificationRequest": {"sip": good, "time": T}}
    assert answer(server, body) == {"verstat": "TN-Validation-Passed"}
    r = httpx.post(
        server.url + f"/stir/v1/verification?time={T}",
        content=forged.encode(),
        headers={"content-type": "message/sip"},
        timeout=30,
    )
    assert r.json()["verificationResponse"]["reasoncode"] == 438
    no_identity = {"verificationRequest": {"sip": _invite(None), "time": T}}
    assert answer(server, no_identity) == {"verstat": "No-TN-Validation"}
    garbage = {"verificationRequest": {"sip": "HELLO\r\n\r\n", "time": T}}
    assert answer(server, garbage)["reasoncode"] == 438


def test_raw_sip_forwarded_call(server: ServeProcess, good_pki: TestPKI, repo: HttpsServer) -> None:
    """A forwarded INVITE (RFC 8946): the SHAKEN PASSporT for the original number and the
    retargeting carrier's ``div`` PASSporT to the new one give one answer for the call, with
    the diversion chain in ``?detail=1``; History-Info is cross-checked as ``verify --sip``
    does."""
    carrier = good_pki.carrier(spc="456B", x5u=repo.url("/sp/456B.pem"))
    repo.route("/sp/456B.pem", body=carrier.chain_pem)
    new_dest = "12155551214"
    shaken = good_pki.sign(orig=ORIG, dest=DEST, iat=T, origid=ORIGID)
    div = carrier.sign_div(orig=ORIG, div=DEST, dest=new_dest, iat=T)
    invite = _invite(shaken, dest=new_dest).replace(
        "Content-Length: 0", f"Identity: {div}\r\nHistory-Info: <sip:+{DEST}@example.net>;index=1"
        f"\r\nHistory-Info: <sip:+{new_dest}@example.net>;index=1.1\r\nContent-Length: 0"
    )
    r = httpx.post(server.url + "/stir/v1/verification?detail=1",
                   json={"verificationRequest": {"sip": invite, "time": T}}, timeout=30)
    out = r.json()["verificationResponse"]
    assert r.status_code == 200 and out["verstat"] == "TN-Validation-Passed", out
    [link] = out["verdict"]["diversion"]
    assert (link["div_tn"], link["dest_tns"], link["result"]) == (DEST, [new_dest], "valid")
    assert link["signer"]["spc"] == "456B"
    checks = {c["name"]: c["ok"] for c in out["verdict"]["checks"]}
    assert checks["div_chain"] and checks["div_history"]  # cross-checked with History-Info
    forged_div = make_pki(x5u=carrier.x5u, crl_url=None).sign_div(
        orig=ORIG, div=DEST, dest=new_dest, iat=T
    )
    bad = invite.replace(div, forged_div)
    out = answer(server, {"verificationRequest": {"sip": bad, "time": T}})
    assert (out["verstat"], out["reasoncode"]) == ("TN-Validation-Failed", 438)


# -- bad requests: JSON errors, never a 500 ----------------------------------------------------


def _error(r: httpx.Response, status: int, message_id: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()["requestError"]
    exc = body.get("serviceException") or body["policyException"]
    assert exc["messageId"] == message_id
    assert "Traceback" not in r.text
    return exc  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("raw", "message_id"),
    [
        (b"{bad", "SVC4006"),
        (b'{"verificationRequest": {"from": ', "SVC4006"),
        (b"\xff\xfe\x00", "SVC4006"),
        (b"[" * 30_000 + b"]" * 30_000, "SVC4006"),
        (b"", "SVC4000"),
        (b"[]", "SVC4005"),
        (b'{"verificationRequest": 5}', "SVC4005"),
        (b"{}", "SVC4001"),
        (b'{"verificationRequest": {"to": {"tn": ["12155551213"]}}}', "SVC4001"),
        (b'{"verificationRequest": {"from": {"tn": "1"}, "to": {"tn": []}}}', "SVC4005"),
        (b'{"verificationRequest": {"from": {"x": 1}, "to": {"tn": ["2"]}}}', "SVC4001"),
        (b'{"verificationRequest": {"from": {"tn": true}, "to": {"tn": ["2"]}}}', "SVC4005"),
        (b'{"verificationRequest": {"from": "1", "to": "2", "time": "soon"}}', "SVC4005"),
        (b'{"verificationRequest": {"from": "1", "to": "2", "time": 1e400}}', "SVC4005"),
        (b'{"verificationRequest": {"from": "1", "to": "2", "identity": 7}}', "SVC4005"),
        (b'{"verificationRequest": {"from": "1", "to": "2", "identity": [1]}}', "SVC4005"),
        (b'{"verificationRequest": {"sip": 3}}', "SVC4005"),
    ],
)
def test_malformed_requests_are_400_json(server: ServeProcess, raw: bytes, message_id: str) -> None:
    r = httpx.post(
        server.url + "/stir/v1/verification",
        content=raw,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    _error(r, 400, message_id)


def test_oversize_body_is_413(server: ServeProcess) -> None:
    big = b'{"verificationRequest": {"identity": "' + b"a" * 200_000 + b'"}}'
    r = httpx.post(server.url + "/stir/v1/verification", content=big, timeout=30)
    _error(r, 413, "SVC4006")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(64):
            yield b"a" * 8192

    r = httpx.post(server.url + "/stir/v1/verification", content=chunks(), timeout=30)
    _error(r, 413, "SVC4006")
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_unknown_route_and_wrong_method(server: ServeProcess) -> None:
    _error(httpx.get(server.url + "/nope"), 404, "SVC4003")
    _error(httpx.get(server.url + "/stir/v1/verification"), 405, "POL4050")
    _error(httpx.post(server.url + "/healthz"), 405, "POL4050")


# -- the repository: slow, unreachable -------------------------------------------------------


def test_slow_repository_does_not_block_other_requests(
    server: ServeProcess, repo: HttpsServer, good_pki: TestPKI
) -> None:
    """A call whose certificate repository is slow waits alone: calls with cached
    certificates are answered meanwhile, and the slow one still completes."""
    slow_pki = make_pki(spc="555S", x5u=repo.url("/sp/slow.pem"), crl_url=None)
    release = threading.Event()
    repo.route("/sp/slow.pem", body=good_pki.chain_pem, delay=2.5)
    answer(server, request(good_pki.sign(orig=ORIG, dest=DEST, iat=T)))  # warm
    slow_result: dict[str, Any] = {}

    def slow_call() -> None:
        # good_pki's chain under another URL: the key does not match slow_pki's -> 438 after
        # the fetch; what matters is that the fetch holds only this request.
        slow_result.update(answer(server, request(slow_pki.sign(orig=ORIG, dest=DEST, iat=T))))
        release.set()

    thread = threading.Thread(target=slow_call)
    thread.start()
    try:
        while repo.count("/sp/slow.pem") == 0:  # the slow fetch has started
            time.sleep(0.01)
        for _ in range(20):
            h = good_pki.sign(orig=ORIG, dest=DEST, iat=T)
            assert answer(server, request(h)) == {"verstat": "TN-Validation-Passed"}
        assert not release.is_set(), "the slow call finished before the others were answered"
    finally:
        thread.join(timeout=30)
    assert slow_result["verstat"] == "TN-Validation-Failed"


# -- signing, health, metrics --------------------------------------------------------------


def test_signing_round_trip(server: ServeProcess) -> None:
    """ATIS-1000082 signingRequest -> signingResponse.identity, which verifies."""
    body = {
        "signingRequest": {
            "orig": {"tn": ORIG},
            "dest": {"tn": [DEST]},
            "attest": "B",
            "iat": T,
            "origid": ORIGID,
        }
    }
    r = httpx.post(server.url + "/stir/v1/signing", json=body, timeout=30)
    assert r.status_code == 200, r.text
    identity = r.json()["signingResponse"]["identity"]
    assert identity.endswith(";ppt=shaken")
    r = httpx.post(
        server.url + "/stir/v1/verification?detail=1", json=request(identity), timeout=30
    )
    v = r.json()["verificationResponse"]
    assert v["verstat"] == "TN-Validation-Passed"
    assert (v["verdict"]["attest"], v["verdict"]["origid"]) == ("B", ORIGID)


@pytest.mark.parametrize(
    ("change", "message_id"),
    [
        ({"attest": "D"}, "SVC4005"),
        ({"origid": "not-a-uuid"}, "SVC4005"),
        ({"orig": {"tn": "hello"}}, "SVC4005"),
        ({"dest": {"tn": []}}, "SVC4005"),
        ({"iat": "now"}, "SVC4005"),
        ({"attest": None}, "SVC4001"),
    ],
)
def test_signing_rejects_bad_requests(
    server: ServeProcess, change: dict[str, Any], message_id: str
) -> None:
    req = {"orig": {"tn": ORIG}, "dest": {"tn": [DEST]}, "attest": "A"}
    req.update(change)
    r = httpx.post(server.url + "/stir/v1/signing", json={"signingRequest": req}, timeout=30)
    _error(r, 400, message_id)


def test_healthz(server: ServeProcess) -> None:
    r = httpx.get(server.url + "/healthz")
    assert r.json()["status"] == "ok"
    assert r.json()["trust_anchors"] == 1
    assert r.json()["signing"] is True


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics(server: ServeProcess, good_pki: TestPKI, forger: TestPKI) -> None:
    """Prometheus text: verifications by verstat and code, requests, latency histogram and
    the repository's counters."""
    before = _samples(httpx.get(server.url + "/metrics").text)
    answer(server, request(good_pki.sign(orig=ORIG, dest=DEST, iat=T)))
    answer(server, request(forger.sign(orig=ORIG, dest=DEST, iat=T)))
    answer(server, request(forger.sign(orig=ORIG, dest=DEST, iat=T)))
    r = httpx.get(server.url + "/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = _samples(r.text)

    def delta(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert delta('shakenkit_verifications_total{code="none",verstat="TN-Validation-Passed"}') == 1
    assert delta('shakenkit_verifications_total{code="438",verstat="TN-Validation-Failed"}') == 2
    assert delta("shakenkit_verification_duration_seconds_count") == 3
    status_200 = 'shakenkit_http_requests_total{endpoint="/stir/v1/verification",status="200"}'
    assert delta(status_200) == 3
    assert after['shakenkit_certificate_fetches_total{kind="x5u"}'] >= 1
    assert delta('shakenkit_certificate_cache_hits_total{kind="x5u"}') >= 3
    assert after["shakenkit_trust_anchors"] == 1


# -- reload ----------------------------------------------------------------------------------


@pytest.fixture
def reloadable(
    tmp_path: Path, repo: HttpsServer, good_pki: TestPKI, rogue_pki: TestPKI
) -> Iterator[tuple[ServeProcess, Path, Path]]:
    """A server whose trust directory holds only the rogue root, with an empty CRL file."""
    roots = tmp_path / "roots"
    roots.mkdir()
    (roots / "root.pem").write_bytes(rogue_pki.root_pem)
    crl = tmp_path / "ca.crl"
    crl.write_bytes(make_crl(good_pki.ca_key, good_pki.ca_der, []))
    with ServeProcess([*_options(repo, roots), "--crl", str(crl)]) as s:
        yield s, roots, crl


def test_admin_reload_swaps_trust_anchors_and_crls(
    reloadable: tuple[ServeProcess, Path, Path], good_pki: TestPKI
) -> None:
    server, roots, crl = reloadable
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T)
    assert answer(server, request(h))["reasoncode"] == 437  # root not trusted yet
    (roots / "root.pem").write_bytes(good_pki.root_pem)
    r = httpx.post(server.url + "/admin/reload")
    assert (r.status_code, r.json()["reload"]) == (200, "ok")
    assert answer(server, request(h)) == {"verstat": "TN-Validation-Passed"}
    from cryptography import x509

    serial = x509.load_der_x509_certificate(good_pki.leaf_der).serial_number
    crl.write_bytes(make_crl(good_pki.ca_key, good_pki.ca_der, [serial]))
    assert httpx.post(server.url + "/admin/reload").status_code == 200
    assert answer(server, request(h))["reasoncode"] == 437  # revoked


def test_failed_reload_keeps_the_running_configuration(
    reloadable: tuple[ServeProcess, Path, Path], good_pki: TestPKI
) -> None:
    server, roots, crl = reloadable
    (roots / "root.pem").write_bytes(good_pki.root_pem)
    assert httpx.post(server.url + "/admin/reload").status_code == 200
    crl.write_bytes(b"garbage")
    r = httpx.post(server.url + "/admin/reload")
    assert (r.status_code, r.json()["reload"]) == (422, "error")
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T)
    assert answer(server, request(h)) == {"verstat": "TN-Validation-Passed"}


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR) \S+: ")


def test_reload_logs_name_the_failing_file_with_level_and_timestamp(
    tmp_path: Path, repo: HttpsServer, good_pki: TestPKI
) -> None:
    """A failed reload says which file failed (in the answer and the log); a successful one
    is logged; every log line carries a timestamp and a level (issue 18, item 10)."""
    roots = tmp_path / "roots"
    roots.mkdir()
    (roots / "root.pem").write_bytes(good_pki.root_pem)
    crl = tmp_path / "sti-pa.crl"
    crl.write_bytes(make_crl(good_pki.ca_key, good_pki.ca_der, []))
    args = [*_options(repo, roots), "--crl", str(crl), "--log-level", "info"]
    with ServeProcess(args) as server:
        crl.write_bytes(b"garbage")
        r = httpx.post(server.url + "/admin/reload")
        assert (r.status_code, r.json()["reload"]) == (422, "error")
        assert str(crl) in r.json()["detail"]
        (roots / "extra.pem").write_bytes(b"not a certificate")
        crl.write_bytes(make_crl(good_pki.ca_key, good_pki.ca_der, []))
        r = httpx.post(server.url + "/admin/reload")
        assert str(roots / "extra.pem") in r.json()["detail"]
        (roots / "extra.pem").unlink()
        assert httpx.post(server.url + "/admin/reload").status_code == 200
        time.sleep(0.2)  # let the log lines reach the file
        lines = server.log.splitlines()
    failed = [line for line in lines if "reload failed" in line]
    assert len(failed) == 2
    assert " ERROR shakenkit.service: " in failed[0] and str(crl) in failed[0]
    assert [line for line in lines if " INFO shakenkit.service: reloaded: 1 trust anchors" in line]
    assert lines and all(LOG_LINE.match(line) for line in lines), lines


def test_busy_port_exits_1_with_one_error_line(tmp_path: Path, good_pki: TestPKI) -> None:
    """``serve`` on a port already in use: exit status 1 and one ``shakenkit: error:`` line,
    no uvicorn log (docs/cli.md)."""
    root = tmp_path / "root.pem"
    root.write_bytes(good_pki.root_pem)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "shakenkit.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--offline", "--trust", str(root)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"shakenkit: error: cannot listen on 127.0.0.1:{port}: address already in use"
    ]


def test_admin_endpoint_is_loopback_only(server: ServeProcess) -> None:
    """A request relayed by a local proxy for a remote client (X-Forwarded-For, trusted from
    127.0.0.1 as uvicorn does) is refused."""
    r = httpx.post(server.url + "/admin/reload", headers={"X-Forwarded-For": "203.0.113.7"})
    _error(r, 403, "POL4051")
    _error(httpx.get(server.url + "/admin/reload"), 405, "POL4050")


def _poll(server: ServeProcess, body: Any, want: str, tries: int = 100) -> dict[str, Any]:
    for _ in range(tries):
        got = answer(server, body)
        if got["verstat"] == want:
            return got
        time.sleep(0.1)
    raise AssertionError(f"verstat never became {want}: {got}; log: {server.log}")


def test_sighup_reloads(reloadable: tuple[ServeProcess, Path, Path], good_pki: TestPKI) -> None:
    server, roots, _crl = reloadable
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T)
    assert answer(server, request(h))["reasoncode"] == 437
    (roots / "root.pem").write_bytes(good_pki.root_pem)
    server.signal(signal.SIGHUP)
    _poll(server, request(h), "TN-Validation-Passed")
    assert server.proc.poll() is None  # reloaded, not restarted or stopped


def test_two_workers(
    tmp_path: Path, repo: HttpsServer, good_pki: TestPKI, rogue_pki: TestPKI
) -> None:
    """--workers 2: both processes answer, metrics add up across them, SIGHUP (to the
    supervisor) and the admin endpoint reload every worker in place."""
    roots = tmp_path / "roots"
    roots.mkdir()
    (roots / "root.pem").write_bytes(good_pki.root_pem)
    h = good_pki.sign(orig=ORIG, dest=DEST, iat=T)
    with ServeProcess([*_options(repo, roots), "--workers", "2"]) as server:

        async def burst(n: int) -> None:
            async with httpx.AsyncClient(timeout=30) as c:
                url = server.url + "/stir/v1/verification"
                rs = await asyncio.gather(*(c.post(url, json=request(h)) for _ in range(n)))
            verstats = {r.json()["verificationResponse"]["verstat"] for r in rs}
            assert verstats == {"TN-Validation-Passed"}

        asyncio.run(burst(200))
        # Each worker flushes its tallies into the shared samples at least once a second.
        passed = 'shakenkit_verifications_total{code="none",verstat="TN-Validation-Passed"}'
        for _ in range(50):
            samples = _samples(httpx.get(server.url + "/metrics").text)
            if samples.get(passed) == 200:
                break
            time.sleep(0.1)
        assert samples[passed] == 200
        (roots / "root.pem").write_bytes(rogue_pki.root_pem)
        server.signal(signal.SIGHUP)
        for _ in range(5):  # every worker, whichever answers
            _poll(server, request(h), "TN-Validation-Failed")
        (roots / "root.pem").write_bytes(good_pki.root_pem)
        assert httpx.post(server.url + "/admin/reload").status_code == 202
        for _ in range(5):
            _poll(server, request(h), "TN-Validation-Passed")


# -- command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--key", "k.pem"],
        ["serve", "--workers", "0"],
        ["serve", "--trust", "/nonexistent/root.pem"],
        ["serve", "--max-body", "10"],
        ["serve", "--port", "70000"],
    ],
)
def test_serve_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith("shakenkit: error: ")


# -- schemas (pure) --------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "from": _json,
            "to": _json,
            "time": _json,
            "identity": _json,
            "sip": _json,
        },
    )
)
def test_request_parser_never_raises_anything_else(req: dict[str, Any]) -> None:
    """Any JSON in a verificationRequest is a VerificationCall or an ApiError."""
    try:
        call = schemas.parse_verification_request({"verificationRequest": req})
    except schemas.ApiError as e:
        assert 400 <= e.status < 500
        assert json.dumps(e.body())
    else:
        assert call.sip is not None or (call.orig and call.dest)


# -- the ASGI app in-process -----------------------------------------------------------------


async def test_signing_without_a_key_is_404(good_pki: TestPKI) -> None:
    from shakenkit.service.app import ServiceApp

    app = ServiceApp(good_pki.verifier)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sk") as c:
        body = {"signingRequest": {"orig": {"tn": ORIG}, "dest": {"tn": [DEST]}, "attest": "A"}}
        _error(await c.post("/stir/v1/signing", json=body), 404, "SVC4003")


async def test_an_internal_error_is_a_json_500_without_a_trace(
    good_pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    from shakenkit import Verifier
    from shakenkit.service.app import ServiceApp

    class Broken(Verifier):
        async def averify(self, *args: Any, **kw: Any) -> Any:
            raise RuntimeError("secret internals")

    app = ServiceApp(lambda: Broken(trust_anchors=[good_pki.root_pem], certificates={}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sk") as c:
        r = await c.post("/stir/v1/verification", json=request("x;info=<https://a.example/>"))
    exc = _error(r, 500, "POL5000")
    assert "secret" not in r.text
    assert exc["text"].startswith("Internal Server Error")
    assert "secret internals" in caplog.text  # the operator's log has it
