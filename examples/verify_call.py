"""Verify one call end to end: sign with a test STI PKI, verify, act on the verdict.

Run: python examples/verify_call.py
"""

from __future__ import annotations

import time

from shakenkit import Verifier
from shakenkit.testing import make_pki


def screen(verifier: Verifier, identity: str | None, calling: str, called: str) -> str:
    """A call-screening decision from a verdict (see docs/verdicts.md)."""
    verdict = verifier.verify(identity, orig=calling, dest=called)
    if verdict.caller_id == "verified":
        return "deliver (verified caller ID)"
    if verdict.likely_spoofed:
        assert verdict.error is not None
        return f"label as likely spoofed; Reason: {verdict.error.reason_sip}"
    return f"deliver without indication ({verdict.verstat}, attest {verdict.attest})"


def main() -> None:
    pki = make_pki(spc="123A")
    verifier = Verifier(trust_anchors=[pki.root_pem], certificates=pki.certificates())
    now = int(time.time())
    good = pki.sign(orig="+12155551212", dest="+12155551213", attest="A", iat=now)
    print("good call:    ", screen(verifier, good, "+1 215-555-1212", "+1 215-555-1213"))
    print("spoofed call: ", screen(verifier, good, "+1 215-555-9999", "+1 215-555-1213"))
    print("unsigned call:", screen(verifier, None, "+1 215-555-1212", "+1 215-555-1213"))


if __name__ == "__main__":
    main()
