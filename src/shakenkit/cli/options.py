"""Options and helpers every command shares: usage errors, the parser class, the verification
options (``--trust``, ``--cert``, ``--crl``, ``--crl-signer``, ``--now``, fetching ...) and what
they build.

Imported by the command modules; imports none of them (so no command imports another).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

from ..certs.trust import read_anchor_directory
from ..core.verifier import Policy, Verifier
from ..errors import ShakenError
from ..repository.fetch import FetchPolicy
from ..repository.https import HttpsSource, LayeredSource
from ..repository.sources import CertificateSource


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"shakenkit: error: {message}\n")


def finite_float(text: str) -> float:
    """An argparse type: a finite number (``nan``/``inf`` are usage errors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {what} {path!r}: {e.strerror or e}") from e


STRICT_PROFILE_HELP = (
    "the letter of ATIS-1000080 v004: refuse (437) chains with an RSA CA signature "
    "(default: accepted with a warning, as a real STI-CA issued them)"
)


def add_verification_options(
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
        "--crl-signer",
        action="append",
        default=[],
        metavar="PEM",
        help="certificate whose key signs indirect CRLs under its name (the STI-PA's "
        "'STI-PA CRL' signer, docs/security.md); repeatable",
    )
    p.add_argument(
        "--now",
        type=finite_float,
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
    p.add_argument(
        "--max-div-depth",
        type=int,
        default=5,
        metavar="N",
        help="longest chain of div PASSporTs followed (RFC 8946; default 5)",
    )
    p.add_argument(
        "--fetch-rcd",
        action="store_true",
        help="fetch Rich Call Data icn/jcl content to check rcdi digests (RFC 9795; "
        "x5u fetch policy; default off)",
    )
    g = p.add_argument_group(
        "fetching x5u and CRLs (live by default, for URLs not given with --cert)"
    )
    add_tls_options(g, tls_ca_help="trust this CA for the certificate repositories' TLS (labs)")
    g.add_argument(
        "--cache-dir", metavar="DIR", default=None, help="persistent certificate cache directory"
    )
    g.add_argument(
        "--timeout",
        type=finite_float,
        default=5.0,
        metavar="SECONDS",
        help="total time for one fetch (default 5)",
    )
    g.add_argument(
        "--min-ttl",
        type=finite_float,
        default=86_400.0,
        metavar="SECONDS",
        help="cache floor (default 86400, ATIS-1000074 v003)",
    )
    g.add_argument(
        "--crl-hard-fail",
        action="store_true",
        help="fail (437) unless an authenticated, current CRL covers the leaf and every "
        "certificate that names a CRL (default soft-fail: a warning)",
    )
    g.add_argument(
        "--crl-grace",
        type=finite_float,
        default=None,
        metavar="SECONDS",
        help="how long a CRL still counts past its nextUpdate (default 300)",
    )
    g.add_argument(
        "--no-crl-fetch",
        action="store_true",
        help="do not fetch CRLs named by certificates (--crl files still apply)",
    )
    g.add_argument(
        "--offline", action="store_true", help="never fetch: only certificates given with --cert"
    )


def add_tls_options(g: Any, *, tls_ca_help: str = "trust this CA for TLS (labs)") -> None:
    """``--tls-ca`` and ``--allow-host`` (every command that fetches; :func:`fetch_policy`,
    :func:`stipa_fetch_policy`) in the argument group ``g``."""
    g.add_argument("--tls-ca", metavar="PEM", default=None, help=tls_ca_help)
    g.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="allow this host (any address, e.g. 127.0.0.1) and port; repeatable",
    )


def _anchor_bytes(path: str) -> list[bytes]:
    """A --trust argument: one PEM/DER file, or a directory: exactly the roots of a trust
    directory ``shakenkit trust update`` wrote, else every .pem/.crt/.cer/.der file in it."""
    p = Path(path)
    if p.is_dir():
        try:
            return read_anchor_directory(p)
        except ShakenError as e:
            raise UsageError(e.detail) from e
        except OSError as e:
            raise UsageError(f"cannot read trust directory {path!r}: {e.strerror or e}") from e
    return [read_file(path, "trust anchor file")]


def verification_inputs(
    args: argparse.Namespace,
) -> tuple[list[bytes], dict[str, bytes], list[bytes], Policy]:
    """What the verification options name, read: trust anchors, ``--cert`` chains, CRLs and
    the policy (shared by every command that verifies). Raises UsageError."""
    certs = cert_map(args.cert)
    anchors = [b for t in args.trust for b in _anchor_bytes(t)]
    crls = [read_file(c, "CRL file") for c in args.crl]
    if args.max_age <= 0:
        raise UsageError("--max-age must be positive")
    if args.max_div_depth < 1:
        raise UsageError("--max-div-depth must be at least 1")
    grace = {} if args.crl_grace is None else {"crl_grace": args.crl_grace}
    if args.crl_grace is not None and args.crl_grace < 0:
        raise UsageError("--crl-grace must not be negative")
    policy = Policy(
        max_age=args.max_age,
        future_tolerance=args.max_age,
        require_identity=args.require_identity,
        strict_certificate_policy=args.strict_cert_policy,
        strict_certificate_profile=args.strict_profile,
        crl_hard_fail=args.crl_hard_fail,
        fetch_crls=not args.no_crl_fetch,
        max_div_depth=args.max_div_depth,
        fetch_rcd=args.fetch_rcd and not args.offline,
        **grace,
    )
    return anchors, certs, crls, policy


def crl_signer_inputs(args: argparse.Namespace) -> list[bytes]:
    """The ``--crl-signer`` certificates, read (shared by every command that verifies).
    Raises UsageError."""
    return [read_file(p, "CRL signer file") for p in args.crl_signer]


def build_verifier(args: argparse.Namespace) -> Verifier:
    anchors, certs, crls, policy = verification_inputs(args)
    signers = crl_signer_inputs(args)
    try:
        if args.offline:
            return Verifier(
                trust_anchors=anchors, certificates=certs, crls=crls, crl_signers=signers,
                policy=policy,
            )
        source: CertificateSource = HttpsSource(fetch_policy(args))
        if certs:
            source = LayeredSource(certs, source)
        return Verifier(
            trust_anchors=anchors, source=source, crls=crls, crl_signers=signers, policy=policy
        )
    except ShakenError as e:
        raise UsageError(e.detail) from e
    except ValueError as e:
        raise UsageError(str(e)) from e


def fetch_policy(args: argparse.Namespace) -> FetchPolicy:
    if args.tls_ca is not None:
        read_file(args.tls_ca, "TLS CA file")
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


def load_signing_key(path: str) -> Any:
    """An SP's ES256 signing key (PEM or DER, unencrypted ECDSA P-256) for ``sign`` and
    ``serve --key`` (:func:`shakenkit.signing.load_signing_key`). Raises UsageError."""
    from ..signing import load_signing_key as load

    data = read_file(path, "key file")
    try:
        return load(data)
    except ValueError as e:
        raise UsageError(f"key {path!r}: {e}") from e


def check_x5u(url: str) -> str:
    """``--x5u``: an https URL that fits in the Identity header's ``info`` parameter, as
    :mod:`shakenkit.signing` requires (ATIS-1000074; standards digest §6.4)."""
    from ..signing import _x5u

    try:
        return _x5u(url)
    except ValueError as e:
        raise UsageError(f"--x5u {url!r}: {e}") from e


def open_out(path: str | None) -> TextIO:
    if path is None or path == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path!r}: {e.strerror or e}") from e


def safe(text: str) -> str:
    """Text any output encoding can take (lone surrogates from hostile input escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# -- the STI-PA CA list (trust update, serve --stipa-api; docs/trust.md) --------------------

STIPA_API_HELP = (
    "the STI-PA API root, e.g. https://authenticate-api.iconectiv.com/api/v1 (POST "
    "{base}/auth/login, GET {base}/ca-list); credentials from SHAKENKIT_STIPA_USER and "
    "SHAKENKIT_STIPA_PASSWORD or --credentials"
)


def add_stipa_options(p: Any) -> None:
    """``--stipa-root`` and ``--credentials`` (shared by ``trust update`` and ``serve``)."""
    p.add_argument(
        "--stipa-root",
        metavar="PEM",
        default=None,
        help="the STI-PA root certificate: the list signer must chain to it (not to the STI-CA "
        "roots the list carries)",
    )
    p.add_argument(
        "--credentials",
        metavar="FILE",
        default=None,
        help="STI-PA API user and password (SHAKENKIT_STIPA_USER=... and "
        "SHAKENKIT_STIPA_PASSWORD=... lines, or JSON userId/password); the file must be "
        "readable only by its owner (default: those environment variables)",
    )


def stipa_roots(args: argparse.Namespace) -> list[Any]:
    """The ``--stipa-root`` certificate(s), parsed. Raises UsageError."""
    from ..certs.calist import load_stipa_roots

    if args.stipa_root is None:
        raise UsageError("--stipa-root is required: the STI-PA root the list signer chains to")
    try:
        return load_stipa_roots(read_file(args.stipa_root, "STI-PA root file"))
    except ShakenError as e:
        raise UsageError(f"--stipa-root {args.stipa_root!r}: {e.detail}") from e


def stipa_credentials(args: argparse.Namespace) -> Any:
    """The STI-PA API credentials: ``--credentials FILE`` (owner-only) or the environment.
    Raises UsageError (whose message never holds them)."""
    from ..repository.stipa import ENV_PASSWORD, ENV_USER, StipaCredentials

    if args.credentials is not None:
        try:
            return StipaCredentials.from_file(args.credentials)
        except ValueError as e:
            raise UsageError(str(e)) from None
    found = StipaCredentials.from_environment()
    if found is None:
        raise UsageError(
            f"the STI-PA API needs credentials: set {ENV_USER} and {ENV_PASSWORD}, "
            "or give --credentials FILE"
        )
    return found


def stipa_fetch_policy(args: argparse.Namespace) -> FetchPolicy:
    """The fetch policy of ``--tls-ca``, ``--allow-host`` and ``--timeout`` alone (the STI-PA
    API and the list signer's ``x5u``; ``shakenkit cert`` URLs). Raises UsageError."""
    if args.tls_ca is not None:
        read_file(args.tls_ca, "TLS CA file")
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


def stipa_client(args: argparse.Namespace, policy: FetchPolicy) -> Any:
    """The :class:`~shakenkit.repository.stipa.StipaClient` of ``--stipa-api`` (shared by
    ``trust update`` and ``serve``). Raises UsageError."""
    from ..errors import CaListError
    from ..repository.stipa import StipaClient

    try:
        return StipaClient(args.stipa_api, policy)
    except CaListError as e:
        raise UsageError(f"--stipa-api: {e.detail}") from e


def cert_map(specs: list[str]) -> dict[str, bytes]:
    """``--cert URL=PEM_FILE`` options, read. Raises UsageError."""
    certs: dict[str, bytes] = {}
    for spec in specs:
        url, sep, path = spec.rpartition("=")
        if not sep or not url or not path:
            raise UsageError(f"--cert wants URL=PEM_FILE, got {spec!r}")
        certs[url] = read_file(path, "certificate file")
    return certs
