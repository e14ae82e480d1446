"""Evidence for accountability: the public data an investigator holds beside a call archive —
consumers' complaints (:mod:`.complaints`), the providers' Robocall Mitigation Database status
(:mod:`.providers`) and NANPA's assigned exchanges (:mod:`.nanp`) — bundled as one
:class:`Evidence` that an :class:`~shakenkit.traceback.Aggregator` joins with the calls.

A call's day is the UTC calendar day of its time; a call matches the complaints about its
calling number (:attr:`~shakenkit.traceback.VerdictRecord.number`) whose violation day is within
``window`` days of it, both ends included. A call without a time matches nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from .complaints import DEFAULT_WINDOW_DAYS, ComplaintIndex, read_complaints
from .nanp import ExchangeTable, read_exchanges
from .providers import Provider, ProviderTable, read_providers
from .tabular import EvidenceError

__all__ = ["MAX_WINDOW_DAYS", "Evidence", "EvidenceError", "call_day"]

MAX_WINDOW_DAYS = 3660
"""The longest complaint window accepted (about ten years)."""

DAY = 86_400


def call_day(t: float) -> int:
    """The UTC calendar day (days since 1970-01-01) of a call at Unix time ``t``."""
    return int(t // DAY)


@dataclass(frozen=True)
class Evidence:
    """Complaints, providers and NANP exchanges joined with the calls, and the complaint
    ``window`` in days. Each part is optional. Picklable: worker processes and Dask tasks get a
    copy; :meth:`detached` (what travels back with an aggregate) keeps the descriptions, the
    provider table and the fingerprint, not the complaint index or the exchange bitmap."""

    complaints: ComplaintIndex | None = None
    providers: ProviderTable | None = None
    exchanges: ExchangeTable | None = None
    window: int = DEFAULT_WINDOW_DAYS
    attached: bool = True
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int):
            raise ValueError("the complaint window is a whole number of days")
        if not 0 <= self.window <= MAX_WINDOW_DAYS:
            raise ValueError(f"the complaint window must be 0 to {MAX_WINDOW_DAYS} days")
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", self._digest())

    def _digest(self) -> str:
        h = hashlib.sha256(f"window={self.window}\n".encode())
        if self.complaints is not None:
            h.update(f"complaints={self.complaints.fingerprint}\n".encode())
        if self.providers is not None:
            for ocn in sorted(self.providers.providers):
                p = self.providers.providers[ocn]
                h.update(repr((ocn, p.name, p.rmd_status, p.frn, p.rmd_number)).encode())
        if self.exchanges is not None:
            h.update(b"exchanges=" + hashlib.sha256(bytes(self.exchanges._codes)).digest())
            h.update(bytes(self.exchanges._npas))
        return h.hexdigest()[:32]

    @classmethod
    def load(
        cls,
        complaints: Iterable[str | os.PathLike[str]] = (),
        providers: Iterable[str | os.PathLike[str]] = (),
        nanp_exchanges: str | os.PathLike[str] | None = None,
        *,
        window: int = DEFAULT_WINDOW_DAYS,
    ) -> Evidence:
        """Read the evidence files: complaint exports (FTC or FCC), provider tables
        (``ocn,name,rmd_status`` or an RMD export with OCNs) and NANPA's exchange file. Raises
        :class:`EvidenceError` for a file that cannot be used."""
        c, p = list(complaints), list(providers)
        return cls(
            read_complaints(c) if c else None,
            read_providers(p) if p else None,
            read_exchanges(nanp_exchanges) if nanp_exchanges is not None else None,
            window,
        )

    def detached(self) -> Evidence:
        """This evidence without its bulky parts (same fingerprint): enough to write tables."""
        if not self.attached:
            return self
        return replace(
            self,
            complaints=None if self.complaints is None else self.complaints.detached(),
            exchanges=None
            if self.exchanges is None
            else replace(self.exchanges, _npas=bytearray(), _codes=bytearray()),
            attached=False,
            fingerprint=self.fingerprint,
        )

    def provider(self, spc: str | None) -> Provider | None:
        """The provider table's entry for SPC ``spc`` (None without a table or an entry)."""
        return None if self.providers is None else self.providers.get(spc)

    def describe(self) -> dict[str, Any]:
        """What was loaded (for ``summary.json``)."""
        return {
            "complaint_window_days": self.window,
            "complaints": None if self.complaints is None else self.complaints.describe(),
            "providers": None if self.providers is None else self.providers.describe(),
            "nanp_exchanges": None if self.exchanges is None else self.exchanges.describe(),
        }

    def __dask_tokenize__(self) -> str:
        return f"shakenkit-evidence-{self.fingerprint}-{self.attached}"
