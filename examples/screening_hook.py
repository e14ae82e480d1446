"""A call-screening hook: verify an incoming SIP INVITE and decide what to do with the call.

A SIP proxy or SBC hands the raw INVITE to ``screen()``; it verifies the call
(``Verifier.averify_sip``: every Identity header, numbers from P-Asserted-Identity/From and To,
Date from the message) and returns the action, the ``verstat`` to put on the caller's identity
toward the callee (3GPP TS 24.229), and a ``Reason`` header for the originating network when
verification failed (ATIS-1000074 §5.3.2, RFC 3326). See docs/integration.md.

Run: python examples/screening_hook.py
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from shakenkit import Verdict, Verifier
from shakenkit.testing import TestPKI, make_pki


@dataclass
class Decision:
    action: str  # "deliver-verified", "deliver" or "label-spoofed"
    verstat: str  # TN-Validation-Passed | TN-Validation-Failed | No-TN-Validation
    reason: str | None  # a Reason header value for the next response upstream, if any
    verdict: Verdict


async def screen(verifier: Verifier, invite: bytes) -> Decision:
    """The hook: one verdict for the call (every Identity header weighed, RFC 8224 §6.2);
    never raises on a bad message (that is a 438 verdict)."""
    v = await verifier.averify_sip(invite)
    reason = v.error.reason_sip if v.error is not None else None
    if v.caller_id == "verified":
        return Decision("deliver-verified", v.verstat, None, v)
    if v.likely_spoofed:
        return Decision("label-spoofed", v.verstat, reason, v)
    return Decision("deliver", v.verstat, reason, v)


def invite(identity: str | None, calling: str, called: str, when: int) -> bytes:
    from email.utils import formatdate

    lines = [
        f"INVITE sip:{called}@cr.example.net;user=phone SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-demo",
        "Max-Forwards: 70",
        f"From: <sip:{calling}@sp.example.com;user=phone>;tag=1",
        f"To: <sip:{called}@cr.example.net;user=phone>",
        f"P-Asserted-Identity: <sip:{calling}@sp.example.com;user=phone>",
        "Call-ID: demo@sp.example.com",
        "CSeq: 1 INVITE",
        f"Date: {formatdate(when, usegmt=True)}",
    ]
    if identity:
        lines.append(f"Identity: {identity}")
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


async def main() -> None:
    pki = make_pki(spc="123A")
    async with Verifier(trust_anchors=pki.root_pem, certificates=pki.certificates()) as verifier:
        await run_calls(verifier, pki)


async def run_calls(verifier: Verifier, pki: TestPKI) -> None:
    now = int(time.time())
    a, b = "+12155551212", "+12155551213"
    signed = pki.sign(orig=a, dest=b, attest="A", iat=now)
    calls = {
        "signed call": invite(signed, a, b, now),
        "spoofed caller ID": invite(signed, "+12155559999", b, now),
        "unsigned call": invite(None, a, b, now),
        "broken INVITE": b"INVITE sip:+12155551213@cr.example.net SIP/2.0\r\nbroken\r\n\r\n",
    }
    for name, msg in calls.items():
        d = await screen(verifier, msg)
        print(f"{name + ':':<19} {d.action:<16} verstat={d.verstat}")
        if d.reason:
            print(f"{'':<19} Reason: {d.reason}")


if __name__ == "__main__":
    asyncio.run(main())
