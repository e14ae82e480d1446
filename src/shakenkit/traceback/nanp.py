"""Assigned NANP exchanges (NPA-NXX central office codes) from NANPA's published code
assignment reports, to flag calls whose calling number sits in an exchange that is not assigned
to any carrier: no subscriber can hold such a number, so a call "from" it is spoofed
(docs/traceback.md, "Evidence").

Read (CSV or tab-separated, gzip too, recognised by the header row):

* NANPA's central office code assignment report (``allutlzd.txt``, tab-separated: ``State,
  NPA-NXX, OCN, Company, RateCenter, EffectiveDate, Use, AssignDate, Initial/Growth``): a code
  is assigned when its ``Use`` is ``AS`` (a file without a ``Use`` column lists assigned codes
  only);
* a table with separate ``NPA`` and ``NXX`` columns (``CO Code (NXX)`` as the Canadian
  administrator writes it), with an optional ``Status`` or ``Use`` column (``AS``, ``Assigned``
  or ``In Service`` count as assigned);
* a plain list of NPA-NXX codes, one a line (``201-202`` or ``201202``), without a header.

Only the area codes (NPAs) the file lists are judged: a number whose NPA the file does not
cover (another region's file, a toll-free or non-geographic NPA) is never flagged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from .tabular import EvidenceError, cell, header_key, open_table

__all__ = ["ExchangeTable", "read_exchanges"]

_CODE = re.compile(r"\s*([2-9][0-9]{2})\s*-?\s*([0-9]{3})\s*\Z")
_ASSIGNED = {"as", "assigned", "inservice"}


@dataclass
class ExchangeTable:
    """Assigned NPA-NXX codes (a bitmap of the 10^6 codes) and the NPAs the file covers."""

    path: str = ""
    format: str = ""
    rows: int = 0
    assigned_codes: int = 0
    unusable: int = 0
    covered_npas: int = 0
    _npas: bytearray = field(default_factory=lambda: bytearray(1000), repr=False)
    _codes: bytearray = field(default_factory=lambda: bytearray(1_000_000), repr=False)

    def add(self, npa: int, nxx: int, assigned: bool = True) -> None:
        """Mark the NPA as covered and, when ``assigned``, the code as assigned."""
        if not self._npas[npa]:
            self._npas[npa] = 1
            self.covered_npas += 1
        if assigned and not self._codes[npa * 1000 + nxx]:
            self._codes[npa * 1000 + nxx] = 1
            self.assigned_codes += 1

    def covers(self, npa: int) -> bool:
        """Does the file list codes of area code ``npa``?"""
        return 0 <= npa < 1000 and bool(self._npas[npa])

    def unassigned(self, number: str | None) -> bool:
        """Is ``number`` (canonical digits, ``1`` + 10 digits for NANP) in an exchange of a
        covered NPA that is not assigned? False for other numbers."""
        if number is None or len(number) != 11 or number[0] != "1" or not number.isdigit():
            return False
        npa = int(number[1:4])
        if not self._npas[npa]:
            return False
        return not self._codes[npa * 1000 + int(number[4:7])]

    def describe(self) -> dict[str, Any]:
        """For ``summary.json``."""
        return {
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "assigned_codes": self.assigned_codes,
            "npas": self.covered_npas,
            "unusable": self.unusable,
        }


def _code(value: str) -> tuple[int, int] | None:
    m = _CODE.match(value[:64])
    return None if m is None else (int(m.group(1)), int(m.group(2)))


def read_exchanges(path: str | os.PathLike[str]) -> ExchangeTable:
    """Read a NANPA exchange file (see the module documentation). Raises
    :class:`EvidenceError` for a file that cannot be read or is in no known form."""
    table, stream = open_table(path, "NANP exchanges")
    out = ExchangeTable(os.fspath(path))
    with stream:
        if table is None:
            raise EvidenceError(f"NANP exchanges {out.path}: the file is empty")
        combined = table.column("npanxx", "npanxxcode")
        npa_col = table.column("npa")
        nxx_col = table.column("nxx", "cocodenxx", "cocode", "nxxcode", "centralofficecode")
        use_col = table.column("use", "status", "codestatus")
        rows = table.rows
        if combined is not None:
            out.format = "nanpa"
        elif npa_col is not None and nxx_col is not None:
            out.format = "npa,nxx"
        elif len(table.header) == 1 and _code(table.header[0]) is not None:
            out.format = "list"  # no header: the first line is a code
            npa, nxx = _code(table.header[0]) or (0, 0)
            out.add(npa, nxx)
            out.rows += 1
            combined = 0
        else:
            raise table.unknown_format(
                "NANP exchanges",
                "has neither an NPA-NXX column (NANPA's code assignment report) nor NPA and NXX "
                "columns, and the file is not a list of NPA-NXX codes",
            )
        for row in rows:
            out.rows += 1
            if combined is not None:
                code = _code(cell(row, combined, 64))
            else:
                code = _code(f"{cell(row, npa_col, 64).strip()}-{cell(row, nxx_col, 64).strip()}")
            if code is None:
                out.unusable += 1
                continue
            use = header_key(cell(row, use_col, 64)[:40])
            out.add(code[0], code[1], use_col is None or use in _ASSIGNED)
    if out.assigned_codes == 0:
        raise EvidenceError(f"NANP exchanges {out.path}: no assigned NPA-NXX code in the file")
    return out
