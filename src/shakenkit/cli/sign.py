"""``shakenkit sign``: sign a SHAKEN PASSporT and print the Identity header (tests, labs)."""

from __future__ import annotations

import argparse
import time
from typing import Any, TextIO

from .options import UsageError, check_x5u, load_signing_key

__all__ = ["add_parser", "run"]

SIGN_EPILOG = """examples:
  shakenkit sign --key sp-key.pem --x5u https://cr.example.com/sp/123A.pem \\
      --orig +12155551212 --dest +12155551213 --attest A
  shakenkit verify --offline --trust root.pem --cert https://cr.example.com/sp/123A.pem=chain.pem \\
      --orig +12155551212 --dest +12155551213 "$(shakenkit sign --key sp-key.pem ...)"

prints the Identity header value (RFC 8224 §4) of a SHAKEN PASSporT (RFC 8588) signed with
KEY (ECDSA P-256). For tests and labs: an STI-AS signs with an HSM-held key.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sign`` sub-command to ``subparsers``."""
    sg: argparse.ArgumentParser = subparsers.add_parser(
        "sign",
        help="sign a SHAKEN PASSporT and print the Identity header (tests, labs)",
        description="Sign a SHAKEN PASSporT (RFC 8225, RFC 8588) and print the Identity\n"
        "header value (RFC 8224).",
        epilog=SIGN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sg.add_argument("--key", required=True, metavar="PEM", help="the SP's ECDSA P-256 key")
    sg.add_argument("--x5u", required=True, metavar="URL", help="URL of the SP certificate chain")
    sg.add_argument("--orig", required=True, metavar="TN", help="calling number")
    sg.add_argument(
        "--dest", required=True, action="append", metavar="TN", help="called number; repeatable"
    )
    sg.add_argument("--attest", choices=("A", "B", "C"), default="A", help="default A")
    sg.add_argument("--origid", metavar="UUID", help="origination identifier (default: random)")
    sg.add_argument("--iat", type=int, metavar="UNIX_SECONDS", help="signing time (default: now)")
    return sg


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit sign``: print the Identity header value of a signed PASSporT."""
    import uuid

    from ..core.tn import canonicalize_tn
    from ..testing import sign_identity

    key = load_signing_key(args.key)
    if canonicalize_tn(args.orig) is None:
        raise UsageError(f"--orig {args.orig!r} is not a telephone number")
    for d in args.dest:
        if canonicalize_tn(d) is None:
            raise UsageError(f"--dest {d!r} is not a telephone number")
    check_x5u(args.x5u)
    if args.origid is not None:
        try:
            uuid.UUID(args.origid)
        except ValueError as e:
            raise UsageError(f"--origid {args.origid!r} is not a UUID (RFC 8588 §5)") from e
    header = sign_identity(
        key,
        x5u=args.x5u,
        orig=args.orig,
        dest=args.dest,
        attest=args.attest,
        origid=args.origid,
        iat=args.iat if args.iat is not None else int(time.time()),
    )
    out.write(header + "\n")
    return 0
