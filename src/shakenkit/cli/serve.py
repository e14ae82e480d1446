"""``shakenkit serve``: the ATIS-1000082 verification service (STI-VS) over HTTP.

The command side of :mod:`shakenkit.service`: it takes every verification option ``verify``
takes (read by the same function, :func:`.options.verification_inputs`), so a call gets the same
verdict from the service as from ``shakenkit verify`` at the same time, and hands the service a
loader that re-reads them on every reload. The server parts (uvicorn, prometheus-client) come
with the ``serve`` extra and are imported only when the command runs. See docs/serve.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .options import (
    STIPA_API_HELP,
    UsageError,
    add_stipa_options,
    add_verification_options,
    cert_map,
    check_x5u,
    crl_signer_inputs,
    fetch_policy,
    finite_float,
    load_signing_key,
    stipa_client,
    stipa_credentials,
    stipa_fetch_policy,
    stipa_roots,
    verification_inputs,
)

__all__ = [
    "APP_FACTORY",
    "add_parser",
    "app_from_environment",
    "build_app",
    "run",
    "service_limits",
]

# The uvicorn factory each worker process calls with --workers N.
APP_FACTORY = "shakenkit.cli.serve:app_from_environment"

EPILOG = """examples:
  shakenkit serve --trust /etc/sti/roots --cache-dir /var/cache/shakenkit --port 8080
  shakenkit serve --trust roots/ --workers 2 --host 0.0.0.0 --port 8080
  shakenkit serve --offline --trust root.pem --cert https://cr.example/sp.pem=chain.pem \\
      --key sp-key.pem --x5u https://cr.example/sp.pem
  SHAKENKIT_STIPA_USER=... SHAKENKIT_STIPA_PASSWORD=... shakenkit serve \\
      --trust-dir /var/lib/shakenkit/trust --stipa-root /etc/shakenkit/sti-pa-root.pem \\
      --stipa-api https://authenticate-api.iconectiv.com/api/v1 --trust-refresh 3600

  curl -s -H 'Content-Type: application/json' http://127.0.0.1:8080/stir/v1/verification \\
      -d '{"verificationRequest": {"from": {"tn": "12155551212"}, "to": {"tn": ["12155551213"]},
           "time": 1767225600, "identity": "eyJ...;info=<https://cr.example/sp.pem>;ppt=shaken"}}'

endpoints: POST /stir/v1/verification, POST /stir/v1/signing (with --key/--x5u),
GET /healthz, GET /metrics (Prometheus), POST /admin/reload (loopback clients only).
SIGHUP re-reads trust anchors, --cert chains, CRLs and CRL signers without a restart. With
--trust-dir the anchors follow the STI-PA CA list in DIR (pulled every --trust-refresh seconds
with --stipa-api); /healthz reports a list past its exp (docs/trust.md).
"""

NOW_HELP = "verification time for requests without 'time' (default: the current time; labs)"
# Options that are not configuration of the workers (argparse bookkeeping).
_NOT_CONFIG = frozenset({"parser", "command"})


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` sub-command to ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
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
        "--read-timeout",
        type=finite_float,
        default=None,
        metavar="SECONDS",
        help="a request (head and body) must arrive within this time of its first byte, "
        "else 408 and the connection is closed (default 5)",
    )
    g.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="requests in progress at once per worker; more are answered 503 (default 256)",
    )
    g.add_argument(
        "--verify-deadline",
        type=finite_float,
        default=None,
        metavar="SECONDS",
        help="answer a verification within this time, with a 436 verdict if it has not "
        "finished (default: --timeout + 1)",
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
    t = p.add_argument_group(
        "the STI-PA CA list (docs/trust.md): trust anchors kept current without a restart"
    )
    t.add_argument(
        "--trust-dir",
        metavar="DIR",
        default=None,
        help="trust the roots of this trust directory ('shakenkit trust update --out DIR'), "
        "reloaded whenever the list in it changes",
    )
    t.add_argument("--stipa-api", metavar="BASE_URL", default=None, help=STIPA_API_HELP)
    t.add_argument(
        "--trust-refresh",
        type=finite_float,
        default=3600.0,
        metavar="SECONDS",
        help="with --stipa-api: pull the CA list this often (default 3600; a failed pull is "
        "retried after 300 s and keeps the last good list)",
    )
    add_stipa_options(t)
    return p


def _trust_options(args: argparse.Namespace) -> None:
    """Check the CA list options (UsageError)."""
    trust_dir = getattr(args, "trust_dir", None)
    stipa_api = getattr(args, "stipa_api", None)
    if stipa_api is not None and trust_dir is None:
        raise UsageError("--stipa-api needs --trust-dir (where the CA list is kept)")
    if trust_dir is not None and not args.trust_refresh >= 1:
        raise UsageError("--trust-refresh must be at least 1 second")


def _with_trust_dir(args: argparse.Namespace) -> argparse.Namespace:
    """The options with ``--trust-dir`` among the ``--trust`` anchors."""
    trust_dir = getattr(args, "trust_dir", None)
    if trust_dir is None:
        return args
    return argparse.Namespace(**{**vars(args), "trust": [*args.trust, trust_dir]})


def _stipa_puller(args: argparse.Namespace) -> Any:
    """The pull of the CA list ``--stipa-api`` describes (UsageError on bad options)."""
    from ..repository.https import HttpsSource, LayeredSource
    from ..service.trust_refresh import StipaPuller

    roots = stipa_roots(args)
    credentials = stipa_credentials(args)
    policy = stipa_fetch_policy(args)
    client = stipa_client(args, policy)
    https = HttpsSource(policy)
    certs = cert_map(args.cert)
    source = LayeredSource(certs, https) if certs else https
    return StipaPuller(args.trust_dir, client, credentials, roots, source)


def _first_pull(args: argparse.Namespace) -> int:
    """Before serving: a trust directory without a list gets one now (0), or serve stops (1)."""
    from ..errors import CaListError
    from ..repository.trustdir import read_trust_state

    try:
        if read_trust_state(args.trust_dir) is not None:
            return 0
    except CaListError as e:
        raise UsageError(f"--trust-dir: {e.detail}") from e
    pull = _stipa_puller(args)
    try:
        update = pull()
    except CaListError as e:
        sys.stderr.write(f"shakenkit: serve: no CA list in {args.trust_dir}: {e.detail}\n")
        return 1
    finally:
        pull.client.close()
    sys.stderr.write(
        f"shakenkit: installed CA list sequence {update.calist.sequence} "
        f"({len(update.calist.roots)} roots) in {args.trust_dir}\n"
    )
    return 0


class VerifierLoader:
    """Builds the :class:`~shakenkit.Verifier` the verification options describe, exactly as
    ``shakenkit verify`` does, re-reading the files on every call (reload) while keeping one
    HTTPS repository client, and so one certificate cache, for the life of the process."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = _with_trust_dir(args)
        self._https: Any = None

    def __call__(self) -> Any:
        from ..core.verifier import Verifier
        from ..errors import ShakenError
        from ..repository.https import HttpsSource, LayeredSource

        try:
            anchors, certs, crls, policy = verification_inputs(self.args)
            signers = crl_signer_inputs(self.args)
            if self.args.offline:
                return Verifier(
                    trust_anchors=anchors, certificates=certs, crls=crls, crl_signers=signers,
                    policy=policy,
                )
            if self._https is None:
                self._https = HttpsSource(fetch_policy(self.args))
            source = LayeredSource(certs, self._https) if certs else self._https
            return Verifier(
                trust_anchors=anchors, source=source, crls=crls, crl_signers=signers,
                policy=policy,
            )
        except ShakenError as e:
            raise UsageError(self._culprit() or e.detail) from e
        except (ValueError, OSError) as e:
            raise UsageError(self._culprit() or str(e)) from e

    def _culprit(self) -> str | None:
        """Which file made loading fail, and why (the verifier reports a bad CRL or anchor
        without its file name; a reload error must say which file to fix)."""
        from pathlib import Path

        from ..certs.crl import load_crls
        from ..certs.trust import ANCHOR_SUFFIXES, TrustStore

        checks: list[tuple[str, str, Callable[[bytes], object]]] = [
            ("--crl", path, load_crls) for path in self.args.crl
        ]
        for spec in self.args.trust:
            p = Path(spec)
            files = (
                sorted(
                    str(f)
                    for f in p.iterdir()
                    if f.is_file() and f.suffix.lower() in ANCHOR_SUFFIXES
                )
                if p.is_dir()
                else [spec]
            )
            checks += [("--trust", f, lambda data: TrustStore([data])) for f in files]
        for option, path, parse in checks:
            try:
                parse(Path(path).read_bytes())
            except Exception as e:
                detail = getattr(e, "detail", None) or str(e) or type(e).__name__
                return f"{option} {path}: {detail}"
        return None


def service_limits(args: argparse.Namespace) -> dict[str, Any]:
    """The service's limits from the options (ServiceApp keyword arguments); UsageError when
    one is out of range."""
    from ..service.app import DEFAULT_MAX_BODY, DEFAULT_MAX_CONCURRENCY, DEFAULT_READ_TIMEOUT

    max_body = args.max_body if args.max_body is not None else DEFAULT_MAX_BODY
    if max_body < 1024:
        raise UsageError("--max-body must be at least 1024")
    read_timeout = args.read_timeout if args.read_timeout is not None else DEFAULT_READ_TIMEOUT
    if not read_timeout > 0:
        raise UsageError("--read-timeout must be positive")
    max_concurrency = args.max_concurrency
    if max_concurrency is None:
        max_concurrency = DEFAULT_MAX_CONCURRENCY
    if max_concurrency < 1:
        raise UsageError("--max-concurrency must be at least 1")
    # The whole verification within one fetch's time and a second for the rest: the core's
    # per-fetch timeout alone lets a call with many x5u take many times --timeout.
    deadline = args.verify_deadline
    if deadline is None:
        deadline = args.timeout + 1.0
    if not deadline > 0:
        raise UsageError("--verify-deadline must be positive")
    return {
        "max_body": max_body,
        "read_timeout": read_timeout,
        "max_concurrency": max_concurrency,
        "verify_deadline": deadline,
    }


def build_app(args: argparse.Namespace) -> Any:
    """The :class:`~shakenkit.service.app.ServiceApp` the options describe (raises on bad
    options or unreadable files)."""
    from ..service.app import ServiceApp, SigningKey

    if (args.key is None) != (args.x5u is None):
        raise UsageError("--key and --x5u go together (signing needs both)")
    signing = None
    if args.key is not None:
        signing = SigningKey(load_signing_key(args.key), check_x5u(args.x5u))
    limits = service_limits(args)
    _trust_options(args)
    refresh = None
    if getattr(args, "trust_dir", None) is not None:
        from ..service.trust_refresh import TrustRefresh

        pull = _stipa_puller(args) if args.stipa_api is not None else None
        refresh = TrustRefresh(args.trust_dir, period=args.trust_refresh, pull=pull)
    return ServiceApp(
        VerifierLoader(args),
        signing=signing,
        default_now=args.now,
        trust_refresh=refresh,
        **limits,
    )


def app_from_environment() -> Any:
    """The app of one worker process, configured by the parent (``SHAKENKIT_SERVE_CONFIG``,
    the command's options as JSON): the uvicorn factory for ``--workers N``."""
    import os

    from ..service.runner import CONFIG_ENV

    options = json.loads(os.environ[CONFIG_ENV])
    return build_app(argparse.Namespace(**options))


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``shakenkit serve`` until SIGINT/SIGTERM: 0 after a clean stop, 1 when the server
    could not start (one ``shakenkit: error:`` line on stderr, e.g. the port is in use); usage
    errors raise UsageError (exit status 2)."""
    try:
        from ..service.runner import listen, run_server
    except ImportError as e:
        raise UsageError(
            f"shakenkit serve needs the 'serve' extra ({e.name} is missing): "
            "pip install 'shakenkit[serve]'"
        ) from e
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be 0..65535")
    options = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    _trust_options(args)
    if args.stipa_api is not None and _first_pull(args) != 0:
        return 1
    app = build_app(args)  # bad options and unreadable files are usage errors, found here
    try:
        sock = listen(args.host, args.port)
    except OSError as e:
        app.verifier.close()
        reason = (e.strerror or str(e)).lower()
        sys.stderr.write(f"shakenkit: error: cannot listen on {args.host}:{args.port}: {reason}\n")
        return 1
    if args.workers > 1:
        app.verifier.close()
        app = None
    return run_server(
        app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        factory=APP_FACTORY,
        config_json=json.dumps(options),
        log_level=args.log_level,
        access_log=args.access_log,
        sock=sock,
    )
