"""Fetcher's one implementation behind get() and aget(): the steps of a call and of a flight are
generators that yield the I/O they need (issue 18 item 16). These tests drive the steps by hand
(no I/O: the sans-IO property) and check that a driver interrupted mid-flight releases its
waiters; tests/test_fetch.py covers the behaviour through get()/aget() over real HTTPS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from shakenkit.repository import Fetcher, FetchError, FetchPolicy
from shakenkit.repository.failures import _Failure
from shakenkit.repository.fetch import _Download, _LoadDisk, _StoreDisk
from shakenkit.repository.flight import _Err, _Flight, _Ok

try:  # tests/ as a package, or tests/ itself on sys.path
    from tests.https_server import HttpsServer, https_server
except ImportError:  # pragma: no cover
    from https_server import HttpsServer, https_server  # type: ignore[no-redef,import-not-found]  # noqa: F401

URL = "https://cr.example.com/sp.pem"


def _fetcher(tmp_path: Path) -> Fetcher[bytes]:
    return Fetcher(lambda body: body, policy=FetchPolicy(cache_dir=str(tmp_path)))


def test_flight_steps_release_waiters_before_persisting(tmp_path: Path) -> None:
    """Disk first, then the network; the waiters have the object before the body is written."""
    fetcher = _fetcher(tmp_path)
    flight: _Flight[bytes] = _Flight()
    steps = fetcher._flight_steps(URL, httpx.URL(URL), flight)
    assert steps.send(None) == _LoadDisk(URL)
    assert steps.send(None) == _Download(httpx.URL(URL))
    store = steps.send((b"CERT", httpx.Headers()))
    assert isinstance(store, _StoreDisk) and store.body == b"CERT"
    assert flight.outcome == _Ok(b"CERT", "network")  # released before the write
    with pytest.raises(StopIteration):
        steps.send(None)
    assert fetcher.peek(URL) == b"CERT"


def test_flight_steps_remember_a_failed_download(tmp_path: Path) -> None:
    """A failed download is settled as the failure (negative cache), nothing is persisted."""
    fetcher = _fetcher(tmp_path)
    flight: _Flight[bytes] = _Flight()
    steps = fetcher._flight_steps(URL, httpx.URL(URL), flight)
    steps.send(None)
    steps.send(None)
    with pytest.raises(StopIteration):
        steps.send(_Failure("http_status", "the server answered HTTP 404"))
    assert isinstance(flight.outcome, _Err) and flight.outcome.error.kind == "http_status"
    with pytest.raises(FetchError) as caught:
        fetcher.get(URL)
    assert caught.value.kind == "negative_cache" and caught.value.cause_kind == "http_status"


def test_flight_steps_closed_mid_download_release_waiters_and_cache_nothing(
    tmp_path: Path,
) -> None:
    """A driver interrupted at a step closes the steps: waiters get 'interrupted', no cache."""
    fetcher = _fetcher(tmp_path)
    flight: _Flight[bytes] = _Flight()
    steps = fetcher._flight_steps(URL, httpx.URL(URL), flight)
    steps.send(None)
    steps.send(None)
    steps.close()
    assert isinstance(flight.outcome, _Err) and "interrupted" in str(flight.outcome.error)
    assert fetcher.peek(URL) is None and fetcher.stats()["negative_entries"] == 0


async def test_owner_task_cancelled_mid_fetch_releases_waiters_and_caches_nothing(
    https_server: HttpsServer,
) -> None:
    """The fetch task itself cancelled (its loop shutting down): the callers waiting on it get
    an error at once, not after the wait budget, and the next call fetches again."""
    url = https_server.route("/c", body=b"CERT", delay=0.5)
    policy = FetchPolicy(
        allow_hosts=frozenset({https_server.host_port}), tls_ca_file=https_server.ca_pem_path
    )
    fetcher: Fetcher[bytes] = Fetcher(lambda body: body, policy=policy)
    callers = [asyncio.ensure_future(fetcher.aget(url)) for _ in range(3)]
    await asyncio.sleep(0.1)
    task = fetcher._inflight[url].task
    assert isinstance(task, asyncio.Task)
    task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 2)
    assert all(isinstance(r, FetchError) and "interrupted" in str(r) for r in results)
    assert fetcher.peek(url) is None and fetcher._inflight == {}
    assert await fetcher.aget(url) == b"CERT"
    await fetcher.aclose()
