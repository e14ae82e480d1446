"""STI certificates and chains as read from bytes: :class:`StiCertificate` (the fields a verifier
needs, TNAuthList/SPC included), :class:`CertChain`, :class:`ChainResult`; PEM/DER sniffing,
size limits, and interning of the few dozen STI-CA intermediates thousands of chains share.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID, NameOID

from ..errors import CertificateError
from . import der as _der
from .tnauthlist import TNAuthEntry, parse_tnauthlist

__all__ = [
    "SHAKEN_POLICY_OIDS",
    "SIGNATURE_ALGORITHM_NAMES",
    "TNAUTHLIST_OID",
    "CertChain",
    "ChainResult",
    "StiCertificate",
    "TNAuthEntry",
    "load_certificate",
    "parse_certificates",
    "parse_chain",
    "signature_algorithm_name",
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
                entries, q = parse_tnauthlist(ext.value.value)
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


#: Bytes of parsed certificates the interning table may hold (each charged ~2x its DER plus
#: 3 KiB: ~1,400 typical STI certificates).
INTERN_MAX_BYTES = 8 * 2**20


def _interned_size(cert: StiCertificate) -> int:
    return 2 * len(cert.der) + 3_072


# Thousands of SP chains share a few dozen STI-CA intermediates: parse each distinct DER once
# and share the (immutable) object. An LRU bounded in bytes, so big hostile certificates from an
# attacker's repository cannot grow it; one larger than the whole table is not interned.
_INTERN: LRUCache[bytes, StiCertificate] = LRUCache(
    maxsize=INTERN_MAX_BYTES, getsizeof=_interned_size
)

_INTERN_LOCK = threading.Lock()


def _interned(der: bytes) -> StiCertificate:
    with _INTERN_LOCK:
        hit = _INTERN.get(der)
    if hit is None:
        hit = load_certificate(der)
        if _interned_size(hit) <= _INTERN.maxsize:
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


def signature_algorithm_name(oid: str) -> str:
    """The usual name of a signature algorithm OID (the dotted OID when unknown)."""
    return SIGNATURE_ALGORITHM_NAMES.get(oid, oid)
