"""The cost of a certificate whose CRL cannot be fetched (issue 20), in one run.

Two verifiers, each with the production source (``HttpsSource`` behind the configured chain, as
``shakenkit verify --cert`` and ``serve`` build it), verify the same kind of call warm:

* reference: the certificate names no CRL;
* unreachable: the certificate's CRL distribution point is a 127.0.0.1 port where nothing
  listens (soft-fail, as when the CRL host is down), so the first call's fetch fails and every
  later call meets the remembered failure.

Rounds alternate between the two so that load on a shared machine hits both alike; printed are
the rates, the ratio unreachable / reference per round and its median (goal >= 0.95).
No assertions: this script reports.

    python benchmarks/bench_crl_unreachable.py [--rounds 9] [--calls 3000] [--json]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shakenkit import Verifier  # noqa: E402
from shakenkit.repository import FetchPolicy, HttpsSource, LayeredSource  # noqa: E402
from shakenkit.testing import make_pki  # noqa: E402

ORIG, DEST = "12155551212", "12155551213"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def build(crl_url: str | None, port: int) -> tuple[Verifier, str]:
    """A verifier over LayeredSource(configured chain -> HttpsSource) and a signed header."""
    pki = make_pki(crl_url=crl_url)
    fallback = HttpsSource(FetchPolicy(allow_hosts=frozenset({f"127.0.0.1:{port}"})))
    verifier = Verifier(
        trust_anchors=[pki.root_pem], source=LayeredSource(pki.certificates(), fallback)
    )
    return verifier, pki.sign(orig=ORIG, dest=DEST)


def rate(verifier: Verifier, identity: str, calls: int, now: float) -> float:
    """Warm verifications per second."""
    started = time.perf_counter()
    for _ in range(calls):
        verifier.verify(identity, orig=ORIG, dest=DEST, now=now)
    return calls / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--calls", type=int, default=3_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    port = _closed_port()
    reference, ref_header = build(None, port)
    unreachable, bad_header = build(f"https://127.0.0.1:{port}/crl/sti-pa.crl", port)
    now = time.time()
    first = unreachable.verify(bad_header, orig=ORIG, dest=DEST, now=now)
    assert first.passed and any(c.name == "crl" and not c.ok for c in first.checks), first
    for _ in range(500):  # warm both
        reference.verify(ref_header, orig=ORIG, dest=DEST, now=now)
        unreachable.verify(bad_header, orig=ORIG, dest=DEST, now=now)
    rounds: list[dict[str, float]] = []
    for _ in range(args.rounds):
        ref = rate(reference, ref_header, args.calls, now)
        bad = rate(unreachable, bad_header, args.calls, now)
        rounds.append({"reference_per_s": ref, "unreachable_per_s": bad, "ratio": bad / ref})
    crl: Any = unreachable.stats()["crl"]
    result = {
        "rounds": rounds,
        "median_ratio": statistics.median(r["ratio"] for r in rounds),
        "crl_fetches": crl["fetches"],
        "crl_negative_hits": crl["negative_hits"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for r in rounds:
        print(
            f"no CRL {r['reference_per_s']:8,.0f}/s   unreachable CRL "
            f"{r['unreachable_per_s']:8,.0f}/s   ratio {r['ratio']:.3f}"
        )
    print(
        f"median ratio {result['median_ratio']:.3f} (goal >= 0.95); CRL fetches "
        f"{result['crl_fetches']}, answered from the negative cache {result['crl_negative_hits']}"
    )


if __name__ == "__main__":
    main()
