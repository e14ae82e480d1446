"""Consumers' complaints about unwanted calls, indexed by calling number: the FTC's Do-Not-Call
complaint data and the FCC's consumer complaint data (unwanted calls), read from their published
CSV exports (gzip too) and recognised by their header row (docs/traceback.md, "Evidence").

* **FTC** — the Do-Not-Call reported-calls files (daily ``DNC_Complaint_Numbers_*.csv``):
  ``Company_Phone_Number, Created_Date, Violation_Date, Consumer_City, Consumer_State,
  Consumer_Area_Code, Subject, Recorded_Message_Or_Robocall``. The calling number is
  ``Company_Phone_Number``, the day of the call complained about ``Violation_Date``
  (``YYYY-MM-DD HH:MM:SS``; ``Created_Date`` when it is empty).
* **FCC** — the consumer complaints data (unwanted calls) exported from opendata.fcc.gov
  (``Ticket ID, Ticket Created, Date of Issue, Time of Issue, Form, Method, Issue, Caller ID
  Number, Type of Call or Messge, Advertiser Business Number, City, State, Zip, Location ...``;
  the Socrata API spells them ``caller_id_number``, ``issue_date`` ...). The calling number is
  ``Caller ID Number`` (not the advertiser's call-back number), the day ``Date of Issue``
  (``MM/DD/YYYY`` or ISO 8601; ``Ticket Created`` when it is empty).

Numbers are canonicalised as calls are (RFC 8224 §8.3; a 10-digit NANP number gets the country
code 1). The index (:class:`ComplaintIndex`) keeps, per complained-about number, the sorted days
of its complaints in three flat arrays — about 10 to 14 bytes per complaint row, whatever the
file — and answers "complaints about this number within ``w`` days of day ``d``" by bisection.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import hashlib
import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core.tn import canonicalize_tn
from .tabular import MAX_FIELD_CHARS, EvidenceError, Table, cell, open_table

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "ComplaintFile",
    "ComplaintIndex",
    "ComplaintRow",
    "complaint_day",
    "complaint_number",
    "read_complaints",
]

DEFAULT_WINDOW_DAYS = 30
"""A call matches complaints whose violation day is within this many days of its own day."""

MAX_COMPLAINT_ROWS = (1 << 32) - 1
"""Complaint rows one index holds (its offsets are 32-bit)."""

MAX_DAY = 0xFFFF
"""Days are stored as unsigned 16-bit days since 1970-01-01: up to 2149-06-06."""

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_SEPARATORS = str.maketrans("", "", "-.()[] \t")


@dataclass(frozen=True)
class _Format:
    name: str
    title: str
    number: tuple[str, ...]
    date: tuple[str, ...]
    fallback_date: tuple[str, ...]
    subject: tuple[str, ...]
    kind: tuple[str, ...]


FTC = _Format(
    "ftc",
    "FTC Do-Not-Call complaints",
    number=("companyphonenumber",),
    date=("violationdate",),
    fallback_date=("createddate",),
    subject=("subject",),
    kind=("recordedmessageorrobocall",),
)
FCC = _Format(
    "fcc",
    "FCC consumer complaints (unwanted calls)",
    number=("calleridnumber",),
    date=("dateofissue", "issuedate"),
    fallback_date=("ticketcreated", "datecreated"),
    subject=("issue",),
    kind=("typeofcallormessge", "typeofcallormessage"),
)
FORMATS = (FTC, FCC)


def complaint_number(value: str) -> str | None:
    """The canonical calling number of a complaint (digits, as :attr:`VerdictRecord.number`
    gives a call's: RFC 8224 §8.3, 10-digit NANP numbers get the country code 1), or None
    when it is not a number of at most 15 digits (E.164) without a leading 0."""
    s = value.strip()
    if s.startswith("+"):
        s = s[1:]
    digits = s.translate(_SEPARATORS)
    if not (digits.isascii() and digits.isdigit()):
        tn = canonicalize_tn(value)
        if tn is None or not (tn.isascii() and tn.isdigit()):
            return None
        digits = tn
    elif len(digits) == 10 and digits[0] not in "01":
        digits = "1" + digits
    if len(digits) > 15 or digits[0] == "0":
        return None
    return digits


def complaint_day(value: str, cache: dict[str, int | None] | None = None) -> int | None:
    """The day (days since 1970-01-01, UTC calendar) of a complaint date: ``YYYY-MM-DD`` with
    or without a time (``T`` or a space), ``YYYY/MM/DD`` or ``MM/DD/YYYY``; None otherwise."""
    token = value.strip().split(" ", 1)[0][:32]
    if "T" in token:
        token = token.split("T", 1)[0]
    if cache is not None:
        hit = cache.get(token, -1)
        if hit != -1:
            return hit
    day = _parse_day(token)
    if cache is not None:
        if len(cache) >= 1 << 16:
            cache.clear()
        cache[token] = day
    return day


def _parse_day(token: str) -> int | None:
    sep = "-" if "-" in token else "/"
    parts = token.split(sep)
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    try:
        if len(parts[0]) == 4:
            y, m, d = int(parts[0]), int(parts[1]), int(parts[2])
        elif sep == "/" and len(parts[2]) == 4:
            m, d, y = int(parts[0]), int(parts[1]), int(parts[2])
        else:
            return None
        day = _dt.date(y, m, d).toordinal() - _EPOCH_ORDINAL
    except (ValueError, OverflowError):
        return None
    return day if 0 <= day <= MAX_DAY else None


@dataclass
class ComplaintFile:
    """What was read from one complaint file: its ``format`` (``ftc`` or ``fcc``), data
    ``rows``, rows ``used``, rows without a usable number or date, and rows the CSV reader
    refused."""

    path: str
    format: str
    rows: int = 0
    used: int = 0
    no_number: int = 0
    no_date: int = 0
    unreadable: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "used": self.used,
            "no_number": self.no_number,
            "no_date": self.no_date,
            "unreadable": self.unreadable,
        }


class ComplaintRow:
    """One usable complaint (second pass, :meth:`ComplaintIndex.rows`): canonical ``number``,
    ``day``, ``subject`` and ``kind`` (FTC: the robocall flag; FCC: the type of call), and the
    ``format`` of its file."""

    __slots__ = ("day", "format", "kind", "number", "subject")

    def __init__(self, number: str, day: int, subject: str, kind: str, fmt: str) -> None:
        self.number, self.day, self.subject, self.kind, self.format = (
            number, day, subject, kind, fmt,
        )  # fmt: skip


def _recognise(table: Table) -> _Format:
    keys = set(table.keys)
    for fmt in FORMATS:
        if fmt.number[0] in keys and keys & {*fmt.date, *fmt.fallback_date}:
            return fmt
    raise table.unknown_format(
        "complaints",
        "is neither the FTC Do-Not-Call complaint data (Company_Phone_Number, Created_Date, "
        "Violation_Date, ...) nor the FCC consumer complaint data (Caller ID Number, Date of "
        "Issue, ...)",
    )


def _scan(
    path: str | os.PathLike[str],
    emit: Callable[[str, int, list[str], Table, _Format], None],
) -> ComplaintFile:
    """Read one complaint file, calling ``emit(number, day, row, table, format)`` for every
    usable row."""
    table, stream = open_table(path, "complaints")
    with stream:
        if table is None:  # an empty file: no complaints
            return ComplaintFile(os.fspath(path), "empty")
        fmt = _recognise(table)
        stats = ComplaintFile(table.path, fmt.name)
        num = table.column(*fmt.number)
        dates = [table.column(k) for k in fmt.date]
        fallbacks = [table.column(k) for k in fmt.fallback_date]
        cache: dict[str, int | None] = {}
        date_cols = [i for i in (*dates, *fallbacks) if i is not None]
        rows = used = no_number = no_date = 0
        for row in table.rows:  # the hot loop: the common cases inline, the rest in helpers
            rows += 1
            n = len(row)
            raw = row[num] if num is not None and num < n else ""
            if len(raw) == 10 and raw.isdigit() and raw.isascii() and raw[0] not in "01":
                number: str | None = "1" + raw
            else:
                number = complaint_number(raw[:MAX_FIELD_CHARS])
            if number is None:
                no_number += 1
                continue
            day = None
            for i in date_cols:
                text = row[i] if i < n else ""
                if not text or text.isspace():
                    continue
                if len(text) >= 10 and (
                    (text[4] == "-" and text[7] == "-") or (text[2] == "/" and text[5] == "/")
                ):
                    key = text[:10]
                    day = cache.get(key, -1)
                    if day == -1:
                        day = _parse_day(key)
                        if len(cache) < 1 << 16:
                            cache[key] = day
                else:
                    day = complaint_day(text[:MAX_FIELD_CHARS], cache)
                break
            if day is None:
                no_date += 1
                continue
            used += 1
            emit(number, day, row, table, fmt)
        stats.rows, stats.used, stats.no_number, stats.no_date = rows, used, no_number, no_date
        stats.unreadable = table.errors
    return stats


_BUCKETS = 256  # numbers are spread over buckets by their low bits, each sorted on its own


class _Builder:
    """Complaint rows gathered per bucket in compact arrays (10 bytes a row), then each bucket
    sorted and packed into the index's arrays, its input freed as it goes: the peak is about
    the compact arrays plus the index, never a list of every row."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._nums = [array("q") for _ in range(_BUCKETS)]
        self._days = [array("H") for _ in range(_BUCKETS)]

    def add(self, number: str, day: int, *_: object) -> None:
        n = int(number)
        b = n & (_BUCKETS - 1)
        self._nums[b].append(n)
        self._days[b].append(day)

    def build(self) -> _Buckets:
        total = sum(len(d) for d in self._days)
        if total > self.max_rows:
            raise EvidenceError(f"complaints: more than {self.max_rows} usable rows")
        out = _Buckets()
        for b in range(_BUCKETS):
            keys = sorted(n << 16 | d for n, d in zip(self._nums[b], self._days[b], strict=True))
            self._nums[b] = self._days[b] = array("H")  # free the input as it is packed
            numbers, starts, days = array("q"), array("I"), array("H")
            last = -1
            for pos, k in enumerate(keys):
                n = k >> 16
                if n != last:
                    numbers.append(n)
                    starts.append(pos)
                    last = n
                days.append(k & 0xFFFF)
            starts.append(len(days))
            out.base.append(out.rows)
            out.rows += len(days)
            out.numbers.append(numbers)
            out.starts.append(starts)
            out.days.append(days)
        return out


@dataclass
class _Buckets:
    """Per bucket: the distinct numbers (sorted), where each one's days start, the days
    (sorted per number); ``base`` numbers the positions of all buckets as one sequence."""

    numbers: list[array[int]] = field(default_factory=list)
    starts: list[array[int]] = field(default_factory=list)
    days: list[array[int]] = field(default_factory=list)
    base: list[int] = field(default_factory=list)
    rows: int = 0

    def digest(self) -> str:
        h = hashlib.sha256()
        for group in (self.numbers, self.starts, self.days):
            for a in group:
                h.update(len(a).to_bytes(8, "big"))
                h.update(a.tobytes())
        return h.hexdigest()[:32]

    def nbytes(self) -> int:
        return sum(a.itemsize * len(a) for g in (self.numbers, self.starts, self.days) for a in g)


@dataclass
class ComplaintIndex:
    """Complaints by calling number: for each number, the sorted days (since 1970-01-01) of
    its complaints. Build it with :func:`read_complaints`. Picklable (workers and Dask tasks get
    a copy); :meth:`detached` is the same index without its arrays (what travels back with an
    aggregate)."""

    files: tuple[ComplaintFile, ...] = ()
    fingerprint: str = ""
    _data: _Buckets | None = field(default=None, repr=False)

    @property
    def attached(self) -> bool:
        """Does this index hold its data (else only its description)?"""
        return self._data is not None

    @property
    def rows(self) -> int:
        """Complaints indexed (usable rows of every file)."""
        return sum(f.used for f in self.files)

    @property
    def numbers(self) -> int:
        """Distinct complained-about numbers (-1 when detached)."""
        return -1 if self._data is None else sum(len(a) for a in self._data.numbers)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        return 0 if self._data is None else self._data.nbytes()

    def _block(self, number: str) -> tuple[int, int, int]:
        """(bucket, lo, hi): the positions of ``number``'s days in its bucket."""
        data = self._data
        if data is None:
            raise RuntimeError("this complaint index is detached (it has no complaint data)")
        if not (number.isascii() and number.isdigit()) or len(number) > 15 or number[0] == "0":
            return 0, 0, 0
        n = int(number)
        b = n & (_BUCKETS - 1)
        numbers = data.numbers[b]
        i = bisect.bisect_left(numbers, n)
        if i == len(numbers) or numbers[i] != n:
            return 0, 0, 0
        starts = data.starts[b]
        return b, starts[i], starts[i + 1]

    def window(self, number: str, day: int, days: int) -> tuple[int, int]:
        """Positions ``[lo, hi)`` of the complaints about ``number`` (canonical digits) whose
        day is within ``days`` days of ``day`` (inclusive); ``lo == hi`` when none. Positions
        are stable for one index, so the union of several windows counts distinct complaints."""
        b, lo, hi = self._block(number)
        if lo == hi:
            return 0, 0
        assert self._data is not None
        d = self._data.days[b]
        a = bisect.bisect_left(d, day - days, lo, hi)
        z = bisect.bisect_right(d, day + days, lo, hi)
        if a >= z:
            return 0, 0
        base = self._data.base[b]
        return base + a, base + z

    def days_of(self, number: str) -> list[int]:
        """The days of every complaint about ``number``, sorted."""
        b, lo, hi = self._block(number)
        return [] if lo == hi or self._data is None else list(self._data.days[b][lo:hi])

    def detached(self) -> ComplaintIndex:
        """The same index's description (files, fingerprint) without its data."""
        return ComplaintIndex(self.files, self.fingerprint, None)

    def rows_of(self, numbers: set[str]) -> Iterator[ComplaintRow]:
        """Second pass over the files: every usable complaint about one of ``numbers``, with
        its subject (for incident pages). Reads the files again."""
        out: list[ComplaintRow] = []

        def emit(number: str, day: int, row: list[str], table: Table, fmt: _Format) -> None:
            if number in numbers:
                subject = cell(row, table.column(*fmt.subject)).strip()[:200]
                kind = cell(row, table.column(*fmt.kind)).strip()[:80]
                out.append(ComplaintRow(number, day, subject, kind, fmt.name))

        for f in self.files:
            if f.format == "empty":
                continue
            _scan(f.path, emit)
            yield from out
            out.clear()

    def describe(self) -> dict[str, Any]:
        """For ``summary.json``: the files read and the counts."""
        return {
            "files": [f.to_dict() for f in self.files],
            "rows": self.rows,
            "numbers": self.numbers if self.attached else None,
        }


def read_complaints(
    paths: Iterable[str | os.PathLike[str]], *, max_rows: int = MAX_COMPLAINT_ROWS
) -> ComplaintIndex:
    """Read complaint files (FTC or FCC format, recognised by the header; gzip too; an empty
    file holds no complaint) into a :class:`ComplaintIndex`. Rows without a usable number or
    date are counted per file and skipped. Raises :class:`EvidenceError` for a file that
    cannot be read or whose header is in neither format."""
    builder = _Builder(max_rows)
    files = tuple(_scan(p, builder.add) for p in paths)
    data = builder.build()
    return ComplaintIndex(files, data.digest(), data)
