"""Review 4: attacks on the service's synchronous answers (service/http.py answers a warm
verification inside the parser callback and writes the answers of a loop turn together) and
on the verifier's no-wait driver (``_verify_nowait``, the inlined warm path of ``_plan``, the
per-URL CRL outcome memo).

Each test is one attack, named after it. Over raw sockets to a real server process
(tests/serve_process.py) where the behaviour is visible from outside; in-process where the
state attacked is internal (the concurrency counter, the order of writes on one transport).
``xfail(strict=True)`` marks an attack that works on the reviewed code: the fix flips it.
No timed assertions: sleeps only make sure the server has read one part before the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
pytest.importorskip("httptools", reason="shakenkit serve needs the 'serve' extra")

from shakenkit import Policy, Verifier
from shakenkit.testing import TestPKI, make_pki
from tests.https_server import HttpsServer, running_https_server
from tests.serve_process import ServeProcess

T = int(time.time())
ORIG, DEST = "12155551212", "12155551213"
GUARD = 30.0
PATH = b"/stir/v1/verification"
WARM_X5U = "https://cr.example.com/sp/warm.pem"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repo() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


@pytest.fixture(scope="module")
def warm_pki() -> TestPKI:
    return make_pki(x5u=WARM_X5U, crl_url=None)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, warm_pki: TestPKI) -> Path:
    d = tmp_path_factory.mktemp("review4")
    (d / "root.pem").write_bytes(warm_pki.root_pem)
    (d / "warm.pem").write_bytes(warm_pki.chain_pem)
    return d


def _options(repo: HttpsServer, files: Path) -> list[str]:
    return [
        "--trust", str(files / "root.pem"), "--cert", f"{WARM_X5U}={files / 'warm.pem'}",
        "--tls-ca", repo.ca_pem_path, "--allow-host", repo.host_port, "--timeout", "10",
        "--no-crl-fetch", "--read-timeout", "3",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def server(repo: HttpsServer, files: Path) -> Iterator[ServeProcess]:
    """Warm verifications (``--cert``: answered without a task), cold ones (a repository on
    127.0.0.1: answered in a task), and --max-concurrency 1."""
    with ServeProcess([*_options(repo, files), "--max-concurrency", "1"]) as s:
        yield s


# -- helpers ----------------------------------------------------------------------------------


def _request(identity: object) -> bytes:
    req = {"from": {"tn": ORIG}, "to": {"tn": [DEST]}, "time": T, "identity": identity}
    return json.dumps({"verificationRequest": req}).encode()


def _post(body: bytes, *extra: bytes, path: bytes = PATH) -> bytes:
    head = [b"POST " + path + b" HTTP/1.1", b"Host: sk", b"Content-Type: application/json"]
    head += [b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


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


def _read_all(s: socket.socket, quiet: float = 1.5) -> tuple[bytes, bool]:
    """Read until the server closes (True) or is quiet for ``quiet`` seconds (False)."""
    s.settimeout(quiet)
    got = b""
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            return got, False
        except ConnectionResetError:
            return got, True
        if not chunk:
            return got, True
        got += chunk


def _exchange(server: ServeProcess, data: bytes, quiet: float = 1.5) -> tuple[bytes, bool]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=GUARD) as s:
        s.sendall(data)
        return _read_all(s, quiet)


def _verstat(body: bytes) -> Any:
    return json.loads(body)["verificationResponse"]["verstat"]


def _message_id(body: bytes) -> Any:
    err = json.loads(body)["requestError"]
    return (err.get("serviceException") or err["policyException"])["messageId"]


def _https_source(repo: HttpsServer) -> Any:
    from shakenkit.repository import FetchPolicy, HttpsSource

    return HttpsSource(
        FetchPolicy(
            allow_hosts=frozenset({repo.host_port}), tls_ca_file=repo.ca_pem_path, min_ttl=0.0,
            total_timeout=5.0, connect_timeout=2.0,
        )
    )


def _slow_pki(repo: HttpsServer, name: str, delay: float) -> TestPKI:
    pki = make_pki(spc=name[-4:].upper(), x5u=repo.url(f"/sp/{name}.pem"), crl_url=None)
    repo.route(f"/sp/{name}.pem", body=pki.chain_pem, delay=delay)
    return pki


# -- the concurrency slot -------------------------------------------------------------------


def _leak_one_slot(server: ServeProcess) -> None:
    """The attack: request A (answered at once) and the head of request B in one segment; B's
    body later. B's head is parsed while A holds the connection busy, so it is not admitted
    (on_headers_complete returns early); B completes when the connection is idle again, so
    on_message_complete starts it as if it held a slot, and its answer releases one it never
    took: the process's in-flight count drops below zero for good."""
    b_body = b"{"
    b_head = _post(b_body, b"X-RequestID: b")[: -len(b_body)]
    with socket.create_connection(("127.0.0.1", server.port), timeout=GUARD) as s:
        s.sendall(_post(b"{", b"X-RequestID: a") + b_head)
        time.sleep(0.5)  # the server has read (and answered) A and read B's head
        s.sendall(b_body)
        raw = b""
        s.settimeout(GUARD)
        while raw.count(b"x-requestid") < 2:
            chunk = s.recv(65536)
            assert chunk, raw
            raw += chunk
    assert [(st, h["x-requestid"]) for st, h, _ in _responses(raw)] == [(400, "a"), (400, "b")]


@pytest.mark.xfail(
    strict=True,
    reason="a request whose head is read while the connection is busy and whose body comes "
    "after is started without admit() but released: --max-concurrency drifts upward",
)
def test_pipelined_head_then_late_body_leaks_a_concurrency_slot(
    server: ServeProcess, repo: HttpsServer
) -> None:
    """Attack on --max-concurrency 1: leak a slot (see _leak_one_slot), then hold one request
    in progress on a slow repository. A second concurrent request must be refused 503; after
    the leak it is admitted (each repetition of the leak raises the limit by one more)."""
    _leak_one_slot(server)
    pki = _slow_pki(repo, "leak1", 4.0)
    results: list[int] = []

    def slow_call() -> None:
        body = _request(pki.sign(orig=ORIG, dest=DEST, iat=T))
        r = httpx.post(server.url + PATH.decode(), content=body, timeout=GUARD)
        results.append(r.status_code)

    t = threading.Thread(target=slow_call)
    t.start()
    try:
        deadline = time.monotonic() + GUARD
        while repo.count("/sp/leak1.pem") == 0:
            assert time.monotonic() < deadline, "the slow fetch never started"
            time.sleep(0.01)
        r = httpx.post(server.url + PATH.decode(), content=_request("x"), timeout=GUARD)
        assert r.status_code == 503, r.text
    finally:
        t.join(timeout=GUARD)
    assert results == [200]


@contextlib.asynccontextmanager
async def _served(app: Any) -> AsyncIterator[int]:
    """``app`` behind uvicorn and HttpProtocol on this loop (a real socket on 127.0.0.1)."""
    import uvicorn

    from shakenkit.service.http import HttpProtocol

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(
        app, http=HttpProtocol, ws="none", lifespan="off", log_level="warning", loop="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _read_answers(reader: asyncio.StreamReader, n: int) -> list[int]:
    statuses = []
    for _ in range(n):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        statuses.append(int(head.split(b" ", 2)[1]))
    return statuses


@pytest.mark.xfail(
    strict=True,
    reason="a request whose head is read while the connection is busy and whose body comes "
    "after is released without having been admitted (in_flight goes negative)",
)
async def test_pipelined_head_then_late_body_drives_in_flight_negative(
    warm_pki: TestPKI,
) -> None:
    """The same attack in-process, on the counter itself: after the client is answered and
    gone, ``in_flight`` must be 0 (every admitted request released exactly once, nothing
    released that was not admitted)."""
    from shakenkit.service.app import ServiceApp

    app = ServiceApp(
        lambda: Verifier(trust_anchors=[warm_pki.root_pem], certificates={}), max_concurrency=4
    )
    async with _served(app) as port:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            b_body = b"{"
            writer.write(_post(b"{") + _post(b_body)[: -len(b_body)])
            await writer.drain()
            await asyncio.sleep(0.2)  # A answered, B's head read, before B's body
            writer.write(b_body)
            assert await _read_answers(reader, 2) == [400, 400]
            writer.close()
            await writer.wait_closed()
        await asyncio.sleep(0.1)
        assert app.in_flight == 0
    app._deadlines.stop()


async def test_guard_in_flight_is_zero_after_sync_task_and_dropped_answers(
    repo: HttpsServer,
) -> None:
    """Probe (holds): answers at once, in a task, behind one another, and a client gone while
    its request waits on a slow repository: every slot comes back (in_flight 0 at the end)."""
    from shakenkit.service.app import ServiceApp

    slow = _slow_pki(repo, "gone1", 1.0)
    fast = _slow_pki(repo, "fast1", 0.0)  # fetched once, then warm
    source = _https_source(repo)
    app = ServiceApp(
        lambda: Verifier(trust_anchors=[slow.root_pem, fast.root_pem], source=source),
        max_concurrency=4,
    )
    warm = _request(fast.sign(orig=ORIG, dest=DEST, iat=T))
    cold = _request(slow.sign(orig=ORIG, dest=DEST, iat=T))
    await asyncio.to_thread(source.get, repo.url("/sp/fast1.pem"))
    async with _served(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_post(warm) * 3 + _post(b"{") + _post(warm))
        assert await _read_answers(reader, 5) == [200, 200, 200, 400, 200]
        writer.close()
        # A client that leaves while its verification waits.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_post(warm) + _post(cold) + _post(warm))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.transport.abort()
        await asyncio.sleep(2.0)  # the slow fetch has ended
        assert app.in_flight == 0
    app._deadlines.stop()
