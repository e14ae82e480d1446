"""Revocation of a validated path (standards digest §6.1, §6.3 item 5; RFC 5280 §5 and §6.3):
which CRLs count, and what they say.

A CRL counts for a certificate only when it is

* **authenticated**: its signature verifies with the key of the certificate's issuer on the
  validated path (a direct CRL), or with a configured CRL signer whose subject is the CRL's
  issuer (an indirect CRL such as the STI-PA CRL, signed by the STI-PA's "STI-PA CRL"
  certificate); the signing certificate is valid at the verification time and, when it carries
  keyUsage, asserts cRLSign (RFC 5280 §6.3.3 (f));
* **covering**: its issuer is the certificate's issuer, or the cRLIssuer of the certificate's
  CRL distribution point (RFC 5280 §4.2.1.13, §5.2.5: an IssuingDistributionPoint, when present,
  must assert indirectCRL for another issuer's certificates, must name one of the certificate's
  distribution points when it names any, and must not exclude the certificate's kind); an
  entry names its certificate by issuer and serial (certificateIssuer, §5.3.3);
* **current**: thisUpdate <= now + grace and now <= nextUpdate + grace (§6.3.3 (a)).

Everything else never revokes and is reported as a note. :class:`RevocationChecker` applies
``crl_hard_fail`` (the only place that does) and owns the bounded memo of per-CRL work.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cachetools import LRUCache
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from ..errors import CertificateError
from .certificate import StiCertificate, _ts, parse_certificates
from .trust import Anchors

__all__ = [
    "DEFAULT_CRL_GRACE",
    "CertificateRevocation",
    "RevocationChecker",
    "RevocationResult",
    "load_crl_signers",
]

#: Seconds a CRL still counts past its nextUpdate, and may be dated ahead of the verification
#: time (clock skew, publication lag). Policy.crl_grace; docs/security.md "Revocation".
DEFAULT_CRL_GRACE = 300.0

#: Notes kept on one result (each CRL that did not count gives one).
MAX_NOTES = 8

Status = Literal["good", "revoked", "unknown"]
Outcome = Literal["revoked", "fail", "warn", "ok", "silent"]
NameKey = tuple[tuple[str, str], ...]

# CRL extensions this module understands (RFC 5280 §5.2); a critical one beyond these makes
# the CRL unusable (§5.2: "MUST NOT use that CRL to determine the status of certificates").
_KNOWN_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.FRESHEST_CRL,
    }
)
_KNOWN_ENTRY_EXTENSIONS = frozenset(
    {
        CRLEntryExtensionOID.CRL_REASON,
        CRLEntryExtensionOID.INVALIDITY_DATE,
        CRLEntryExtensionOID.CERTIFICATE_ISSUER,
    }
)


def name_key(name: x509.Name) -> NameKey:
    """A comparable form of a distinguished name: attribute types and values, case and inner
    whitespace folded (RFC 5280 §7.1), in no particular order (live certificates name the
    STI-PA CRL issuer with its attributes in different orders)."""
    out = []
    for attr in name:
        v = attr.value
        text = v.hex() if isinstance(v, bytes) else " ".join(v.split()).casefold()
        out.append((attr.oid.dotted_string, text))
    return tuple(sorted(out))


def _short(name: str, limit: int = 120) -> str:
    return name if len(name) <= limit else name[:limit] + "..."


# -- facts read once ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CertFacts:
    """What revocation needs from a certificate (read once per certificate)."""

    issuer: NameKey
    dp_urls: frozenset[str]
    dp_crl_issuers: frozenset[NameKey]
    dp_without_crl_issuer: bool  # a distribution point that names no cRLIssuer (pre-v004)
    names_crl: bool  # carries a CRL distribution point
    crl_sign: bool | None  # keyUsage cRLSign (None: no keyUsage)
    is_ca: bool


def _cert_facts(c: StiCertificate) -> _CertFacts:
    # A fresh parse: the cached certificate object stays without cryptography's extension cache.
    cert = x509.load_der_x509_certificate(c.cert.public_bytes(serialization.Encoding.DER))
    urls: set[str] = set()
    issuers: set[NameKey] = set()
    bare = False
    names_crl = False
    crl_sign: bool | None = None
    try:
        exts = cert.extensions
    except ValueError:  # already parsed once at load time; be safe anyway
        exts = x509.Extensions([])
    for ext in exts:
        if ext.oid == ExtensionOID.CRL_DISTRIBUTION_POINTS:
            for dp in ext.value:
                names_crl = True
                for gn in dp.full_name or ():
                    if isinstance(gn, x509.UniformResourceIdentifier):
                        urls.add(gn.value)
                dirs = [g.value for g in dp.crl_issuer or () if isinstance(g, x509.DirectoryName)]
                issuers.update(name_key(n) for n in dirs)
                bare = bare or not dirs
        elif ext.oid == ExtensionOID.KEY_USAGE:
            crl_sign = bool(ext.value.crl_sign)
    return _CertFacts(
        name_key(cert.issuer), frozenset(urls), frozenset(issuers), bare, names_crl, crl_sign,
        c.is_ca,
    )


@dataclass(slots=True)
class _CrlFacts:
    """What revocation needs from one CRL (read once per CRL object, kept in the memo)."""

    crl: x509.CertificateRevocationList  # held, so that id() stays this CRL's
    issuer: NameKey
    issuer_text: str
    this_update: float
    next_update: float | None
    unusable: str | None  # why it can never count (critical unknown extension, delta CRL ...)
    idp: x509.IssuingDistributionPoint | None
    signatures: dict[str, bool] = field(default_factory=dict)  # signer fingerprint -> valid
    entries: dict[tuple[NameKey, int], None] | None = None  # (issuer, serial), built lazily

    def verifies_with(self, signer: StiCertificate) -> bool:
        ok = self.signatures.get(signer.fingerprint)
        if ok is None:
            try:
                ok = bool(self.crl.is_signature_valid(signer.key))
            except (TypeError, ValueError):  # a key type that cannot sign CRLs
                ok = False
            if len(self.signatures) < 16:
                self.signatures[signer.fingerprint] = ok
        return ok

    def lists(self, issuer: NameKey, serial: int) -> bool:
        """Whether the CRL lists the certificate ``serial`` of ``issuer``. Raises ValueError
        (and marks the CRL unusable) when its entries cannot be read."""
        if self.entries is None:
            try:
                self.entries = _index(self.crl, self.issuer)
            except ValueError as e:
                self.unusable = f"has unreadable entries ({str(e)[:80]})"
                raise
        return (issuer, serial) in self.entries


def _crl_facts(crl: x509.CertificateRevocationList) -> _CrlFacts:
    unusable: str | None = None
    idp: x509.IssuingDistributionPoint | None = None
    try:
        for ext in crl.extensions:
            if ext.oid == ExtensionOID.DELTA_CRL_INDICATOR:
                unusable = "is a delta CRL (only complete CRLs are used)"
            elif ext.oid == ExtensionOID.ISSUING_DISTRIBUTION_POINT:
                idp = ext.value
            elif ext.critical and ext.oid not in _KNOWN_CRL_EXTENSIONS:
                unusable = f"carries an unknown critical extension {ext.oid.dotted_string}"
    except ValueError as e:
        unusable = f"has malformed extensions ({str(e)[:80]})"
    if idp is not None and idp.only_contains_attribute_certs:
        unusable = "covers attribute certificates only"
    nu = crl.next_update_utc
    return _CrlFacts(
        crl,
        name_key(crl.issuer),
        _short(crl.issuer.rfc4514_string()),
        _ts(crl.last_update_utc),
        _ts(nu) if nu is not None else None,
        unusable,
        idp,
    )


def _index(crl: x509.CertificateRevocationList, issuer: NameKey) -> dict[tuple[NameKey, int], None]:
    """The CRL's entries by (certificate issuer, serial). An entry without certificateIssuer
    belongs to the previous entry's issuer, the first to the CRL issuer (RFC 5280 §5.3.3).
    Built only for an authenticated CRL."""
    out: dict[tuple[NameKey, int], None] = {}
    current = issuer
    for entry in crl:
        removed = False
        for ext in entry.extensions:
            value = ext.value
            if isinstance(value, x509.CertificateIssuer):
                dirs = [g for g in value if isinstance(g, x509.DirectoryName)]
                if dirs:
                    current = name_key(dirs[0].value)
            elif isinstance(value, x509.CRLReason):
                removed = value.reason == x509.ReasonFlags.remove_from_crl
            elif ext.critical and ext.oid not in _KNOWN_ENTRY_EXTENSIONS:
                raise ValueError(f"an entry carries an unknown critical extension {ext.oid}")
        if not removed:
            out[(current, entry.serial_number)] = None
    return out


# -- signers --------------------------------------------------------------------------------


def load_crl_signers(
    sources: Iterable[bytes | str | os.PathLike[str]], anchors: Anchors
) -> tuple[StiCertificate, ...]:
    """The configured CRL signers (PEM/DER bytes or files; a file may hold several
    certificates), each trusted by configuration for the CRLs issued under its subject name.

    Refused with a :class:`CertificateError`: a certificate whose keyUsage lacks cRLSign
    (RFC 5280 §4.2.1.3), and one that names a trust anchor as its issuer but whose signature
    does not verify with that anchor's key (it claims to chain to an anchor and does not). A
    signer that names no anchor (the STI-PA's "STI-PA CRL" certificate is issued by the
    STI-PA's own root, which is not an STI-CA root) is trusted because the operator configured
    it; its validity is checked at each verification time.
    """
    out: list[StiCertificate] = []
    for src in sources:
        if isinstance(src, bytes | bytearray):
            data, what = bytes(src), "CRL signer"
        else:
            try:
                data, what = Path(src).read_bytes(), f"CRL signer file {os.fspath(src)!r}"
            except OSError as e:
                raise CertificateError(
                    f"cannot read CRL signer {os.fspath(src)!r}: {e.strerror or e}",
                    check="crl_signer",
                ) from e
        try:
            certs = parse_certificates(data, max_certs=100, max_bytes=1 << 20)
        except CertificateError as e:
            raise CertificateError(f"{what}: {e.detail}", check="crl_signer") from e
        if not certs:
            raise CertificateError(f"{what} holds no certificate", check="crl_signer")
        for c in certs:
            _check_signer(c, anchors)
            out.append(c)
    return tuple(out)


def _check_signer(c: StiCertificate, anchors: Anchors) -> None:
    facts = _cert_facts(c)
    if facts.crl_sign is False:
        raise CertificateError(
            f"CRL signer {c.subject}: its keyUsage lacks cRLSign (RFC 5280 §4.2.1.3); refused",
            check="crl_signer",
        )
    if c.subject == c.issuer:
        return
    claimed = [a for a in anchors.certs if name_key(a.cert.subject) == facts.issuer]
    if not claimed:
        return
    for a in claimed:
        try:
            c.cert.verify_directly_issued_by(a.cert)
            return
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise CertificateError(
        f"CRL signer {c.subject} names the trust anchor {c.issuer} as its issuer, but its "
        "signature does not verify with that anchor's key; refused",
        check="crl_signer",
    )


# -- the result -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateRevocation:
    """The revocation status of one certificate on the path, and why."""

    subject: str
    status: Status
    reason: str
    #: Whether the path's status depends on it (the leaf, and every certificate that names a
    #: CRL distribution point).
    required: bool


@dataclass(frozen=True, slots=True)
class RevocationResult:
    """What the CRLs at hand say about a validated path.

    ``status`` is ``revoked`` when an authenticated, covering, current CRL lists a certificate
    of the path; ``good`` when every required certificate (the leaf, and each certificate that
    names a CRL distribution point; never the trust anchor) is covered by such a CRL that does
    not list it; else ``unknown``. ``notes`` say which CRLs did not count and why.
    :attr:`outcome` applies the hard-fail policy.
    """

    status: Status
    certificates: tuple[CertificateRevocation, ...]
    notes: tuple[str, ...] = ()
    hard_fail: bool = False
    #: Were CRLs at hand, or could a named one not be fetched?
    evidence: bool = False
    unavailable: tuple[str, ...] = ()

    @property
    def outcome(self) -> Outcome:
        """What the verifier does: ``revoked`` (437, evidence against the call); ``fail``
        (437, not evidence: unknown under hard-fail); ``warn`` (a failed ``crl`` check and a
        warning: unknown under soft-fail); ``ok`` (a passed ``crl`` check); ``silent`` (no
        CRL was at hand or asked for and soft-fail: nothing to report)."""
        if self.status == "revoked":
            return "revoked"
        if self.status == "unknown":
            if self.hard_fail:
                return "fail"
            return "warn" if self.evidence else "silent"
        return "ok" if self.evidence or self.hard_fail else "silent"

    @property
    def detail(self) -> str:
        """One sentence for the ``crl`` check, naming certificates and reasons."""
        notes = f" (not used: {'; '.join(self.notes)})" if self.notes else ""
        if self.status == "revoked":
            bad = [c for c in self.certificates if c.status == "revoked"]
            return "; ".join(f"certificate {c.subject} is revoked ({c.reason})" for c in bad)
        if self.status == "unknown":
            why = [c for c in self.certificates if c.required and c.status == "unknown"]
            parts = [f"revocation of {c.subject} not established: {c.reason}" for c in why]
            if self.unavailable:
                parts.insert(0, "CRL unavailable: " + "; ".join(self.unavailable))
            return "; ".join(parts)
        covered = sum(1 for c in self.certificates if c.status == "good")
        if not self.certificates:
            return "nothing to check: the certificate is a trust anchor"
        return f"not revoked ({covered} certificate(s) covered by authenticated, current CRLs)" + (
            notes
        )

    @property
    def warning(self) -> str:
        """The verdict warning under soft-fail."""
        if self.unavailable:
            return "CRL unavailable; revocation not checked (soft-fail)"
        return "revocation not established by an authenticated, current CRL (soft-fail)"


# -- the checker ----------------------------------------------------------------------------


#: The result when no CRL is at hand, none could not be had and soft-fail applies.
_NOTHING_AT_HAND = RevocationResult("unknown", ())


@dataclass(frozen=True, slots=True)
class _Memo:
    """A result and what it was computed from (held, so ids stay theirs), valid for times in
    the open interval (lo, hi) in which no time boundary of its CRLs or signers lies."""

    path: tuple[StiCertificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...]
    fetched: tuple[tuple[str, x509.CertificateRevocationList], ...]
    lo: float
    hi: float
    result: RevocationResult


class RevocationChecker:
    """Checks validated paths against CRLs: one per verifier, with its configured CRL signers,
    the hard-fail policy and the CRL grace, and the bounded memos of that work (per CRL: the
    signature checks and the entry index; per certificate: its distribution points; per path
    and CRLs: the result, for as long as no nextUpdate, thisUpdate or signer validity boundary
    is crossed).

    :meth:`check` is pure: the same path, CRLs and time give the same result.
    """

    def __init__(
        self,
        signers: Sequence[StiCertificate] = (),
        *,
        hard_fail: bool = False,
        grace: float = DEFAULT_CRL_GRACE,
        memo_crls: int = 64,
        memo_certs: int = 4096,
        memo_results: int = 1024,
    ) -> None:
        if not (isinstance(grace, int | float) and math.isfinite(grace) and grace >= 0):
            raise ValueError(f"crl_grace must be a finite number of seconds >= 0, not {grace!r}")
        self.signers = tuple(signers)
        self.hard_fail = bool(hard_fail)
        self.grace = float(grace)
        self._by_name: dict[NameKey, list[StiCertificate]] = {}
        for s in self.signers:
            self._by_name.setdefault(name_key(s.cert.subject), []).append(s)
        self._crls: LRUCache[int, _CrlFacts] = LRUCache(maxsize=max(1, memo_crls))
        self._certs: LRUCache[str, _CertFacts] = LRUCache(maxsize=max(1, memo_certs))
        # Results: a plain dict (the hot path), oldest entry dropped when full.
        self._results: dict[tuple[Any, ...], _Memo] = {}
        self._max_results = max(1, memo_results)
        self._lock = threading.Lock()

    def check(
        self,
        path: Sequence[StiCertificate],
        crls: Sequence[x509.CertificateRevocationList],
        now: float,
        *,
        fetched: Sequence[tuple[str, x509.CertificateRevocationList]] = (),
        unavailable: Sequence[str] = (),
    ) -> RevocationResult:
        """The revocation status of ``path`` (leaf first, ending at the trust anchor, as path
        validation returns it) at ``now``: ``crls`` are configured CRLs, ``fetched`` the
        ``(url, crl)`` pairs fetched from the path's distribution points, ``unavailable`` why
        a named CRL could not be had."""
        if not crls and not fetched and not unavailable and not self.hard_fail:
            return _NOTHING_AT_HAND  # soft-fail and nothing to go by: nothing to report
        p, cs, fs, un = tuple(path), tuple(crls), tuple(fetched), tuple(unavailable)
        key = (id(p), id(cs), tuple([id(c) for _, c in fs]) if fs else (), un)
        m = self._results.get(key)
        if (
            m is not None
            and m.lo < now < m.hi
            and m.path is p
            and m.crls is cs
            and (not fs or all(a[1] is b[1] for a, b in zip(m.fetched, fs, strict=True)))
        ):
            return m.result
        result, bounds = self._check(p, cs, fs, un, now)
        if now not in bounds:
            lo = max((b for b in bounds if b < now), default=-math.inf)
            hi = min((b for b in bounds if b > now), default=math.inf)
            with self._lock:
                while len(self._results) >= self._max_results:
                    del self._results[next(iter(self._results))]
                self._results[key] = _Memo(p, cs, fs, lo, hi, result)
        return result

    def _check(
        self,
        path: tuple[StiCertificate, ...],
        crls: tuple[x509.CertificateRevocationList, ...],
        fetched: tuple[tuple[str, x509.CertificateRevocationList], ...],
        unavailable: tuple[str, ...],
        now: float,
    ) -> tuple[RevocationResult, set[float]]:
        at_hand: list[tuple[str | None, _CrlFacts]] = [
            (None, self._facts_of_crl(c)) for c in crls
        ] + [(u, self._facts_of_crl(c)) for u, c in fetched]
        g = self.grace
        # The times at which the answer may change: every CRL's and signer's boundaries.
        bounds: set[float] = set()
        for _, f in at_hand:
            bounds.add(f.this_update - g)
            if f.next_update is not None:
                bounds.add(f.next_update + g)
        for s in self.signers:
            bounds.update((s.not_before, s.not_after))
        notes: dict[str, None] = {}  # why CRLs did not count, once each
        results: list[CertificateRevocation] = []
        for i, c in enumerate(path[:-1]):
            facts = self._facts_of_cert(c)
            results.append(
                self._one(c, facts, path[i + 1], at_hand, unavailable, now, notes, leaf=i == 0)
            )
        if any(r.status == "revoked" for r in results):
            overall: Status = "revoked"
        elif any(r.required and r.status == "unknown" for r in results):
            overall = "unknown"
        else:
            overall = "good"
        if overall == "good":
            for u in unavailable:
                notes[f"CRL unavailable: {u}"] = None
        shown = tuple(notes)[:MAX_NOTES] if overall == "good" else ()
        result = RevocationResult(
            overall, tuple(results), shown, self.hard_fail, bool(at_hand or unavailable),
            unavailable,
        )
        return result, bounds

    def _one(
        self,
        c: StiCertificate,
        facts: _CertFacts,
        issuer: StiCertificate,
        at_hand: Sequence[tuple[str | None, _CrlFacts]],
        unavailable: Sequence[str],
        now: float,
        notes: dict[str, None],
        *,
        leaf: bool,
    ) -> CertificateRevocation:
        """One certificate: revoked by the first CRL that counts and lists it; good when a
        complete one that counts does not; else unknown, with every CRL's reason."""
        required = leaf or facts.names_crl
        status: Status = "unknown"
        reason = ""
        reasons: list[str] = []
        for url, f in at_hand:
            why = self._why_not(f, url, facts, issuer, now)
            if why is None:
                try:
                    listed = f.lists(facts.issuer, c.cert.serial_number)
                except ValueError:
                    why = f.unusable or "has unreadable entries"
                else:
                    if listed:
                        what = f"serial {c.cert.serial_number:x} on the CRL from {f.issuer_text}"
                        return CertificateRevocation(_short(c.subject), "revoked", what, required)
                    if f.idp is not None and f.idp.only_some_reasons is not None:
                        why = "covers only some revocation reasons"
                    elif status == "unknown":
                        status, reason = "good", f"not on the CRL from {f.issuer_text}"
                        continue
                    else:
                        continue
            reasons.append(f"CRL from {f.issuer_text} {why}")
        for r in reasons:
            notes[r] = None
        if status == "unknown":
            if reasons:
                reason = "; ".join(dict.fromkeys(reasons))
            elif unavailable:
                reason = "its CRL could not be had"
            else:
                reason = "no CRL at hand"
        return CertificateRevocation(_short(c.subject), status, reason, required)

    # memo access (the LRU caches are not thread-safe on their own)

    def _facts_of_crl(self, crl: x509.CertificateRevocationList) -> _CrlFacts:
        with self._lock:
            f = self._crls.get(id(crl))
        if f is not None and f.crl is crl:
            return f
        f = _crl_facts(crl)
        with self._lock:
            self._crls[id(crl)] = f
        return f

    def _facts_of_cert(self, c: StiCertificate) -> _CertFacts:
        with self._lock:
            f = self._certs.get(c.fingerprint)
        if f is None:
            f = _cert_facts(c)
            with self._lock:
                self._certs[c.fingerprint] = f
        return f

    def _why_not(
        self,
        f: _CrlFacts,
        url: str | None,
        facts: _CertFacts,
        issuer: StiCertificate,
        now: float,
    ) -> str | None:
        """None when the CRL counts for the certificate; else why not."""
        direct = f.issuer == facts.issuer
        indirect = f.issuer in facts.dp_crl_issuers
        legacy = (
            not direct
            and not indirect
            and facts.dp_without_crl_issuer
            and f.issuer in self._by_name
            and (url in facts.dp_urls or self._idp_names(f, facts))
        )
        if not (direct or indirect or legacy):
            return "covers other certificates (neither their issuer nor their cRLIssuer)"
        # Authenticated (RFC 5280 §6.3.3 (f), (g))?
        keys: list[tuple[StiCertificate, str]] = []
        if direct:
            keys.append((issuer, "the issuer's key on the validated path"))
        keys.extend((s, "the configured CRL signer") for s in self._by_name.get(f.issuer, ()))
        if not keys:
            return f"is unauthenticated: no CRL signer is configured for {f.issuer_text}"
        problems: list[str] = []
        for signer, what in keys:
            if signer is not issuer and not signer.not_before <= now <= signer.not_after:
                problems.append(f"has a signer ({signer.subject}) outside its validity period")
                continue
            if self._facts_of_cert(signer).crl_sign is False:
                problems.append(f"is signed by {what}, whose keyUsage lacks cRLSign")
                continue
            if f.verifies_with(signer):
                break
            problems.append(f"has a signature that does not verify with {what}")
        else:
            return "; ".join(dict.fromkeys(problems))
        if f.unusable:
            return f.unusable
        # Current (§6.3.3 (a))?
        if f.this_update > now + self.grace:
            return "has a thisUpdate after the verification time"
        if f.next_update is None:
            return "has no nextUpdate (its freshness cannot be shown)"
        if now > f.next_update + self.grace:
            return "is past its nextUpdate (stale)"
        # In scope (§5.2.5, §6.3.3 (b))?
        idp = f.idp
        if idp is not None:
            if not direct and not idp.indirect_crl:
                return "lists only its own issuer's certificates (no indirectCRL)"
            if idp.only_contains_user_certs and facts.is_ca:
                return "covers end-entity certificates only"
            if idp.only_contains_ca_certs and not facts.is_ca:
                return "covers CA certificates only"
            if idp.full_name and not self._idp_names(f, facts):
                return "is scoped to another distribution point"
        return None

    @staticmethod
    def _idp_names(f: _CrlFacts, facts: _CertFacts) -> bool:
        if f.idp is None or not f.idp.full_name:
            return False
        names = {g.value for g in f.idp.full_name if isinstance(g, x509.UniformResourceIdentifier)}
        return bool(names & facts.dp_urls)

    def stats(self) -> dict[str, int]:
        """Sizes of the memos: CRLs, certificates and results held."""
        with self._lock:
            return {
                "crls": len(self._crls),
                "certificates": len(self._certs),
                "results": len(self._results),
            }
