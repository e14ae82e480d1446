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
* **lookup** — the calls from one calling number in a time window, with signer and origid.

Captured calls are verified **after the fact**: freshness (RFC 8224 §6.2 step 4, ``|now - iat|``)
is judged at the call's own time — the capture timestamp, the record's ``time``, else the SIP
``Date`` header (:func:`shakenkit.capture.judged_at`) — never at the time the analysis runs,
unless an explicit ``now`` is given. A record without any time is judged at the current time.

One verdict record per **call**: when a call carries several Identity headers, the verifier's
rule applies (RFC 8224 §6.2 step 1: the call passes if any header passes, best attestation wins;
otherwise the first failure decides).

:func:`verify_many` and :func:`analyze` run on ``workers`` processes, each with its own
:class:`~shakenkit.Verifier` (and so its own certificate cache) built from a picklable
:class:`VerifierConfig`. Input is streamed in chunks with a bounded number in flight, output
comes back in input order: memory stays flat however long the input (the aggregates grow with
the number of distinct signers, origids and numbers, not with the number of calls).
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import io
import json
import math
import multiprocessing
import os
import re
import threading
import time as _time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

from ..core.identity import parse_identity
from ..core.sip_message import DEFAULT_MAX_MESSAGE_BYTES, malformed_message_verdict
from ..core.tn import canonicalize_tn
from ..core.verdict import Signer, Verdict, VerdictError
from ..core.verifier import Policy, Verifier
from ..errors import CertificateError, ShakenError
from ..repository.fetch import FetchPolicy
from ..repository.sources import StaticSource
from ..sip.capture import CallRecord, CaptureError, judged_at, read_records, sniff_format

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
    "verifier_for",
    "verify_calls",
    "verify_many",
    "write_csv",
    "write_jsonl",
    "write_tables",
]

DEFAULT_CHUNK_SIZE = 2000
"""Records per chunk sent to a worker: ~0.2 s of work, so scheduling overhead stays small."""

SignerKey = tuple[str | None, str | None, str | None]
"""(spc, organization, issuer): one signing carrier as its certificate names it."""

ATTEST_LEVELS = ("A", "B", "C")
CALLER_IDS = ("verified", "unverified", "likely_spoofed")
_ATTEST_INDEX = {"A": 0, "B": 1, "C": 2}
_CALLER_INDEX = {"verified": 0, "unverified": 1, "likely_spoofed": 2}
TOP_ERRORS = 5


# -- configuration ----------------------------------------------------------------------------


def _bytes_of(value: bytes | str | os.PathLike[str], what: str) -> list[bytes]:
    """File contents (a directory: its .pem/.crt/.cer/.der files, as TrustStore reads one)."""
    if isinstance(value, bytes | bytearray):
        return [bytes(value)]
    p = Path(value)
    if p.is_dir():
        return [
            f.read_bytes()
            for f in sorted(p.iterdir())
            if f.is_file() and f.suffix.lower() in (".pem", ".crt", ".cer", ".der")
        ]
    try:
        return [p.read_bytes()]
    except OSError as e:
        raise ValueError(f"cannot read {what} {os.fspath(value)!r}: {e.strerror or e}") from e


@dataclass(frozen=True)
class VerifierConfig:
    """Everything needed to build a :class:`~shakenkit.Verifier`, as plain picklable values, so
    that each worker process (or each Dask worker, on any machine) builds its own verifier and
    certificate cache from it.

    * ``trust_anchors`` — PEM/DER bytes of the STI-PA-approved roots;
    * ``certificates`` — ``(x5u, chain PEM bytes)`` pairs served without fetching;
    * ``crls`` — PEM/DER CRL bytes checked for every chain;
    * ``policy`` — the :class:`~shakenkit.Policy`;
    * ``fetch`` — None (the default): never fetch, only ``certificates`` are known (an unknown
      ``x5u`` gives 436); a :class:`~shakenkit.FetchPolicy`: fetch every other ``x5u`` (and the
      CRLs certificates name) over HTTPS under that policy.

    Build one from files with :meth:`load`. Hashable: equal configurations share one verifier
    per process (:func:`verifier_for`).
    """

    trust_anchors: tuple[bytes, ...] = ()
    certificates: tuple[tuple[str, bytes], ...] = ()
    crls: tuple[bytes, ...] = ()
    policy: Policy = field(default_factory=Policy)
    fetch: FetchPolicy | None = None

    def __post_init__(self) -> None:
        # Accept lists and mappings too, and keep a canonical (hashable, ordered) form.
        certs: Any = self.certificates
        pairs = certs.items() if isinstance(certs, Mapping) else certs
        object.__setattr__(
            self, "certificates", tuple(sorted((str(u), bytes(c)) for u, c in pairs))
        )
        object.__setattr__(self, "trust_anchors", tuple(bytes(a) for a in self.trust_anchors))
        object.__setattr__(self, "crls", tuple(bytes(c) for c in self.crls))

    @classmethod
    def load(
        cls,
        trust_anchors: Iterable[bytes | str | os.PathLike[str]] = (),
        certificates: Mapping[str, bytes | str | os.PathLike[str]] | None = None,
        crls: Iterable[bytes | str | os.PathLike[str]] = (),
        *,
        policy: Policy | None = None,
        fetch: FetchPolicy | None = None,
    ) -> VerifierConfig:
        """A configuration from bytes or files: ``trust_anchors`` may name PEM files or
        directories (their ``.pem``/``.crt``/``.cer``/``.der`` files), ``certificates`` maps
        ``x5u`` URLs to chain bytes or files, ``crls`` CRL bytes or files. Files are read here,
        once, so workers on other machines need none of them. Raises ValueError when a file
        cannot be read."""
        anchors = [b for a in trust_anchors for b in _bytes_of(a, "trust anchor file")]
        certs = {
            url: _bytes_of(v, "certificate file")[0] if not isinstance(v, bytes) else v
            for url, v in (certificates or {}).items()
        }
        crl_bytes = [b for c in crls for b in _bytes_of(c, "CRL file")]
        return cls(
            tuple(anchors),
            tuple(certs.items()),
            tuple(crl_bytes),
            policy or Policy(),
            fetch,
        )

    def build(self) -> Verifier:
        """A new :class:`~shakenkit.Verifier` for this configuration."""
        certs = dict(self.certificates)
        anchors: list[bytes] = list(self.trust_anchors)
        if self.fetch is None:
            return Verifier(
                trust_anchors=anchors, certificates=certs, crls=self.crls, policy=self.policy
            )
        from ..repository.https import HttpsSource, LayeredSource
        from ..repository.sources import CertificateSource

        source: CertificateSource = HttpsSource(self.fetch)
        if certs:
            source = LayeredSource(certs, source)
        return Verifier(trust_anchors=anchors, source=source, crls=self.crls, policy=self.policy)


_VERIFIERS: dict[VerifierConfig, Verifier] = {}
_VERIFIERS_LOCK = threading.Lock()
_MAX_VERIFIERS = 4


def verifier_for(config: VerifierConfig) -> Verifier:
    """The verifier this process keeps for ``config`` (built on first use): one certificate
    cache per process, shared by every chunk or partition the process verifies."""
    v = _VERIFIERS.get(config)
    if v is not None:
        return v
    with _VERIFIERS_LOCK:
        v = _VERIFIERS.get(config)
        if v is None:
            if len(_VERIFIERS) >= _MAX_VERIFIERS:
                _VERIFIERS.pop(next(iter(_VERIFIERS))).close()
            v = _VERIFIERS[config] = config.build()
        return v


# -- inputs -----------------------------------------------------------------------------------


def parse_time(value: object) -> float:
    """A time as Unix seconds: a number, a numeric string, or ISO 8601 (``2026-01-01T00:00:00Z``;
    no offset means UTC). Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a time is not true/false")
    if isinstance(value, int | float):
        t = float(value)
    elif isinstance(value, _dt.datetime):
        d = value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)
        t = d.timestamp()
    elif isinstance(value, str):
        s = value.strip()
        try:
            t = float(s)
        except ValueError:
            try:
                d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"{s[:40]!r} is neither Unix seconds nor an ISO 8601 time"
                ) from None
            if d.tzinfo is None:
                d = d.replace(tzinfo=_dt.timezone.utc)
            t = d.timestamp()
    else:
        raise ValueError("a time must be Unix seconds or an ISO 8601 string")
    if not math.isfinite(t):
        raise ValueError("a time must be finite")
    return t


@dataclass(frozen=True, slots=True)
class Call:
    """A call to verify, in its simplest typed form (what a switch export or a CDR holds).

    ``identity`` is the Identity header value (or a tuple of values for repeated headers; empty
    for an unsigned call), ``orig``/``dest`` the calling and called numbers, ``time`` the call's
    time (Unix seconds) at which freshness is judged. ``date`` is the SIP Date header (Unix
    seconds), used only to rebuild a compact-form PASSporT. ``source``/``frame``/``line`` say
    where the call came from.
    """

    identity: str | tuple[str, ...] = ()
    orig: str | None = None
    dest: str | None = None
    time: float | None = None
    call_id: str | None = None
    source: str | None = None
    frame: int | None = None
    line: int | None = None
    date: int | None = None


class VerdictRecord(NamedTuple):
    """The verdict of one call, compact and picklable: the :class:`~shakenkit.Verdict`'s JSON
    fields except ``checks`` (the failing one is ``error.check``), plus where the call came from
    (``source``, ``frame`` or ``line``, ``transport``, ``call_id``), its ``time`` (capture or
    record time, else its Date header; None when unknown), ``verified_at`` (the time freshness
    was judged at) and the numbers given (``calling``, ``called``)."""

    verstat: str
    attest: str | None
    caller_id: str
    likely_spoofed: bool
    error: VerdictError | None
    origid: str | None
    orig_tn: str | None
    dest_tns: tuple[str, ...]
    iat: int | None
    ppt: str | None
    signer: Signer | None
    warnings: tuple[str, ...]
    source: str | None
    frame: int | None
    line: int | None
    transport: str | None
    call_id: str | None
    time: float | None
    verified_at: float
    calling: str | None
    called: str | None

    @classmethod
    def of(
        cls,
        v: Verdict,
        *,
        verified_at: float,
        time: float | None = None,
        source: str | None = None,
        frame: int | None = None,
        line: int | None = None,
        transport: str | None = None,
        call_id: str | None = None,
        calling: str | None = None,
        called: str | None = None,
    ) -> VerdictRecord:
        """The record of verdict ``v`` for a call."""
        return cls(
            v.verstat,
            v.attest,
            v.caller_id,
            v.likely_spoofed,
            v.error,
            v.origid,
            v.orig_tn,
            tuple(v.dest_tns),
            v.iat,
            v.ppt,
            v.signer,
            tuple(v.warnings),
            source,
            frame,
            line,
            transport,
            call_id,
            time,
            verified_at,
            calling,
            called,
        )

    @property
    def signer_key(self) -> SignerKey | None:
        """(spc, organization, issuer) of the signing certificate, or None without one."""
        s = self.signer
        return None if s is None else (s.spc, s.organization, s.issuer)

    @property
    def number(self) -> str | None:
        """The calling number for traceback: the canonical calling number given with the call,
        else the PASSporT's canonical ``orig.tn`` (RFC 8224 §8.3); None when neither is one."""
        n = canonicalize_tn(self.calling) if self.calling is not None else None
        if n is None and self.orig_tn is not None:
            n = canonicalize_tn(self.orig_tn)
        return n

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the verdict's JSON field names (``error`` and ``signer`` nested as in
        :class:`~shakenkit.Verdict`), then the call's fields."""
        e, s = self.error, self.signer
        return {
            "verstat": self.verstat,
            "attest": self.attest,
            "caller_id": self.caller_id,
            "likely_spoofed": self.likely_spoofed,
            "error": None
            if e is None
            else {
                "sip_code": e.sip_code,
                "reason": e.reason,
                "check": e.check,
                "detail": e.detail,
                "reason_sip": e.reason_sip,
                "reason_stir": e.reason_stir,
            },
            "origid": self.origid,
            "orig_tn": self.orig_tn,
            "dest_tns": list(self.dest_tns),
            "iat": self.iat,
            "ppt": self.ppt,
            "signer": None
            if s is None
            else {
                "x5u": s.x5u,
                "spc": s.spc,
                "subject": s.subject,
                "issuer": s.issuer,
                "not_after": s.not_after,
                "organization": s.organization,
            },
            "warnings": list(self.warnings),
            "source": self.source,
            "frame": self.frame,
            "line": self.line,
            "transport": self.transport,
            "call_id": self.call_id,
            "time": _num(self.time),
            "verified_at": _num(self.verified_at),
            "calling": self.calling,
            "called": self.called,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VerdictRecord:
        """Read back a :meth:`to_dict` object (e.g. a line of ``verdicts.jsonl``), to aggregate
        again without verifying again."""
        e, s = d.get("error"), d.get("signer")
        t = d.get("time")
        return cls(
            d["verstat"],
            d.get("attest"),
            d["caller_id"],
            bool(d.get("likely_spoofed")),
            None
            if e is None
            else VerdictError(
                e["sip_code"],
                e.get("reason", ""),
                e.get("check", ""),
                e.get("detail", ""),
                e.get("reason_sip", ""),
                e.get("reason_stir", ""),
            ),
            d.get("origid"),
            d.get("orig_tn"),
            tuple(d.get("dest_tns") or ()),
            d.get("iat"),
            d.get("ppt"),
            None
            if s is None
            else Signer(
                s.get("x5u", ""),
                s.get("spc"),
                s.get("subject", ""),
                s.get("issuer", ""),
                s.get("not_after", 0),
                s.get("organization"),
            ),
            tuple(d.get("warnings") or ()),
            d.get("source"),
            d.get("frame"),
            d.get("line"),
            d.get("transport"),
            d.get("call_id"),
            None if t is None else float(t),
            float(d.get("verified_at") or 0.0),
            d.get("calling"),
            d.get("called"),
        )

    def to_row(self) -> list[Any]:
        """The CSV row for :data:`VERDICT_COLUMNS` (nested fields flattened)."""
        e, s = self.error, self.signer
        return [
            self.source,
            self.frame,
            self.line,
            self.transport,
            self.call_id,
            _num(self.time),
            _num(self.verified_at),
            self.calling,
            self.called,
            self.verstat,
            self.attest,
            self.caller_id,
            self.likely_spoofed,
            None if e is None else e.sip_code,
            None if e is None else e.reason,
            None if e is None else e.check,
            None if e is None else e.detail,
            self.origid,
            self.orig_tn,
            " ".join(self.dest_tns),
            self.iat,
            self.ppt,
            None if s is None else s.x5u,
            None if s is None else s.spc,
            None if s is None else s.organization,
            None if s is None else s.subject,
            None if s is None else s.issuer,
            None if s is None else s.not_after,
            "; ".join(self.warnings),
        ]


VERDICT_COLUMNS = (
    "source",
    "frame",
    "line",
    "transport",
    "call_id",
    "time",
    "verified_at",
    "calling",
    "called",
    "verstat",
    "attest",
    "caller_id",
    "likely_spoofed",
    "error_sip_code",
    "error_reason",
    "error_check",
    "error_detail",
    "origid",
    "orig_tn",
    "dest_tns",
    "iat",
    "ppt",
    "signer_x5u",
    "signer_spc",
    "signer_organization",
    "signer_subject",
    "signer_issuer",
    "signer_not_after",
    "warnings",
)
"""Columns of ``verdicts.csv``: nested fields flattened with ``_`` (``error_sip_code``,
``signer_spc`` ...), lists joined (``dest_tns`` by spaces, ``warnings`` by ``; ``)."""


def _num(t: float | None) -> float | int | None:
    """A time for output: an int when it is whole (``1767225600``, not ``1767225600.0``)."""
    if t is None:
        return None
    return int(t) if float(t).is_integer() else t


# A task is what a worker needs to verify one call; a plain tuple pickles fast.
_CallTask = tuple[
    tuple[str, ...],  # identity values
    str | None,  # orig (as compared)
    str | None,  # dest
    float,  # judged at
    int | None,  # SIP Date
    float | None,  # call time
    str | None,  # call_id
    str | None,  # source
    int | None,  # frame
    int | None,  # line
    str | None,  # transport
]
_Item = _CallTask | VerdictRecord


class _Skip(NamedTuple):
    where: str
    why: str


def _missing(v: object) -> bool:
    """None, or a float NaN (how data frames spell a missing value)."""
    return v is None or (isinstance(v, float) and v != v)


def _text(v: object, what: str) -> str | None:
    if _missing(v):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise ValueError(f"{what} is not a string")


def _int_or_none(v: object, what: str) -> int | None:
    if _missing(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{what} is not an integer")
    return v


def _identity_values(v: object) -> tuple[str, ...]:
    if _missing(v):
        return ()
    if isinstance(v, str):
        return (v,) if v.strip() else ()
    if isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
        return tuple(x for x in v if x.strip())
    raise ValueError("identity is not a string or a list of strings")


def _prepare(rec: object, now: float | None) -> _Item | _Skip:
    """One input record as a task for a worker (a prebuilt record when no verification is
    needed), or why it is skipped."""
    if isinstance(rec, CallRecord):
        if rec.invalid is not None:
            return _Skip(rec.location, rec.invalid)
        at = judged_at(rec, now)
        msg = rec.message
        when = rec.time
        if when is None and msg is not None and msg.date is not None:
            when = float(msg.date)
        if rec.error is not None:
            return VerdictRecord.of(
                malformed_message_verdict(rec.error),
                verified_at=at,
                time=when,
                source=rec.source,
                frame=rec.frame,
                line=rec.line,
                transport=rec.transport,
                call_id=rec.call_id,
            )
        if msg is not None:
            orig, dest = msg.verification_numbers()
            return (
                tuple(msg.identity),
                orig,
                dest,
                at,
                msg.date,
                when,
                rec.call_id,
                rec.source,
                rec.frame,
                rec.line,
                rec.transport,
            )
        return (
            rec.identity,
            rec.orig,
            rec.dest,
            at,
            None,
            when,
            rec.call_id,
            rec.source,
            rec.frame,
            rec.line,
            rec.transport,
        )
    try:
        if isinstance(rec, Call):
            c = rec
            ident = _identity_values(c.identity)
        elif isinstance(rec, Mapping):
            c = Call(
                orig=_text(rec.get("orig", rec.get("calling")), "orig"),
                dest=_text(rec.get("dest", rec.get("called")), "dest"),
                time=None if _missing(rec.get("time")) else parse_time(rec["time"]),
                call_id=None if _missing(rec.get("call_id")) else str(rec["call_id"]),
                source=_text(rec.get("source"), "source"),
                frame=_int_or_none(rec.get("frame"), "frame"),
                line=_int_or_none(rec.get("line"), "line"),
                date=_int_or_none(rec.get("date"), "date"),
            )
            ident = _identity_values(rec.get("identity"))
        else:
            return _Skip(repr(type(rec).__name__), "not a call record")
    except (ValueError, OverflowError) as e:
        where = str(rec.get("source") or "<record>") if isinstance(rec, Mapping) else "<record>"
        return _Skip(where, str(e)[:120])
    if now is not None:
        at = now
    elif c.time is not None:
        at = c.time
    else:
        at = float(c.date) if c.date is not None else _time.time()
    return (
        ident,
        c.orig,
        c.dest,
        at,
        c.date,
        c.time if c.time is not None else (float(c.date) if c.date is not None else None),
        c.call_id,
        c.source,
        c.frame,
        c.line,
        None,
    )


def _static_signer(verifier: Verifier, raw: str) -> Signer | None:
    """The signer named by a well-formed header's ``x5u``, when that certificate is among the
    configured ones (never fetched: the verifier deliberately fetches nothing for a stale
    PASSporT)."""
    src = verifier.source
    static = src if isinstance(src, StaticSource) else getattr(src, "_static", None)
    if not isinstance(static, StaticSource):
        return None
    try:
        url = parse_identity(raw, max_bytes=verifier.policy.max_header_bytes).info
        leaf = static.get(url).leaf
    except (ShakenError, CertificateError):
        return None
    return Signer.of(url, leaf)


def _verify_item(verifier: Verifier, item: _Item) -> VerdictRecord:
    if isinstance(item, VerdictRecord):
        return item
    ident, orig, dest, at, date, when, call_id, source, frame, line, transport = item
    v = verifier.verify(ident or None, orig=orig, dest=dest, now=at, date=date)
    if v.signer is None and v.error is not None and v.error.check == "freshness":
        # A stale (replayed) or future PASSporT fails before its certificate is fetched; for
        # traceback, name the carrier whose configured certificate its x5u points at.
        signer = _static_signer(verifier, ident[0]) if len(ident) == 1 else None
        if signer is not None:
            v = v.model_copy(update={"signer": signer})
    return VerdictRecord.of(
        v,
        verified_at=at,
        time=when,
        source=source,
        frame=frame,
        line=line,
        transport=transport,
        call_id=call_id,
        calling=orig,
        called=dest,
    )


def _chunks(
    records: Iterable[object],
    now: float | None,
    size: int,
    on_skip: Callable[[str, str], None] | None,
) -> Iterator[list[_Item]]:
    chunk: list[_Item] = []
    for rec in records:
        item = _prepare(rec, now)
        if isinstance(item, _Skip):
            if on_skip is not None:
                on_skip(item.where, item.why)
            continue
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- running on processes ---------------------------------------------------------------------


# In a worker process of analyze(): the aggregate of every chunk this process verified, handed
# over once at the end (_flush_worker), so partial aggregates do not travel with each chunk.
_POOL_AGG: Aggregator | None = None
_POOL_BARRIER: Any = None
FLUSH_TIMEOUT = 300.0


def _init_worker(config: VerifierConfig, barrier: Any = None) -> None:
    global _POOL_AGG, _POOL_BARRIER
    _POOL_AGG, _POOL_BARRIER = None, barrier
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

    Records are :class:`~shakenkit.capture.CallRecord` (what
    :func:`~shakenkit.capture.read_records` yields), :class:`Call`, or mappings with the keys
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


# -- aggregation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupQuery:
    """The calls from one calling number (any form; compared canonically, RFC 8224 §8.3) in a
    time window ``start <= time <= end`` (Unix seconds; either bound may be None). A call
    matches on its calling number or on the PASSporT's ``orig.tn``. Without bounds, calls
    without a known time match too."""

    number: str
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        if canonicalize_tn(self.number) is None:
            raise ValueError(f"{self.number[:40]!r} is not a telephone number")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("the lookup window ends before it starts")

    @property
    def tn(self) -> str:
        """The canonical number looked up."""
        tn = canonicalize_tn(self.number)
        assert tn is not None
        return tn

    def matches(self, r: VerdictRecord) -> bool:
        """Does call ``r`` fall under this lookup?"""
        tn = self.tn
        if (r.calling is None or canonicalize_tn(r.calling) != tn) and (
            r.orig_tn is None or canonicalize_tn(r.orig_tn) != tn
        ):
            return False
        if self.start is None and self.end is None:
            return True
        if r.time is None:
            return False
        return (self.start is None or r.time >= self.start) and (
            self.end is None or r.time <= self.end
        )


class _Group:
    """Exact counters for one table row; ``merge`` adds another's counts."""

    __slots__ = (
        "attest",
        "caller_id",
        "calls",
        "errors",
        "failed",
        "first",
        "last",
        "numbers",
        "origids",
        "signers",
        "x5us",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.failed = 0
        self.attest = [0, 0, 0]
        self.caller_id = [0, 0, 0]
        self.errors: dict[int, int] = {}
        self.numbers: set[str] = set()
        self.origids: set[str] = set()
        self.signers: set[SignerKey] = set()
        self.x5us: set[str] = set()
        self.first: float | None = None
        self.last: float | None = None

    def add(self, r: VerdictRecord, number: str | None) -> None:
        self.calls += 1
        i = _ATTEST_INDEX.get(r.attest) if r.attest is not None else None
        if i is not None:
            self.attest[i] += 1
        self.caller_id[_CALLER_INDEX[r.caller_id]] += 1
        if r.verstat == "TN-Validation-Failed":
            self.failed += 1
        if r.error is not None:
            code = r.error.sip_code
            self.errors[code] = self.errors.get(code, 0) + 1
        if number is not None:
            self.numbers.add(number)
        t = r.time
        if t is not None:
            if self.first is None or t < self.first:
                self.first = t
            if self.last is None or t > self.last:
                self.last = t

    # Partial aggregates travel between processes: a plain tuple pickles fast and small.
    def __getstate__(self) -> tuple[Any, ...]:
        return (
            self.calls,
            self.failed,
            self.attest,
            self.caller_id,
            self.errors,
            self.numbers,
            self.origids,
            self.signers,
            self.x5us,
            self.first,
            self.last,
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (
            self.calls,
            self.failed,
            self.attest,
            self.caller_id,
            self.errors,
            self.numbers,
            self.origids,
            self.signers,
            self.x5us,
            self.first,
            self.last,
        ) = state

    def merge(self, o: _Group) -> None:
        self.calls += o.calls
        self.failed += o.failed
        a, b = self.attest, o.attest
        a[0], a[1], a[2] = a[0] + b[0], a[1] + b[1], a[2] + b[2]
        a, b = self.caller_id, o.caller_id
        a[0], a[1], a[2] = a[0] + b[0], a[1] + b[1], a[2] + b[2]
        if o.errors:
            for code, n in o.errors.items():
                self.errors[code] = self.errors.get(code, 0) + n
        self.numbers |= o.numbers
        if o.origids:
            self.origids |= o.origids
        if o.signers:
            self.signers |= o.signers
        if o.x5us:
            self.x5us |= o.x5us
        if o.first is not None and (self.first is None or o.first < self.first):
            self.first = o.first
        if o.last is not None and (self.last is None or o.last > self.last):
            self.last = o.last

    # -- output --
    def counts(self) -> dict[str, Any]:
        calls = self.calls
        return {
            "calls": calls,
            "attest": dict(zip(ATTEST_LEVELS, self.attest, strict=True)),
            "attest_share": {
                k: share(n, calls) for k, n in zip(ATTEST_LEVELS, self.attest, strict=True)
            },
            "caller_id": dict(zip(CALLER_IDS, self.caller_id, strict=True)),
            "caller_id_share": {
                k: share(n, calls) for k, n in zip(CALLER_IDS, self.caller_id, strict=True)
            },
            "failed": self.failed,
            "top_errors": top_errors(self.errors),
            "numbers": len(self.numbers),
        }


_SHARE_STEP = Decimal("0.0001")


def share(count: int, total: int) -> float:
    """``count / total`` rounded half-even to 4 decimals from the exact integers (no float
    drift: the same counts always give the same share); 0.0 when ``total`` is 0."""
    if total <= 0:
        return 0.0
    return float((Decimal(count) / Decimal(total)).quantize(_SHARE_STEP, ROUND_HALF_EVEN))


def top_errors(errors: Mapping[int, int], n: int = TOP_ERRORS) -> list[dict[str, int]]:
    """The ``n`` most frequent SIP codes, most frequent first, ties by code."""
    ranked = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{"sip_code": code, "calls": count} for code, count in ranked]


_K = TypeVar("_K")


def _merge_groups(mine: dict[_K, _Group], theirs: dict[_K, _Group]) -> None:
    for k, g in theirs.items():
        m = mine.get(k)
        if m is None:
            m = mine[k] = _Group()
        m.merge(g)


def _key_sort(k: SignerKey) -> tuple[str, str, str]:
    return (k[0] or "", k[1] or "", k[2] or "")


def _lookup_sort(r: VerdictRecord) -> tuple[Any, ...]:
    return (
        r.time is None,
        r.time or 0.0,
        r.source or "",
        r.frame or 0,
        r.line or 0,
        r.call_id or "",
    )


class Aggregator:
    """Mergeable traceback tables over :class:`VerdictRecord` values.

    ``add(record)`` counts one call; ``merge(other)`` adds another aggregator's counts (built
    on another process, partition or machine). Counts and sets are exact and every output is
    sorted and computed from integers at output time, so any split of the input, merged in any
    order, gives exactly the single-process tables (:meth:`tables`).

    With ``lookup`` (a :class:`LookupQuery`), the matching calls are kept for :meth:`lookup`.
    """

    __slots__ = (
        "_gateways",
        "_lookup",
        "_matches",
        "_origids",
        "_signers",
        "_timeline",
        "no_signer",
        "skipped",
        "total",
        "untimed",
    )

    def __init__(self, lookup: LookupQuery | None = None) -> None:
        self._lookup = lookup
        self._signers: dict[SignerKey, _Group] = {}
        self._origids: dict[str, _Group] = {}
        self._gateways: dict[SignerKey, _Group] = {}
        self._matches: list[VerdictRecord] = []
        # minute (Unix seconds // 60) -> [calls, failed, likely_spoofed]
        self._timeline: dict[int, list[int]] = {}
        self.total = _Group()
        self.no_signer = 0
        self.skipped = 0
        self.untimed = 0

    @property
    def query(self) -> LookupQuery | None:
        """The lookup this aggregator collects, if any."""
        return self._lookup

    def add(self, r: VerdictRecord) -> None:
        """Count one call."""
        number = r.number
        self.total.add(r, number)
        key = r.signer_key
        origid = r.origid
        if key is None:
            self.no_signer += 1
        else:
            g = self._signers.get(key)
            if g is None:
                g = self._signers[key] = _Group()
            g.add(r, number)
            assert r.signer is not None
            g.x5us.add(r.signer.x5u)
            if origid is not None:
                g.origids.add(origid)
            if r.attest == "C":
                gw = self._gateways.get(key)
                if gw is None:
                    gw = self._gateways[key] = _Group()
                gw.add(r, number)
                if origid is not None:
                    gw.origids.add(origid)
        if origid is not None:
            o = self._origids.get(origid)
            if o is None:
                o = self._origids[origid] = _Group()
            o.add(r, number)
            if key is not None:
                o.signers.add(key)
        t = r.time
        if t is None:
            self.untimed += 1
        else:
            minute = int(t // 60)
            row = self._timeline.get(minute)
            if row is None:
                row = self._timeline[minute] = [0, 0, 0]
            row[0] += 1
            if r.verstat == "TN-Validation-Failed":
                row[1] += 1
            if r.likely_spoofed:
                row[2] += 1
        q = self._lookup
        if q is not None and q.matches(r):
            self._matches.append(r)

    def update(self, records: Iterable[VerdictRecord]) -> Aggregator:
        """Count every record; returns self."""
        for r in records:
            self.add(r)
        return self

    def merge(self, other: Aggregator) -> Aggregator:
        """Add ``other``'s counts (it is left unchanged); returns self."""
        if other._lookup != self._lookup:
            raise ValueError("cannot merge aggregators with different lookups")
        self.total.merge(other.total)
        _merge_groups(self._signers, other._signers)
        _merge_groups(self._origids, other._origids)
        _merge_groups(self._gateways, other._gateways)
        for minute, row in other._timeline.items():
            mine_row = self._timeline.get(minute)
            if mine_row is None:
                self._timeline[minute] = list(row)
            else:
                for i in range(3):
                    mine_row[i] += row[i]
        self._matches.extend(other._matches)
        self.no_signer += other.no_signer
        self.skipped += other.skipped
        self.untimed += other.untimed
        return self

    @classmethod
    def merged(cls, parts: Iterable[Aggregator], lookup: LookupQuery | None = None) -> Aggregator:
        """One aggregator holding the counts of all ``parts``."""
        out = cls(lookup)
        for p in parts:
            out.merge(p)
        return out

    # -- tables -------------------------------------------------------------------------------

    def signers(self) -> list[dict[str, Any]]:
        """By signing carrier: one row per (spc, organization, issuer), most calls first."""
        rows = []
        for key in sorted(self._signers, key=lambda k: (-self._signers[k].calls, _key_sort(k))):
            g = self._signers[key]
            rows.append(
                {
                    "spc": key[0],
                    "organization": key[1],
                    "issuer": key[2],
                    **g.counts(),
                    "origids": len(g.origids),
                    "x5u": sorted(g.x5us),
                    "first_seen": _num(g.first),
                    "last_seen": _num(g.last),
                }
            )
        return rows

    def origids(self) -> list[dict[str, Any]]:
        """By origination identifier (RFC 8588 §5), most calls first: ``signers`` and
        ``numbers`` are distinct counts, ``spcs`` the signing SPCs."""
        rows = []
        for oid in sorted(self._origids, key=lambda k: (-self._origids[k].calls, k)):
            g = self._origids[oid]
            c = g.counts()
            rows.append(
                {
                    "origid": oid,
                    "calls": g.calls,
                    "signers": len(g.signers),
                    "numbers": len(g.numbers),
                    "spcs": sorted({k[0] for k in g.signers if k[0] is not None}),
                    "attest": c["attest"],
                    "caller_id": c["caller_id"],
                    "failed": g.failed,
                    "first_seen": _num(g.first),
                    "last_seen": _num(g.last),
                }
            )
        return rows

    def gateways(self) -> list[dict[str, Any]]:
        """Carriers that sign C (gateway) attestation, most C-attested calls first: the entry
        points of foreign or unauthenticated traffic (RFC 8588 §4)."""
        rows = []
        for key in sorted(self._gateways, key=lambda k: (-self._gateways[k].calls, _key_sort(k))):
            gw = self._gateways[key]
            total = self._signers[key].calls if key in self._signers else gw.calls
            rows.append(
                {
                    "spc": key[0],
                    "organization": key[1],
                    "issuer": key[2],
                    "calls": total,
                    "c_calls": gw.calls,
                    "c_share": share(gw.calls, total),
                    "c_numbers": len(gw.numbers),
                    "c_origids": len(gw.origids),
                    "c_caller_id": dict(zip(CALLER_IDS, gw.caller_id, strict=True)),
                    "c_failed": gw.failed,
                    "first_seen": _num(gw.first),
                    "last_seen": _num(gw.last),
                }
            )
        return rows

    def lookup(self) -> list[dict[str, Any]]:
        """The calls matching the lookup, in time order (then source position)."""
        rows = []
        for r in sorted(self._matches, key=_lookup_sort):
            s = r.signer
            rows.append(
                {
                    "time": _num(r.time),
                    "calling": r.calling,
                    "called": r.called,
                    "orig_tn": r.orig_tn,
                    "verstat": r.verstat,
                    "attest": r.attest,
                    "caller_id": r.caller_id,
                    "error_sip_code": None if r.error is None else r.error.sip_code,
                    "spc": None if s is None else s.spc,
                    "organization": None if s is None else s.organization,
                    "issuer": None if s is None else s.issuer,
                    "x5u": None if s is None else s.x5u,
                    "origid": r.origid,
                    "source": r.source,
                    "frame": r.frame,
                    "line": r.line,
                    "call_id": r.call_id,
                }
            )
        return rows

    def summary(self) -> dict[str, Any]:
        """Totals over every call."""
        g = self.total
        return {
            **g.counts(),
            "signed_by_known_signer": g.calls - self.no_signer,
            "no_signer": self.no_signer,
            "skipped_records": self.skipped,
            "signers": len(self._signers),
            "origids": len(self._origids),
            "gateways": len(self._gateways),
            "untimed": self.untimed,
            "first_seen": _num(g.first),
            "last_seen": _num(g.last),
        }

    def timeline(self, bucket: int | None = None) -> list[dict[str, Any]]:
        """Calls, failures (TN-Validation-Failed) and likely-spoofed calls per time bucket of
        ``bucket`` seconds (a multiple of 60; default: the smallest of 1 min, 5 min, 15 min,
        1 h, 6 h, 1 day that gives at most 120 buckets). Empty buckets are included."""
        if not self._timeline:
            return []
        lo, hi = min(self._timeline), max(self._timeline)
        if bucket is None:
            span = hi - lo + 1
            bucket = 1440
            for minutes in (1, 5, 15, 60, 360, 1440):
                if span / minutes <= 120:
                    bucket = minutes
                    break
            else:
                bucket = -(-span // 120)
        else:
            if bucket < 60 or bucket % 60:
                raise ValueError("bucket must be a positive multiple of 60 seconds")
            bucket //= 60
        out: dict[int, list[int]] = {}
        for minute, row in self._timeline.items():
            b = (minute // bucket) * bucket
            acc = out.setdefault(b, [0, 0, 0])
            for i in range(3):
                acc[i] += row[i]
        first, last = (lo // bucket) * bucket, (hi // bucket) * bucket
        return [
            {
                "start": b * 60,
                "seconds": bucket * 60,
                "calls": out.get(b, [0, 0, 0])[0],
                "failed": out.get(b, [0, 0, 0])[1],
                "likely_spoofed": out.get(b, [0, 0, 0])[2],
            }
            for b in range(first, last + 1, bucket)
        ]

    def tables(self) -> dict[str, Any]:
        """Every table, as written by :func:`write_tables` (for comparison and JSON)."""
        out: dict[str, Any] = {
            "summary": self.summary(),
            "signers": self.signers(),
            "origids": self.origids(),
            "gateways": self.gateways(),
            "timeline": self.timeline(),
        }
        if self._lookup is not None:
            out["lookup"] = self.lookup()
        return out


# -- the whole pipeline -----------------------------------------------------------------------


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
    """The records of a slice, read by :func:`~shakenkit.capture.read_records` itself (so
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
    return _ChunkResult(js, text, skips)


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
        _POOL_AGG = Aggregator(lookup)
    return _analyze_task(verifier_for(config), task, now, want_jsonl, want_csv, _POOL_AGG)


def _flush_worker(lookup: LookupQuery | None) -> Aggregator:
    """This worker's aggregate (and a fresh start). Every worker runs exactly one flush: each
    waits at a barrier for all the others, so no worker can take two."""
    global _POOL_AGG
    try:
        _POOL_BARRIER.wait(FLUSH_TIMEOUT)
    except threading.BrokenBarrierError:
        raise RuntimeError("a worker process did not hand over its aggregate") from None
    out, _POOL_AGG = _POOL_AGG or Aggregator(lookup), None
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
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(config, barrier)
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
) -> Aggregator:
    """Verify and aggregate in one pass: the :class:`Aggregator` of all records.

    Each worker verifies chunks into an aggregate of its own and (when ``verdicts_jsonl`` /
    ``verdicts_csv`` are given) serializes their verdict records; this process writes the text
    in input order (``verdicts_csv`` gets its header here) and, at the end, merges the workers'
    aggregates (:meth:`Aggregator.merge`: exactly the one-process result). So the work that
    scales with the calls runs on the workers. Arguments as for :func:`verify_many`; skipped
    records are counted in ``summary()["skipped_records"]``.
    """
    n = _workers(workers)
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    total = Aggregator(lookup)

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


def _file_tasks(
    paths: Iterable[str | os.PathLike[str]],
    now: float | None,
    chunk_size: int,
    slice_bytes: int,
    skipped: Callable[[str, str], None],
) -> Iterator[_Task]:
    for p in paths:
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
            yield from _chunks(read_records(name), now, chunk_size, skipped)
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
                    yield from _jsonl_slices(src, name, slice_bytes)
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
) -> Aggregator:
    """:func:`analyze` over the calls in files (what :func:`~shakenkit.capture.read_records`
    reads: pcap, pcapng, SIP text, JSON Lines, gzip-compressed too; ``-`` is stdin), with the
    same results. JSON Lines files are cut into slices of whole lines (``slice_bytes``) that
    the workers parse themselves, so reading scales with the workers; captures and SIP text are
    read here and sent in chunks of ``chunk_size`` calls. Raises
    :class:`~shakenkit.capture.CaptureError` for a file that cannot be read."""
    n = _workers(workers)
    if chunk_size < 1 or slice_bytes < 1:
        raise ValueError("chunk_size and slice_bytes must be >= 1")
    total = Aggregator(lookup)

    def skipped(where: str, why: str) -> None:
        total.skipped += 1
        if on_skip is not None:
            on_skip(where, why)

    tasks = _file_tasks(paths, now, chunk_size, slice_bytes, skipped)
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
    )


# -- output -----------------------------------------------------------------------------------

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


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """A table row for CSV: nested objects become ``key_sub`` columns (``attest_A``), lists
    are joined by spaces (``top_errors`` as ``438:12 437:3``)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, Mapping):
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
    cols = columns if columns is not None else (list(flat[0]) if flat else [])
    w = csv.writer(f, lineterminator="\n")
    w.writerow(cols)
    for r in flat:
        w.writerow([_csv_cell(r.get(c)) for c in cols])


def write_tables(agg: Aggregator, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``signers``, ``origids``, ``gateways`` (and ``lookup`` when the aggregator has one)
    as ``NAME.jsonl`` and ``NAME.csv``, and ``summary.json`` (with the timeline), into
    ``out_dir``; returns the paths written."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tables: dict[str, list[dict[str, Any]]] = {
        "signers": agg.signers(),
        "origids": agg.origids(),
        "gateways": agg.gateways(),
    }
    if agg.query is not None:
        tables["lookup"] = agg.lookup()
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
        json.dump({"summary": agg.summary(), "timeline": agg.timeline()}, f, indent=1)
        f.write("\n")
    written.append(p)
    return written


def _empty_columns(name: str) -> list[str]:
    """The CSV header of an empty table (the columns a row would have)."""
    probe = Aggregator(LookupQuery("12155551212") if name == "lookup" else None)
    fake = VerdictRecord(
        "TN-Validation-Passed", "C", "unverified", False, None, "x", "12155551212",
        ("12155551213",), 0, "shaken", Signer("u", "s", "", "", 0, "o"), (), None, None, None,
        None, None, 0.0, 0.0, "12155551212", "12155551213",
    )  # fmt: skip
    probe.add(fake)
    rows = {
        "signers": probe.signers,
        "origids": probe.origids,
        "gateways": probe.gateways,
        "lookup": probe.lookup,
    }[name]()
    return list(flatten(rows[0]))
