"""``shakenkit verify``: Identity header values, or every Identity header of a SIP message."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from ..core.verdict import Verdict
from .options import UsageError, add_verification_options, build_verifier

__all__ = ["add_parser", "run"]

VERIFY_EPILOG = """examples:
  shakenkit verify --trust root.pem --cert https://cr.example/sp.pem=chain.pem \\
      --orig +12155551212 --dest +12155551213 --now 1700000000 --json 'eyJ...;info=<https://cr.example/sp.pem>;ppt=shaken'
  cat headers.txt | shakenkit verify --trust root.pem --cert URL=chain.pem -
  shakenkit verify --trust root.pem --tls-ca lab-ca.pem --allow-host 127.0.0.1:8443 \\
      --min-ttl 60 --json --orig 12155551212 --dest 12155551213 "$IDENTITY"
  shakenkit verify --offline --trust root.pem --cert URL=chain.pem --sip invite.sip
  sip-hook | shakenkit verify --trust root.pem --json --sip -

with --sip, the calling number is P-Asserted-Identity's (else From's), the called number To's
(else the Request-URI's), and Date rebuilds a compact form; freshness is judged at --now or
the current time.

without --orig and --dest (a smoke check of a header) no number is compared: the verdict is
No-TN-Validation (no TN was validated, docs/verdicts.md) and says whether the signature verified.

each IDENTITY value is verified as a call of its own; --sip verifies one call (all its
Identity headers) and prints the call's verdict, each header's outcome under it.

exit status: 0 every verdict TN-Validation-Passed (without --orig/--dest: every signature
verified and nothing failed), 1 otherwise, 2 usage error
"""


def _summary(v: Verdict) -> str:
    if v.error is None:
        head = f"{v.verstat}  attest={v.attest or '-'}  caller_id={v.caller_id}"
    else:
        e = v.error
        head = (
            f"{v.verstat}  {e.sip_code} {e.reason} [{e.check}]  caller_id={v.caller_id}\n"
            f"  {e.detail}"
        )
    extra = []
    if v.signer is not None:
        extra.append(f"signer SPC {v.signer.spc or '?'} ({v.signer.subject})")
    if v.origid:
        extra.append(f"origid {v.origid}")
    for lk in v.diversion:  # RFC 8946 links
        spc = lk.signer.spc if lk.signer is not None else "?"
        extra.append(
            f"div {lk.div_tn or '?'} -> {', '.join(lk.dest_tns) or '?'} by SPC {spc}: {lk.result}"
        )
    if v.rcd is not None:  # RFC 9795
        extra.append(f"rcd name {v.rcd.nam!r} (integrity {v.rcd.integrity})")
    if v.verstat == "No-TN-Validation" and v.signature_verified:
        extra.append("signature verified; numbers not compared (give --orig and --dest)")
    if len(v.headers) > 1:
        for h in v.headers:
            where = f"header {h.index}" if h.index is not None else "div-o original"
            why = f" {h.error.sip_code} [{h.error.check}]" if h.error is not None else ""
            extra.append(f"{where} ({h.ppt or '?'}) on its own: {h.verstat}{why}")
    lines = [head] + [f"  {x}" for x in extra] + [f"  warning: {w}" for w in v.warnings]
    return "\n".join(lines)


def _ok(v: Verdict, numbers_given: bool) -> bool:
    """Exit status 0 for this verdict: Passed; without the numbers, a verified signature and
    no failure (the smoke check of a header)."""
    if v.passed:
        return True
    return not numbers_given and v.error is None and v.signature_verified


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``verify`` sub-command to ``subparsers``."""
    v: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="verify Identity header values, or the Identity headers of a SIP message",
        description="Verify SIP Identity header values (RFC 8224, ATIS-1000074).",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument(
        "identity",
        nargs="*",
        metavar="IDENTITY",
        help="Identity header value; '-' reads values from stdin, one a line (none with --sip)",
    )
    v.add_argument(
        "--sip",
        metavar="FILE",
        help="verify every Identity header of this SIP request ('-' reads stdin), with the "
        "numbers and Date from the message",
    )
    v.add_argument("--orig", help="calling number (From / P-Asserted-Identity)")
    v.add_argument("--dest", help="called number (To / Request-URI)")
    v.add_argument("--json", action="store_true", help="one JSON verdict a line (JSON Lines)")
    v.set_defaults(parser=v)
    add_verification_options(v)
    return v


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit verify``: 0 when every verdict is TN-Validation-Passed (module epilog)."""
    if args.sip is not None:
        return _verify_sip(args, out)
    headers: list[str] = []
    for h in args.identity:
        if h == "-":
            headers.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            headers.append(h)
    if not headers:
        raise UsageError("no Identity header given")
    verifier = build_verifier(args)
    status = 0
    try:
        for h in headers:
            now = args.now if args.now is not None else time.time()
            v = verifier.verify(h, orig=args.orig, dest=args.dest, now=now)
            if not _ok(v, args.orig is not None and args.dest is not None):
                status = 1
            out.write((v.model_dump_json() if args.json else _summary(v)) + "\n")
    finally:
        verifier.close()
    return status


def _verify_sip(args: argparse.Namespace, out: TextIO) -> int:
    from ..core.sip_message import DEFAULT_MAX_MESSAGE_BYTES

    if args.identity:
        raise UsageError("give IDENTITY values or --sip FILE, not both")
    if args.orig is not None or args.dest is not None:
        raise UsageError(
            "--orig/--dest cannot be used with --sip: the numbers come from the message"
        )
    limit = DEFAULT_MAX_MESSAGE_BYTES
    if args.sip == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        data = stdin.read(limit + 1) if stdin is not None else sys.stdin.read(limit + 1).encode()
    else:
        try:
            with open(args.sip, "rb") as f:
                data = f.read(limit + 1)
        except OSError as e:
            raise UsageError(f"cannot read SIP message {args.sip!r}: {e.strerror or e}") from e
    if _more_than_one_message(data):
        sys.stderr.write(
            f"shakenkit: warning: {args.sip} holds more than one SIP message; only the first "
            "is verified (shakenkit scan reads them all)\n"
        )
    verifier = build_verifier(args)
    status = 0
    try:
        # parse_sip refuses more than `limit` bytes: an oversized message is a 438 verdict.
        v = verifier.verify_sip(data, now=args.now)
        if not v.passed:
            status = 1
        out.write((v.model_dump_json() if args.json else _summary(v)) + "\n")
    finally:
        verifier.close()
    return status


def _more_than_one_message(data: bytes) -> bool:
    """Does a SIP start line follow the first message's Content-Length body?"""
    from ..core.sip_message import SipParseError, parse_sip
    from ..sip.framing import is_start_line

    try:
        m = parse_sip(data)
    except SipParseError:
        return False
    cl = m.header("content-length")
    rest = m.body[int(cl) :] if cl is not None else m.body
    return any(is_start_line(line.rstrip(b"\r")) for line in rest.split(b"\n"))
