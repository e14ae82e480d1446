"""``shakenkit serve`` under load, against the library's own rate in the same run.

For one valid A-attested call (certificate warm, configured with ``--cert``, CRL fetching off),
each round measures, one after the other:

* the reference: in-process ``Verifier.averify`` on one asyncio loop (verifications/s), before
  and after the servers (the ratio uses the mean of the two: the machine's speed drifts);
* ``shakenkit serve`` with 1 worker: its maximum rate with ``wrk -t1 -c16`` (closed loop,
  HTTP/1.1 keep-alive; ``h2load`` if wrk is missing) and p50/p99 latency, then p50/p99 at half
  that rate with ``h2load --rps`` (open loop, ``nghttp2-client``; skipped without it);
* other servers for the same app, for comparison (``--servers``): ``uvicorn-asgi`` (the same
  ServiceApp through uvicorn's own httptools ASGI protocol, tuned: uvloop, no proxy headers,
  no access log), ``granian-asgi`` (granian's ASGI interface, if granian is installed), and
  ``reference`` (``shakenkit serve`` from another source tree, ``--reference-src``: an older
  checkout, run alternately with this one);
* ``shakenkit serve`` with 2 workers (``--workers 1,2``): maximum rate and its ratio to one.

Goals (issue 20): one worker >= 0.6 of the in-process rate; p99 <= 10 ms at half of the
maximum rate; 2 workers >= 1.8x one worker on two free cores. The load generator shares the
machine with the server: on 2 cores, 2 workers and wrk compete for them. No assertions: this
script reports, it does not judge. Ranges are min-max over the rounds.

On a shared machine the rates swing with the neighbours' load, so each server's CPU time is
read from /proc as well: "CPU ratio" is the library's CPU time per call over the server's CPU
time per request (all its processes), what the rate ratio would be with a free core each for
the server and the load generator.

    python benchmarks/bench_serve.py [--seconds 3] [--rounds 3] [--servers shakenkit,uvicorn-asgi]
        [--workers 1,2] [--reference-src /path/to/old/src] [--json]
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
SERVERS = ("shakenkit", "uvicorn-asgi", "granian-asgi", "reference")


def library_rate(verifier: Verifier, headers: list[str], seconds: float) -> tuple[float, float]:
    """In-process averify on one event loop: calls per second, and CPU microseconds per call
    (the headers in turn: one, or ``--distinct`` N)."""

    async def run() -> tuple[float, float]:
        for i in range(500):
            await verifier.averify(headers[i % len(headers)], orig=ORIG, dest=DEST, now=IAT)
        n = 0
        start, cpu = time.perf_counter(), time.process_time()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for _ in range(200):
                h = headers[n % len(headers)]
                v = await verifier.averify(h, orig=ORIG, dest=DEST, now=IAT)
                n += 1
        assert v.passed
        rate = n / (time.perf_counter() - start)
        return rate, (time.process_time() - cpu) / n * 1e6

    return asyncio.run(run())


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_args(workdir: Path) -> list[str]:
    return [
        "--log-level", "warning", "--offline", "--trust", str(workdir / "root.pem"),
        "--cert", f"{X5U}={workdir / 'chain.pem'}", "--no-crl-fetch",
    ]  # fmt: skip


class Server:
    """One server process for ``kind`` (see the module docstring) on a free port."""

    def __init__(self, kind: str, workdir: Path, workers: int, reference_src: str | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if kind in ("shakenkit", "reference"):
            cmd = [sys.executable, "-m", "shakenkit.cli", "serve", "--host", "127.0.0.1"]
            cmd += ["--port", str(self.port), "--workers", str(workers), *serve_args(workdir)]
            if kind == "reference":
                assert reference_src, "--reference-src is needed for the reference server"
                env["PYTHONPATH"] = reference_src
                cmd.remove("--no-crl-fetch")  # older trees may lack it; --offline fetches nothing
        else:
            cmd = [sys.executable, __file__, "--run-server", kind, str(self.port), str(workdir)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env)
        for _ in range(300):
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{kind} server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_other_server(kind: str, port: int, workdir: Path) -> None:
    """The comparison servers: the same ServiceApp (built as ``shakenkit serve`` builds it)
    behind uvicorn's ASGI protocol or granian."""
    from shakenkit.cli.app import build_parser
    from shakenkit.cli.serve import build_app

    args = build_parser().parse_args(["serve", *serve_args(workdir)])
    app = build_app(args)
    if kind == "uvicorn-asgi":
        import uvicorn

        uvicorn.run(
            app, host="127.0.0.1", port=port, http="httptools", loop="uvloop", ws="none",
            lifespan="on", proxy_headers=False, access_log=False, log_level="warning",
            server_header=False,
        )  # fmt: skip
    elif kind == "granian-asgi":
        from granian.constants import HTTPModes, Interfaces
        from granian.server.embed import Server as Granian

        async def main() -> None:
            server = Granian(
                app, address="127.0.0.1", port=port, interface=Interfaces.ASGI,
                http=HTTPModes.http1, websockets=False, runtime_threads=1, log_enabled=False,
            )  # fmt: skip
            await server.serve()

        import uvloop

        uvloop.run(main())
    else:
        raise SystemExit(f"unknown server {kind}")


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
        "non_200": bad,
    }


def _ms(text: str) -> float:
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def wrk(url: str, body: Path, *, seconds: float, clients: int) -> dict[str, Any]:
    """One closed-loop wrk run (HTTP/1.1 keep-alive, one thread): rate and p50/p99 (ms). A
    ``.jsonl`` body file holds one body a line, sent in turn (``--distinct``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        if body.suffix == ".jsonl":
            items = ",\n".join(f"[==[{line}]==]" for line in body.read_text().splitlines())
            lua.write(
                f"bodies = {{{items}}}\nn = 0\n"
                'headers = {["Content-Type"] = "application/json"}\n'
                "request = function()\n  n = n + 1\n"
                '  return wrk.format("POST", nil, headers, bodies[(n % #bodies) + 1])\nend\n'
            )
        else:
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
        elif len(words) > 2 and words[1:3] == ["requests", "in"]:
            result["requests"] = int(words[0])
        elif line.strip().startswith("Non-2xx"):
            result["non_200"] = int(words[-1])
    if "rate" not in result:
        raise RuntimeError(f"wrk failed: {out[-1500:]}")
    return result


def peak(url: str, body: Path, seconds: float) -> dict[str, Any]:
    if shutil.which("wrk"):
        return wrk(url, body, seconds=seconds, clients=16)
    return h2load(url, body, seconds=seconds, clients=16)


def measure_server(
    kind: str, workers: int, work: Path, body: Path, seconds: float, ref: str | None, half: bool
) -> dict[str, Any]:
    server = Server(kind, work, workers, ref)
    one = work / "body.json"  # the first (or only) body: checks, warm-up, h2load
    try:
        url = server.url + "/stir/v1/verification"
        check = httpx.post(url, content=one.read_bytes(), timeout=10).json()
        assert check == {"verificationResponse": {"verstat": "TN-Validation-Passed"}}, check
        for _ in range(200):  # warm the connection path and the caches
            httpx.post(url, content=one.read_bytes(), timeout=10)
        cpu = process_cpu(server.proc.pid)
        top = peak(url, body, seconds)
        cpu = process_cpu(server.proc.pid) - cpu
        out = {
            "max_rate_per_s": round(top["rate"]),
            "max_p50_ms": round(top["p50_ms"], 2),
            "max_p99_ms": round(top["p99_ms"], 2),
            "non_200": top["non_200"],
        }
        if top.get("requests") and cpu > 0:
            out["cpu_us_per_request"] = round(cpu / top["requests"] * 1e6, 1)
        if half and shutil.which("h2load"):
            h = h2load(url, one, seconds=seconds, clients=8, rps=top["rate"] / 2)
            out["half_rate_per_s"] = round(h["rate"])
            out["half_p50_ms"] = round(h["p50_ms"], 2)
            out["half_p99_ms"] = round(h["p99_ms"], 2)
            out["non_200"] += h["non_200"]
        return out
    finally:
        server.stop()


def _range(values: list[float], fmt: str = "{:.0f}") -> str:
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}-{fmt.format(hi)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument(
        "--servers",
        default="shakenkit",
        help=f"comma-separated, 1 worker each: {', '.join(SERVERS)} (default shakenkit)",
    )
    ap.add_argument("--workers", default="1,2", help="worker counts for shakenkit (default 1,2)")
    ap.add_argument("--reference-src", help="the src/ directory of the 'reference' server")
    ap.add_argument(
        "--distinct",
        type=int,
        default=0,
        help="N distinct PASSporTs sent in turn (every signature verified, as on a live trunk)"
        " instead of one header repeated (its signature answered from the memo)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--run-server", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_server:
        kind, port, workdir = args.run_server
        run_other_server(kind, int(port), Path(workdir))
        return 0
    servers = [s for s in args.servers.split(",") if s]
    workers = [int(w) for w in args.workers.split(",") if w]
    for kind in servers:
        if kind not in SERVERS:
            ap.error(f"unknown server {kind!r}")
    if "granian-asgi" in servers:
        try:
            import granian  # noqa: F401
        except ImportError:
            servers.remove("granian-asgi")
            print("granian is not installed: skipped", file=sys.stderr)
    if shutil.which("wrk") is None and shutil.which("h2load") is None:
        print("neither wrk nor h2load installed (apt: wrk nghttp2-client)", file=sys.stderr)
        return 1

    pki = make_pki(x5u=X5U, crl_url=None, not_before=IAT - 86_400, not_after=IAT + 86_400)
    headers = [pki.sign(orig=ORIG, dest=DEST, iat=IAT) for _ in range(max(1, args.distinct))]
    verifier = Verifier(trust_anchors=[pki.root_pem], certificates={X5U: pki.chain_pem})
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "root.pem").write_bytes(pki.root_pem)
        (work / "chain.pem").write_bytes(pki.chain_pem)
        lines = [
            json.dumps(
                {
                    "verificationRequest": {
                        "from": {"tn": ORIG},
                        "to": {"tn": [DEST]},
                        "time": IAT,
                        "identity": h,
                    }
                }
            )
            for h in headers
        ]
        (work / "body.json").write_text(lines[0])
        body = work / "body.json"
        if args.distinct:
            body = work / "bodies.jsonl"
            body.write_text("\n".join(lines) + "\n")
        for n in range(args.rounds):
            before, cpu_before = library_rate(verifier, headers, args.seconds)
            r: dict[str, Any] = {"library_before": round(before)}
            for kind in servers:
                for w in workers if kind == "shakenkit" else [1]:
                    half = kind == "shakenkit"
                    r[f"{kind}/{w}"] = measure_server(
                        kind, w, work, body, args.seconds, args.reference_src, half
                    )
            after, cpu_after = library_rate(verifier, headers, args.seconds)
            r["library_after"] = round(after)
            lib = (before + after) / 2
            lib_cpu = (cpu_before + cpu_after) / 2
            r["library"] = round(lib)
            r["library_cpu_us_per_call"] = round(lib_cpu, 1)
            for value in r.values():
                if isinstance(value, dict):
                    value["ratio_to_library"] = round(value["max_rate_per_s"] / lib, 3)
                    if "cpu_us_per_request" in value:
                        value["cpu_ratio"] = round(lib_cpu / value["cpu_us_per_request"], 3)
            one, two = r.get("shakenkit/1"), r.get("shakenkit/2")
            if one and two:
                r["two_workers_over_one"] = round(two["max_rate_per_s"] / one["max_rate_per_s"], 3)
            rounds.append(r)
            if not args.json:
                print(f"round {n + 1}: {json.dumps(r)}", file=sys.stderr)
    result = {"cpus": os.cpu_count(), "seconds": args.seconds, "rounds": rounds}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"cpus: {os.cpu_count()}, {args.rounds} rounds of {args.seconds:g} s (ranges: min-max)")
    lib_rates = _range([r["library"] for r in rounds])
    lib_cpu = _range([r["library_cpu_us_per_call"] for r in rounds], "{:.1f}")
    print(f"library: in-process averify   {lib_rates} /s, {lib_cpu} us CPU a call (reference)")
    keys = [k for k in rounds[0] if isinstance(rounds[0][k], dict)]
    for key in keys:
        rs = [r[key] for r in rounds]
        line = (
            f"{key:>16}: max {_range([x['max_rate_per_s'] for x in rs])} /s, ratio to library "
            f"{_range([x['ratio_to_library'] for x in rs], '{:.2f}')}, p50/p99 "
            f"{_range([x['max_p50_ms'] for x in rs], '{:.2f}')}/"
            f"{_range([x['max_p99_ms'] for x in rs], '{:.2f}')} ms"
        )
        if all("cpu_ratio" in x for x in rs):
            line += (
                f"; CPU {_range([x['cpu_us_per_request'] for x in rs], '{:.1f}')} us a request,"
                f" CPU ratio {_range([x['cpu_ratio'] for x in rs], '{:.2f}')}"
            )
        if "half_rate_per_s" in rs[0]:
            line += (
                f"; at half rate p50/p99 {_range([x['half_p50_ms'] for x in rs], '{:.2f}')}/"
                f"{_range([x['half_p99_ms'] for x in rs], '{:.2f}')} ms"
            )
        bad = sum(x["non_200"] for x in rs)
        print(line + (f"; NON-200 ANSWERS: {bad}" if bad else ""))
    if rounds[0].get("two_workers_over_one") is not None:
        print(
            f"2 workers / 1 worker: {_range([r['two_workers_over_one'] for r in rounds], '{:.2f}')}"
        )
    print("goals: 1 worker >= 0.60 of the library rate; p99 <= 10 ms at half the max rate; ")
    print("       2 workers >= 1.8x one (on two free cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
