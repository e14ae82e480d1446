"""Calls as they arrive: read SIP INVITEs from captures and files, and verify them.

:func:`read_records` sniffs the format from the first bytes (never the file name), opens
gzip transparently, and hands the stream to the reader of that format:

* **pcap** and **pcapng** (:mod:`.pcap` for the file framing, :mod:`.packets` for link
  layer, IPv4/IPv6 with fragments, UDP and TCP stream reassembly), written by hand over
  ``struct`` and bounds-checked; media and other non-SIP frames are skipped without being
  decoded. SIP is recognised on any port by its start line; only ``INVITE`` requests are
  yielded (responses, other requests and ICMP-quoted copies are skipped);
* **SIP text** (:mod:`.text`): messages one after another;
* **JSON Lines** (:mod:`.jsonl`): one object a line with ``identity``, ``orig``, ``dest``,
  ``time``, ``call_id``.

Everything streams: records come out as soon as their message is complete (on a pipe too),
and memory stays bounded whatever the file length. A capture that is truncated or corrupt ends
at the cut with a warning naming the file and the byte offset; the message at the cut is never
read.

:func:`verify_records` runs a :class:`~shakenkit.Verifier` over the records. Captured calls are
checked after the fact, so freshness is judged at the capture time of the packet (or the record's
``time``, or the message's ``Date``), unless an explicit ``now`` is given.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

from ..core.sip_message import DEFAULT_MAX_MESSAGE_BYTES, malformed_message_verdict
from .framing import is_start_line
from .jsonl import read_jsonl
from .packets import (
    FRAGMENT_TIMEOUT_SECONDS,
    MAX_FRAGMENTED_DATAGRAMS,
    MAX_HOLDING_STREAMS,
    MAX_TCP_STREAMS,
    STREAM_IDLE_SECONDS,
    SUPPORTED_LINKTYPES,
    PacketDecoder,
)
from .pcap import PCAP_MAGICS, PCAPNG_MAGIC, read_pcap, read_pcapng
from .records import CallRecord, CaptureError, CaptureWarning, Progress, warn_default
from .text import read_sip_text

if TYPE_CHECKING:
    from ..core.verdict import Verdict
    from ..core.verifier import Verifier

__all__ = [
    "FRAGMENT_TIMEOUT_SECONDS",
    "MAX_FRAGMENTED_DATAGRAMS",
    "MAX_HOLDING_STREAMS",
    "MAX_TCP_STREAMS",
    "PCAPNG_MAGIC",
    "PCAP_MAGICS",
    "STREAM_IDLE_SECONDS",
    "SUPPORTED_LINKTYPES",
    "CallRecord",
    "CaptureError",
    "CaptureWarning",
    "ScanResult",
    "judged_at",
    "read_records",
    "sniff_file",
    "sniff_format",
    "verify_records",
]

Format = Literal["pcap", "pcapng", "sip", "jsonl"]

_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 4096


# -- sniffing and opening ---------------------------------------------------------------------


def sniff_format(head: bytes) -> Format | None:
    """The format of a file from its first bytes, or None when unknown."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text[:1] == b"{":
        return "jsonl"
    # SIP text: a start line opens the file, or one follows a few lines of comments.
    lines = text.split(b"\n")
    for line in lines[:-1] if len(lines) > 1 else lines:
        if is_start_line(line.rstrip(b"\r")):
            return "sip"
    return None


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with its first bytes (already read for sniffing) put back.
    Reads return what is available (``read1``), so a pipe streams through."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head = head
        self._rest = rest
        read1 = getattr(rest, "read1", None)
        self._read = read1 if callable(read1) else rest.read

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._read(len(b))
        b[: len(data)] = data
        return len(data)


def _no_progress(items: int, nbytes: int) -> None:
    pass


def _head(f: Any) -> bytes:
    """The first bytes of ``f``: enough to tell its format, at most 4 KiB. Reads what is
    available at a time (``read1``), so that a pipe that has sent a small file header is not
    waited on for 4 KiB."""
    read1 = getattr(f, "read1", None)
    read = read1 if callable(read1) else f.read
    head = b""
    while len(head) < _HEAD_BYTES:
        more = read(_HEAD_BYTES - len(head))
        if not more:
            break
        head += more
        if head[:2] == _GZIP_MAGIC or sniff_format(head) is not None:
            break
    return head


def _rewound(f: Any, seek: bool = True) -> tuple[bytes, Any]:
    """Read the first bytes of ``f`` and return them with a stream positioned at 0 (``f``
    itself rewound when it can seek and ``seek``, else a stream that puts them back)."""
    head = _head(f)
    if seek and f.seekable():
        f.seek(0)
        return head, f
    return head, io.BufferedReader(_Prefixed(head, f))


def sniff_file(path: str | os.PathLike[str]) -> Format | None:
    """The format of the file at ``path`` (looking inside gzip), None for an empty file.
    Raises :class:`CaptureError` when it cannot be read or its format is unknown."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise CaptureError(f"cannot read {name}: is a directory")
    try:
        with open(name, "rb") as f:
            head = f.read(_HEAD_BYTES)
            if head[:2] == _GZIP_MAGIC:
                f.seek(0)
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    head = g.read(_HEAD_BYTES)
    except (OSError, EOFError) as e:
        raise CaptureError(f"cannot read {name}: {getattr(e, 'strerror', None) or e}") from e
    fmt = sniff_format(head)
    if fmt is None and head.strip():
        raise CaptureError(f"{name}: unknown format (not pcap, pcapng, SIP messages or JSON Lines)")
    return fmt


def read_records(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    invites_only: bool = True,
    progress: Callable[[int, int], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Iterator[CallRecord]:
    """Read the calls in a file (a path, ``-`` for stdin, or a binary file object), whatever its
    format (sniffed; gzip-compressed files too). Raises :class:`CaptureError` when the file
    cannot be opened or its format is unknown.

    Records come out as soon as their message is complete, so a capture written to a pipe
    (``dumpcap -w - | ...``) is verified as it arrives. A capture that is truncated (it ends
    inside a record, or inside an INVITE on TCP) or corrupt ends at the cut: the records before
    it are yielded, the partial message is not, and one warning names the file and the byte
    offset. Warnings go to ``on_warning`` (one sentence each), by default to
    :func:`warnings.warn` as :class:`CaptureWarning`.

    With ``invites_only`` (the default) only INVITE requests are yielded from SIP inputs.
    ``progress(items, nbytes)`` is called now and then with the frames or lines read so far and
    the bytes of the file read (of the compressed file, for gzip)."""
    owned: list[Any] = []
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        if name == "-":
            name, f = "<stdin>", sys.stdin.buffer
        else:
            if os.path.isdir(name):
                raise CaptureError(f"cannot read {name}: is a directory")
            try:
                f = open(name, "rb")  # noqa: SIM115 - closed in the finally clause below
            except OSError as e:
                raise CaptureError(f"cannot read {name}: {e.strerror or e}") from e
            owned.append(f)
    else:
        name, f = str(getattr(source, "name", "<stream>")), source
    warn = on_warning or warn_default
    report = progress or _no_progress
    tick: Progress = report
    try:
        try:
            head, f = _rewound(f)
            if head[:2] == _GZIP_MAGIC:
                raw = f
                f = gzip.GzipFile(fileobj=raw, mode="rb")
                owned.append(f)
                # A GzipFile "seeks" back by decompressing again, from its source: not from a
                # pipe. Put the head back instead.
                head, f = _rewound(f, seek=False)
                if progress is not None and raw.seekable():

                    def tick(items: int, nbytes: int) -> None:
                        report(items, raw.tell())  # compressed bytes consumed

        except (OSError, EOFError, zlib.error) as e:
            raise CaptureError(f"cannot read {name}: {e}") from e
        fmt = sniff_format(head)
        if fmt is None:
            if not head.strip():
                return  # an empty file holds no calls
            raise CaptureError(
                f"{name}: unknown format (not pcap, pcapng, SIP messages or JSON Lines)"
            )
        if fmt in ("pcap", "pcapng"):
            dec = PacketDecoder(name, max_message_bytes, invites_only, warn)
            reader = (read_pcap if fmt == "pcap" else read_pcapng)(name, f, dec, tick, warn)
            try:
                yield from reader
            except (EOFError, zlib.error, gzip.BadGzipFile) as e:
                # A compressed capture that breaks off: stop there, as for a truncated file.
                warn(f"{name}: truncated: the compressed data ends early ({e}); stopped there")
            return
        if fmt == "sip":
            reader = read_sip_text(name, f, max_message_bytes, invites_only, tick)
        else:
            reader = read_jsonl(name, f, max_message_bytes, tick)
        try:
            yield from reader
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            # A compressed text file that breaks off mid-stream (what was read is kept).
            raise CaptureError(f"cannot read {name}: compressed data ends early ({e})") from e
    finally:
        for o in reversed(owned):
            o.close()


# -- verification -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The verdict of one record's call (or of a call without an Identity header).

    ``header`` is 0 when the call carried Identity headers (each one's outcome is in
    ``verdict.headers``), None for a call without one or a message that could not be parsed;
    ``verified_at`` the time freshness was judged at.
    """

    record: CallRecord
    verdict: Verdict
    header: int | None
    verified_at: float

    def to_dict(self) -> dict[str, Any]:
        """The verdict's JSON fields plus where it came from (``source``, ``frame`` or ``line``,
        ``call_id``, ``time``, ``verified_at``, ``transport``, ``calling``, ``called``)."""
        try:
            out: dict[str, Any] = json.loads(self.verdict.model_dump_json())
        except ValueError:  # text pydantic cannot encode (a lone surrogate in a claim)
            out = self.verdict.model_dump()
        r = self.record
        out["source"] = r.source
        if r.frame is not None:
            out["frame"] = r.frame
            out["transport"] = r.transport
        else:
            out["line"] = r.line
        out["call_id"] = r.call_id
        out["header"] = self.header
        out["time"] = r.time
        out["verified_at"] = self.verified_at
        out["calling"] = r.orig
        out["called"] = r.dest
        return out


def judged_at(record: CallRecord, now: float | None = None) -> float:
    """The time a record's freshness is judged at: ``now`` when given, else the capture time or
    the record's ``time``, else the message's Date header, else the current time."""
    if now is not None:
        return now
    if record.time is not None:
        return record.time
    if record.message is not None and record.message.date is not None:
        return float(record.message.date)
    return time.time()


def verify_records(
    verifier: Verifier,
    records: Iterable[CallRecord],
    *,
    now: float | None = None,
) -> Iterator[ScanResult]:
    """Verify each record: one :class:`ScanResult` per call, the call's verdict with one
    :class:`~shakenkit.HeaderResult` per Identity header in ``verdict.headers`` (a
    No-TN-Validation result for a call without any; a 438 result for an INVITE that cannot be
    parsed; a forwarded call's ``div`` PASSporTs linked, RFC 8946). Records marked ``invalid``
    (unusable JSON Lines) are skipped: check ``record.invalid`` on the input side if you need
    to count them."""
    for rec in records:
        if rec.invalid is not None:
            continue
        t = judged_at(rec, now)
        if rec.error is not None:
            yield ScanResult(rec, malformed_message_verdict(rec.error), None, t)
        elif rec.message is not None:
            v = verifier.verify_sip(rec.message, now=t)
            yield ScanResult(rec, v, 0 if rec.message.identity else None, t)
        elif not rec.identity:
            yield ScanResult(rec, verifier.verify(None, now=t), None, t)
        else:
            v = verifier.verify(list(rec.identity), orig=rec.orig, dest=rec.dest, now=t)
            yield ScanResult(rec, v, 0, t)
