"""Describe an STI certificate and lint it against the SHAKEN certificate profile.

:func:`lint_certificate` is a pure function over a :class:`~shakenkit.certs.StiCertificate`: it
returns :class:`Finding` objects for every departure from the profile of ATIS-1000080 §6.4.1
(v003-v005) and the SHAKEN Certificate Policy (standards digest §6.2; the rule set follows the
zlint SHAKEN lints). Severities: ``error`` breaks a "shall" of the profile, ``warning`` is a
tolerated deviation or a rule of a later version, ``info`` is worth knowing. A verifier does not
fail calls on most of these (it checks only what :func:`shakenkit.certs.leaf_profile` checks);
this is for certificate reviews, STI-CA audits and interop triage.

:func:`describe_certificate` gives the certificate's fields as JSON-ready data (the names and
formats of the shared STI certificate corpus: RFC 4514 names, ISO 8601 times, TNAuthList
entries as ``[kind, value]``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from .certificate import (
    _ECDSA_SHA256,
    _ECDSA_SHA384,
    _RSA_SHA256,
    MIN_RSA_BITS,
    SHAKEN_POLICY_OIDS,
    TNAUTHLIST_OID,
    StiCertificate,
    signature_algorithm_name,
)
from .repair import issuer_signed

__all__ = [
    "Finding",
    "certificate_role",
    "describe_certificate",
    "lint_certificate",
    "self_signed",
]

Severity = Literal["error", "warning", "info"]
Role = Literal["end-entity", "intermediate", "root"]

SHAKEN_CP_ARC = "2.16.840.1.114569.1.1."
ANY_POLICY = "2.5.29.32.0"
# ATIS-1000080 v005: no extensions beyond these.
_PROFILE_EXTENSIONS = {
    ExtensionOID.KEY_USAGE.dotted_string: "keyUsage",
    ExtensionOID.BASIC_CONSTRAINTS.dotted_string: "basicConstraints",
    ExtensionOID.CERTIFICATE_POLICIES.dotted_string: "certificatePolicies",
    ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string: "subjectKeyIdentifier",
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string: "authorityKeyIdentifier",
    ExtensionOID.CRL_DISTRIBUTION_POINTS.dotted_string: "cRLDistributionPoints",
    TNAUTHLIST_OID.dotted_string: "TNAuthList",
}
_SPC_RE = re.compile(r"[A-Z0-9]+")


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation: ``id`` (stable, snake_case), ``severity`` and a human ``message``
    citing the rule."""

    id: str
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, str]:
        """``{"id", "severity", "message"}``."""
        return {"id": self.id, "severity": self.severity, "message": self.message}


def certificate_role(cert: StiCertificate) -> Role:
    """``root`` (a self-signed CA), ``intermediate`` (another CA) or ``end-entity``.

    Self-signed means RFC 5280 §3.2 / §6.1: the issuer name is the subject name **and** the
    certificate's own key verifies its signature (over the original TBS bytes, so a lenient
    parse is judged on what was signed). Equal names alone do not make a root: a CA with an
    empty subject and issuer, or a subordinate CA that reuses its root's name, is linted as
    an intermediate, so the intermediate rules (authorityKeyIdentifier, certificatePolicies,
    cRLDistributionPoints) apply to it."""
    if not cert.is_ca:
        return "end-entity"
    return "root" if self_signed(cert) else "intermediate"


def self_signed(cert: StiCertificate) -> bool:
    """Is ``cert`` self-signed: issuer name = subject name (byte for byte) and its own public
    key verifies its signature? (Any algorithm ``cryptography`` verifies; a lenient parse with
    the algorithms :func:`~shakenkit.certs.path.ca_signature_status` knows.)"""
    c = cert.cert
    if c.issuer.public_bytes() != c.subject.public_bytes():
        return False
    if cert.lenient is not None:
        return issuer_signed(cert, cert)
    try:
        c.verify_directly_issued_by(c)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _iso(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).isoformat()


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[Any] | None:
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def _key_info(cert: x509.Certificate) -> dict[str, Any]:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"type": "EC", "curve": key.curve.name, "bits": key.curve.key_size}
    if isinstance(key, rsa.RSAPublicKey):
        return {"type": "RSA", "curve": None, "bits": key.key_size}
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return {"type": type(key).__name__.replace("PublicKey", ""), "curve": None, "bits": None}
    return {"type": type(key).__name__, "curve": None, "bits": None}


def _crl_points(cert: x509.Certificate) -> list[dict[str, Any]]:
    ext = _ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    out: list[dict[str, Any]] = []
    for dp in ext.value if ext is not None else ():
        urls = [
            g.value for g in dp.full_name or () if isinstance(g, x509.UniformResourceIdentifier)
        ]
        issuers = [
            g.value.rfc4514_string()
            for g in dp.crl_issuer or ()
            if isinstance(g, x509.DirectoryName)
        ]
        out.append({"urls": urls, "crl_issuer": issuers})
    return out


def _ski(cert: x509.Certificate) -> bytes | None:
    ext = _ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    return bytes(ext.value.digest) if ext is not None else None


def _aki(cert: x509.Certificate) -> bytes | None:
    ext = _ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    if ext is None or ext.value.key_identifier is None:
        return None
    return bytes(ext.value.key_identifier)


def describe_certificate(cert: StiCertificate) -> dict[str, Any]:
    """The certificate's fields as JSON-ready data (without findings)."""
    c = cert.cert
    ski, aki = _ski(c), _aki(c)
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "role": certificate_role(cert),
        "is_ca": cert.is_ca,
        "serial": format(c.serial_number, "x"),
        "not_before": _iso(c.not_valid_before_utc),
        "not_after": _iso(c.not_valid_after_utc),
        "spc": cert.spc,
        "tnauthlist": None
        if cert.tnauthlist is None
        else [
            [e.kind, e.value] + ([e.count] if e.count is not None else []) for e in cert.tnauthlist
        ],
        "tnauthlist_quirks": list(cert.tnauthlist_quirks),
        "key": _key_info(c),
        "signature_algorithm": signature_algorithm_name(cert.signature_oid),
        "policies": list(cert.policies),
        "crl_distribution_points": _crl_points(c),
        "ski": ski.hex() if ski is not None else None,
        "aki": aki.hex() if aki is not None else None,
        "sha256": cert.fingerprint,
        "lenient_parse": cert.lenient is not None,
    }


def lint_certificate(
    cert: StiCertificate, *, at: float | None = None, strict_profile: bool = False
) -> list[Finding]:
    """Findings for ``cert`` against the SHAKEN certificate profile (ATIS-1000080 §6.4.1,
    SHAKEN CP; standards digest §6.2). With ``at`` (Unix seconds), also whether the certificate
    is valid then. A CA signature a verifier accepts by default but the letter of ATIS-1000080
    v004 does not (sha256WithRSAEncryption; ecdsa-with-SHA384 on an end-entity certificate) is
    a ``warning``, an ``error`` with ``strict_profile``. Pure: no I/O, no clock."""
    out: list[Finding] = []

    def add(id_: str, severity: Severity, message: str) -> None:
        out.append(Finding(id_, severity, message))

    c = cert.cert
    role = certificate_role(cert)
    ca = role != "end-entity"
    if cert.lenient is not None:
        add(
            "lenient_parse",
            "warning",
            "signature AlgorithmIdentifier carries a NULL parameter, which RFC 5758 §3.2 forbids "
            "for ECDSA; readable only through shakenkit's lenient parse (the signature still "
            "verifies over the original bytes)",
        )
    if c.version != x509.Version.v3:
        add("version", "error", "certificate is not X.509 v3 (ATIS-1000080 §6.4.1)")
    _lint_serial(c.serial_number, add)
    _lint_signature(cert.signature_oid, ca, strict_profile, add)
    _lint_key(c, role, strict_profile, add)
    _lint_issuer(c, add)
    _lint_subject(cert, role, add)
    exts = {e.oid.dotted_string: e for e in c.extensions}
    _lint_basic_constraints(exts, ca, add)
    _lint_key_usage(exts, ca, add)
    _lint_policies(exts, role, add)
    _lint_crldp(exts, role, add)
    _lint_key_ids(c, role, add)
    _lint_tnauthlist(cert, exts, ca, add)
    for oid, e in exts.items():
        if oid not in _PROFILE_EXTENSIONS:
            name = getattr(e.oid, "_name", None) or oid
            if name == "Unknown OID":
                name = oid
            add(
                "extension_not_in_profile",
                "error" if e.critical else "warning",
                f"{'critical ' if e.critical else ''}extension {name} is not in the STI "
                "certificate profile (ATIS-1000080 v005 allows only keyUsage, basicConstraints, "
                "certificatePolicies, SKI, AKI, cRLDistributionPoints, TNAuthList)",
            )
    if at is not None and not cert.not_before <= at <= cert.not_after:
        when = "expired" if at > cert.not_after else "not yet valid"
        add("validity", "warning", f"certificate is {when} at {_iso(_utc(at))}")
    return out


def _utc(t: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc)


_Add = Any  # the add(id, severity, message) callback of lint_certificate


def _lint_serial(serial: int, add: _Add) -> None:
    if serial <= 0:
        add("serial_number", "error", "serial number is not a positive integer (RFC 5280 §4.1.2.2)")
    elif serial < 1 << 56:
        add(
            "serial_number_size",
            "error",
            f"serial number has {serial.bit_length()} bits; it shall contain at least 64 bits of "
            "CSPRNG output (ATIS-1000080 v004+)",
        )


def _lint_signature(oid: str, ca: bool, strict_profile: bool, add: _Add) -> None:
    # What a verifier accepts is pki.ca_signature_status; this says how far it is from the
    # letter of the profile.
    name = signature_algorithm_name(oid)
    if oid == _ECDSA_SHA256:
        return
    if oid == _ECDSA_SHA384:
        add(
            "signature_algorithm",
            "error" if strict_profile and not ca else "warning",
            f"signature algorithm {name}: allowed by SHAKEN CP 1.4"
            + (" for CAs" if ca else "")
            + ", ATIS-1000080 v004 §6.4.1 names ecdsa-with-SHA256; verifiers accept it",
        )
    elif oid == _RSA_SHA256:
        add(
            "signature_algorithm",
            "error" if strict_profile else "warning",
            f"signature algorithm {name}: not ECDSA as ATIS-1000080 v004 §6.4.1 says; accepted "
            f"by default when the issuer's RSA key has at least {MIN_RSA_BITS} bits (a real "
            "STI-CA, Neustar Certified Caller ID CA-1, issued SP certificates so), "
            "refused with --strict-profile",
        )
    else:
        add(
            "signature_algorithm",
            "error",
            f"signature algorithm {name} is not ecdsa-with-SHA256 (ATIS-1000080 §6.4.1) and "
            "is refused by verifiers",
        )


def _lint_key(c: x509.Certificate, role: Role, strict_profile: bool, add: _Add) -> None:
    key = c.public_key()
    if isinstance(key, rsa.RSAPublicKey) and role != "end-entity" and key.key_size >= MIN_RSA_BITS:
        add(
            "public_key",
            "error" if strict_profile else "warning",
            f"{key.key_size}-bit RSA CA key: not ECDSA as ATIS-1000080 v004 §6.4.1 says; its "
            "sha256WithRSAEncryption signatures are accepted by default, refused with "
            "--strict-profile",
        )
    elif not isinstance(key, ec.EllipticCurvePublicKey):
        add("public_key", "error", "public key is not an ECDSA (id-ecPublicKey) key")
    elif isinstance(key.curve, ec.SECP384R1) and role != "end-entity":
        add(
            "public_key",
            "warning",
            "P-384 CA key: allowed by SHAKEN CP 1.4 for CAs, but ATIS-1000080 v005 says P-256",
        )
    elif not isinstance(key.curve, ec.SECP256R1):
        add("public_key", "error", f"key curve {key.curve.name} is not P-256 (prime256v1)")


def _lint_issuer(c: x509.Certificate, add: _Add) -> None:
    # ATIS-1000080 §6.4.1 (v003-v005): the issuer DN is the issuing CA's subject, which carries
    # C, O and CN; zlint e_atis_issuer_dn / e_atis_ca_issuer_dn.
    issuer = c.issuer
    missing = [
        label
        for label, oid in (
            ("C", NameOID.COUNTRY_NAME),
            ("O", NameOID.ORGANIZATION_NAME),
            ("CN", NameOID.COMMON_NAME),
        )
        if not issuer.get_attributes_for_oid(oid)
    ]
    if missing:
        add(
            "issuer_dn",
            "error",
            f"issuer DN lacks {', '.join(missing)}; it shall carry C, O and CN (the issuing "
            "CA's subject, ATIS-1000080 §6.4.1)",
        )


def _lint_subject_serial_number(subj: x509.Name, add: _Add) -> None:
    # US SHAKEN CP 1.1-1.3 §3.1: "the serialNumber attribute shall be included along with the
    # CN"; CP 1.4 relaxed it to "may". A warning: most live leaves lack it (4,123 of 19,306
    # carry it, issue 18); zlint e_us_cp_subject_sn.
    n = len(subj.get_attributes_for_oid(NameOID.SERIAL_NUMBER))
    if n != 1:
        add(
            "subject_serial_number",
            "warning",
            f"subject has {n} serialNumber attributes; US SHAKEN CP 1.1-1.3 §3.1 wants exactly "
            "one beside the CN (CP 1.4: may)",
        )


def _lint_subject(cert: StiCertificate, role: Role, add: _Add) -> None:
    subj = cert.cert.subject
    cs = subj.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    cns = subj.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = subj.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if len(cs) != 1:
        add(
            "subject_country",
            "error",
            f"subject has {len(cs)} C attributes; exactly one is required",
        )
    elif not re.fullmatch(r"[A-Z]{2}", str(cs[0].value)):
        add(
            "subject_country", "error", f"subject C {cs[0].value!r} is not an ISO 3166 alpha-2 code"
        )
    if not orgs:
        add("subject_organization", "error", "subject has no O attribute (ATIS-1000080 v004)")
    if role == "end-entity":
        _lint_subject_serial_number(subj, add)
    if len(cns) != 1:
        add(
            "subject_common_name",
            "error",
            f"subject has {len(cns)} CN attributes; exactly one is required",
        )
        return
    cn = str(cns[0].value)
    if "SHAKEN" not in cn.upper():
        add("subject_common_name", "error", f'subject CN {cn!r} does not contain "SHAKEN"')
    elif role == "end-entity" and cert.spc is not None and cn != f"SHAKEN {cert.spc}":
        add(
            "subject_common_name_format",
            "warning",
            f'subject CN {cn!r} is not "SHAKEN {cert.spc}" (ATIS-1000080 v004; common in the '
            "field)",
        )
    if role == "root" and "ROOT" not in cn.upper():
        add(
            "subject_common_name_root",
            "warning",
            f'root CN {cn!r} does not contain "ROOT" (ATIS-1000080 v005)',
        )


def _lint_basic_constraints(exts: dict[str, x509.Extension[Any]], ca: bool, add: _Add) -> None:
    bc = exts.get(ExtensionOID.BASIC_CONSTRAINTS.dotted_string)
    if bc is None:
        add("basic_constraints", "error", "basicConstraints extension is missing")
        return
    if not bc.critical:
        add("basic_constraints", "error", "basicConstraints is not critical")
    if bool(bc.value.ca) != ca:
        add("basic_constraints", "error", f"basicConstraints cA is {bool(bc.value.ca)}")


_KU_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _lint_key_usage(exts: dict[str, x509.Extension[Any]], ca: bool, add: _Add) -> None:
    ku = exts.get(ExtensionOID.KEY_USAGE.dotted_string)
    if ku is None:
        add("key_usage", "error", "keyUsage extension is missing")
        return
    if not ku.critical:
        add("key_usage", "error", "keyUsage is not critical")
    bits = {n for n in _KU_NAMES if getattr(ku.value, n)}
    if ku.value.key_agreement and (ku.value.encipher_only or ku.value.decipher_only):
        bits.add("encipher_only" if ku.value.encipher_only else "decipher_only")
    if ca:
        if "key_cert_sign" not in bits:
            add("key_usage", "error", "CA keyUsage lacks keyCertSign")
        extra = bits - {"key_cert_sign", "crl_sign", "digital_signature"}
    else:
        if "digital_signature" not in bits:
            add("key_usage", "error", "keyUsage lacks digitalSignature")
        extra = bits - {"digital_signature"}
    if extra:
        add(
            "key_usage",
            "error",
            f"keyUsage has {', '.join(sorted(extra))}; "
            + (
                "CAs use keyCertSign (cRLSign, digitalSignature)"
                if ca
                else "only digitalSignature is allowed"
            ),
        )


def _lint_policies(exts: dict[str, x509.Extension[Any]], role: Role, add: _Add) -> None:
    cp = exts.get(ExtensionOID.CERTIFICATE_POLICIES.dotted_string)
    if role == "root":
        if cp is not None:
            add(
                "certificate_policies",
                "warning",
                "root carries certificatePolicies (absent under ATIS-1000080 v005)",
            )
        return
    if cp is None:
        add("certificate_policies", "error", "certificatePolicies extension is missing (SHAKEN CP)")
        return
    if cp.critical:
        add("certificate_policies", "error", "certificatePolicies is critical")
    oids = [p.policy_identifier.dotted_string for p in cp.value]
    shaken = [o for o in oids if o.startswith(SHAKEN_CP_ARC)]
    others = [
        o
        for o in oids
        if not o.startswith(SHAKEN_CP_ARC) and not (role == "intermediate" and o == ANY_POLICY)
    ]
    if role == "end-entity" and len(oids) != 1:
        add(
            "certificate_policies",
            "error",
            f"{len(oids)} policy OIDs; exactly one (the SHAKEN CP OID) is required",
        )
    elif role == "intermediate" and len(oids) > 1 and shaken:
        # ATIS-1000080 v004 §6.4.1: "a single OID value that identifies the SHAKEN CP"
        # (zlint e_atis_ca_certificate_policies); none of the corpus's CAs carries two.
        add(
            "certificate_policies",
            "error",
            f"{len(oids)} policy OIDs; an STI intermediate carries exactly one, the SHAKEN CP "
            "OID (ATIS-1000080 v004 §6.4.1)",
        )
    if not shaken and not (role == "intermediate" and ANY_POLICY in oids):
        add(
            "certificate_policies",
            "error",
            f"no SHAKEN CP OID (arc {SHAKEN_CP_ARC}x) among {', '.join(oids) or 'none'}",
        )
    elif others and role == "intermediate":
        add(
            "certificate_policies",
            "warning",
            f"policy OIDs outside the SHAKEN arc: {', '.join(others)}",
        )
    for o in shaken:
        if o not in SHAKEN_POLICY_OIDS:
            add(
                "certificate_policies",
                "warning",
                f"policy OID {o} is not a known SHAKEN CP version (1.1-1.4)",
            )
        elif o == SHAKEN_CP_ARC + "1":
            add(
                "certificate_policy_version",
                "info",
                "SHAKEN CP v1.1 OID (2.16.840.1.114569.1.1.1); still widespread",
            )


def _lint_crldp(exts: dict[str, x509.Extension[Any]], role: Role, add: _Add) -> None:
    dp = exts.get(ExtensionOID.CRL_DISTRIBUTION_POINTS.dotted_string)
    if role == "root":
        if dp is not None:
            add(
                "crl_distribution_points",
                "warning",
                "root carries cRLDistributionPoints (absent under ATIS-1000080 v005)",
            )
        return
    if dp is None:
        add(
            "crl_distribution_points",
            "error",
            "cRLDistributionPoints is missing (the STI-PA CRL; ATIS-1000080 §6.4.1)",
        )
        return
    points = list(dp.value)
    if len(points) != 1:
        add(
            "crl_distribution_points",
            "error",
            f"{len(points)} DistributionPoints; exactly one is required (v004)",
        )
    for p in points:
        urls = [g.value for g in p.full_name or () if isinstance(g, x509.UniformResourceIdentifier)]
        if not urls:
            add(
                "crl_distribution_points", "error", "DistributionPoint has no distributionPoint URL"
            )
        elif not all(u.lower().startswith(("http://", "https://")) for u in urls):
            add("crl_distribution_points", "error", "distributionPoint is not an HTTP(S) URL")
        if not p.crl_issuer:
            add(
                "crl_distribution_points",
                "error",
                "DistributionPoint has no cRLIssuer (the STI-PA CRL issuer DN; ATIS-1000080 v004)",
            )


def _lint_key_ids(c: x509.Certificate, role: Role, add: _Add) -> None:
    ski, aki = _ski(c), _aki(c)
    if ski is None:
        add("subject_key_identifier", "error", "subjectKeyIdentifier is missing")
    elif len(ski) != 20:
        add(
            "subject_key_identifier",
            "error",
            f"subjectKeyIdentifier is {len(ski) * 8} bits, not 160 (SHA-1 of the key)",
        )
    else:
        spki = c.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if (
            ski != x509.SubjectKeyIdentifier.from_public_key(c.public_key()).digest
            and ski != hashlib.sha1(spki).digest()
        ):
            add(
                "subject_key_identifier",
                "info",
                "subjectKeyIdentifier is not the SHA-1 of the public key "
                "(RFC 5280 §4.2.1.2 method 1)",
            )
    has_aki = _ext(c, ExtensionOID.AUTHORITY_KEY_IDENTIFIER) is not None
    if role == "root":
        if aki is not None and ski is not None and aki != ski:
            add(
                "authority_key_identifier",
                "error",
                "root AKI keyIdentifier differs from its own SKI",
            )
    elif not has_aki:
        add("authority_key_identifier", "error", "authorityKeyIdentifier is missing")


def _lint_tnauthlist(
    cert: StiCertificate, exts: dict[str, x509.Extension[Any]], ca: bool, add: _Add
) -> None:
    ext = exts.get(TNAUTHLIST_OID.dotted_string)
    if ca:
        if ext is not None:
            add(
                "tnauthlist",
                "error",
                "CA certificate carries a TNAuthList (not allowed since ATIS-1000080 v003)",
            )
        return
    if ext is None or cert.tnauthlist is None:
        add(
            "tnauthlist",
            "error",
            "no TNAuthList extension (RFC 8226 §9; required by ATIS-1000080 §6.4.1)",
        )
        return
    if ext.critical:
        add("tnauthlist", "error", "TNAuthList is critical; it shall be non-critical")
    for q in cert.tnauthlist_quirks:
        add(
            "tnauthlist_encoding",
            "warning",
            f"TNAuthList encoding deviates from RFC 8226: {q} (read leniently)",
        )
    entries = cert.tnauthlist
    if len(entries) != 1:
        add(
            "tnauthlist",
            "error",
            f"TNAuthList has {len(entries)} entries; exactly one SPC is required",
        )
    if any(e.kind != "spc" for e in entries):
        add(
            "tnauthlist",
            "error",
            "TNAuthList holds TNs or TN ranges; only an SPC is allowed (v005)",
        )
    for e in entries:
        if e.kind == "spc" and not _SPC_RE.fullmatch(e.value):
            add(
                "tnauthlist_spc",
                "error",
                f"SPC {e.value!r} is not uppercase letters and digits only (v005)",
            )
