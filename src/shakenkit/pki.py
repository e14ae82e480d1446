"""STI certificates: parsing, TNAuthList/SPC, SHAKEN profile checks, path validation, CRLs.

Standards: RFC 8226 §9 (TNAuthList), ATIS-1000080 §6.4.1 and the SHAKEN CP (profile, standards
digest §6.2), RFC 5280 (path validation, delegated to ``cryptography.x509.verification``),
standards digest §6.3 (how the verifier builds and checks the chain).

Pure functions over bytes and a clock: nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import itertools
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cachetools import LRUCache
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtensionOID, NameOID

from . import _der
from ._der import TNAuthEntry
from .errors import CertificateError

__all__ = [
    "SHAKEN_POLICY_OIDS",
    "SIGNATURE_ALGORITHM_NAMES",
    "TNAUTHLIST_OID",
    "CertChain",
    "ChainResult",
    "StiCertificate",
    "TNAuthEntry",
    "TrustStore",
    "load_crls",
    "parse_certificates",
    "parse_chain",
]

TNAUTHLIST_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26")
# SHAKEN CP v1.1-v1.4 (standards digest §6.2); many live certificates still carry 1.1.1.
SHAKEN_POLICY_OIDS = frozenset(f"2.16.840.1.114569.1.1.{i}" for i in range(1, 5))
_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
_ECDSA_SHA384 = "1.2.840.10045.4.3.3"
_RSA_SHA256 = "1.2.840.113549.1.1.11"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    _ECDSA_SHA256: hashes.SHA256,
    _ECDSA_SHA384: hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}
#: Names of the signature algorithms seen on STI certificates (for messages and ``cert``).
SIGNATURE_ALGORITHM_NAMES = {
    _ECDSA_SHA256: "ecdsa-with-SHA256",
    _ECDSA_SHA384: "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    _RSA_SHA256: "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.10040.4.3": "dsa-with-sha1",
    "2.16.840.1.101.3.4.3.2": "dsa-with-sha256",
}
MIN_RSA_BITS = 2048
# CA signatures over a leaf that a verifier accepts by default (ca_signature_status).
_LEAF_SIGNATURE_OIDS = (_ECDSA_SHA256, _ECDSA_SHA384, _RSA_SHA256)
DEFAULT_MAX_CERTS = 10
DEFAULT_MAX_CHAIN_BYTES = 100_000
_PEM_RE = re.compile(
    rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.*?)"
    rb"-----END (?:X509 |TRUSTED )?CERTIFICATE-----",
    re.DOTALL,
)
_CRL_PEM_RE = re.compile(rb"-----BEGIN X509 CRL-----(.*?)-----END X509 CRL-----", re.DOTALL)


def _ts(d: _dt.datetime) -> float:
    return d.timestamp()


def _utc(t: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc)


@dataclass(frozen=True, slots=True, eq=False)
class StiCertificate:
    """An STI certificate with the fields a verifier needs, parsed once.

    ``lenient`` is set when the certificate could only be read through the narrowly scoped repair
    of a NULL ECDSA signature-algorithm parameter (T-Mobile's production CAs, corpus README); its
    signature is then checked over the original TBS bytes.
    """

    der: bytes = field(repr=False)
    cert: x509.Certificate = field(repr=False)
    fingerprint: str
    subject: str
    issuer: str
    not_before: float
    not_after: float
    is_ca: bool
    spc: str | None
    tnauthlist: tuple[TNAuthEntry, ...] | None
    tnauthlist_quirks: tuple[str, ...]
    policies: tuple[str, ...]
    crl_urls: tuple[str, ...]
    lenient: _der.RepairedCertificate | None = field(default=None, repr=False)
    organization: str | None = None
    key: Any = field(default=None, repr=False)  # the public key, loaded once
    key_usage: tuple[bool, bool] | None = None  # (digitalSignature, keyCertSign) if present
    crl_issuers: tuple[str, ...] = ()  # cRLIssuer names of the CRL distribution points

    @property
    def public_key(self) -> object:
        """The certificate's public key (a `cryptography` key object)."""
        return self.key

    @property
    def tbs(self) -> bytes:
        """The signed TBS bytes as issued."""
        return self.lenient.tbs if self.lenient else self.cert.tbs_certificate_bytes

    @property
    def signature_oid(self) -> str:
        """The dotted OID of the issuer's signature algorithm."""
        return (
            self.lenient.sig_oid
            if self.lenient
            else self.cert.signature_algorithm_oid.dotted_string
        )

    @property
    def signature(self) -> bytes:
        """The issuer's signature over :attr:`tbs`."""
        return self.lenient.signature if self.lenient else self.cert.signature


def _ext(
    cert: x509.Certificate, oid: x509.ObjectIdentifier
) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def load_certificate(der: bytes) -> StiCertificate:
    """Parse one DER certificate. Raises :class:`CertificateError` (437) when unusable."""
    try:
        repaired = _der.repair_null_sigalg(der)
    except _der.DERError as e:
        raise CertificateError(
            f"certificate is not valid DER: {e}", check="certificate_parse"
        ) from e
    try:
        cert = x509.load_der_x509_certificate(repaired.der if repaired else der)
        extensions = cert.extensions
    except Exception as e:  # cryptography raises ValueError and friends for bad DER
        raise CertificateError(
            f"certificate cannot be parsed: {str(e)[:160]}", check="certificate_parse"
        ) from e
    tnal: tuple[TNAuthEntry, ...] | None = None
    quirks: tuple[str, ...] = ()
    spc: str | None = None
    policies: tuple[str, ...] = ()
    crl_urls: list[str] = []
    crl_issuers: list[str] = []
    key_usage: tuple[bool, bool] | None = None
    is_ca = False
    for ext in extensions:
        oid = ext.oid
        if oid == TNAUTHLIST_OID:
            try:
                entries, q = _der.parse_tnauthlist(ext.value.value)
            except _der.DERError as e:
                raise CertificateError(
                    f"TNAuthList (RFC 8226 §9) is malformed: {e}", check="certificate_parse"
                ) from e
            tnal, quirks = tuple(entries), tuple(q)
            spc = next((en.value for en in entries if en.kind == "spc"), None)
        elif oid == ExtensionOID.CERTIFICATE_POLICIES:
            policies = tuple(p.policy_identifier.dotted_string for p in ext.value)
        elif oid == ExtensionOID.CRL_DISTRIBUTION_POINTS:
            for dp in ext.value:
                for gn in dp.full_name or ():
                    if isinstance(gn, x509.UniformResourceIdentifier):
                        crl_urls.append(gn.value)
            for dp in ext.value:
                for gn in dp.crl_issuer or ():
                    if isinstance(gn, x509.DirectoryName):
                        crl_issuers.append(gn.value.rfc4514_string())
        elif oid == ExtensionOID.BASIC_CONSTRAINTS:
            is_ca = bool(ext.value.ca)
        elif oid == ExtensionOID.KEY_USAGE:
            key_usage = (bool(ext.value.digital_signature), bool(ext.value.key_cert_sign))
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return StiCertificate(
        der=der,
        # A fresh object without the parsed-extension cache (~3 KiB) the reading above filled:
        # the facts are copied out; path validation needs only the certificate itself.
        cert=x509.load_der_x509_certificate(repaired.der if repaired else der),
        fingerprint=hashlib.sha256(der).hexdigest(),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=_ts(cert.not_valid_before_utc),
        not_after=_ts(cert.not_valid_after_utc),
        is_ca=is_ca,
        spc=spc,
        tnauthlist=tnal,
        tnauthlist_quirks=quirks,
        policies=policies,
        crl_urls=tuple(crl_urls),
        lenient=repaired,
        organization=str(orgs[0].value) if orgs else None,
        key=cert.public_key(),
        key_usage=key_usage,
        crl_issuers=tuple(crl_issuers),
    )


def parse_certificates(
    data: bytes, *, max_certs: int = DEFAULT_MAX_CERTS, max_bytes: int = DEFAULT_MAX_CHAIN_BYTES
) -> list[StiCertificate]:
    """Parse a certificate bundle: PEM (any number of CERTIFICATE blocks, CRLF or LF, leaf first)
    or a single DER certificate. The content is sniffed; a Content-Type is never trusted
    (standards digest §6.3 item 1, §10 item 9). Raises :class:`CertificateError`.
    """
    if len(data) > max_bytes:
        raise CertificateError(
            f"certificate bundle is {len(data)} bytes, over the {max_bytes} limit",
            check="certificate_parse",
        )
    ders: list[bytes] = []
    if b"-----BEGIN" in data:
        blocks = _PEM_RE.findall(data)
        if len(blocks) > max_certs:
            raise CertificateError(
                f"bundle holds {len(blocks)} certificates, over the {max_certs} limit",
                check="certificate_parse",
            )
        for b in blocks:
            try:
                ders.append(base64.b64decode(b"".join(b.split()), validate=True))
            except (binascii.Error, ValueError) as e:
                raise CertificateError(
                    "PEM block is not valid base64", check="certificate_parse"
                ) from e
    elif data[:1] == b"\x30":
        ders.append(bytes(data))
    if not ders:
        raise CertificateError(
            "no certificate found (neither PEM nor DER)", check="certificate_parse"
        )
    return [_interned(d) for d in ders]


# Thousands of SP chains share a few dozen STI-CA intermediates: parse each distinct DER once
# and share the (immutable) object. Bounded LRU, so hostile bundles cannot grow it.
_INTERN: LRUCache[bytes, StiCertificate] = LRUCache(maxsize=1024)
_INTERN_LOCK = threading.Lock()


def _interned(der: bytes) -> StiCertificate:
    with _INTERN_LOCK:
        hit = _INTERN.get(der)
    if hit is None:
        hit = load_certificate(der)
        with _INTERN_LOCK:
            _INTERN[der] = hit
    return hit


@dataclass(frozen=True, slots=True)
class ChainResult:
    """The outcome of validating a chain against a trust-anchor snapshot.

    A successful result holds for times in [``valid_from``, ``valid_until``] (the latest notBefore
    and the earliest notAfter on the path), so it can be reused for later calls.
    """

    ok: bool
    detail: str
    valid_from: float = 0.0
    valid_until: float = 0.0
    lenient: bool = False
    path: tuple[StiCertificate, ...] = ()
    #: Tolerated CA signatures on the path, one sentence each (see :func:`ca_signature_status`).
    notes: tuple[str, ...] = ()
    #: The first CA signature outside the ATIS-1000080 v004 profile (an RSA one), if any, e.g.
    #: "CA signature sha256WithRSAEncryption (2048-bit RSA) by CN=...": what
    #: ``Policy.strict_certificate_profile`` refuses.
    off_profile: str | None = None


@dataclass(eq=False)
class CertChain:
    """A parsed certificate bundle as fetched from ``x5u`` (leaf first).

    Validation results are memoized on the object (per trust-anchor generation), so a cached
    chain is validated once and reused until its earliest expiry (ISSUE: validate once).
    """

    certs: tuple[StiCertificate, ...]
    _results: dict[int, ChainResult] = field(default_factory=dict, repr=False)
    _profiles: dict[tuple[bool, bool], Any] = field(default_factory=dict, repr=False)
    _signers: dict[str, Any] = field(default_factory=dict, repr=False)
    _checks: dict[int, Any] = field(default_factory=dict, repr=False)

    @property
    def leaf(self) -> StiCertificate:
        """The signer's certificate: the first one in the bundle (ATIS-1000080, RFC 8555 §9.1)."""
        return self.certs[0]

    @property
    def not_after(self) -> float:
        """The earliest notAfter in the bundle."""
        return min(c.not_after for c in self.certs)


def parse_chain(
    data: bytes, *, max_certs: int = DEFAULT_MAX_CERTS, max_bytes: int = DEFAULT_MAX_CHAIN_BYTES
) -> CertChain:
    """Parse an ``x5u`` body into a :class:`CertChain` (see :func:`parse_certificates`).

    The leaf normally comes first (RFC 8555 §9.1), but some repositories serve the chain in
    reverse order (standards digest §6.3, §10 item 8): when the first certificate is a CA and the
    bundle holds an end-entity certificate, that certificate is moved to the front.
    """
    certs = parse_certificates(data, max_certs=max_certs, max_bytes=max_bytes)
    if certs[0].is_ca:
        ee = next((c for c in certs if not c.is_ca), None)
        if ee is not None:
            certs.remove(ee)
            certs.insert(0, ee)
    return CertChain(tuple(certs))


# -- trust anchors ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Anchors:
    """An immutable snapshot of a :class:`TrustStore` (what one verification uses)."""

    certs: tuple[StiCertificate, ...]
    generation: int
    store: xv.Store | None
    by_subject: dict[str, tuple[StiCertificate, ...]]


def _anchor_snapshot(certs: Sequence[StiCertificate], generation: int) -> Anchors:
    strict = [c.cert for c in certs if c.lenient is None]
    by_subject: dict[str, list[StiCertificate]] = {}
    for c in certs:
        by_subject.setdefault(c.subject, []).append(c)
    return Anchors(
        tuple(certs),
        generation,
        xv.Store(strict) if strict else None,
        {k: tuple(v) for k, v in by_subject.items()},
    )


_generation_lock = threading.Lock()
_next_generation = [1]


def _new_generation() -> int:
    with _generation_lock:
        g = _next_generation[0]
        _next_generation[0] += 1
        return g


class TrustStore:
    """STI-PA-approved root certificates: the verifier's trust anchors (standards digest §6.1).

    Build it from PEM/DER bytes, files or a directory. :meth:`reload` swaps in a new set
    atomically: verifications already running keep the snapshot they started with.
    Certificates inside an ``x5u`` bundle are never trusted as anchors.
    """

    def __init__(self, anchors: Iterable[bytes | str | os.PathLike[str]] = ()) -> None:
        self._sources = list(anchors)
        self._snapshot = _anchor_snapshot(self._load(self._sources), _new_generation())

    @staticmethod
    def _load(sources: Iterable[bytes | str | os.PathLike[str]]) -> list[StiCertificate]:
        certs: list[StiCertificate] = []
        for src in sources:
            if isinstance(src, bytes | bytearray):
                certs.extend(parse_certificates(bytes(src), max_certs=10_000, max_bytes=1 << 26))
                continue
            p = Path(src)
            files = sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p]
            for f in files:
                if p.is_dir() and f.suffix.lower() not in (".pem", ".crt", ".cer", ".der"):
                    continue
                certs.extend(
                    parse_certificates(f.read_bytes(), max_certs=10_000, max_bytes=1 << 26)
                )
        return certs

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> TrustStore:
        """Load every ``.pem``/``.crt``/``.cer``/``.der`` file in ``path``."""
        return cls([path])

    def reload(self, anchors: Iterable[bytes | str | os.PathLike[str]] | None = None) -> None:
        """Re-read the anchors (from the same sources, or from ``anchors``) and swap them in."""
        if anchors is not None:
            self._sources = list(anchors)
        self._snapshot = _anchor_snapshot(self._load(self._sources), _new_generation())

    def snapshot(self) -> Anchors:
        """The current anchors (immutable)."""
        return self._snapshot

    def __len__(self) -> int:
        return len(self._snapshot.certs)


# -- path validation --------------------------------------------------------------------------

_A = xv.Criticality.AGNOSTIC
# Not the Web PKI: STI certificates carry no EKU/SAN. RFC 5280 checks stay on; basicConstraints
# is required on CAs; a critical certificatePolicies (seen live) is understood.
_CA_POLICY = (
    xv.ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, _A, None)
    .may_be_present(x509.CertificatePolicies, _A, None)
)
_EE_POLICY = xv.ExtensionPolicy.permit_all().may_be_present(x509.CertificatePolicies, _A, None)
MAX_CHAIN_DEPTH = 4


def _issuer_signed(child: StiCertificate, issuer: StiCertificate) -> bool:
    """Does ``issuer``'s key verify ``child``'s signature over its ORIGINAL TBS bytes?
    (ECDSA, or RSA PKCS#1 v1.5 with SHA-256: the algorithms :func:`ca_signature_status` can
    accept.)"""
    key = issuer.key
    oid = child.signature_oid
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and (h := _HASHES.get(oid)) is not None:
            key.verify(child.signature, child.tbs, ec.ECDSA(h()))
        elif isinstance(key, rsa.RSAPublicKey) and oid == _RSA_SHA256:
            key.verify(child.signature, child.tbs, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def signature_algorithm_name(oid: str) -> str:
    """The usual name of a signature algorithm OID (the dotted OID when unknown)."""
    return SIGNATURE_ALGORITHM_NAMES.get(oid, oid)


CaSignatureStatus = Literal["profile", "cp14", "rsa", "refused"]


def ca_signature_status(child: StiCertificate, issuer_key: object) -> CaSignatureStatus:
    """Judge the algorithm of the CA signature over ``child``, made with ``issuer_key``.

    * ``"profile"`` — ecdsa-with-SHA256 by an EC key: the ATIS-1000080 §6.4.1 profile.
    * ``"cp14"`` — ecdsa-with-SHA384 by an EC key: allowed by SHAKEN CP 1.4 (standards digest
      §6.2, §6.3 item 3; the CTIA STI-CA signs so), not by the letter of ATIS-1000080 v004.
    * ``"rsa"`` — sha256WithRSAEncryption (PKCS#1 v1.5 only) by an RSA key of at least
      :data:`MIN_RSA_BITS` bits: outside the profile, but a real, trusted STI-CA (Neustar
      Certified Caller ID CA-1, valid 2019-2029) issued SP certificates so, and
      OpenSSL-based verifiers accept them. Accepted unless the strict profile is asked for.
    * ``"refused"`` — anything else (SHA-1, MD5, RSA under 2048 bits, RSASSA-PSS, DSA,
      ecdsa-with-SHA512, ...).
    """
    oid = child.signature_oid
    if isinstance(issuer_key, ec.EllipticCurvePublicKey):
        if oid == _ECDSA_SHA256:
            return "profile"
        if oid == _ECDSA_SHA384:
            return "cp14"
    elif (
        isinstance(issuer_key, rsa.RSAPublicKey)
        and oid == _RSA_SHA256
        and issuer_key.key_size >= MIN_RSA_BITS
    ):
        return "rsa"
    return "refused"


def _ca_signatures(
    path: Sequence[StiCertificate],
) -> tuple[str | None, tuple[str, ...], str | None]:
    """The CA signatures along ``path`` (each certificate but the anchor, by the next one):
    (why the path is refused or None, notes on tolerated signatures, the first RSA one)."""
    notes: list[str] = []
    off_profile: str | None = None
    for child, issuer in itertools.pairwise(path):
        status = ca_signature_status(child, issuer.key)
        name = signature_algorithm_name(child.signature_oid)
        if status == "refused":
            key = issuer.key
            bits = f" ({key.key_size}-bit RSA key)" if isinstance(key, rsa.RSAPublicKey) else ""
            return (
                f"certificate {child.subject} is signed with {name}{bits} by {issuer.subject}; "
                "accepted are ecdsa-with-SHA256/384 and sha256WithRSAEncryption with an RSA key "
                f"of at least {MIN_RSA_BITS} bits",
                (),
                None,
            )
        if status == "cp14":
            notes.append(
                f"CA signature ecdsa-with-SHA384 by {issuer.subject} (SHAKEN CP 1.4; "
                "ATIS-1000080 v004 names ecdsa-with-SHA256)"
            )
        elif status == "rsa":
            what = (
                f"CA signature sha256WithRSAEncryption ({issuer.key.key_size}-bit RSA) "
                f"by {issuer.subject}"
            )
            notes.append(
                f"{what}: outside the ATIS-1000080 v004 profile, accepted (strict profile refuses)"
            )
            off_profile = off_profile or what
    return None, tuple(notes), off_profile


def _valid(detail: str, path: Sequence[StiCertificate], *, lenient: bool = False) -> ChainResult:
    """A successful :class:`ChainResult` for ``path``, or a failed one when a CA signature on
    it uses an algorithm :func:`ca_signature_status` refuses."""
    refusal, notes, off_profile = _ca_signatures(path)
    if refusal is not None:
        return ChainResult(False, refusal)
    return ChainResult(
        True,
        "; ".join((detail, *notes)),
        valid_from=max(c.not_before for c in path),
        valid_until=min(c.not_after for c in path),
        lenient=lenient,
        path=tuple(path),
        notes=notes,
        off_profile=off_profile,
    )


def _usable_ca(c: StiCertificate) -> str | None:
    bc = _ext(c.cert, ExtensionOID.BASIC_CONSTRAINTS)
    if bc is None or not bc.value.ca:  # type: ignore[attr-defined]
        return f"issuer {c.subject} is not a CA (basicConstraints)"
    ku = _ext(c.cert, ExtensionOID.KEY_USAGE)
    if ku is not None and not ku.value.key_cert_sign:  # type: ignore[attr-defined]
        return f"issuer {c.subject} lacks keyCertSign"
    return None


def _validate_lenient(chain: CertChain, anchors: Anchors, now: float) -> ChainResult:
    """RFC 5280 path validation for chains that hold (or end at) a certificate readable only
    through the NULL-parameter repair. Narrow on purpose: the signature algorithms of
    :func:`ca_signature_status` only, names must chain (an issuer is a certificate whose subject
    is the issuer name and whose key verifies the signature, in any bundle order), every
    certificate valid at ``now``, issuers must be CAs with keyCertSign, depth <= 4.
    """
    pool = list(chain.certs[1:])
    cur = chain.leaf
    path = [cur]
    for _ in range(MAX_CHAIN_DEPTH + 1):
        for anchor in anchors.by_subject.get(cur.issuer, ()):
            if _issuer_signed(cur, anchor):
                path.append(anchor)
                break
        else:
            nxt = next(
                (
                    p
                    for p in pool
                    if p.subject == cur.issuer and p not in path and _issuer_signed(cur, p)
                ),
                None,
            )
            if nxt is None:
                return ChainResult(False, f"no path from {chain.leaf.subject} to a trust anchor")
            path.append(nxt)
            cur = nxt
            continue
        break
    else:
        return ChainResult(False, "certificate chain is too long")
    for i, c in enumerate(path):
        if not c.not_before <= now <= c.not_after:
            return ChainResult(
                False, f"certificate {c.subject} is not valid at the verification time"
            )
        if i > 0 and (err := _usable_ca(c)):
            return ChainResult(False, err)
    return _valid(
        "chain valid (lenient parse: NULL ECDSA signature-algorithm parameter)", path, lenient=True
    )


def strict_profile_refusal(res: ChainResult) -> str | None:
    """Why the strict profile (the letter of ATIS-1000080 v004) refuses the valid chain ``res``:
    its first RSA CA signature; None when it holds only ECDSA signatures."""
    if res.off_profile is None:
        return None
    return f"{res.off_profile}: not allowed by ATIS-1000080 v004 (strict profile)"


def validate_chain(chain: CertChain, anchors: Anchors, now: float) -> ChainResult:
    """Validate ``chain`` to ``anchors`` at ``now`` (RFC 5280 via ``cryptography``), memoized on
    the chain per anchor generation and reused while ``now`` lies in the result's window."""
    cached = chain._results.get(anchors.generation)
    if cached is not None and cached.valid_from <= now <= cached.valid_until:
        return cached
    res = _validate_uncached(chain, anchors, now)
    if res.ok:
        if len(chain._results) > 8:
            chain._results.clear()
        chain._results[anchors.generation] = res
    return res


def _validate_uncached(chain: CertChain, anchors: Anchors, now: float) -> ChainResult:
    if not anchors.certs:
        return ChainResult(False, "no trust anchors are configured")
    leaf = chain.leaf
    uses_lenient = any(c.lenient for c in chain.certs) or any(
        a.lenient for c in chain.certs for a in anchors.by_subject.get(c.issuer, ())
    )
    if uses_lenient:
        return _validate_lenient(chain, anchors, now)
    if anchors.store is None:
        return ChainResult(False, "no trust anchor matches this chain")
    verifier = (
        xv.PolicyBuilder()
        .store(anchors.store)
        .time(_utc(now))
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf.cert, [c.cert for c in chain.certs[1:]])
    except xv.VerificationError as e:
        return ChainResult(False, f"certificate path validation failed: {str(e)[:200]}")
    by_der = {c.cert: c for c in chain.certs}
    by_der.update({a.cert: a for a in anchors.certs})
    path = tuple(by_der.get(c) or load_certificate(c.public_bytes(_DER)) for c in verified.chain)
    return _valid("chain valid", path)


from cryptography.hazmat.primitives.serialization import Encoding as _Encoding  # noqa: E402

_DER = _Encoding.DER


# -- leaf profile (ATIS-1000080 §6.4.1, SHAKEN CP; standards digest §6.2) -----------------------


@dataclass(frozen=True, slots=True)
class ProfileFinding:
    """One certificate-profile observation: ``fatal`` ones fail the call with 437."""

    name: str
    ok: bool
    detail: str
    fatal: bool


def leaf_profile(
    leaf: StiCertificate, *, strict_policy: bool = False, strict_profile: bool = False
) -> list[ProfileFinding]:
    """Check the SHAKEN end-entity profile that matters for a verifier.

    Fatal: P-256 key; signed with ecdsa-with-SHA256 or -SHA384 (CP 1.4), or with
    sha256WithRSAEncryption unless ``strict_profile`` (ATIS-1000080 v004 names ECDSA only; a
    real STI-CA signed with RSA, see :func:`ca_signature_status`, which the path validation
    applies with the issuer's key); not a CA; digitalSignature key usage when keyUsage is
    present; a TNAuthList with an SPC.
    Warnings (fatal with ``strict_policy``): missing keyUsage, no SHAKEN certificate policy OID.
    A warning is a finding with ``ok=False, fatal=False``; TNAuthList encoding quirks are always
    warnings.
    """
    out: list[ProfileFinding] = []
    key = leaf.key
    p256 = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    out.append(
        ProfileFinding("leaf_key", p256, "P-256 key" if p256 else "key is not ECDSA P-256", True)
    )
    oid = leaf.signature_oid
    allowed = (_ECDSA_SHA256, _ECDSA_SHA384) if strict_profile else _LEAF_SIGNATURE_OIDS
    sig_ok = oid in allowed
    out.append(
        ProfileFinding(
            "leaf_signature_algorithm",
            sig_ok,
            signature_algorithm_name(oid) if sig_ok else f"signature algorithm {oid} not allowed",
            True,
        )
    )
    out.append(
        ProfileFinding(
            "leaf_not_ca",
            not leaf.is_ca,
            "end-entity certificate" if not leaf.is_ca else "signing certificate is a CA (cA=TRUE)",
            True,
        )
    )
    ku = leaf.key_usage
    if ku is None:
        out.append(
            ProfileFinding("leaf_key_usage", False, "keyUsage extension absent", strict_policy)
        )
    else:
        ds = ku[0]
        out.append(
            ProfileFinding(
                "leaf_key_usage",
                ds,
                "digitalSignature" if ds else "keyUsage lacks digitalSignature",
                True,
            )
        )
    if leaf.tnauthlist is None or leaf.spc is None:
        out.append(
            ProfileFinding(
                "tnauthlist",
                False,
                "no TNAuthList extension (RFC 8226 §9)"
                if leaf.tnauthlist is None
                else "TNAuthList has no SPC",
                True,
            )
        )
    else:
        q = f" ({'; '.join(leaf.tnauthlist_quirks)})" if leaf.tnauthlist_quirks else ""
        out.append(ProfileFinding("tnauthlist", True, f"SPC {leaf.spc}{q}", True))
        for quirk in leaf.tnauthlist_quirks:  # tolerated, but reported (standards digest §10.16)
            out.append(ProfileFinding("tnauthlist_encoding", False, quirk, False))
    pol = [p for p in leaf.policies if p in SHAKEN_POLICY_OIDS]
    out.append(
        ProfileFinding(
            "certificate_policy",
            bool(pol),
            f"SHAKEN CP {pol[0]}" if pol else "no SHAKEN certificate policy OID",
            strict_policy,
        )
    )
    return out


# -- CRLs (standards digest §6.1, §6.3 item 5) -------------------------------------------------


def load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """Parse one or more CRLs (PEM blocks or one DER CRL)."""
    try:
        if b"-----BEGIN" in data:
            return [
                x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + b + b"-----END X509 CRL-----")
                for b in _CRL_PEM_RE.findall(data)
            ]
        return [x509.load_der_x509_crl(data)]
    except ValueError as e:
        raise CertificateError(f"CRL cannot be parsed: {str(e)[:120]}", check="crl") from e


def _crl_issuer_names(c: StiCertificate) -> set[str]:
    return {c.issuer, *c.crl_issuers}


def check_revocation(
    path: Sequence[StiCertificate],
    crls: Sequence[x509.CertificateRevocationList],
    anchors: Anchors,
    now: float,
) -> tuple[bool, str]:
    """Check every non-anchor certificate on ``path`` against ``crls`` (matching issuer, or the
    cRLIssuer of the STI-PA's indirect CRL). A CRL whose issuer key is known (on the path or an
    anchor) must carry a valid signature, else it is ignored. Returns (not_revoked, detail).
    """
    keys = {c.subject: c.key for c in (*path, *anchors.certs)}
    checked = 0
    notes: list[str] = []
    for c in path[:-1] if len(path) > 1 else path:
        names = _crl_issuer_names(c)
        for crl in crls:
            iname = crl.issuer.rfc4514_string()
            if iname not in names:
                continue
            k = keys.get(iname)
            if k is not None:
                try:
                    if not crl.is_signature_valid(k):
                        notes.append(f"CRL from {iname} has a bad signature; ignored")
                        continue
                except (TypeError, ValueError):
                    notes.append(f"CRL from {iname} cannot be checked; ignored")
                    continue
            if crl.next_update_utc is not None and _ts(crl.next_update_utc) < now:
                notes.append(f"CRL from {iname} is past nextUpdate")
            checked += 1
            if crl.get_revoked_certificate_by_serial_number(c.cert.serial_number) is not None:
                return (
                    False,
                    f"certificate {c.subject} (serial {c.cert.serial_number:x}) is revoked",
                )
    extra = f" ({'; '.join(notes)})" if notes else ""
    return True, (
        f"not revoked ({checked} CRL checks){extra}" if checked else f"no matching CRL{extra}"
    )
