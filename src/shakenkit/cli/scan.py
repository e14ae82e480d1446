"""``shakenkit scan``: verify the INVITEs in captures and call files, with a summary table."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from typing import Any, TextIO

from ..core.verdict import Verdict
from .options import UsageError, add_verification_options, build_verifier, open_out, safe
from .progress import Progress, input_size

__all__ = ["add_parser", "run"]

SCAN_EPILOG = """examples:
  shakenkit scan --offline --trust root.pem --cert https://cr.example/sp.pem=chain.pem calls.pcap
  shakenkit scan --trust /etc/sti/roots --json --out verdicts.jsonl trace.pcapng calls.sip
  shakenkit scan --offline --trust root.pem --cert URL=chain.pem --json batch.jsonl

inputs (sniffed by content, not by name; gzip too): pcap, pcapng (Ethernet, Linux cooked
SLL/SLL2, loopback, raw IP; IPv4/IPv6; UDP, TCP reassembled), SIP text files, JSON Lines
({"identity", "orig", "dest", "time", "call_id"}). Only INVITEs are verified.

captured calls are checked after the fact: freshness is judged at --now when given, else at the
packet's capture time (or the record's "time", or the message's Date header), else now.

output: one verdict per Identity header (an INVITE without one gets one No-TN-Validation
verdict) to stdout or --out, each written (and flushed) as soon as its message is complete, so
a live capture works: dumpcap -w - | shakenkit scan ... -
stderr: a progress line while it runs (only on a terminal), warnings (a truncated or corrupt
capture: the file and the byte offset), and a summary table at the end (--quiet: warnings only).
exit status: 0 every verdict TN-Validation-Passed, 1 otherwise, 2 usage or unreadable input
"""


def _scan_line(r: Any) -> str:
    v: Verdict = r.verdict
    where = r.record.location
    cid = f"  {r.record.call_id}" if r.record.call_id else ""
    if v.error is None:
        return f"{where}{cid}  {v.verstat}  attest={v.attest or '-'}  caller_id={v.caller_id}"
    e = v.error
    return (
        f"{where}{cid}  {v.verstat}  {e.sip_code} {e.reason} [{e.check}]  "
        f"caller_id={v.caller_id}\n  {e.detail}"
    )


def _table(title: str, counts: Counter[str]) -> list[str]:
    if not counts:
        return []
    kw = max(len(title) - 2, *(len(k) for k in counts))
    lines = [f"{title:<{kw + 2}}  {'count':>6}"]
    for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {k:<{kw}}  {n:>6}")
    return lines


class _ScanTally:
    """Counts for the summary table on stderr."""

    def __init__(self) -> None:
        self.files = 0
        self.calls = 0
        self.verdicts = 0
        self.skipped = 0
        self.counts: dict[str, Counter[str]] = {
            k: Counter() for k in ("verstat", "caller_id", "attest", "error", "signer SPC")
        }

    def add(self, v: Verdict) -> None:
        self.verdicts += 1
        self.counts["verstat"][v.verstat] += 1
        self.counts["caller_id"][v.caller_id] += 1
        self.counts["attest"][v.attest or "-"] += 1
        if v.error is not None:
            self.counts["error"][f"{v.error.sip_code} {v.error.check}"] += 1
        if v.signer is not None:
            self.counts["signer SPC"][v.signer.spc or "?"] += 1

    def report(self) -> str:
        def n(k: int, word: str) -> str:
            return f"{k} {word}{'s' if k != 1 else ''}"

        head = (
            f"shakenkit scan: {n(self.files, 'file')}, {n(self.calls, 'call')}, "
            f"{n(self.verdicts, 'verdict')}"
        )
        if self.skipped:
            head += f", {n(self.skipped, 'unusable record')} skipped"
        lines = [head]
        for title, c in self.counts.items():
            lines.extend(_table(title, c))
        return "\n".join(lines) + "\n"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``scan`` sub-command to ``subparsers``."""
    sc: argparse.ArgumentParser = subparsers.add_parser(
        "scan",
        help="verify the INVITEs in pcap/pcapng captures, SIP text files and JSON Lines",
        description="Verify every Identity header of every INVITE in captures and call files.",
        epilog=SCAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sc.add_argument("files", nargs="+", metavar="FILE", help="input file; '-' reads stdin")
    sc.add_argument("--json", action="store_true", help="one JSON object a verdict (JSON Lines)")
    sc.add_argument("--out", metavar="FILE", help="write the verdicts here (default stdout)")
    sc.add_argument(
        "--signed-only",
        action="store_true",
        help="skip INVITEs without an Identity header (default: a No-TN-Validation verdict each)",
    )
    sc.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress line and no summary table on stderr (warnings still)",
    )
    add_verification_options(
        sc,
        now_help="verification time (default: each packet's capture time, record's time or "
        "Date header, else now)",
    )
    return sc


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit scan``: 0 when every verdict is TN-Validation-Passed."""
    from ..sip.capture import CaptureError, read_records, sniff_file, verify_records

    if args.now is not None and not math.isfinite(args.now):
        raise UsageError("--now must be a finite number of Unix seconds")
    if args.files.count("-") > 1:
        raise UsageError("stdin ('-') can be read once")
    formats = set()
    for f in args.files:
        if f != "-":
            try:
                formats.add(sniff_file(f))
            except CaptureError as e:
                raise UsageError(str(e)) from e
    verifier = build_verifier(args)
    dest = open_out(args.out)
    err = sys.stderr
    unit = "packets" if formats and formats <= {"pcap", "pcapng"} else "records"
    progress = Progress(err, quiet=args.quiet, total_bytes=input_size(list(args.files)), unit=unit)
    tally = _ScanTally()
    status = 0

    def warn(message: str) -> None:
        progress.clear()
        err.write(f"shakenkit: warning: {safe(message)}\n")
        err.flush()

    def usable(records: Any) -> Any:
        """Pass records through; report JSON Lines records that cannot be used."""
        for r in records:
            if r.invalid is not None:
                tally.skipped += 1
                warn(f"{r.location}: {r.invalid}")
                continue
            yield r

    try:
        for path in args.files:
            tally.files += 1
            progress.next_file(f"scanning {safe('<stdin>' if path == '-' else path)}")
            last: object = None
            try:
                records = usable(read_records(path, progress=progress.read, on_warning=warn))
                for r in verify_records(verifier, records, now=args.now):
                    if r.record is not last:
                        last = r.record
                        tally.calls += 1
                        progress.verified(tally.calls)
                    if args.signed_only and r.header is None and r.record.error is None:
                        continue
                    tally.add(r.verdict)
                    if not r.verdict.passed:
                        status = 1
                    line = json.dumps(r.to_dict()) if args.json else safe(_scan_line(r))
                    dest.write(line + "\n")
                    dest.flush()  # a verdict is out as soon as its message is complete
            except CaptureError as e:
                raise UsageError(str(e)) from e
    finally:
        progress.done()
        verifier.close()
        if dest is not sys.stdout:
            dest.close()
    if tally.skipped:
        status = 1
    if not args.quiet:
        err.write(safe(tally.report()))
    return status
