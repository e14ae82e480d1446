"""The ``shakenkit`` command: ``verify`` Identity headers, run the offline ``demo``.

Exit status: 0 when every verdict is TN-Validation-Passed, 1 otherwise, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from . import __version__
from .errors import ShakenError
from .fetch import FetchPolicy
from .repository import HttpsSource, LayeredSource
from .sources import CertificateSource
from .verdict import Verdict
from .verifier import Policy, Verifier

__all__ = ["main"]


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"shakenkit: error: {message}\n")


VERIFY_EPILOG = """examples:
  shakenkit verify --trust root.pem --cert https://cr.example/sp.pem=chain.pem \\
      --orig +12155551212 --dest +12155551213 --now 1700000000 --json 'eyJ...;info=<https://cr.example/sp.pem>;ppt=shaken'
  cat headers.txt | shakenkit verify --trust root.pem --cert URL=chain.pem -
  shakenkit verify --trust root.pem --tls-ca lab-ca.pem --allow-host 127.0.0.1:8443 \\
      --min-ttl 60 --json --orig 12155551212 --dest 12155551213 "$IDENTITY"

exit status: 0 every header TN-Validation-Passed, 1 otherwise, 2 usage error
"""


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {what} {path!r}: {e.strerror or e}") from e


def _add_verification_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="PEM",
        help="trust anchor (STI-PA-approved root) PEM file or directory; repeatable",
    )
    p.add_argument(
        "--cert",
        action="append",
        default=[],
        metavar="URL=PEM_FILE",
        help="serve this certificate chain for this x5u URL (split at the last '='); repeatable",
    )
    p.add_argument(
        "--crl",
        action="append",
        default=[],
        metavar="PEM_FILE",
        help="CRL to check certificates against; repeatable",
    )
    p.add_argument(
        "--now",
        type=float,
        default=None,
        metavar="UNIX_SECONDS",
        help="verification time (default: now)",
    )
    p.add_argument(
        "--max-age",
        type=int,
        default=60,
        metavar="SECONDS",
        help="freshness window for iat (default 60, ATIS-1000074)",
    )
    p.add_argument(
        "--require-identity",
        action="store_true",
        help="a call without Identity gets 428 (default: No-TN-Validation)",
    )
    p.add_argument(
        "--strict-cert-policy",
        action="store_true",
        help="fail certificates without keyUsage or a SHAKEN policy OID",
    )
    g = p.add_argument_group(
        "fetching x5u and CRLs (live by default, for URLs not given with --cert)"
    )
    g.add_argument(
        "--tls-ca",
        metavar="PEM",
        default=None,
        help="trust this CA for the certificate repositories' TLS (labs)",
    )
    g.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="allow this host (any address, e.g. 127.0.0.1) and port; repeatable",
    )
    g.add_argument(
        "--cache-dir", metavar="DIR", default=None, help="persistent certificate cache directory"
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="total time for one fetch (default 5)",
    )
    g.add_argument(
        "--min-ttl",
        type=float,
        default=86_400.0,
        metavar="SECONDS",
        help="cache floor (default 86400, ATIS-1000074 v003)",
    )
    g.add_argument(
        "--crl-hard-fail",
        action="store_true",
        help="fail (437) when a certificate's CRL cannot be fetched (default soft-fail)",
    )
    g.add_argument(
        "--no-crl-fetch",
        action="store_true",
        help="do not fetch CRLs named by certificates (--crl files still apply)",
    )
    g.add_argument(
        "--offline", action="store_true", help="never fetch: only certificates given with --cert"
    )


def _build_verifier(args: argparse.Namespace) -> Verifier:
    certs: dict[str, bytes] = {}
    for spec in args.cert:
        url, sep, path = spec.rpartition("=")
        if not sep or not url or not path:
            raise UsageError(f"--cert wants URL=PEM_FILE, got {spec!r}")
        certs[url] = _read(path, "certificate file")
    anchors: list[bytes | str] = []
    for t in args.trust:
        if Path(t).is_dir():
            anchors.append(t)
        else:
            anchors.append(_read(t, "trust anchor file"))
    crls = [_read(c, "CRL file") for c in args.crl]
    if args.max_age <= 0:
        raise UsageError("--max-age must be positive")
    policy = Policy(
        max_age=args.max_age,
        future_tolerance=args.max_age,
        require_identity=args.require_identity,
        strict_certificate_policy=args.strict_cert_policy,
        crl_hard_fail=args.crl_hard_fail,
        fetch_crls=not args.no_crl_fetch,
    )
    try:
        if args.offline:
            return Verifier(trust_anchors=anchors, certificates=certs, crls=crls, policy=policy)
        source: CertificateSource = HttpsSource(_fetch_policy(args))
        if certs:
            source = LayeredSource(certs, source)
        return Verifier(trust_anchors=anchors, source=source, crls=crls, policy=policy)
    except ShakenError as e:
        raise UsageError(e.detail) from e
    except ValueError as e:
        raise UsageError(str(e)) from e


def _fetch_policy(args: argparse.Namespace) -> FetchPolicy:
    if args.tls_ca is not None:
        _read(args.tls_ca, "TLS CA file")
    if not args.timeout > 0:
        raise UsageError("--timeout must be positive")
    if args.min_ttl < 0:
        raise UsageError("--min-ttl must not be negative")
    if args.cache_dir is not None:
        try:
            Path(args.cache_dir).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create --cache-dir {args.cache_dir!r}: {e}") from e
    default = FetchPolicy()
    return FetchPolicy(
        allow_hosts=frozenset(args.allow_host),
        tls_ca_file=args.tls_ca,
        cache_dir=args.cache_dir,
        total_timeout=args.timeout,
        connect_timeout=min(default.connect_timeout, args.timeout),
        min_ttl=args.min_ttl,
        max_ttl=max(default.max_ttl, args.min_ttl),
    )


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
    lines = [head] + [f"  {x}" for x in extra] + [f"  warning: {w}" for w in v.warnings]
    return "\n".join(lines)


def _cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    headers: list[str] = []
    for h in args.identity:
        if h == "-":
            headers.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            headers.append(h)
    if not headers:
        raise UsageError("no Identity header given")
    verifier = _build_verifier(args)
    status = 0
    try:
        for h in headers:
            now = args.now if args.now is not None else time.time()
            v = verifier.verify(h, orig=args.orig, dest=args.dest, now=now)
            if not v.passed:
                status = 1
            out.write((v.model_dump_json() if args.json else _summary(v)) + "\n")
    finally:
        verifier.close()
    return status


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .testing import make_pki

    now = int(time.time())
    pki = make_pki(spc="123A", organization="Example Telecom")
    gateway = make_pki(
        spc="987Z", x5u="https://cr.gateway.example/987Z.pem", organization="Example Gateway"
    )
    forger = make_pki(spc="666F")
    verifier = Verifier(
        trust_anchors=[pki.root_pem, gateway.root_pem],
        certificates={**pki.certificates(), **gateway.certificates()},
    )
    a, b = "+1 215 555 1212", "+1 215 555 1213"
    good = pki.sign(orig=a, dest=b, attest="A", iat=now)
    forged = forger.sign(orig=a, dest=b, attest="A", iat=now, x5u=pki.x5u)
    stale = pki.sign(orig=a, dest=b, attest="A", iat=now - 3600)
    gw = gateway.sign(orig="+44 20 7946 0000", dest=b, attest="C", iat=now)
    cases = [
        ("A-attested call", good, a, b),
        ("forged signature", forged, a, b),
        ("replayed stale call", stale, a, b),
        ("C-attested gateway call", gw, "+44 20 7946 0000", b),
        ("caller-ID mismatch", good, "+1 215 555 9999", b),
        ("no Identity header", "", a, b),
    ]
    rows = [("call", "verstat", "attest", "caller_id", "error")]
    for name, header, o, d in cases:
        v = verifier.verify(header or None, orig=o, dest=d, now=now)
        err = f"{v.error.sip_code} {v.error.reason} ({v.error.check})" if v.error else "-"
        rows.append((name, v.verstat, v.attest or "-", v.caller_id, err))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out.write("shakenkit demo: an in-memory test PKI signs calls; the verifier judges them\n\n")
    for i, r in enumerate(rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
        if i == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation generation)."""
    p = _Parser(prog="shakenkit", description="STIR/SHAKEN verification (STI-VS).")
    p.add_argument("--version", action="version", version=f"shakenkit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser(
        "verify",
        help="verify Identity header values",
        description="Verify SIP Identity header values (RFC 8224, ATIS-1000074).",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument(
        "identity",
        nargs="+",
        metavar="IDENTITY",
        help="Identity header value; '-' reads values from stdin, one a line",
    )
    v.add_argument("--orig", help="calling number (From / P-Asserted-Identity)")
    v.add_argument("--dest", help="called number (To / Request-URI)")
    v.add_argument("--json", action="store_true", help="one JSON verdict a line (JSON Lines)")
    _add_verification_options(v)
    sub.add_parser(
        "demo",
        help="offline demo: sign and verify a few calls with a test PKI",
        description="Build a test PKI in memory, sign a few calls, verify them.",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shakenkit`` console script."""
    args = build_parser().parse_args(argv)
    out = sys.stdout
    try:
        if args.command == "verify":
            return _cmd_verify(args, out)
        return _cmd_demo(args, out)
    except UsageError as e:
        sys.stderr.write(f"shakenkit: error: {e}\n")
        return 2
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
