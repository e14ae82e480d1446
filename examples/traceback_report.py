"""Traceback over an archive of calls: who signed them, who let them in, and an HTML report.

Builds three test carriers in memory (a retail carrier, a gateway that signs C, and one whose
calls are forged), writes a small JSON Lines archive of their calls, verifies it on two worker
processes at each call's own time, prints the signer and gateway tables and the calls of one
number, and writes ``traceback_report.html`` (self-contained: open it in any browser).

    PYTHONPATH=src python examples/traceback_report.py [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from shakenkit.testing import make_pki
from shakenkit.traceback import LookupQuery, VerifierConfig, analyze_files
from shakenkit.traceback.report import write_report

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    kw = {"crl_url": None, "not_before": T0 - 30 * DAY, "not_after": T0 + 300 * DAY}
    retail = make_pki(spc="123A", organization="Example Telecom", **kw)
    gateway = make_pki(
        spc="987Z", x5u="https://cr.gw.example/987Z.pem", organization="Example Gateway", **kw
    )
    forger = make_pki(spc="123A", **kw)  # same SPC, wrong key: its signatures do not verify

    lines = []
    for i in range(60):
        t = T0 + 60 * i
        orig, dest = f"+1215555{1000 + i % 7:04d}", "+12155559999"
        if i % 10 == 9:  # forged: a real x5u, another key
            h = forger.sign(orig=orig, dest=dest, iat=t, x5u=retail.x5u, origid="robo-1")
        elif i % 3 == 0:  # gateway traffic: C attestation, one customer many numbers
            orig = f"+4420794{i:05d}"
            h = gateway.sign(orig=orig, dest=dest, attest="C", iat=t, origid="gw-cust-7")
        else:
            h = retail.sign(orig=orig, dest=dest, attest="A", iat=t, origid="retail-cust-1")
        lines.append(json.dumps({"identity": h, "orig": orig, "dest": dest, "time": t}))
    archive = out / "calls.jsonl"
    archive.write_text("\n".join(lines) + "\n")

    config = VerifierConfig(
        trust_anchors=(retail.root_pem, gateway.root_pem),
        certificates=(*retail.certificates().items(), *gateway.certificates().items()),
    )
    agg = analyze_files(
        [archive], config, workers=2, lookup=LookupQuery("+1 215 555 1000", T0, T0 + DAY)
    )

    s = agg.summary()
    print(f"{s['calls']} calls: {s['caller_id']}")
    for r in agg.signers():
        print(
            f"signer {r['spc']} {r['organization']}: {r['calls']} calls, attest {r['attest']}, "
            f"likely spoofed {r['caller_id']['likely_spoofed']}"
        )
    for r in agg.gateways():
        print(f"gateway {r['spc']} {r['organization']}: {r['c_calls']} C-attested calls")
    for r in agg.origids()[:3]:
        print(f"origid {r['origid']}: {r['calls']} calls from {r['numbers']} numbers")
    for r in agg.lookup():
        print(f"lookup {r['time']} {r['calling']} -> {r['caller_id']} signed by {r['spc']}")
    report = write_report(agg, out / "traceback_report.html", inputs=[archive.name])
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
