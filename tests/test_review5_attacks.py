"""Review 5: attacks on review 4's fixes (service/http.py: answers at once, SYNC_BATCH and
``_resume``, admission from ``_next``, the queued error answer) and on the refused-URL
negative caching (repository/fetch.py).

In-process where the state attacked is internal (a recording transport, as in
tests/test_review4_attacks.py); the fetcher attacks use a real closed port on 127.0.0.1.
Each real vulnerability was ``xfail(strict=True)`` until its fix flipped it (each failed before).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
pytest.importorskip("httptools", reason="shakenkit serve needs the 'serve' extra")

from shakenkit import Verifier
from shakenkit.repository import FetchError, FetchPolicy
from shakenkit.repository.fetch import Fetcher
from shakenkit.testing import TestPKI, make_pki
from tests.test_review4_attacks import _post, _protocol, _responses

WARM_X5U = "https://cr.example.com/sp/warm.pem"


@pytest.fixture(scope="module")
def warm_pki() -> TestPKI:
    return make_pki(x5u=WARM_X5U, crl_url=None)


def _app(pki: TestPKI) -> Any:
    from shakenkit.service.app import ServiceApp

    return ServiceApp(lambda: Verifier(trust_anchors=[pki.root_pem], certificates={}))


async def _turns(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


# -- SYNC_BATCH / _resume ----------------------------------------------------------------------


async def test_shutdown_while_a_pipelined_batch_waits_its_turn_never_closes(
    warm_pki: TestPKI,
) -> None:
    """Attack (a connection stuck for ever, uvicorn's shutdown waits on it): 20 requests
    answerable at once in one read; the first and SYNC_BATCH more are answered, the rest wait
    for ``_resume`` (call_soon). uvicorn's server calls ``shutdown()`` on every connection
    (SIGTERM) in that window: busy, so it only sets ``closing``; ``_resume`` then sets busy to
    False and, closing, does nothing. Reading is paused and the connection is in no deadline
    table: nothing ever closes it (a task's answer, by contrast, is written with
    ``connection: close`` and closes). A client that keeps a deep pipeline full is in that
    window most of the time."""
    app = _app(warm_pki)
    proto, transport = _protocol(app)
    proto.data_received(b"".join(_post(b"{", b"X-RequestID: r%d" % i) for i in range(20)))
    assert proto.queue  # some wait for _resume
    proto.shutdown()
    await _turns()
    sweeper = proto.sweeper
    stuck = not transport.closed and not (
        proto in sweeper.reading or proto in sweeper.idle or proto in sweeper.draining
    )
    app._deadlines.stop()
    assert not stuck, "connection open, reading paused, no deadline: held for ever"


async def test_guard_connection_lost_while_a_batch_waits_its_turn(warm_pki: TestPKI) -> None:
    """Probe (holds): the client resets while ``_resume`` is pending: nothing is written after
    the loss, no slot is held, the connection is in no table."""
    app = _app(warm_pki)
    proto, transport = _protocol(app)
    proto.data_received(b"".join(_post(b"{", b"X-RequestID: r%d" % i) for i in range(30)))
    assert proto.queue and proto.busy
    transport.closed = True
    proto.connection_lost(ConnectionResetError())
    await _turns()
    sweeper = proto.sweeper
    assert transport.out == []
    assert app.in_flight == 0
    assert proto not in sweeper.reading and proto not in sweeper.idle
    assert not sweeper.unsent
    app._deadlines.stop()


async def test_guard_batch_then_bad_request_then_late_head_answers_once_in_order(
    warm_pki: TestPKI,
) -> None:
    """Probe (holds): 12 requests answered at once, then one llhttp refuses, all in one read:
    the twelve answers in order, then the 400, each once, then the close; a read after it is
    ignored; no slot held."""
    app = _app(warm_pki)
    proto, transport = _protocol(app)
    data = b"".join(_post(b"{", b"X-RequestID: r%d" % i) for i in range(12))
    proto.data_received(data + b"GARBAGE\x00 / HTTP/1.1\r\n\r\n")
    proto.data_received(_post(b"{", b"X-RequestID: late"))
    await _turns()
    answers = _responses(b"".join(transport.out))
    ids = [h.get("x-requestid") for _, h, _ in answers]
    assert ids == [f"r{i}" for i in range(12)] + [None]
    assert answers[-1][0] == 400 and answers[-1][1]["connection"] == "close"
    assert transport.closed
    assert app.in_flight == 0
    app._deadlines.stop()


async def test_guard_head_read_behind_batch_gets_read_deadline_and_slot_once(
    warm_pki: TestPKI,
) -> None:
    """Probe (holds): the head of a request read behind 12 answered at once (its body still to
    come) is admitted once, when the batch is done (one slot, a read deadline), not before."""
    app = _app(warm_pki)
    proto, transport = _protocol(app)
    data = b"".join(_post(b"{", b"X-RequestID: r%d" % i) for i in range(12))
    late = _post(b"{", b"X-RequestID: late")
    proto.data_received(data + late[:-1])
    assert app.in_flight == 0 and proto not in proto.sweeper.reading
    await _turns()
    assert app.in_flight == 1 and proto in proto.sweeper.reading
    proto.data_received(late[-1:])
    await _turns()
    ids = [h.get("x-requestid") for _, h, _ in _responses(b"".join(transport.out))]
    assert ids == [f"r{i}" for i in range(12)] + ["late"]
    assert app.in_flight == 0
    app._deadlines.stop()


# -- refused URLs in the negative cache --------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


def _fetcher(port: int) -> Fetcher[bytes]:
    policy = FetchPolicy(
        allow_hosts=frozenset({f"127.0.0.1:{port}"}),
        connect_timeout=1.0,
        total_timeout=2.0,
        negative_ttl=300.0,
    )
    return Fetcher(lambda body: body, policy=policy)


def _error(fetcher: Fetcher[bytes], url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.get(url)
    return info.value


def test_refused_url_flood_evicts_a_down_hosts_remembered_failure() -> None:
    """Attack (negative-cache flushing): the x5u of a PASSporT is the caller's choice. A
    down host's failure is remembered for negative_ttl so that calls naming it cost a lookup.
    Refused URLs (``http://`` here; a literal private address, a query, a port...) cost no
    I/O and, since they are remembered too, each one takes a slot of the same negative cache
    (4096 entries, 2 MiB by default): a few thousand refused x5u URLs (a few calls with many
    Identity headers) push the down host's record out, and every call naming it tries the
    host again (a connect timeout each, for a real down host). Before, a refusal did not touch
    the cache; filling it needed real failed fetches."""
    port = _closed_port()
    down = f"https://127.0.0.1:{port}/sp/down.pem"
    with _fetcher(port) as fetcher:
        first = _error(fetcher, down)
        assert first.kind != "negative_cache"
        assert _error(fetcher, down).kind == "negative_cache"  # remembered
        for i in range(5000):
            _error(fetcher, f"http://evil.example/{i}.pem")
        again = _error(fetcher, down)
        stats = fetcher.stats()
    assert again.kind == "negative_cache", (again.kind, stats)


def test_refusal_text_differs_between_first_call_and_remembered_one() -> None:
    """Attack (two answers for one input): the refusal is remembered "in the words it was
    first given", but through short_detail (200 characters): a refusal whose reason names a
    long host (a loopback name here) reads one way on the first call and truncated on every
    later one, so the same PASSporT gets a different verdict text (and a different memoised
    verdict body) depending on whether it is the first."""
    host = ".".join(["a" * 60] * 4) + ".localhost"
    url = f"https://{host}/sp/x.pem"
    with _fetcher(_closed_port()) as fetcher:
        first = _error(fetcher, url)
        second = _error(fetcher, url)
    assert first.kind == second.kind == "ssrf"
    assert str(second) == str(first)


def test_guard_remembered_refusal_hides_userinfo_and_query() -> None:
    """Probe (holds): a refused URL carrying userinfo or a query is named redacted, on the
    first call and when answered from the negative cache, and with the same kind."""
    with _fetcher(_closed_port()) as fetcher:
        for url in (
            "https://user:s3cret@cr.example.com/x.pem",
            "https://cr.example.com/x.pem?token=s3cret",
        ):
            first = _error(fetcher, url)
            second = _error(fetcher, url)
            for e in (first, second):
                assert "s3cret" not in str(e) and "s3cret" not in e.url
            assert first.kind == second.kind == "policy"
            assert str(first) == str(second)
