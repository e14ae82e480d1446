"""The ``shakenkit`` command: ``verify`` Identity headers or a SIP message, ``scan`` captures and
call files, show and lint STI certificates (``cert``), ``sign`` a test call, run the ``demo``.

Exit status: 0 when every verdict is TN-Validation-Passed, 1 otherwise, 2 on usage errors.
Usage errors are one line on stderr, ``shakenkit: error: ...``. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from . import __version__, traceback_cli
from .errors import ShakenError
from .fetch import FetchPolicy
from .repository import HttpsSource, LayeredSource
from .service import cli as service_cli
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
  shakenkit verify --offline --trust root.pem --cert URL=chain.pem --sip invite.sip
  sip-hook | shakenkit verify --trust root.pem --json --sip -

with --sip, the calling number is P-Asserted-Identity's (else From's), the called number To's
(else the Request-URI's), and Date rebuilds a compact form; freshness is judged at --now or
the current time.

exit status: 0 every header TN-Validation-Passed, 1 otherwise, 2 usage error
"""


def _finite_float(text: str) -> float:
    """An argparse type: a finite number (``nan``/``inf`` are usage errors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {what} {path!r}: {e.strerror or e}") from e


STRICT_PROFILE_HELP = (
    "the letter of ATIS-1000080 v004: refuse (437) chains with an RSA CA signature "
    "(default: accepted with a warning, as a real STI-CA issued them)"
)


def _add_verification_options(
    p: argparse.ArgumentParser, *, now_help: str = "verification time (default: now)"
) -> None:
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
        type=_finite_float,
        default=None,
        metavar="UNIX_SECONDS",
        help=now_help,
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
    p.add_argument(
        "--strict-profile",
        action="store_true",
        help=STRICT_PROFILE_HELP,
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
        type=_finite_float,
        default=5.0,
        metavar="SECONDS",
        help="total time for one fetch (default 5)",
    )
    g.add_argument(
        "--min-ttl",
        type=_finite_float,
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


def _anchor_bytes(path: str) -> list[bytes]:
    """A --trust argument: one PEM/DER file, or every .pem/.crt/.cer/.der file of a directory."""
    p = Path(path)
    if p.is_dir():
        return [
            _read(str(f), "trust anchor file")
            for f in sorted(p.iterdir())
            if f.is_file() and f.suffix.lower() in (".pem", ".crt", ".cer", ".der")
        ]
    return [_read(path, "trust anchor file")]


def verification_inputs(
    args: argparse.Namespace,
) -> tuple[list[bytes], dict[str, bytes], list[bytes], Policy]:
    """What the verification options name, read: trust anchors, ``--cert`` chains, CRLs and
    the policy (shared by every command that verifies). Raises UsageError."""
    certs: dict[str, bytes] = {}
    for spec in args.cert:
        url, sep, path = spec.rpartition("=")
        if not sep or not url or not path:
            raise UsageError(f"--cert wants URL=PEM_FILE, got {spec!r}")
        certs[url] = _read(path, "certificate file")
    anchors = [b for t in args.trust for b in _anchor_bytes(t)]
    crls = [_read(c, "CRL file") for c in args.crl]
    if args.max_age <= 0:
        raise UsageError("--max-age must be positive")
    policy = Policy(
        max_age=args.max_age,
        future_tolerance=args.max_age,
        require_identity=args.require_identity,
        strict_certificate_policy=args.strict_cert_policy,
        strict_certificate_profile=args.strict_profile,
        crl_hard_fail=args.crl_hard_fail,
        fetch_crls=not args.no_crl_fetch,
    )
    return anchors, certs, crls, policy


def _build_verifier(args: argparse.Namespace) -> Verifier:
    anchors, certs, crls, policy = verification_inputs(args)
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
    if args.sip is not None:
        return _cmd_verify_sip(args, out)
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


def _cmd_verify_sip(args: argparse.Namespace, out: TextIO) -> int:
    from .sip import DEFAULT_MAX_MESSAGE_BYTES

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
    verifier = _build_verifier(args)
    status = 0
    try:
        # parse_sip refuses more than `limit` bytes: an oversized message is a 438 verdict.
        for v in verifier.verify_sip(data, now=args.now):
            if not v.passed:
                status = 1
            out.write((v.model_dump_json() if args.json else _summary(v)) + "\n")
    finally:
        verifier.close()
    return status


def _more_than_one_message(data: bytes) -> bool:
    """Does a SIP start line follow the first message's Content-Length body?"""
    from .sip import SipParseError, is_start_line, parse_sip

    try:
        m = parse_sip(data)
    except SipParseError:
        return False
    cl = m.header("content-length")
    rest = m.body[int(cl) :] if cl is not None else m.body
    return any(is_start_line(line.rstrip(b"\r")) for line in rest.split(b"\n"))


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
verdict) to stdout or --out; a summary table on stderr.
exit status: 0 every verdict TN-Validation-Passed, 1 otherwise, 2 usage or unreadable input
"""

CERT_EPILOG = """examples:
  shakenkit cert chain.pem
  shakenkit cert --trust root.pem --at 1767225600 --json chain.pem other.pem
  shakenkit cert --trust roots/ https://cr.example.com/sp/123A.pem
  find certs/ -name '*.pem' -print0 | xargs -0 shakenkit cert --json > report.jsonl

each FILE is a PEM (or DER) bundle, leaf first; a URL is fetched like an x5u (HTTPS only).
findings lint the SHAKEN certificate profile (ATIS-1000080 §6.4.1, SHAKEN CP): error, warning
or info. exit status: 0 every input read (and, with --trust, trusted), 1 otherwise, 2 usage
"""

SIGN_EPILOG = """examples:
  shakenkit sign --key sp-key.pem --x5u https://cr.example.com/sp/123A.pem \\
      --orig +12155551212 --dest +12155551213 --attest A
  shakenkit verify --offline --trust root.pem --cert https://cr.example.com/sp/123A.pem=chain.pem \\
      --orig +12155551212 --dest +12155551213 "$(shakenkit sign --key sp-key.pem ...)"

prints the Identity header value (RFC 8224 §4) of a SHAKEN PASSporT (RFC 8588) signed with
KEY (ECDSA P-256). For tests and labs: an STI-AS signs with an HSM-held key.
"""


def _open_out(path: str | None) -> TextIO:
    if path is None or path == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path!r}: {e.strerror or e}") from e


class _Progress:
    """A one-line progress indicator on stderr, only when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.on = stream.isatty()
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, text: str) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if now - self.started < 1.0 or now - self.last < 0.25:
            return
        self.last = now
        self.shown = True
        self.stream.write("\r\x1b[K" + text[:120])
        self.stream.flush()

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


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


def _safe(text: str) -> str:
    """Text any output encoding can take (lone surrogates from hostile input escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
        self.read = 0
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


def _cmd_scan(args: argparse.Namespace, out: TextIO) -> int:
    from .capture import CaptureError, read_records, sniff_file, verify_records

    logging.getLogger("scapy").setLevel(logging.ERROR)  # scapy's per-packet warnings are noise
    if args.now is not None and not math.isfinite(args.now):
        raise UsageError("--now must be a finite number of Unix seconds")
    if args.files.count("-") > 1:
        raise UsageError("stdin ('-') can be read once")
    for f in args.files:
        if f != "-":
            try:
                sniff_file(f)
            except CaptureError as e:
                raise UsageError(str(e)) from e
    verifier = _build_verifier(args)
    dest = _open_out(args.out)
    err = sys.stderr
    progress = _Progress(err)
    tally = _ScanTally()
    status = 0

    def usable(records: Any) -> Any:
        """Pass records through; report JSON Lines records that cannot be used."""
        for r in records:
            if r.invalid is not None:
                tally.skipped += 1
                err.write(f"shakenkit: warning: {r.location}: {r.invalid}\n")
                continue
            yield r

    def tick(n: int) -> None:
        tally.read = n
        progress.update(f"scanning {path}: {tally.read} read, {tally.calls} calls")

    try:
        for path in args.files:
            tally.files += 1
            tally.read = 0
            last: object = None
            try:
                records = usable(read_records(path, progress=tick))
                for r in verify_records(verifier, records, now=args.now):
                    if r.record is not last:
                        last = r.record
                        tally.calls += 1
                    if args.signed_only and r.header is None and r.record.error is None:
                        continue
                    tally.add(r.verdict)
                    if not r.verdict.passed:
                        status = 1
                    line = json.dumps(r.to_dict()) if args.json else _safe(_scan_line(r))
                    dest.write(line + "\n")
                    progress.update(f"scanning {path}: {tally.read} read, {tally.calls} calls")
            except CaptureError as e:
                raise UsageError(str(e)) from e
    finally:
        progress.done()
        verifier.close()
        if dest is not sys.stdout:
            dest.close()
    if tally.skipped:
        status = 1
    err.write(_safe(tally.report()))
    return status


def _cert_inputs(args: argparse.Namespace) -> Any:
    from .errors import CertificateError, CertificateFetchError
    from .pki import parse_chain

    source: HttpsSource | None = None
    try:
        for item in args.inputs:
            if item.lower().startswith(("https://", "http://")):
                if source is None:
                    source = HttpsSource(_cert_fetch_policy(args))
                try:
                    yield item, source.get(item), None
                except CertificateFetchError as e:
                    yield item, None, e.detail
                continue
            data = _read(item, "certificate file")
            try:
                yield item, parse_chain(data, max_certs=1000, max_bytes=1 << 24), None
            except CertificateError as e:
                yield item, None, e.detail
    finally:
        if source is not None:
            source.close()


def _cert_fetch_policy(args: argparse.Namespace) -> FetchPolicy:
    if args.tls_ca is not None:
        _read(args.tls_ca, "TLS CA file")
    if not args.timeout > 0:
        raise UsageError("--timeout must be positive")
    default = FetchPolicy()
    try:
        return FetchPolicy(
            allow_hosts=frozenset(args.allow_host),
            tls_ca_file=args.tls_ca,
            total_timeout=args.timeout,
            connect_timeout=min(default.connect_timeout, args.timeout),
        )
    except ValueError as e:
        raise UsageError(str(e)) from e


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


def _cmd_cert(args: argparse.Namespace, out: TextIO) -> int:
    from .certinfo import describe_certificate, lint_certificate
    from .pki import TrustStore, strict_profile_refusal, validate_chain

    if args.at is not None and not math.isfinite(args.at):
        raise UsageError("--at must be a finite number of Unix seconds")
    at = args.at if args.at is not None else time.time()
    anchors = None
    if args.trust:
        try:
            store = TrustStore(
                [t if Path(t).is_dir() else _read(t, "trust anchor file") for t in args.trust]
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
        out.write(json.dumps(obj) + "\n" if args.json else _safe(_cert_text(item, obj)))
    return status


def _cmd_sign(args: argparse.Namespace, out: TextIO) -> int:
    import uuid

    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from .testing import sign_identity
    from .tn import canonicalize_tn

    data = _read(args.key, "key file")
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except TypeError as e:
        raise UsageError(f"key {args.key!r} is encrypted; give an unencrypted key") from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise UsageError(f"{args.key!r} is not a private key (PEM or DER)") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UsageError(f"key {args.key!r} is not an ECDSA P-256 key (ES256, RFC 8225 §4.2)")
    if canonicalize_tn(args.orig) is None:
        raise UsageError(f"--orig {args.orig!r} is not a telephone number")
    for d in args.dest:
        if canonicalize_tn(d) is None:
            raise UsageError(f"--dest {d!r} is not a telephone number")
    if not args.x5u.lower().startswith(("https://", "http://")) or any(
        c in args.x5u for c in " <>"
    ):
        raise UsageError(f"--x5u {args.x5u!r} is not an http(s) URL")
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
    p = _Parser(
        prog="shakenkit",
        description="STIR/SHAKEN verification (STI-VS).",
        epilog="run 'shakenkit COMMAND --help' for a command's options and examples",
    )
    p.add_argument("--version", action="version", version=f"shakenkit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    raw = argparse.RawDescriptionHelpFormatter
    v = sub.add_parser(
        "verify",
        help="verify Identity header values, or the Identity headers of a SIP message",
        description="Verify SIP Identity header values (RFC 8224, ATIS-1000074).",
        epilog=VERIFY_EPILOG,
        formatter_class=raw,
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
    _add_verification_options(v)
    sc = sub.add_parser(
        "scan",
        help="verify the INVITEs in pcap/pcapng captures, SIP text files and JSON Lines",
        description="Verify every Identity header of every INVITE in captures and call files.",
        epilog=SCAN_EPILOG,
        formatter_class=raw,
    )
    sc.add_argument("files", nargs="+", metavar="FILE", help="input file; '-' reads stdin")
    sc.add_argument("--json", action="store_true", help="one JSON object a verdict (JSON Lines)")
    sc.add_argument("--out", metavar="FILE", help="write the verdicts here (default stdout)")
    sc.add_argument(
        "--signed-only",
        action="store_true",
        help="skip INVITEs without an Identity header (default: a No-TN-Validation verdict each)",
    )
    _add_verification_options(
        sc,
        now_help="verification time (default: each packet's capture time, record's time or "
        "Date header, else now)",
    )
    c = sub.add_parser(
        "cert",
        help="show STI certificates and chains, lint them against the SHAKEN profile",
        description="Show STI certificates or chains (files or x5u URLs): subject, SPC,\n"
        "TNAuthList, validity, key, policies, CRL distribution point, chain status, and\n"
        "findings against the ATIS-1000080 / SHAKEN CP certificate profile.",
        epilog=CERT_EPILOG,
        formatter_class=raw,
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
    g.add_argument("--tls-ca", metavar="PEM", default=None, help="trust this CA for TLS (labs)")
    g.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="allow this host (any address) and port; repeatable",
    )
    g.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS", help="per fetch (default 5)"
    )
    sg = sub.add_parser(
        "sign",
        help="sign a SHAKEN PASSporT and print the Identity header (tests, labs)",
        description="Sign a SHAKEN PASSporT (RFC 8225, RFC 8588) and print the Identity\n"
        "header value (RFC 8224).",
        epilog=SIGN_EPILOG,
        formatter_class=raw,
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
    sub.add_parser(
        "demo",
        help="offline demo: sign and verify a few calls with a test PKI",
        description="Build a test PKI in memory, sign a few calls, verify them.",
        epilog="examples:\n  shakenkit demo\n\nno network, no files: everything is made in "
        "memory and thrown away",
        formatter_class=raw,
    )
    traceback_cli.add_parser(sub, _add_verification_options)
    service_cli.add_parser(sub, _add_verification_options)
    return p


_COMMANDS = {
    "verify": _cmd_verify,
    "scan": _cmd_scan,
    "cert": _cmd_cert,
    "sign": _cmd_sign,
    "demo": _cmd_demo,
    "traceback": traceback_cli.run,
    "serve": service_cli.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shakenkit`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "verify" and not args.identity and args.sip is None:
        # IDENTITY is required unless --sip is given (argparse's own message and exit status).
        args.parser.error("the following arguments are required: IDENTITY")
    out = sys.stdout
    try:
        return _COMMANDS[args.command](args, out)
    except UsageError as e:
        sys.stderr.write(f"shakenkit: error: {e}\n")
        return 2
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
