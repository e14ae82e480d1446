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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import REASON_PHRASES

if TYPE_CHECKING:
    from ..certs.certificate import StiCertificate

__all__ = [
    "Check",
    "DivLink",
    "HeaderResult",
    "RcdDigest",
    "RichCallData",
    "Signer",
    "Verdict",
    "VerdictError",
]

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


DivLinkResult = Literal["valid", "failed", "unlinked", "loop", "beyond_depth"]
RcdIntegrity = Literal["verified", "incomplete", "failed", "absent"]


@dataclass(frozen=True, slots=True)
class DivLink:
    """One ``div`` PASSporT of a retargeted call (RFC 8946 §3): the carrier that retargeted
    the call (``signer``), the number it was diverted from (``div_tn``) and the new target
    (``dest_tns``), and how the link fared (docs/verdicts.md, "Diverted calls").

    ``result``: ``valid`` (verified and chained), ``failed`` (its own verification or its
    ``orig`` failed: ``error`` says why), ``unlinked`` (continues no number of the chain),
    ``loop`` (leads back to a number already in the chain), ``beyond_depth`` (past
    ``Policy.max_div_depth``). ``position`` is 1 for the link that continues the SHAKEN
    PASSporT, 2 for the next ... (None when not in the chain); ``header`` the index of its
    Identity header (None for an ``opt``-embedded one).
    """

    header: int | None
    position: int | None
    ppt: str
    div_tn: str | None
    dest_tns: list[str]
    orig_tn: str | None
    iat: int | None
    signer: Signer | None
    result: DivLinkResult
    error: VerdictError | None = None


@dataclass(frozen=True, slots=True)
class RcdDigest:
    """One ``rcdi`` entry (RFC 9795): the JSON pointer into ``rcd``, whether its digest
    matched (None: the content could not be checked) and what was seen."""

    pointer: str
    ok: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class RichCallData:
    """Rich Call Data of the call (RFC 9795 ``rcd``/``rcdi``/``crn``; ATIS-1000094 carries
    them in the SHAKEN PASSporT). Never changes the SHAKEN outcome.

    ``display_name`` is ``nam`` when the PASSporT that signed it verified and rcd integrity
    did not fail (what a handset may show); ``nam`` is the value as signed either way.
    ``integrity``: ``verified`` (every ``rcdi`` digest matched and every URL is covered),
    ``incomplete`` (no mismatch, but some content could not be checked: fetching off,
    refused or failed, or a URL without a digest), ``failed`` (a digest mismatch or a
    malformed ``rcd``/``rcdi``), ``absent`` (no ``rcdi``). ``source`` is the ``ppt`` of
    the PASSporT that carried it.
    """

    source: str | None
    nam: str | None
    display_name: str | None
    apn: str | None = None
    icn: str | None = None
    jcl: str | None = None
    jcd: Any = None
    crn: str | None = None
    integrity: RcdIntegrity = "absent"
    digests: list[RcdDigest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HeaderResult:
    """How one Identity header of a call fared on its own (RFC 8224 §6.2 step 1): the call's
    :class:`Verdict` lists one per header in ``headers``.

    ``index`` is the header's position among the request's Identity header values (0 for
    the first; None for the original PASSporT a ``div-o`` carried in ``opt``, RFC 8946 §5).
    ``error`` says why it failed, ``signer`` whose certificate signed it (when it was had).
    The full checks of the header that decided the call are the call verdict's own."""

    index: int | None
    ppt: str | None
    verstat: Verstat
    caller_id: CallerId
    attest: Literal["A", "B", "C"] | None = None
    error: VerdictError | None = None
    signer: Signer | None = None

    @property
    def passed(self) -> bool:
        """True when this header alone is TN-Validation-Passed."""
        return self.verstat == "TN-Validation-Passed"

    @property
    def failed(self) -> bool:
        """True when this header alone is TN-Validation-Failed."""
        return self.verstat == "TN-Validation-Failed"

    @classmethod
    def of(cls, index: int | None, verdict: Verdict) -> HeaderResult:
        """The summary of ``verdict``, the outcome of the header at ``index``."""
        if cls is not HeaderResult:
            return cls(
                index,
                verdict.ppt,
                verdict.verstat,
                verdict.caller_id,
                verdict.attest,
                verdict.error,
                verdict.signer,
            )
        # Hot path (one per header of every call): the slots set directly, without the frozen
        # dataclass's object.__setattr__ per field (~0.5 us); values the verifier made.
        d = verdict.__dict__
        r = _new(HeaderResult)
        _hr_index(r, index)
        _hr_ppt(r, d["ppt"])
        _hr_verstat(r, d["verstat"])
        _hr_caller_id(r, d["caller_id"])
        _hr_attest(r, d["attest"])
        _hr_error(r, d["error"])
        _hr_signer(r, d["signer"])
        return r


_new = object.__new__
(_hr_index, _hr_ppt, _hr_verstat, _hr_caller_id, _hr_attest, _hr_error, _hr_signer) = (
    HeaderResult.__dict__[name].__set__
    for name in ("index", "ppt", "verstat", "caller_id", "attest", "error", "signer")
)


class Verdict(BaseModel):
    """The outcome of verifying a call's Identity header(s) (or of a call without one).

    Frozen and JSON-serializable (``verdict.model_dump_json()``). ``checks`` lists every step
    that ran, in order, for the header that decided the call. ``warnings`` lists tolerated
    deviations (lenient certificate parse, ``dest.tn`` as a string, ``info`` without
    brackets ...). ``headers`` summarizes each Identity header the call carried
    (:class:`HeaderResult`, in order; empty when it carried none or the request could not be
    read).
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
    diversion: list[DivLink] = []
    rcd: RichCallData | None = None
    headers: list[HeaderResult] = []

    @property
    def diverted(self) -> bool:
        """True when the call reached its destination through a verified ``div`` chain
        (RFC 8946): at least one link is ``valid``."""
        return any(link.result == "valid" for link in self.diversion)

    @property
    def passed(self) -> bool:
        """True when ``verstat`` is TN-Validation-Passed: the signature, the chain, freshness
        and both numbers were checked and held (RFC 8224 §6.2)."""
        return self.verstat == "TN-Validation-Passed"

    @property
    def failed(self) -> bool:
        """True when ``verstat`` is TN-Validation-Failed: a supported Identity header was
        present and verification failed (``error`` says why, with the SIP code: 403, 436, 437
        or 438; standards digest §5.4).

        ``passed`` and ``failed`` are never both True; both are False for No-TN-Validation
        (no Identity header, only unsupported ``ppt``, or the numbers were not compared).
        ``failed`` alone does not mean spoofed: a 436 (certificate unreachable) is Failed with
        ``caller_id`` "unverified"; ``likely_spoofed`` is the evidence flag."""
        return self.verstat == "TN-Validation-Failed"

    @property
    def signature_verified(self) -> bool:
        """True when the PASSporT's signature verified with a certificate that chains to a
        trust anchor (the ``signature`` check passed), whatever came after: a No-TN-Validation
        verdict for a call whose numbers were not given says here that the signature held
        (docs/verdicts.md, "Numbers not given")."""
        return any(c.name == "signature" and c.ok for c in self.checks)

    @classmethod
    def failure(
        cls, sip_code: int, check: str, detail: str, *, spoofed: bool = True
    ) -> Verdict:
        """Build a TN-Validation-Failed verdict for input that failed before any PASSporT was
        read (a malformed header value or SIP message): one failed check, the error and its
        code. ``spoofed`` sets ``likely_spoofed`` and ``caller_id``."""
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
        if len(values) != _N_FIELDS:  # fields the caller left out take their defaults
            values.setdefault("diversion", [])
            values.setdefault("rcd", None)
            values.setdefault("headers", [])
        _set(m, "__dict__", values)
        _set(m, "__pydantic_fields_set__", set(_ALL_FIELDS))
        _set(m, "__pydantic_extra__", None)
        _set(m, "__pydantic_private__", None)
        return m


    def _with_headers(self, headers: list[HeaderResult]) -> Verdict:
        """This verdict with ``headers`` set. In place: only for a verdict the verifier has
        just built for this call and not handed out yet (every one it builds is new; hot path,
        a copy costs ~2 us)."""
        self.__dict__["headers"] = headers
        return self


_set = object.__setattr__
_ALL_FIELDS = frozenset(Verdict.model_fields)
_N_FIELDS = len(_ALL_FIELDS)
