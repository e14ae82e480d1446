"""Parallel runners: verify and aggregate on ``workers`` processes, each with its own verifier,
input streamed in chunks with a bounded number in flight and output in input order
(:func:`verify_calls`, :func:`verify_many`, :func:`analyze`, :func:`analyze_files`).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from multiprocessing.context import BaseContext
from typing import IO, Any, NamedTuple, TypeVar

from ..core.sip_message import DEFAULT_MAX_MESSAGE_BYTES
from ..core.verifier import Verifier
from ..sip.capture import CallRecord, CaptureError, read_records, sniff_format
from .aggregates import Aggregator, LookupQuery
from .config import VerifierConfig, verifier_for
from .evidence import Evidence
from .outputs import _csv_cell
from .records import VERDICT_COLUMNS, VerdictRecord, _chunks, _Item, _prepare, _Skip, _verify_item

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "analyze",
    "analyze_files",
    "verify_calls",
    "verify_many",
]


DEFAULT_CHUNK_SIZE = 2000
"""Records per chunk sent to a worker: ~0.2 s of work, so scheduling overhead stays small."""


# In a worker process of analyze(): the aggregate of every chunk this process verified, handed
# over once at the end (_flush_worker), so partial aggregates do not travel with each chunk.
_POOL_AGG: Aggregator | None = None

_POOL_BARRIER: Any = None

# In a worker process of analyze(): the evidence its aggregate joins the calls with, received
# once (inherited on fork, pickled once on spawn), never with each chunk.
_POOL_EVIDENCE: Evidence | None = None

FLUSH_TIMEOUT = 300.0


def _init_worker(
    config: VerifierConfig, barrier: Any = None, evidence: Evidence | None = None
) -> None:
    global _POOL_AGG, _POOL_BARRIER, _POOL_EVIDENCE
    _POOL_AGG, _POOL_BARRIER, _POOL_EVIDENCE = None, barrier, evidence
    verifier_for(config)  # build it before the first chunk arrives


def _verify_chunk(config: VerifierConfig, items: list[_Item]) -> list[VerdictRecord]:
    verifier = verifier_for(config)
    return [_verify_item(verifier, it) for it in items]


_T = TypeVar("_T")


def _ordered(
    chunks: Iterator[Any],
    fn: Callable[..., _T],
    args: tuple[Any, ...],
    config: VerifierConfig,
    workers: int,
    window: int | None,
    mp_context: BaseContext | None = None,
) -> Iterator[_T]:
    """``fn(config, chunk, *args)`` for each chunk on ``workers`` processes, results in input
    order, at most ``window`` chunks in flight (memory stays bounded)."""
    limit = window if window is not None else 4 * workers
    pending: deque[Future[_T]] = deque()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=mp_context, initializer=_init_worker, initargs=(config,)
    )
    try:
        for chunk in chunks:
            pending.append(pool.submit(fn, config, chunk, *args))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _workers(workers: int) -> int:
    if workers == 0:
        return os.cpu_count() or 1
    if workers < 0:
        raise ValueError("workers must be >= 0 (0: one per CPU)")
    return workers


def _resolve(
    verifier: Verifier | VerifierConfig, workers: int
) -> tuple[Verifier | None, VerifierConfig | None]:
    if isinstance(verifier, VerifierConfig):
        return (verifier_for(verifier) if workers <= 1 else None), verifier
    if isinstance(verifier, Verifier):
        if workers > 1:
            raise TypeError(
                "workers > 1 needs a VerifierConfig: a Verifier cannot be sent to other "
                "processes (each worker builds its own from the configuration)"
            )
        return verifier, None
    raise TypeError("verifier must be a Verifier or a VerifierConfig")


def verify_calls(
    verifier: Verifier,
    records: Iterable[object],
    *,
    now: float | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[VerdictRecord]:
    """Verify records in this process, one :class:`VerdictRecord` per call, in order.

    Records are :class:`~shakenkit.sip.CallRecord` (what
    :func:`~shakenkit.sip.read_records` yields), :class:`Call`, or mappings with the keys
    ``identity`` (a value or a list), ``orig``, ``dest``, ``time`` (Unix seconds or ISO 8601),
    and optional ``call_id``, ``source``, ``frame``, ``line``, ``date``. A record that cannot be
    used (an invalid JSON Lines line, a mapping with a bad field) is skipped and reported to
    ``on_skip(where, why)``. Freshness is judged at the call's own time unless ``now`` is given.
    """
    for item in _chunks_single(records, now, on_skip):
        yield _verify_item(verifier, item)


def _chunks_single(
    records: Iterable[object], now: float | None, on_skip: Callable[[str, str], None] | None
) -> Iterator[_Item]:
    for rec in records:
        item = _prepare(rec, now)
        if isinstance(item, _Skip):
            if on_skip is not None:
                on_skip(item.where, item.why)
            continue
        yield item


def verify_many(
    records: Iterable[object],
    verifier: Verifier | VerifierConfig,
    *,
    workers: int = 1,
    now: float | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    window: int | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    mp_context: BaseContext | None = None,
) -> Iterator[VerdictRecord]:
    """Verify records on ``workers`` processes (1: in this process; 0: one per CPU), yielding
    one :class:`VerdictRecord` per call in input order.

    With ``workers > 1``, ``verifier`` must be a :class:`VerifierConfig`: each process builds
    its verifier once and keeps its own certificate cache. Records travel in chunks of
    ``chunk_size``, at most ``window`` chunks (default ``4 * workers``) in flight, so memory
    stays flat on inputs of any length. Records are as for :func:`verify_calls`.
    ``mp_context`` picks how worker processes start (default: the platform's; a
    ``multiprocessing.get_context("spawn")`` or ``"forkserver"`` when this process runs
    threads of its own).
    """
    n = _workers(workers)
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    local, config = _resolve(verifier, n)
    if local is not None:
        yield from verify_calls(local, records, now=now, on_skip=on_skip)
        return
    assert config is not None
    for out in _ordered(
        _chunks(records, now, chunk_size, on_skip), _verify_chunk, (), config, n, window, mp_context
    ):
        yield from out


class _Slice(NamedTuple):
    """Whole lines of a JSON Lines input (``first_line`` is the number of the first one):
    parsed on the worker, so reading scales with the workers too."""

    name: str
    data: bytes
    first_line: int


_Task = list[_Item] | _Slice

DEFAULT_SLICE_BYTES = 1 << 20
"""Bytes of JSON Lines per task (about 1,000 to 1,500 calls, ~0.15 s of work)."""


def _slice_records(name: str, data: bytes, first_line: int) -> Iterator[CallRecord]:
    """The records of a slice, read by :func:`~shakenkit.sip.read_records` itself (so
    every line is judged exactly as when the whole file is read), numbered as in the file."""
    pad = first_line > 1
    # A slice after the first starts with a placeholder object line, so that the format is
    # sniffed as JSON Lines whatever the slice's own first line holds; its record is dropped.
    stream = io.BytesIO(b"{}\n" + data if pad else data)
    stream.name = name
    shift = first_line - 1 - int(pad)
    for rec in read_records(stream):
        if pad and rec.line == 1:
            continue
        yield rec if not shift or rec.line is None else replace(rec, line=rec.line + shift)


def _jsonl_slices(
    f: io.BufferedIOBase | IO[bytes], name: str, size: int, limit: int = DEFAULT_MAX_MESSAGE_BYTES
) -> Iterator[_Slice]:
    """Cut a JSON Lines stream into slices of whole lines of about ``size`` bytes. A line over
    ``limit`` bytes is cut short (still over the limit, so read as the same invalid record):
    memory stays bounded whatever the input."""
    line, carry, skipping = 1, b"", False
    while True:
        block = f.read(size)
        if not block:
            break
        if skipping:
            j = block.find(b"\n")
            if j < 0:
                continue
            block, skipping = block[j:], False
        buf = carry + block
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            if len(buf) > limit + 1:
                buf, skipping = buf[: limit + 2], True
            carry = buf
            continue
        data, carry = buf[:cut], buf[cut:]
        yield _Slice(name, data, line)
        line += data.count(b"\n")
    if carry:
        yield _Slice(name, carry, line)


class _ChunkResult(NamedTuple):
    jsonl: str | None
    csv: str | None
    skips: list[tuple[str, str]]
    calls: int = 0


def _analyze_task(
    verifier: Verifier,
    task: _Task,
    now: float | None,
    want_jsonl: bool,
    want_csv: bool,
    agg: Aggregator,
) -> _ChunkResult:
    """Verify one task into ``agg``; the serialized verdicts and the records skipped."""
    skips: list[tuple[str, str]] = []
    if isinstance(task, _Slice):
        items: list[_Item] = []
        for rec in _slice_records(*task):
            item = _prepare(rec, now)
            if isinstance(item, _Skip):
                skips.append((item.where, item.why))
            else:
                items.append(item)
        agg.skipped += len(skips)
    else:
        items = task
    records = [_verify_item(verifier, it) for it in items]
    for r in records:
        agg.add(r)
    js = "".join(json.dumps(r.to_dict()) + "\n" for r in records) if want_jsonl else None
    text = None
    if want_csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for r in records:
            w.writerow([_csv_cell(v) for v in r.to_row()])
        text = buf.getvalue()
    return _ChunkResult(js, text, skips, len(records))


def _analyze_chunk(
    config: VerifierConfig,
    task: _Task,
    now: float | None,
    want_jsonl: bool,
    want_csv: bool,
    lookup: LookupQuery | None,
) -> _ChunkResult:
    global _POOL_AGG
    if _POOL_AGG is None:
        _POOL_AGG = Aggregator(lookup, _POOL_EVIDENCE)
    return _analyze_task(verifier_for(config), task, now, want_jsonl, want_csv, _POOL_AGG)


def _flush_worker(lookup: LookupQuery | None) -> Aggregator:
    """This worker's aggregate (and a fresh start). Every worker runs exactly one flush: each
    waits at a barrier for all the others, so no worker can take two."""
    global _POOL_AGG
    try:
        _POOL_BARRIER.wait(FLUSH_TIMEOUT)
    except threading.BrokenBarrierError:
        raise RuntimeError("a worker process did not hand over its aggregate") from None
    out, _POOL_AGG = _POOL_AGG or Aggregator(lookup, _POOL_EVIDENCE), None
    return out


def _analyze_pool(
    tasks: Iterator[_Task],
    args: tuple[Any, ...],
    lookup: LookupQuery | None,
    config: VerifierConfig,
    workers: int,
    window: int | None,
    mp_context: BaseContext | None,
    total: Aggregator,
) -> Iterator[_ChunkResult]:
    """:func:`_ordered` for analyze: results in input order, and at the end every worker's
    aggregate merged into ``total``."""
    ctx: Any = mp_context or multiprocessing.get_context()
    barrier = ctx.Barrier(workers)
    limit = window if window is not None else 4 * workers
    pending: deque[Future[_ChunkResult]] = deque()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(config, barrier, total.evidence),
    )
    now, want_jsonl, want_csv = args
    try:
        for task in tasks:
            pending.append(
                pool.submit(_analyze_chunk, config, task, now, want_jsonl, want_csv, lookup)
            )
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        flushes = [pool.submit(_flush_worker, lookup) for _ in range(workers)]
        for flushed in flushes:
            total.merge(flushed.result())
    finally:
        for f in pending:
            f.cancel()
        barrier.abort()  # a worker still waiting (on an error) gives up at once
        pool.shutdown(wait=True, cancel_futures=True)


def _run_tasks(
    tasks: Iterator[_Task],
    verifier: Verifier | VerifierConfig,
    workers: int,
    window: int | None,
    now: float | None,
    lookup: LookupQuery | None,
    verdicts_jsonl: IO[str] | None,
    verdicts_csv: IO[str] | None,
    total: Aggregator,
    on_skip: Callable[[str, str], None] | None,
    mp_context: BaseContext | None = None,
    on_calls: Callable[[int], None] | None = None,
) -> Aggregator:
    local, config = _resolve(verifier, workers)
    if verdicts_csv is not None:
        csv.writer(verdicts_csv, lineterminator="\n").writerow(VERDICT_COLUMNS)
    args = (now, verdicts_jsonl is not None, verdicts_csv is not None)
    results: Iterator[_ChunkResult]
    if local is not None:
        v = local
        results = (_analyze_task(v, t, *args, total) for t in tasks)
    else:
        assert config is not None
        results = _analyze_pool(tasks, args, lookup, config, workers, window, mp_context, total)
    for res in results:
        if on_calls is not None:
            on_calls(res.calls)
        if on_skip is not None:
            for where, why in res.skips:
                on_skip(where, why)
        if res.jsonl is not None and verdicts_jsonl is not None:
            verdicts_jsonl.write(res.jsonl)
        if res.csv is not None and verdicts_csv is not None:
            verdicts_csv.write(res.csv)
    return total


def analyze(
    records: Iterable[object],
    verifier: Verifier | VerifierConfig,
    *,
    workers: int = 1,
    now: float | None = None,
    lookup: LookupQuery | None = None,
    verdicts_jsonl: IO[str] | None = None,
    verdicts_csv: IO[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    window: int | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    mp_context: BaseContext | None = None,
    evidence: Evidence | None = None,
) -> Aggregator:
    """Verify and aggregate in one pass: the :class:`Aggregator` of all records.

    Each worker verifies chunks into an aggregate of its own and (when ``verdicts_jsonl`` /
    ``verdicts_csv`` are given) serializes their verdict records; this process writes the text
    in input order (``verdicts_csv`` gets its header here) and, at the end, merges the workers'
    aggregates (:meth:`Aggregator.merge`: exactly the one-process result). So the work that
    scales with the calls runs on the workers. Arguments as for :func:`verify_many`; skipped
    records are counted in ``summary()["skipped_records"]``. With ``evidence``, the calls are
    joined with it (:class:`Aggregator`); each worker receives it once, at its start.
    """
    n = _workers(workers)
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    total = Aggregator(lookup, evidence)

    def skipped(where: str, why: str) -> None:
        total.skipped += 1
        if on_skip is not None:
            on_skip(where, why)

    tasks: Iterator[_Task] = _chunks(records, now, chunk_size, skipped)
    return _run_tasks(
        tasks,
        verifier,
        n,
        window,
        now,
        lookup,
        verdicts_jsonl,
        verdicts_csv,
        total,
        None,
        mp_context,
    )


class _ReadCounts:
    """Progress of :func:`analyze_files`: frames or lines and bytes read over all files, and
    calls verified."""

    def __init__(self, report: Callable[[int, int, int], None]) -> None:
        self.report = report
        self.items = self.nbytes = self.calls = 0
        self._items0 = self._bytes0 = 0

    def next_file(self) -> None:
        self._items0, self._bytes0 = self.items, self.nbytes

    def read(self, items: int, nbytes: int) -> None:
        self.items, self.nbytes = self._items0 + items, self._bytes0 + nbytes
        self.report(self.items, self.nbytes, self.calls)

    def verified(self, calls: int) -> None:
        self.calls += calls
        self.report(self.items, self.nbytes, self.calls)


def _file_tasks(
    paths: Iterable[str | os.PathLike[str]],
    now: float | None,
    chunk_size: int,
    slice_bytes: int,
    skipped: Callable[[str, str], None],
    counts: _ReadCounts | None = None,
) -> Iterator[_Task]:
    for p in paths:
        if counts is not None:
            counts.next_file()
        name = os.fspath(p)
        fmt = None
        if name != "-" and not os.path.isdir(name):
            try:
                with open(name, "rb") as f:
                    head = f.read(4096)
                    if head[:2] == b"\x1f\x8b":
                        f.seek(0)
                        with gzip.GzipFile(fileobj=f, mode="rb") as g:
                            head = g.read(4096)
            except (OSError, EOFError):
                head = b""  # read_records below reports it
            fmt = sniff_format(head)
        if fmt != "jsonl":
            read = counts.read if counts is not None else None
            yield from _chunks(read_records(name, progress=read), now, chunk_size, skipped)
            continue
        with open(name, "rb") as raw:
            src: io.BufferedIOBase | IO[bytes] = raw
            if raw.read(2) == b"\x1f\x8b":
                raw.seek(0)
                src = gzip.GzipFile(fileobj=raw, mode="rb")
            else:
                raw.seek(0)
            with src:
                try:
                    for piece in _jsonl_slices(src, name, slice_bytes):
                        if counts is not None:
                            counts.read(piece.first_line + piece.data.count(b"\n") - 1, raw.tell())
                        yield piece
                except (OSError, EOFError) as e:  # e.g. a truncated gzip file
                    raise CaptureError(f"cannot read {name}: {e}") from e


def analyze_files(
    paths: Iterable[str | os.PathLike[str]],
    verifier: Verifier | VerifierConfig,
    *,
    workers: int = 1,
    now: float | None = None,
    lookup: LookupQuery | None = None,
    verdicts_jsonl: IO[str] | None = None,
    verdicts_csv: IO[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    slice_bytes: int = DEFAULT_SLICE_BYTES,
    window: int | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    mp_context: BaseContext | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    evidence: Evidence | None = None,
) -> Aggregator:
    """:func:`analyze` over the calls in files (what :func:`~shakenkit.sip.read_records`
    reads: pcap, pcapng, SIP text, JSON Lines, gzip-compressed too; ``-`` is stdin), with the
    same results. JSON Lines files are cut into slices of whole lines (``slice_bytes``) that
    the workers parse themselves, so reading scales with the workers; captures and SIP text are
    read here and sent in chunks of ``chunk_size`` calls. Raises
    :class:`~shakenkit.sip.CaptureError` for a file that cannot be read. ``progress(read,
    nbytes, calls)`` is called now and then with the frames or lines read, the bytes of the
    files read and the calls verified so far, all files together."""
    n = _workers(workers)
    if chunk_size < 1 or slice_bytes < 1:
        raise ValueError("chunk_size and slice_bytes must be >= 1")
    total = Aggregator(lookup, evidence)

    def skipped(where: str, why: str) -> None:
        total.skipped += 1
        if on_skip is not None:
            on_skip(where, why)

    counts = _ReadCounts(progress) if progress is not None else None
    tasks = _file_tasks(paths, now, chunk_size, slice_bytes, skipped, counts)
    return _run_tasks(
        tasks,
        verifier,
        n,
        window,
        now,
        lookup,
        verdicts_jsonl,
        verdicts_csv,
        total,
        on_skip,
        mp_context,
        counts.verified if counts is not None else None,
    )
