"""Smoke-check a capture: verify every INVITE in a pcap/pcapng and compare with expectations.

Reads the sample capture made by scripts/make_samples.py (tests/data/samples/calls.pcap) with
the sample trust anchor and certificate chain, offline. Freshness is judged at each packet's
capture time (captured calls are checked after the fact). Exits non-zero when the counts differ
from what the samples' README promises.

Run: python examples/pcap_smoke_check.py [CAPTURE]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from shakenkit import Verifier
from shakenkit.sip.capture import read_records, verify_records

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "samples"
X5U = "https://cr.example.com/sp/123A.pem"
EXPECTED = Counter({"TN-Validation-Passed": 5, "TN-Validation-Failed": 2, "No-TN-Validation": 2})


def main(capture: Path) -> int:
    verifier = Verifier(
        trust_anchors=[(SAMPLES / "root.pem").read_bytes()],
        certificates={X5U: (SAMPLES / "chain.pem").read_bytes()},
    )
    seen: Counter[str] = Counter()
    for r in verify_records(verifier, read_records(capture)):
        v = r.verdict
        seen[v.verstat] += 1
        why = f"  {v.error.sip_code} {v.error.check}" if v.error else ""
        print(
            f"frame {r.record.frame:>3} {r.record.transport:<3} {r.record.call_id}: "
            f"{v.verstat} attest={v.attest or '-'} caller_id={v.caller_id}{why}"
        )
    print("totals:", ", ".join(f"{k} {n}" for k, n in sorted(seen.items())))
    if capture.name in ("calls.pcap", "calls.pcapng") and seen != EXPECTED:
        print("smoke check FAILED: expected", dict(EXPECTED))
        return 1
    print("smoke check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES / "calls.pcap"))
