"""Verify a batch of calls from a JSON Lines file (one call a line) and summarize.

Each line: {"identity": "<Identity header value>" or [...], "orig": "...", "dest": "...",
"time": <Unix seconds>, "call_id": "..."}. The batch is judged at each record's "time" (the
call's arrival), as a traceback or audit job would. Uses the samples made by
scripts/make_samples.py by default.

Run: python examples/batch_scan.py [BATCH.jsonl]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from shakenkit import Verifier
from shakenkit.sip.capture import read_records, verify_records

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "samples"
X5U = "https://cr.example.com/sp/123A.pem"


def main(batch: Path) -> None:
    verifier = Verifier(
        trust_anchors=[(SAMPLES / "root.pem").read_bytes()],
        certificates={X5U: (SAMPLES / "chain.pem").read_bytes()},
    )
    by_outcome: Counter[str] = Counter()
    spoofed = []
    for r in verify_records(verifier, read_records(batch)):
        v = r.verdict
        by_outcome[v.caller_id] += 1
        if v.likely_spoofed:
            spoofed.append(r.to_dict())
        print(f"line {r.record.line}: {r.record.call_id}: {v.verstat} caller_id={v.caller_id}")
    print("summary:", json.dumps(dict(sorted(by_outcome.items()))))
    for s in spoofed:  # what a traceback request needs
        e = s["error"]
        print(
            f"likely spoofed: {s['call_id']} calling {s['calling']} "
            f"({e['sip_code']} {e['check']}: {e['detail']}) origid {s['origid']}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES / "calls.jsonl")
