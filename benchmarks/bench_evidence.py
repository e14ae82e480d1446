"""Evidence at scale: time and peak memory to read 5 million complaint rows and to join them
with 1 million calls, against the same analysis without evidence, in the same run.

Generates (or reuses, ``--archive DIR``) an archive of ``--calls`` calls (make_archive.py) and
its evidence files (make_evidence.py: ``--complaints`` FTC rows, 1 % as many FCC rows, the
provider table, NANPA's exchange report), then runs each phase in a fresh Python process, so
that each peak resident set size is that phase's own:

* ``load`` — ``Evidence.load``: read and index every complaint row, the providers and the
  exchanges; rows per second, peak RSS above the interpreter's, the index's size;
* ``analyze`` — ``analyze_files`` on ``--workers`` processes (read, verify, aggregate), once
  without evidence and once joined with it (the evidence loaded first, outside the timing):
  calls per second, the parent's and the largest worker's peak RSS, and the counts.

No assertion on time: this script reports, it does not judge. The machine's load average is
printed before and after (the ratio needs otherwise idle cores).

    python benchmarks/bench_evidence.py [--calls 1000000] [--complaints 5000000]
        [--workers 2] [--archive DIR] [--keep] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FTC = "DNC_Complaint_Numbers_2026-01-31.csv"
FCC = "fcc_unwanted_calls.csv"


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _evidence(archive: Path) -> Any:
    from shakenkit.traceback import Evidence

    return Evidence.load(
        [archive / FTC, archive / FCC], [archive / "providers.csv"], archive / "allutlzd.txt"
    )


def phase_load(archive: Path) -> dict[str, Any]:
    import pickle

    from shakenkit.traceback import Evidence  # noqa: F401  (imports before the baseline)

    base = _maxrss_mb()
    t = time.perf_counter()
    ev = _evidence(archive)
    seconds = time.perf_counter() - t
    peak = _maxrss_mb() - base  # before pickling below
    c = ev.complaints
    assert c is not None
    index = c.nbytes
    rows = sum(f.rows for f in c.files)
    return {
        "phase": "load",
        "seconds": round(seconds, 2),
        "rows": rows,
        "rows_per_s": round(rows / seconds),
        "numbers": c.numbers,
        "index_mb": round(index / 2**20, 1),
        "pickled_mb": round(len(pickle.dumps(ev)) / 2**20, 1),
        "peak_rss_mb": round(peak, 1),
        "baseline_rss_mb": round(base, 1),
    }


def phase_analyze(archive: Path, workers: int, with_evidence: bool) -> dict[str, Any]:
    from shakenkit.traceback import VerifierConfig, analyze_files

    m = json.loads((archive / "manifest.json").read_text())
    cfg = VerifierConfig.load(
        [archive / m["trust"]], {u: archive / p for u, p in m["certificates"].items()}
    )
    base = _maxrss_mb()
    ev = _evidence(archive) if with_evidence else None
    held = _rss_mb() - base  # resident after the load (the index and the tables)
    t = time.perf_counter()
    agg = analyze_files([archive / "calls.jsonl"], cfg, workers=workers, evidence=ev)
    seconds = time.perf_counter() - t
    s = agg.summary()
    if ev is not None:
        rows = len(agg.complaints())
        agg.signers()  # the tables are part of the work
    else:
        rows = 0
    return {
        "phase": "analyze+evidence" if with_evidence else "analyze",
        "workers": workers,
        "seconds": round(seconds, 2),
        "calls": s["calls"],
        "calls_per_s": round(s["calls"] / seconds),
        "complained_calls": s["complained_calls"],
        "complained_numbers": rows,
        "unassigned_exchange_calls": s["unassigned_exchange_calls"],
        "parent_peak_rss_mb": round(_maxrss_mb() - base, 1),
        "evidence_rss_mb": round(held, 1),
        "worker_peak_rss_mb": round(_maxrss_mb(resource.RUSAGE_CHILDREN), 1),
    }


def _child(archive: Path, phase: str, workers: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--archive", str(archive), "--phase", phase,
           "--workers", str(workers)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--complaints", type=int, default=5_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--archive", type=Path, help="reuse (or create) the archive in DIR")
    ap.add_argument("--keep", action="store_true", help="keep a generated temporary archive")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--phase", choices=("load", "analyze", "analyze+evidence"),
                    help=argparse.SUPPRESS)  # fmt: skip
    a = ap.parse_args()
    if a.phase is not None:
        assert a.archive is not None
        if a.phase == "load":
            r = phase_load(a.archive)
        else:
            r = phase_analyze(a.archive, a.workers, a.phase == "analyze+evidence")
        print(json.dumps(r))
        return 0

    tmp = None
    archive = a.archive
    if archive is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
        archive = tmp
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    if not (archive / "calls.jsonl").exists():
        from make_archive import generate as make_calls

        t = time.perf_counter()
        make_calls(archive, a.calls)
        results["generate_calls_s"] = round(time.perf_counter() - t, 1)
    if not (archive / FTC).exists():
        from make_evidence import generate as make_evidence

        t = time.perf_counter()
        made = make_evidence(archive, a.complaints, max(a.complaints // 100, 1))
        results["generate_evidence_s"] = round(time.perf_counter() - t, 1)
        results["evidence_files"] = made
    try:
        results["load"] = _child(archive, "load", a.workers)
        results["analyze"] = _child(archive, "analyze", a.workers)
        results["analyze+evidence"] = _child(archive, "analyze+evidence", a.workers)
    finally:
        if tmp is not None and not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    plain, joined = results["analyze"], results["analyze+evidence"]
    results["join_time_ratio"] = round(joined["seconds"] / plain["seconds"], 3)
    if a.json:
        print(json.dumps(results, indent=1))
        return 0
    ld = results["load"]
    print(f"load average before {results['load_before']}, after {results['load_after']}")
    print(
        f"load evidence: {ld['rows']:,} complaint rows in {ld['seconds']} s "
        f"({ld['rows_per_s']:,} rows/s), {ld['numbers']:,} numbers; index {ld['index_mb']} MB, "
        f"peak RSS +{ld['peak_rss_mb']} MB"
    )
    for r in (plain, joined):
        print(
            f"{r['phase']:<17} {r['calls']:,} calls on {r['workers']} workers in {r['seconds']} s "
            f"({r['calls_per_s']:,} calls/s); peak RSS parent +{r['parent_peak_rss_mb']} MB "
            f"(evidence {r['evidence_rss_mb']} MB), largest worker {r['worker_peak_rss_mb']} MB"
        )
    print(
        f"joined: {joined['complained_calls']:,} complained-about calls from "
        f"{joined['complained_numbers']:,} numbers, {joined['unassigned_exchange_calls']:,} "
        f"from unassigned exchanges; time with evidence / without: {results['join_time_ratio']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
