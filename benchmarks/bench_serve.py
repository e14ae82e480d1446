"""``shakenkit serve`` under load, against the library's own rate in the same run.

Prints, for one valid A-attested call (certificate warm, configured with ``--cert``):

* the reference: in-process ``Verifier.averify`` on one asyncio loop (verifications/s);
* ``shakenkit serve`` with 1 and 2 workers over HTTP/1.1 keep-alive, driven by compiled load
  generators from Debian (a Python one would saturate first): the maximum sustained rate and
  its p50/p99 latency with ``wrk`` (closed loop, 16 connections; ``h2load`` if wrk is
  missing), then the p50/p99 latency at half that rate with ``h2load --rps`` (open loop,
  ``nghttp2-client``; skipped without it);
* ratios: served rate / library rate.

Goals (issue 13): one worker >= 50% of the in-process rate; p99 <= 10 ms at half of the
maximum rate. The load generator shares the machine's cores with the server: on 2 cores, 2
workers and h2load compete. No assertions: this script reports, it does not judge.

    python benchmarks/bench_serve.py [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402

from shakenkit import Verifier  # noqa: E402
from shakenkit.testing import make_pki  # noqa: E402

ORIG, DEST = "12155551212", "12155551213"
X5U = "https://cr.example.com/sp/123A.pem"
IAT = 1_767_225_600


def library_rate(verifier: Verifier, header: str, seconds: float) -> float:
    """In-process averify calls per second on one event loop."""

    async def run() -> float:
        for _ in range(500):
            await verifier.averify(header, orig=ORIG, dest=DEST, now=IAT)
        n = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for _ in range(200):
                v = await verifier.averify(header, orig=ORIG, dest=DEST, now=IAT)
            n += 200
        assert v.passed
        return n / (time.perf_counter() - start)

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, workdir: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable, "-m", "shakenkit.cli", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", str(workers), "--log-level", "warning",
            "--offline", "--trust", str(workdir / "root.pem"),
            "--cert", f"{X5U}={workdir / 'chain.pem'}",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("shakenkit serve did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def h2load(
    url: str, body: Path, *, seconds: float, clients: int, rps: float | None = None
) -> dict[str, Any]:
    """One h2load run over HTTP/1.1: rate, latency percentiles (ms), non-200 count."""
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        cmd = [
            "h2load", "--h1", "-t", "1", "-c", str(clients), "-D", str(max(1, round(seconds))),
            "--warm-up-time", "1", "-d", str(body), "-H", "content-type: application/json",
            "--log-file", log.name, url,
        ]  # fmt: skip
        if rps is not None:
            cmd[1:1] = ["--rps", f"{max(rps / clients, 0.1):.2f}"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        lines = Path(log.name).read_text().splitlines()
    latencies, bad = [], 0
    for line in lines:
        parts = line.split("\t")
        if len(parts) >= 3:
            if parts[1] != "200":
                bad += 1
            latencies.append(int(parts[2]) / 1000.0)
    rate = float("nan")
    for line in out.stdout.splitlines():
        if line.startswith("finished in"):
            rate = float(line.split(",")[1].split()[0])
    if rate != rate:  # NaN: h2load said nothing usable
        raise RuntimeError(f"h2load failed: {out.stdout[-1500:]} {out.stderr[-1500:]}")
    return {
        "rate": rate,
        "p50_ms": pct(latencies, 0.50),
        "p99_ms": pct(latencies, 0.99),
        "requests": len(latencies),
        "non_200": bad,
    }


def _ms(text: str) -> float:
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def wrk(url: str, body: Path, *, seconds: float, clients: int) -> dict[str, Any]:
    """One closed-loop wrk run (HTTP/1.1 keep-alive, one thread): rate and p50/p99 (ms)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        payload = body.read_text().replace("\\", "\\\\").replace("'", "\\'")
        lua.write(
            'wrk.method = "POST"\n'
            f"wrk.body = '{payload}'\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
    try:
        cmd = ["wrk", "-t", "1", "-c", str(clients), "-d", f"{max(1, round(seconds))}s"]
        cmd += ["--latency", "-s", lua.name, url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(lua.name)
    result: dict[str, Any] = {"non_200": 0}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rate"] = float(words[1])
        elif words[:1] == ["50%"]:
            result["p50_ms"] = _ms(words[1])
        elif words[:1] == ["99%"]:
            result["p99_ms"] = _ms(words[1])
        elif line.strip().startswith("Non-2xx"):
            result["non_200"] = int(words[-1])
    if "rate" not in result:
        raise RuntimeError(f"wrk failed: {out[-1500:]}")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="per measurement (default 5)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    pki = make_pki(x5u=X5U, crl_url=None, not_before=IAT - 86_400, not_after=IAT + 86_400)
    header = pki.sign(orig=ORIG, dest=DEST, iat=IAT)
    results: dict[str, Any] = {"cpus": os.cpu_count()}
    verifier = Verifier(trust_anchors=[pki.root_pem], certificates={X5U: pki.chain_pem})
    lib = library_rate(verifier, header, args.seconds)
    results["library_averify_per_s"] = round(lib)

    if shutil.which("wrk") is None and shutil.which("h2load") is None:
        results["serve"] = "skipped: neither wrk nor h2load installed (apt: wrk nghttp2-client)"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "root.pem").write_bytes(pki.root_pem)
            (work / "chain.pem").write_bytes(pki.chain_pem)
            body = work / "body.json"
            request = {
                "from": {"tn": ORIG},
                "to": {"tn": [DEST]},
                "time": IAT,
                "identity": header,
            }
            body.write_text(json.dumps({"verificationRequest": request}))
            serve: dict[str, Any] = {}
            for workers in (1, 2):
                server = Server(work, workers)
                try:
                    url = server.url + "/stir/v1/verification"
                    check = httpx.post(url, content=body.read_bytes(), timeout=10).json()
                    assert check == {"verificationResponse": {"verstat": "TN-Validation-Passed"}}
                    if shutil.which("wrk"):
                        peak = wrk(url, body, seconds=args.seconds, clients=16)
                    else:
                        peak = h2load(url, body, seconds=args.seconds, clients=16)
                    if shutil.which("h2load"):
                        half = h2load(
                            url, body, seconds=args.seconds, clients=8, rps=peak["rate"] / 2
                        )
                    else:  # no open-loop generator: not measured
                        nan = float("nan")
                        half = {"rate": nan, "p50_ms": nan, "p99_ms": nan, "non_200": 0}
                finally:
                    server.stop()
                serve[f"{workers}_worker"] = {
                    "max_rate_per_s": round(peak["rate"]),
                    "max_rate_p50_ms": round(peak["p50_ms"], 2),
                    "max_rate_p99_ms": round(peak["p99_ms"], 2),
                    "half_rate_per_s": round(half["rate"])
                    if half["rate"] == half["rate"]
                    else None,
                    "half_rate_p50_ms": round(half["p50_ms"], 2),
                    "half_rate_p99_ms": round(half["p99_ms"], 2),
                    "non_200": peak["non_200"] + half["non_200"],
                    "ratio_to_library": round(peak["rate"] / lib, 3),
                }
            results["serve"] = serve

    if args.json:
        print(json.dumps(results))
        return 0
    print(f"cpus: {results['cpus']}")
    print(f"library: in-process averify          {lib:10.0f} /s  (reference)")
    serve = results["serve"]
    if isinstance(serve, str):
        print(f"serve: {serve}")
        return 0
    for name, r in serve.items():
        print(
            f"serve, {name.replace('_', ' ')}:  max {r['max_rate_per_s']:7d} /s "
            f"(p50 {r['max_rate_p50_ms']:.2f} ms, p99 {r['max_rate_p99_ms']:.2f} ms)  "
            f"ratio to library {r['ratio_to_library']:.2f}"
        )
        print(
            f"    at half rate {r['half_rate_per_s'] or 0:7d} /s: "
            f"p50 {r['half_rate_p50_ms']:.2f} ms, p99 {r['half_rate_p99_ms']:.2f} ms   "
            f"non-200 answers: {r['non_200']}"
        )
    print("goals: 1 worker >= 0.50 of the library rate; p99 <= 10 ms at half the max rate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
