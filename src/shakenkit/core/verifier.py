"""The verification service (STI-VS): Identity header + call numbers -> :class:`Verdict`.

The procedure is standards digest §5.3 (ATIS-1000074 §5.3, RFC 8224 §6.2), run as ordered,
named checks; the first failing check decides the SIP code. The core is sans-IO: ``_precheck``
and ``_finish`` are pure functions of their inputs and a clock value, and
``Verifier._header_steps`` strings them together as a generator that *asks* for each
certificate, CRL or refresh it needs by yielding a typed request (:mod:`shakenkit.core.requests`:
``FetchChain``, ``RefreshChain``, ``FetchCrl``, ``FetchRcd``). :meth:`Verifier.verify` answers
those requests with ``source.get``, :meth:`Verifier.averify` with ``await source.aget``; every
rule is shared, and so is the call's budget (:class:`_CallBudget`: headers examined, distinct
URLs fetched, one I/O deadline; docs/security.md "Bounded work per call").
"""

from __future__ import annotations

import itertools
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn, TypeVar

import anyio
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..certs.certificate import CertChain, ChainResult
from ..certs.crl import read_crls
from ..certs.path import strict_profile_refusal, validate_chain
from ..certs.profile import ProfileFinding, leaf_profile
from ..certs.revocation import RevocationChecker, RevocationResult, load_crl_signers
from ..certs.trust import Anchors, AnchorSources, TrustStore
from ..errors import CertificateError, CertificateFetchError, ShakenError
from ..repository.deadline import call_deadline
from ..repository.fetch import Fetcher, FetchError, FetchPolicy
from ..repository.sources import (
    ChainSource,
    CrlSource,
    PeekableChainSource,
    PeekableCrlSource,
    RefreshableChainSource,
    StaticSource,
    SupportsClose,
    SupportsStats,
)
from .div import (
    DIV_PPT,
    Retargeting,
    div_claims_problem,
    embedded_original,
    link_call,
)
from .identity import (
    IdentityHeader,
    parse_identity,
    split_identity_values,
)
from .passport import (
    ATTEST_VALUES,
    IGNORED_KEY_PARAMS,
    Passport,
    decode_passport,
    rebuild_compact,
    verify_signature,
)
from .policy import Policy
from .rcd import has_rcd, rcd_steps
from .replay import ReplayCache, ReplayStore, replay_key
from .requests import FetchChain, FetchCrl, FetchRcd, IoRequest, RefreshChain
from .sigmemo import SignatureMemo
from .sip_message import SipMessage, SipParseError, malformed_message_verdict, parse_sip
from .tn import canonicalize_tn
from .verdict import Check, HeaderResult, Signer, Verdict, VerdictError

__all__ = ["Policy", "Verifier"]

# shaken (RFC 8588), div / div-o (RFC 8946, linked by shakenkit.core.div), rcd (RFC 9795).
SUPPORTED_PPT = frozenset({"shaken", "div", "div-o", "rcd"})


# Failure classes (standards digest §9): which caller_id a failing check implies.
_NOT_EVIDENCE = frozenset({"x5u_fetch"})


@dataclass(slots=True)
class _Run:
    """State of one header's verification between the pure steps."""

    header: IdentityHeader
    passport: Passport | None = None
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def ok(self, name: str, detail: str = "") -> None:
        self.checks.append(Check(name=name, ok=True, detail=detail))


# Checks whose detail never varies: built once (Check is frozen).
_CHECK_HEADER = Check("identity_header", True, "Identity header parsed (RFC 8224 §4)")
_CHECK_DECODE = Check("passport_decode", True, "base64url and JSON decoded")
_CHECK_JOSE_SHAKEN = Check(
    "passport_header", True, "alg ES256, typ passport, ppt shaken, x5u = info"
)
_CHECK_JOSE_PLAIN = Check("passport_header", True, "alg ES256, typ passport, x5u = info")
_CHECK_CLAIMS_SHAKEN = Check("passport_claims", True, "required claims present (attest, origid)")
_CHECK_CLAIMS_PLAIN = Check("passport_claims", True, "required claims present")
_CHECK_CLAIMS_DIV = Check("passport_claims", True, "required claims present (div, RFC 8946 §3)")
_CHECK_ORIG = Check("orig_tn", True, "orig.tn matches the calling number (RFC 8224 §8.3)")
_CHECK_DEST = Check("dest_tn", True, "dest.tn includes the called number (RFC 8224 §8.3)")
_CHECK_NO_ORIG = Check("orig_tn", False, "not compared: no calling number given")
_CHECK_NO_DEST = Check("dest_tn", False, "not compared: no called number given")
_CHECK_FRESH = Check("freshness", True, "iat within the freshness window (RFC 8224 §6.2 step 4)")
_CHECK_FETCHED = Check("x5u_fetch", True, "certificate obtained")
_CHECK_SIGNATURE = Check(
    "signature", True, "ES256 signature valid over the received header.payload"
)


def _fail(
    run: _Run | None,
    sip_code: int,
    check: str,
    detail: str,
    *,
    spoofed: bool = True,
    signer: Signer | None = None,
) -> Verdict:
    if run is None:
        return Verdict.failure(sip_code, check, detail, spoofed=spoofed)
    checks = run.checks
    checks.append(Check(name=check, ok=False, detail=detail))
    p = run.passport
    c = p.claims if p else None
    return Verdict._build(
        verstat="TN-Validation-Failed",
        attest=_attest(c.attest) if c else None,
        caller_id="likely_spoofed" if spoofed else "unverified",
        likely_spoofed=spoofed,
        error=VerdictError.of(sip_code, check, detail),
        origid=c.origid if c and isinstance(c.origid, str) else None,
        orig_tn=c.orig_tn if c else None,
        dest_tns=list(c.dest_tns) if c else [],
        iat=c.iat if c and type(c.iat) is int else None,
        ppt=_ppt_of(run),
        signer=signer,
        checks=checks,
        warnings=run.warnings,
    )


def _attest(value: object) -> str | None:
    """``attest`` if it is one of "A", "B", "C" (RFC 8588 §4); any other JSON value is None
    (a list or object must not reach a set lookup: unhashable)."""
    return value if isinstance(value, str) and value in ATTEST_VALUES else None


def _ppt_of(run: _Run | None) -> str | None:
    if run is None:
        return None
    if run.passport is not None and isinstance(run.passport.header.ppt, str):
        return run.passport.header.ppt
    return run.header.ppt


def _no_tn_validation(
    check: Check, warnings: list[str], error: VerdictError | None = None
) -> Verdict:
    """A No-TN-Validation verdict about the call as a whole (no PASSporT in it was examined):
    the one failed ``check``, ``warnings``, and ``error`` when policy makes it one."""
    return Verdict._build(
        verstat="No-TN-Validation",
        attest=None,
        caller_id="unverified",
        likely_spoofed=False,
        error=error,
        origid=None,
        orig_tn=None,
        dest_tns=[],
        iat=None,
        ppt=None,
        signer=None,
        checks=[check],
        warnings=warnings,
    )


def no_identity_verdict(policy: Policy, detail: str = "no Identity header") -> Verdict:
    """The verdict for a call without a usable Identity header (RFC 8224 §6.2 step 1)."""
    error = (
        VerdictError.of(428, "identity_present", detail + " and policy requires one")
        if policy.require_identity
        else None
    )
    return _no_tn_validation(Check(name="identity_present", ok=False, detail=detail), [], error)


def _precheck(
    raw: str, orig: str | None, dest: str | None, now: float, date: int | None, policy: Policy
) -> _Run | Verdict:
    """Steps 1-6 of standards digest §5.3: parse, decode, header, claims, freshness."""
    try:
        ih = parse_identity(raw, max_bytes=policy.max_header_bytes)
    except ShakenError as e:
        return _fail(None, e.sip_code, e.check, e.detail)
    run = _Run(ih)
    run.warnings.extend(ih.warnings)
    run.checks.append(_CHECK_HEADER)
    h_ppt = ih.ppt
    try:
        if ih.compact:
            # RFC 8225 §7: header and claims are rebuilt from the call. A SHAKEN PASSporT cannot
            # be: attest and origid are not in SIP (standards digest §2.6) -> 438.
            if h_ppt == "shaken":
                return _fail(
                    run,
                    438,
                    "compact_form",
                    "compact-form SHAKEN PASSporT cannot carry attest/origid (RFC 8588, "
                    "ATIS-1000074 requires the full form)",
                )
            if h_ppt in DIV_PPT:
                return _fail(
                    run, 438, "compact_form", "div PASSporTs must use the full form (RFC 8946 §3)"
                )
            if h_ppt is not None and h_ppt not in SUPPORTED_PPT:
                return _skip(run, h_ppt, policy)
            o, d = canonicalize_tn(orig or ""), canonicalize_tn(dest or "")
            if o is None or d is None:
                return _fail(
                    run,
                    438,
                    "compact_form",
                    "compact form needs the calling and called numbers to rebuild the "
                    "PASSporT (RFC 8224 §4.1)",
                )
            iat = date if date is not None else int(now)
            run.passport = rebuild_compact(
                ih.segments[2], alg=ih.alg, ppt=h_ppt, info=ih.info, orig_tn=o, dest_tn=d, iat=iat
            )
            run.ok(
                "compact_form",
                "PASSporT rebuilt from the call's numbers and "
                + ("Date" if date is not None else "the verification time"),
            )
        else:
            run.passport = decode_passport(ih.token, max_bytes=policy.max_passport_bytes)
            run.checks.append(_CHECK_DECODE)
    except ShakenError as e:
        return _fail(run, e.sip_code, e.check, e.detail)
    p = run.passport
    hd, cl = p.header, p.claims
    # alg first, before any key is touched (RFC 8225 §4.2: ES256 only in SHAKEN; never none/HS*).
    if hd.alg != "ES256":
        return _fail(
            run,
            438,
            "passport_header",
            f"alg {str(hd.alg)[:20]!r} is not ES256 (RFC 8225 §4.2, ATIS-1000074)",
        )
    if ih.alg is not None and ih.alg != hd.alg:
        return _fail(
            run, 438, "passport_header", f"alg parameter {ih.alg!r} differs from alg ES256"
        )
    if hd.typ != "passport":
        return _fail(
            run,
            438,
            "passport_header",
            f"typ {str(hd.typ)[:20]!r} is not 'passport' (RFC 8225 §4.1)",
        )
    if "crit" in hd.extra:
        return _fail(
            run,
            438,
            "passport_header",
            "crit header parameter present; PASSporT defines none (RFC 7515 §4.1.11)",
        )
    t_ppt = hd.ppt
    if t_ppt is not None and not isinstance(t_ppt, str):
        return _fail(run, 438, "passport_header", "ppt is not a string")
    if h_ppt is not None and t_ppt != h_ppt:
        return _fail(
            run,
            438,
            "passport_header",
            f"ppt parameter {h_ppt!r} differs from the PASSporT's ppt {t_ppt!r} (RFC 8224 §4)",
        )
    if t_ppt is not None and t_ppt not in SUPPORTED_PPT:
        return _skip(run, t_ppt, policy)
    if not isinstance(hd.x5u, str) or not hd.x5u:
        return _fail(run, 438, "passport_header", "x5u is missing (RFC 8225 §4.3, ATIS-1000074)")
    if hd.x5u != ih.info:
        return _fail(
            run,
            438,
            "passport_header",
            "x5u differs from the Identity 'info' parameter (ATIS-1000074)",
        )
    ignored = [k for k in IGNORED_KEY_PARAMS if k in hd.extra] if hd.extra else None
    if ignored:
        run.warnings.append(
            f"header parameters {', '.join(ignored)} ignored: the key comes from x5u"
        )
    run.checks.append(_CHECK_JOSE_SHAKEN if t_ppt == "shaken" else _CHECK_JOSE_PLAIN)
    # Claims (RFC 8225 §5, RFC 8588 §4-5).
    shaken = t_ppt == "shaken"
    if shaken and _attest(cl.attest) is None:
        return _fail(
            run, 438, "passport_claims", "attest is missing or not A, B or C (RFC 8588 §4)"
        )
    if shaken and (not isinstance(cl.origid, str) or not cl.origid.strip()):
        return _fail(run, 438, "passport_claims", "origid is missing or empty (RFC 8588 §5)")
    if type(cl.iat) is not int:
        return _fail(
            run,
            438,
            "passport_claims",
            "iat is missing or not an integer NumericDate (RFC 8225 §5.1.1)",
        )
    if cl.dest_tn_was_string:
        run.warnings.append("dest.tn is a string, not an array (RFC 8225 §5.2.1)")
    if t_ppt in DIV_PPT:
        problem = div_claims_problem(cl)
        if problem is not None:
            return _fail(run, 438, "passport_claims", problem)
        run.checks.append(_CHECK_CLAIMS_DIV)
    else:
        run.checks.append(_CHECK_CLAIMS_SHAKEN if shaken else _CHECK_CLAIMS_PLAIN)
    # Freshness (RFC 8224 §6.2 step 4; ATIS-1000074: 60 s).
    if not -_IAT_LIMIT < cl.iat < _IAT_LIMIT:  # before float arithmetic: no OverflowError
        return _fail(run, 403, "freshness", f"iat {str(cl.iat)[:24]} is out of range")
    age = now - cl.iat
    if age > policy.max_age:
        hint = " (iat looks like milliseconds)" if cl.iat > 10_000_000_000 else ""
        return _fail(
            run,
            403,
            "freshness",
            f"iat is {int(age)} s old, over the {policy.max_age} s window{hint}",
        )
    if -age > policy.future_tolerance:
        hint = " (iat looks like milliseconds)" if cl.iat > 10_000_000_000 else ""
        return _fail(
            run,
            403,
            "freshness",
            f"iat is {int(-age)} s in the future, over the {policy.future_tolerance} s "
            f"tolerance{hint}",
        )
    run.checks.append(_CHECK_FRESH)
    return run


def _skip(run: _Run, ppt: str, policy: Policy) -> Verdict:
    run.checks.append(
        Check(
            name="ppt",
            ok=False,
            detail=f"ppt {ppt[:20]!r} is not supported; header skipped (RFC 8224 §6.2 step 1)",
        )
    )
    v = no_identity_verdict(policy, "no supported Identity header")
    return v.model_copy(update={"checks": run.checks, "ppt": ppt, "warnings": run.warnings})


_MAX_SIGNERS_PER_CHAIN = 64  # one chain served under many URLs: bounded
_FACTS_IDS = itertools.count(1)


@dataclass(slots=True)
class _ChainFacts:
    """What one verifier derived from one chain, reused by every call that names it: the leaf
    profile outcome, the immutable Signer per x5u URL, the path validation result (per anchor
    generation) and its ``certificate_chain`` Check."""

    profile: tuple[ProfileFinding | None, tuple[str, ...]] | None = None
    signers: dict[str, Signer] = field(default_factory=dict)
    chain_check: tuple[ChainResult, Check] | None = None
    validation: tuple[int, ChainResult] | None = None  # (anchor generation, valid result)
    # The CRL requests for a validated path's distribution points, per validation result.
    crl_urls: tuple[ChainResult, tuple[FetchCrl, ...]] | None = None
    # The crl Check (and soft-fail warning) of the last revocation result (the checker's memo
    # returns the same object while nothing changed: an unreachable CRL allocates nothing).
    crl_check: tuple[RevocationResult, Check, str | None] | None = None
    # Never reused (unlike id()): the chain's identity in the signature memo.
    ident: int = field(default_factory=lambda: next(_FACTS_IDS))


class _Crls(NamedTuple):
    """CRLs fetched for one chain (between the pure steps), by the URL they came from, and why
    any could not be had (a NamedTuple: immutable, and made on every call that names a CRL)."""

    crls: tuple[tuple[str, x509.CertificateRevocationList], ...] = ()
    failures: tuple[str, ...] = ()
    # CRLs the call's own budget refused (never asked for): not a network failure.
    refused: tuple[str, ...] = ()


def _crls_of(answers: Iterable[tuple[str, Any]]) -> _Crls:
    """The :class:`_Crls` of the answers to a path's CRL requests: CRL lists, failures, and
    the refusals of the call's own budget."""
    got: list[tuple[str, x509.CertificateRevocationList]] = []
    failures: list[str] = []
    refused: list[str] = []
    for u, result in answers:
        if isinstance(result, CertificateFetchError):
            if result.kind in (_REFUSED_LIMIT, _REFUSED_DEADLINE):
                refused.append(result.detail)
            else:
                failures.append(result.detail)
        else:
            got.extend((u, c) for c in result)
    return _Crls(tuple(got), tuple(failures), tuple(refused))


# Outcomes of single-CRL paths remembered per URL (Verifier._crl_outcomes): URLs come from the
# distribution points of validated paths only, so there are few; the bound is a backstop.
_MAX_CRL_OUTCOMES = 256

# Kinds of the errors the call budget answers with, without I/O.
_REFUSED_LIMIT = "call_limit"
_REFUSED_DEADLINE = "call_deadline"


_NO_CRLS = _Crls()

T = TypeVar("T")
# A sans-IO computation: yields typed I/O requests, receives answers, returns a T.
_Steps = Generator[IoRequest, Any, T]


def _unreachable(request: NoReturn) -> NoReturn:
    """Exhaustiveness: mypy fails here when a request type is not dispatched."""
    raise AssertionError(f"unhandled I/O request {request!r}")


_CHAIN_REQUESTS = (FetchChain, RefreshChain)  # a tuple: a union is built on every call


class _SourceCall(NamedTuple):
    """A source method that answers an I/O request, in its sync and async forms."""

    sync: Callable[[str], Any]
    asynchronous: Callable[[str], Awaitable[Any]]
    url: str


_NEEDS_IO: Any = object()  # _without_io: the request must be answered by a source
_START: Any = object()  # Verifier._advance: start the steps (nothing to answer yet)


class _Call:
    """One call between :meth:`Verifier._begin` and its verdict: the sans-IO steps, the
    budget, and how many header values were not examined."""

    __slots__ = ("budget", "dropped", "policy", "steps")

    def __init__(
        self, steps: _Steps[Verdict], budget: _CallBudget, dropped: int, policy: Policy
    ) -> None:
        self.steps, self.budget, self.dropped, self.policy = steps, budget, dropped, policy

    def verdict(self, verdict: Verdict) -> Verdict:
        """The call's verdict, saying which header values were not examined."""
        return _with_dropped(verdict, self.dropped, self.policy) if self.dropped else verdict


class _Pending:
    """A call :meth:`Verifier._verify_nowait` suspended at a request that needs I/O."""

    __slots__ = ("call", "source_call", "verifier")

    def __init__(self, verifier: Verifier, call: _Call, source_call: _SourceCall) -> None:
        self.verifier, self.call, self.source_call = verifier, call, source_call

    async def finish(self) -> Verdict:
        """The call's verdict: the pending I/O, then the rest of the steps (async driver)."""
        verifier, call = self.verifier, self.call
        got: Verdict | _SourceCall = self.source_call
        while isinstance(got, _SourceCall):
            got = verifier._advance(call, await verifier._aio(got, call.budget))
        return got


class _CallBudget:
    """The work one call may cause (docs/security.md, "Bounded work per call"): at most
    ``Policy.max_identity_headers`` header values examined (``headers_left``; every Identity
    header line of a SIP request, each comma-joined value, draws on one count), at most
    ``Policy.max_x5u_per_call`` distinct ``x5u`` URLs and ``Policy.max_crl_urls_per_call``
    distinct CRL URLs asked for, and all of it before one deadline, ``Policy.call_deadline``
    seconds after the call started. A request beyond the budget is answered, without I/O, with
    the error that says so; the pure steps turn it into the usual outcome (436 for a chain, an
    unavailable CRL, rcd content not obtained). Pure bookkeeping over a monotonic clock value:
    the sync and async drivers share it."""

    __slots__ = ("crls", "deadline", "headers_left", "policy", "x5u")

    def __init__(self, policy: Policy, started: float) -> None:
        self.policy = policy
        self.deadline = started + policy.call_deadline
        self.headers_left = policy.max_identity_headers
        self.x5u: set[str] = set()
        self.crls: set[str] = set()

    def refusal(self, request: IoRequest, now: float) -> CertificateFetchError | None:
        """Why ``request`` may not be made (an error to answer it with), or None."""
        if now >= self.deadline:
            return CertificateFetchError(
                f"the call's I/O deadline ({self.policy.call_deadline:g} s, "
                "Policy.call_deadline) was spent before this fetch",
                kind=_REFUSED_DEADLINE,
            )
        if isinstance(request, _CHAIN_REQUESTS):
            seen, limit, what = self.x5u, self.policy.max_x5u_per_call, "x5u URLs"
            name = "max_x5u_per_call"
        elif isinstance(request, FetchCrl):
            seen, limit, what = self.crls, self.policy.max_crl_urls_per_call, "CRL URLs"
            name = "max_crl_urls_per_call"
        else:
            return None  # rcd content: bounded per PASSporT by Policy.max_rcd_fetches
        if request.url not in seen:
            if len(seen) >= limit:
                return CertificateFetchError(
                    f"more than {limit} distinct {what} in one call (Policy.{name}); "
                    "not fetched",
                    kind=_REFUSED_LIMIT,
                )
            seen.add(request.url)
        return None

    def left(self, now: float) -> float:
        """Seconds left before the deadline."""
        return self.deadline - now


def _finish(
    run: _Run,
    chain: CertChain | CertificateFetchError,
    verifier: Verifier,
    orig: str | None,
    dest: str | None,
    now: float,
    fetched: _Crls = _NO_CRLS,
) -> Verdict:
    """Steps 7-11 of standards digest §5.3: certificate, chain, CRL, signature, numbers."""
    policy = verifier.policy
    p = run.passport
    assert p is not None
    url = run.header.info
    if isinstance(chain, CertificateFetchError):
        # 436 and "unverified": an unreachable repository is no evidence of forgery.
        return _fail(run, 436, "x5u_fetch", chain.detail, spoofed=False)
    leaf = chain.leaf
    facts = verifier._facts(chain)
    signer = facts.signers.get(url)
    if signer is None:  # one immutable Signer per (chain, URL), reused by every call
        signer = Signer.of(url, leaf)
        if len(facts.signers) < _MAX_SIGNERS_PER_CHAIN:
            facts.signers[url] = signer
    run.checks.append(_CHECK_FETCHED)
    # Leaf profile (ATIS-1000080 §6.4.1), computed once per chain.
    fatal, notes = verifier._profile(chain, facts)
    if fatal is not None:
        return _fail(run, 437, f"certificate_{fatal.name}", fatal.detail, signer=signer)
    if notes:
        run.warnings.extend(notes)
    anchors = verifier.trust_store.snapshot()
    res = verifier._validated(chain, facts, anchors, now)
    if not res.ok:
        return _fail(run, 437, "certificate_chain", res.detail, signer=signer)
    if policy.strict_certificate_profile and (refusal := strict_profile_refusal(res)):
        return _fail(run, 437, "certificate_chain", refusal, signer=signer)
    if res.lenient:
        run.warnings.append("lenient certificate parse: NULL ECDSA signature-algorithm parameter")
    if res.notes:
        run.warnings.extend(res.notes)
    memo = facts.chain_check
    if memo is None or memo[0] is not res:  # one Check per validation result, reused
        memo = (res, Check("certificate_chain", True, f"{res.detail}; SPC {leaf.spc}"))
        facts.chain_check = memo
    run.checks.append(memo[1])
    if fetched.refused:
        # The call's own headers spent its budget (a decoy can crowd out a revoking CRL):
        # unlike an unreachable CRL, soft-fail does not excuse this (docs/security.md).
        return _fail(
            run,
            437,
            "crl",
            "revocation not checked: " + "; ".join(fetched.refused),
            spoofed=False,
            signer=signer,
        )
    # Revocation (standards digest §6.3 item 5): the checker says what the CRLs at hand
    # establish and applies the hard-fail policy (docs/security.md "Revocation").
    rev = verifier.revocation.check(
        res.path, verifier._crls, now, fetched=fetched.crls, unavailable=fetched.failures
    )
    crl_memo = facts.crl_check
    if crl_memo is not None and crl_memo[0] is rev:  # the same outcome as the last call
        run.checks.append(crl_memo[1])
        if crl_memo[2] is not None:
            run.warnings.append(crl_memo[2])
    else:
        match rev.outcome:
            case "revoked":
                return _fail(run, 437, "crl", rev.detail, signer=signer)
            case "fail":
                # Not evidence of forgery: the credential's status could not be established.
                return _fail(run, 437, "crl", rev.detail, spoofed=False, signer=signer)
            case "warn":
                crl_memo = (rev, Check("crl", False, f"{rev.detail} (soft-fail policy)"),
                            rev.warning)
            case "ok":
                crl_memo = (rev, Check("crl", True, rev.detail), None)
            case "silent":  # soft-fail, no CRL at hand or asked for: nothing to report
                pass
        if crl_memo is not None:  # warn or ok: one Check per result, reused (immutable)
            facts.crl_check = crl_memo
            run.checks.append(crl_memo[1])
            if crl_memo[2] is not None:
                run.warnings.append(crl_memo[2])
    key = leaf.key
    if not isinstance(key, ec.EllipticCurvePublicKey) or not verifier._signature_ok(
        p, key, facts
    ):
        n = len(p.signature)
        why = f" (signature is {n} bytes; ES256 needs 64-byte R||S)" if n != 64 else ""
        return _fail(
            run,
            438,
            "signature",
            f"ES256 signature does not verify with the certificate's key{why}",
            signer=signer,
        )
    run.checks.append(_CHECK_SIGNATURE)
    cl = p.claims
    # Without both numbers the TN cannot be validated (RFC 8224 §6.2 step 3): the verdict is
    # No-TN-Validation, never Passed; the signature result stays in checks (docs/verdicts.md).
    numbers_compared = True
    if orig is None:
        numbers_compared = False
        run.warnings.append("no calling number given: orig.tn not compared")
        run.checks.append(_CHECK_NO_ORIG)
    else:
        want = canonicalize_tn(orig)
        got = canonicalize_tn(cl.orig_tn) if cl.orig_tn is not None else None
        if want is None or got is None or want != got:
            return _fail(
                run,
                438,
                "orig_tn",
                f"orig.tn {cl.orig_tn!r} does not match the calling number {str(orig)[:40]!r}",
                signer=signer,
            )
        run.checks.append(_CHECK_ORIG)
    if dest is None:
        numbers_compared = False
        run.warnings.append("no called number given: dest.tn not compared")
        run.checks.append(_CHECK_NO_DEST)
    else:
        want = canonicalize_tn(dest)
        if want is None or not any(canonicalize_tn(t) == want for t in cl.dest_tns):
            return _fail(
                run,
                438,
                "dest_tn",
                f"dest.tn {list(cl.dest_tns)!r} does not include the called number "
                f"{str(dest)[:40]!r}",
                signer=signer,
            )
        run.checks.append(_CHECK_DEST)
    # Replay (RFC 8224 §12.1), recorded only once the PASSporT validated the call's numbers:
    # a copy sent first with wrong numbers must not burn the genuine call (a 403 under
    # replay_fails). Keyed by content: a malleated or re-signed copy is a replay.
    replay = verifier._replay
    if replay is not None and numbers_compared:
        key = replay_key(p.signing_input, leaf.fingerprint)
        try:
            repeat = replay.seen(key, now=now, keep_until=p.claims.iat + policy.max_age)
        except Exception as e:  # a shared store that failed: not checked, no evidence
            repeat = False
            why = f"replay store unavailable ({type(e).__name__}): not checked"
            run.checks.append(Check("replay", False, why))
            run.warnings.append(why)
        if repeat:
            detail = "PASSporT already seen within its freshness window (RFC 8224 §12.1)"
            if policy.replay_fails:
                return _fail(run, 403, "replay", detail, signer=signer)
            run.checks.append(Check("replay", False, detail))
            run.warnings.append("replayed PASSporT: " + detail)
    attest = _attest(cl.attest)
    verified = numbers_compared and attest in policy.verified_attest
    return Verdict._build(
        verstat="TN-Validation-Passed" if numbers_compared else "No-TN-Validation",
        attest=attest,
        caller_id="verified" if verified else "unverified",
        likely_spoofed=False,
        error=None,
        origid=cl.origid if isinstance(cl.origid, str) else None,
        orig_tn=cl.orig_tn,
        dest_tns=list(cl.dest_tns),
        iat=cl.iat,
        ppt=_ppt_of(run),
        signer=signer,
        checks=run.checks,
        warnings=run.warnings,
    )


# Tuples, not `X | Y` unions: a union in isinstance() is built anew on every call (hot path).
_NUMBER = (int, float)
_BYTES = (bytes, bytearray)
_SEQ = (str, list, tuple)


#: ``now`` must lie in [0, NOW_LIMIT): Unix seconds from 1970 to the end of year 9999, what
#: certificate and CRL times (RFC 5280 §4.1.2.5) and ``datetime`` can express.
NOW_LIMIT = 253_402_300_800


def _usable_time(t: object) -> bool:
    """A verification time the checks can use: a real number (not a bool) in [0, NOW_LIMIT);
    NaN would pass every freshness test, and beyond year 9999 certificate times overflow."""
    if isinstance(t, bool) or not isinstance(t, _NUMBER):
        return False
    return 0 <= t < NOW_LIMIT  # False for NaN; exact for ints of any size


def _key_mismatch(v: Verdict) -> bool:
    """The certificate was had but its key did not verify the PASSporT."""
    return v.error is not None and v.error.check == "signature"


def _number(value: object) -> str | None:
    """A calling/called number as text: ints are accepted, an empty string counts as not
    given; anything else that is not text becomes a value no TN matches (a mismatch verdict,
    never an exception)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None  # an empty number is a number not given
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "<not a telephone number>"


_IAT_LIMIT = 2**53  # beyond any real NumericDate; larger ints cannot meet a float clock


def _with_dropped(verdict: Verdict, dropped: int, policy: Policy) -> Verdict:
    """The call's verdict, saying that ``dropped`` Identity headers beyond
    ``Policy.max_identity_headers`` were not examined (a failed ``identity_headers`` check
    and a warning; the outcome is that of the headers examined)."""
    detail = (
        f"{dropped} Identity header(s) beyond the first {policy.max_identity_headers} "
        "not examined (Policy.max_identity_headers)"
    )
    return verdict.model_copy(
        update={
            "checks": [*verdict.checks, Check("identity_headers", False, detail)],
            "warnings": [*verdict.warnings, detail],
        }
    )

def _not_examined(dropped: int, policy: Policy) -> Verdict:
    """The verdict of an Identity header line of a SIP request that was not examined at all:
    the request's earlier lines used up ``Policy.max_identity_headers`` (never parsed further,
    never fetched; not evidence against the call)."""
    detail = (
        f"{dropped} Identity header(s) beyond the first {policy.max_identity_headers} "
        "not examined (Policy.max_identity_headers)"
    )
    return _no_tn_validation(Check("identity_headers", False, detail), [detail])


_RANK = {"A": 0, "B": 1, "C": 2, None: 3}


def _best(verdicts: Sequence[Verdict]) -> Verdict:
    """RFC 8224 §6.2 step 1: the call passes if any header passes (best attestation wins);
    otherwise the first failure decides; all skipped gives No-TN-Validation."""
    if len(verdicts) == 1:
        return verdicts[0]
    passed = [v for v in verdicts if v.verstat == "TN-Validation-Passed"]
    if passed:
        return min(passed, key=lambda v: _RANK.get(v.attest, 3))
    failed = [v for v in verdicts if v.verstat == "TN-Validation-Failed"]
    return failed[0] if failed else verdicts[0]


TrustAnchorsArg = TrustStore | AnchorSources | None
CertificatesArg = Mapping[str, bytes | str | os.PathLike[str]] | str | os.PathLike[str] | None


class Verifier:
    """The STIR/SHAKEN verification service.

    * ``Verifier(trust_anchors=[root_pem, ...], certificates={x5u: chain_pem})`` verifies
      against a fixed set of certificates (no network).
    * ``Verifier(trust_anchors=...)`` fetches ``x5u`` over HTTPS with
      :class:`~shakenkit.repository.HttpsSource` and ``fetch`` (a
      :class:`~shakenkit.repository.FetchPolicy`: limits, SSRF allow-list, cache), and fetches the
      CRLs that certificates name (soft-fail unless ``Policy.crl_hard_fail``).
    * ``source=`` plugs in any :class:`~shakenkit.repository.ChainSource` (``get``/``aget``;
      also named ``CertificateSource``); one that is also a
      :class:`~shakenkit.repository.RefreshableChainSource` is asked again when a key does not
      verify (key rotation), one that is also a :class:`~shakenkit.repository.CrlSource`
      fetches CRLs unless ``crl_source=`` names another.

    ``trust_anchors`` is a :class:`~shakenkit.TrustStore`, or what one is built from: PEM or
    DER bytes, PEM text, a file or directory path, or a list of them (``Verifier(
    trust_anchors=root_pem)`` and ``trust_anchors=["/etc/sti/roots/"]`` both work).

    A verifier is a context manager: ``with Verifier(...) as v:`` (or ``async with``) closes
    its network clients (:meth:`close` / :meth:`aclose`) on the way out.

    ``crls`` are CRLs (PEM/DER bytes or files) checked for every chain; ``crl_signers`` are
    the certificates (PEM/DER bytes or files) whose keys authenticate indirect CRLs issued under
    their names, such as the STI-PA's "STI-PA CRL" signer (see docs/security.md "Revocation";
    a signer that names a trust anchor as its issuer must verify with it, else
    :class:`~shakenkit.CertificateError`); :attr:`revocation` is the
    :class:`~shakenkit.certs.RevocationChecker` they configure. ``rcd_content`` maps Rich Call
    Data URLs (``icn``, ``jcl``) to their content for ``rcdi`` checks without fetching
    (RFC 9795; see ``Policy.fetch_rcd``). ``replay_store`` is where ``Policy.detect_replay``
    remembers PASSporTs (a :class:`~shakenkit.core.replay.ReplayStore`, e.g. one shared by a
    cluster through Redis; default: an in-memory :class:`~shakenkit.core.replay.ReplayCache` of
    ``Policy.replay_cache_size`` entries). ``verify`` never raises on bad input: every outcome
    is a :class:`Verdict`.
    """

    def __init__(
        self,
        trust_anchors: TrustAnchorsArg = None,
        certificates: CertificatesArg = None,
        *,
        source: ChainSource | None = None,
        crl_source: CrlSource | None = None,
        fetch: FetchPolicy | None = None,
        crls: Iterable[bytes | str | os.PathLike[str]] = (),
        crl_signers: Iterable[bytes | str | os.PathLike[str]] = (),
        policy: Policy | None = None,
        rcd_content: Mapping[str, bytes] | None = None,
        replay_store: ReplayStore | None = None,
    ) -> None:
        self.policy = policy or Policy()
        # Rich Call Data content by URL (RFC 9795 icn/jcl), checked against rcdi without
        # fetching; the network only with Policy.fetch_rcd.
        self._rcd_content: dict[str, bytes] = dict(rcd_content or {})
        self._rcd: Fetcher[bytes] | None = None
        self._fetch = fetch or FetchPolicy()
        self.trust_store = (
            trust_anchors
            if isinstance(trust_anchors, TrustStore)
            else TrustStore(() if trust_anchors is None else trust_anchors)
        )
        if sum(x is not None for x in (source, certificates)) > 1:
            raise ValueError("give either certificates= or source=, not both")
        if source is None:
            if certificates is not None:
                source = StaticSource(certificates)
            else:
                from ..repository.https import HttpsSource

                source = HttpsSource(fetch)
        self.source: ChainSource = source
        # Capabilities, checked once against their protocols (never probed per call).
        self._refreshable: RefreshableChainSource | None = (
            source if isinstance(source, RefreshableChainSource) else None
        )
        if crl_source is None and isinstance(source, CrlSource):
            crl_source = source
        self._crl_source: CrlSource | None = crl_source
        self._peek = source if isinstance(source, PeekableChainSource) else None
        self._crl_peek = crl_source if isinstance(crl_source, PeekableCrlSource) else None
        self._crl_outcomes: dict[str, tuple[object, _Crls]] = {}  # see _crl_steps
        # The peek methods _plan calls on the warm path (bound once).
        self._chain_peek_fn = self._peek.peek if self._peek is not None else None
        self._crl_peek_fn = self._crl_peek.peek_crl if self._crl_peek is not None else None
        if replay_store is not None and not self.policy.detect_replay:
            raise ValueError("replay_store= is given but Policy.detect_replay is off")
        self._replay: ReplayStore | None = (
            (replay_store or ReplayCache(self.policy.replay_cache_size))
            if self.policy.detect_replay
            else None
        )
        self._crls: tuple[x509.CertificateRevocationList, ...] = tuple(read_crls(crls))
        # Revocation: who may sign CRLs, the hard-fail policy and the grace, in one place.
        self.revocation = RevocationChecker(
            load_crl_signers(crl_signers, self.trust_store.snapshot()),
            hard_fail=self.policy.crl_hard_fail,
            grace=self.policy.crl_grace,
        )
        self._sig_memo = (
            SignatureMemo(self.policy.signature_memo_bytes)
            if self.policy.signature_memo_bytes
            else None
        )
        # Per-chain results this verifier derives (profile, Signer per URL, chain Check).
        self._chain_facts: weakref.WeakKeyDictionary[CertChain, _ChainFacts] = (
            weakref.WeakKeyDictionary()
        )

    def _signature_ok(
        self, p: Passport, key: ec.EllipticCurvePublicKey, facts: _ChainFacts
    ) -> bool:
        """ES256 over the received signing input with the chain's key; a success is
        remembered by content (:mod:`shakenkit.core.sigmemo`) so the same PASSporT met again
        (forks, retransmissions, multi-point captures) skips the elliptic-curve math."""
        memo = self._sig_memo
        if memo is not None and memo.hit(facts.ident, p.signing_input, p.signature):
            return True
        ok = verify_signature(p, key)
        if ok and memo is not None:
            memo.add(facts.ident, p.signing_input, p.signature)
        return ok

    def _validated(
        self, chain: CertChain, facts: _ChainFacts, anchors: Anchors, now: float
    ) -> ChainResult:
        """Path validation, computed once per chain and anchor generation and reused while
        ``now`` lies in the result's window (only valid results are kept)."""
        cached = facts.validation
        if (
            cached is not None
            and cached[0] == anchors.generation
            and cached[1].valid_from <= now <= cached[1].valid_until
        ):
            return cached[1]
        res = validate_chain(chain, anchors, now)
        if res.ok:
            facts.validation = (anchors.generation, res)
        return res

    def _facts(self, chain: CertChain) -> _ChainFacts:
        """What this verifier derived from ``chain`` (one owner: the verifier; the entry lives
        as long as the source keeps the chain, so it is bounded by the source's cache)."""
        facts = self._chain_facts.get(chain)
        if facts is None:
            facts = self._chain_facts.setdefault(chain, _ChainFacts())
        return facts

    def _profile(
        self, chain: CertChain, facts: _ChainFacts
    ) -> tuple[ProfileFinding | None, tuple[str, ...]]:
        """The leaf-profile outcome, computed once per chain: the first fatal finding (or
        None) and the warnings of the tolerated ones."""
        cached = facts.profile
        if cached is None:
            found = leaf_profile(
                chain.leaf,
                strict_policy=self.policy.strict_certificate_policy,
                strict_profile=self.policy.strict_certificate_profile,
            )
            fatal = next((f for f in found if not f.ok and f.fatal), None)
            notes = tuple(f.detail for f in found if not f.ok and not f.fatal)
            cached = facts.profile = (fatal, notes)
        return cached

    def _crl_requests(
        self, chain: CertChain | CertificateFetchError, now: float
    ) -> tuple[FetchCrl, ...]:
        """The requests for the CRL distribution points of the validated path (leaf and
        intermediates), if the source can fetch CRLs (a :class:`CrlSource`) and policy wants
        them; made once per validation result (requests are immutable)."""
        if not self.policy.fetch_crls or not isinstance(chain, CertChain):
            return ()
        if self._crl_source is None:
            return ()
        facts = self._facts(chain)
        res = self._validated(chain, facts, self.trust_store.snapshot(), now)
        if not res.ok:
            return ()
        memo = facts.crl_urls
        if memo is not None and memo[0] is res:
            return memo[1]
        urls: list[str] = []
        for c in res.path[:-1]:
            for u in c.crl_urls:
                if u and isinstance(u, str) and u not in urls:
                    urls.append(u)
        requests = tuple(FetchCrl(u) for u in urls)
        facts.crl_urls = (res, requests)
        return requests

    def _crl_steps(self, requests: tuple[FetchCrl, ...]) -> _Steps[_Crls]:
        """Fetch the path's CRLs (one I/O request per distribution point)."""
        if len(requests) == 1:  # the usual path: one CRL (the STI-PA's) for leaf and CA
            request = requests[0]
            result = yield request
            # A source answers a URL it holds with the same object (a CRL list, or the failure
            # it remembers for negative_ttl): the outcome built for that object is reused, and
            # with it the revocation memo's entry (an unreachable CRL costs what a fetched one
            # does, issue 20).
            memo = self._crl_outcomes.get(request.url)
            if memo is not None and memo[0] is result:
                return memo[1]
            crls = _crls_of(((request.url, result),))
            # Only answers that cannot change under the same identity: a tuple of CRLs (the
            # built-in sources') or a remembered failure. A source of one's own that returns
            # one list and updates it in place must not get the old list's outcome.
            if type(result) is tuple or (
                isinstance(result, CertificateFetchError)
                and result.kind not in (_REFUSED_LIMIT, _REFUSED_DEADLINE)
            ):
                if len(self._crl_outcomes) >= _MAX_CRL_OUTCOMES:
                    self._crl_outcomes.clear()
                self._crl_outcomes[request.url] = (result, crls)
            return crls
        answers = []
        for request in requests:
            answers.append((request.url, (yield request)))
        return _crls_of(answers)

    def _header_steps(
        self, raw: str, orig: str | None, dest: str | None, now: float, date: int | None
    ) -> _Steps[Verdict]:
        """One Identity header, sans-IO (standards digest §5.3): the pure steps, with each
        certificate, CRL or refresh the verifier needs requested by yielding a typed request
        (:mod:`shakenkit.core.requests`) and answered by the driver (sync or async) with the
        object or a CertificateFetchError."""
        step = _precheck(raw, orig, dest, now, date, self.policy)
        if isinstance(step, Verdict):
            return step
        url = step.header.info
        chain = yield FetchChain(url)
        requests = self._crl_requests(chain, now)
        crls = (yield from self._crl_steps(requests)) if requests else _NO_CRLS
        verdict = self._finish(step, chain, orig, dest, now, crls)
        if _key_mismatch(verdict):
            # The URL may now serve a rotated certificate (corpus README: x5u URLs are reused):
            # match by key; the source fetches again at most once per key_refresh_after.
            again = yield RefreshChain(url)
            if isinstance(again, CertChain) and again is not chain:
                retry = _precheck(raw, orig, dest, now, date, self.policy)
                if not isinstance(retry, Verdict):
                    step = retry
                    requests = self._crl_requests(again, now)
                    crls = (yield from self._crl_steps(requests)) if requests else _NO_CRLS
                    verdict = self._finish(retry, again, orig, dest, now, crls)
        p = step.passport
        if p is not None and p.claims.extra and has_rcd(p.claims.extra):
            # Rich Call Data (RFC 9795): reported beside the outcome, never changing it. Its
            # content is fetched only for a PASSporT whose signature verified: an unsigned
            # claim must not make the verifier connect where the sender chose.
            signed = any(c.name == "signature" and c.ok for c in verdict.checks)
            info = yield from rcd_steps(
                p.claims.extra,
                source=verdict.ppt,
                passed=verdict.passed,
                obtainable=self._rcd_obtainable if signed else None,
                max_fetches=self.policy.max_rcd_fetches,
            )
            verdict = verdict.model_copy(update={"rcd": info})
        return verdict

    def _rcd_obtainable(self, url: str) -> bool:
        """May rcd content at ``url`` be had: configured, or fetching is on."""
        return url in self._rcd_content or self.policy.fetch_rcd

    def _rcd_fetcher(self) -> Fetcher[bytes]:
        """The fetcher of rcd content: the ``x5u`` fetch policy (URL policy, limits, cache
        rules), created on first use."""
        if self._rcd is None:
            self._rcd = Fetcher(bytes, policy=self._source_policy(), name="rcd")
        return self._rcd

    def _source_policy(self) -> FetchPolicy:
        """The x5u source's URL policy (an HTTPS source, alone or behind configured
        certificates), else the ``fetch=`` policy given to the verifier."""
        from ..repository.https import HttpsSource, LayeredSource

        src: object = self.source
        if isinstance(src, LayeredSource):
            src = src.fallback
        return src.policy if isinstance(src, HttpsSource) else self._fetch

    def _cached(self, request: IoRequest) -> Any:
        """The answer a peekable source holds for ``request`` without I/O, or None. A cached
        answer is given even past the call's budget (a URL still counts against it, as in both
        drivers alike): the budget bounds I/O, and a CRL the
        verifier holds must not turn into "unavailable" because other headers of the call
        spent the budget (soft-fail would then verify a certificate that CRL revokes). A CRL
        failure the source remembers (a CertificateFetchError) answers a request within the
        budget without I/O or a timer; past the budget the refusal stands (437 whatever the
        soft-fail policy, see :meth:`_crl_steps`)."""
        if isinstance(request, FetchChain) and self._peek is not None:
            return self._peek.peek(request.url)
        if isinstance(request, FetchCrl) and self._crl_peek is not None:
            return self._crl_peek.peek_crl(request.url)
        return None

    def _without_io(self, request: IoRequest, budget: _CallBudget) -> Any:
        """The answer to ``request`` that needs no I/O, or :data:`_NEEDS_IO`: the cache first
        (a chain or CRL held, a CRL failure remembered: no deadline to set, nothing raised);
        past the budget only an object held counts (see :meth:`_cached`), else the refusal."""
        refusal = budget.refusal(request, time.monotonic())
        hit = self._cached(request)
        if hit is not None and (refusal is None or not isinstance(hit, CertificateFetchError)):
            return hit
        return refusal if refusal is not None else _NEEDS_IO

    def _source_call(self, request: IoRequest) -> _SourceCall | Any:
        """Which source method answers ``request`` (its sync and async forms and the URL), or
        the answer itself when no source is asked (configured rcd content, no CRL source, a
        source that cannot refresh). One dispatch for both drivers."""
        match request:
            case FetchChain(url=url):
                return _SourceCall(self.source.get, self.source.aget, url)
            case RefreshChain(url=url):
                r = self._refreshable
                return _SourceCall(r.refresh, r.arefresh, url) if r is not None else None
            case FetchCrl(url=url):
                c = self._crl_source
                if c is None:
                    return CertificateFetchError("no CRL source", kind="not_found")
                return _SourceCall(c.get_crl, c.aget_crl, url)
            case FetchRcd(url=url):
                if url in self._rcd_content:
                    return self._rcd_content[url]
                f = self._rcd_fetcher()
                return _SourceCall(f.get, f.aget, url)
            case _:
                _unreachable(request)

    def _plan(self, request: IoRequest, budget: _CallBudget) -> _SourceCall | Any:
        """How ``request`` is answered, for both drivers: the answer itself when no source
        needs asking (cache, budget refusal, configured content), else the source call.

        The warm path of every call (a chain, a CRL, within the budget) is written out here:
        the same rules as :meth:`_without_io` (the URL counts against the budget, then the
        source's cache answers), without its calls (each costs ~0.3 us on the hot path)."""
        cls = request.__class__
        if cls is FetchChain:
            seen, limit, peek = budget.x5u, self.policy.max_x5u_per_call, self._chain_peek_fn
        elif cls is FetchCrl:
            seen, limit = budget.crls, self.policy.max_crl_urls_per_call
            peek = self._crl_peek_fn
        else:
            peek = None
        if peek is not None:
            url = request.url
            if (url in seen or len(seen) < limit) and time.monotonic() < budget.deadline:
                seen.add(url)
                hit = peek(url)
                return hit if hit is not None else self._source_call(request)
        answer = self._without_io(request, budget)
        return answer if answer is not _NEEDS_IO else self._source_call(request)

    def _io(self, request: IoRequest, budget: _CallBudget) -> Any:
        """The sync answer to one I/O request of :meth:`_header_steps`: the object, or the
        error that says why it could not be had (the budget's refusal without I/O)."""
        call = self._plan(request, budget)
        if not isinstance(call, _SourceCall):
            return call
        try:
            with call_deadline(budget.deadline):  # our transport cuts its waits to it
                return call.sync(call.url)
        except (CertificateFetchError, FetchError) as e:
            return e

    async def _aio(self, call: _SourceCall, budget: _CallBudget) -> Any:
        """The async answer of ``call`` (a source call :meth:`_plan` chose for one I/O request
        of :meth:`_header_steps`), cut at the call's deadline (a source that never answers
        cannot hold the call). Requests answered without I/O never come here: they need no
        await and so no timer (a cancel scope costs ~8 us)."""
        given = budget.left(time.monotonic())
        try:
            with call_deadline(budget.deadline), anyio.fail_after(given):
                return await call.asynchronous(call.url)
        except TimeoutError:
            # Under half the call's time left when it started: the call's earlier headers
            # spent it, so this is no repository failure (a CRL is then "not checked", 437).
            cut = given < self.policy.call_deadline / 2
            return CertificateFetchError(
                f"the call's I/O deadline ({self.policy.call_deadline:g} s, "
                "Policy.call_deadline) was spent waiting for this fetch",
                kind=_REFUSED_DEADLINE if cut else "timeout",
            )
        except (CertificateFetchError, FetchError) as e:
            return e

    def _prepare(
        self, identity: object, orig: object, dest: object, now: float | None
    ) -> Verdict | tuple[list[str | Verdict], str | None, str | None, float]:
        """The input checks verify() and averify() share: a verdict, or what to verify."""
        t = time.time() if now is None else now
        values = self._values(identity)
        if isinstance(values, Verdict):
            return values
        if not _usable_time(t):  # a bad clock argument is no evidence against the call
            return _fail(
                None,
                403,
                "freshness",
                f"the verification time now={str(t)[:40]} is not a number of Unix seconds in "
                f"[0, {NOW_LIMIT}) (1970 to the end of year 9999)",
                spoofed=False,
            )
        return values, _number(orig), _number(dest), t

    # -- public API ---------------------------------------------------------------------------

    def verify(
        self,
        identity: str | Sequence[str] | None,
        *,
        orig: str | None = None,
        dest: str | None = None,
        now: float | None = None,
        date: int | None = None,
        retargeting: Retargeting | None = None,
    ) -> Verdict:
        """Verify a call's Identity header(s) and return a :class:`Verdict`.

        ``identity`` is one header value, a string of comma-separated values, a list of values
        (repeated headers), or None/empty for a call without one. ``orig`` is the calling number
        (P-Asserted-Identity or From), ``dest`` the called number (To or Request-URI), in any
        form (``+1 215-555-1212``, ``tel:``, ``sip:``). ``now`` is the verification time (Unix
        seconds in [0, :data:`NOW_LIMIT`), i.e. 1970 to the end of year 9999; default: the
        current time), ``date`` the SIP Date header as Unix seconds (used only to rebuild a
        compact-form PASSporT). A ``now`` outside that range (NaN, infinite, negative, beyond
        year 9999) gives a 403 ``freshness`` verdict whose detail names ``now``, not an
        exception (and not evidence against the call: ``likely_spoofed`` is False); so do
        :meth:`averify`, :meth:`verify_sip` and :meth:`averify_sip`.

        Several headers: the call passes if any passes (RFC 8224 §6.2 step 1), except that
        ``div`` PASSporTs (RFC 8946) are linked to the SHAKEN PASSporT they continue and the
        verdict lists them in ``diversion`` (docs/verdicts.md, "Diverted calls");
        ``retargeting`` adds the Request-URI number and History-Info/Diversion numbers of the
        request (:class:`~shakenkit.core.div.Retargeting`; :meth:`verify_sip` fills it in).
        """
        call = self._begin(identity, orig, dest, now, date, retargeting)
        if isinstance(call, Verdict):
            return call
        steps, budget = call.steps, call.budget
        try:
            request = next(steps)
            while True:
                request = steps.send(self._io(request, budget))
        except StopIteration as done:
            return call.verdict(done.value)

    async def averify(
        self,
        identity: str | Sequence[str] | None,
        *,
        orig: str | None = None,
        dest: str | None = None,
        now: float | None = None,
        date: int | None = None,
        retargeting: Retargeting | None = None,
    ) -> Verdict:
        """Async twin of :meth:`verify` (same rules, same verdicts)."""
        got = self._verify_nowait(identity, orig, dest, now, date, retargeting)
        return got if isinstance(got, Verdict) else await got.finish()

    def _verify_nowait(
        self,
        identity: str | Sequence[str] | None,
        orig: str | None = None,
        dest: str | None = None,
        now: float | None = None,
        date: int | None = None,
        retargeting: Retargeting | None = None,
    ) -> Verdict | _Pending:
        """:meth:`averify` as far as it goes without waiting: the verdict, when every
        certificate and CRL the call needs is at hand (a warm call), else the call suspended at
        its first request that needs I/O (:meth:`_Pending.finish` completes it). For servers
        that answer warm calls without a task (``shakenkit serve``); averify is this, then
        ``finish``."""
        call = self._begin(identity, orig, dest, now, date, retargeting)
        if isinstance(call, Verdict):
            return call
        got = self._advance(call, _START)
        return _Pending(self, call, got) if isinstance(got, _SourceCall) else got

    def _advance(self, call: _Call, answer: Any) -> Verdict | _SourceCall:
        """Give ``answer`` to the call's steps (:data:`_START`: start them), then answer the
        requests that follow from what needs no I/O, until one needs a source (its call is
        returned) or the verdict. The no-wait half of the async driver."""
        steps, budget = call.steps, call.budget
        try:
            request = next(steps) if answer is _START else steps.send(answer)
            while True:
                planned = self._plan(request, budget)
                if isinstance(planned, _SourceCall):
                    return planned
                request = steps.send(planned)
        except StopIteration as done:
            return call.verdict(done.value)

    def _begin(
        self,
        identity: object,
        orig: object,
        dest: object,
        now: float | None,
        date: int | None,
        retargeting: Retargeting | None,
    ) -> Verdict | _Call:
        """What :meth:`verify` and :meth:`averify` share before their first I/O: the input
        checks, the call's budget, the header values examined and the sans-IO steps (or the
        verdict, when no I/O can be needed). The drivers differ only in how they answer."""
        budget = _CallBudget(self.policy, time.monotonic())
        prep = self._prepare(identity, orig, dest, now)
        if isinstance(prep, Verdict):
            return prep
        values, dropped = self._examined(prep[0], budget)
        if not values:
            return _not_examined(dropped, self.policy)
        steps = self._call_steps(values, *prep[1:], date, retargeting)
        return _Call(steps, budget, dropped, self.policy)

    @staticmethod
    def _examined(
        values: list[str | Verdict], budget: _CallBudget
    ) -> tuple[list[str | Verdict], int]:
        """The header values examined (as many as the call's ``Policy.max_identity_headers``
        has left) and how many beyond them are not (never parsed further, never fetched)."""
        taken = values[: max(budget.headers_left, 0)]
        budget.headers_left -= len(taken)
        return taken, len(values) - len(taken)

    def _call_steps(
        self,
        values: list[str | Verdict],
        orig: str | None,
        dest: str | None,
        now: float,
        date: int | None,
        retargeting: Retargeting | None,
    ) -> _Steps[Verdict]:
        """A call's headers, sans-IO: each header's steps (:meth:`_header_steps`) in turn, the
        original a ``div-o`` carries, then the call's verdict (:meth:`_combine`). The I/O
        requests go to the driver, :meth:`verify` or :meth:`averify`."""
        out: list[tuple[int | None, str | None, Verdict]] = []
        pending: list[tuple[int | None, str | Verdict]] = list(enumerate(values))
        while pending:
            i, raw = pending.pop(0)
            if isinstance(raw, Verdict):  # an item that could not even be split
                out.append((i, None, raw))
                continue
            got = yield from self._header_steps(raw, orig, dest, now, date)
            if not pending and not out and got.ppt not in DIV_PPT:
                # one header, no div: the usual call (hot path)
                return got._with_headers([HeaderResult.of(i, got)])
            out.append((i, raw, got))
            pending.extend(self._embedded(out, values))
        call = self._combine(out, dest, retargeting)
        return call._with_headers([HeaderResult.of(i, v) for i, _, v in out])

    def _embedded(
        self, out: list[tuple[int | None, str | None, Verdict]], values: Sequence[Any]
    ) -> list[tuple[int | None, str]]:
        """The original PASSporT a ``div-o`` carries in ``opt`` (RFC 8946 §5), to verify as one
        more header when no base PASSporT came with the call; nesting is bounded by
        ``max_div_depth``."""
        _i, raw, v = out[-1]
        if raw is None or v.ppt not in DIV_PPT:
            return []
        if len(out) > len(values) + self.policy.max_div_depth:
            return []
        if any(w.ppt == "shaken" for _, _, w in out):
            return []
        inner = embedded_original(raw, self.policy.max_passport_bytes)
        if inner is None or any(r == inner for _, r, _ in out):
            return []
        return [(None, inner)]

    def _combine(
        self,
        out: list[tuple[int | None, str | None, Verdict]],
        dest: str | None,
        retargeting: Retargeting | None,
    ) -> Verdict:
        """One call's verdict from its headers' verdicts: ``div`` links are linked
        (:func:`shakenkit.core.div.link_call`), ``rcd`` PASSporTs lend their Rich Call Data, else
        the best-of rule (RFC 8224 §6.2 step 1)."""
        if len(out) == 1 and out[0][2].ppt not in DIV_PPT:
            return out[0][2]
        policy = self.policy
        verdicts = [v for _, _, v in out]
        dests = [canonicalize_tn(dest) if dest is not None else None]
        if retargeting is not None:
            dests.append(retargeting.request_uri_tn)
        linked = link_call(
            out,
            dests=[x for x in dests if x],
            retargeting=retargeting,
            max_depth=policy.max_div_depth,
            verified_attest=policy.verified_attest,
            no_validation=lambda why: no_identity_verdict(policy, why),
            max_bytes=policy.max_passport_bytes,
        )
        main = [v for v in verdicts if v.ppt != "rcd"] or verdicts
        best = linked if linked is not None else _best(main)
        if best.rcd is None:
            # A ppt=rcd PASSporT lends its Rich Call Data when it verified for the same
            # caller (RFC 9795); it never changes the SHAKEN outcome.
            lent = next(
                (
                    v.rcd
                    for v in verdicts
                    if v.ppt == "rcd"
                    and v.passed
                    and v.rcd is not None
                    and (best.orig_tn is None or v.orig_tn == best.orig_tn)
                ),
                None,
            )
            if lent is not None:
                best = best.model_copy(update={"rcd": lent})
        return best

    def stats(self) -> dict[str, Any]:
        """Observability: the certificate source's counters (cache hits, misses, fetches,
        failures by kind, fetch latency) and the number of trust anchors."""
        src = self.source
        out: dict[str, Any] = dict(src.stats()) if isinstance(src, SupportsStats) else {}
        out["trust_anchors"] = len(self.trust_store)
        if self._sig_memo is not None:
            out["signature_memo"] = self._sig_memo.stats()
        return out

    def close(self) -> None:
        """Release the source's network clients."""
        if isinstance(self.source, SupportsClose):
            self.source.close()
        if self._rcd is not None:
            self._rcd.close()

    async def aclose(self) -> None:
        """Release the source's network clients (async)."""
        if isinstance(self.source, SupportsClose):
            await self.source.aclose()
        if self._rcd is not None:
            await self._rcd.aclose()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Verifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _values(self, identity: object) -> list[str | Verdict] | Verdict:
        """The header values to verify, one unit each: a value, or the 438 verdict of an item
        that is not text or cannot be split (it does not veto the other headers)."""
        if isinstance(identity, _BYTES):
            identity = bytes(identity).decode("utf-8", "replace")
        if identity is None or (isinstance(identity, _SEQ) and not identity):
            return no_identity_verdict(self.policy)
        if isinstance(identity, str):
            items: list[object] = [identity]
        else:
            try:
                items = list(identity)  # type: ignore[call-overload]
            except TypeError:
                return _fail(None, 438, "identity_header", "Identity header value is not text")
        units: list[str | Verdict] = []
        limit = self.policy.max_header_bytes
        for item in items:
            if not isinstance(item, str):
                units.append(
                    _fail(None, 438, "identity_header", "Identity header value is not text")
                )
            elif "," in item:
                try:
                    units.extend(split_identity_values(item, max_bytes=limit))
                except ShakenError as e:
                    units.append(_fail(None, e.sip_code, e.check, e.detail))
            elif item.strip():
                units.append(item)
        return units or no_identity_verdict(self.policy)

    def _finish(
        self,
        run: _Run,
        chain: CertChain | CertificateFetchError,
        orig: str | None,
        dest: str | None,
        now: float,
        crls: _Crls = _NO_CRLS,
    ) -> Verdict:
        try:
            return _finish(run, chain, self, orig, dest, now, crls)
        except CertificateError as e:
            return _fail(run, 437, e.check, e.detail)

    def verify_sip(
        self, message: SipMessage | str | bytes | bytearray, *, now: float | None = None
    ) -> Verdict:
        """Verify a SIP request: the call's :class:`Verdict`, as :meth:`verify` gives for its
        Identity header values (RFC 8224 §6.2), with one :class:`HeaderResult` per header in
        ``headers``. ``message`` is a :class:`~shakenkit.sip.SipMessage`, or its text or
        bytes. The numbers come from the message (calling: P-Asserted-Identity, else From;
        called: To, else the Request-URI), ``date`` from its Date header, and a forwarded
        call's ``div`` PASSporTs (RFC 8946) are linked with its Request-URI, History-Info and
        Diversion taken into account (docs/verdicts.md). Several headers: the call passes if
        one does (best attestation wins), else the first failure decides. Without an Identity
        header: No-TN-Validation (428 with ``Policy.require_identity``). A message that cannot
        be parsed: a 438 verdict. Never raises on bad input."""
        answer, call = self._sip_call(message, now)
        if answer is not None:
            return answer
        values, kw = call
        return self.verify(values, **kw)

    async def averify_sip(
        self, message: SipMessage | str | bytes | bytearray, *, now: float | None = None
    ) -> Verdict:
        """Async twin of :meth:`verify_sip` (same rules, same verdicts)."""
        answer, call = self._sip_call(message, now)
        if answer is not None:
            return answer
        values, kw = call
        return await self.averify(values, **kw)

    def _sip_call(
        self, message: object, now: float | None
    ) -> tuple[Verdict | None, tuple[list[str], dict[str, Any]]]:
        """What verifying a SIP request takes, shared by :meth:`verify_sip` and
        :meth:`averify_sip`: the answer when no PASSporT needs checking, else the
        ``verify(values, **kw)`` call to make (all the request's headers, one call)."""
        t = time.time() if now is None else now
        try:
            msg = message if isinstance(message, SipMessage) else parse_sip(message)  # type: ignore[arg-type]
        except SipParseError as e:
            return malformed_message_verdict(e), ([], {})
        if not msg.identity:
            return no_identity_verdict(self.policy), ([], {})
        orig, dest = msg.verification_numbers()
        kw: dict[str, Any] = {
            "orig": orig,
            "dest": dest,
            "now": t,
            "date": msg.date,
            "retargeting": Retargeting.of_message(msg),
        }
        return None, (list(msg.identity), kw)
