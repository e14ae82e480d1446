"""The I/O requests of the sans-IO verifier, as typed events (the shape of h11's events).

The verification core is a generator that *asks* for what it cannot compute: a certificate
chain named by ``x5u``, a fresh copy of one after a key mismatch, a CRL named by a distribution
point, Rich Call Data content named by ``icn``/``jcl``. Each ask is one of the small frozen
classes below; the drivers (:meth:`Verifier.verify` and :meth:`Verifier.averify`) answer it
with the object asked for, or with the exception that says why it could not be had, and
dispatch on the exact type with ``match`` (:func:`assert_never` keeps that exhaustive).

A request validates its URL on construction (a non-empty string); its length is bounded
before it is made (``Policy.max_url_length``), and the URL policy of the source judges the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "FetchChain",
    "FetchCrl",
    "FetchRcd",
    "IoRequest",
    "RefreshChain",
]

def _check_url(kind: str, url: object) -> None:
    if not isinstance(url, str) or not url:
        raise ValueError(f"{kind}: url must be a non-empty string")


@dataclass(frozen=True, slots=True)
class FetchChain:
    """The certificate chain at an ``x5u`` URL (RFC 8225 §4.3; standards digest §6.4)."""

    url: str

    def __post_init__(self) -> None:
        _check_url("FetchChain", self.url)


@dataclass(frozen=True, slots=True)
class RefreshChain:
    """The chain at ``url`` again, because the cached one's key did not verify the PASSporT
    (x5u URLs are reused for new keys, corpus README). Asked at most once per header."""

    url: str

    def __post_init__(self) -> None:
        _check_url("RefreshChain", self.url)


@dataclass(frozen=True, slots=True)
class FetchCrl:
    """The CRL(s) at a certificate's CRL distribution point (RFC 5280 §4.2.1.13; standards
    digest §6.3 item 5)."""

    url: str

    def __post_init__(self) -> None:
        _check_url("FetchCrl", self.url)


@dataclass(frozen=True, slots=True)
class FetchRcd:
    """Rich Call Data content an ``rcdi`` digest covers (RFC 9795 ``icn``/``jcl``)."""

    url: str

    def __post_init__(self) -> None:
        _check_url("FetchRcd", self.url)


IoRequest: TypeAlias = FetchChain | RefreshChain | FetchCrl | FetchRcd
