"""``shakenkit trust update`` (file mode, no network) and loading a trust directory, against the
plain loading of the same roots in the same run.

Prints, for CA lists of N STI-CA roots (N = 20 and 200; the US list has a few dozen):

* the reference: ``TrustStore`` from a plain directory of the same N PEM files (what
  ``--trust DIR`` cost before trust directories);
* ``parse_ca_list`` + ``check_ca_list`` (signature, signer chain, payload, every root parsed and
  linted) and ``install_ca_list`` (write, fsync, atomic swap);
* ``TrustStore`` from the trust directory (the state file, one directory handle, a SHA-256 check
  of each root);
* ratios to the reference.

Short runs on purpose (the machine is shared). No assertions: this script reports.

    python benchmarks/bench_trust.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from shakenkit.certs import TrustStore  # noqa: E402
from shakenkit.certs.calist import check_ca_list, parse_ca_list  # noqa: E402
from shakenkit.repository.trustdir import install_ca_list  # noqa: E402
from shakenkit.testing import make_pki  # noqa: E402
from tests.stipa_server import TestStiPa  # noqa: E402


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(n: int, repeat: int) -> dict[str, float]:
    roots = [make_pki(spc=f"{i:03d}A", crl_url=None).root_pem for i in range(n)]
    stipa = TestStiPa(x5u="https://sti-pa.example/signer.pem")
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain"
        plain.mkdir()
        for i, r in enumerate(roots):
            (plain / f"{i}.pem").write_bytes(r)
        out = Path(tmp) / "trust"
        seq = [0]

        def update() -> None:
            seq[0] += 1
            jws = stipa.sign_list(roots, sequence=seq[0])
            cl = check_ca_list(
                parse_ca_list(jws), stipa.signer_pem, [stipa.root_pem], now=time.time()
            )
            install_ca_list(out, cl, fetched=time.time(), source="file")

        # certificates are interned by DER: the reference and the trust directory load the
        # same (cached) objects, so both measure reading and checking, not parsing.
        reference = best(lambda: TrustStore([plain]), repeat)
        upd = best(update, repeat)
        load = best(lambda: TrustStore([out]), repeat)
    return {
        "roots": n,
        "plain_load_ms": reference * 1e3,
        "update_ms": upd * 1e3,
        "trust_dir_load_ms": load * 1e3,
        "update_ratio": upd / reference,
        "load_ratio": load / reference,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [run(n, args.repeat) for n in (20, 200)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(
            f"{r['roots']:4d} roots: plain dir load {r['plain_load_ms']:7.2f} ms | "
            f"trust update {r['update_ms']:7.2f} ms ({r['update_ratio']:.1f}x) | "
            f"trust dir load {r['trust_dir_load_ms']:7.2f} ms ({r['load_ratio']:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
