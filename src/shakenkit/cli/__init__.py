"""The ``shakenkit`` command: one module per command over a shared options module.

:func:`main` (the console-script entry point) and :func:`build_parser` live in ``app``; each
command is a module with ``add_parser(subparsers)`` and ``run(args, out)``. Nothing imports
this package but the entry point and tests: it sits on top of every other package
(docs/architecture.md).
"""

from .app import build_parser, main

__all__ = ["build_parser", "main"]
