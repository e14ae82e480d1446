"""Traceback analytics: who signed a call, who let it in — from one capture to a cluster.

Verify many calls (captured, or exported from a switch) into compact :class:`VerdictRecord`
values and fold them into mergeable tables (:class:`Aggregator`):

* **signers** — by signing carrier (SPC, certificate subject organisation, issuing STI-CA):
  calls, attestation A/B/C, ``caller_id`` verified / unverified / likely_spoofed, top error
  codes, distinct calling numbers, first and last seen;
* **origids** — by origination identifier (RFC 8588 §5): calls, signers, numbers (one origid
  across many numbers points at one originating customer);
* **gateways** — carriers that sign C (gateway) attestation (RFC 8588 §4), with volumes: the
  entry points of foreign or unauthenticated traffic;
* **lookup** — the calls from one calling number in a time window, with signer and origid;
* **complaints** — with :class:`Evidence` (consumers' complaints from the FTC and FCC exports,
  a provider table keyed by OCN with the Robocall Mitigation Database status, NANPA's assigned
  exchanges), the complained-about calling numbers seen in the calls; signer rows gain
  ``complained_calls`` and ``provider``; :func:`write_incidents` writes one JSON file and one
  printable page per campaign for traceback requests.

Captured calls are verified **after the fact**: freshness (RFC 8224 §6.2 step 4, ``|now - iat|``)
is judged at the call's own time — the capture timestamp, the record's ``time``, else the SIP
``Date`` header (:func:`shakenkit.sip.judged_at`) — never at the time the analysis runs,
unless an explicit ``now`` is given. A record without any time is judged at the current time.

One verdict record per **call**: when a call carries several Identity headers, the verifier's
rule applies (RFC 8224 §6.2 step 1: the call passes if any header passes, best attestation wins;
otherwise the first failure decides).

:func:`verify_many` and :func:`analyze` run on ``workers`` processes, each with its own
:class:`~shakenkit.Verifier` (and so its own certificate cache) built from a picklable
:class:`VerifierConfig`. Input is streamed in chunks with a bounded number in flight, output
comes back in input order: memory stays flat however long the input (the aggregates grow with
the number of distinct signers, origids and numbers, not with the number of calls).

The package: ``records`` (calls in, one verdict record per call out), ``config`` (a picklable
verifier configuration), ``aggregates`` (mergeable tables and the lookup), ``outputs`` (JSON
Lines, CSV, table files), ``runners`` (the process pool and the whole pipeline), ``report``
(the HTML report), ``evidence`` with ``complaints``, ``providers``, ``nanp`` and ``tabular``
(the public evidence files), ``incidents`` (traceback incidents) and ``dask`` (the Dask
integration, optional: ``pip install 'shakenkit[dask]'``; import it explicitly).

May import: :mod:`shakenkit.errors`, :mod:`shakenkit.certs`, :mod:`shakenkit.repository`,
:mod:`shakenkit.core`, :mod:`shakenkit.sip` (docs/architecture.md).
"""

from .aggregates import Aggregator, LookupQuery, share
from .config import VerifierConfig, verifier_for
from .evidence import Evidence, EvidenceError
from .incidents import write_incidents
from .outputs import flatten, write_csv, write_jsonl, write_tables
from .records import VERDICT_COLUMNS, Call, VerdictRecord, parse_time
from .report import render_report, write_report
from .runners import DEFAULT_CHUNK_SIZE, analyze, analyze_files, verify_calls, verify_many

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "VERDICT_COLUMNS",
    "Aggregator",
    "Call",
    "Evidence",
    "EvidenceError",
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
    "write_incidents",
    "write_jsonl",
    "write_report",
    "write_tables",
]
