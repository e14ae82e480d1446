"""Local verification choices: :class:`Policy` (the knobs RFC 8224 and ATIS-1000074 leave to the
verifier)."""

from __future__ import annotations

from dataclasses import dataclass

from ..certs.revocation import DEFAULT_CRL_GRACE
from .div import DEFAULT_MAX_DIV_DEPTH
from .identity import DEFAULT_MAX_HEADER_BYTES
from .passport import DEFAULT_MAX_PASSPORT_BYTES
from .rcd import MAX_RCD_FETCHES

__all__ = ["Policy"]


@dataclass(frozen=True)
class Policy:
    """Local verification choices (the knobs RFC 8224 and ATIS-1000074 leave to the verifier).

    * ``max_age`` — how old ``iat`` may be, in seconds (60, RFC 8224 §6.2 step 4, ATIS-1000074).
    * ``future_tolerance`` — how far ``iat`` may lie ahead of the verification time (clock skew
      of the signer); default 60 s, i.e. ``|now - iat| <= 60`` (standards digest §5.3 step 6).
    * ``require_identity`` — a call without a usable Identity header gets 428 instead of
      plain No-TN-Validation (RFC 8224 §6.2 step 1).
    * ``verified_attest`` — attestation levels that make ``caller_id`` "verified" (A).
    * ``strict_certificate_policy`` — fail (437) on a leaf without keyUsage or without a SHAKEN
      CP OID; by default these are warnings (many live certificates, standards digest §10.17).
    * ``strict_certificate_profile`` — the letter of ATIS-1000080 v004 for CA signatures: fail
      (437) a chain with a sha256WithRSAEncryption CA signature. By default such a signature
      (RSA >= 2048 bits, PKCS#1 v1.5; a real STI-CA issued SP certificates so) is accepted,
      noted on the ``certificate_chain`` check and in the warnings (docs/security.md).
    * ``crl_hard_fail`` — fail (437, caller_id "unverified") when revocation cannot be
      established: the leaf, and each certificate on the path that names a CRL distribution
      point, needs an authenticated, covering, current CRL (docs/security.md "Revocation"); by
      default soft-fail: a failed ``crl`` check and a warning in the verdict.
    * ``crl_grace`` — seconds a CRL still counts past its nextUpdate, and may be dated ahead
      of the verification time (clock skew, publication lag); 300.
    * ``fetch_crls`` — fetch the CRLs named by the path's CRL distribution points when the
      source can (the HTTPS source can); configured ``crls=`` are always checked.
    * ``detect_replay`` — remember valid PASSporTs for their freshness window (bounded by
      ``replay_cache_size``) and flag a repeat: a failed ``replay`` check and a warning
      (RFC 8224 §12.1); with ``replay_fails`` a repeat fails with 403 instead.
    * ``max_header_bytes`` / ``max_passport_bytes`` — input size limits.
    * ``max_div_depth`` — the longest chain of ``div`` PASSporTs followed (RFC 8946; 5
      retargetings by default); a longer one fails with 438 ``div_chain`` (docs/verdicts.md).
    * ``fetch_rcd`` — fetch the ``icn``/``jcl`` content that ``rcdi`` digests name (RFC 9795)
      over HTTPS with the ``x5u`` fetcher's URL policy, limits and cache; off by default
      (digests over fetched content are then reported unchecked); ``max_rcd_fetches`` caps
      the fetches per PASSporT. Content given with ``Verifier(rcd_content=...)`` is always
      used.
    """

    max_age: int = 60
    future_tolerance: int = 60
    require_identity: bool = False
    verified_attest: frozenset[str] = frozenset({"A"})
    strict_certificate_policy: bool = False
    strict_certificate_profile: bool = False
    crl_hard_fail: bool = False
    crl_grace: float = DEFAULT_CRL_GRACE
    fetch_crls: bool = True
    detect_replay: bool = False
    replay_fails: bool = False
    replay_cache_size: int = 100_000
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_passport_bytes: int = DEFAULT_MAX_PASSPORT_BYTES
    max_div_depth: int = DEFAULT_MAX_DIV_DEPTH
    fetch_rcd: bool = False
    max_rcd_fetches: int = MAX_RCD_FETCHES
