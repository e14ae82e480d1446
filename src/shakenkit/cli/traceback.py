"""``shakenkit traceback``: verify captured or exported calls and tabulate who signed them.

Wired into the ``shakenkit`` parser by :mod:`shakenkit.cli` with :func:`add_parser` and run with
:func:`run`. See docs/traceback.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, TextIO

from ..errors import ShakenError
from ..sip.capture import CaptureError, CaptureWarning, sniff_format
from ..traceback import (
    DEFAULT_CHUNK_SIZE,
    Aggregator,
    LookupQuery,
    VerifierConfig,
    analyze_files,
    parse_time,
)
from ..traceback.evidence import MAX_WINDOW_DAYS, Evidence, EvidenceError
from ..traceback.incidents import (
    DEFAULT_INCIDENT_CALLS,
    DEFAULT_INCIDENT_LIMIT,
    DEFAULT_INCIDENT_MIN_CALLS,
)
from .options import (
    UsageError,
    add_verification_options,
    crl_signer_inputs,
    fetch_policy,
    verification_inputs,
)
from .progress import Progress, input_size

__all__ = ["add_parser", "config_from_args", "run"]

EPILOG = """examples:
  shakenkit traceback --offline --trust root.pem --cert https://cr.example/sp.pem=chain.pem \\
      calls.pcap calls.jsonl
  shakenkit traceback --trust roots/ --workers 4 --out results/ --report report.html day.jsonl.gz
  shakenkit traceback --trust roots/ --number +12155551212 \\
      --from 2026-01-01T00:00:00Z --to 2026-01-02T00:00:00Z calls.pcapng

Freshness is judged at each call's own time (capture timestamp, the record's "time", else its
Date header), not at the time of the analysis, unless --now is given. One verdict per call.

--out DIR writes verdicts.jsonl/.csv, signers.jsonl/.csv, origids.jsonl/.csv,
gateways.jsonl/.csv (lookup.jsonl/.csv with --number, complaints.jsonl/.csv with --complaints)
and summary.json. Without --out the signer table (and the lookup, the complained-about numbers)
is printed; --json prints them as JSON Lines, each row with a "table" member ("signers",
"lookup" or "complaints").

Evidence (docs/traceback.md): --complaints reads the FTC Do-Not-Call complaint data or the FCC
consumer complaint data (recognised by the header); a call matches the complaints about its
calling number whose violation date is within --complaint-window days of the call's day.
--providers reads 'ocn,name,rmd_status' or an RMD export with an OCN column; signer rows gain
"complained_calls" and "provider". --incidents DIR writes one JSON file and one printable page
per campaign (an origid, or a complained-about number) with --incident-min-calls calls or more.

TIME is Unix seconds or ISO 8601 (no offset: UTC).
exit status: 0 done, 2 usage error (or an input that cannot be read)
"""

NOW_HELP = (
    "judge freshness at this time (Unix seconds) instead of each call's own time "
    "(default: the call's capture or record time)"
)
MAX_SKIP_WARNINGS = 5


class _Usage(Exception):
    """A usage error: one ``shakenkit: error:`` line, exit status 2."""


def _time_arg(value: str) -> float:
    try:
        return parse_time(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``traceback`` sub-command to ``subparsers``, with the shared verification options
    (``--trust``, ``--cert``, ``--crl``, ``--now`` ...)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "traceback",
        help="verify call files and tabulate signers, origids and gateways",
        description=(
            "Verify the calls in captures and call files (pcap, pcapng, SIP text, JSON Lines; "
            "gzip too) and aggregate them by signing carrier, origid and gateway."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="input file; '-' reads stdin")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="verify on N processes (default 1; 0: one per CPU)",
    )
    p.add_argument("--out", metavar="DIR", help="write the verdicts and tables into DIR")
    p.add_argument("--report", metavar="HTML", help="write a self-contained HTML report")
    p.add_argument("--number", metavar="TN", help="look up the calls from this calling number")
    p.add_argument(
        "--from", dest="start", type=_time_arg, metavar="TIME", help="lookup window start"
    )
    p.add_argument("--to", dest="end", type=_time_arg, metavar="TIME", help="lookup window end")
    p.add_argument("--json", action="store_true", help="print tables as JSON Lines")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress line on stderr (warnings still)"
    )
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help=argparse.SUPPRESS)
    _add_evidence_options(p)
    add_verification_options(p, now_help=NOW_HELP)
    return p


def _add_evidence_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("evidence (complaints, provider records, NANP exchanges, incidents)")
    g.add_argument(
        "--complaints",
        action="append",
        default=[],
        metavar="CSV",
        help="complaints about unwanted calls: FTC Do-Not-Call complaint data or FCC consumer "
        "complaint data (CSV, gzip too); repeatable",
    )
    g.add_argument(
        "--complaint-window",
        type=int,
        default=30,
        metavar="DAYS",
        help="a call matches complaints whose violation date is within DAYS of its day "
        "(default 30)",
    )
    g.add_argument(
        "--providers",
        action="append",
        default=[],
        metavar="CSV",
        help="providers by OCN (the SPC): 'ocn,name,rmd_status' or a Robocall Mitigation "
        "Database export with an OCN column; repeatable",
    )
    g.add_argument(
        "--nanp-exchanges",
        metavar="FILE",
        help="NANPA's central office code assignments (allutlzd.txt): flag calls from "
        "unassigned NPA-NXX exchanges",
    )
    g.add_argument(
        "--incidents",
        metavar="DIR",
        help="write one JSON file and one printable HTML page per campaign into DIR",
    )
    g.add_argument(
        "--incident-min-calls",
        type=int,
        default=DEFAULT_INCIDENT_MIN_CALLS,
        metavar="N",
        help=f"campaigns with at least N calls (default {DEFAULT_INCIDENT_MIN_CALLS})",
    )
    g.add_argument(
        "--incident-limit",
        type=int,
        default=DEFAULT_INCIDENT_LIMIT,
        metavar="N",
        help=f"at most N incidents, most calls first (default {DEFAULT_INCIDENT_LIMIT}; 0: all)",
    )
    g.add_argument(
        "--incident-calls",
        type=int,
        default=DEFAULT_INCIDENT_CALLS,
        metavar="N",
        help=f"calls listed per incident (default {DEFAULT_INCIDENT_CALLS})",
    )


# -- configuration ----------------------------------------------------------------------------


def config_from_args(args: argparse.Namespace) -> VerifierConfig:
    """The picklable verifier configuration the verification options describe (the same rules
    as ``shakenkit verify``: ``--offline`` never fetches; otherwise ``x5u`` not given with
    ``--cert`` is fetched over HTTPS). Trust anchor directories and files are read here."""
    try:
        anchors, certs, crls, policy = verification_inputs(args)
        fetch = None if args.offline else fetch_policy(args)
        config = VerifierConfig(
            tuple(anchors), tuple(certs.items()), tuple(crls), policy, fetch,
            crl_signers=tuple(crl_signer_inputs(args)),
        )
        config.build().close()  # bad anchors or CRLs are usage errors, found here
        return config
    except UsageError as e:
        raise _Usage(str(e)) from e
    except ShakenError as e:
        raise _Usage(e.detail) from e
    except (ValueError, OSError) as e:
        raise _Usage(str(e)) from e


# -- inputs -----------------------------------------------------------------------------------


def _check_input(name: str) -> None:
    """Refuse, before any work, a file that cannot be read or is in no known format."""
    if name == "-":
        return
    if os.path.isdir(name):
        raise _Usage(f"cannot read {name}: is a directory")
    try:
        with open(name, "rb") as f:
            head = f.read(4096)
            if head[:2] == b"\x1f\x8b":
                f.seek(0)
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    head = g.read(4096)
    except (OSError, EOFError) as e:
        raise _Usage(f"cannot read {name}: {getattr(e, 'strerror', None) or e}") from e
    if head.strip() and sniff_format(head) is None:
        raise _Usage(f"{name}: unknown format (not pcap, pcapng, SIP messages or JSON Lines)")


# -- output -----------------------------------------------------------------------------------


def _clean(value: object, width: int | None = None) -> str:
    """Text for a terminal: control characters (escape sequences!) shown as ``\\xNN``."""
    s = "" if value is None else str(value)
    s = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in s)
    if width is not None and len(s) > width:
        s = s[: width - 1] + "…"
    return s


def _iso(t: float | None) -> str:
    import datetime as _dt

    if t is None:
        return "-"
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_table(out: TextIO, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def _pct(n: int, total: int) -> str:
    from ..traceback import share

    return f"{share(n, total) * 100:.1f}%"


def _print_text(agg: Aggregator, out: TextIO) -> None:
    s = agg.summary()
    c = s["caller_id"]
    out.write(
        f"{s['calls']} calls: {c['verified']} verified, {c['unverified']} unverified, "
        f"{c['likely_spoofed']} likely spoofed; {s['no_signer']} without a known signer; "
        f"{s['signers']} signers, {s['gateways']} signing C, {s['origids']} origids\n\n"
    )
    rows = []
    for r in agg.signers():
        n = r["calls"]
        rows.append(
            [
                _clean(r["spc"] or "?", 12),
                _clean(r["organization"], 32),
                _clean(r["issuer"], 40),
                str(n),
                str(r["attest"]["A"]),
                str(r["attest"]["B"]),
                str(r["attest"]["C"]),
                f"{r['caller_id']['verified']} ({_pct(r['caller_id']['verified'], n)})",
                str(r["caller_id"]["unverified"]),
                f"{r['caller_id']['likely_spoofed']} ({_pct(r['caller_id']['likely_spoofed'], n)})",
                str(r["numbers"]),
                " ".join(f"{e['sip_code']}:{e['calls']}" for e in r["top_errors"]) or "-",
            ]
        )
    header = [
        "SPC",
        "ORGANIZATION",
        "STI-CA",
        "CALLS",
        "A",
        "B",
        "C",
        "VERIFIED",
        "UNVERIFIED",
        "LIKELY_SPOOFED",
        "NUMBERS",
        "TOP_ERRORS",
    ]
    if rows:
        _print_table(out, header, rows)
    else:
        out.write("no call was signed by a known certificate\n")
    q = agg.query
    if q is not None:
        matches = agg.lookup()
        window = f"{_iso(q.start) if q.start is not None else '…'} to " + (
            _iso(q.end) if q.end is not None else "…"
        )
        out.write(f"\ncalls from {q.tn}, {window}: {len(matches)}\n")
        if matches:
            _print_table(
                out,
                [
                    "TIME",
                    "CALLING",
                    "CALLED",
                    "VERSTAT",
                    "ATTEST",
                    "CALLER_ID",
                    "ERROR",
                    "SPC",
                    "ORGANIZATION",
                    "ORIGID",
                    "WHERE",
                ],
                [
                    [
                        _iso(m["time"]),
                        _clean(m["calling"], 24),
                        _clean(m["called"], 24),
                        m["verstat"],
                        m["attest"] or "-",
                        m["caller_id"],
                        str(m["error_sip_code"] or "-"),
                        _clean(m["spc"] or "-", 12),
                        _clean(m["organization"] or "-", 32),
                        _clean(m["origid"] or "-", 40),
                        _clean(
                            f"{m['source']}:frame {m['frame']}"
                            if m["frame"] is not None
                            else f"{m['source']}:line {m['line']}",
                            60,
                        ),
                    ]
                    for m in matches
                ],
            )


def _print_json(agg: Aggregator, out: TextIO) -> None:
    for row in agg.signers():
        out.write(json.dumps({"table": "signers", **row}) + "\n")
    if agg.query is not None:
        for row in agg.lookup():
            out.write(json.dumps({"table": "lookup", **row}) + "\n")
    ev = agg.evidence
    if ev is not None and ev.complaints is not None:
        for row in agg.complaints():
            out.write(json.dumps({"table": "complaints", **row}) + "\n")


TOP_COMPLAINTS = 20


def _print_evidence(agg: Aggregator, out: TextIO) -> None:
    ev = agg.evidence
    if ev is None:
        return
    s = agg.summary()
    if ev.exchanges is not None:
        out.write(f"\n{s['unassigned_exchange_calls']} calls from unassigned NPA-NXX exchanges\n")
    if ev.complaints is None:
        return
    rows = agg.complaints()
    out.write(
        f"\n{s['complained_calls']} calls from {s['complained_numbers']} complained-about "
        f"numbers (complaints within {ev.window} days)\n"
    )
    if rows:
        _print_table(
            out,
            ["NUMBER", "COMPLAINTS", "CALLS", "SIGNERS", "GATEWAYS", "FIRST", "LAST"],
            [
                [
                    r["number"],
                    str(r["complaints"]),
                    str(r["calls"]),
                    _clean(" ".join(r["signers"]) or "-", 40),
                    _clean(" ".join(r["gateways"]) or "-", 40),
                    _iso(r["first_seen"]),
                    _iso(r["last_seen"]),
                ]
                for r in rows[:TOP_COMPLAINTS]
            ],
        )
        if len(rows) > TOP_COMPLAINTS:
            out.write(f"({len(rows) - TOP_COMPLAINTS} more with --out or --json)\n")


def _load_evidence(args: argparse.Namespace) -> Evidence | None:
    """The evidence the options name (None without any), read before any call is verified:
    an unusable file is a usage error."""
    if args.complaint_window < 0 or args.complaint_window > MAX_WINDOW_DAYS:
        raise _Usage(f"--complaint-window must be 0 to {MAX_WINDOW_DAYS} days")
    if args.incident_min_calls < 1 or args.incident_limit < 0 or args.incident_calls < 1:
        raise _Usage(
            "--incident-min-calls and --incident-calls must be >= 1, --incident-limit >= 0"
        )
    if not (args.complaints or args.providers or args.nanp_exchanges):
        return None
    try:
        ev = Evidence.load(
            args.complaints, args.providers, args.nanp_exchanges, window=args.complaint_window
        )
    except EvidenceError as e:
        raise _Usage(str(e)) from e
    files: list[Any] = []
    if ev.complaints is not None:
        files += ev.complaints.files
    if ev.providers is not None:
        files += ev.providers.files
    for f in files:
        bad = f.rows - f.used
        if f.format == "empty":
            sys.stderr.write(f"shakenkit: warning: {_clean(f.path)}: empty file\n")
        elif bad:
            sys.stderr.write(
                f"shakenkit: warning: {_clean(f.path)}: {bad} of {f.rows} rows unusable\n"
            )
    return ev


# -- the command ------------------------------------------------------------------------------


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit traceback``: 0 on success, 2 on a usage error (reported as one
    ``shakenkit: error: ...`` line on stderr)."""
    try:
        return _run(args, out)
    except _Usage as e:
        sys.stderr.write(f"shakenkit: error: {e}\n")
        return 2


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from ..traceback import write_report, write_tables

    files = list(args.files)
    if files.count("-") > 1:
        raise _Usage("'-' (stdin) can be given only once")
    if args.workers < 0:
        raise _Usage("--workers must be >= 0 (0: one per CPU)")
    if args.chunk_size < 1:
        raise _Usage("--chunk-size must be >= 1")
    lookup = None
    if args.number is not None:
        try:
            lookup = LookupQuery(args.number, args.start, args.end)
        except ValueError as e:
            raise _Usage(f"--number/--from/--to: {e}") from e
    elif args.start is not None or args.end is not None:
        raise _Usage("--from/--to need --number")
    for name in files:
        _check_input(name)
    config = config_from_args(args)
    evidence = _load_evidence(args)

    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _Usage(f"cannot create --out {args.out!r}: {e.strerror or e}") from e

    skipped: list[str] = []
    progress = Progress(
        sys.stderr, quiet=args.quiet, total_bytes=input_size(files), label="traceback"
    )

    def on_skip(where: str, why: str) -> None:
        if len(skipped) < MAX_SKIP_WARNINGS:
            progress.clear()
            sys.stderr.write(f"shakenkit: warning: {_clean(where)}: skipped: {_clean(why)}\n")
        skipped.append(where)

    def on_progress(read: int, nbytes: int, calls: int) -> None:
        progress.read(read, nbytes)
        progress.verified(calls)

    def show_warning(message: Any, *_: Any, **__: Any) -> None:  # a truncated capture ...
        progress.clear()
        sys.stderr.write(f"shakenkit: warning: {_clean(str(message))}\n")

    try:
        with contextlib.ExitStack() as stack:
            stack.callback(progress.done)
            stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("always", CaptureWarning)
            warnings.showwarning = show_warning
            jsonl: TextIO | None = None
            csv_out: TextIO | None = None
            if out_dir is None and args.incidents:  # incidents read the verdicts back
                jsonl = stack.enter_context(
                    tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")
                )
            if out_dir is not None:
                try:
                    jsonl = stack.enter_context(
                        open(out_dir / "verdicts.jsonl", "w", encoding="utf-8", newline="\n")
                    )
                    csv_out = stack.enter_context(
                        open(out_dir / "verdicts.csv", "w", encoding="utf-8", newline="")
                    )
                except OSError as e:
                    raise _Usage(f"cannot write {e.filename}: {e.strerror or e}") from e
            agg = analyze_files(
                files,
                config,
                workers=args.workers,
                now=args.now,
                lookup=lookup,
                verdicts_jsonl=jsonl,
                verdicts_csv=csv_out,
                chunk_size=args.chunk_size,
                on_skip=on_skip,
                progress=on_progress,
                evidence=evidence,
            )
            if args.incidents:
                _write_incidents(args, agg, config, jsonl, out_dir)
    except CaptureError as e:
        raise _Usage(str(e)) from e
    except (OSError, EOFError) as e:  # an input that breaks off (a truncated gzip file)
        raise _Usage(f"cannot read the input: {e}") from e
    n_skipped = agg.summary()["skipped_records"]
    if n_skipped > MAX_SKIP_WARNINGS:
        sys.stderr.write(f"shakenkit: warning: {n_skipped} records skipped in all\n")
    try:
        if out_dir is not None:
            write_tables(agg, out_dir)
        if args.report:
            write_report(agg, args.report, inputs=[_clean(f) for f in files])
    except OSError as e:
        raise _Usage(f"cannot write {e.filename or 'output'}: {e.strerror or e}") from e
    if out_dir is None:
        if args.json:
            _print_json(agg, out)
        else:
            _print_text(agg, out)
            _print_evidence(agg, out)
    elif not args.json:
        s = agg.summary()
        complained = (
            f", {s['complained_calls']} complained-about calls"
            if evidence is not None and evidence.complaints is not None
            else ""
        )
        out.write(
            f"{s['calls']} calls, {s['signers']} signers, {s['origids']} origids, "
            f"{s['gateways']} gateways{complained}: wrote {_clean(out_dir)}"
            + (f" and {_clean(args.report)}" if args.report else "")
            + "\n"
        )
    return 0


def _write_incidents(
    args: argparse.Namespace,
    agg: Aggregator,
    config: VerifierConfig,
    jsonl: TextIO | None,
    out_dir: Path | None,
) -> None:
    """The second pass: read the verdicts back and write the incidents of the campaigns."""
    from ..traceback import VerdictRecord
    from ..traceback.incidents import certificate_serials, write_incidents

    def records(f: TextIO) -> Any:
        for line in f:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                yield VerdictRecord.from_dict(json.loads(line))

    if jsonl is not None:
        jsonl.flush()
    source: TextIO = (
        open(out_dir / "verdicts.jsonl", encoding="utf-8")  # noqa: SIM115
        if out_dir is not None
        else jsonl  # type: ignore[assignment]
    )
    if out_dir is None:
        source.seek(0)
    try:
        write_incidents(
            agg,
            records(source),
            args.incidents,
            min_calls=args.incident_min_calls,
            limit=args.incident_limit or None,
            sample=args.incident_calls,
            serials=certificate_serials(config),
        )
    except EvidenceError as e:
        raise _Usage(str(e)) from e
    except OSError as e:
        raise _Usage(f"cannot write {e.filename or args.incidents}: {e.strerror or e}") from e
    finally:
        if out_dir is not None:
            source.close()
