"""The price of validating NULL-parameter chains with the one RFC 5280 verifier.

T-Mobile's production sub-CA and root carry the NULL signature-algorithm parameter
(tests/data/tmobile, corpus README). Their path is validated by `cryptography`'s verifier with
stand-ins (``certs/repair.py``): the sub-CA's signature checked here, a one-off key, two
re-signed certificates. This script times one uncached validation of that chain against the
reference in the same run: an ordinary test chain (root -> STI-CA -> SP, no quirk). A validated
chain is cached until its earliest notAfter, so the cost is paid once per chain, not per call.

    python benchmarks/bench_nullparam.py [--n 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shakenkit import TrustStore, parse_chain  # noqa: E402
from shakenkit.certs.path import _validate_uncached  # noqa: E402
from shakenkit.testing import make_pki  # noqa: E402

TMOBILE = ROOT / "tests" / "data" / "tmobile"
JAN_2026 = 1_767_225_600


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    n = ap.parse_args().n
    tm_chain = parse_chain(
        (TMOBILE / "leaf-6529.pem").read_bytes() + (TMOBILE / "sub-ca.pem").read_bytes()
    )
    tm_anchors = TrustStore([TMOBILE / "root.pem"]).snapshot()
    assert _validate_uncached(tm_chain, tm_anchors, JAN_2026).ok
    pki = make_pki()
    chain, anchors, now = (
        parse_chain(pki.chain_pem),
        TrustStore([pki.root_pem]).snapshot(),
        time.time(),
    )
    assert _validate_uncached(chain, anchors, now).ok
    ref = _per_call_us(lambda: _validate_uncached(chain, anchors, now), n)
    quirk = _per_call_us(lambda: _validate_uncached(tm_chain, tm_anchors, JAN_2026), n)
    print(f"plain chain, uncached validation:        {ref:8.0f} us")
    print(f"T-Mobile NULL-parameter chain, uncached: {quirk:8.0f} us  ({quirk / ref:.1f}x)")


if __name__ == "__main__":
    main()
