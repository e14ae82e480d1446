"""The STI-PA's CA list: the signed list of approved STI-CA roots a verifier trusts (standards
digest §6.1; docs/trust.md). Pure functions over bytes and a clock, no I/O.

The STI-PA API v1 answers ``GET {base}/ca-list`` with ``{"status": "success", "caList":
"<JWS>"}``. The JWS is compact, its protected header ``{"alg": "ES256", "x5u": "<https URL of
the list signer's certificate chain>"}``, its payload ``{"version": "...", "sequence": <int>,
"exp": <unix time>, "trustList": ["<PEM>", ...]}``.

Two steps, so the one fetch the check needs (the signer's certificate at ``x5u``) happens at the
edge (:mod:`shakenkit.repository.stipa`):

1. :func:`parse_ca_list` reads the API answer or a bare JWS and refuses what can be refused
   before any fetch: not a compact JWS, ``alg`` other than ES256 (``HS256``, ``none`` ...), no
   ``x5u``, a signature that is not 64 bytes.
2. :func:`check_ca_list` takes the signer's chain (fetched from ``x5u``) and the STI-PA root(s)
   and checks, in order: the chain up to the STI-PA root (not to the STI-CA roots the list
   carries), the ES256 signature over the received bytes, the payload, ``exp`` in the future,
   ``sequence`` not lower than the one installed, and a non-empty list of CA certificates (an
   entry that does not parse is skipped and reported; each root gets the profile lint of
   :func:`~shakenkit.certs.certinfo.lint_certificate` as warnings).

Every refusal is a :class:`~shakenkit.errors.CaListError` with a ``kind`` and one line. The
trust directory's state file (:class:`TrustDirState`) is defined here too, so readers
(:class:`~shakenkit.certs.TrustStore`) and the writer (:mod:`shakenkit.repository.trustdir`)
share one format.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509 import verification as xv

from ..errors import CaListError, CertificateError
from .certificate import CertChain, StiCertificate, _utc, parse_certificates, parse_chain
from .certinfo import certificate_role, lint_certificate
from .path import _CA_POLICY, _EE_POLICY, MAX_CHAIN_DEPTH

if TYPE_CHECKING:
    from .trust import TrustStore

__all__ = [
    "MAX_CA_LIST_BYTES",
    "MAX_TRUST_LIST_ENTRIES",
    "STATE_FILE",
    "CaList",
    "RootRecord",
    "SignedCaList",
    "TrustDirState",
    "check_ca_list",
    "load_stipa_roots",
    "parse_ca_list",
    "spki_sha256",
]

#: The largest CA list accepted (the API answer or the bare JWS), bytes.
MAX_CA_LIST_BYTES = 1 << 20
#: The most entries a list may carry.
MAX_TRUST_LIST_ENTRIES = 1000
#: The largest single ``trustList`` entry, bytes.
MAX_ENTRY_BYTES = 65_536
#: The trust directory's state file (sequence, version, exp, fetch time, digest, roots).
STATE_FILE = "state.json"
STATE_FORMAT = "shakenkit-trust-dir/1"
_MAX_SEQUENCE = (1 << 63) - 1
_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ES256 = ec.ECDSA(hashes.SHA256())


def _b64url(segment: str, what: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2)."""
    raw = segment.encode("ascii", "replace")
    if not raw or raw.translate(None, _B64URL) or len(raw) % 4 == 1:
        raise CaListError(f"the CA list's {what} is not base64url", kind="malformed")
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise CaListError(f"the CA list's {what} is not base64url", kind="malformed") from None


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise ValueError("duplicate JSON member name")
    return d


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A UTF-8 JSON object without duplicate member names (RFC 7515 §4: the header's names
    must be unique; the same rule for the payload and the API answer)."""
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_dupes)
    except UnicodeDecodeError:
        raise CaListError(f"the {what} is not UTF-8", kind="malformed") from None
    except RecursionError:
        raise CaListError(f"the {what} is JSON nested too deeply", kind="malformed") from None
    except ValueError as e:
        raise CaListError(
            f"the {what} is not valid JSON ({str(e)[:80]})", kind="malformed"
        ) from None
    if not isinstance(obj, dict):
        raise CaListError(f"the {what} is not a JSON object", kind="malformed")
    return obj


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def iso(t: float) -> str:
    """Unix seconds as ISO 8601 UTC (``2026-01-01T00:00:00Z``)."""
    try:
        return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{t:.0f} (unix)"


@dataclass(frozen=True, slots=True)
class SignedCaList:
    """A CA list as received and not yet trusted: the compact JWS and its decoded protected
    header (``alg`` already known to be ES256). :func:`check_ca_list` makes it a
    :class:`CaList`.

    ``digest`` is ``sha256:<hex>`` of the JWS text: what the trust directory records.
    """

    jws: str = field(repr=False)
    header: Mapping[str, Any]
    x5u: str
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    payload: bytes = field(repr=False)
    digest: str


def parse_ca_list(data: bytes | str, *, max_bytes: int = MAX_CA_LIST_BYTES) -> SignedCaList:
    """Read a CA list: the STI-PA API's JSON answer (``{"status": "success", "caList":
    "<JWS>"}``) or the bare compact JWS, and refuse what can be refused before any fetch.

    Raises :class:`~shakenkit.errors.CaListError`: ``malformed`` (too large, not a compact JWS,
    an answer whose ``status`` is not ``success``, a header that is not a JSON object, no
    ``x5u``, a ``crit`` header, a signature that is not 64 bytes) or ``alg`` (anything but
    ES256: ``HS256``, ``none``, RS256 ...; the header names the algorithm, the verifier does
    not let it choose, RFC 8725 §3.1).
    """
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise CaListError(
            f"the CA list is {len(raw)} bytes, over the {max_bytes}-byte limit", kind="malformed"
        )
    text = raw.strip()
    if text.startswith(b"{"):
        answer = _json_object(text, "CA list answer")
        status = answer.get("status")
        if status is not None and (not isinstance(status, str) or status.lower() != "success"):
            message = answer.get("message")
            said = f": {_short(message, 120)}" if isinstance(message, str) and message else ""
            raise CaListError(
                f"the STI-PA answered status {_short(status)}{said}", kind="malformed"
            )
        jws = answer.get("caList")
        if not isinstance(jws, str) or not jws.strip():
            raise CaListError("the CA list answer has no 'caList' string", kind="malformed")
        jws = jws.strip()
    else:
        try:
            jws = text.decode("ascii")
        except UnicodeDecodeError:
            raise CaListError(
                "the CA list is neither JSON nor a compact JWS", kind="malformed"
            ) from None
    parts = jws.split(".")
    if len(parts) != 3:
        raise CaListError(
            f"the CA list is not a compact JWS (found {len(parts)} dot-separated parts, not 3)",
            kind="malformed",
        )
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(_b64url(header_b64, "protected header"), "CA list's protected header")
    alg = header.get("alg")
    if alg != "ES256":
        shown = "none (unsigned)" if alg == "none" else _short(alg)
        raise CaListError(
            f"the CA list is signed with alg {shown}; only ES256 is accepted", kind="alg"
        )
    if "crit" in header:
        # RFC 7515 §4.1.11: a recipient that does not understand a critical extension must
        # refuse the JWS, and none is defined for the CA list.
        raise CaListError("the CA list's header has a 'crit' extension", kind="malformed")
    x5u = header.get("x5u")
    if not isinstance(x5u, str) or not x5u:
        raise CaListError(
            "the CA list's header has no 'x5u' (the list signer's certificate URL)",
            kind="malformed",
        )
    payload = _b64url(payload_b64, "payload")
    signature = _b64url(signature_b64, "signature")
    if len(signature) != 64:
        # ES256 is R || S, 32 bytes each (RFC 7518 §3.4); a DER signature is not ES256.
        raise CaListError(
            f"the CA list's signature is {len(signature)} bytes, not the 64 of ES256",
            kind="malformed",
        )
    return SignedCaList(
        jws=jws,
        header=dict(header),
        x5u=x5u,
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=signature,
        payload=payload,
        digest="sha256:" + hashlib.sha256(jws.encode("ascii")).hexdigest(),
    )


@dataclass(frozen=True, slots=True)
class CaList:
    """A checked CA list: the STI-CA roots a verifier should trust, exactly.

    ``roots`` are the CA certificates of ``trustList`` (duplicates removed, in list order);
    ``skipped`` says, one sentence each, which entries did not parse; ``warnings`` holds the
    profile lint of each root (ATIS-1000080 §6.4.1; none of it refuses the list). ``signer`` is
    the list signer's certificate (validated to the STI-PA root), ``digest`` as in
    :class:`SignedCaList`.
    """

    version: str | None
    sequence: int
    exp: float
    roots: tuple[StiCertificate, ...]
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]
    signer: StiCertificate
    x5u: str
    digest: str
    jws: str = field(repr=False)

    def trust_store(self) -> TrustStore:
        """A :class:`~shakenkit.certs.TrustStore` of exactly these roots."""
        from .trust import TrustStore

        return TrustStore([r.der for r in self.roots])


def load_stipa_roots(data: bytes) -> list[StiCertificate]:
    """The STI-PA root certificate(s) from PEM or DER (several during a root rollover).
    Raises :class:`~shakenkit.errors.CaListError` (``signer``)."""
    try:
        return parse_certificates(data, max_certs=16, max_bytes=MAX_ENTRY_BYTES)
    except CertificateError as e:
        raise CaListError(f"the STI-PA root is unusable: {e.detail}", kind="signer") from None


def _validate_signer(
    chain: CertChain, roots: Sequence[StiCertificate], now: float
) -> StiCertificate:
    """The list signer's certificate, validated up to one of the STI-PA ``roots`` at ``now``
    (RFC 5280 via ``cryptography``; the profile of the STI-PA's own certificates is not
    published, so no SHAKEN leaf rules)."""
    leaf = chain.leaf
    if not roots:
        raise CaListError("no STI-PA root is configured", kind="signer")
    if any(leaf.der == r.der for r in roots):  # signed with the STI-PA root's own key
        if not leaf.not_before <= now <= leaf.not_after:
            raise CaListError(
                f"the list signer's certificate {leaf.subject} is not valid now", kind="signer"
            )
        return leaf
    anchors = [r.cert for r in roots if r.lenient is None]
    if not anchors:
        raise CaListError("the STI-PA root cannot be used for path validation", kind="signer")
    verifier = (
        xv.PolicyBuilder()
        .store(xv.Store(anchors))
        .time(_utc(now))
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf.cert, [c.cert for c in chain.certs[1:]])
    except xv.VerificationError as e:
        raise CaListError(
            f"the list signer's certificate {leaf.subject} is not under the STI-PA root "
            f"({str(e)[:160]})",
            kind="signer",
        ) from None
    _check_signer_key_usage(leaf)
    return leaf


def _check_signer_key_usage(leaf: StiCertificate) -> None:
    """A list signer whose keyUsage is present must allow digitalSignature (RFC 5280
    §4.2.1.3): the STI-PA's cRLSign-only "STI-PA CRL" certificate, under the same root, must
    not be able to sign a CA list."""
    try:
        ku = leaf.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not ku.digital_signature:
        raise CaListError(
            f"the list signer's certificate {leaf.subject} does not allow digitalSignature "
            "(keyUsage)",
            kind="signer",
        )


def _verify_signature(signed: SignedCaList, signer: StiCertificate) -> None:
    key = signer.key
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise CaListError(
            f"the list signer's key ({signer.subject}) is not ECDSA P-256, so it cannot have "
            "made an ES256 signature",
            kind="signature",
        )
    sig = signed.signature
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, signed.signing_input, _ES256)  # over the received bytes
    except InvalidSignature:
        raise CaListError(
            "the CA list's signature does not verify with the list signer's key "
            "(altered in transit or signed by another key)",
            kind="signature",
        ) from None


def _number(payload: Mapping[str, Any], name: str) -> float:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CaListError(
            f"the CA list's '{name}' is {'missing' if value is None else _short(value)}, "
            "not a number",
            kind="malformed",
        )
    if not math.isfinite(value) or value < 0 or value > _MAX_SEQUENCE:
        raise CaListError(f"the CA list's '{name}' is out of range", kind="malformed")
    return value


def _entry_certificates(entry: object, index: int) -> list[StiCertificate]:
    """The certificate(s) of one ``trustList`` entry: PEM (as the API sends), or base64 DER."""
    if not isinstance(entry, str):
        raise ValueError(f"entry {index} is {type(entry).__name__}, not a PEM string")
    data = entry.encode("utf-8", "replace")
    if len(data) > MAX_ENTRY_BYTES:
        raise ValueError(f"entry {index} is over {MAX_ENTRY_BYTES} bytes")
    if b"-----BEGIN" not in data:
        try:
            data = base64.b64decode(b"".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"entry {index} is neither PEM nor base64 DER") from None
    try:
        return parse_certificates(data, max_certs=4, max_bytes=MAX_ENTRY_BYTES)
    except CertificateError as e:
        raise ValueError(f"entry {index}: {e.detail}") from None


def _root_warnings(root: StiCertificate, now: float) -> list[str]:
    out: list[str] = []
    if certificate_role(root) != "root":
        out.append(
            f"{root.subject}: not self-issued (issuer {root.issuer}); trusted as an anchor "
            "as the list says"
        )
    for finding in lint_certificate(root, at=now):
        if finding.severity in ("error", "warning"):
            out.append(f"{root.subject}: {finding.message}")
    return out


def check_ca_list(
    signed: SignedCaList,
    signer_chain: CertChain | bytes,
    stipa_roots: Iterable[StiCertificate | bytes],
    *,
    now: float,
    installed_sequence: int | None = None,
    max_entries: int = MAX_TRUST_LIST_ENTRIES,
) -> CaList:
    """Check ``signed`` with the list signer's chain (what its ``x5u`` serves, leaf first) and
    the STI-PA root(s), at ``now`` (Unix seconds); ``installed_sequence`` is the sequence of
    the list installed now, if any.

    The checks, each refusal a :class:`~shakenkit.errors.CaListError` of that ``kind``:
    ``signer`` (the chain does not validate to an STI-PA root; the STI-CA roots inside the list
    never count), ``signature`` (ES256 over the received ``header.payload``), ``malformed``
    (payload not a JSON object; ``sequence`` not an integer; ``exp`` not a number;
    ``trustList`` not a list), ``expired`` (``exp`` not after ``now``), ``rollback``
    (``sequence`` lower than ``installed_sequence``; an equal one is no refusal: the caller
    treats it as "nothing changed"), ``empty`` (no entry, or none that parses), ``entry`` (an
    entry is a certificate but not a CA certificate). Entries that do not parse are skipped and
    reported in :attr:`CaList.skipped`.
    """
    roots: list[StiCertificate] = []
    for r in stipa_roots:
        roots.extend([r] if isinstance(r, StiCertificate) else load_stipa_roots(bytes(r)))
    if isinstance(signer_chain, bytes | bytearray):
        try:
            chain = parse_chain(bytes(signer_chain), max_bytes=MAX_ENTRY_BYTES)
        except CertificateError as e:
            raise CaListError(
                f"the list signer's certificate at {signed.x5u} is unusable: {e.detail}",
                kind="x5u",
            ) from None
    else:
        chain = signer_chain
    signer = _validate_signer(chain, roots, now)
    _verify_signature(signed, signer)
    payload = _json_object(signed.payload, "CA list's payload")
    sequence = payload.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int):
        raise CaListError(
            f"the CA list's 'sequence' is "
            f"{'missing' if sequence is None else _short(sequence)}, not an integer",
            kind="malformed",
        )
    if not 0 <= sequence <= _MAX_SEQUENCE:
        raise CaListError("the CA list's 'sequence' is out of range", kind="malformed")
    exp = _number(payload, "exp")
    version = payload.get("version")
    if version is not None and not isinstance(version, str):
        version = json.dumps(version)[:64] if isinstance(version, int | float) else None
    if exp <= now:
        raise CaListError(
            f"the CA list (sequence {sequence}) expired at {iso(exp)}", kind="expired"
        )
    if installed_sequence is not None and sequence < installed_sequence:
        raise CaListError(
            f"the CA list has sequence {sequence}, lower than the {installed_sequence} "
            "installed: an older list is refused (rollback)",
            kind="rollback",
        )
    entries = payload.get("trustList")
    if not isinstance(entries, list):
        raise CaListError(
            "the CA list's 'trustList' is "
            f"{'missing' if entries is None else type(entries).__name__}, not a list",
            kind="malformed",
        )
    if not entries:
        raise CaListError("the CA list is empty (no trustList entry)", kind="empty")
    if len(entries) > max_entries:
        raise CaListError(
            f"the CA list has {len(entries)} entries, over the {max_entries} limit",
            kind="malformed",
        )
    found: list[StiCertificate] = []
    seen: set[str] = set()
    skipped: list[str] = []
    warnings: list[str] = []
    for i, entry in enumerate(entries, 1):
        try:
            certs = _entry_certificates(entry, i)
        except ValueError as e:
            skipped.append(str(e))
            continue
        for cert in certs:
            if not cert.is_ca:
                raise CaListError(
                    f"entry {i} ({cert.subject}) is not a CA certificate (basicConstraints "
                    "cA is not TRUE)",
                    kind="entry",
                )
            if cert.fingerprint in seen:
                warnings.append(f"{cert.subject}: listed more than once")
                continue
            seen.add(cert.fingerprint)
            found.append(cert)
    if not found:
        raise CaListError(
            f"the CA list holds no usable certificate ({len(skipped)} entries skipped: "
            f"{skipped[0] if skipped else ''})",
            kind="empty",
        )
    for root in found:
        warnings.extend(_root_warnings(root, now))
    return CaList(
        version=version,
        sequence=sequence,
        exp=exp,
        roots=tuple(found),
        skipped=tuple(skipped),
        warnings=tuple(warnings),
        signer=signer,
        x5u=signed.x5u,
        digest=signed.digest,
        jws=signed.jws,
    )


def spki_sha256(cert: StiCertificate) -> str:
    """SHA-256 of the certificate's SubjectPublicKeyInfo (DER), hex: what key pins use."""
    spki = cert.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


@dataclass(frozen=True, slots=True)
class RootRecord:
    """One root of an installed list: its file in the trust directory, the SHA-256 of its DER
    (the file's certificate), subject, SPKI digest and validity (Unix seconds)."""

    file: str
    sha256: str
    subject: str
    spki_sha256: str
    not_before: float
    not_after: float

    @classmethod
    def of(cls, cert: StiCertificate) -> RootRecord:
        """The record of ``cert``, filed as ``<sha256 of its DER>.pem``."""
        return cls(
            file=f"{cert.fingerprint}.pem",
            sha256=cert.fingerprint,
            subject=cert.subject,
            spki_sha256=spki_sha256(cert),
            not_before=cert.not_before,
            not_after=cert.not_after,
        )


@dataclass(frozen=True, slots=True)
class TrustDirState:
    """The trust directory's state file (``state.json``): what ``shakenkit trust update``
    installed, when (``fetched``, Unix seconds) and from where (``source``: the API base URL or
    ``file``), with the list's ``sequence``, ``version``, ``exp`` and ``digest``, one
    :class:`RootRecord` per root file, and the signed list itself (``jws``, for audit). A
    verifier loading the directory trusts exactly the files listed here."""

    sequence: int
    version: str | None
    exp: float
    fetched: float
    digest: str
    x5u: str
    signer: str
    source: str
    roots: tuple[RootRecord, ...]
    skipped: tuple[str, ...] = ()
    jws: str = field(default="", repr=False)

    @classmethod
    def of(cls, calist: CaList, *, fetched: float, source: str) -> TrustDirState:
        """The state recording ``calist``."""
        return cls(
            sequence=calist.sequence,
            version=calist.version,
            exp=calist.exp,
            fetched=fetched,
            digest=calist.digest,
            x5u=calist.x5u,
            signer=calist.signer.subject,
            source=source,
            roots=tuple(RootRecord.of(r) for r in calist.roots),
            skipped=calist.skipped,
            jws=calist.jws,
        )

    def to_json(self) -> bytes:
        """The state file's bytes (JSON, sorted keys, one trailing newline)."""
        body = {
            "format": STATE_FORMAT,
            "sequence": self.sequence,
            "version": self.version,
            "exp": self.exp,
            "exp_iso": iso(self.exp),
            "fetched": self.fetched,
            "fetched_iso": iso(self.fetched),
            "digest": self.digest,
            "x5u": self.x5u,
            "signer": self.signer,
            "source": self.source,
            "roots": [
                {
                    "file": r.file,
                    "sha256": r.sha256,
                    "subject": r.subject,
                    "spki_sha256": r.spki_sha256,
                    "not_before": r.not_before,
                    "not_after": r.not_after,
                }
                for r in self.roots
            ],
            "skipped": list(self.skipped),
            "jws": self.jws,
        }
        return (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> TrustDirState:
        """Read a state file. Raises :class:`~shakenkit.errors.CaListError` (``directory``)."""
        try:
            obj = json.loads(data.decode("utf-8"))
            if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
                raise ValueError(f"not a {STATE_FORMAT} state file")
            roots = tuple(
                RootRecord(
                    file=str(r["file"]),
                    sha256=str(r["sha256"]),
                    subject=str(r["subject"]),
                    spki_sha256=str(r["spki_sha256"]),
                    not_before=float(r["not_before"]),
                    not_after=float(r["not_after"]),
                )
                for r in obj["roots"]
            )
            for r in roots:
                # The file names come from this state file: never a path out of the directory.
                if r.file != f"{r.sha256}.pem" or not all(
                    c in "0123456789abcdef" for c in r.sha256
                ):
                    raise ValueError(f"bad root file name {r.file!r}")
            sequence = obj["sequence"]
            if isinstance(sequence, bool) or not isinstance(sequence, int):
                raise ValueError("sequence is not an integer")
            version = obj.get("version")
            return cls(
                sequence=sequence,
                version=None if version is None else str(version),
                exp=float(obj["exp"]),
                fetched=float(obj["fetched"]),
                digest=str(obj["digest"]),
                x5u=str(obj.get("x5u", "")),
                signer=str(obj.get("signer", "")),
                source=str(obj.get("source", "")),
                roots=roots,
                skipped=tuple(str(s) for s in obj.get("skipped", ())),
                jws=str(obj.get("jws", "")),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as e:
            raise CaListError(
                f"the trust directory's {STATE_FILE} is unreadable ({str(e)[:120]})",
                kind="directory",
            ) from None
