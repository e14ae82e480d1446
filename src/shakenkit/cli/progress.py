"""A one-line progress indicator on stderr for long commands (``scan``, ``traceback``).

Shown only when stderr is a terminal and ``--quiet`` is not given: what has been read (frames
or records, and bytes), the calls verified, the rate, and the percentage and an ETA when the
input's size is known (regular files; not a pipe). It redraws at most five times a second and
is erased when the work ends, and before a warning is written, so a warning is never mixed
into it. When stderr is not a terminal it writes nothing at all.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TextIO

__all__ = ["Progress", "input_size"]

_REDRAW_SECONDS = 0.2


def input_size(paths: list[str]) -> int | None:
    """The total size of the inputs in bytes, or None when one of them is not a regular file
    (stdin, a pipe)."""
    total = 0
    for p in paths:
        if p == "-":
            return None
        try:
            st = os.stat(p)
        except OSError:
            return None
        if not os.path.isfile(p):
            return None
        total += st.st_size
    return total


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """The indicator: :meth:`update` with the counts as they grow, :meth:`clear` before
    writing anything else to the stream, :meth:`done` at the end."""

    def __init__(
        self,
        stream: TextIO,
        *,
        quiet: bool = False,
        total_bytes: int | None = None,
        unit: str = "records",
        label: str = "",
    ) -> None:
        self.stream = stream
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.on = tty and not quiet
        self.total_bytes = total_bytes
        self.unit = unit
        self.started = time.monotonic()
        self.last = float("-inf")
        self.shown = False
        self.label = label
        self.items = 0  # frames or records read in the files done
        self.items_now = 0  # ... and in the current one
        self.bytes = 0
        self.bytes_now = 0
        self.calls = 0

    # -- counts ------------------------------------------------------------------------------

    def next_file(self, label: str) -> None:
        """Start reading another input (its counts add to the ones before)."""
        self.items += self.items_now
        self.bytes += self.bytes_now
        self.items_now = self.bytes_now = 0
        self.label = label
        self.draw()

    def read(self, items: int, nbytes: int) -> None:
        """What the current input's reader has read so far (``read_records``' progress)."""
        self.items_now, self.bytes_now = items, nbytes
        self.draw()

    def verified(self, calls: int) -> None:
        """Calls verified so far, all inputs together."""
        self.calls = calls
        self.draw()

    # -- drawing -----------------------------------------------------------------------------

    def text(self, now: float | None = None) -> str:
        """The status line for the counts so far."""
        now = time.monotonic() if now is None else now
        elapsed = max(now - self.started, 1e-6)
        items = self.items + self.items_now
        nbytes = self.bytes + self.bytes_now
        parts = [f"{items:,} {self.unit}", _size(nbytes)]
        if self.total_bytes:
            pct = min(100.0, 100.0 * nbytes / self.total_bytes)
            parts[-1] += f" of {_size(self.total_bytes)} ({pct:.0f}%)"
        parts.append(f"{self.calls:,} calls verified")
        parts.append(f"{items / elapsed:,.0f} {self.unit}/s")
        if self.total_bytes and nbytes and elapsed >= 0.5:
            left = max(0, self.total_bytes - nbytes) * elapsed / nbytes
            parts.append(f"ETA {_duration(left)}")
        head = f"{self.label}: " if self.label else ""
        return head + ", ".join(parts)

    def draw(self, force: bool = False) -> None:
        """Redraw the line (at most every 0.2 s unless ``force``)."""
        if not self.on:
            return
        now = time.monotonic()
        if not force and now - self.last < _REDRAW_SECONDS:
            return
        self.last = now
        self.shown = True
        cols = 120
        with contextlib.suppress(OSError, ValueError, AttributeError):
            width = os.get_terminal_size(self.stream.fileno()).columns
            if width > 0:  # 0: a terminal that does not know its size
                cols = max(20, width - 1)
        self.stream.write("\r\x1b[K" + self.text(now)[:cols])
        self.stream.flush()

    def clear(self) -> None:
        """Erase the line (before a warning or the final report is written)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
            self.last = float("-inf")

    def done(self) -> None:
        """The work is over: erase the line."""
        self.clear()
