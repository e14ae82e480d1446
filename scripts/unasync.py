"""Write the sync twins of async code from the async source, as httpcore does (its
``scripts/unasync.py``): one implementation behind sync and async (docs/architecture.md).

A file opts in with marked regions; the async code between the first two markers is the source,
and this script rewrites it into the sync code between the last two::

    # unasync: async source (scripts/unasync.py writes the sync code below from it)
    ...async code, edited by hand...
    # unasync: sync code generated from the async source above; do not edit (scripts/unasync.py)
    ...sync code, written by this script...
    # unasync: end

Usage: ``python scripts/unasync.py`` rewrites the sync code; ``--check`` changes nothing and
exits 1 naming each region whose sync code differs from what the async source gives (a test,
tests/test_unasync.py, runs the check).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The files with regions.
FILES = ["src/shakenkit/repository/transport.py"]

SOURCE = "# unasync: async source"
GENERATED = "# unasync: sync code generated"
END = "# unasync: end"

# Whole-word rewrites, in order: the async spelling on the left, the sync one on the right.
RULES: list[tuple[str, str]] = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    # httpcore / httpx interfaces
    (r"\bAsyncNetworkStream\b", "NetworkStream"),
    (r"\bAsyncNetworkBackend\b", "NetworkBackend"),
    (r"\bAnyIOBackend\b", "SyncBackend"),
    (r"\bAsyncConnectionPool\b", "ConnectionPool"),
    (r"\bAsyncBaseTransport\b", "BaseTransport"),
    (r"\bAsyncByteStream\b", "SyncByteStream"),
    (r"\bhandle_async_request\b", "handle_request"),
    (r"\baiter_raw\b", "iter_raw"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\baclose\b", "close"),
    (r"\banyio\.sleep\b", "time.sleep"),
    # our names
    (r"\b_AsyncDeadlineStream\b", "_DeadlineStream"),
    (r"\b_AsyncGuardedBackend\b", "_GuardedBackend"),
    (r"\b_AsyncGuardedTransport\b", "_GuardedTransport"),
    (r"\b_AsyncBody\b", "_SyncBody"),
    (r"\b_resolve_async\b", "_resolve_sync"),
    (r"\b_async_wall_clock\b", "_sync_wall_clock"),
    (r"\b_async_client\b", "_sync_client"),
    (r"\b_aread_body\b", "_read_body"),
    (r"\badownload\b", "download"),
]
_COMPILED = [(re.compile(pattern), repl) for pattern, repl in RULES]

# `async for x in y: yield x` has no shorter async spelling; its sync rewrite is `yield from y`.
_YIELD_EACH = re.compile(r"^([ \t]*)for (\w+) in (.+):\n[ \t]*yield \2\n", re.MULTILINE)


def unasync_line(line: str) -> str:
    """One line of async source as sync code."""
    for pattern, repl in _COMPILED:
        line = pattern.sub(repl, line)
    return line


def _regions(lines: list[str], name: str) -> list[tuple[int, int, int]]:
    """(source marker, generated marker, end marker) line indexes of each region."""
    found: list[tuple[int, int, int]] = []
    marks = [(i, line.strip()) for i, line in enumerate(lines) if "# unasync:" in line]
    for at in range(0, len(marks), 3):
        trio = marks[at : at + 3]
        expected = (SOURCE, GENERATED, END)
        kinds = [text.startswith(k) for (_, text), k in zip(trio, expected, strict=False)]
        if len(trio) != 3 or not all(kinds):
            raise SystemExit(f"{name}:{trio[0][0] + 1}: unasync markers out of order")
        found.append((trio[0][0], trio[1][0], trio[2][0]))
    return found


def generate(text: str, name: str) -> tuple[str, list[int]]:
    """``text`` with every region's sync code rewritten; the (1-based) lines of the regions
    whose sync code changed."""
    lines = text.splitlines(keepends=True)
    changed: list[int] = []
    for source, generated, end in reversed(_regions(lines, name)):
        # The source region is the code after its marker line up to the generated marker; blank
        # lines at both ends are kept as they are, so the layout of the two copies matches.
        sync = "".join(unasync_line(line) for line in lines[source + 1 : generated])
        body = _YIELD_EACH.sub(r"\1yield from \3\n", sync).splitlines(keepends=True)
        if lines[generated + 1 : end] != body:
            changed.append(generated + 1)
        lines[generated + 1 : end] = body
    return "".join(lines), sorted(changed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 on drift")
    args = ap.parse_args(argv)
    drift = False
    for name in FILES:
        path = ROOT / name
        text = path.read_text()
        new, changed = generate(text, name)
        if not changed:
            continue
        if args.check:
            drift = True
            for line in changed:
                print(
                    f"{name}:{line}: the sync code differs from its async source "
                    "(run scripts/unasync.py)",
                    file=sys.stderr,
                )
        else:
            path.write_text(new)
            print(f"{name}: rewrote {len(changed)} region(s)")
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
