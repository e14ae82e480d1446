"""``shakenkit demo``: an in-memory test PKI signs a few calls; the verifier judges them."""

from __future__ import annotations

import argparse
import time
from typing import Any, TextIO

from ..core.verifier import Verifier

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` sub-command to ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="offline demo: sign and verify a few calls with a test PKI",
        description="Build a test PKI in memory, sign a few calls, verify them.",
        epilog="examples:\n  shakenkit demo\n\nno network, no files: everything is made in "
        "memory and thrown away",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return p


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit demo``: sign a few calls with a test PKI and print the verdicts."""
    from ..testing import make_pki

    now = int(time.time())
    pki = make_pki(spc="123A", organization="Example Telecom")
    gateway = make_pki(
        spc="987Z", x5u="https://cr.gateway.example/987Z.pem", organization="Example Gateway"
    )
    forger = make_pki(spc="666F")
    verifier = Verifier(
        trust_anchors=[pki.root_pem, gateway.root_pem],
        certificates={**pki.certificates(), **gateway.certificates()},
    )
    a, b = "+1 215 555 1212", "+1 215 555 1213"
    good = pki.sign(orig=a, dest=b, attest="A", iat=now)
    forged = forger.sign(orig=a, dest=b, attest="A", iat=now, x5u=pki.x5u)
    stale = pki.sign(orig=a, dest=b, attest="A", iat=now - 3600)
    gw = gateway.sign(orig="+44 20 7946 0000", dest=b, attest="C", iat=now)
    cases = [
        ("A-attested call", good, a, b),
        ("forged signature", forged, a, b),
        ("replayed stale call", stale, a, b),
        ("C-attested gateway call", gw, "+44 20 7946 0000", b),
        ("caller-ID mismatch", good, "+1 215 555 9999", b),
        ("no Identity header", "", a, b),
    ]
    rows = [("call", "verstat", "attest", "caller_id", "error")]
    for name, header, o, d in cases:
        v = verifier.verify(header or None, orig=o, dest=d, now=now)
        err = f"{v.error.sip_code} {v.error.reason} ({v.error.check})" if v.error else "-"
        rows.append((name, v.verstat, v.attest or "-", v.caller_id, err))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out.write("shakenkit demo: an in-memory test PKI signs calls; the verifier judges them\n\n")
    for i, r in enumerate(rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
        if i == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
    return 0
