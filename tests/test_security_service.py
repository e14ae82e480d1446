"""``shakenkit serve`` against slow, silent and excess clients (issue 16 item 6, item 3's serve
part): each test is the attack, named after it, over a real client socket to a real server.

The attacks: a client that trickles its request body (or its request head) one byte at a time,
a client that connects and says nothing, more concurrent requests than the service accepts,
and one request whose Identity headers send the verifier to slow repositories one after
another. What stops them: ``--read-timeout`` (408 or close), uvicorn's keep-alive timeout
armed from the connection's first moment, ``--max-concurrency`` (503 with the ATIS-1000082
JSON exception), ``--verify-deadline`` (a verdict within the deadline). See docs/serve.md
("Limits") and docs/security.md.

The assertions are about behaviour, never about timing: a trickling client is cut off long
before it could finish (its drip would take minutes; the test gives up after 30 s).
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
pytest.importorskip("prometheus_client", reason="shakenkit serve needs the 'serve' extra")

from shakenkit.testing import TestPKI, make_pki
from tests.https_server import HttpsServer, running_https_server
from tests.serve_process import ServeProcess

T = int(time.time())
ORIG, DEST = "12155551212", "12155551213"
GUARD = 30.0  # how long a test waits for the server to cut an attacker off


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
def roots(tmp_path_factory: pytest.TempPathFactory, good_pki: TestPKI) -> Path:
    d = tmp_path_factory.mktemp("roots")
    (d / "root.pem").write_bytes(good_pki.root_pem)
    return d


def _options(repo: HttpsServer, roots: Path) -> list[str]:
    return [
        "--trust", str(roots), "--tls-ca", repo.ca_pem_path, "--allow-host", repo.host_port,
        "--timeout", "10", "--no-crl-fetch",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def server(repo: HttpsServer, roots: Path) -> Iterator[ServeProcess]:
    """A server with a short read deadline (1 s) and a small concurrency limit (2)."""
    args = [*_options(repo, roots), "--read-timeout", "1", "--max-concurrency", "2"]
    with ServeProcess(args) as s:
        yield s


def request(identity: object, **extra: Any) -> dict[str, Any]:
    req = {"from": {"tn": ORIG}, "to": {"tn": [DEST]}, "time": T, "identity": identity}
    return {"verificationRequest": {**req, **extra}}


def _trickle(port: int, head: bytes, drip: bytes, interval: float = 0.25) -> tuple[bytes, bool]:
    """Send ``head``, then ``drip`` one byte every ``interval`` s, reading meanwhile.

    Returns what the server sent and whether it cut the client off (closed or reset) before
    the drip was done or GUARD seconds passed. The drips here would take minutes."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as s:
        if head:
            s.sendall(head)
        deadline = time.monotonic() + GUARD
        sent = 0
        while time.monotonic() < deadline:
            ready, _, _ = select.select([s], [], [], interval)
            if ready:
                try:
                    data = s.recv(65_536)
                except (ConnectionResetError, BrokenPipeError):
                    return received, True
                if not data:
                    return received, True
                received += data
                continue
            if sent < len(drip):
                try:
                    s.sendall(drip[sent : sent + 1])
                except (ConnectionResetError, BrokenPipeError):
                    return received, True
                sent += 1
    return received, False


def _status_and_json(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


def _exception(body: dict[str, Any]) -> dict[str, Any]:
    err = body["requestError"]
    out: dict[str, Any] = err.get("serviceException") or err["policyException"]
    return out


def test_slowloris_body_trickle_gets_408_and_is_closed(server: ServeProcess) -> None:
    """A client that sends the head, then its body one byte at a time, is answered 408 with the
    ATIS-1000082 exception and closed once --read-timeout has passed (not held open)."""
    body = json.dumps(request("x" * 400)).encode()
    head = (
        b"POST /stir/v1/verification HTTP/1.1\r\nHost: sk\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    received, cut_off = _trickle(server.port, head, body)
    assert cut_off, "the server kept a trickling client's connection open"
    status, answer = _status_and_json(received)
    assert status == 408
    assert _exception(answer)["messageId"] == "SVC4080"
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_slowloris_chunked_body_trickle_gets_408(server: ServeProcess) -> None:
    """The same attack without Content-Length: a chunked body whose chunks trickle."""
    head = (
        b"POST /stir/v1/verification HTTP/1.1\r\nHost: sk\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    drip = b"".join(b"1\r\n%s\r\n" % bytes([c]) for c in b'{"verificationRequest": {}}' * 20)
    received, cut_off = _trickle(server.port, head, drip)
    assert cut_off, "the server kept a trickling client's connection open"
    status, answer = _status_and_json(received)
    assert status == 408
    assert _exception(answer)["messageId"] == "SVC4080"


def test_slowloris_header_trickle_is_cut_off(server: ServeProcess) -> None:
    """A client that trickles its request head (a header line a byte at a time, never the
    blank line) is answered 408 and closed: uvicorn alone re-arms nothing while bytes come."""
    head = b"POST /stir/v1/verification HTTP/1.1\r\nHost: sk\r\n"
    drip = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 10) for i in range(40))
    received, cut_off = _trickle(server.port, head, drip)
    assert cut_off, "the server kept a client trickling its headers open"
    if received:  # a 408 is the courteous answer; a plain close is acceptable
        status, answer = _status_and_json(received)
        assert status == 408
        assert _exception(answer)["messageId"] == "SVC4080"


def test_slowloris_header_trickle_after_a_keepalive_request_is_cut_off(
    server: ServeProcess, good_pki: TestPKI
) -> None:
    """The head trickle on a connection that has already been answered once (uvicorn's
    keep-alive timer is cancelled by the first byte of the next request)."""
    first = json.dumps(request(good_pki.sign(orig=ORIG, dest=DEST, iat=T))).encode()
    head = (
        b"POST /stir/v1/verification HTTP/1.1\r\nHost: sk\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(first), first)
    )
    drip = b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-Pad-%d: a\r\n" % i for i in range(60))
    received, cut_off = _trickle(server.port, head, drip)
    assert cut_off, "the server kept a client trickling its second request's head open"
    assert b"TN-Validation-Passed" in received  # the first request was answered


def test_silent_connection_is_closed(server: ServeProcess) -> None:
    """A client that connects and never sends a byte (a connection-exhaustion flood) is closed,
    without an answer."""
    received, cut_off = _trickle(server.port, b"", b"")
    assert cut_off, "the server kept a silent connection open"
    assert received == b""


def test_request_flood_beyond_max_concurrency_gets_503_json(
    server: ServeProcess, repo: HttpsServer
) -> None:
    """With --max-concurrency 2 and two requests in progress (each waiting on a slow
    repository), a third is answered at once with 503, Retry-After and the ATIS-1000082
    exception; once the two are done, requests are served again."""
    slow = [make_pki(spc=f"55{i}S", x5u=repo.url(f"/sp/slow{i}.pem"), crl_url=None) for i in (1, 2)]
    for i, pki in enumerate(slow, 1):
        repo.route(f"/sp/slow{i}.pem", body=pki.chain_pem, delay=3.0)
    results: list[int] = []

    def slow_call(pki: TestPKI) -> None:
        body = request(pki.sign(orig=ORIG, dest=DEST, iat=T))
        r = httpx.post(server.url + "/stir/v1/verification", json=body, timeout=GUARD)
        results.append(r.status_code)

    threads = [threading.Thread(target=slow_call, args=(pki,)) for pki in slow]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + GUARD
        while repo.count("/sp/slow1.pem") == 0 or repo.count("/sp/slow2.pem") == 0:
            assert time.monotonic() < deadline, "the slow fetches never started"
            time.sleep(0.01)
        r = httpx.post(server.url + "/stir/v1/verification", json=request("x"), timeout=GUARD)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.headers["retry-after"] == "1"
        assert _exception(r.json())["messageId"] == "POL5030"
    finally:
        for t in threads:
            t.join(timeout=GUARD)
    assert results == [200, 200]
    r = httpx.post(server.url + "/stir/v1/verification", json=request("x"), timeout=GUARD)
    assert r.status_code == 200


def test_many_identity_headers_to_slow_repositories_answered_within_verify_deadline(
    repo: HttpsServer, roots: Path
) -> None:
    """One request whose 12 Identity headers each name a different slow repository (3 s each,
    fetched one after another: 36 s) is answered within --verify-deadline with a verdict
    (TN-Validation-Failed, 436), not after every fetch; the worker is free again."""
    headers = []
    for i in range(12):
        pki = make_pki(spc=f"7{i:02d}D", x5u=repo.url(f"/sp/deadline{i}.pem"), crl_url=None)
        repo.route(f"/sp/deadline{i}.pem", body=pki.chain_pem, delay=3.0)
        headers.append(pki.sign(orig=ORIG, dest=DEST, iat=T))
    args = [*_options(repo, roots), "--verify-deadline", "2"]
    with ServeProcess(args) as server:
        r = httpx.post(server.url + "/stir/v1/verification", json=request(headers), timeout=GUARD)
        assert r.status_code == 200, r.text
        answer = r.json()["verificationResponse"]
        assert answer["verstat"] == "TN-Validation-Failed"
        assert answer["reasoncode"] == 436
        assert httpx.get(server.url + "/healthz", timeout=GUARD).status_code == 200


async def test_verification_past_the_deadline_is_a_436_verdict(good_pki: TestPKI) -> None:
    """In-process: a verification that does not finish within the deadline is answered 200
    with TN-Validation-Failed / 436 and a ``verify_deadline`` check (caller_id unverified: a
    slow repository is no evidence of forgery)."""
    from shakenkit import Verifier
    from shakenkit.service.app import ServiceApp

    class Stuck(Verifier):
        async def averify(self, *args: Any, **kw: Any) -> Any:
            await asyncio.sleep(3600)

    app = ServiceApp(
        lambda: Stuck(trust_anchors=[good_pki.root_pem], certificates={}), verify_deadline=0.2
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sk") as c:
        r = await c.post("/stir/v1/verification?detail=1", json=request("x;info=<https://a/>"))
    assert r.status_code == 200
    answer = r.json()["verificationResponse"]
    assert (answer["verstat"], answer["reasoncode"]) == ("TN-Validation-Failed", 436)
    verdict = answer["verdict"]
    assert verdict["caller_id"] == "unverified"
    assert verdict["error"]["check"] == "verify_deadline"
    assert "0.2" in verdict["error"]["detail"]


async def test_concurrency_slot_is_released_after_an_error(good_pki: TestPKI) -> None:
    """In-process: failed requests (400, 500) give their concurrency slot back."""
    from shakenkit import Verifier
    from shakenkit.service.app import ServiceApp

    class Broken(Verifier):
        async def averify(self, *args: Any, **kw: Any) -> Any:
            raise RuntimeError("boom")

    app = ServiceApp(
        lambda: Broken(trust_anchors=[good_pki.root_pem], certificates={}), max_concurrency=1
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sk") as c:
        for _ in range(3):
            assert (await c.post("/stir/v1/verification", content=b"{")).status_code == 400
            r = await c.post("/stir/v1/verification", json=request("x;info=<https://a/>"))
            assert r.status_code == 500
    assert app.in_flight == 0
