"""``shakenkit serve`` attacked from the code (an independent review of service/http.py and
service/app.py): each test is one attack, named after it, over raw sockets to a real server
process (tests/serve_process.py).

The memory assertions compare the server's resident size before and after an attack with a
bound far above what the attack should cost and far below what it cost before the fix (the
numbers are in each docstring). No timed assertions: a test waits at most GUARD seconds for the
server to cut an attacker off.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
pytest.importorskip("prometheus_client", reason="shakenkit serve needs the 'serve' extra")

from shakenkit.testing import make_pki
from tests.serve_process import ServeProcess

GUARD = 30.0
MB = 1 << 20


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("review-roots") / "root.pem"
    path.write_bytes(make_pki(x5u="https://cr.example/sp.pem", crl_url=None).root_pem)
    return path


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ServeProcess]:
    with ServeProcess(["--offline", "--trust", str(root), "--read-timeout", "1"]) as s:
        yield s


def _rss(server: ServeProcess) -> int:
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


def _exchange(server: ServeProcess, data: bytes) -> bytes:
    """Send ``data``, then read until the server closes (or GUARD passes)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=GUARD) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
    return received


def _status(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), (json.loads(body) if body.strip() else {})


def _message_id(body: dict[str, Any]) -> str:
    err = body["requestError"]
    return str((err.get("serviceException") or err["policyException"])["messageId"])


def _post(path: str, body: bytes, *extra: bytes) -> bytes:
    head = [b"POST " + path.encode() + b" HTTP/1.1", b"Host: sk", *extra]
    head += [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _flood_without_reading(
    server: ServeProcess, request: bytes, *, limit: int, pace: float = 0.0
) -> tuple[bool, int]:
    """Pipeline ``request`` over one connection and never read an answer, until the server
    cuts the connection off (True), its resident size has grown by ``limit`` bytes, or GUARD
    seconds pass (False). Returns (cut off, growth)."""
    base = _rss(server)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that takes nothing
    s.connect(("127.0.0.1", server.port))
    s.setblocking(False)
    burst = request * max(1, 65536 // len(request)) if not pace else request
    deadline = time.monotonic() + GUARD
    growth = 0
    try:
        while time.monotonic() < deadline:
            growth = max(growth, _rss(server) - base)
            if growth > limit:
                return False, growth
            try:
                s.send(burst)
            except BlockingIOError:
                time.sleep(0.05)
            except (ConnectionResetError, BrokenPipeError):
                return True, growth
            if pace:
                time.sleep(pace)
        return False, growth
    finally:
        s.close()


# -- the write side: a client that does not take its answers ---------------------------------


def test_pipelined_flood_never_reading_answers_buffers_without_bound(root: Path) -> None:
    """Attack: pipeline ``GET /metrics`` (29 bytes in, ~8 KB out) on one connection and never
    read. The protocol had no write flow control (``pause_writing`` was asyncio's no-op), so
    it kept reading, answering and buffering: +80 MB of server memory per connection every
    5 s, the connection never dropped. Now a connection whose unsent answers stay above the
    transport's high-water mark is read no further, and is aborted after --read-timeout."""
    with ServeProcess(["--offline", "--trust", str(root), "--read-timeout", "1"]) as server:
        cut_off, growth = _flood_without_reading(
            server, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", limit=48 * MB
        )
        assert growth <= 48 * MB, f"the server buffered {growth / MB:.0f} MB of answers"
        assert cut_off, "a client that never reads its answers was held open"
        assert _status(_exchange(server, b"GET /healthz HTTP/1.1\r\n\r\n"))[0] == 200


def test_guard_client_that_stops_reading_then_goes_quiet_is_disconnected(root: Path) -> None:
    """Guard: pipeline answers at a slow pace, never read, then go quiet. The idle deadline
    closes the connection; ``transport.close()`` waits for unsent answers to be taken (asyncio's
    loop keeps the descriptor for ever; uvloop hands the socket to the kernel), so a close with
    answers still in the transport's buffer is an abort after --read-timeout."""
    with ServeProcess(["--offline", "--trust", str(root), "--read-timeout", "1"]) as server:
        request = b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", server.port))
        try:
            for _ in range(400):  # ~3 MB of answers, one every 10 ms; never read
                s.sendall(request)
                time.sleep(0.01)
            deadline = time.monotonic() + GUARD  # quiet now: idle deadline 5 s, then close
            cut_off = False
            while time.monotonic() < deadline and not cut_off:
                time.sleep(0.5)
                try:
                    s.send(b"\r\n")  # a reset connection says so here
                except (ConnectionResetError, BrokenPipeError):
                    cut_off = True
            assert cut_off, "a quiet client with unsent answers was held open"
        finally:
            s.close()


def test_deep_pipelining_is_not_queued_without_bound(root: Path) -> None:
    """Attack: 40 connections each pipeline 60,000 ``GET /`` requests (18 bytes each) in one
    send and never read. Every request of a read (uvloop reads 256 KiB at a time) was parsed
    and queued behind the one in progress: ~14,000 queued requests, ~1.9 MB a connection
    (74 MB for 40, 2 GB for 1,000 connections) until the read deadline. Now at most
    MAX_PIPELINED requests wait behind the one in progress; the rest of the connection is not
    read: the queued ones are answered, then the connection is closed."""
    with ServeProcess(["--offline", "--trust", str(root), "--read-timeout", "5"]) as server:
        flood = b"GET / HTTP/1.1\r\n\r\n" * 60_000
        base = _rss(server)
        socks = []
        try:
            for _ in range(40):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", server.port))
                s.setblocking(False)
                socks.append(s)
                with contextlib.suppress(BlockingIOError):
                    s.send(flood)
            time.sleep(1.5)  # let the server read and parse what was sent
            growth = _rss(server) - base
        finally:
            for s in socks:
                s.close()
        assert growth < 24 * MB, f"40 pipelining connections cost {growth / MB:.0f} MB"


def test_guard_pipelined_requests_beyond_the_queue_are_answered_in_order_then_closed(
    server: ServeProcess,
) -> None:
    """Guard: a client that pipelines more than the queue holds gets every answer it is given
    in order (the request in progress and the queued ones), then the connection is closed;
    nothing is answered out of order or twice."""
    from shakenkit.service.http import MAX_PIPELINED

    requests = b"".join(b"GET /nowhere-%d HTTP/1.1\r\n\r\n" % i for i in range(500))
    raw = _exchange(server, requests)
    answers = raw.count(b"HTTP/1.1 404 ")
    assert MAX_PIPELINED < answers < 500
    order = [int(n) for n in re.findall(rb"/nowhere-(\d+)", raw)]
    assert order == list(range(answers))


# -- the read side ---------------------------------------------------------------------------


def test_endless_chunked_trailer_field_is_refused_not_buffered(server: ServeProcess) -> None:
    """Attack: a chunked body whose trailer section is one endless field. httptools buffers a
    header field until it ends (``bytes +=``, quadratic) and the 16 KiB head limit counted
    only the head: the trailer grew until --read-timeout (hundreds of MB a second on a LAN, the
    event loop stalled by the copying). Now trailer bytes count against the same 16 KiB limit:
    431, closed."""
    head = (
        b"POST /stir/v1/verification HTTP/1.1\r\nHost: sk\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n0\r\nX-Pad: "
    )
    sent = 0
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=GUARD) as s:
        s.sendall(head)
        s.settimeout(0.05)
        block = b"a" * 65536
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline and sent < 256 * MB:
            try:
                sent += s.send(block)
            except TimeoutError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                break
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            if b"\r\n\r\n" in received:
                break
    status, body = _status(received)
    assert (status, _message_id(body)) == (431, "SVC4310"), received[:200]
    assert sent < 16 * MB, f"{sent / MB:.0f} MB of one trailer field were read"


def test_many_tiny_chunks_cost_more_than_the_body_cap(root: Path) -> None:
    """Attack: bodies sent as 2-byte chunks (``2\\r\\nab\\r\\n``), held just short of their
    last chunk. Each chunk became a bytes object in a list (~24 bytes of memory per body byte;
    1-byte chunks are CPython's cached singletons, 8): 24 such bodies of 128 KiB cost ~85 MB
    instead of ~3 MB, and --max-concurrency 256 of them ~0.9 GB. Now the body is one buffer."""
    args = ["--offline", "--trust", str(root), "--read-timeout", "20"]
    with ServeProcess(args) as server:
        head = (
            b"POST /stir/v1/verification HTTP/1.1\r\nHost: sk\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        drip = b"2\r\nab\r\n" * 65_500
        base = _rss(server)
        socks = []
        try:
            for _ in range(24):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=GUARD)
                socks.append(s)
                s.sendall(head + drip)
            time.sleep(1.0)  # let the server parse what was sent
            growth = _rss(server) - base
        finally:
            for s in socks:
                s.close()
        assert growth < 40 * MB, f"24 bodies of 128 KiB cost {growth / MB:.0f} MB"


# -- the admin endpoint ----------------------------------------------------------------------


def test_admin_reload_spoofed_by_a_first_x_forwarded_for_field(server: ServeProcess) -> None:
    """Attack, through a loopback proxy that appends its own ``X-Forwarded-For`` field (HAProxy
    ``option forwardfor`` adds a field; it does not edit the client's): the client sends
    ``X-Forwarded-For: 127.0.0.1``, the proxy adds ``X-Forwarded-For: 203.0.113.7``. The app
    read the first field only and took the remote client for loopback. Fields of one name are
    one comma-separated list (RFC 9110 section 5.3): the rightmost non-loopback hop is the
    client, refused."""
    raw = _exchange(
        server,
        _post(
            "/admin/reload",
            b"",
            b"X-Forwarded-For: 127.0.0.1",
            b"X-Forwarded-For: 203.0.113.7",
        ),
    )
    assert _status(raw)[0] == 403, raw[:300]
    assert _message_id(_status(raw)[1]) == "POL4051"


def test_guard_admin_reload_x_forwarded_for_loopback_hops_only_is_loopback(
    server: ServeProcess,
) -> None:
    """Guard: a local proxy relaying a local client (every hop loopback) still reaches the
    admin endpoint, whether the hops come in one field or several."""
    raw = _exchange(
        server,
        _post("/admin/reload", b"", b"X-Forwarded-For: 127.0.0.1", b"X-Forwarded-For: ::1"),
    )
    assert _status(raw)[0] == 200, raw[:300]


# -- hostile JSON ----------------------------------------------------------------------------


def _verification(**fields: Any) -> dict[str, Any]:
    req = {"from": {"tn": "12155551212"}, "to": {"tn": ["12155551213"]}, **fields}
    return {"verificationRequest": req}


def test_huge_integer_time_is_400_not_500(server: ServeProcess) -> None:
    """Attack: ``"time": 1e400`` written as a 401-digit integer. orjson refuses it, the
    standard parser makes an int, and ``float()`` of it raised OverflowError (not a
    ValueError): a 500 and a traceback in the log per request. Now 400 SVC4005."""
    body = json.dumps(_verification(identity="x")).replace(
        '"identity"', '"time": 1' + "0" * 400 + ', "identity"'
    )
    raw = _exchange(server, _post("/stir/v1/verification", body.encode()))
    status, answer = _status(raw)
    assert (status, _message_id(answer)) == (400, "SVC4005"), raw[:300]


def test_lone_surrogate_in_raw_sip_is_answered_not_500(server: ServeProcess) -> None:
    """Attack: the ``sip`` extension carrying a lone surrogate escape (``\\ud800``, which the
    standard JSON parser accepts after orjson refuses it). Encoding it raised
    UnicodeEncodeError: a 500 and a traceback in the log. Now the request is answered 400."""
    body = b'{"verificationRequest": {"sip": "INVITE sip:1@a SIP/2.0\\ud800\\r\\n\\r\\n"}}'
    raw = _exchange(server, _post("/stir/v1/verification", body))
    status, answer = _status(raw)
    assert status == 400, raw[:300]
    assert _message_id(answer) == "SVC4005"


def test_lone_surrogate_in_identity_is_answered_not_500(server: ServeProcess) -> None:
    """Attack: an ``identity`` with a lone surrogate escape: a verdict or a 400, never 500."""
    body = json.dumps(_verification(identity="eyJ\ud800.x.y;info=<https://a/>")).encode()
    raw = _exchange(server, _post("/stir/v1/verification", body))
    assert _status(raw)[0] in (200, 400), raw[:300]


@pytest.mark.parametrize("where", ["waiting", "at_once"])
async def test_failing_verification_leaves_no_task_in_the_deadline_tables(
    root: Path, where: str
) -> None:
    """Attack (on a verifier bug an input can reach): a verification that raises (answered
    500) was never unwatched: its task stayed in the deadline table until its deadline, then
    in the ``expired`` set for ever, holding its traceback and with it the request body (up to
    --max-body) per failed request. In-process, since the tables are internal state. Both
    where the verification waits (a fetch: the deadline watches it) and where it raises before
    any wait (the service answers warm calls without a task)."""
    import asyncio

    import httpx

    from shakenkit import Verifier
    from shakenkit.service.app import ServiceApp

    class Failing:
        async def finish(self) -> Any:
            await asyncio.sleep(0)
            raise RuntimeError("boom")

    class Broken(Verifier):
        def _verify_nowait(self, *args: Any, **kw: Any) -> Any:
            if where == "at_once":
                raise RuntimeError("boom")
            return Failing()

    app = ServiceApp(
        lambda: Broken(trust_anchors=[root.read_bytes()], certificates={}), verify_deadline=0.1
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sk") as c:
        for _ in range(3):
            r = await c.post("/stir/v1/verification", json=_verification(identity="x"))
            assert r.status_code == 500
        await asyncio.sleep(0.4)  # past the deadline: the sweeper has looked
    deadlines = app._deadlines
    assert not deadlines._due and not deadlines.expired
    deadlines.stop()


# -- guards: smuggling shapes refused by llhttp (verified, pinned) ---------------------------


@pytest.mark.parametrize(
    "data",
    [
        # Content-Length and Transfer-Encoding together (RFC 9112 section 6.1: smuggling).
        b"POST /healthz HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        # Two Content-Length fields, even equal ones.
        b"POST /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        # obs-fold: a continuation line would smuggle a header into x-requestid's echo.
        b"GET /healthz HTTP/1.1\r\nX-RequestId: a\r\n Set-Cookie: x\r\n\r\n",
        # A bare CR inside a field value (response splitting through the echo).
        b"GET /healthz HTTP/1.1\r\nX-RequestId: a\rSet-Cookie: x\r\n\r\n",
        # chunked not last: the body's length cannot be known.
        b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        # A chunk size past 64 bits.
        b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
    ],
    ids=[
        "cl-and-te",
        "duplicate-cl",
        "obs-fold",
        "bare-cr",
        "te-chunked-not-last",
        "chunk-overflow",
    ],
)
def test_guard_smuggling_shapes_are_400_and_closed(server: ServeProcess, data: bytes) -> None:
    """Guard: request shapes that front proxies and this parser could frame differently are
    refused with 400 SVC4002 and the connection closed, nothing after them answered."""
    raw = _exchange(server, data + b"GET /healthz HTTP/1.1\r\n\r\n")
    assert raw.count(b"HTTP/1.1 ") == 1, raw
    status, body = _status(raw)
    assert (status, _message_id(body)) == (400, "SVC4002")
    assert b"set-cookie" not in raw.lower()


def test_percent_encoded_newline_in_path_cannot_forge_access_log_lines(root: Path) -> None:
    """The request path is percent-decoded before it is logged: a %0a would start a forged
    access-log line ("127.0.0.1 ... 200") unless the path is escaped."""
    with ServeProcess([
        "--offline", "--trust", str(root), "--access-log", "--log-level", "info"
    ]) as s:
        forged = "/x%0a127.0.0.1%20%22POST%20/admin/reload%22%20200"
        _exchange(s, f"GET {forged} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
        time.sleep(0.3)
        lines = [ln for ln in s.log.splitlines() if "admin/reload" in ln]
    assert lines, "the request was not logged"
    assert all(not ln.lstrip().startswith("127.0.0.1") for ln in lines), lines
    assert any("\\n" in ln for ln in lines)
