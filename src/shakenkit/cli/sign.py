"""``shakenkit sign``: sign a PASSporT and print the Identity header (:mod:`shakenkit.signing`)."""

from __future__ import annotations

import argparse
import time
from typing import Any, TextIO

from .options import UsageError, check_x5u, load_signing_key, read_file

__all__ = ["add_parser", "run"]

SIGN_EPILOG = """examples:
  shakenkit sign --key sp-key.pem --x5u https://cr.example.com/sp/123A.pem \\
      --orig +12155551212 --dest +12155551213 --attest A
  shakenkit verify --offline --trust root.pem --cert https://cr.example.com/sp/123A.pem=chain.pem \\
      --orig +12155551212 --dest +12155551213 "$(shakenkit sign --key sp-key.pem ...)"

  shakenkit sign --key carrier-b.pem --x5u https://cr.carrier-b.example/456B.pem \\
      --ppt div --orig +12155551212 --div +12155551213 --dest +12155551214
  shakenkit sign --key sp-key.pem --x5u https://cr.example.com/sp/123A.pem \\
      --orig +12155551212 --dest +12155551213 --nam "Q Branch" \\
      --icn https://brand.example/logo.png --rcd-content https://brand.example/logo.png=logo.png

prints the Identity header value (RFC 8224 §4) of a SHAKEN PASSporT (RFC 8588) signed with
KEY (ECDSA P-256); with --ppt div a diverted-call PASSporT (RFC 8946: orig as in the original,
--div the number diverted from, --dest the new target), with --nam etc. Rich Call Data
(RFC 9795; --rcd-content adds rcdi digests). The signer is shakenkit.signing, the library's
STI-AS (docs/guide.md, "Signing"); in production the key usually lives in an HSM.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sign`` sub-command to ``subparsers``."""
    sg: argparse.ArgumentParser = subparsers.add_parser(
        "sign",
        help="sign a SHAKEN (div, rcd) PASSporT and print the Identity header",
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
    sg.add_argument(
        "--ppt",
        choices=("shaken", "div", "div-o", "rcd"),
        default="shaken",
        help="PASSporT type (default shaken; div/div-o: RFC 8946, rcd: RFC 9795)",
    )
    sg.add_argument("--div", metavar="TN", help="div: the number the call is diverted from")
    sg.add_argument(
        "--opt", metavar="PASSPORT", help="div-o: the original PASSporT (or its Identity value)"
    )
    rg = sg.add_argument_group("Rich Call Data (RFC 9795)")
    rg.add_argument("--nam", metavar="TEXT", help="display name (rcd nam)")
    rg.add_argument("--apn", metavar="TN", help="alternate presentation number")
    rg.add_argument("--icn", metavar="URL", help="logo URL")
    rg.add_argument("--jcl", metavar="URL", help="jCard URL")
    rg.add_argument("--crn", metavar="TEXT", help="call reason (crn)")
    rg.add_argument(
        "--rcd-content",
        action="append",
        default=[],
        metavar="URL=FILE",
        help="content now at the --icn/--jcl URL: signs its digest in rcdi; repeatable",
    )
    return sg


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit sign``: print the Identity header value of a signed PASSporT."""
    import uuid

    from ..core.tn import canonicalize_tn
    from ..signing import sign_div, sign_rcd, sign_shaken

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
    extra = _sign_rcd(args)
    iat = args.iat if args.iat is not None else int(time.time())
    common: dict[str, Any] = {"x5u": args.x5u, "orig": args.orig, "dest": args.dest, "iat": iat}
    try:
        if args.ppt in ("div", "div-o"):
            if args.div is None or canonicalize_tn(args.div) is None:
                raise UsageError(f"--ppt {args.ppt} needs --div TN, the number diverted from")
            if (args.ppt == "div-o") != (args.opt is not None):
                raise UsageError(
                    "--opt (the original PASSporT) goes with --ppt div-o, and only there"
                )
            header = sign_div(key, div=args.div, opt=args.opt, extra_claims=extra, **common)
        elif args.div is not None or args.opt is not None:
            raise UsageError("--div and --opt go with --ppt div or div-o")
        elif args.ppt == "rcd":
            assert extra is not None  # _sign_rcd: --ppt rcd needs --nam
            header = sign_rcd(key, rcd=extra, **common)
        else:
            header = sign_shaken(
                key, attest=args.attest, origid=args.origid, extra_claims=extra, **common
            )
    except ValueError as e:  # what shakenkit.signing refuses
        raise UsageError(str(e)) from e
    out.write(header + "\n")
    return 0


def _sign_rcd(args: argparse.Namespace) -> dict[str, Any] | None:
    """Rich Call Data claims (RFC 9795) from the sign options, or None."""
    from ..signing import rcd_claims

    given = [args.apn, args.icn, args.jcl, args.crn, *args.rcd_content]
    if args.nam is None:
        if any(x for x in given):
            raise UsageError("--nam (the display name) is required with Rich Call Data options")
        if args.ppt == "rcd":
            raise UsageError("--ppt rcd needs --nam")
        return None
    content: dict[str, bytes] = {}
    for spec in args.rcd_content:
        url, sep, path = spec.rpartition("=")
        if not sep or url not in (args.icn, args.jcl):
            raise UsageError(
                f"--rcd-content wants URL=FILE for the --icn or --jcl URL, got {spec!r}"
            )
        content[url] = read_file(path, "rcd content file")
    for name in ("icn", "jcl"):
        url = getattr(args, name)
        if url is not None and not url.lower().startswith(("https://", "http://")):
            raise UsageError(f"--{name} {url!r} is not an http(s) URL")
    return rcd_claims(
        nam=args.nam,
        apn=args.apn,
        icn=args.icn,
        jcl=args.jcl,
        crn=args.crn,
        content=content,
        integrity=bool(content),
    )
