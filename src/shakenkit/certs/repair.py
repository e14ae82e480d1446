"""Certificates with the NULL signature-parameter quirk, handed to the RFC 5280 verifier.

T-Mobile's production STI root and sub-CA (corpus README) carry a NULL parameter in their
ecdsa-with-SHA256 AlgorithmIdentifier, forbidden by RFC 5758 §3.2 and refused by
`cryptography` >= 50. They carry it in the outer ``signatureAlgorithm`` AND in the TBS's own
``signature`` field, so the encoding `cryptography` can read (:func:`der.repair_null_sigalg`)
has a different TBS, and the issuer's signature no longer matches it.

Path validation never leaves `cryptography`'s RFC 5280 verifier for that (pathLenConstraint,
basicConstraints, keyUsage, name constraints, validity, depth: every rule, always). Only the
signatures over such changed TBS bytes are checked here instead, and the verifier is handed
stand-ins that let it check everything else:

* A quirk **trust anchor** is used in its repaired encoding: an anchor's own signature is not
  part of RFC 5280 path validation (§6.1: a trust anchor is a name and a key).
* A quirk certificate **X** in the bundle: its original signature is verified here, over the
  ORIGINAL TBS, with the key of each candidate issuer **P** (same name as X's issuer). Then
  P gets a stand-in: the same certificate (names, validity, extensions as issued) with a fresh
  one-off key K_P, itself standing in for P up the path (a stand-in anchor next to the real
  one when P is an anchor, else re-signed by the stand-in key of P's verified issuer). X is
  handed over in its repaired encoding signed by K_P, with its own key unchanged, so whatever
  X signed verifies as before.

A stand-in key signs only links whose original signature was verified here with the real
issuer key, and is thrown away after the validation, so a stand-in certifies nothing the real
hierarchy did not. Whatever a bundle holds, the verifier's rules are the same; a certificate an
attacker adds can at most add candidates that fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import der as _der
from .certificate import _HASHES, _RSA_SHA256, CertChain, StiCertificate
from .trust import Anchors

__all__ = ["VerifierInputs", "issuer_signed", "verifier_inputs"]

# How far up a stand-in may reach: the verifier's own depth limit plus the anchor.
_MAX_STAND_IN_DEPTH = 6


def issuer_signed(child: StiCertificate, issuer: StiCertificate) -> bool:
    """Does ``issuer``'s key verify ``child``'s signature over its ORIGINAL TBS bytes?
    (ECDSA with SHA-256/384/512, or RSA PKCS#1 v1.5 with SHA-256.)"""
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


def _needs_resigning(c: StiCertificate) -> bool:
    """The repaired encoding of ``c`` has another TBS than the one its issuer signed."""
    return c.lenient is not None and c.lenient.tbs_changed


@dataclass(frozen=True, slots=True)
class VerifierInputs:
    """What to hand `cryptography`'s verifier for one chain.

    ``leaves``: encodings of the leaf to try, in order (one unless the leaf itself carries the
    quirk and has several verified issuers). ``intermediates``: the untrusted certificates.
    ``extra_anchors``: stand-in anchors to trust next to the real ones for this validation.
    ``originals``: the certificate each stand-in stands for (to report the real path)."""

    leaves: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    extra_anchors: tuple[x509.Certificate, ...] = ()
    originals: dict[x509.Certificate, StiCertificate] = field(default_factory=dict)


def verifier_inputs(chain: CertChain, anchors: Anchors) -> VerifierInputs:
    """The verifier's inputs for ``chain``: the parsed encodings, with stand-ins (module
    docstring) for bundle certificates whose repaired TBS their issuer did not sign."""
    quirks = [c for c in chain.certs if _needs_resigning(c)]
    plain = tuple(c.cert for c in chain.certs[1:] if not _needs_resigning(c))
    if not quirks:
        return VerifierInputs((chain.leaf.cert,), plain)
    return _StandIns(chain, anchors).build(quirks, plain)


class _StandIns:
    """Builds the stand-ins for one validation (module docstring); bounded by the bundle size
    (<= 10 certificates) times the anchors of one name."""

    def __init__(self, chain: CertChain, anchors: Anchors) -> None:
        self.chain = chain
        self.anchor_fps = {a.fingerprint for a in anchors.certs}
        self.by_subject: dict[str, list[StiCertificate]] = {}
        seen: set[str] = set()
        for c in (*anchors.certs, *chain.certs):  # anchors first: the shortest paths
            if c.fingerprint not in seen:
                seen.add(c.fingerprint)
                self.by_subject.setdefault(c.subject, []).append(c)
        self.keys: dict[bytes, ec.EllipticCurvePrivateKey] = {}  # real SPKI -> stand-in key
        self.ready: dict[str, bool] = {}  # fingerprint -> has a usable stand-in
        self.signed: dict[tuple[str, str], bool] = {}
        self.intermediates: list[x509.Certificate] = []
        self.anchors: list[x509.Certificate] = []
        self.originals: dict[x509.Certificate, StiCertificate] = {}

    def build(
        self, quirks: Sequence[StiCertificate], plain: tuple[x509.Certificate, ...]
    ) -> VerifierInputs:
        leaves: tuple[x509.Certificate, ...] = (self.chain.leaf.cert,)
        for x in quirks:
            if x.fingerprint in self.anchor_fps:
                continue  # the trusted copy of it is used (an anchor's signature is not checked)
            versions = self._resigned(x)
            if x is self.chain.leaf:
                leaves = tuple(versions) or leaves
            else:
                self.intermediates.extend(versions)
        return VerifierInputs(
            leaves, (*plain, *self.intermediates), tuple(self.anchors), self.originals
        )

    def _issuers(self, c: StiCertificate) -> list[StiCertificate]:
        """The certificates named as ``c``'s issuer whose key verifies ``c``'s ORIGINAL
        signature (checked here, once per pair)."""
        out = []
        for p in self.by_subject.get(c.issuer, ()):
            if p.fingerprint == c.fingerprint:
                continue  # self-signed: trusted only as an anchor, never through itself
            pair = (c.fingerprint, p.fingerprint)
            ok = self.signed.get(pair)
            if ok is None:
                ok = self.signed[pair] = issuer_signed(c, p)
            if ok:
                out.append(p)
        return out

    def _key_of(self, c: StiCertificate) -> ec.EllipticCurvePrivateKey:
        spki = c.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        key = self.keys.get(spki)
        if key is None:
            key = self.keys[spki] = ec.generate_private_key(ec.SECP256R1())
        return key

    def _resigned(self, x: StiCertificate) -> list[x509.Certificate]:
        """``x`` repaired, with its own key, signed by the stand-in key of each verified issuer
        that has a stand-in."""
        out: list[x509.Certificate] = []
        used: set[int] = set()
        for p in self._issuers(x):
            if not self._stand_in(p, 1):
                continue
            key = self._key_of(p)
            if id(key) in used:
                continue  # same issuer key (a re-issued CA): one version is enough
            used.add(id(key))
            out.append(self._emit(x, key, spki=None))
        return out

    def _stand_in(self, p: StiCertificate, depth: int) -> bool:
        """Give ``p`` a stand-in (fresh key, same certificate) that chains like ``p`` does;
        False when ``p`` leads to no anchor through verified signatures."""
        done = self.ready.get(p.fingerprint)
        if done is not None:
            return done
        self.ready[p.fingerprint] = False  # a cycle through p adds nothing
        key = self._key_of(p)
        spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if p.fingerprint in self.anchor_fps:
            self.anchors.append(self._emit(p, key, spki=spki))
            self.ready[p.fingerprint] = True
            return True
        if depth >= _MAX_STAND_IN_DEPTH:
            return False
        ok = False
        for q in self._issuers(p):
            if self._stand_in(q, depth + 1):
                self.intermediates.append(self._emit(p, self._key_of(q), spki=spki))
                ok = True
        self.ready[p.fingerprint] = ok
        return ok

    def _emit(
        self, c: StiCertificate, signer: ec.EllipticCurvePrivateKey, *, spki: bytes | None
    ) -> x509.Certificate:
        sign: Callable[[bytes], bytes] = lambda tbs: signer.sign(tbs, ec.ECDSA(hashes.SHA256()))  # noqa: E731
        cert = x509.load_der_x509_certificate(
            _der.resign_certificate(c.der, spki=spki, signature=sign)
        )
        self.originals[cert] = c
        return cert
