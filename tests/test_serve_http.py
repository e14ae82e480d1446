"""The HTTP/1.1 front end of ``shakenkit serve`` (``service/http.py``) over raw sockets.

The service runs its own protocol on httptools inside uvicorn's server, so the HTTP details
uvicorn's ASGI cycle used to handle are tested here against a real server process: pipelining,
HTTP/1.0, ``Connection: close``, ``Expect: 100-continue``, chunked bodies, HEAD, half-closed
clients, upgrades, percent-encoded paths, malformed requests, and the head and body limits.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
pytest.importorskip("httptools", reason="shakenkit serve needs the 'serve' extra")

from shakenkit.service.http import MAX_HEAD, MAX_HEADERS
from shakenkit.testing import TestPKI, make_pki
from tests.serve_process import ServeProcess

T = int(time.time())
ORIG, DEST = "12155551212", "12155551213"
X5U = "https://cr.example.com/sp/123A.pem"
PATH = b"/stir/v1/verification"


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return make_pki(x5u=X5U, crl_url=None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[ServeProcess]:
    d = tmp_path_factory.mktemp("http")
    (d / "root.pem").write_bytes(pki.root_pem)
    (d / "chain.pem").write_bytes(pki.chain_pem)
    args = ["--offline", "--trust", str(d / "root.pem"), "--cert", f"{X5U}={d / 'chain.pem'}"]
    with ServeProcess([*args, "--max-body", "4096", "--read-timeout", "3"]) as s:
        yield s


def _body(pki: TestPKI) -> bytes:
    identity = pki.sign(orig=ORIG, dest=DEST, iat=T)
    req = {"from": {"tn": ORIG}, "to": {"tn": [DEST]}, "time": T, "identity": identity}
    return json.dumps({"verificationRequest": req}).encode()


def _post(body: bytes, *extra: bytes, path: bytes = PATH, version: bytes = b"1.1") -> bytes:
    head = [b"POST " + path + b" HTTP/" + version, b"Host: sk", b"Content-Type: application/json"]
    head += [b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _exchange(server: ServeProcess, data: bytes, *, half_close: bool = False) -> tuple[bytes, bool]:
    """Send ``data``, read until the server closes or is quiet for 1.5 s.
    Returns (everything received, whether the server closed the connection)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(1.5)
        got = b""
        while True:
            try:
                chunk = s.recv(65_536)
            except TimeoutError:
                return got, False
            except ConnectionResetError:
                return got, True
            if not chunk:
                return got, True
            got += chunk


def _responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split a byte stream into (status, headers, body) responses (Content-Length framing)."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, raw
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if status == 100:
            out.append((status, headers, b""))
            raw = rest
            continue
        n = int(headers["content-length"])
        out.append((status, headers, rest[:n]))
        raw = rest[n:]
    return out


def _verstat(body: bytes) -> Any:
    return json.loads(body)["verificationResponse"]["verstat"]


def _message_id(body: bytes) -> Any:
    err = json.loads(body)["requestError"]
    return (err.get("serviceException") or err["policyException"])["messageId"]


def test_pipelined_requests_are_answered_in_order(server: ServeProcess, pki: TestPKI) -> None:
    body = _body(pki)
    data = b"".join(
        [
            _post(body, b"X-RequestID: one"),
            b"GET /healthz HTTP/1.1\r\nHost: sk\r\nX-RequestID: two\r\n\r\n",
            _post(b"{", b"X-RequestID: three"),
            _post(body, b"X-RequestID: four"),
        ]
    )
    raw, closed = _exchange(server, data)
    answers = _responses(raw)
    assert [h["x-requestid"] for _, h, _ in answers] == ["one", "two", "three", "four"]
    assert [s for s, _, _ in answers] == [200, 200, 400, 200]
    assert _verstat(answers[0][2]) == _verstat(answers[3][2]) == "TN-Validation-Passed"
    assert not closed  # keep-alive
    assert all("date" in h for _, h, _ in answers)


def test_connection_close_and_http_1_0(server: ServeProcess, pki: TestPKI) -> None:
    raw, closed = _exchange(server, _post(_body(pki), b"Connection: close"))
    [(status, headers, _)] = _responses(raw)
    assert (status, headers["connection"], closed) == (200, "close", True)
    raw, closed = _exchange(server, _post(_body(pki), version=b"1.0"))
    [(status, _, body)] = _responses(raw)
    assert (status, _verstat(body), closed) == (200, "TN-Validation-Passed", True)


def test_expect_100_continue(server: ServeProcess, pki: TestPKI) -> None:
    """curl and libcurl send ``Expect: 100-continue`` before larger bodies."""
    body = _body(pki)
    head, _, _ = _post(body, b"Expect: 100-continue").partition(b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head + b"\r\n\r\n")
        assert s.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        s.settimeout(5)
        raw = b""
        while b"verificationResponse" not in raw or not raw.endswith(b"}"):
            raw += s.recv(65_536)
    [(status, _, answer)] = _responses(raw)
    assert (status, _verstat(answer)) == (200, "TN-Validation-Passed")


def test_chunked_body(server: ServeProcess, pki: TestPKI) -> None:
    body = _body(pki)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 100]), body[i : i + 100])
        for i in range(0, len(body), 100)
    )
    data = (
        b"POST /stir/v1/verification HTTP/1.1\r\nHost: sk\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    [(status, _, answer)] = _responses(_exchange(server, data)[0])
    assert (status, _verstat(answer)) == (200, "TN-Validation-Passed")


def test_head_has_no_body_and_percent_encoded_path(server: ServeProcess, pki: TestPKI) -> None:
    raw, _ = _exchange(server, b"HEAD /healthz HTTP/1.1\r\nHost: sk\r\n\r\n")
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 ") and rest == b""
    raw, _ = _exchange(server, _post(_body(pki), path=b"/stir/v1/verific%61tion"))
    [(status, _, answer)] = _responses(raw)
    assert (status, _verstat(answer)) == (200, "TN-Validation-Passed")


def test_half_closed_client_is_answered(server: ServeProcess, pki: TestPKI) -> None:
    """A client that sends its requests and shuts its side (``nc``, scripts) gets every
    answer, then the connection is closed."""
    body = _body(pki)
    raw, closed = _exchange(server, _post(body) + _post(body), half_close=True)
    assert [s for s, _, _ in _responses(raw)] == [200, 200]
    assert closed


def test_upgrade_request_is_answered_then_closed(server: ServeProcess) -> None:
    """An upgrade (h2c, WebSocket) is not served: the request is answered over HTTP/1.1 (llhttp
    stops at the end of its head: a body after it is not read), then the connection closes."""
    data = (
        b"GET /healthz HTTP/1.1\r\nHost: sk\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
    )
    raw, closed = _exchange(server, data)
    [(status, _, answer)] = _responses(raw)
    assert (status, json.loads(answer)["status"], closed) == (200, "ok", True)


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_malformed_request_is_400_json_and_closed(server: ServeProcess, data: bytes) -> None:
    raw, closed = _exchange(server, data)
    [(status, headers, body)] = _responses(raw)
    assert (status, headers["content-type"], _message_id(body), closed) == (
        400,
        "application/json",
        "SVC4002",
        True,
    )


def test_declared_oversize_body_is_refused_before_it_is_sent(server: ServeProcess) -> None:
    """Content-Length over --max-body: 413 on the head alone, and the connection closed."""
    data = b"POST /stir/v1/verification HTTP/1.1\r\nHost: sk\r\nContent-Length: 999999\r\n\r\n"
    raw, closed = _exchange(server, data)
    [(status, _, body)] = _responses(raw)
    assert (status, _message_id(body), closed) == (413, "SVC4006", True)


def test_oversize_head_attack_too_many_header_fields_is_431(server: ServeProcess) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    raw, closed = _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: sk\r\n" + headers + b"\r\n")
    [(status, _, body)] = _responses(raw)
    assert (status, _message_id(body), closed) == (431, "SVC4310", True)


def test_oversize_head_attack_endless_header_line_is_431(server: ServeProcess) -> None:
    """One header line of up to 32 MB, sent as fast as the socket takes it: refused once the
    head passes MAX_HEAD bytes (llhttp buffers a field until it ends; uvicorn sets no limit)."""
    limit = 32 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: sk\r\nX-Big: ")
        sent = 0
        try:
            while sent < limit:
                s.sendall(b"a" * 65_536)
                sent += 65_536
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(5)
        try:
            raw = s.recv(65_536)
        except (ConnectionResetError, TimeoutError):
            raw = b""
    assert sent < limit or raw, "the server read a 32 MB header line without refusing it"
    if raw:
        [(status, _, body)] = _responses(raw)
        assert (status, _message_id(body)) == (431, "SVC4310")


def test_long_request_line_is_431(server: ServeProcess) -> None:
    raw, closed = _exchange(server, b"GET /" + b"a" * (MAX_HEAD + 10) + b" HTTP/1.1\r\n\r\n")
    [(status, _, body)] = _responses(raw)
    assert (status, _message_id(body), closed) == (431, "SVC4310", True)


def test_keepalive_connection_serves_many_requests(server: ServeProcess, pki: TestPKI) -> None:
    body = _body(pki)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        for _ in range(50):
            s.sendall(_post(body))
            raw = b""
            while not raw.endswith(b"}}"):
                raw += s.recv(65_536)
            [(status, _, answer)] = _responses(raw)
            assert (status, _verstat(answer)) == (200, "TN-Validation-Passed")
