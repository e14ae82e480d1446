"""``shakenkit cert``: show STI certificates and chains, lint them against the SHAKEN profile."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..errors import ShakenError
from ..repository.https import HttpsSource
from .options import (
    STRICT_PROFILE_HELP,
    UsageError,
    add_tls_options,
    read_file,
    safe,
    stipa_fetch_policy,
)

__all__ = ["add_parser", "run"]

CERT_EPILOG = """examples:
  shakenkit cert chain.pem
  shakenkit cert --trust root.pem --at 1767225600 --json chain.pem other.pem
  shakenkit cert --trust roots/ https://cr.example.com/sp/123A.pem
  find certs/ -name '*.pem' -print0 | xargs -0 shakenkit cert --json > report.jsonl

each FILE is a PEM (or DER) bundle, leaf first; a URL is fetched like an x5u (HTTPS only).
findings lint the SHAKEN certificate profile (ATIS-1000080 §6.4.1, SHAKEN CP): error, warning
or info. exit status: 0 every input read (and, with --trust, trusted), 1 otherwise, 2 usage
"""


def _cert_inputs(args: argparse.Namespace) -> Any:
    from ..certs.certificate import parse_chain
    from ..errors import CertificateError, CertificateFetchError

    source: HttpsSource | None = None
    try:
        for item in args.inputs:
            if item.lower().startswith(("https://", "http://")):
                if source is None:
                    source = HttpsSource(stipa_fetch_policy(args))
                try:
                    yield item, source.get(item), None
                except CertificateFetchError as e:
                    yield item, None, e.detail
                continue
            data = read_file(item, "certificate file")
            try:
                yield item, parse_chain(data, max_certs=1000, max_bytes=1 << 24), None
            except CertificateError as e:
                yield item, None, e.detail
    finally:
        if source is not None:
            source.close()


def _cert_text(item: str, obj: dict[str, Any]) -> str:
    if obj.get("error"):
        return f"{item}\n  error: {obj['error']}\n"
    lines = [item]
    certs = obj["certificates"]
    for i, c in enumerate(certs):
        ind = "  " if i == 0 else "    "
        if i == 1:
            lines.append("  other certificates in the bundle:")
        tnal = ", ".join(":".join(str(x) for x in e) for e in c["tnauthlist"] or []) or "none"
        key = c["key"]
        cdps = "; ".join(
            " ".join(p["urls"])
            + (f" (cRLIssuer {', '.join(p['crl_issuer'])})" if p["crl_issuer"] else "")
            for p in c["crl_distribution_points"]
        )
        lines += [
            f"{ind}subject:   {c['subject']}",
            f"{ind}issuer:    {c['issuer']}",
            f"{ind}role:      {c['role']}   SPC: {c['spc'] or '-'}   TNAuthList: {tnal}",
            f"{ind}validity:  {c['not_before']} .. {c['not_after']}",
            f"{ind}key:       {key['type']} {key['curve'] or ''} {key['bits'] or ''}".rstrip()
            + f"   signature: {c['signature_algorithm']}",
            f"{ind}policies:  {', '.join(c['policies']) or 'none'}",
            f"{ind}CRL DP:    {cdps or 'none'}",
            f"{ind}serial:    {c['serial']}   sha256: {c['sha256']}",
        ]
        for f in c["findings"]:
            lines.append(f"{ind}  {f['severity']:<7} {f['id']}: {f['message']}")
        if i == 0:
            ch = obj["chain"]
            if ch["trusted"] is None:
                lines.append("  chain:     not checked (no --trust)")
            elif ch["trusted"]:
                lines.append(f"  chain:     trusted ({' -> '.join(ch['path'])})")
            else:
                lines.append(f"  chain:     NOT trusted: {ch['error']}")
            lines += [f"    note: {n}" for n in ch.get("notes") or ()]
    return "\n".join(lines) + "\n"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``cert`` sub-command to ``subparsers``."""
    c: argparse.ArgumentParser = subparsers.add_parser(
        "cert",
        help="show STI certificates and chains, lint them against the SHAKEN profile",
        description="Show STI certificates or chains (files or x5u URLs): subject, SPC,\n"
        "TNAuthList, validity, key, policies, CRL distribution point, chain status, and\n"
        "findings against the ATIS-1000080 / SHAKEN CP certificate profile.",
        epilog=CERT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("inputs", nargs="+", metavar="URL|FILE", help="PEM/DER bundle or https URL")
    c.add_argument("--json", action="store_true", help="one JSON object per input (JSON Lines)")
    c.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="PEM",
        help="trust anchor PEM file or directory; repeatable (chain status needs one)",
    )
    c.add_argument(
        "--at",
        type=float,
        default=None,
        metavar="UNIX_SECONDS",
        help="judge validity and the chain at this time (default: now)",
    )
    c.add_argument("--strict-profile", action="store_true", help=STRICT_PROFILE_HELP)
    g = c.add_argument_group("fetching URLs")
    add_tls_options(g)
    g.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS", help="per fetch (default 5)"
    )
    return c


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit cert``: 0 when every input was read (and trusted, with ``--trust``)."""
    from ..certs.certinfo import describe_certificate, lint_certificate
    from ..certs.path import strict_profile_refusal, validate_chain
    from ..certs.trust import TrustStore

    if args.at is not None and not math.isfinite(args.at):
        raise UsageError("--at must be a finite number of Unix seconds")
    at = args.at if args.at is not None else time.time()
    anchors = None
    if args.trust:
        try:
            store = TrustStore(
                [t if Path(t).is_dir() else read_file(t, "trust anchor file") for t in args.trust]
            )
        except ShakenError as e:
            raise UsageError(e.detail) from e
        anchors = store.snapshot()
    status = 0
    for item, chain, error in _cert_inputs(args):
        obj: dict[str, Any] = {"input": item}
        if chain is None:
            status = 1
            obj["error"] = error
            sys.stderr.write(f"shakenkit: warning: {item}: {error}\n")
        else:
            certs = []
            for c in chain.certs:
                d = describe_certificate(c)
                found = lint_certificate(c, at=at, strict_profile=args.strict_profile)
                d["findings"] = [f.to_dict() for f in found]
                certs.append(d)
            chain_info: dict[str, Any] = {"trusted": None, "error": None, "path": [], "notes": []}
            if anchors is not None:
                res = validate_chain(chain, anchors, at)
                refusal = strict_profile_refusal(res) if args.strict_profile else None
                error = refusal or (None if res.ok else res.detail)
                chain_info = {
                    "trusted": error is None,
                    "error": error,
                    "path": [c.subject for c in res.path],
                    "notes": list(res.notes),
                }
                if error is not None:
                    status = 1
            obj.update(certs[0])
            obj["chain"] = chain_info
            obj["certificates"] = certs
            obj["error"] = None
        out.write(json.dumps(obj) + "\n" if args.json else safe(_cert_text(item, obj)))
    return status
