"""A test STI PKI and a permissive signer for tests, labs and examples.

``make_pki()`` builds a root (the trust anchor), an STI-CA intermediate and a service-provider
certificate with a TNAuthList SPC, shaped like the ATIS-1000080 profile (standards digest
§6.2). ``pki.sign(...)`` returns an Identity header value signed with the SP key. The signing
itself is :mod:`shakenkit.signing` (the production STI-AS); the signers here skip its input
checks so tests can build the PASSporTs a verifier must refuse.

Never use these keys outside tests: they are generated in memory and never protected.
"""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import signing as _signing
from .certs import der as _der
from .certs.tnauthlist import encode_tnauthlist_spc
from .core.tn import canonicalize_tn
from .core.verifier import Verifier
from .signing import rcd_claims

__all__ = [
    "CrlSigner",
    "TestPKI",
    "issue_certificate",
    "make_crl",
    "make_crl_signer",
    "make_pki",
    "rcd_claims",
    "sign_div",
    "sign_identity",
]

SHAKEN_CP_OID = x509.ObjectIdentifier("2.16.840.1.114569.1.1.3")
STI_PA_CRL_URL = "https://authenticate-api.iconectiv.com/download/v1/crl"
STI_PA_CRL_ISSUER = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "NJ"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Bridgewater"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "STI-PA"),
        x509.NameAttribute(NameOID.COMMON_NAME, "STI-PA CRL"),
    ]
)


def _name(cn: str, org: str = "shakenkit test") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _dt_utc(t: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc)


def _add_null_sigalg(der: bytes, issuer_key: ec.EllipticCurvePrivateKey) -> bytes:
    """Re-encode ``der`` with a NULL parameter in both ECDSA AlgorithmIdentifiers and re-sign the
    changed TBS: a faithful copy of the T-Mobile production CA defect (corpus README)."""
    tbs, _alg, _sig = _der.split_certificate(der)
    fields = _der.read_children(tbs.value)
    idx = 1 if fields[0].tag == 0xA0 else 0
    bad_alg = _der.encode_tlv(0x30, fields[idx + 1].value + b"\x05\x00")
    raw = [f.raw for f in fields]
    raw[idx + 1] = bad_alg
    new_tbs = _der.encode_tlv(0x30, b"".join(raw))
    sig = issuer_key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    return _der.encode_tlv(0x30, new_tbs + bad_alg + _der.encode_tlv(0x03, b"\x00" + sig))


def issue_certificate(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey | Any,
    issuer: x509.Name | None = None,
    issuer_key: ec.EllipticCurvePrivateKey | Any | None = None,
    ca: bool = False,
    spc: str | None = None,
    not_before: float | None = None,
    not_after: float | None = None,
    policy: bool = True,
    crl_url: str | None = STI_PA_CRL_URL,
    crl_issuer: x509.Name | None = STI_PA_CRL_ISSUER,
    serial: int | None = None,
    null_sigalg: bool = False,
    key_usage: bool = True,
    signature_hash: Any = None,
    rsa_padding: Any = None,
    path_length: int | None = None,
) -> bytes:
    """Issue one certificate (DER). Self-signed when ``issuer_key`` is None. ``path_length`` is
    the pathLenConstraint of a CA (RFC 5280 §4.2.1.9; none by default).

    The issuer's key may be EC (ECDSA) or, to reproduce real STI-CAs and refused cases, RSA or
    DSA; ``signature_hash`` (default SHA-256) and ``rsa_padding`` (default PKCS#1 v1.5; e.g.
    ``padding.PSS(...)``) choose the signature algorithm. ``crl_url`` is the CRL distribution
    point and ``crl_issuer`` its cRLIssuer (the STI-PA CRL by default; None for a distribution
    point without one, as on certificates issued before ATIS-1000080 v004)."""
    now = time.time()
    nb = _dt_utc(not_before if not_before is not None else now - 86_400)
    na = _dt_utc(not_after if not_after is not None else now + 365 * 86_400)
    signer = issuer_key or key
    pub = key.public_key()
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(pub)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )
    if key_usage:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if issuer_key is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if policy and issuer_key is not None:
        b = b.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(SHAKEN_CP_OID, None)]), critical=False
        )
    if crl_url and issuer_key is not None:
        b = b.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        # The STI-PA CRL is indirect: cRLIssuer names it (ATIS-1000080 v004).
                        crl_issuer=[x509.DirectoryName(crl_issuer)] if crl_issuer else None,
                    )
                ]
            ),
            critical=False,
        )
    if spc is not None:
        b = b.add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26"), encode_tnauthlist_spc(spc)
            ),
            critical=False,
        )
    h = signature_hash or hashes.SHA256()
    signed = b.sign(signer, h, rsa_padding=rsa_padding) if rsa_padding else b.sign(signer, h)
    der = signed.public_bytes(serialization.Encoding.DER)
    if null_sigalg:
        der = _add_null_sigalg(der, signer)
    return der


def _der_to_pem(der: bytes) -> bytes:
    import base64

    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def sign_identity(
    key: ec.EllipticCurvePrivateKey,
    *,
    x5u: str,
    orig: str,
    dest: str | Sequence[str],
    attest: str = "A",
    origid: str | None = None,
    iat: int | None = None,
    ppt: str | None = "shaken",
    extra_claims: Mapping[str, Any] | None = None,
    header_overrides: Mapping[str, Any] | None = None,
) -> str:
    """Sign a PASSporT for a test and return the Identity header value (RFC 8224 §4, RFC 8588):
    ``<jws>;info=<x5u>;alg=ES256;ppt=shaken``. Unlike the production
    :func:`shakenkit.signing.sign_shaken` it checks nothing, so tests can make the PASSporTs a
    verifier must refuse: numbers that are not TNs are signed as given, ``ppt`` may be another
    type or None (no ``attest``/``origid`` then), ``header_overrides`` changes the JOSE header
    and ``extra_claims`` may replace any claim."""
    dests = [dest] if isinstance(dest, str) else list(dest)
    iat = int(time.time()) if iat is None else iat
    o, ds = _tn_or_raw(orig), [_tn_or_raw(d) for d in dests]
    if ppt == "shaken":
        claims = _signing.shaken_claims(o, ds, attest, origid or str(uuid.uuid4()), iat)
    else:
        claims = {"dest": {"tn": sorted(ds)}, "iat": iat, "orig": {"tn": o}}
    claims.update(extra_claims or {})
    return _signing.signed_identity(
        key, x5u=x5u, ppt=ppt, claims=claims, header=header_overrides
    )


def sign_div(
    key: ec.EllipticCurvePrivateKey,
    *,
    x5u: str,
    orig: str,
    div: str,
    dest: str | Sequence[str],
    iat: int | None = None,
    opt: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Sign a ``div`` PASSporT (RFC 8946 §3) for a test: :func:`shakenkit.signing.sign_div`
    without its checks (numbers that are not TNs are signed as given; ``extra_claims`` may
    replace any claim). With ``opt`` it is a ``div-o`` PASSporT (RFC 8946 §5)."""
    dests = [dest] if isinstance(dest, str) else list(dest)
    token = opt.split(";", 1)[0].strip() if opt is not None else None
    claims = _signing.div_claims(
        _tn_or_raw(orig),
        _tn_or_raw(div),
        [_tn_or_raw(d) for d in dests],
        int(time.time()) if iat is None else iat,
        token,
    )
    claims.update(extra_claims or {})
    ppt = "div" if opt is None else "div-o"
    return _signing.signed_identity(key, x5u=x5u, ppt=ppt, claims=claims)


def _tn_or_raw(number: str) -> str:
    """The canonical TN (RFC 8224 §8.3), or ``number`` as given when it is none."""
    return canonicalize_tn(number) or number


@dataclass
class TestPKI:
    """A root, an STI-CA intermediate and an SP certificate, with their keys.

    ``root_pem`` is the trust anchor; ``chain_pem`` (leaf then intermediate) is what the
    ``x5u`` URL serves. :meth:`sign` makes Identity headers; :meth:`verifier` a matching
    :class:`~shakenkit.Verifier`.
    """

    __test__ = False  # not a pytest test class

    root_key: ec.EllipticCurvePrivateKey | Any
    root_der: bytes
    ca_key: ec.EllipticCurvePrivateKey | Any
    ca_der: bytes
    leaf_key: ec.EllipticCurvePrivateKey
    leaf_der: bytes
    spc: str
    x5u: str
    extra: dict[str, bytes] = field(default_factory=dict)

    @property
    def root_pem(self) -> bytes:
        """The root certificate (trust anchor), PEM."""
        return _der_to_pem(self.root_der)

    @property
    def ca_pem(self) -> bytes:
        """The STI-CA intermediate, PEM."""
        return _der_to_pem(self.ca_der)

    @property
    def leaf_pem(self) -> bytes:
        """The SP certificate, PEM."""
        return _der_to_pem(self.leaf_der)

    @property
    def chain_pem(self) -> bytes:
        """What ``x5u`` serves: leaf first, then the intermediate (RFC 8555 §9.1)."""
        return self.leaf_pem + self.ca_pem

    @property
    def leaf_key_pem(self) -> bytes:
        """The SP signing key, PKCS#8 PEM (for ``shakenkit sign --key``)."""
        return self.leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(
        self,
        *,
        orig: str,
        dest: str | Sequence[str],
        attest: str = "A",
        origid: str | None = None,
        iat: int | None = None,
        **kw: Any,
    ) -> str:
        """An Identity header value signed by this PKI's SP key for :attr:`x5u`."""
        return sign_identity(
            self.leaf_key,
            x5u=kw.pop("x5u", self.x5u),
            orig=orig,
            dest=dest,
            attest=attest,
            origid=origid,
            iat=iat,
            **kw,
        )

    def sign_div(
        self,
        *,
        orig: str,
        div: str,
        dest: str | Sequence[str],
        iat: int | None = None,
        **kw: Any,
    ) -> str:
        """A ``div`` PASSporT (RFC 8946) signed by this PKI's SP key; see :func:`sign_div`."""
        return sign_div(
            self.leaf_key, x5u=kw.pop("x5u", self.x5u), orig=orig, div=div, dest=dest, iat=iat, **kw
        )

    def carrier(self, *, spc: str, x5u: str, organization: str = "Other Carrier") -> TestPKI:
        """Another service provider under the same root and STI-CA (e.g. the carrier that
        retargets a call, RFC 8946): a new SP key and certificate with its own SPC and
        ``x5u``. Its chain is registered in this PKI's :attr:`extra`, so
        :meth:`certificates` and :meth:`verifier` serve both carriers."""
        key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.load_der_x509_certificate(self.ca_der).subject
        mine = x509.load_der_x509_certificate(self.leaf_der)  # same validity as this SP's
        leaf = issue_certificate(
            subject=_name(f"SHAKEN {spc}", organization),
            key=key,
            issuer=ca_name,
            issuer_key=self.ca_key,
            spc=spc,
            not_before=mine.not_valid_before_utc.timestamp(),
            not_after=mine.not_valid_after_utc.timestamp(),
        )
        other = TestPKI(self.root_key, self.root_der, self.ca_key, self.ca_der, key, leaf, spc, x5u)
        self.extra[x5u] = other.chain_pem
        return other

    def certificates(self) -> dict[str, bytes]:
        """``{x5u: chain_pem}`` plus any extra URLs registered in :attr:`extra`."""
        return {self.x5u: self.chain_pem, **self.extra}

    def verifier(self, **kw: Any) -> Verifier:
        """A :class:`~shakenkit.Verifier` trusting this root and serving :meth:`certificates`;
        ``kw`` go to the Verifier (``policy=``, ``crls=``, ``certificates=`` ...)."""
        kw.setdefault("certificates", self.certificates())
        return Verifier(trust_anchors=[self.root_pem], **kw)


def make_pki(
    *,
    spc: str = "123A",
    x5u: str = "https://cr.example.com/sp/123A.pem",
    organization: str = "Example Telecom",
    not_before: float | None = None,
    not_after: float | None = None,
    null_sigalg_ca: bool = False,
    crl_url: str | None = STI_PA_CRL_URL,
    crl_issuer: x509.Name | None = STI_PA_CRL_ISSUER,
    leaf_key: ec.EllipticCurvePrivateKey | None = None,
    root_key: Any = None,
    ca_key: Any = None,
) -> TestPKI:
    """Build a fresh test STI PKI. ``crl_url`` is the CRL distribution point of the STI-CA and
    the SP certificate (the STI-PA CRL by default; None for none), ``crl_issuer`` its cRLIssuer
    (the STI-PA CRL signer's name; None for none). With ``null_sigalg_ca``,
    the root and the STI-CA carry the NULL signature-algorithm parameter of T-Mobile's
    production CAs (lenient path). ``root_key``/``ca_key`` replace the CAs' P-256 keys, e.g.
    with an RSA-2048 key like the real Neustar STI-CA (its signatures are then
    sha256WithRSAEncryption)."""
    root_key = root_key or ec.generate_private_key(ec.SECP256R1())
    ca_key = ca_key or ec.generate_private_key(ec.SECP256R1())
    lkey = leaf_key or ec.generate_private_key(ec.SECP256R1())
    root_name = _name("shakenkit Test STI ROOT", "shakenkit Test STI-CA")
    ca_name = _name("shakenkit Test STI-CA SHAKEN Issuing", "shakenkit Test STI-CA")
    now = time.time()
    nb = not_before if not_before is not None else now - 86_400
    root = issue_certificate(
        subject=root_name,
        key=root_key,
        ca=True,
        policy=False,
        crl_url=None,
        not_before=nb - 86_400,
        not_after=now + 20 * 365 * 86_400,
        null_sigalg=null_sigalg_ca,
    )
    ca = issue_certificate(
        subject=ca_name,
        key=ca_key,
        issuer=root_name,
        issuer_key=root_key,
        ca=True,
        not_before=nb - 3600,
        not_after=now + 10 * 365 * 86_400,
        null_sigalg=null_sigalg_ca,
        crl_url=crl_url,
        crl_issuer=crl_issuer,
    )
    leaf = issue_certificate(
        subject=_name(f"SHAKEN {spc}", organization),
        key=lkey,
        issuer=ca_name,
        issuer_key=ca_key,
        spc=spc,
        not_before=nb,
        not_after=not_after,
        crl_url=crl_url,
        crl_issuer=crl_issuer,
    )
    return TestPKI(root_key, root, ca_key, ca, lkey, leaf, spc, x5u)


def _build_crl(
    key: Any,
    issuer: x509.Name,
    entries: Sequence[tuple[int, x509.Name | None]],
    *,
    this_update: float,
    next_update: float,
    idp: x509.IssuingDistributionPoint | None,
) -> bytes:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(_dt_utc(this_update))
        .next_update(_dt_utc(next_update))
    )
    if idp is not None:
        b = b.add_extension(idp, critical=True)  # RFC 5280 §5.2.5: always critical
    for serial, entry_issuer in entries:
        r = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(
            _dt_utc(this_update)
        )
        if entry_issuer is not None:  # RFC 5280 §5.3.3: the issuer of an indirect CRL's entry
            r = r.add_extension(
                x509.CertificateIssuer([x509.DirectoryName(entry_issuer)]), critical=True
            )
        b = b.add_revoked_certificate(r.build())
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _crl_times(
    issuer: x509.Certificate, this_update: float | None, next_update: float | None
) -> tuple[float, float]:
    """thisUpdate defaults to the issuer's notBefore (so the CRL is current at any time of a test
    PKI's life up to ``next_update``), nextUpdate to a week from now."""
    nu = next_update if next_update is not None else time.time() + 7 * 86_400
    tu = this_update if this_update is not None else issuer.not_valid_before_utc.timestamp()
    return min(tu, nu - 3600), nu


def make_crl(
    issuer_key: ec.EllipticCurvePrivateKey | Any,
    issuer_der: bytes,
    revoked_serials: Sequence[int],
    *,
    next_update: float | None = None,
    this_update: float | None = None,
    idp: x509.IssuingDistributionPoint | None = None,
) -> bytes:
    """A CRL (PEM) signed by ``issuer_key`` under the name of the certificate ``issuer_der``,
    listing ``revoked_serials`` (a direct CRL, RFC 5280 §5). ``this_update`` defaults to the
    issuer's notBefore, ``next_update`` to a week from now; ``idp`` adds an
    IssuingDistributionPoint extension (RFC 5280 §5.2.5)."""
    from .certs.certificate import load_certificate

    cert = load_certificate(issuer_der).cert
    tu, nu = _crl_times(cert, this_update, next_update)
    entries = [(s, None) for s in revoked_serials]
    return _build_crl(issuer_key, cert.subject, entries, this_update=tu, next_update=nu, idp=idp)


#: The IssuingDistributionPoint of an indirect CRL with no other scope (RFC 5280 §5.2.5).
INDIRECT_CRL_IDP = x509.IssuingDistributionPoint(
    full_name=None,
    relative_name=None,
    only_contains_user_certs=False,
    only_contains_ca_certs=False,
    only_some_reasons=None,
    indirect_crl=True,
    only_contains_attribute_certs=False,
)


@dataclass
class CrlSigner:
    """A CRL-signing certificate and its key: in tests, the STI-PA's "STI-PA CRL" signer, whose
    indirect CRL lists revoked STI certificates of every STI-CA (standards digest §6.1)."""

    __test__ = False

    key: ec.EllipticCurvePrivateKey
    der: bytes

    @property
    def pem(self) -> bytes:
        """The signer's certificate, PEM (what ``--crl-signer`` takes)."""
        return _der_to_pem(self.der)

    def crl(
        self,
        revoked: Sequence[bytes] = (),
        *,
        next_update: float | None = None,
        this_update: float | None = None,
        idp: x509.IssuingDistributionPoint | None = INDIRECT_CRL_IDP,
    ) -> bytes:
        """An indirect CRL (PEM) listing the certificates ``revoked`` (DER) by issuer and
        serial (a certificateIssuer entry extension on each, RFC 5280 §5.3.3)."""
        me = x509.load_der_x509_certificate(self.der)
        tu, nu = _crl_times(me, this_update, next_update)
        entries = []
        for der in revoked:
            c = x509.load_der_x509_certificate(der)
            entries.append((c.serial_number, c.issuer))
        return _build_crl(self.key, me.subject, entries, this_update=tu, next_update=nu, idp=idp)


def make_crl_signer(
    *,
    name: x509.Name = STI_PA_CRL_ISSUER,
    issuer_key: Any = None,
    issuer_der: bytes | None = None,
    crl_sign: bool = True,
    not_before: float | None = None,
    not_after: float | None = None,
) -> CrlSigner:
    """A CRL signer certificate named ``name`` ("STI-PA CRL" by default), with a new P-256 key:
    self-signed (standing in for one issued by the STI-PA's own root), or issued by
    ``issuer_key``/``issuer_der`` (e.g. a trust anchor). Two calls give two signers with the
    same name and different keys: the second one is a forger."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = time.time()
    issuer = x509.load_der_x509_certificate(issuer_der).subject if issuer_der else name
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_dt_utc(not_before if not_before is not None else now - 400 * 86_400))
        .not_valid_after(_dt_utc(not_after if not_after is not None else now + 3 * 365 * 86_400))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not crl_sign,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=crl_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    cert = b.sign(issuer_key or key, hashes.SHA256())
    return CrlSigner(key, cert.public_bytes(serialization.Encoding.DER))
