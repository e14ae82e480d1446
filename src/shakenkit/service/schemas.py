"""The ATIS-1000082 request and response shapes of the verification service, as pure functions.

ATIS-1000082 (SHAKEN: RESTful API for STI-AS and STI-VS) is the interface SBCs and proxies use:

* ``POST /stir/v1/verification`` with
  ``{"verificationRequest": {"from": {"tn": "12155551212"}, "to": {"tn": ["12155551213"]},
  "time": 1767225600, "identity": "<Identity header value>"}}``, answered
  ``{"verificationResponse": {"verstat": "TN-Validation-Failed", "reasoncode": 438,
  "reasontext": "Invalid Identity Header"}}`` (``reasoncode``/``reasontext`` only when the
  verdict carries an error: the RFC 8224 / ATIS-1000074 code and phrase).
* ``POST /stir/v1/signing`` with ``{"signingRequest": {"attest": "A", "dest": {"tn": [...]},
  "iat": ..., "orig": {"tn": "..."}, "origid": "<uuid>"}}``, answered
  ``{"signingResponse": {"identity": "<Identity header value>"}}``.
* A request the service cannot accept is answered with an HTTP 4xx and
  ``{"requestError": {"serviceException": {"messageId": "SVC4006", "text": ..., "variables":
  [...]}}}`` (``policyException`` with ``POL`` ids for policy refusals), the exception shape of
  the ATIS-1000082 API.

Liberal in what is accepted (``from.tn`` as a string or a one-element list, ``to.tn`` as a list
or a string, numbers as JSON numbers, ``time`` as a number or a numeric string, ``identity`` as
one value, a comma-separated list or a JSON list of the SIP Identity header values), strict in
what is sent. Extensions: ``"sip": "<a raw SIP INVITE>"`` instead of the numbers and identity;
``?detail=1`` adds the full shakenkit verdict under ``"verdict"``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from ..core.verdict import Verdict

__all__ = [
    "ApiError",
    "SigningCall",
    "VerificationCall",
    "parse_signing_request",
    "parse_verification_request",
    "signing_response",
    "time_value",
    "verification_response",
]

# Largest string accepted for one telephone number, and for one Identity header value list.
MAX_TN_CHARS = 64
MAX_TNS = 32


@dataclass(frozen=True)
class ApiError(Exception):
    """An ATIS-1000082 service or policy exception: HTTP ``status`` and the JSON body."""

    status: int
    message_id: str
    text: str
    variables: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        """``{"requestError": {"serviceException"|"policyException": {...}}}``."""
        kind = "policyException" if self.message_id.startswith("POL") else "serviceException"
        return {
            "requestError": {
                kind: {
                    "messageId": self.message_id,
                    "text": self.text,
                    "variables": list(self.variables),
                }
            }
        }


# The exception catalogue of the ATIS-1000082 API (the ids and texts SBC integrations match on).
def missing_body() -> ApiError:
    return ApiError(400, "SVC4000", "Missing request body")


def missing_parameter(name: str) -> ApiError:
    return ApiError(400, "SVC4001", "Missing mandatory parameter '%1'", (name,))


def not_found(path: str) -> ApiError:
    return ApiError(404, "SVC4003", "Requested resource was not found", (path[:200],))


def unsupported_body_type(expected: str) -> ApiError:
    return ApiError(415, "SVC4004", "Unsupported request body type, expected '%1'", (expected,))


def invalid_parameter(name: str, why: str) -> ApiError:
    return ApiError(400, "SVC4005", "Invalid '%1' parameter value: %2", (name, why))


def unparsable_body(why: str, status: int = 400) -> ApiError:
    return ApiError(status, "SVC4006", "Failed to parse received message body: %1", (why,))


def method_not_allowed(method: str) -> ApiError:
    return ApiError(405, "POL4050", "Method not allowed", (method[:20],))


def forbidden(why: str) -> ApiError:
    return ApiError(403, "POL4051", "Forbidden: %1", (why,))


def internal_error() -> ApiError:
    return ApiError(500, "POL5000", "Internal Server Error. Please try again later")


# Limits of the service (docs/serve.md, "Limits"): ids in the catalogue's pattern
# (service exceptions for what the client sent, policy exceptions for the service's state).
def request_timeout(why: str) -> ApiError:
    return ApiError(408, "SVC4080", "Request timeout: %1", (why,))


def head_too_large(why: str) -> ApiError:
    return ApiError(431, "SVC4310", "Request header fields too large: %1", (why,))


def bad_request(why: str) -> ApiError:
    return ApiError(400, "SVC4002", "Invalid HTTP request: %1", (why[:120],))


def service_unavailable(why: str) -> ApiError:
    return ApiError(503, "POL5030", "Service temporarily unavailable: %1", (why,))


@dataclass(frozen=True)
class VerificationCall:
    """What one verification request asks: the Identity header value(s), the calling and called
    numbers, the verification time (None: now), or a raw SIP message (extension)."""

    identity: str | list[str] | None
    orig: str | None
    dest: str | None
    time: float | None
    sip: bytes | None = None


@dataclass(frozen=True)
class SigningCall:
    """What one signing request asks (RFC 8588 claims)."""

    orig: str
    dest: list[str]
    attest: str
    origid: str
    iat: int | None


def _unwrap(body: object, name: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid_parameter(name, "the body must be a JSON object")
    inner = body.get(name)
    if inner is None:
        raise missing_parameter(name)
    if not isinstance(inner, dict):
        raise invalid_parameter(name, "must be a JSON object")
    return inner


def _tn_text(value: object, name: str) -> str:
    if type(value) is str and 0 < len(value) <= MAX_TN_CHARS and not value[0].isspace():
        return value.strip()  # the common case, quickly (a TN that starts with a number)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid_parameter(name, "a telephone number must be a string")
    text = str(value).strip()
    if not text:
        raise invalid_parameter(name, "empty telephone number")
    if len(text) > MAX_TN_CHARS:
        raise invalid_parameter(name, f"telephone number longer than {MAX_TN_CHARS} characters")
    return text


def _tns(obj: dict[str, Any], name: str) -> list[str]:
    """``name``'s telephone numbers: ``{"tn": "..."}``, ``{"tn": [...]}`` or a bare string."""
    if name not in obj or obj[name] is None:
        raise missing_parameter(name)
    value = obj[name]
    if isinstance(value, dict):
        if value.get("tn") is None:
            raise missing_parameter(f"{name}.tn")
        value = value["tn"]
    items = value if isinstance(value, list) else [value]
    if not items:
        raise invalid_parameter(f"{name}.tn", "should contain one or more TN")
    if len(items) > MAX_TNS:
        raise invalid_parameter(f"{name}.tn", f"more than {MAX_TNS} TNs")
    return [_tn_text(v, f"{name}.tn") for v in items]


def time_value(value: object) -> float | None:
    """A request's ``time`` (Unix seconds, a number or numeric string; None when absent)."""
    if value is None:
        return None
    if type(value) is int and 0 <= value < 100_000_000_000:  # the common case, quickly
        return float(value)
    if isinstance(value, bool):
        raise invalid_parameter("time", "must be a NumericDate (Unix seconds)")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise invalid_parameter("time", "must be a NumericDate (Unix seconds)") from None
    if not isinstance(value, int | float):
        raise invalid_parameter("time", "must be a NumericDate (Unix seconds)")
    if isinstance(value, int) and not 0 <= value < 100_000_000_000:
        raise invalid_parameter("time", "out of range")  # float() of a huge int overflows
    t = float(value)
    if not math.isfinite(t) or not 0 <= t < 1e11:
        raise invalid_parameter("time", "out of range")
    return t


def _identity(value: object) -> str | list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value[:9].lower() == "identity:":  # a whole header line: take its value
            value = value[9:].strip()
        return value or None
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise invalid_parameter("identity", "a list of Identity values must hold strings")
        return [v for v in value if v.strip()] or None
    raise invalid_parameter("identity", "must be a string or a list of strings")


def parse_verification_request(body: object) -> VerificationCall:
    """The :class:`VerificationCall` of a parsed JSON body; raises :class:`ApiError`.

    ``identity`` absent, null or empty is a call without an Identity header (No-TN-Validation,
    as for ``shakenkit verify``). ``from`` and ``to`` are mandatory (ATIS-1000082): a verifier
    that is not told the numbers cannot tell a replayed PASSporT from the real call. The first
    TN of each is used (a SIP request has one calling and one called number). ``time`` is the
    verification time (when the INVITE was received, ATIS-1000082); absent: the current time.
    """
    req = _unwrap(body, "verificationRequest")
    t = time_value(req.get("time"))
    sip = req.get("sip")
    if sip is not None:  # extension: the whole INVITE, numbers and Identity read from it
        if not isinstance(sip, str) or not sip.strip():
            raise invalid_parameter("sip", "must be the text of a SIP request")
        try:
            raw = sip.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate escape (\ud800): no bytes stand for it
            raise invalid_parameter("sip", "must be the text of a SIP request") from None
        return VerificationCall(None, None, None, t, raw)
    orig = _tns(req, "from")[0]
    dest = _tns(req, "to")[0]
    return VerificationCall(_identity(req.get("identity")), orig, dest, t)


def verification_response(verdict: Verdict, *, detail: bool = False) -> dict[str, Any]:
    """``{"verificationResponse": {"verstat", ["reasoncode", "reasontext"]}}`` for a verdict:
    the same verstat, code and phrase ``shakenkit verify --json`` reports (``error.sip_code``,
    ``error.reason``). With ``detail``, the whole verdict is added under ``"verdict"``."""
    resp: dict[str, Any] = {"verstat": verdict.verstat}
    if verdict.error is not None:
        resp["reasoncode"] = verdict.error.sip_code
        resp["reasontext"] = verdict.error.reason
    if detail:
        resp["verdict"] = verdict.model_dump(mode="json")
    return {"verificationResponse": resp}


def parse_signing_request(body: object) -> SigningCall:
    """The :class:`SigningCall` of a parsed JSON body; raises :class:`ApiError`. ``origid``
    absent: a random UUID; ``iat`` absent: the signing time."""
    from ..core.tn import canonicalize_tn

    req = _unwrap(body, "signingRequest")
    orig = _tns(req, "orig")
    if len(orig) != 1:
        raise invalid_parameter("orig.tn", "exactly one calling TN")
    dest = _tns(req, "dest")
    for name, tn in [("orig.tn", orig[0])] + [("dest.tn", d) for d in dest]:
        if canonicalize_tn(tn) is None:
            raise invalid_parameter(name, f"{tn[:MAX_TN_CHARS]!r} is not a telephone number")
    attest = req.get("attest")
    if attest is None:
        raise missing_parameter("attest")
    if attest not in ("A", "B", "C"):
        raise invalid_parameter("attest", "Must be 'A', 'B' or 'C'")
    origid = req.get("origid")
    if origid is None:
        origid = str(uuid.uuid4())
    elif not isinstance(origid, str):
        raise invalid_parameter("origid", "should correspond to a UUID (RFC 4122)")
    else:
        try:
            uuid.UUID(origid)
        except ValueError:
            raise invalid_parameter("origid", "should correspond to a UUID (RFC 4122)") from None
    iat = req.get("iat")
    if iat is not None and (
        isinstance(iat, bool) or not isinstance(iat, int) or not 0 < iat < 10_000_000_000
    ):
        raise invalid_parameter("iat", "must be an integer NumericDate (Unix seconds)")
    return SigningCall(orig[0], dest, attest, origid, iat)


def signing_response(identity: str) -> dict[str, Any]:
    """``{"signingResponse": {"identity": ...}}``."""
    return {"signingResponse": {"identity": identity}}
