"""``shakenkit trust``: keep the trust anchors equal to the STI-PA's signed CA list.

``trust update`` fetches the list from the STI-PA API (``--stipa-api``) or reads it from a file
(``--ca-list``), checks it (:mod:`shakenkit.certs.calist`) and installs it atomically into a
trust directory (:mod:`shakenkit.repository.trustdir`) that ``verify``, ``scan``,
``traceback`` and ``serve`` take as ``--trust DIR``. ``trust show`` prints what a trust
directory holds. See docs/trust.md.

Exit status: 0 installed (or the same sequence was installed already), 1 refused (one line on
stderr says why; the directory is left exactly as it was), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from ..errors import CaListError
from .options import (
    STIPA_API_HELP,
    UsageError,
    add_stipa_options,
    add_tls_options,
    cert_map,
    finite_float,
    safe,
    stipa_client,
    stipa_credentials,
    stipa_fetch_policy,
    stipa_roots,
)

__all__ = ["add_parser", "run"]

UPDATE_EPILOG = """examples:
  SHAKENKIT_STIPA_USER=... SHAKENKIT_STIPA_PASSWORD=... shakenkit trust update \\
      --out /var/lib/shakenkit/trust --stipa-root /etc/shakenkit/sti-pa-root.pem \\
      --stipa-api https://authenticate-api.iconectiv.com/api/v1
  shakenkit trust update --out trust/ --stipa-root sti-pa-root.pem --credentials stipa.env \\
      --stipa-api https://authenticate-api.iconectiv.com/api/v1
  shakenkit trust update --out trust/ --stipa-root sti-pa-root.pem --ca-list ca-list.json \\
      --cert https://sti-pa.example/signer.pem=signer.pem
  shakenkit verify --trust trust/ 'eyJ...;info=<https://cr.example/sp.pem>;ppt=shaken'

checks: alg ES256 only; the list signer's certificate (x5u, fetched like a PASSporT's) chains to
--stipa-root; the signature; exp in the future; sequence not lower than the one installed (the
same sequence changes nothing); a non-empty list of CA certificates (entries that do not parse
are skipped and reported; each root is linted, as warnings).
exit status: 0 installed or unchanged, 1 refused (DIR left exactly as it was), 2 usage
"""

SHOW_EPILOG = """examples:
  shakenkit trust show /var/lib/shakenkit/trust
  shakenkit trust show --json trust/ | jq '.roots[].subject'
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``trust`` sub-command (``update``, ``show``) to ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "trust",
        help="install the STI-PA's signed CA list as trust anchors (update, show)",
        description="Keep a trust directory equal to the STI-PA's signed list of approved "
        "STI-CA roots (docs/trust.md).",
    )
    sub = p.add_subparsers(dest="trust_command", required=True, metavar="{update,show}")
    u = sub.add_parser(
        "update",
        help="fetch or read the STI-PA's CA list, check it, install it atomically into DIR",
        description="Fetch (--stipa-api) or read (--ca-list) the STI-PA's signed CA list, check "
        "it, and replace the trust directory DIR with its roots atomically.",
        epilog=UPDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    u.add_argument("--out", required=True, metavar="DIR", help="the trust directory to write")
    src = u.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--ca-list",
        metavar="FILE",
        help="the CA list from a file: the API's JSON answer or the bare JWS ('-' for stdin)",
    )
    src.add_argument("--stipa-api", metavar="BASE_URL", help=STIPA_API_HELP)
    add_stipa_options(u)
    u.add_argument(
        "--cert",
        action="append",
        default=[],
        metavar="URL=PEM_FILE",
        help="serve this certificate chain for this x5u URL instead of fetching it; repeatable",
    )
    g = u.add_argument_group("fetching (the STI-PA API and the list signer's x5u)")
    add_tls_options(g)
    g.add_argument(
        "--timeout",
        type=finite_float,
        default=10.0,
        metavar="SECONDS",
        help="total time for one request (default 10)",
    )
    s = sub.add_parser(
        "show",
        help="show the CA list a trust directory holds",
        description="Show the CA list installed in a trust directory: sequence, exp, and each "
        "root's subject, SPKI digest and validity.",
        epilog=SHOW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("dir", metavar="DIR", help="a trust directory written by 'trust update'")
    s.add_argument("--json", action="store_true", help="one JSON object")
    return p


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit trust update`` or ``trust show``."""
    if args.trust_command == "show":
        return _show(args, out)
    return _update(args, out)


def _warn(text: str) -> None:
    sys.stderr.write(f"shakenkit: warning: {safe(text)}\n")


def _update(args: argparse.Namespace, out: TextIO) -> int:
    from ..repository.https import HttpsSource, LayeredSource
    from ..repository.sources import CertificateSource
    from ..repository.stipa import update_trust_dir
    from ..repository.trustdir import read_trust_state

    roots = stipa_roots(args)
    policy = stipa_fetch_policy(args)
    certs = cert_map(args.cert)
    try:
        read_trust_state(args.out)  # refuse a directory that is not a trust directory, first
    except CaListError as e:
        raise UsageError(f"--out: {e.detail}") from e
    ca_list: bytes | None = None
    credentials = client = None
    if args.ca_list is not None:
        from .options import read_file

        ca_list = (
            sys.stdin.buffer.read()
            if args.ca_list == "-"
            else read_file(args.ca_list, "CA list file")
        )
    else:
        credentials = stipa_credentials(args)
        client = stipa_client(args, policy)
    https = HttpsSource(policy)
    source: CertificateSource = LayeredSource(certs, https) if certs else https
    try:
        update = update_trust_dir(
            args.out,
            stipa_roots=roots,
            source=source,
            ca_list=ca_list,
            client=client,
            credentials=credentials,
        )
    except CaListError as e:
        sys.stderr.write(f"shakenkit: trust update refused: {safe(e.detail)}\n")
        return 1
    finally:
        https.close()
        if client is not None:
            client.close()
    calist, result = update.calist, update.install
    for note in calist.skipped:
        _warn(f"skipped {note}")
    for note in calist.warnings:
        _warn(note)
    from ..certs.calist import iso

    version = f" (version {calist.version})" if calist.version else ""
    if result.status == "unchanged":
        out.write(
            f"CA list sequence {calist.sequence}{version} is installed already in {args.out}: "
            f"nothing changed ({len(result.state.roots)} roots, expires {iso(result.state.exp)})"
            "\n"
        )
        return 0
    previous = result.previous
    was = f", replacing sequence {previous.sequence}" if previous is not None else ""
    out.write(
        f"installed CA list sequence {calist.sequence}{version} in {args.out}{was}: "
        f"{len(calist.roots)} roots, expires {iso(calist.exp)}, signed by "
        f"{safe(calist.signer.subject)}\n"
    )
    for r in result.added:
        out.write(f"  added    {safe(r.subject)}  sha256 {r.sha256}\n")
    for r in result.removed:
        out.write(f"  removed  {safe(r.subject)}  sha256 {r.sha256}\n")
    if previous is not None:
        out.write(f"  kept     {len(result.kept)} roots\n")
    return 0


def _show(args: argparse.Namespace, out: TextIO) -> int:
    from ..certs.calist import iso
    from ..certs.trust import read_anchor_directory
    from ..repository.trustdir import read_trust_state

    try:
        state = read_trust_state(args.dir)
        if state is None:
            raise CaListError(
                f"{args.dir} holds no CA list (run 'shakenkit trust update --out {args.dir}')",
                kind="directory",
            )
        read_anchor_directory(args.dir)  # the root files match the state file
    except CaListError as e:
        sys.stderr.write(f"shakenkit: trust show: {safe(e.detail)}\n")
        return 1
    except OSError as e:
        raise UsageError(f"cannot read {args.dir!r}: {e.strerror or e}") from e
    now = time.time()
    expired = state.exp <= now
    if args.json:
        obj: dict[str, Any] = {
            "directory": args.dir,
            "sequence": state.sequence,
            "version": state.version,
            "exp": state.exp,
            "exp_iso": iso(state.exp),
            "expired": expired,
            "fetched": state.fetched,
            "fetched_iso": iso(state.fetched),
            "source": state.source,
            "digest": state.digest,
            "signer": state.signer,
            "x5u": state.x5u,
            "roots": [
                {
                    "subject": r.subject,
                    "sha256": r.sha256,
                    "spki_sha256": r.spki_sha256,
                    "not_before": iso(r.not_before),
                    "not_after": iso(r.not_after),
                    "valid_now": r.not_before <= now <= r.not_after,
                    "file": r.file,
                }
                for r in state.roots
            ],
            "skipped": list(state.skipped),
        }
        out.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
        return 0
    days = abs(state.exp - now) / 86_400
    when = f"EXPIRED {days:.1f} days ago" if expired else f"in {days:.1f} days"
    version = f", version {state.version}" if state.version else ""
    lines = [
        f"trust directory {args.dir}",
        f"  CA list   sequence {state.sequence}{version}, {state.digest}",
        f"  expires   {iso(state.exp)} ({when})",
        f"  fetched   {iso(state.fetched)} from {state.source}",
        f"  signer    {state.signer}",
        f"  roots     {len(state.roots)}",
    ]
    for r in state.roots:
        valid = "" if r.not_before <= now <= r.not_after else "  (not valid now)"
        lines += [
            f"  - {r.subject}",
            f"      sha256       {r.sha256}",
            f"      spki sha256  {r.spki_sha256}",
            f"      valid        {iso(r.not_before)} to {iso(r.not_after)}{valid}",
        ]
    for note in state.skipped:
        lines.append(f"  skipped   {note}")
    out.write(safe("\n".join(lines)) + "\n")
    return 0
