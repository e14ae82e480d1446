"""Diverted calls: ``div`` PASSporTs (RFC 8946; standards digest §7.1).

When a carrier retargets a call (call forwarding, hunt groups, toll-free routing), the original
PASSporT's ``dest`` no longer matches the request's To / Request-URI. The retargeting carrier
adds a second Identity header, ``ppt=div``, signed with its own certificate (its own ``x5u``):
``orig`` copied from the original PASSporT, ``dest`` the new target, a fresh ``iat``, and the
``div`` claim, the number it diverted the call *from* (RFC 8946 §3). Each further retargeting
adds another link. ``ppt=div-o`` (RFC 8946 §5) also carries the original PASSporT, full form, in
the ``opt`` claim, for networks that cannot carry both headers.

Every header still goes through the verifier's one per-header procedure (signature,
certificate, freshness, numbers). This module is the pure step after it:
:func:`link_call` links each ``div`` link to the SHAKEN PASSporT it continues and decides the
call's verdict (docs/verdicts.md, "Diverted calls"):

1. A link continues a number of the chain when its ``div`` equals the SHAKEN ``dest`` (or the
   previous link's ``dest``) and its ``orig`` equals the SHAKEN ``orig`` (RFC 8946 §3, §4).
2. The chain holds when every link on it verified and its last ``dest`` is the call's called
   number (To or Request-URI): the call passes with the SHAKEN attestation (``caller_id``
   stays the SHAKEN answer) and ``Verdict.diversion`` lists the links.
3. A link on the chain that fails (signature 438, certificate 437, stale 403, unreachable
   certificate 436, wrong ``orig`` 438) fails the call with that code, check ``div_<check>``;
   ``likely_spoofed`` exactly when the SHAKEN rules give it for that code (436 is not evidence).
4. No link continues the chain: the SHAKEN ``dest`` mismatch stands (438 ``dest_tn``). A link
   that leads back to a number already in the chain is a ``loop``; a chain longer than
   ``Policy.max_div_depth`` fails with 438 ``div_chain`` (a local limit: ``unverified``).
5. ``div`` PASSporTs without a SHAKEN PASSporT vouch for nobody's caller ID: No-TN-Validation
   (a ``div`` header that itself fails gives its failure, as any header would).

History-Info (RFC 7044) and Diversion (RFC 5806) headers, when the request has them, are a
cross-check only (they are unsigned): a link whose numbers they do not show adds a warning.

Certificate scope: the ``div`` signer chooses a ``div`` number within the scope of its own
credential (RFC 8946 §3). SHAKEN certificates carry only an SPC (ATIS-1000080), which the
verifier treats as covering every number (standards digest §1.4 step 2), so the retargeting
carrier's certificate is checked like any SHAKEN signer's: chain, profile, CRL, signature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ShakenError
from .identity import IdentityHeader, format_identity, parse_identity
from .passport import decode_passport
from .tn import canonicalize_tn
from .verdict import Check, DivLink, Verdict, VerdictError

__all__ = [
    "DEFAULT_MAX_DIV_DEPTH",
    "DIV_PPT",
    "Retargeting",
    "div_claims_problem",
    "embedded_original",
    "is_div_value",
    "link_call",
]

DIV_PPT = ("div", "div-o")  # a tuple: its repr (docs/api.md) does not depend on hashing
DEFAULT_MAX_DIV_DEPTH = 5


@dataclass(frozen=True, slots=True)
class Retargeting:
    """What the SIP request itself says about retargeting: the Request-URI's number (the final
    ``div`` ``dest`` may match it rather than To), and the numbers of its History-Info
    (RFC 7044) and Diversion (RFC 5806) entries, used to cross-check the links (unsigned, so
    never decisive). All canonical TNs (RFC 8224 §8.3)."""

    request_uri_tn: str | None = None
    history_info_tns: tuple[str, ...] = ()
    diversion_tns: tuple[str, ...] = ()

    @classmethod
    def of_message(cls, msg: Any) -> Retargeting:
        """The retargeting facts of a :class:`~shakenkit.sip.SipMessage`."""
        from .sip_message import addr_uri, uri_tn

        def tns(values: Sequence[str]) -> tuple[str, ...]:
            out: list[str] = []
            for v in values[:64]:
                uri = addr_uri(v)
                tn = uri_tn(uri) if uri else None
                if tn is not None and tn not in out:
                    out.append(tn)
            return tuple(out)

        return cls(uri_tn(msg.request_uri), tns(msg.history_info), tns(msg.diversion))


def div_claims_problem(claims: Any) -> str | None:
    """Why the claims of a ``div``/``div-o`` PASSporT break RFC 8946 §3/§5, or None.

    ``div`` must be an object naming one identity, ``{"tn": "..."}`` or ``{"uri": "..."}``
    (a one-element ``tn`` array is tolerated); ``opt``, when present, a full-form PASSporT."""
    extra = claims.extra
    d = extra.get("div")
    if not isinstance(d, dict):
        return "div claim is missing or not an object (RFC 8946 §3)"
    tn, uri = d.get("tn"), d.get("uri")
    if isinstance(tn, list) and len(tn) == 1:
        tn = tn[0]
    if not isinstance(tn, str) and not isinstance(uri, str):
        return "div claim names no 'tn' or 'uri' string (RFC 8946 §3)"
    opt = extra.get("opt")
    if opt is not None and (not isinstance(opt, str) or opt.count(".") != 2):
        return "opt claim is not a full-form PASSporT (RFC 8946 §5)"
    return None


def _div_tn(d: object) -> str | None:
    if not isinstance(d, dict):
        return None
    tn = d.get("tn")
    if isinstance(tn, list) and len(tn) == 1:
        tn = tn[0]
    if isinstance(tn, str):
        return canonicalize_tn(tn)
    uri = d.get("uri")
    return canonicalize_tn(uri) if isinstance(uri, str) else None


def _header_ppt(raw: str, max_bytes: int) -> str | None:
    try:
        ih = parse_identity(raw, max_bytes=max_bytes)
        if ih.ppt is not None:
            return ih.ppt
        if ih.compact:
            return None
        p = decode_passport(ih.token, max_bytes=max_bytes)
    except ShakenError:
        return None
    return p.header.ppt if isinstance(p.header.ppt, str) else None


def is_div_value(raw: object, max_bytes: int = 16_384) -> bool:
    """Is this Identity header value a ``div``/``div-o`` PASSporT (by its ``ppt`` parameter,
    else its JOSE header)? False for anything that cannot be read."""
    return isinstance(raw, str) and _header_ppt(raw, max_bytes) in DIV_PPT


@dataclass(frozen=True, slots=True)
class _Info:
    """What linking needs from one decoded ``div`` PASSporT."""

    div_tn: str | None
    dest_tns: tuple[str, ...]
    orig_tn: str | None
    opt: str | None


def _info(raw: str, max_bytes: int) -> _Info | None:
    try:
        ih = parse_identity(raw, max_bytes=max_bytes)
        p = decode_passport(ih.token, max_bytes=max_bytes)
    except ShakenError:
        return None
    c = p.claims
    dests = tuple(t for t in (canonicalize_tn(x) for x in c.dest_tns) if t is not None)
    opt = c.extra.get("opt")
    return _Info(
        _div_tn(c.extra.get("div")),
        dests,
        canonicalize_tn(c.orig_tn) if c.orig_tn else None,
        opt if isinstance(opt, str) else None,
    )


def embedded_original(raw: str, max_bytes: int = 16_384) -> str | None:
    """The Identity header value of the PASSporT a ``div-o`` (or ``div``) carries in its
    ``opt`` claim (RFC 8946 §5), to verify like any header: ``<opt>;info=<its x5u>;ppt=..``.
    None when there is none or it cannot be read."""
    info = _info(raw, max_bytes)
    if info is None or info.opt is None:
        return None
    try:
        inner = decode_passport(info.opt, max_bytes=max_bytes)
    except ShakenError:
        return None
    x5u, ppt = inner.header.x5u, inner.header.ppt
    if not isinstance(x5u, str) or not x5u or any(c in x5u for c in ' <>"\r\n;,'):
        return None
    return format_identity(
        IdentityHeader(info.opt, x5u, None, ppt if isinstance(ppt, str) else None)
    )


@dataclass(frozen=True, slots=True)
class _Item:
    header: int | None
    verdict: Verdict
    info: _Info | None

    @property
    def sound(self) -> bool:
        """Verified up to the numbers: passed, or failed only because its ``dest`` is not the
        call's called number (expected of every link but the last)."""
        v = self.verdict
        if v.error is None:  # Passed, or No-TN-Validation for numbers not given
            return v.passed or v.signature_verified
        return v.error.check == "dest_tn"


def _link(item: _Item, result: str, position: int | None, error: VerdictError | None) -> DivLink:
    v, info = item.verdict, item.info
    return DivLink(
        header=item.header,
        position=position,
        ppt=v.ppt or "div",
        div_tn=info.div_tn if info else None,
        dest_tns=list(info.dest_tns) if info else list(v.dest_tns),
        orig_tn=v.orig_tn,
        iat=v.iat,
        signer=v.signer,
        result=result,  # type: ignore[arg-type]
        error=error,
    )


def _rank(attest: str | None) -> int:
    return {"A": 0, "B": 1, "C": 2}.get(attest or "", 3)


def link_call(
    results: Sequence[tuple[int | None, str | None, Verdict]],
    *,
    dests: Sequence[str],
    retargeting: Retargeting | None,
    max_depth: int,
    verified_attest: frozenset[str],
    no_validation: Callable[[str], Verdict],
    max_bytes: int = 16_384,
) -> Verdict | None:
    """The verdict of a call whose Identity headers include ``div`` PASSporTs (module doc), or
    None when none is a ``div`` (the ordinary best-of rule applies).

    ``results`` holds ``(header index, raw value, verdict)`` per Identity header as the
    per-header procedure returned it; ``dests`` the call's canonical called numbers (To,
    Request-URI)."""
    divs: list[_Item] = []
    bases: list[_Item] = []
    for idx, raw, v in results:
        if v.ppt in DIV_PPT:
            divs.append(_Item(idx, v, _info(raw, max_bytes) if raw else None))
        elif v.ppt != "rcd":
            bases.append(_Item(idx, v, None))
    if not divs:
        return None
    targets = {t for t in dests if t}
    passed = [b for b in bases if b.verdict.passed]
    if not passed:
        # Numbers not given: the SHAKEN PASSporT verified but no TN was validated; its chain is
        # reported the same way and the verdict stays No-TN-Validation.
        passed = [b for b in bases if b.verdict.error is None and b.verdict.signature_verified]
    if passed:
        # The called number matched the SHAKEN PASSporT itself (To kept across retargeting):
        # the chain is reported, and a broken link only warns (RFC 8224 §6.2 step 1).
        best = min(passed, key=lambda b: _rank(b.verdict.attest))
        chain, used, _end, _failure = _walk(best, divs, targets, max_depth)
        links = chain + _leftovers(divs, used)
        notes = [
            f"diversion link {lk.position}: {lk.error.detail}"
            for lk in chain
            if lk.error is not None
        ]
        return best.verdict.model_copy(
            update={"diversion": links, "warnings": best.verdict.warnings + notes}
        )
    candidates = [
        b for b in bases if b.verdict.error is not None and b.verdict.error.check == "dest_tn"
    ]
    if not candidates:
        first = next((b for b in bases if b.verdict.failed), None)
        if first is not None:
            return first.verdict.model_copy(update={"diversion": _leftovers(divs, set())})
        broken = next((d for d in divs if not d.sound), None)
        if broken is not None:
            # A div header that is itself provably wrong: the first failure decides, as for
            # any header (RFC 8224 §6.2 step 1).
            return broken.verdict.model_copy(update={"diversion": _leftovers(divs, set())})
        v = no_validation("div PASSporT without the SHAKEN PASSporT it continues (RFC 8946 §4)")
        checks = [
            *v.checks,
            Check("div_chain", False, "no SHAKEN PASSporT for the div chain to continue"),
        ]
        ppt = divs[0].verdict.ppt
        return v.model_copy(
            update={"diversion": _leftovers(divs, set()), "checks": checks, "ppt": ppt}
        )
    outcomes: list[Verdict] = []
    for base in sorted(candidates, key=lambda b: _rank(b.verdict.attest)):
        chain, used, end, failure = _walk(base, divs, targets, max_depth)
        links = chain + _leftovers(divs, used)
        outcomes.append(
            _decide(base, chain, links, end, failure, targets, retargeting, verified_attest)
        )
        if outcomes[-1].passed:
            return outcomes[-1]
    return outcomes[0]


def _leftovers(divs: Sequence[_Item], used: set[int]) -> list[DivLink]:
    """The div PASSporTs off the chain: ``failed`` (with why) when their own verification
    failed, else ``unlinked``."""
    out = []
    for i, d in enumerate(divs):
        if i in used:
            continue
        e = d.verdict.error
        if d.sound or e is None:
            out.append(_link(d, "unlinked", None, None))
        else:
            out.append(
                _link(d, "failed", None, VerdictError.of(e.sip_code, "div_" + e.check, e.detail))
            )
    return out


@dataclass(frozen=True, slots=True)
class _Failure:
    sip_code: int
    check: str
    detail: str
    spoofed: bool


def _walk(
    base: _Item, divs: Sequence[_Item], targets: set[str], max_depth: int
) -> tuple[list[DivLink], set[int], bool, _Failure | None]:
    """Follow the chain from ``base``: (links on it, indexes used, reached a called number,
    the failure that stopped it). Each TN is visited once: bounded by the number of links."""
    v = base.verdict
    orig = canonicalize_tn(v.orig_tn) if v.orig_tn else None
    current = {t for t in (canonicalize_tn(x) for x in v.dest_tns) if t is not None}
    visited = set(current)
    chain: list[DivLink] = []
    used: set[int] = set()
    while True:
        if chain and current & targets:
            return chain, used, True, None
        nxt = [
            (i, d)
            for i, d in enumerate(divs)
            if i not in used and d.info is not None and d.info.div_tn in current
        ]
        if not nxt:
            return chain, used, False, None
        # Prefer a sound link, then one that reaches the called number, then header order.
        i, d = min(
            nxt,
            key=lambda p: (
                not p[1].sound,
                not (p[1].info is not None and set(p[1].info.dest_tns) & targets),
                p[0],
            ),
        )
        used.add(i)
        position = len(chain) + 1
        info = d.info
        assert info is not None
        hop = f"{info.div_tn} -> {', '.join(info.dest_tns) or '?'}"
        if position > max_depth:
            chain.append(_link(d, "beyond_depth", position, None))
            return (
                chain,
                used,
                False,
                _Failure(
                    438,
                    "div_chain",
                    f"diversion chain longer than max_div_depth ({max_depth}) at link {hop}",
                    False,
                ),
            )
        if not d.sound:
            e = d.verdict.error
            assert e is not None
            err = VerdictError.of(
                e.sip_code, "div_" + e.check, f"link {position} ({hop}): {e.detail}"
            )
            chain.append(_link(d, "failed", position, err))
            return (
                chain,
                used,
                False,
                _Failure(e.sip_code, err.check, err.detail, d.verdict.likely_spoofed),
            )
        if orig is None or info.orig_tn != orig:
            err = VerdictError.of(
                438,
                "div_orig",
                f"link {position} ({hop}): orig {info.orig_tn!r} is not the SHAKEN orig "
                f"{orig!r} (RFC 8946 §3)",
            )
            chain.append(_link(d, "failed", position, err))
            return chain, used, False, _Failure(438, "div_orig", err.detail, True)
        new = set(info.dest_tns) - visited
        if not new:
            err = VerdictError.of(
                438, "div_loop", f"link {position} ({hop}) leads back to a number of the chain"
            )
            chain.append(_link(d, "loop", position, err))
            return chain, used, False, _Failure(438, "div_loop", err.detail, True)
        chain.append(_link(d, "valid", position, None))
        visited |= new
        current = new


def _decide(
    base: _Item,
    chain: list[DivLink],
    links: list[DivLink],
    reached: bool,
    failure: _Failure | None,
    targets: set[str],
    retargeting: Retargeting | None,
    verified_attest: frozenset[str],
) -> Verdict:
    v = base.verdict
    checks = list(v.checks)
    if reached and failure is None:
        path = " -> ".join(
            [*(lk.div_tn or "?" for lk in chain), *sorted(set(chain[-1].dest_tns) & targets)]
        )
        checks[-1] = Check(
            "dest_tn",
            True,
            f"the called number is reached by the diversion chain {path} (RFC 8946)",
        )
        checks.append(Check("div_chain", True, f"{len(chain)} div link(s) verified and chained"))
        warnings = list(v.warnings)
        if retargeting is not None and (retargeting.history_info_tns or retargeting.diversion_tns):
            seen = set(retargeting.history_info_tns) | set(retargeting.diversion_tns)
            missing = [lk.div_tn for lk in chain if lk.div_tn not in seen]
            if missing:
                detail = (
                    "History-Info/Diversion do not show the retargeting from "
                    + ", ".join(str(m) for m in missing)
                    + " (RFC 7044, RFC 5806; unsigned, informational)"
                )
                checks.append(Check("div_history", False, detail))
                warnings.append(detail)
            else:
                checks.append(
                    Check("div_history", True, "History-Info/Diversion agree with the div chain")
                )
        rcd = v.rcd
        if rcd is not None and rcd.display_name is None and rcd.integrity != "failed":
            # The SHAKEN PASSporT that signed the name is now verified.
            rcd = dataclasses.replace(rcd, display_name=rcd.nam)
        attest = v.attest
        # orig not given: the chain reached the called number, but no TN was validated.
        compared = not any(c.name == "orig_tn" and not c.ok for c in checks)
        return v.model_copy(
            update={
                "verstat": "TN-Validation-Passed" if compared else "No-TN-Validation",
                "caller_id": "verified" if compared and attest in verified_attest else "unverified",
                "likely_spoofed": False,
                "error": None,
                "checks": checks,
                "warnings": warnings,
                "diversion": links,
                "rcd": rcd,
            }
        )
    if failure is not None:
        checks.append(Check(failure.check, False, failure.detail))
        return v.model_copy(
            update={
                "caller_id": "likely_spoofed" if failure.spoofed else "unverified",
                "likely_spoofed": failure.spoofed,
                "error": VerdictError.of(failure.sip_code, failure.check, failure.detail),
                "checks": checks,
                "diversion": links,
            }
        )
    # No link continues the chain: the SHAKEN dest mismatch stands (RFC 8224 §6.2).
    e = v.error
    assert e is not None
    last = ", ".join(sorted({t for lk in chain for t in lk.dest_tns} if chain else set(v.dest_tns)))
    detail = e.detail + f"; no valid div PASSporT continues the chain from {last} (RFC 8946)"
    checks.append(Check("div_chain", False, f"no div PASSporT continues the chain from {last}"))
    return v.model_copy(
        update={
            "error": VerdictError.of(e.sip_code, e.check, detail),
            "checks": checks,
            "diversion": links,
        }
    )
