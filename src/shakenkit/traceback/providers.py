"""Providers by OCN — the SPC a SHAKEN certificate carries (ATIS-1000080: the Service Provider
Code is the provider's OCN) — with what they tell the FCC's Robocall Mitigation Database (RMD)
about their STIR/SHAKEN implementation (docs/traceback.md, "Evidence").

Two forms are read, recognised by the header row (CSV, gzip too):

* the simple documented form ``ocn,name,rmd_status`` (one provider a row; ``rmd_status`` is free
  text, for example the RMD's implementation wording or ``not filed``);
* an RMD export, whose columns (``number, frn, business_name, ..., implementation, ...``; the
  RMD's web view labels them ``Business Name``, ``FCC Registration Number (FRN)``,
  ``Implementation`` ...) are recognised by ``business_name`` and ``implementation``. The RMD
  export as published did not carry an OCN column; a file that has none cannot be keyed by SPC
  and is refused with a message saying so. A column named ``ocn`` (or ``Operating Company
  Number``) may list several OCNs separated by commas, semicolons, slashes or spaces.

A later row (or file) for the same OCN replaces an earlier one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .tabular import EvidenceError, open_table

__all__ = ["Provider", "ProviderFile", "ProviderTable", "normalize_ocn", "read_providers"]

_OCN = re.compile(r"[0-9A-Z]{1,16}\Z")
_OCN_SPLIT = re.compile(r"[\s,;/|]+")
_OCN_COLUMNS = (
    "ocn", "ocns", "operatingcompanynumber", "operatingcompanynumbers",
    "operatingcompanynumberocn", "operatingcompanynumbersocns", "spc", "ocnspc",
)  # fmt: skip
MAX_TEXT = 300


def normalize_ocn(value: str | None) -> str | None:
    """An OCN or SPC as compared: trimmed, upper case, 1 to 16 letters and digits; else None."""
    if value is None:
        return None
    s = value.strip().upper()
    return s if _OCN.match(s) else None


@dataclass(frozen=True)
class Provider:
    """One provider: its ``name`` and ``rmd_status`` (as the table gives them), and when read
    from an RMD export, its ``frn`` and RMD filing ``rmd_number``."""

    ocn: str
    name: str
    rmd_status: str
    frn: str | None = None
    rmd_number: str | None = None

    def to_dict(self) -> dict[str, str]:
        """What a signer row shows: ``{"name": ..., "rmd_status": ...}``."""
        return {"name": self.name, "rmd_status": self.rmd_status}


@dataclass
class ProviderFile:
    """What was read from one provider file: its ``format`` (``table`` or ``rmd``), rows, and
    rows without a usable OCN."""

    path: str
    format: str
    rows: int = 0
    used: int = 0
    no_ocn: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "used": self.used,
            "no_ocn": self.no_ocn,
        }


@dataclass
class ProviderTable:
    """Providers by normalized OCN (:func:`normalize_ocn`)."""

    providers: dict[str, Provider] = field(default_factory=dict)
    files: tuple[ProviderFile, ...] = ()

    def get(self, spc: str | None) -> Provider | None:
        """The provider whose OCN is the SPC ``spc``, or None."""
        key = normalize_ocn(spc)
        return None if key is None else self.providers.get(key)

    def __len__(self) -> int:
        return len(self.providers)

    def describe(self) -> dict[str, Any]:
        """For ``summary.json``: the files read and the number of providers."""
        return {"files": [f.to_dict() for f in self.files], "providers": len(self.providers)}


def _text(row: list[str], i: int | None) -> str:
    if i is None or i >= len(row):
        return ""
    return row[i].strip()[:MAX_TEXT]


def _read(path: str | os.PathLike[str], table_out: dict[str, Provider]) -> ProviderFile:
    table, stream = open_table(path, "providers")
    with stream:
        if table is None:
            return ProviderFile(os.fspath(path), "empty")
        keys = set(table.keys)
        ocn_col = table.column(*_OCN_COLUMNS)
        if {"ocn", "name", "rmdstatus"} <= keys:
            fmt = "table"
            name_col, status_col = table.column("name"), table.column("rmdstatus")
            frn_col = number_col = None
        elif keys & {"businessname"} and keys & {"implementation", "stirshakenimplementation"}:
            fmt = "rmd"
            if ocn_col is None:
                raise EvidenceError(
                    f"providers {table.path}: this Robocall Mitigation Database export has no "
                    "OCN column, so its filings cannot be matched to the SPC of a certificate; "
                    "add a column 'ocn' to it, or give the providers as 'ocn,name,rmd_status'"
                )
            name_col = table.column("businessname")
            status_col = table.column("implementation", "stirshakenimplementation")
            frn_col = table.column("frn", "fccregistrationnumberfrn", "fccregistrationnumber")
            number_col = table.column("number", "rmdnumber")
        else:
            raise table.unknown_format(
                "providers",
                "is neither 'ocn,name,rmd_status' nor a Robocall Mitigation Database export "
                "(business_name, implementation, ... and an ocn column)",
            )
        stats = ProviderFile(table.path, fmt)
        for row in table.rows:
            stats.rows += 1
            ocns = [normalize_ocn(x) for x in _OCN_SPLIT.split(_text(row, ocn_col))]
            usable = [o for o in ocns if o is not None]
            if not usable:
                stats.no_ocn += 1
                continue
            stats.used += 1
            for ocn in usable:
                table_out[ocn] = Provider(
                    ocn,
                    _text(row, name_col),
                    _text(row, status_col),
                    _text(row, frn_col) or None,
                    _text(row, number_col) or None,
                )
    return stats


def read_providers(paths: Iterable[str | os.PathLike[str]]) -> ProviderTable:
    """Read provider files (``ocn,name,rmd_status`` or an RMD export with an OCN column;
    gzip too) into a :class:`ProviderTable`. Raises :class:`EvidenceError` for a file that
    cannot be read or is in neither form."""
    providers: dict[str, Provider] = {}
    files = tuple(_read(p, providers) for p in paths)
    return ProviderTable(providers, files)
