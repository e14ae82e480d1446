"""Local verification choices: :class:`Policy` (the knobs RFC 8224 and ATIS-1000074 leave to the
verifier)."""

from __future__ import annotations

import math
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
    * Bounded work per call (docs/security.md): ``max_identity_headers`` — Identity headers
      examined per call (16: a SHAKEN PASSporT, a ``div`` chain and ``rcd`` fit; the rest are
      reported on the verdict, never parsed further or fetched); ``max_x5u_per_call`` /
      ``max_crl_urls_per_call`` — distinct certificate / CRL URLs asked for per call (8 each;
      beyond them a header's chain is 436 unverified, a CRL unavailable); ``call_deadline`` —
      seconds for all of one call's I/O together (5: every fetch is cut to what is left).
    * ``signature_memo_bytes`` — bytes of signatures remembered as verified, keyed by their
      content and the chain (forked or retransmitted INVITEs, multi-point captures skip the
      elliptic-curve math; :mod:`shakenkit.core.sigmemo`); 0 turns it off. 2 MiB.
    * ``max_div_depth`` — the longest chain of ``div`` PASSporTs followed (RFC 8946; 5
      retargetings by default); a longer one fails with 438 ``div_chain`` (docs/verdicts.md).
    * ``fetch_rcd`` — fetch the ``icn``/``jcl`` content that ``rcdi`` digests name (RFC 9795)
      over HTTPS with the ``x5u`` fetcher's URL policy, limits and cache; off by default
      (digests over fetched content are then reported unchecked); ``max_rcd_fetches`` caps
      the fetches per PASSporT. Content given with ``Verifier(rcd_content=...)`` is always
      used.

    Every value is checked at construction: seconds finite and >= 0, counts integers (not
    bools) at least 1 (0 for ``max_div_depth`` and ``max_rcd_fetches``), switches bools,
    ``verified_attest`` a subset of A/B/C; anything else is a ValueError naming the field.
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
    max_identity_headers: int = 16
    max_x5u_per_call: int = 8
    max_crl_urls_per_call: int = 8
    call_deadline: float = 5.0
    signature_memo_bytes: int = 2 * 1024 * 1024

    def __post_init__(self) -> None:
        """Refuse what would silently change the rules: NaN or infinite seconds (NaN passes
        every freshness comparison), negative numbers, a bool or a string where a number
        belongs, a truthy string as a switch, attestation levels beyond A/B/C (RFC 8588 §4).
        A ValueError names the field."""
        for name in _SECONDS:
            v = getattr(self, name)
            if not _real(v) or not math.isfinite(v) or v < 0:
                raise ValueError(
                    f"Policy.{name} must be a finite number of seconds >= 0, not {v!r}"
                )
        for name, least in _COUNTS.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < least:
                raise ValueError(f"Policy.{name} must be an integer >= {least}, not {v!r}")
        for name in _SWITCHES:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"Policy.{name} must be True or False, not {getattr(self, name)!r}"
                )
        levels = self.verified_attest
        if (
            not isinstance(levels, frozenset | set | list | tuple)
            or not all(isinstance(a, str) for a in levels)
            or not set(levels) <= _ATTEST
        ):
            raise ValueError(
                f"Policy.verified_attest must be a set of attestation levels among A, B, C, "
                f"not {levels!r}"
            )
        object.__setattr__(self, "verified_attest", frozenset(levels))


_SECONDS = ("max_age", "future_tolerance", "call_deadline")

# The least value of each count (a zero byte limit or cache would refuse or forget everything).
_COUNTS = {
    "replay_cache_size": 1,
    "max_header_bytes": 1,
    "max_passport_bytes": 1,
    "max_div_depth": 0,
    "max_rcd_fetches": 0,
    "max_identity_headers": 1,
    "max_x5u_per_call": 1,
    "max_crl_urls_per_call": 0,
    "signature_memo_bytes": 0,
}

_SWITCHES = (
    "require_identity",
    "strict_certificate_policy",
    "strict_certificate_profile",
    "crl_hard_fail",
    "fetch_crls",
    "detect_replay",
    "replay_fails",
    "fetch_rcd",
)

_ATTEST = frozenset({"A", "B", "C"})


def _real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
