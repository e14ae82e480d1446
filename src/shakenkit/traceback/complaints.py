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
import heapq
import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core.tn import canonicalize_tn
from .tabular import MAX_FIELD_CHARS, EvidenceError, Table, open_table

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
_RUN = 1 << 19  # complaint rows sorted at a time while an index is built
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
    shown = ", ".join(h[:40] for h in table.header[:8])
    raise EvidenceError(
        f"complaints {table.path}: unknown format: the header ({shown}) is neither the FTC "
        "Do-Not-Call complaint data (Company_Phone_Number, Created_Date, Violation_Date, ...) "
        "nor the FCC consumer complaint data (Caller ID Number, Date of Issue, ...)"
    )


def _cell(row: list[str], i: int | None) -> str:
    if i is None or i >= len(row):
        return ""
    v = row[i]
    return v if len(v) <= MAX_FIELD_CHARS else v[:MAX_FIELD_CHARS]


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
        for row in table.rows:
            stats.rows += 1
            number = complaint_number(_cell(row, num))
            if number is None:
                stats.no_number += 1
                continue
            day = None
            for i in (*dates, *fallbacks):
                text = _cell(row, i)
                if text.strip():
                    day = complaint_day(text, cache)
                    break
            if day is None:
                stats.no_date += 1
                continue
            stats.used += 1
            emit(number, day, row, table, fmt)
        stats.unreadable = table.errors
    return stats


class _Builder:
    """Sorted runs of ``number << 16 | day`` keys, merged into the index's arrays at the end:
    the peak is one run of Python integers plus the compact arrays."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.count = 0
        self._buf: list[int] = []
        self._runs: list[tuple[array[int], array[int]]] = []

    def add(self, number: str, day: int, *_: object) -> None:
        if self.count >= self.max_rows:
            raise EvidenceError(f"complaints: more than {self.max_rows} usable rows")
        self.count += 1
        self._buf.append(int(number) << 16 | day)
        if len(self._buf) >= _RUN:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        self._buf.sort()
        nums = array("q", (k >> 16 for k in self._buf))
        days = array("H", (k & 0xFFFF for k in self._buf))
        self._runs.append((nums, days))
        self._buf = []

    def build(self) -> tuple[array[int], array[int], array[int]]:
        self._flush()
        runs, self._runs = self._runs, []

        def keys(run: tuple[array[int], array[int]]) -> Iterator[int]:
            nums, days = run
            return (n << 16 | d for n, d in zip(nums, days, strict=True))

        merged: Iterable[int] = (
            () if not runs else keys(runs[0]) if len(runs) == 1 else heapq.merge(*map(keys, runs))
        )
        numbers, starts, days = array("q"), array("I"), array("H")
        last = -1
        for pos, k in enumerate(merged):
            n = k >> 16
            if n != last:
                numbers.append(n)
                starts.append(pos)
                last = n
            days.append(k & 0xFFFF)
        starts.append(len(days))
        return numbers, starts, days


@dataclass
class ComplaintIndex:
    """Complaints by calling number: for each number, the sorted days (since 1970-01-01) of
    its complaints. Build it with :func:`read_complaints`. Picklable (workers and Dask tasks get
    a copy); :meth:`detached` is the same index without its arrays (what travels back with an
    aggregate)."""

    files: tuple[ComplaintFile, ...] = ()
    fingerprint: str = ""
    _numbers: array[int] = field(default_factory=lambda: array("q"), repr=False)
    _starts: array[int] = field(default_factory=lambda: array("I", [0]), repr=False)
    _days: array[int] = field(default_factory=lambda: array("H"), repr=False)
    attached: bool = True

    @property
    def rows(self) -> int:
        """Complaints indexed (usable rows of every file)."""
        return sum(f.used for f in self.files)

    @property
    def numbers(self) -> int:
        """Distinct complained-about numbers."""
        return len(self._numbers) if self.attached else -1

    def _block(self, number: str) -> tuple[int, int]:
        if not self.attached:
            raise RuntimeError("this complaint index is detached (it has no complaint data)")
        if not (number.isascii() and number.isdigit()) or len(number) > 15 or number[0] == "0":
            return 0, 0
        n = int(number)
        i = bisect.bisect_left(self._numbers, n)
        if i == len(self._numbers) or self._numbers[i] != n:
            return 0, 0
        return self._starts[i], self._starts[i + 1]

    def window(self, number: str, day: int, days: int) -> tuple[int, int]:
        """Positions ``[lo, hi)`` of the complaints about ``number`` (canonical digits) whose
        day is within ``days`` days of ``day`` (inclusive); ``lo == hi`` when none. Positions
        are stable for one index, so the union of several windows counts distinct complaints."""
        lo, hi = self._block(number)
        if lo == hi:
            return 0, 0
        a = bisect.bisect_left(self._days, day - days, lo, hi)
        b = bisect.bisect_right(self._days, day + days, lo, hi)
        return (a, b) if a < b else (0, 0)

    def days_of(self, number: str) -> list[int]:
        """The days of every complaint about ``number``, sorted."""
        lo, hi = self._block(number)
        return list(self._days[lo:hi])

    def detached(self) -> ComplaintIndex:
        """The same index's description (files, fingerprint) without its data."""
        return ComplaintIndex(self.files, self.fingerprint, attached=False)

    def rows_of(self, numbers: set[str]) -> Iterator[ComplaintRow]:
        """Second pass over the files: every usable complaint about one of ``numbers``, with
        its subject (for incident pages). Reads the files again."""
        out: list[ComplaintRow] = []

        def emit(number: str, day: int, row: list[str], table: Table, fmt: _Format) -> None:
            if number in numbers:
                subject = _cell(row, table.column(*fmt.subject)).strip()[:200]
                kind = _cell(row, table.column(*fmt.kind)).strip()[:80]
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
    numbers, starts, days = builder.build()
    h = hashlib.sha256()
    for a in (numbers, starts, days):
        h.update(len(a).to_bytes(8, "big"))
        h.update(a.tobytes())
    return ComplaintIndex(files, h.hexdigest()[:32], numbers, starts, days)
