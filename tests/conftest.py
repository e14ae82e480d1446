"""Shared fixtures and helpers for the shakenkit test suite.

Every verification in the suite runs at the fixed time :data:`NOW` against test PKIs built with
:func:`shakenkit.testing.make_pki` whose certificates are valid around that time, so the suite
does not depend on the wall clock. Helpers that build PASSporTs by hand (odd headers and claims
the signer in ``shakenkit.testing`` would never produce) live here too; tests import them with
``from tests.conftest import ...``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from shakenkit import Verifier
from shakenkit.certs.certificate import load_certificate
from shakenkit.core.identity import IdentityHeader, format_identity
from shakenkit.core.passport import b64url_encode, sign_passport
from shakenkit.testing import TestPKI, make_pki

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
ORIG = "+1 215-555-1212"  # the calling number as SIP carries it (From / PAI)
DEST = "tel:+1-215-555-1213"  # the called number (To)
ORIG_TN = "12155551212"  # ... and as a PASSporT carries them (RFC 8224 §8.3)
DEST_TN = "12155551213"
ORIGID = "123e4567-e89b-12d3-a456-426655440000"
X5U = "https://cr.example.com/sp/123A.pem"
DATA = Path(__file__).parent / "data"
# The shared corpus sits beside the project (../shared), in the work tree and in CI alike.
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sti-certificates.jsonl"


def utc(year: int, month: int, day: int) -> int:
    """Unix seconds of midnight UTC on the given day."""
    return int(dt.datetime(year, month, day, tzinfo=dt.timezone.utc).timestamp())


# -- PASSporT / Identity builders -------------------------------------------------------------


def jose(x5u: str = X5U, **over: Any) -> dict[str, Any]:
    """A SHAKEN JOSE header (RFC 8588); a keyword set to None removes that member."""
    h: dict[str, Any] = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
    h.update(over)
    return {k: v for k, v in h.items() if v is not None}


def claims(**over: Any) -> dict[str, Any]:
    """SHAKEN claims signed at NOW (RFC 8588 §6); a keyword set to None removes that claim."""
    c: dict[str, Any] = {
        "attest": "A",
        "dest": {"tn": [DEST_TN]},
        "iat": NOW,
        "orig": {"tn": ORIG_TN},
        "origid": ORIGID,
    }
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def sign_raw(key: ec.EllipticCurvePrivateKey, header: bytes, payload: bytes) -> str:
    """ES256-sign arbitrary header/payload BYTES (not necessarily JSON, not canonical)."""
    si = b64url_encode(header) + "." + b64url_encode(payload)
    r, s = decode_dss_signature(key.sign(si.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return si + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def identity(
    token: str,
    info: str = X5U,
    *,
    alg: str | None = "ES256",
    ppt: str | None = "shaken",
    params: Iterable[tuple[str, str | None]] = (),
) -> str:
    """An Identity header value ``token;info=<..>[;alg=..][;ppt=..]``."""
    return format_identity(IdentityHeader(token, info, alg, ppt, tuple(params)))


def signed(
    pki: TestPKI,
    *,
    header: Mapping[str, Any] | None = None,
    payload: Mapping[str, Any] | None = None,
    info: str | None = None,
    alg: str | None = "ES256",
    ppt: str | None = "shaken",
    key: ec.EllipticCurvePrivateKey | None = None,
) -> str:
    """An Identity header whose PASSporT has exactly ``header`` and ``payload`` (defaults: a
    valid SHAKEN PASSporT for ``pki``), signed by ``key`` (default: the PKI's SP key)."""
    h = dict(header) if header is not None else jose(pki.x5u)
    c = dict(payload) if payload is not None else claims()
    token = sign_passport(h, c, key or pki.leaf_key)
    return identity(token, info or pki.x5u, alg=alg, ppt=ppt)


# -- certificates -----------------------------------------------------------------------------


def pem(der: bytes) -> bytes:
    """PEM of one DER certificate."""
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def der_to_pem_lenient(der: bytes) -> bytes:
    """PEM of a DER certificate that `cryptography` may refuse to load."""
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    text = "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    return text.encode()


def tnauthlist_ext(value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26"), value)


def spc_tnauthlist(spc: str) -> bytes:
    """DER TNAuthList with one SPC entry, EXPLICIT [0] IA5String (RFC 8226 §9)."""
    ia5 = b"\x16" + bytes([len(spc)]) + spc.encode()
    entry = b"\xa0" + bytes([len(ia5)]) + ia5
    return b"\x30" + bytes([len(entry)]) + entry


def issue_leaf(
    pki: TestPKI,
    *,
    key: Any = None,
    ca: bool = False,
    tnauthlist: bytes | None = b"default",
    key_usage: Any = "default",
    not_before: float = NOW - 30 * DAY,
    not_after: float = NOW + 300 * DAY,
    policy: bool = True,
    subject_cn: str = "SHAKEN 123A",
) -> tuple[bytes, Any]:
    """Issue an SP certificate under ``pki``'s STI-CA with precise control over the profile.

    Returns (DER, private key). ``key_usage``: "default" (digitalSignature), None (absent) or a
    :class:`x509.KeyUsage`. ``tnauthlist``: default one SPC, None for no extension, or DER.
    """
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    ca_cert = x509.load_der_x509_certificate(pki.ca_der)
    b = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "US"),
                    x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Example Telecom"),
                    x509.NameAttribute(x509.NameOID.COMMON_NAME, subject_cn),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.fromtimestamp(not_before, dt.timezone.utc))
        .not_valid_after(dt.datetime.fromtimestamp(not_after, dt.timezone.utc))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(pki.ca_key.public_key()),
            critical=False,
        )
    )
    if key_usage == "default":
        key_usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
    if key_usage is not None:
        b = b.add_extension(key_usage, critical=True)
    if policy:
        b = b.add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier("2.16.840.1.114569.1.1.3"), None)]
            ),
            critical=False,
        )
    if tnauthlist == b"default":
        tnauthlist = spc_tnauthlist("123A")
    if tnauthlist is not None:
        b = b.add_extension(tnauthlist_ext(tnauthlist), critical=False)
    der = b.sign(pki.ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return der, key


def verifier_for(
    pki: TestPKI, leaf_der: bytes, *, url: str = "https://cr.example.com/custom.pem", **kw: Any
) -> tuple[Verifier, str]:
    """A verifier trusting ``pki``'s root that serves ``leaf_der`` + the STI-CA at ``url``."""
    v = Verifier(trust_anchors=[pki.root_pem], certificates={url: pem(leaf_der) + pki.ca_pem}, **kw)
    return v, url


def corpus_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus_der(row: Mapping[str, Any]) -> bytes:
    body = row["pem"].split("-----")[2]
    return base64.b64decode("".join(body.split()))


def serial_of(der: bytes) -> int:
    return load_certificate(der).cert.serial_number


# -- fixtures ---------------------------------------------------------------------------------


def _pki(**kw: Any) -> TestPKI:
    kw.setdefault("not_before", NOW - 30 * DAY)
    kw.setdefault("not_after", NOW + 335 * DAY)
    return make_pki(**kw)


@pytest.fixture(scope="session")
def pki() -> TestPKI:
    """The test STI PKI: root (trust anchor) -> STI-CA -> SP certificate for SPC 123A."""
    return _pki()


@pytest.fixture(scope="session")
def rogue_pki() -> TestPKI:
    """Another PKI with the SAME subject names as :func:`pki` but other keys (a forger)."""
    return _pki(x5u="https://cr.rogue.example/sp/123A.pem")


@pytest.fixture(scope="session")
def lenient_pki() -> TestPKI:
    """A PKI whose root and STI-CA carry T-Mobile's NULL signature-algorithm parameter."""
    return _pki(spc="456B", x5u="https://cr.example.net/sp/456B.pem", null_sigalg_ca=True)


@pytest.fixture(scope="session")
def expired_pki() -> TestPKI:
    """A PKI whose SP certificate expired a day before NOW."""
    return _pki(
        spc="777E",
        x5u="https://cr.example.com/sp/expired.pem",
        not_before=NOW - 400 * DAY,
        not_after=NOW - DAY,
    )


@pytest.fixture
def verifier(pki: TestPKI) -> Verifier:
    """A fresh verifier trusting :func:`pki`'s root and serving its chain at its x5u."""
    return pki.verifier()


@pytest.fixture
def good_header(pki: TestPKI) -> str:
    """A valid A-attested SHAKEN Identity header from ORIG to DEST signed at NOW."""
    return pki.sign(orig=ORIG, dest=DEST, attest="A", origid=ORIGID, iat=NOW)
