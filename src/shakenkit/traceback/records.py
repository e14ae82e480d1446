"""Call records in, verdict records out: :class:`Call`, :class:`VerdictRecord` (one compact,
picklable verdict per call) and the step that verifies one call (RFC 8224 §6.2 step 1: the
call passes if any of its Identity headers passes).
"""

from __future__ import annotations

import datetime as _dt
import math
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import TypeAdapter

from ..core.div import Retargeting
from ..core.identity import parse_identity
from ..core.sip_message import malformed_message_verdict
from ..core.tn import canonicalize_tn
from ..core.verdict import DivLink, RichCallData, Signer, Verdict, VerdictError
from ..core.verifier import Verifier
from ..errors import CertificateError, ShakenError
from ..repository.sources import StaticSource
from ..sip.capture import CallRecord, judged_at

__all__ = [
    "ATTEST_LEVELS",
    "CALLER_IDS",
    "VERDICT_COLUMNS",
    "Call",
    "SignerKey",
    "VerdictRecord",
    "parse_time",
]


SignerKey = tuple[str | None, str | None, str | None]
"""(spc, organization, issuer): one signing carrier as its certificate names it."""

ATTEST_LEVELS = ("A", "B", "C")

CALLER_IDS = ("verified", "unverified", "likely_spoofed")


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
    was judged at) and the numbers given (``calling``, ``called``). ``diversion`` and ``rcd``
    are the verdict's ``div`` links (RFC 8946) and Rich Call Data (RFC 9795)."""

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
    diversion: tuple[DivLink, ...] = ()
    rcd: RichCallData | None = None

    @property
    def diverted(self) -> bool:
        """The call reached its destination through a verified ``div`` chain (RFC 8946)."""
        return any(lk.result == "valid" for lk in self.diversion)

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
            tuple(v.diversion),
            v.rcd,
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
        return {
            "verstat": self.verstat,
            "attest": self.attest,
            "caller_id": self.caller_id,
            "likely_spoofed": self.likely_spoofed,
            "error": _ERROR.dump_python(self.error, mode="json"),
            "origid": self.origid,
            "orig_tn": self.orig_tn,
            "dest_tns": list(self.dest_tns),
            "iat": self.iat,
            "ppt": self.ppt,
            "signer": _SIGNER.dump_python(self.signer, mode="json"),
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
            "diversion": _LINKS.dump_python(self.diversion, mode="json"),
            "rcd": _RCD.dump_python(self.rcd, mode="json"),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VerdictRecord:
        """Read back a :meth:`to_dict` object (e.g. a line of ``verdicts.jsonl``), to aggregate
        again without verifying again. The verdict parts (``error``, ``signer``, ``diversion``,
        ``rcd``) are validated by pydantic against the :class:`~shakenkit.Verdict` types; one
        that is not what :meth:`to_dict` writes raises ValueError (a pydantic
        ``ValidationError``)."""
        t = d.get("time")
        return cls(
            d["verstat"],
            d.get("attest"),
            d["caller_id"],
            bool(d.get("likely_spoofed")),
            _ERROR.validate_python(d.get("error")),
            d.get("origid"),
            d.get("orig_tn"),
            tuple(d.get("dest_tns") or ()),
            d.get("iat"),
            d.get("ppt"),
            _SIGNER.validate_python(d.get("signer")),
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
            _LINKS.validate_python(d.get("diversion") or ()),
            _RCD.validate_python(d.get("rcd")),
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


# The verdict parts as Verdict.model_dump_json() writes them, and back (pydantic, not by hand).
_ERROR: TypeAdapter[VerdictError | None] = TypeAdapter(VerdictError | None)
_SIGNER: TypeAdapter[Signer | None] = TypeAdapter(Signer | None)
_LINKS: TypeAdapter[tuple[DivLink, ...]] = TypeAdapter(tuple[DivLink, ...])
_RCD: TypeAdapter[RichCallData | None] = TypeAdapter(RichCallData | None)


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
    Retargeting | None,  # Request-URI / History-Info / Diversion of a forwarded call
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
                Retargeting.of_message(msg) if len(msg.identity) > 1 else None,
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
            None,
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
    ident, orig, dest, at, date, when, call_id, source, frame, line, transport, ctx = item
    v = verifier.verify(ident or None, orig=orig, dest=dest, now=at, date=date, retargeting=ctx)
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
