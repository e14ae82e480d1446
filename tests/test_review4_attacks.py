"""Review 4: attacks on the service's synchronous answers (service/http.py answers a warm
verification inside the parser callback and writes the answers of a loop turn together) and
on the verifier's no-wait driver (``_verify_nowait``, the inlined warm path of ``_plan``, the
per-URL CRL outcome memo).

Each test is one attack, named after it. Over raw sockets to a real server process
(tests/serve_process.py) where the behaviour is visible from outside; in-process where the
state attacked is internal (the concurrency counter, the order of writes on one transport).
Each attack that worked on the reviewed code failed before its fix (it was ``xfail(strict=True)``
until the fix flipped it).
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
from typing import Any, cast

import httpx
import pytest

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
pytest.importorskip("httptools", reason="shakenkit serve needs the 'serve' extra")

from shakenkit import Policy, Verifier
from shakenkit.testing import TestPKI, make_pki
from tests.https_server import HttpsServer, running_https_server
from tests.serve_process import ServeProcess
from tests.test_serve_http import _responses

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
            allow_hosts=frozenset({repo.host_port}),
            tls_ca_file=repo.ca_pem_path,
            min_ttl=0.0,
            total_timeout=5.0,
            connect_timeout=2.0,
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


# -- order and completeness of the answers ----------------------------------------------------


def test_guard_mixed_pipeline_sync_and_task_answers_in_order_none_after_close(
    server: ServeProcess, repo: HttpsServer, warm_pki: TestPKI
) -> None:
    """Probe (holds): one segment pipelines warm verifications (answered at once), a cold one
    (a task, on a slow repository), a 400, and a ``Connection: close`` request. The answers
    come in request order, and the one that asked to close says so and the connection
    closes."""
    slow = _slow_pki(repo, "order1", 0.5)
    warm = _request(warm_pki.sign(orig=ORIG, dest=DEST, iat=T))
    cold = _request(slow.sign(orig=ORIG, dest=DEST, iat=T))
    data = b"".join(
        [
            _post(warm, b"X-RequestID: 1"),
            _post(cold, b"X-RequestID: 2"),
            _post(warm, b"X-RequestID: 3"),
            _post(b"{", b"X-RequestID: 4"),
            _post(warm, b"X-RequestID: 5", b"Connection: close"),
        ]
    )
    # --max-concurrency 1 is this connection's own: one request at a time, so no 503.
    raw, closed = _exchange(server, data, quiet=GUARD)
    answers = _responses(raw)
    assert [h["x-requestid"] for _, h, _ in answers] == ["1", "2", "3", "4", "5"]
    assert [s for s, _, _ in answers] == [200, 200, 200, 400, 200]
    assert [h.get("connection") for _, h, _ in answers] == [None] * 4 + ["close"]
    assert closed


def test_guard_pipelined_beyond_the_queue_with_answers_at_once_then_close(
    server: ServeProcess,
) -> None:
    """Probe (holds): MAX_PIPELINED when every answer is given at once. One segment (small
    enough for one read) of 200 requests answered without a task (400, bad JSON): the first
    is answered in the parser callback, 64 are queued, the rest are not parsed; those 65 come
    back in order and the connection is closed. (Spread over several reads, the close finds
    unread input and the kernel resets the connection: see the review report.)"""
    from shakenkit.service.http import MAX_PIPELINED

    data = b"".join(_post(b"{", b"X-RequestID: %d" % i) for i in range(200))
    assert len(data) < 32_768
    raw, closed = _exchange(server, data, quiet=GUARD)
    answers = _responses(raw)
    ids = [int(h["x-requestid"]) for _, h, _ in answers]
    assert ids == list(range(MAX_PIPELINED + 1))
    assert all(s == 400 for s, _, _ in answers)
    assert closed


def test_bad_request_pipelined_last_drops_the_answers_of_the_valid_ones_before_it(
    server: ServeProcess, warm_pki: TestPKI
) -> None:
    """Attack (answers lost): four valid warm requests, then bytes llhttp refuses (here: data
    after a ``Connection: close`` request, an easy client mistake; a malformed or oversized
    request does the same) in one segment. The first is answered at once; the three queued
    behind it are dropped with the bad one and the connection closes: the client cannot tell
    which of its requests were processed. Same before the review's change (the first answer
    then said ``connection: close``). Expected: the valid ones answered, in order, then the
    error (or at least the close)."""
    warm = _request(warm_pki.sign(orig=ORIG, dest=DEST, iat=T))
    data = b"".join(_post(warm, b"X-RequestID: %d" % i) for i in range(3))
    data += _post(warm, b"X-RequestID: 3", b"Connection: close") + _post(warm)
    raw, closed = _exchange(server, data, quiet=GUARD)
    answers = _responses(raw)
    assert [h["x-requestid"] for _, h, _ in answers][:4] == ["0", "1", "2", "3"]
    assert closed


def test_upgrade_pipelined_behind_a_warm_request_is_answered(
    server: ServeProcess, warm_pki: TestPKI
) -> None:
    """Attack (answers lost): a warm verification and, in the same segment, an h2c upgrade
    request. Both must be answered (the upgrade over HTTP/1.1, as when it comes alone), then
    the connection closes. On the reviewed code the warm answer goes out without
    ``connection: close`` and the connection is closed with the upgrade request unanswered
    (before it, the warm answer said ``connection: close`` and the upgrade was dropped too)."""
    warm = _request(warm_pki.sign(orig=ORIG, dest=DEST, iat=T))
    upgrade = (
        b"GET /healthz HTTP/1.1\r\nHost: sk\r\nX-RequestID: up\r\n"
        b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
    )
    raw, closed = _exchange(server, _post(warm, b"X-RequestID: w") + upgrade)
    answers = _responses(raw)
    assert [(s, h["x-requestid"]) for s, h, _ in answers] == [(200, "w"), (200, "up")]
    assert closed


class _Transport:
    """The socket side of one connection, recording what the protocol writes (in-process)."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


def _protocol(app: Any) -> tuple[Any, _Transport]:
    from types import SimpleNamespace

    from shakenkit.service.http import HttpProtocol

    config = SimpleNamespace(loaded=True, loaded_app=app, timeout_keep_alive=5, access_log=False)
    state = SimpleNamespace(connections=set(), tasks=set(), total_requests=0, default_headers=[])
    proto = HttpProtocol(config, state, _loop=asyncio.get_running_loop())
    transport = _Transport()
    proto.connection_made(cast(asyncio.BaseTransport, transport))
    return proto, transport


async def test_100_continue_overtakes_the_previous_answer(warm_pki: TestPKI) -> None:
    """Attack (answers out of order): request A is answered at once (its answer waits for the
    sweeper's flush at the end of the loop turn); in the next read of the same turn, request
    B's head asks ``Expect: 100-continue``, which is written to the transport directly, so the
    client reads ``100 Continue`` before A's answer, and takes it as A's interim response.
    uvloop does call ``data_received`` twice in one turn: libuv reads a socket again at once
    when a read filled its 256000-byte buffer. The two reads are made here directly on the
    protocol (in-process, a recording transport) since the turn cannot be steered over a
    socket."""
    from shakenkit.service.app import ServiceApp

    app = ServiceApp(lambda: Verifier(trust_anchors=[warm_pki.root_pem], certificates={}))
    proto, transport = _protocol(app)
    b_head = _post(b"{", b"Expect: 100-continue")[:-1]
    proto.data_received(_post(b"{", b"X-RequestID: a"))  # answered at once (400)
    proto.data_received(b_head)  # the next read of the same loop turn
    await asyncio.sleep(0)  # the turn ends: the sweeper flushes
    await asyncio.sleep(0)
    written = b"".join(transport.out)
    assert written.index(b"x-requestid: a") < written.index(b"100 Continue"), written
    app._deadlines.stop()


async def test_pipelined_flood_in_one_read_does_not_hold_the_loop(warm_pki: TestPKI) -> None:
    """Attack (fairness): 40 requests in one read, each answerable at once. Answered in one go,
    they held the event loop for all 40 verifications while other connections waited (before,
    each was a task of its own). Now the first and then at most SYNC_BATCH more are answered
    before the loop's next turn; all 40 still come back, in order."""
    from shakenkit.service.app import ServiceApp
    from shakenkit.service.http import SYNC_BATCH

    app = ServiceApp(lambda: Verifier(trust_anchors=[warm_pki.root_pem], certificates={}))
    proto, transport = _protocol(app)
    proto.data_received(b"".join(_post(b"{", b"X-RequestID: r%d" % i) for i in range(40)))
    assert len(proto.sweeper.unsent) == 1 + SYNC_BATCH  # the rest wait for the next turns
    for _ in range(40):
        await asyncio.sleep(0)
    written = b"".join(transport.out)
    at = [written.index(b"x-requestid: r%d\r\n" % i) for i in range(40)]
    assert at == sorted(at)
    assert app.in_flight == 0
    app._deadlines.stop()


async def test_guard_unsent_answers_are_dropped_with_their_connection(warm_pki: TestPKI) -> None:
    """Probe (holds): a connection lost with answers still in the sweeper's unsent list does
    not get them written after it is gone, and leaves nothing in the sweeper's tables."""
    from shakenkit.service.app import ServiceApp

    app = ServiceApp(lambda: Verifier(trust_anchors=[warm_pki.root_pem], certificates={}))
    proto, transport = _protocol(app)
    proto.data_received(_post(b"{") * 3)
    assert len(proto.sweeper.unsent) == 3 and transport.out == []
    transport.closed = True
    proto.connection_lost(None)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    sweeper = proto.sweeper
    assert transport.out == []
    assert not sweeper.unsent
    assert proto not in sweeper.reading and proto not in sweeper.idle
    assert proto not in sweeper.draining
    assert app.in_flight == 0
    app._deadlines.stop()


# -- the verification deadline ---------------------------------------------------------------


def test_guard_warm_headers_then_a_hanging_fetch_still_get_the_436_deadline_verdict(
    repo: HttpsServer, files: Path, warm_pki: TestPKI
) -> None:
    """Probe (holds): a call whose first Identity headers are warm (checked without waiting,
    before the deadline watches anything) and whose last one names a repository that hangs:
    answered within --verify-deadline with a 436 verdict, and the worker serves again."""
    hang = _slow_pki(repo, "hang1", 20.0)
    warm_wrong = warm_pki.sign(orig=ORIG, dest="19995550000", iat=T)  # fails its numbers
    headers = [warm_wrong] * 3 + [hang.sign(orig=ORIG, dest=DEST, iat=T)]
    args = [*_options(repo, files), "--verify-deadline", "1", "--timeout", "30"]
    with ServeProcess(args) as s:
        r = httpx.post(
            s.url + "/stir/v1/verification?detail=1", content=_request(headers), timeout=GUARD
        )
        assert r.status_code == 200, r.text
        answer = r.json()["verificationResponse"]
        assert (answer["verstat"], answer["reasoncode"]) == ("TN-Validation-Failed", 436)
        assert answer["verdict"]["error"]["check"] == "verify_deadline"
        warm = _request(warm_pki.sign(orig=ORIG, dest=DEST, iat=T))
        r = httpx.post(s.url + PATH.decode(), content=warm, timeout=GUARD)
        assert _verstat(r.content) == "TN-Validation-Passed"


# -- the verifier's no-wait driver --------------------------------------------------------------


class _MemorySource:
    """A chain and CRL source in memory (same object for every answer, as a cache gives),
    peekable for the URLs in ``held``; get/aget answer the rest (the "fetch")."""

    def __init__(self, chains: dict[str, Any], crls: dict[str, Any], held: set[str]) -> None:
        self.chains, self.crls, self.held = chains, crls, held

    def get(self, url: str) -> Any:
        from shakenkit.errors import CertificateFetchError

        if url not in self.chains:
            raise CertificateFetchError(f"no chain at {url}", kind="not_found")
        return self.chains[url]

    async def aget(self, url: str) -> Any:
        return self.get(url)

    def get_crl(self, url: str) -> Any:
        from shakenkit.errors import CertificateFetchError

        if url not in self.crls:
            raise CertificateFetchError(f"no CRL at {url}", kind="not_found")
        return self.crls[url]

    async def aget_crl(self, url: str) -> Any:
        return self.get_crl(url)


class _PeekableMemorySource(_MemorySource):
    def peek(self, url: str) -> Any:
        return self.chains.get(url) if url in self.held else None

    def peek_crl(self, url: str) -> Any:
        return self.crls.get(url) if url in self.held else None


class _ReferencePlan(Verifier):
    """``_plan`` as the rules say (before it was inlined): ``_without_io``, then the source."""

    def _plan(self, request: Any, budget: Any) -> Any:
        from shakenkit.core.verifier import _NEEDS_IO

        answer = self._without_io(request, budget)
        return answer if answer is not _NEEDS_IO else self._source_call(request)


@pytest.fixture(scope="module")
def budget_world() -> dict[str, Any]:
    """Three SPs under one root, each with its own x5u and CRL URL; a STI-PA CRL signer whose
    CRL for sp2 revokes it."""
    from cryptography import x509

    from shakenkit import parse_chain
    from shakenkit.testing import make_crl_signer

    sti_pa = make_crl_signer()
    first = make_pki(spc="701A", x5u="https://cr.example/sp1.pem", crl_url="https://crl.example/1")
    root_key = first.root_key if hasattr(first, "root_key") else None
    pkis = [first]
    for i in (2, 3):
        pkis.append(
            make_pki(
                spc=f"70{i}A",
                x5u=f"https://cr.example/sp{i}.pem",
                crl_url=f"https://crl.example/{i}",
                root_key=root_key,
            )
        )
    chains = {p.x5u: parse_chain(p.chain_pem) for p in pkis}
    crls = {
        "https://crl.example/1": (x509.load_pem_x509_crl(sti_pa.crl()),),
        "https://crl.example/2": (x509.load_pem_x509_crl(sti_pa.crl([pkis[1].leaf_der])),),
        "https://crl.example/3": (x509.load_pem_x509_crl(sti_pa.crl()),),
    }
    return {"sti_pa": sti_pa, "pkis": pkis, "chains": chains, "crls": crls}


def _dump(v: Any) -> Any:
    return v.model_dump(mode="json")


@pytest.mark.parametrize("peekable", [True, False], ids=["peek", "no-peek"])
@pytest.mark.parametrize(
    ("x5u_limit", "crl_limit", "deadline", "held"),
    [
        (3, 3, 5.0, "all"),
        (1, 3, 5.0, "all"),
        (1, 3, 5.0, "none"),
        (2, 1, 5.0, "all"),
        (2, 1, 5.0, "chains"),
        (3, 0, 5.0, "all"),
        (3, 3, 1e-9, "all"),
        (3, 3, 1e-9, "none"),
        (1, 1, 5.0, "sp2"),
    ],
)
async def test_guard_inlined_plan_gives_the_verdicts_of_the_budget_rules(
    budget_world: dict[str, Any],
    peekable: bool,
    x5u_limit: int,
    crl_limit: int,
    deadline: float,
    held: str,
) -> None:
    """Probe (holds): the warm path written out in ``_plan`` (budget accounting, then peek)
    against ``_without_io`` + ``_source_call`` (the rules it copies), for sources with and
    without peek, within and past max_x5u_per_call / max_crl_urls_per_call, with the call
    deadline spent, with the revoking CRL held or not: the same verdict from verify, averify
    and the service's no-wait driver, for calls ordering the headers both ways."""

    pkis = budget_world["pkis"]
    chains, crls = budget_world["chains"], budget_world["crls"]
    keep = {
        "all": set(chains) | set(crls),
        "none": set(),
        "chains": set(chains),
        "sp2": {pkis[1].x5u, "https://crl.example/2"},
    }[held]
    now = time.time()
    headers = [p.sign(orig=ORIG, dest=DEST, iat=int(now)) for p in pkis]
    for order in (headers, headers[::-1], [headers[1], headers[0], headers[1]]):
        seen = []
        for cls in (Verifier, _ReferencePlan):
            kind = _PeekableMemorySource if peekable else _MemorySource
            source = kind(chains, crls, keep)
            v = cls(
                trust_anchors=[pkis[0].root_pem, pkis[1].root_pem, pkis[2].root_pem],
                source=source,
                crl_source=source,
                crl_signers=[budget_world["sti_pa"].pem],
                policy=Policy(
                    max_x5u_per_call=x5u_limit,
                    max_crl_urls_per_call=crl_limit,
                    call_deadline=deadline,
                ),
            )
            sync = _dump(v.verify(order, orig=ORIG, dest=DEST, now=now))
            asy = _dump(await v.averify(order, orig=ORIG, dest=DEST, now=now))
            got = v._verify_nowait(order, ORIG, DEST, now)
            nowait = _dump(got if not hasattr(got, "finish") else await got.finish())
            assert sync == asy == nowait
            seen.append(sync)
        assert seen[0] == seen[1]


def test_crl_source_updating_its_list_in_place_revocation_is_not_missed(
    budget_world: dict[str, Any],
) -> None:
    """Attack on the per-URL CRL outcome memo: an operator's own CrlSource (no peek) keeps one
    list per URL and, when a new CRL arrives, replaces its content in place (``crls[:] =
    [new]``), returning the same list object. Before the memo every call read the list; now a
    call after the update reuses the outcome built for the old content, and a certificate the
    new CRL revokes passes. (CrlList is typed ``tuple``; nothing checks it at run time.)"""
    from cryptography import x509

    sti_pa, pkis = budget_world["sti_pa"], budget_world["pkis"]
    victim = pkis[1]
    live = [x509.load_pem_x509_crl(sti_pa.crl())]  # nothing revoked yet

    class ListCrlSource:
        def get_crl(self, url: str) -> Any:
            return live

        async def aget_crl(self, url: str) -> Any:
            return live

    v = Verifier(
        trust_anchors=[victim.root_pem],
        certificates={victim.x5u: victim.chain_pem},
        crl_source=ListCrlSource(),
        crl_signers=[sti_pa.pem],
        policy=Policy(),
    )
    now = time.time()
    header = victim.sign(orig=ORIG, dest=DEST, iat=int(now))
    assert v.verify(header, orig=ORIG, dest=DEST, now=now).passed
    live[:] = [x509.load_pem_x509_crl(sti_pa.crl([victim.leaf_der]))]  # the key leaked
    after = v.verify(header, orig=ORIG, dest=DEST, now=now)
    assert not after.passed and after.error is not None and after.error.check == "crl", after.checks
