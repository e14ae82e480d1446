"""``shakenkit serve``: the ATIS-1000082 verification service (STI-VS) over HTTP.

Wired into the ``shakenkit`` parser by :mod:`shakenkit.cli` with :func:`add_parser` and run with
:func:`run`. It takes every verification option ``verify`` takes (read by the same function),
so a call gets the same verdict from the service as from ``shakenkit verify`` at the same time.
The server parts (uvicorn, prometheus-client) come with the ``serve`` extra and are imported
only when the command runs. See docs/serve.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

__all__ = ["add_parser", "app_from_environment", "build_app", "run"]

EPILOG = """examples:
  shakenkit serve --trust /etc/sti/roots --cache-dir /var/cache/shakenkit --port 8080
  shakenkit serve --trust roots/ --workers 2 --host 0.0.0.0 --port 8080
  shakenkit serve --offline --trust root.pem --cert https://cr.example/sp.pem=chain.pem \\
      --key sp-key.pem --x5u https://cr.example/sp.pem

  curl -s -H 'Content-Type: application/json' http://127.0.0.1:8080/stir/v1/verification \\
      -d '{"verificationRequest": {"from": {"tn": "12155551212"}, "to": {"tn": ["12155551213"]},
           "time": 1767225600, "identity": "eyJ...;info=<https://cr.example/sp.pem>;ppt=shaken"}}'

endpoints: POST /stir/v1/verification, POST /stir/v1/signing (with --key/--x5u),
GET /healthz, GET /metrics (Prometheus), POST /admin/reload (loopback clients only).
SIGHUP re-reads trust anchors, --cert chains and CRLs without a restart.
"""

NOW_HELP = "verification time for requests without 'time' (default: the current time; labs)"
# Options that are not configuration of the workers (argparse bookkeeping).
_NOT_CONFIG = frozenset({"parser", "command"})


class _Usage(Exception):
    """A usage error: one ``shakenkit: error:`` line, exit status 2."""


def add_parser(subparsers: Any, add_verification_options: Callable[..., None]) -> Any:
    """Add the ``serve`` sub-command to ``subparsers``; ``add_verification_options`` is the
    shared adder of ``--trust``, ``--cert``, ``--crl``, ``--max-age``, fetch options ..."""
    p = subparsers.add_parser(
        "serve",
        help="run the ATIS-1000082 verification service (STI-VS) over HTTP",
        description="Serve STIR/SHAKEN verification (and optionally signing) over the "
        "ATIS-1000082 HTTP API, for SIP proxies and SBCs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    g.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    g.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes, each with its own certificate cache (default 1)",
    )
    g.add_argument(
        "--max-body",
        type=int,
        default=None,
        metavar="BYTES",
        help="largest request body accepted (default 131072; larger: 413)",
    )
    g.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server log level (default info)",
    )
    g.add_argument("--access-log", action="store_true", help="log every request")
    s = p.add_argument_group("signing (POST /stir/v1/signing; both or neither)")
    s.add_argument("--key", metavar="PEM", help="the SP's ECDSA P-256 private key")
    s.add_argument("--x5u", metavar="URL", help="URL of the SP's certificate chain")
    add_verification_options(p, now_help=NOW_HELP)
    return p


def _load_key(path: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise _Usage(f"cannot read key file {path!r}: {e.strerror or e}") from e
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except TypeError as e:
        raise _Usage(f"key {path!r} is encrypted; give an unencrypted key") from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise _Usage(f"{path!r} is not a private key (PEM or DER)") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _Usage(f"key {path!r} is not an ECDSA P-256 key (ES256, RFC 8225 §4.2)")
    return key


class VerifierLoader:
    """Builds the :class:`~shakenkit.Verifier` the verification options describe, exactly as
    ``shakenkit verify`` does, re-reading the files on every call (reload) while keeping one
    HTTPS repository client, and so one certificate cache, for the life of the process."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._https: Any = None

    def __call__(self) -> Any:
        from .. import cli
        from ..errors import ShakenError
        from ..repository import HttpsSource, LayeredSource
        from ..verifier import Verifier

        try:
            anchors, certs, crls, policy = cli.verification_inputs(self.args)
            if self.args.offline:
                return Verifier(trust_anchors=anchors, certificates=certs, crls=crls, policy=policy)
            if self._https is None:
                self._https = HttpsSource(cli._fetch_policy(self.args))
            source = LayeredSource(certs, self._https) if certs else self._https
            return Verifier(trust_anchors=anchors, source=source, crls=crls, policy=policy)
        except cli.UsageError as e:
            raise _Usage(str(e)) from e
        except ShakenError as e:
            raise _Usage(e.detail) from e
        except (ValueError, OSError) as e:
            raise _Usage(str(e)) from e


def build_app(args: argparse.Namespace) -> Any:
    """The :class:`~shakenkit.service.app.ServiceApp` the options describe (raises on bad
    options or unreadable files)."""
    from .app import DEFAULT_MAX_BODY, ServiceApp, SigningKey

    if (args.key is None) != (args.x5u is None):
        raise _Usage("--key and --x5u go together (signing needs both)")
    signing = None
    if args.key is not None:
        if not args.x5u.lower().startswith(("https://", "http://")) or any(
            c in args.x5u for c in " <>"
        ):
            raise _Usage(f"--x5u {args.x5u!r} is not an http(s) URL")
        signing = SigningKey(_load_key(args.key), args.x5u)
    max_body = args.max_body if args.max_body is not None else DEFAULT_MAX_BODY
    if max_body < 1024:
        raise _Usage("--max-body must be at least 1024")
    return ServiceApp(
        VerifierLoader(args), signing=signing, max_body=max_body, default_now=args.now
    )


def app_from_environment() -> Any:
    """The app of one worker process, configured by the parent (``SHAKENKIT_SERVE_CONFIG``,
    the command's options as JSON): the uvicorn factory for ``--workers N``."""
    import os

    from .runner import CONFIG_ENV

    options = json.loads(os.environ[CONFIG_ENV])
    return build_app(argparse.Namespace(**options))


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit serve`` until SIGINT/SIGTERM: 0 after a clean stop, 1 when the server
    could not start, 2 on a usage error."""
    try:
        return _run(args)
    except _Usage as e:
        sys.stderr.write(f"shakenkit: error: {e}\n")
        return 2


def _run(args: argparse.Namespace) -> int:
    try:
        from .runner import run_server
    except ImportError as e:
        raise _Usage(
            f"shakenkit serve needs the 'serve' extra ({e.name} is missing): "
            "pip install 'shakenkit[serve]'"
        ) from e
    if args.workers < 1:
        raise _Usage("--workers must be >= 1")
    if not 0 <= args.port <= 65535:
        raise _Usage("--port must be 0..65535")
    options = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    app = build_app(args)  # bad options and unreadable files are usage errors, found here
    if args.workers > 1:
        app.verifier.close()
        app = None
    return run_server(
        app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        config_json=json.dumps(options),
        log_level=args.log_level,
        access_log=args.access_log,
    )
