"""The cost of a certificate whose CRL cannot be had, through ``shakenkit serve`` (issue 20).

Three ``shakenkit serve`` processes (1 worker, CRL fetching on, the default soft-fail policy),
each loaded in turn by ``wrk -t1 -c16`` with one valid call whose certificate is configured
with ``--cert``:

* ``no_crl``: the certificate names no CRL (the reference);
* ``down``: its CRL distribution point is an allowed host (``--allow-host``) where nothing
  listens: the first call's fetch fails (connection refused), later calls meet the failure the
  repository remembers for ``negative_ttl`` (as when the CRL host is down);
* ``refused``: its CRL URL is one the default fetch policy refuses (a loopback address on a
  port other than 443): remembered the same way.

Rounds alternate the three so that load on a shared machine hits all alike. Printed: requests/s
of each, the ratios ``down / no_crl`` and ``refused / no_crl`` per round and their medians
(goal: >= 0.95, i.e. the CRL that cannot be had costs at most 5 % of throughput). No
assertions: this script reports.

    python benchmarks/bench_serve_crl.py [--rounds 3] [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from bench_serve import free_port, wrk  # noqa: E402

from shakenkit.testing import make_pki  # noqa: E402

ORIG, DEST = "12155551212", "12155551213"
X5U = "https://cr.example.com/sp/123A.pem"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class Serve:
    """``shakenkit serve`` for one scenario, on a free port."""

    def __init__(self, work: Path, name: str, crl_url: str | None, allow: str | None) -> None:
        pki = make_pki(x5u=X5U, crl_url=crl_url)
        d = work / name
        d.mkdir()
        (d / "root.pem").write_bytes(pki.root_pem)
        (d / "chain.pem").write_bytes(pki.chain_pem)
        now = int(time.time())
        request = {
            "from": {"tn": ORIG},
            "to": {"tn": [DEST]},
            "time": now,
            "identity": pki.sign(orig=ORIG, dest=DEST, iat=now),
        }
        self.body = d / "body.json"
        self.body.write_text(json.dumps({"verificationRequest": request}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/stir/v1/verification"
        cmd = [sys.executable, "-m", "shakenkit.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--log-level", "warning"]
        cmd += ["--trust", str(d / "root.pem"), "--cert", f"{X5U}={d / 'chain.pem'}"]
        if allow:
            cmd += ["--allow-host", allow]
        env = dict(os.environ)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env)
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"{name}: server did not start")
        answer = httpx.post(self.url, content=self.body.read_bytes(), timeout=10).json()
        assert answer["verificationResponse"]["verstat"] == "TN-Validation-Passed", answer
        for _ in range(200):
            httpx.post(self.url, content=self.body.read_bytes(), timeout=10)

    def rate(self, seconds: float) -> float:
        return float(wrk(self.url, self.body, seconds=seconds, clients=16)["rate"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt: wrk)", file=sys.stderr)
        return 1
    closed = _closed_port()
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        servers = {
            "no_crl": Serve(work, "no_crl", None, None),
            "down": Serve(
                work, "down", f"https://127.0.0.1:{closed}/sti-pa.crl", f"127.0.0.1:{closed}"
            ),
            "refused": Serve(work, "refused", f"https://127.0.0.1:{closed}/sti-pa.crl", None),
        }
        try:
            for n in range(args.rounds):
                r = {name: s.rate(args.seconds) for name, s in servers.items()}
                r["down_ratio"] = r["down"] / r["no_crl"]
                r["refused_ratio"] = r["refused"] / r["no_crl"]
                rounds.append(r)
                if not args.json:
                    print(
                        f"round {n + 1}: no CRL {r['no_crl']:8,.0f}/s  down {r['down']:8,.0f}/s"
                        f" ({r['down_ratio']:.3f})  refused {r['refused']:8,.0f}/s"
                        f" ({r['refused_ratio']:.3f})"
                    )
        finally:
            for s in servers.values():
                s.stop()
    result = {
        "rounds": rounds,
        "median_down_ratio": statistics.median(r["down_ratio"] for r in rounds),
        "median_refused_ratio": statistics.median(r["refused_ratio"] for r in rounds),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"median ratios: down {result['median_down_ratio']:.3f}, refused "
            f"{result['median_refused_ratio']:.3f} (goal >= 0.95)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
