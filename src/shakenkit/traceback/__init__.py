"""Traceback analytics: verify many calls, fold them into tables, write them out.

Owns call records and verdict records, the mergeable aggregates (signers, origids, gateways,
lookup), the parallel runners, the table outputs, the HTML report (``report``) and the Dask
integration (``dask``, optional: ``pip install 'shakenkit[dask]'``; import it explicitly).

May import: :mod:`shakenkit.errors`, :mod:`shakenkit.certs`, :mod:`shakenkit.repository`,
:mod:`shakenkit.core`, :mod:`shakenkit.sip` (docs/architecture.md).
"""

from .analysis import (
    DEFAULT_CHUNK_SIZE,
    VERDICT_COLUMNS,
    Aggregator,
    Call,
    LookupQuery,
    VerdictRecord,
    VerifierConfig,
    analyze,
    analyze_files,
    flatten,
    parse_time,
    share,
    verifier_for,
    verify_calls,
    verify_many,
    write_csv,
    write_jsonl,
    write_tables,
)
from .report import render_report, write_report

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "VERDICT_COLUMNS",
    "Aggregator",
    "Call",
    "LookupQuery",
    "VerdictRecord",
    "VerifierConfig",
    "analyze",
    "analyze_files",
    "flatten",
    "parse_time",
    "render_report",
    "share",
    "verifier_for",
    "verify_calls",
    "verify_many",
    "write_csv",
    "write_jsonl",
    "write_report",
    "write_tables",
]
