"""The verdict: what a call-screening hook acts on (ATIS-1000074 §5.3.2, 3GPP TS 24.229
``verstat``, RFC 8224 §6.2.2 codes, RFC 3326 / RFC 9410 Reason header; standards digest §5.4-§5.5,
§9).

``caller_id`` meaning (documented in docs/verdicts.md):

* ``verified`` — signature, chain, freshness and numbers all passed and ``attest`` is A.
* ``unverified`` — no Identity header; attest B or C (or none); or verification could not finish
  for a reason that is not evidence of forgery (certificate repository unreachable).
* ``likely_spoofed`` — an Identity header is present and provably wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import REASON_PHRASES

if TYPE_CHECKING:
    from ..certs.certificate import StiCertificate

__all__ = ["Check", "Signer", "Verdict", "VerdictError"]

Verstat = Literal["TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation"]
CallerId = Literal["verified", "unverified", "likely_spoofed"]


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step that ran: its ``name``, whether it passed, and what it saw."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VerdictError:
    """Why verification failed, with the code to send upstream.

    ``reason_sip`` and ``reason_stir`` are ready ``Reason`` header values (RFC 3326 and the STIR
    protocol value of RFC 9410): ``SIP ;cause=438 ;text="Invalid Identity Header"``.
    """

    sip_code: int
    reason: str
    check: str
    detail: str
    reason_sip: str
    reason_stir: str

    @classmethod
    def of(cls, sip_code: int, check: str, detail: str) -> VerdictError:
        """Build the error for ``sip_code`` with its reason phrase and Reason header values."""
        reason = REASON_PHRASES.get(sip_code, "")
        return cls(
            sip_code,
            reason,
            check,
            detail,
            f'SIP ;cause={sip_code} ;text="{reason}"',
            f'STIR ;cause={sip_code} ;text="{reason}"',
        )


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signed: the certificate behind ``x5u`` (traceback data)."""

    x5u: str
    spc: str | None
    subject: str
    issuer: str
    not_after: int
    organization: str | None = None

    @classmethod
    def of(cls, x5u: str, leaf: StiCertificate) -> Signer:
        """The signer named by ``x5u`` whose certificate is ``leaf``."""
        return cls(x5u, leaf.spc, leaf.subject, leaf.issuer, int(leaf.not_after), leaf.organization)


class Verdict(BaseModel):
    """The outcome of verifying one Identity header (or of a call without one).

    Frozen and JSON-serializable (``verdict.model_dump_json()``). ``checks`` lists every step
    that ran, in order. ``warnings`` lists tolerated deviations (lenient certificate parse,
    ``dest.tn`` as a string, ``info`` without brackets ...).
    """

    model_config = ConfigDict(frozen=True)

    verstat: Verstat
    attest: Literal["A", "B", "C"] | None = None
    caller_id: CallerId
    likely_spoofed: bool
    error: VerdictError | None = None
    origid: str | None = None
    orig_tn: str | None = None
    dest_tns: list[str] = []
    iat: int | None = None
    ppt: str | None = None
    signer: Signer | None = None
    checks: list[Check] = []
    warnings: list[str] = []

    @property
    def passed(self) -> bool:
        """True when ``verstat`` is TN-Validation-Passed."""
        return self.verstat == "TN-Validation-Passed"

    @classmethod
    def failed(cls, sip_code: int, check: str, detail: str, *, spoofed: bool = True) -> Verdict:
        """A TN-Validation-Failed verdict for input that failed before any PASSporT was read
        (a malformed header value or SIP message): one failed check, the error and its code."""
        return cls._build(
            verstat="TN-Validation-Failed",
            attest=None,
            caller_id="likely_spoofed" if spoofed else "unverified",
            likely_spoofed=spoofed,
            error=VerdictError.of(sip_code, check, detail),
            origid=None,
            orig_tn=None,
            dest_tns=[],
            iat=None,
            ppt=None,
            signer=None,
            checks=[Check(check, False, detail)],
            warnings=[],
        )

    @classmethod
    def _build(cls, **values: Any) -> Verdict:
        """Construct from values the verifier itself built, skipping validation (hot path:
        ``model_construct`` costs ~6 us; this sets the same instance slots directly)."""
        m = cls.__new__(cls)
        _set(m, "__dict__", values)
        _set(m, "__pydantic_fields_set__", set(_ALL_FIELDS))
        _set(m, "__pydantic_extra__", None)
        _set(m, "__pydantic_private__", None)
        return m


_set = object.__setattr__
_ALL_FIELDS = frozenset(Verdict.model_fields)
