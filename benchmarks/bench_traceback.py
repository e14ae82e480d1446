"""Traceback throughput: records per second on 1 and on 2 worker processes, in the same run.

Generates (or reuses, ``--archive DIR``) a call archive of ``--calls`` calls (default 100,000)
from 24 signing carriers with a realistic mix (benchmarks/make_archive.py: A/B/C, unsigned,
forged, stale, mismatched, unknown x5u, untrusted root), then times, for each worker count:

* ``analyze_files`` — what ``shakenkit traceback`` runs: read the JSON Lines file (cut into
  slices the workers parse), verify every call at its own time, aggregate (signers, origids,
  gateways, timeline);
* the same with every verdict also serialized to JSON Lines and CSV (to /dev/null), as
  ``--out`` does;
* ``verify_many`` over ``read_records`` — verdict records streamed back to this process in
  input order (reading happens here).

Workers = 1 runs in this process (no pool); workers = 2 uses two processes, each with its own
verifier. For each run it prints records/s and the CPU seconds spent in this process and in the
workers, and compares the aggregates of the two runs (they must be identical). The ratio needs
two otherwise idle cores: the load average before and after is printed. No assertion on time:
this script reports, it does not judge.

    python benchmarks/bench_traceback.py [--calls 100000] [--archive DIR] [--repeat 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_archive import generate  # noqa: E402

from shakenkit.sip.capture import read_records  # noqa: E402
from shakenkit.traceback import (  # noqa: E402
    DEFAULT_CHUNK_SIZE,
    VerifierConfig,
    analyze_files,
    verify_many,
)


def load(archive: Path) -> tuple[Path, VerifierConfig, dict[str, Any]]:
    m = json.loads((archive / "manifest.json").read_text())
    cfg = VerifierConfig.load(
        [archive / m["trust"]], {u: archive / p for u, p in m["certificates"].items()}
    )
    return archive / "calls.jsonl", cfg, m


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # pool workers, once they exited
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class Run(NamedTuple):
    seconds: float
    calls: int
    main_cpu: float
    worker_cpu: float
    tables: dict[str, Any] | None


def run_analyze(path: Path, cfg: VerifierConfig, workers: int, chunk: int, outputs: bool) -> Run:
    m0, w0 = _cpu()
    t = time.perf_counter()
    with open(os.devnull, "w") as j, open(os.devnull, "w") as c:
        agg = analyze_files(
            [path],
            cfg,
            workers=workers,
            chunk_size=chunk,
            verdicts_jsonl=j if outputs else None,
            verdicts_csv=c if outputs else None,
        )
    dt = time.perf_counter() - t
    m1, w1 = _cpu()
    return Run(dt, agg.summary()["calls"], m1 - m0, w1 - w0, agg.tables())


def run_verify_many(path: Path, cfg: VerifierConfig, workers: int, chunk: int) -> Run:
    m0, w0 = _cpu()
    t = time.perf_counter()
    n = sum(1 for _ in verify_many(read_records(path), cfg, workers=workers, chunk_size=chunk))
    dt = time.perf_counter() - t
    m1, w1 = _cpu()
    return Run(dt, n, m1 - m0, w1 - w0, None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--archive", type=Path, help="reuse (or create) the archive in this dir")
    ap.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs per measurement")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    tmp = None
    archive = a.archive
    if archive is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-traceback-")
        archive = Path(tmp.name)
    if not (archive / "manifest.json").exists():
        t = time.perf_counter()
        m = generate(archive, a.calls)
        if not a.json:
            print(
                f"generated {m['calls']} calls from {m['carriers']} carriers in "
                f"{time.perf_counter() - t:.1f} s; mix {m['mix']}"
            )
    path, cfg, m = load(archive)
    results: dict[str, Any] = {
        "calls": m["calls"],
        "carriers": m["carriers"],
        "mix": m["mix"],
        "cpus": os.cpu_count(),
        "chunk_size": a.chunk_size,
        "loadavg_before": os.getloadavg()[0],
    }
    kinds = {
        "analyze": lambda w: run_analyze(path, cfg, w, a.chunk_size, False),
        "analyze+outputs": lambda w: run_analyze(path, cfg, w, a.chunk_size, True),
        "verify_many": lambda w: run_verify_many(path, cfg, w, a.chunk_size),
    }
    tables: dict[int, Any] = {}
    for kind, fn in kinds.items():
        for workers in (1, 2):
            best = min((fn(workers) for _ in range(a.repeat)), key=lambda r: r.seconds)
            results[f"{kind}_w{workers}"] = {
                "records_per_s": round(best.calls / best.seconds),
                "seconds": round(best.seconds, 2),
                "main_cpu_s": round(best.main_cpu, 2),
                "worker_cpu_s": round(best.worker_cpu, 2),
            }
            if kind == "analyze":
                tables[workers] = best.tables
        results[f"{kind}_ratio"] = round(
            results[f"{kind}_w2"]["records_per_s"] / results[f"{kind}_w1"]["records_per_s"], 2
        )
    results["identical_aggregates"] = tables[1] == tables[2]
    results["loadavg_after"] = os.getloadavg()[0]
    if a.json:
        print(json.dumps(results))
    else:
        print(f"{results['calls']} calls, {results['carriers']} carriers, {os.cpu_count()} CPUs")
        print(
            f"{'':16} {'1 worker':>10} {'2 workers':>10} {'ratio':>6}   "
            "CPU s (this process + workers), 1 | 2 workers"
        )
        for kind in kinds:
            r1, r2 = results[f"{kind}_w1"], results[f"{kind}_w2"]
            print(
                f"{kind:16} {r1['records_per_s']:>8}/s {r2['records_per_s']:>8}/s "
                f"{results[kind + '_ratio']:>5}x   "
                f"{r1['main_cpu_s']:.1f} + {r1['worker_cpu_s']:.1f} | "
                f"{r2['main_cpu_s']:.1f} + {r2['worker_cpu_s']:.1f}"
            )
        print(f"aggregates identical on 1 and 2 workers: {results['identical_aggregates']}")
        print(
            f"load average before/after: {results['loadavg_before']:.2f} / "
            f"{results['loadavg_after']:.2f}"
        )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
