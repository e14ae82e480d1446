"""Telephone-number canonicalization for comparison (RFC 8224 §8.3, standards digest §1.6).

A PASSporT carries TNs as digit strings without ``+`` (``12155551212``). SIP carries them as
``tel:+1-215-555-1212``, ``sip:+12155551212@host;user=phone`` or bare digits. Both sides are
canonicalized the same way before they are compared; the signed bytes are never altered.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["canonicalize_tn", "tn_equal"]

_DIGITS = frozenset("0123456789#*")
# Visual separators of RFC 3966 §3 plus whitespace: dropped (RFC 8224 §8.3 step 2).
_SEPARATORS = frozenset("-.()[] \t")
_MAX_TN_LEN = 32
_SCHEME = re.compile(r"^(?:tel|sips?):", re.IGNORECASE)


def canonicalize_tn(value: str, *, nanp: bool = True) -> str | None:
    """Return the canonical TN string of ``value``, or None when it is not a telephone number.

    Accepts ``+1 (215) 555-1212``, ``tel:+1-215-555-1212;phone-context=...``,
    ``sip:+12155551212@example.com;user=phone``, ``<sip:...>`` and bare digit strings.
    RFC 8224 §8.3: the leading ``+`` and visual separators are dropped; ``#`` and ``*`` are kept.
    URI parameters and the SIP host part are ignored. With ``nanp`` (the default, the SHAKEN
    deployment's numbering plan), a 10-digit number gets the country code ``1`` prepended
    (standards digest §10 item 2). Non-ASCII digits are not digits here: ``"١٢٣"`` is not a TN.
    """
    if not isinstance(value, str):  # before the cache: a list or dict is unhashable
        return None
    return _canonicalize_tn(value, nanp)


@lru_cache(maxsize=8192)  # calls repeat numbers; bounded, so hostile input cannot grow it
def _canonicalize_tn(value: str, nanp: bool) -> str | None:
    s = value.strip()
    if len(s) > 256:
        return None
    if s.startswith("<"):
        end = s.find(">")
        s = s[1:end] if end > 0 else s[1:]
    m = _SCHEME.match(s)
    if m:
        s = s[m.end() :]
        # sip: user part ends at '@'; tel: number ends at the first ';' parameter.
        at = s.find("@")
        if at >= 0:
            s = s[:at]
        s = s.split(";", 1)[0]
    else:
        s = s.split(";", 1)[0]
    if s.startswith("+"):
        s = s[1:]
    out = []
    for ch in s:
        if ch in _DIGITS:
            out.append(ch)
        elif ch in _SEPARATORS:
            continue
        else:
            return None
    tn = "".join(out)
    if not tn or not any(c.isdigit() for c in tn) or len(tn) > _MAX_TN_LEN:
        return None
    if nanp and len(tn) == 10 and tn.isdigit() and tn[0] not in "01":
        tn = "1" + tn
    return tn


def tn_equal(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same telephone number after canonicalization."""
    ca, cb = canonicalize_tn(a), canonicalize_tn(b)
    return ca is not None and ca == cb
