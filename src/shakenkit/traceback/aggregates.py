"""Mergeable tables over verdict records: signers, origids, gateways, the lookup of one
calling number in a time window (:class:`Aggregator`, :class:`LookupQuery`) and, with
:class:`~shakenkit.traceback.evidence.Evidence`, the calls joined with complaints, provider
records and NANP exchanges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

from ..core.tn import canonicalize_tn
from .evidence import Evidence, call_day
from .records import ATTEST_LEVELS, CALLER_IDS, SignerKey, VerdictRecord, _num

__all__ = [
    "COMPLAINT_COLUMNS",
    "Aggregator",
    "LookupQuery",
    "share",
    "top_errors",
]

COMPLAINT_COLUMNS = (
    "number", "complaints", "calls", "signers", "gateways", "first_seen", "last_seen",
)  # fmt: skip
"""Columns of the ``complaints`` table (``complaints.jsonl`` / ``.csv``)."""


_ATTEST_INDEX = {"A": 0, "B": 1, "C": 2}

_CALLER_INDEX = {"verified": 0, "unverified": 1, "likely_spoofed": 2}

TOP_ERRORS = 5


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
        "diverted",
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
        self.diverted = 0
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
        if r.diversion and r.diverted:
            self.diverted += 1
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
            self.diverted,
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
            self.diverted,
        ) = state

    def merge(self, o: _Group) -> None:
        self.calls += o.calls
        self.failed += o.failed
        self.diverted += o.diverted
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
            "diverted": self.diverted,
            "top_errors": top_errors(self.errors),
            "numbers": len(self.numbers),
        }


class _Complained:
    """The calls from one complained-about number that matched its complaints: how many,
    who signed them (SPCs; ``gateways``: those that signed them C), first and last, and the
    position ranges of the complaints they matched (their union counts distinct complaints)."""

    __slots__ = ("calls", "first", "gateways", "last", "ranges", "signers")

    def __init__(self) -> None:
        self.calls = 0
        self.signers: set[str] = set()
        self.gateways: set[str] = set()
        self.first: float | None = None
        self.last: float | None = None
        self.ranges: set[tuple[int, int]] = set()

    def add(self, r: VerdictRecord, t: float, span: tuple[int, int]) -> None:
        self.calls += 1
        s = r.signer
        if s is not None and s.spc is not None:
            self.signers.add(s.spc)
            if r.attest == "C":
                self.gateways.add(s.spc)
        if self.first is None or t < self.first:
            self.first = t
        if self.last is None or t > self.last:
            self.last = t
        self.ranges.add(span)

    def merge(self, o: _Complained) -> None:
        self.calls += o.calls
        self.signers |= o.signers
        self.gateways |= o.gateways
        if o.first is not None and (self.first is None or o.first < self.first):
            self.first = o.first
        if o.last is not None and (self.last is None or o.last > self.last):
            self.last = o.last
        self.ranges |= o.ranges

    def complaints(self) -> int:
        """Distinct complaints matched: the size of the union of the position ranges."""
        total, end = 0, -1
        for a, b in sorted(self.ranges):
            if b <= end:
                continue
            total += b - max(a, end)
            end = b
        return total

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.calls, self.signers, self.gateways, self.first, self.last, self.ranges)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.calls, self.signers, self.gateways, self.first, self.last, self.ranges = state


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


def _add_counts(mine: dict[_K, list[int]], theirs: dict[_K, list[int]]) -> None:
    """Add ``theirs`` rows of counts into ``mine``, column by column (a new key: a copy)."""
    for k, row in theirs.items():
        m = mine.get(k)
        if m is None:
            mine[k] = list(row)
        else:
            for i, n in enumerate(row):
                m[i] += n


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
    With ``evidence`` (:class:`~shakenkit.traceback.evidence.Evidence`), each call is joined
    with the complaints about its calling number, its signer with the provider table, and its
    calling exchange with NANPA's assignments (:meth:`complaints`; the signer rows gain
    ``complained_calls``, ``provider`` ...). The evidence does not travel with a pickled
    aggregator (only its description does): merge partial aggregates into one that holds it.
    """

    __slots__ = (
        "_complained",
        "_evidence",
        "_evsigners",
        "_gateways",
        "_lookup",
        "_matches",
        "_origids",
        "_retargeters",
        "_signers",
        "_timeline",
        "complained",
        "no_signer",
        "skipped",
        "total",
        "unassigned",
        "untimed",
    )

    def __init__(self, lookup: LookupQuery | None = None, evidence: Evidence | None = None) -> None:
        self._lookup = lookup
        self._evidence = evidence
        self._complained: dict[str, _Complained] = {}
        # signer -> [complained calls, of which A, B, C, calls from unassigned exchanges]
        self._evsigners: dict[SignerKey, list[int]] = {}
        self.complained = 0
        self.unassigned = 0
        self._signers: dict[SignerKey, _Group] = {}
        self._origids: dict[str, _Group] = {}
        self._gateways: dict[SignerKey, _Group] = {}
        self._retargeters: dict[SignerKey, _Group] = {}
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

    @property
    def evidence(self) -> Evidence | None:
        """The evidence the calls are joined with, if any (detached after pickling)."""
        return self._evidence

    def __getstate__(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in self.__slots__}
        if self._evidence is not None:
            state["_evidence"] = self._evidence.detached()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

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
        if r.diversion:
            self._add_retargeters(r, number)
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
        if self._evidence is not None:
            self._add_evidence(self._evidence, r, number, key)

    def _add_evidence(
        self, ev: Evidence, r: VerdictRecord, number: str | None, key: SignerKey | None
    ) -> None:
        """Join one call with the complaints about its number and NANPA's exchanges."""
        if not ev.attached:
            raise RuntimeError("calls cannot be joined with detached evidence")
        span = None
        t = r.time
        c = ev.complaints
        if c is not None and number is not None and t is not None:
            a, b = c.window(number, call_day(t), ev.window)
            if a < b:
                span = (a, b)
        unassigned = ev.exchanges is not None and ev.exchanges.unassigned(number)
        if span is None and not unassigned:
            return
        if span is not None:
            assert number is not None and t is not None
            self.complained += 1
            g = self._complained.get(number)
            if g is None:
                g = self._complained[number] = _Complained()
            g.add(r, t, span)
        if unassigned:
            self.unassigned += 1
        if key is not None:
            row = self._evsigners.get(key)
            if row is None:
                row = self._evsigners[key] = [0, 0, 0, 0, 0]
            if span is not None:
                row[0] += 1
                i = _ATTEST_INDEX.get(r.attest) if r.attest is not None else None
                if i is not None:
                    row[1 + i] += 1
            if unassigned:
                row[4] += 1

    def _add_retargeters(self, r: VerdictRecord, number: str | None) -> None:
        """Count the call once for each carrier that signed a div link of it (RFC 8946)."""
        seen: set[SignerKey] = set()
        for lk in r.diversion:
            s = lk.signer
            if s is None or lk.result == "unlinked":
                continue
            key = (s.spc, s.organization, s.issuer)
            if key in seen:
                continue
            seen.add(key)
            g = self._retargeters.get(key)
            if g is None:
                g = self._retargeters[key] = _Group()
            g.add(r, number)
            g.x5us.add(s.x5u)

    def update(self, records: Iterable[VerdictRecord]) -> Aggregator:
        """Count every record; returns self."""
        for r in records:
            self.add(r)
        return self

    def merge(self, other: Aggregator) -> Aggregator:
        """Add ``other``'s counts (it is left unchanged); returns self."""
        if other._lookup != self._lookup:
            raise ValueError("cannot merge aggregators with different lookups")
        self._merge_evidence(other)
        self.total.merge(other.total)
        _merge_groups(self._signers, other._signers)
        _merge_groups(self._origids, other._origids)
        _merge_groups(self._gateways, other._gateways)
        _merge_groups(self._retargeters, other._retargeters)
        _add_counts(self._timeline, other._timeline)
        self._matches.extend(other._matches)
        for number, g in other._complained.items():
            mine = self._complained.get(number)
            if mine is None:
                mine = self._complained[number] = _Complained()
            mine.merge(g)
        _add_counts(self._evsigners, other._evsigners)
        self.complained += other.complained
        self.unassigned += other.unassigned
        self.no_signer += other.no_signer
        self.skipped += other.skipped
        self.untimed += other.untimed
        return self

    def _merge_evidence(self, other: Aggregator) -> None:
        mine, theirs = self._evidence, other._evidence
        if theirs is None:
            if mine is not None and other.total.calls:
                raise ValueError("cannot merge an aggregate made without the evidence")
            return
        if mine is None:
            if self.total.calls:
                raise ValueError("cannot merge an aggregate made with evidence into one without")
            self._evidence = theirs.detached()
        elif mine.fingerprint != theirs.fingerprint:
            raise ValueError("cannot merge aggregators joined with different evidence")

    @classmethod
    def merged(
        cls,
        parts: Iterable[Aggregator],
        lookup: LookupQuery | None = None,
        evidence: Evidence | None = None,
    ) -> Aggregator:
        """One aggregator holding the counts of all ``parts``."""
        out = cls(lookup, evidence)
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
                    **self._signer_evidence(key),
                }
            )
        return rows

    def _signer_evidence(self, key: SignerKey) -> dict[str, Any]:
        ev = self._evsigners.get(key) or [0, 0, 0, 0, 0]
        provider = None if self._evidence is None else self._evidence.provider(key[0])
        return {
            "complained_calls": ev[0],
            "complained_attest": dict(zip(ATTEST_LEVELS, ev[1:4], strict=True)),
            "unassigned_exchange_calls": ev[4],
            "provider": None if provider is None else provider.to_dict(),
        }

    def complaints(self) -> list[dict[str, Any]]:
        """One row per complained-about calling number seen in the calls (with a complaint in
        the window of at least one of its calls), most matched calls first: ``number`` (E.164
        digits), ``complaints`` (distinct complaints in the window of its calls), ``calls``
        (its calls that matched), ``signers`` and ``gateways`` (SPCs that signed them; that
        signed them with C attestation), ``first_seen`` and ``last_seen`` (of those calls)."""
        groups = self._complained
        rows = []
        for number in sorted(groups, key=lambda n: (-groups[n].calls, n)):
            g = groups[number]
            rows.append(
                {
                    "number": number,
                    "complaints": g.complaints(),
                    "calls": g.calls,
                    "signers": sorted(g.signers),
                    "gateways": sorted(g.gateways),
                    "first_seen": _num(g.first),
                    "last_seen": _num(g.last),
                }
            )
        return rows

    def retargeters(self) -> list[dict[str, Any]]:
        """By retargeting carrier (the signer of a ``div`` PASSporT on the call's chain,
        RFC 8946): one row per (spc, organization, issuer), most calls first; ``diverted``
        counts the calls whose chain held."""
        rows = []
        groups = self._retargeters
        for key in sorted(groups, key=lambda k: (-groups[k].calls, _key_sort(k))):
            g = groups[key]
            rows.append(
                {
                    "spc": key[0],
                    "organization": key[1],
                    "issuer": key[2],
                    **g.counts(),
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
            "complained_calls": self.complained,
            "complained_numbers": len(self._complained),
            "unassigned_exchange_calls": self.unassigned,
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
            "retargeters": self.retargeters(),
            "timeline": self.timeline(),
        }
        if self._lookup is not None:
            out["lookup"] = self.lookup()
        if self._evidence is not None and self._evidence.complaints is not None:
            out["complaints"] = self.complaints()
        return out
