"""Traceback on a Dask cluster: verify partitions of call records on many workers and fold the
partial aggregates into the tables :mod:`shakenkit.traceback` computes in one process.

Install with ``pip install 'shakenkit[dask]'``. Nothing here is needed for one machine:
:func:`shakenkit.traceback.analyze` with ``workers=N`` already uses N processes.

* :func:`read_bag` — a bag of call records from files (JSON Lines split into partitions of
  ``lines_per_partition`` lines, keeping each record's line number; pcap, pcapng, SIP text and
  gzip-compressed files one partition each). Paths must be readable by every worker at the
  same name (shared storage), and by the client, which splits JSON Lines files.
* :func:`verify_bag` — a bag of :class:`~shakenkit.traceback.VerdictRecord`, one per call.
* :func:`aggregate_bag` — the :class:`~shakenkit.traceback.Aggregator` of a bag (a lazy dask
  ``Item``): each partition is verified and aggregated on its worker, partial aggregates are
  merged in a tree. Exact counts and sets, so the result equals the single-process one. With
  ``evidence`` (:class:`~shakenkit.traceback.evidence.Evidence`), each partition joins its calls
  with it; the evidence travels in the task graph once, like the configuration.
* :func:`verify_dataframe` / :func:`aggregate_dataframe` — the same for a dask DataFrame with
  columns ``identity``, ``orig``, ``dest``, ``time`` (and optional ``call_id``, ``source``,
  ``frame``, ``line``, ``date``).

Each worker process builds one :class:`~shakenkit.Verifier` per
:class:`~shakenkit.traceback.VerifierConfig` on first use and keeps it
(:func:`~shakenkit.traceback.verifier_for`): one certificate cache per process, whatever the
number of partitions it runs. The configuration travels in the task graph once (as a delayed
value), with the trust anchors and certificates as bytes: workers need no local files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import dask.bag as _dask_bag  # type: ignore[import-untyped, import-not-found, unused-ignore]
from dask.delayed import delayed as _dask_delayed  # type: ignore[import-untyped, import-not-found, unused-ignore]

from ..sip.capture import CallRecord, read_records, sniff_format
from .aggregates import Aggregator, LookupQuery
from .config import VerifierConfig, verifier_for
from .evidence import Evidence
from .records import VERDICT_COLUMNS, VerdictRecord
from .runners import _slice_records, verify_calls

# dask's annotations are partial: it is held as Any here (the typed boundary is this module).
db: Any = _dask_bag
_delayed: Any = _dask_delayed

__all__ = [
    "aggregate_bag",
    "aggregate_dataframe",
    "aggregate_records",
    "read_bag",
    "verify_bag",
    "verify_dataframe",
]

DEFAULT_LINES_PER_PARTITION = 20_000
_BLOCK = 1 << 20


# -- reading ----------------------------------------------------------------------------------


def _read_whole(path: str) -> list[CallRecord]:
    return list(read_records(path))


def _read_jsonl_slice(path: str, start: int, end: int, first_line: int) -> list[CallRecord]:
    """The records of lines ``first_line``... of a JSON Lines file, bytes ``start:end``."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    return list(_slice_records(path, data, first_line))


def _jsonl_splits(path: str, lines: int) -> list[tuple[int, int, int]] | None:
    """``(start, end, first_line)`` byte ranges of ``lines`` lines each, or None when the file
    is not plain (uncompressed) JSON Lines."""
    with open(path, "rb") as f:
        head = f.read(4096)
        if head[:2] == b"\x1f\x8b" or sniff_format(head) != "jsonl":
            return None
        f.seek(0)
        splits: list[tuple[int, int, int]] = []
        start, pos, line, count = 0, 0, 1, 0
        while True:
            block = f.read(_BLOCK)
            if not block:
                break
            i = 0
            while True:
                j = block.find(b"\n", i)
                if j < 0:
                    break
                count += 1
                i = j + 1
                if count == lines:
                    end = pos + i
                    splits.append((start, end, line))
                    start, line, count = end, line + lines, 0
            pos += len(block)
        if pos > start:
            splits.append((start, pos, line))
    return splits


def read_bag(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    lines_per_partition: int = DEFAULT_LINES_PER_PARTITION,
) -> Any:
    """A dask bag of the call records in ``paths`` (what :func:`shakenkit.sip.read_records`
    reads, in the same order, with the same ``source`` and ``line``/``frame``)."""
    if lines_per_partition < 1:
        raise ValueError("lines_per_partition must be >= 1")
    names = (
        [os.fspath(paths)]
        if isinstance(paths, str | os.PathLike)
        else [os.fspath(p) for p in paths]
    )
    parts = []
    for name in names:
        splits = _jsonl_splits(name, lines_per_partition)
        if splits is None:
            parts.append(_delayed(_read_whole, pure=True)(name))
        else:
            parts.extend(
                _delayed(_read_jsonl_slice, pure=True)(name, s, e, first) for s, e, first in splits
            )
    if not parts:
        return db.from_sequence([], npartitions=1)
    return db.from_delayed(parts)


# -- bags -------------------------------------------------------------------------------------


def _verify_partition(
    records: Iterable[object], config: VerifierConfig, now: float | None
) -> list[VerdictRecord]:
    return list(verify_calls(verifier_for(config), records, now=now))


def _aggregate_partition(
    records: Iterable[object],
    config: VerifierConfig,
    now: float | None,
    lookup: LookupQuery | None,
    evidence: Evidence | None = None,
) -> list[Aggregator]:
    agg = Aggregator(lookup, evidence)

    def skipped(where: str, why: str) -> None:
        agg.skipped += 1

    agg.update(verify_calls(verifier_for(config), records, now=now, on_skip=skipped))
    return [agg]


def _merge(parts: Iterable[Aggregator]) -> Aggregator:
    it = iter(parts)
    first = next(it, None)
    if first is None:
        return Aggregator()
    out = Aggregator(first.query).merge(first)
    for p in it:
        out.merge(p)
    return out


def _config(config: VerifierConfig) -> Any:
    if not isinstance(config, VerifierConfig):
        raise TypeError("config must be a shakenkit.traceback.VerifierConfig")
    return _delayed(config, pure=True)


def _evidence(evidence: Evidence | None) -> Any:
    if evidence is None:
        return None
    if not isinstance(evidence, Evidence) or not evidence.attached:
        raise TypeError("evidence must be a shakenkit.traceback.evidence.Evidence (attached)")
    return _delayed(evidence, pure=True)


def verify_bag(bag: Any, config: VerifierConfig, *, now: float | None = None) -> Any:
    """A bag of :class:`~shakenkit.traceback.VerdictRecord`, one per call record of ``bag``
    (records as :func:`shakenkit.traceback.verify_calls` takes them; unusable ones dropped)."""
    return bag.map_partitions(_verify_partition, _config(config), now)


def aggregate_bag(
    bag: Any,
    config: VerifierConfig,
    *,
    now: float | None = None,
    lookup: LookupQuery | None = None,
    split_every: int | None = None,
    evidence: Evidence | None = None,
) -> Any:
    """The :class:`~shakenkit.traceback.Aggregator` of every call in ``bag``, lazily (call
    ``.compute()``): partial aggregates per partition, merged ``split_every`` at a time; with
    ``evidence``, the calls joined with it (the result holds its detached description)."""
    parts = bag.map_partitions(
        _aggregate_partition, _config(config), now, lookup, _evidence(evidence)
    )
    return parts.reduction(_merge, _merge, split_every=split_every)


def aggregate_records(
    bag: Any,
    *,
    lookup: LookupQuery | None = None,
    split_every: int | None = None,
    evidence: Evidence | None = None,
) -> Any:
    """The :class:`~shakenkit.traceback.Aggregator` of a bag of already verified
    :class:`~shakenkit.traceback.VerdictRecord` (e.g. :func:`verify_bag`'s), lazily."""
    return bag.map_partitions(_aggregate_verdicts, lookup, _evidence(evidence)).reduction(
        _merge, _merge, split_every=split_every
    )


def _aggregate_verdicts(
    records: Iterable[VerdictRecord], lookup: LookupQuery | None, evidence: Evidence | None = None
) -> list[Aggregator]:
    return [Aggregator(lookup, evidence).update(records)]


# -- data frames ------------------------------------------------------------------------------

_INPUT_COLUMNS = ("identity", "orig", "dest", "time", "call_id", "source", "frame", "line", "date")


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped, import-not-found, unused-ignore]

    return pandas


def _plain(v: Any) -> Any:
    """A pandas/numpy cell as a plain Python value (missing values as None)."""
    if v is None:
        return None
    if isinstance(v, list | tuple):
        return [str(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, str):  # numpy arrays and scalars
        v = v.tolist()
        if isinstance(v, list):
            return [str(x) for x in v]
    try:
        if _pandas().isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _frame_records(pdf: Any) -> list[dict[str, Any]]:
    cols = [c for c in _INPUT_COLUMNS if c in pdf.columns]
    return [
        {c: _plain(v) for c, v in zip(cols, row, strict=True)}
        for row in pdf[cols].itertuples(index=False, name=None)
    ]


_INT_COLUMNS = {"frame", "line", "error_sip_code", "iat", "signer_not_after"}
_FLOAT_COLUMNS = {"time", "verified_at"}


def _meta() -> Any:
    pd = _pandas()
    return pd.DataFrame({c: pd.Series([], dtype=_dtype(c)) for c in VERDICT_COLUMNS})


def _dtype(column: str) -> str:
    if column in _INT_COLUMNS:
        return "Int64"
    if column in _FLOAT_COLUMNS:
        return "float64"
    if column == "likely_spoofed":
        return "bool"
    return "object"


def _verify_frame(pdf: Any, config: VerifierConfig, now: float | None) -> Any:
    pd = _pandas()
    rows = [r.to_row() for r in verify_calls(verifier_for(config), _frame_records(pdf), now=now)]
    out = pd.DataFrame.from_records(rows, columns=list(VERDICT_COLUMNS))
    return out.astype({c: _dtype(c) for c in VERDICT_COLUMNS})


def verify_dataframe(df: Any, config: VerifierConfig, *, now: float | None = None) -> Any:
    """A dask DataFrame of verdicts (the columns of ``verdicts.csv``,
    :data:`~shakenkit.traceback.VERDICT_COLUMNS`), one row per usable input row."""
    return df.map_partitions(_verify_frame, _config(config), now, meta=_meta())


def _aggregate_frame(
    pdf: Any,
    config: VerifierConfig,
    now: float | None,
    lookup: LookupQuery | None,
    evidence: Evidence | None = None,
) -> Aggregator:
    return _aggregate_partition(_frame_records(pdf), config, now, lookup, evidence)[0]


def _merge_many(*parts: Aggregator) -> Aggregator:
    return _merge(parts)


def aggregate_dataframe(
    df: Any,
    config: VerifierConfig,
    *,
    now: float | None = None,
    lookup: LookupQuery | None = None,
    split_every: int = 8,
    evidence: Evidence | None = None,
) -> Any:
    """The :class:`~shakenkit.traceback.Aggregator` of every row of a dask DataFrame of calls,
    lazily (a ``Delayed``; call ``.compute()``)."""
    if split_every < 2:
        raise ValueError("split_every must be >= 2")
    cfg, ev = _config(config), _evidence(evidence)
    level = [
        _delayed(_aggregate_frame, pure=True)(p, cfg, now, lookup, ev) for p in df.to_delayed()
    ]
    if not level:
        return _delayed(Aggregator, pure=True)(lookup)
    while len(level) > 1:
        level = [
            _delayed(_merge_many, pure=True)(*level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    return level[0]
