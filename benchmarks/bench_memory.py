"""Memory under attacker-chosen input: RSS growth of one verifier fed distinct hostile values.

Each scenario runs in a fresh Python process, warms the verifier up, reads ``VmRSS`` from
``/proc/self/status``, makes the calls, collects garbage and reads ``VmRSS`` again. Printed:
the growth in MiB against the 64 MiB goal (issue 16 item 5), and the cache sizes the verifier
reports, where it reports them.

* ``static-x5u``: 20,000 calls through ``Verifier(certificates=...)`` (a ``StaticSource``), each
  signed for a distinct, unknown 5 KB ``x5u`` URL (verdict 436).
* ``https-x5u``: the same through the default ``HttpsSource``, each URL on an allow-listed
  127.0.0.1 port where nothing listens (connection refused, a negative cache entry per URL).
* ``headers``: 5,000 distinct 7 KB Identity headers for a known ``x5u``, signed with the SP's key
  (each protected header padded with a distinct 5 KB member), so every one verifies.

No assertions: this script reports. ``--json`` prints one JSON object.

    python benchmarks/bench_memory.py [--json] [--calls 20000] [--headers 5000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

GOAL_MIB = 64.0
ORIG, DEST = "12155551212", "12155551213"


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/status (Linux)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        match = re.search(r"^VmRSS:\s+(\d+)\s+kB", handle.read(), re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _url(base: str, i: int, size: int = 5_000) -> str:
    head = f"{base}/{i:08d}/"
    return head + "x" * (size - len(head) - 4) + ".pem"


def _stats(verifier: Any) -> Any:
    stats = getattr(verifier.source, "stats", None)
    return stats() if callable(stats) else None


def _memo_stats() -> Any:
    from shakenkit.core import passport

    memo = getattr(passport, "header_memo_stats", None)
    return memo() if callable(memo) else None


def scenario(name: str, calls: int) -> dict[str, Any]:
    """Run one scenario in this process; the measured RSS growth and what the caches report."""
    from shakenkit import Verifier
    from shakenkit.repository import FetchPolicy
    from shakenkit.testing import make_pki

    pki = make_pki(crl_url=None)
    now = time.time()
    verifier: Any
    if name == "static-x5u":
        verifier = Verifier(trust_anchors=[pki.root_pem], certificates=pki.certificates())
        base = "https://cr.example.com/unknown"
    elif name == "https-x5u":
        port = _closed_port()
        verifier = Verifier(
            trust_anchors=[pki.root_pem],
            fetch=FetchPolicy(
                allow_hosts=frozenset({f"127.0.0.1:{port}"}), connect_timeout=1.0
            ),
        )
        base = f"https://127.0.0.1:{port}/sp"
    elif name == "headers":
        verifier = Verifier(trust_anchors=[pki.root_pem], certificates=pki.certificates())
    else:
        raise SystemExit(f"unknown scenario {name!r}")

    def call(i: int) -> str:
        if name == "headers":
            pad = f"{i:08d}" + "p" * 4_992
            identity = pki.sign(
                orig=ORIG, dest=DEST, iat=int(now), header_overrides={"pad": pad}
            )
        else:
            identity = pki.sign(orig=ORIG, dest=DEST, iat=int(now), x5u=_url(base, i))
        return verifier.verify(identity, orig=ORIG, dest=DEST, now=now).verstat

    for i in range(200):  # warm-up: imports, first allocations, interpreter caches
        call(-1 - i)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    verstats: dict[str, int] = {}
    for i in range(calls):
        v = call(i)
        verstats[v] = verstats.get(v, 0) + 1
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    return {
        "scenario": name,
        "calls": calls,
        "rss_growth_mib": round((after - before) / 2**20, 1),
        "goal_mib": GOAL_MIB,
        "seconds": round(elapsed, 1),
        "verstats": verstats,
        "source_stats": _stats(verifier),
        "header_memo": _memo_stats(),
    }


def _brief(stats: Any) -> str:
    """Entry counts and bytes from a stats() dict (any nesting), for the table."""
    if not isinstance(stats, dict):
        return "-"
    keys = ("entries", "bytes", "negative_entries", "negative_bytes")
    parts = []
    if any(k in stats for k in keys):
        parts.append(" ".join(f"{k}={stats[k]}" for k in keys if k in stats))
    for key, value in stats.items():
        if key != "limits" and isinstance(value, dict) and any(k in value for k in keys):
            parts.append(f"{key}: " + " ".join(f"{k}={value[k]}" for k in keys if k in value))
    return "; ".join(parts) or "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--calls", type=int, default=20_000, help="x5u scenarios (20,000)")
    ap.add_argument("--headers", type=int, default=5_000, help="header scenario (5,000)")
    ap.add_argument("--scenario", help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.scenario:
        print(json.dumps(scenario(args.scenario, args.calls)))
        return
    results = []
    plan = (("static-x5u", args.calls), ("https-x5u", args.calls), ("headers", args.headers))
    for name, calls in plan:
        child = subprocess.run(
            [sys.executable, __file__, "--scenario", name, "--calls", str(calls)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps({"results": results}, indent=2))
        return
    print(f"{'scenario':<12} {'calls':>7} {'RSS growth':>11} {'goal':>7}  {'s':>6}  caches")
    for r in results:
        caches = _brief(r["source_stats"])
        if r["header_memo"]:
            caches += f"; header memo: {_brief(r['header_memo'])}"
        print(
            f"{r['scenario']:<12} {r['calls']:>7} {r['rss_growth_mib']:>8.1f} MiB "
            f"{r['goal_mib']:>4.0f} MiB {r['seconds']:>6.1f}  {caches}"
        )
        print(f"{'':<12} verdicts: {r['verstats']}")


if __name__ == "__main__":
    main()
