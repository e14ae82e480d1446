"""Generate evidence files in the published formats for an archive of make_archive.py: consumer
complaints (FTC Do-Not-Call complaint data and FCC consumer complaint data), a provider table
(``ocn,name,rmd_status``) and a Robocall Mitigation Database export with an OCN column, and
NANPA's code assignment report. Everything is made up (no real consumer's data).

    python benchmarks/make_evidence.py ARCHIVE_DIR [--complaints 50000] [--fcc 2000] [--seed 1]

Writes into ARCHIVE_DIR:

* ``DNC_Complaint_Numbers_2026-01-31.csv`` — ``--complaints`` rows in the FTC's columns
  (``Company_Phone_Number, Created_Date, Violation_Date, ...``): complaints about about one in
  eight calling numbers of the archive (the busiest more often), violation dates within 45 days
  of 2026-01-01 (some outside the default 30-day window), the rest about numbers never called;
* ``fcc_unwanted_calls.csv`` — ``--fcc`` rows in the FCC's columns (``Ticket ID, Ticket
  Created, Date of Issue, ..., Caller ID Number, ...``);
* ``providers.csv`` — ``ocn,name,rmd_status`` for all carriers but two;
* ``rmd.csv`` — the same providers as a Robocall Mitigation Database export with an ``ocn``
  column;
* ``allutlzd.txt`` — NANPA's central office code report (tab-separated) listing the exchanges
  of the archive's calling numbers as assigned, except about 3 %.
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import json
import random
import time
from pathlib import Path
from typing import Any

T0 = dt.datetime(2026, 1, 1)
FTC_HEADER = [
    "Company_Phone_Number", "Created_Date", "Violation_Date", "Consumer_City",
    "Consumer_State", "Consumer_Area_Code", "Subject", "Recorded_Message_Or_Robocall",
]  # fmt: skip
FCC_HEADER = [
    "Ticket ID", "Ticket Created", "Date of Issue", "Time of Issue", "Form", "Method", "Issue",
    "Caller ID Number", "Type of Call or Messge", "Advertiser Business Number", "City",
    "State", "Zip", "Location (Center point of the Zip Code)",
]  # fmt: skip
SUBJECTS = [
    "Reducing your debt (credit cards, mortgage, student loans)",
    "Calls pretending to be government, businesses, or family and friends",
    "Dropped call or no message",
    "Warranties & protection plans",
    "Energy, solar, & utilities",
    "Medical & prescriptions",
    "Computer & technical support",
    "Vacation & timeshares",
    "Other",
]
PLACES = [("Austin", "Texas", "512"), ("Columbus", "Ohio", "614"), ("Fresno", "California", "559"),
          ("Tampa", "Florida", "813"), ("Albany", "New York", "518")]  # fmt: skip
STATUSES = [
    "Complete STIR/SHAKEN Implementation",
    "Partial STIR/SHAKEN Implementation",
    "No STIR/SHAKEN Implementation",
]


def _ftc_row(rnd: random.Random, digits10: str, day: dt.datetime) -> list[str]:
    city, state, area = rnd.choice(PLACES)
    created = day + dt.timedelta(days=rnd.choice((0, 0, 1, 2, 5)), minutes=rnd.randrange(1440))
    return [
        digits10,
        created.strftime("%Y-%m-%d %H:%M:%S"),
        day.strftime("%Y-%m-%d %H:%M:%S"),
        city,
        state,
        area,
        rnd.choice(SUBJECTS),
        rnd.choice("YYN"),
    ]


def generate(
    archive: Path, complaints: int = 50_000, fcc: int = 2_000, seed: int = 1
) -> dict[str, Any]:
    """Write the evidence files into ``archive``; returns what was written."""
    rnd = random.Random(seed)
    manifest = json.loads((archive / "manifest.json").read_text())
    spcs = sorted(Path(p).stem for p in manifest["certificates"].values())
    volume: collections.Counter[str] = collections.Counter()
    with open(archive / "calls.jsonl", encoding="utf-8") as f:
        for line in f:
            orig = json.loads(line).get("orig")
            if isinstance(orig, str) and orig.startswith("+1") and len(orig) == 12:
                volume[orig[2:]] += 1
    called = sorted(volume, key=lambda n: (-volume[n], n))
    # complained-about: about 1 in 8 calling numbers, the busiest ones more often
    targets = [n for i, n in enumerate(called) if rnd.random() < (0.6 if i < 200 else 0.12)]
    ftc_path = archive / "DNC_Complaint_Numbers_2026-01-31.csv"
    rows = 0
    with open(ftc_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(FTC_HEADER)
        for n in targets:
            for _ in range(rnd.choice((1, 1, 1, 2, 3, 5))):
                if rows >= complaints:
                    break
                day = T0 + dt.timedelta(days=rnd.randint(-45, 45), seconds=rnd.randrange(86400))
                w.writerow(_ftc_row(rnd, n, day))
                rows += 1
        while rows < complaints:  # numbers the archive never called
            n = f"{rnd.randrange(2_000_000_000, 9_999_999_999):010d}"
            day = T0 + dt.timedelta(days=rnd.randint(-365, 60), seconds=rnd.randrange(86400))
            w.writerow(_ftc_row(rnd, n, day))
            rows += 1
    fcc_path = archive / "fcc_unwanted_calls.csv"
    with open(fcc_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(FCC_HEADER)
        for i in range(fcc):
            n = rnd.choice(targets) if targets and rnd.random() < 0.5 else (
                f"{rnd.randrange(2_000_000_000, 9_999_999_999):010d}")  # fmt: skip
            day = T0 + dt.timedelta(days=rnd.randint(-40, 40))
            city, state, _ = rnd.choice(PLACES)
            w.writerow([
                str(3_000_000 + i), (day + dt.timedelta(days=1)).strftime("%m/%d/%Y %I:%M:%S %p"),
                day.strftime("%m/%d/%Y"), f"{rnd.randint(1, 12)}:{rnd.randrange(60):02d} pm",
                "Phone", rnd.choice(("Wireless (cell phone/other mobile device)",
                                     "Wired", "Internet (VOIP)")),
                "Unwanted Calls", f"{n[:3]}-{n[3:6]}-{n[6:]}",
                rnd.choice(("Prerecorded Voice", "Live Voice", "Abandoned Calls")),
                "", city, state[:2].upper(), f"{rnd.randrange(10000, 99999)}", "",
            ])  # fmt: skip
    providers = [s for i, s in enumerate(spcs) if i not in (5, 11)]
    with open(archive / "providers.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ocn", "name", "rmd_status"])
        for i, spc in enumerate(providers):
            status = STATUSES[2] if spc in ("103A", "107A") else STATUSES[1 if i % 4 == 3 else 0]
            w.writerow([spc, f"Carrier {spc} Communications LLC", status])
    with open(archive / "rmd.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["number", "frn", "business_name", "business_address",
                    "foreign_voice_provider", "implementation", "voice_service_provider_choice",
                    "gateway_provider_choice", "intermediate_provider_choice", "ocn"])  # fmt: skip
        for i, spc in enumerate(providers):
            status = STATUSES[2] if spc in ("103A", "107A") else STATUSES[1 if i % 4 == 3 else 0]
            w.writerow([f"RMD{9000 + i:07d}", f"{30_000_000 + i:010d}",
                        f"Carrier {spc} Communications LLC", "1 Example Way, Springfield",
                        "No", status, "Yes", "Yes" if spc in ("103A", "107A") else "No", "Yes",
                        spc])  # fmt: skip
    exchanges = sorted({n[:6] for n in volume})
    with open(archive / "allutlzd.txt", "w", encoding="utf-8") as f:
        f.write("State\tNPA-NXX\tOCN\tCompany\tRateCenter\tEffectiveDate\tUse\tAssignDate\t"
                "Initial/Growth\n")  # fmt: skip
        for code in exchanges:
            if rnd.random() < 0.03:
                continue  # not assigned: calls from it are flagged
            f.write(f"PA\t{code[:3]}-{code[3:]}\t9{rnd.randrange(999):03d}\tEXAMPLE TEL CO\t"
                    "SPRINGFIELD\t01/01/2000\tAS\t01/01/2000\tI\n")  # fmt: skip
    return {
        "ftc": str(ftc_path),
        "ftc_rows": rows,
        "fcc": str(fcc_path),
        "fcc_rows": fcc,
        "complained_numbers_called": len(targets),
        "calling_numbers": len(volume),
        "providers": len(providers),
        "exchanges": len(exchanges),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", type=Path)
    ap.add_argument("--complaints", type=int, default=50_000)
    ap.add_argument("--fcc", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t = time.perf_counter()
    got = generate(a.archive, a.complaints, a.fcc, a.seed)
    print(json.dumps(got, indent=1))
    print(f"in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
