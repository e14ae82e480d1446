"""Reading the public evidence files (complaint exports, provider tables, NANPA exchange lists):
plain or gzip-compressed CSV (or tab-separated) text, recognised by its header row, streamed
row by row so that a file of any length is read in constant memory.

Every file is hostile input: a row that cannot be used is counted, never fatal; a file whose
header is in no known format raises :class:`EvidenceError` with a sentence saying what was
expected.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["EvidenceError", "Table", "cell", "header_key", "open_table"]


class EvidenceError(ValueError):
    """An evidence file (complaints, providers, NANP exchanges) that cannot be used: it cannot
    be read, or its header is in no known format. The message names the file."""


_KEY = re.compile(r"[^0-9a-z]+")

MAX_HEADER_FIELDS = 256
"""Columns read from a header row: a wider header is cut (a real export has a dozen or two)."""

MAX_FIELD_CHARS = 4096
"""A cell longer than this is cut before any use (the csv module's own limit is 128 KiB)."""


def header_key(name: str) -> str:
    """A header cell compared loosely: lower case, only letters and digits
    (``"Caller ID Number"``, ``caller_id_number`` and ``CALLER-ID number`` are one key)."""
    return _KEY.sub("", name.strip().lstrip("\ufeff").lower())


@dataclass
class Table:
    """An open evidence file: its header (as written and as :func:`header_key` keys), the
    delimiter found, and the data rows (lists of cells; the first data row is line 2)."""

    path: str
    header: list[str]
    keys: list[str]
    delimiter: str
    rows: Iterator[list[str]]
    errors: int = 0  # rows the csv module refused (a field over its limit ...)

    def column(self, *names: str) -> int | None:
        """The index of the first header column whose key is one of ``names`` (keys)."""
        for n in names:
            if n in self.keys:
                return self.keys.index(n)
        return None

    def unknown_format(self, what: str, expected: str) -> EvidenceError:
        """The error for a header in no known format: ``what``, the file, the header's first
        cells, then ``expected`` (what the header is not)."""
        shown = ", ".join(h[:40] for h in self.header[:8])
        return EvidenceError(f"{what} {self.path}: unknown format: the header ({shown}) {expected}")


def cell(row: list[str], i: int | None, limit: int = MAX_FIELD_CHARS) -> str:
    """Cell ``i`` of ``row`` cut to ``limit`` characters; ``""`` when the column is absent
    (``i`` None) or the row is short."""
    if i is None or i >= len(row):
        return ""
    v = row[i]
    return v if len(v) <= limit else v[:limit]


def _text(path: str) -> IO[str]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    stream: Any = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")  # noqa: SIM115
    # UTF-8 with a possible byte order mark; a byte that is not UTF-8 becomes U+FFFD.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")


def open_table(path: str | os.PathLike[str], what: str) -> tuple[Table | None, IO[str]]:
    """Open ``path`` (gzip too) and read its header row. Returns the :class:`Table` (None for
    an empty file) and the text stream to close. Raises :class:`EvidenceError` when the file
    cannot be read."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise EvidenceError(f"{what} {name}: is a directory")
    try:
        f = _text(name)
    except OSError as e:
        raise EvidenceError(f"{what} {name}: cannot read: {e.strerror or e}") from e
    try:
        first = ""
        while not first.strip():
            first = f.readline(1 << 16)
            if not first:
                return None, f
    except (OSError, EOFError, UnicodeError) as e:
        f.close()
        raise EvidenceError(f"{what} {name}: cannot read: {e}") from e
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    header = next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter), [])
    header = [h.strip()[:MAX_FIELD_CHARS] for h in header[:MAX_HEADER_FIELDS]]
    table = Table(name, header, [header_key(h) for h in header], delimiter, iter(()))
    table.rows = _rows(f, table)
    return table, f


def _rows(f: IO[str], table: Table) -> Iterator[list[str]]:
    reader = csv.reader(f, delimiter=table.delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            table.errors += 1
            continue
        except (OSError, EOFError) as e:  # a truncated gzip stream
            raise EvidenceError(f"{table.path}: cannot read: {e}") from e
        yield row
