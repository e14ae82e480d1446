"""The ``shakenkit`` command: ``verify`` Identity headers or a SIP message, ``scan`` captures and
call files, show and lint STI certificates (``cert``), ``sign`` a test call, run the ``demo``,
``traceback`` call files, ``serve`` verification over HTTP (ATIS-1000082), keep the ``trust``
anchors equal to the STI-PA's CA list.

Exit status: 0 when every verdict is TN-Validation-Passed, 1 otherwise, 2 on usage errors.
Usage errors are one line on stderr, ``shakenkit: error: ...``. See docs/cli.md.

Each command is a module with ``add_parser(subparsers)`` and ``run(args, out)``; a new command
is a new module added to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from .. import __version__
from . import cert, demo, scan, serve, sign, traceback, trust, verify
from .options import Parser, UsageError

__all__ = ["COMMANDS", "build_parser", "main"]

# The sub-commands in the order ``shakenkit --help`` lists them.
COMMANDS: dict[str, ModuleType] = {
    "verify": verify,
    "scan": scan,
    "cert": cert,
    "sign": sign,
    "demo": demo,
    "traceback": traceback,
    "serve": serve,
    "trust": trust,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation generation)."""
    p = Parser(
        prog="shakenkit",
        description="STIR/SHAKEN verification (STI-VS).",
        epilog="run 'shakenkit COMMAND --help' for a command's options and examples",
    )
    p.add_argument("--version", action="version", version=f"shakenkit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shakenkit`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "verify" and not args.identity and args.sip is None:
        # IDENTITY is required unless --sip is given (argparse's own message and exit status).
        args.parser.error("the following arguments are required: IDENTITY")
    out = sys.stdout
    try:
        return int(COMMANDS[args.command].run(args, out))
    except UsageError as e:
        sys.stderr.write(f"shakenkit: error: {e}\n")
        return 2
    except BrokenPipeError:
        return 1
