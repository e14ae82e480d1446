"""Outputs: verdicts and tables as JSON Lines and CSV (cells that a spreadsheet would run as a
formula are neutralized), and :func:`write_tables` for a whole :class:`Aggregator`.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from ..core.verdict import DivLink, Signer
from .aggregates import COMPLAINT_COLUMNS, Aggregator, LookupQuery
from .records import VerdictRecord

__all__ = [
    "flatten",
    "write_csv",
    "write_jsonl",
    "write_tables",
]


_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")

_NUMERIC = re.compile(r"[+-]?[0-9][0-9 ().\-]*\Z")


def _csv_cell(v: Any) -> Any:
    """Neutralize spreadsheet formulas in attacker-controlled text (org names, origids,
    numbers come from the calls): a cell starting with = + - @ or a control character gets a
    leading ``'``, unless it is a plain number such as ``+12155551212``. Booleans are written
    ``true``/``false`` as in JSON."""
    if isinstance(v, str) and v and v[0] in _CSV_TRIGGERS and not _NUMERIC.match(v):
        return "'" + v
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


# Nested objects that may be null: their columns are written (empty) all the same.
_NULLABLE_OBJECTS = {"provider": ("name", "rmd_status")}


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """A table row for CSV: nested objects become ``key_sub`` columns (``attest_A``), lists
    are joined by spaces (``top_errors`` as ``438:12 437:3``). A null ``provider`` gives
    empty ``provider_name`` and ``provider_rmd_status`` cells."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v is None and k in _NULLABLE_OBJECTS:
            for sub in _NULLABLE_OBJECTS[k]:
                out[f"{k}_{sub}"] = None
        elif isinstance(v, Mapping):
            for sub, x in v.items():
                out[f"{k}_{sub}"] = x
        elif isinstance(v, list):
            out[k] = " ".join(
                f"{x['sip_code']}:{x['calls']}" if isinstance(x, Mapping) else str(x) for x in v
            )
        else:
            out[k] = v
    return out


def write_jsonl(rows: Iterable[Mapping[str, Any]], f: IO[str]) -> None:
    """One JSON object a line (ASCII-escaped: no U+2028 or control characters in the text)."""
    for r in rows:
        f.write(json.dumps(r) + "\n")


def write_csv(
    rows: Iterable[Mapping[str, Any]], f: IO[str], columns: list[str] | None = None
) -> None:
    """Rows flattened (:func:`flatten`) as CSV with a header line; formula-like text is
    neutralized. ``columns`` defaults to the first row's flattened keys."""
    flat = [flatten(r) for r in rows]
    cols = columns if columns is not None else list(dict.fromkeys(c for r in flat for c in r))
    w = csv.writer(f, lineterminator="\n")
    w.writerow(cols)
    for r in flat:
        w.writerow([_csv_cell(r.get(c)) for c in cols])


def write_tables(agg: Aggregator, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``signers``, ``origids``, ``gateways``, ``retargeters`` (``lookup`` when the
    aggregator has one, ``complaints`` when it joins complaints) as ``NAME.jsonl`` and
    ``NAME.csv``, and ``summary.json`` (with the timeline, and what evidence was joined), into
    ``out_dir``; returns the paths written."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tables: dict[str, list[dict[str, Any]]] = {
        "signers": agg.signers(),
        "origids": agg.origids(),
        "gateways": agg.gateways(),
        "retargeters": agg.retargeters(),
    }
    if agg.query is not None:
        tables["lookup"] = agg.lookup()
    ev = agg.evidence
    if ev is not None and ev.complaints is not None:
        tables["complaints"] = agg.complaints()
    for name, rows in tables.items():
        p = d / f"{name}.jsonl"
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            write_jsonl(rows, f)
        written.append(p)
        p = d / f"{name}.csv"
        with open(p, "w", encoding="utf-8", newline="") as f:
            write_csv(rows, f, None if rows else _empty_columns(name))
        written.append(p)
    p = d / "summary.json"
    with open(p, "w", encoding="utf-8", newline="\n") as f:
        summary: dict[str, Any] = {"summary": agg.summary(), "timeline": agg.timeline()}
        if ev is not None:
            summary["evidence"] = ev.describe()
        json.dump(summary, f, indent=1)
        f.write("\n")
    written.append(p)
    return written


def _empty_columns(name: str) -> list[str]:
    """The CSV header of an empty table (the columns a row would have)."""
    if name == "complaints":
        return list(COMPLAINT_COLUMNS)
    probe = Aggregator(LookupQuery("12155551212") if name == "lookup" else None)
    fake = VerdictRecord(
        "TN-Validation-Passed", "C", "unverified", False, None, "x", "12155551212",
        ("12155551213",), 0, "shaken", Signer("u", "s", "", "", 0, "o"), (), None, None, None,
        None, None, 0.0, 0.0, "12155551212", "12155551213",
        (DivLink(1, 1, "div", "12155551213", ["12155551214"], "12155551212", 0,
                 Signer("u", "s", "", "", 0, "o"), "valid"),),
    )  # fmt: skip
    probe.add(fake)
    rows = {
        "signers": probe.signers,
        "origids": probe.origids,
        "gateways": probe.gateways,
        "retargeters": probe.retargeters,
        "lookup": probe.lookup,
    }[name]()
    return list(flatten(rows[0]))
