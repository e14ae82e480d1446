"""pcap and pcapng files, streamed: packet records in file order, and the cheap test that keeps
media from being decoded.

* **pcap** (draft-ietf-opsawg-pcap §4): a 24-byte file header (magic ``a1b2c3d4`` with
  microsecond or ``a1b23c4d`` with nanosecond timestamps, in either byte order; version 2.x;
  the link type), then 16-byte record headers, each followed by its captured bytes.
* **pcapng** (draft-ietf-opsawg-pcapng): blocks of a type and a length. Section Header Blocks
  (byte order per section), Interface Description Blocks (link type, ``if_tsresol``,
  ``if_tsoffset``), Enhanced, Simple and (obsolete) Packet Blocks; other blocks are skipped.

The file is read in chunks of :data:`CHUNK_BYTES` with ``read1`` (on a pipe, what has arrived
is processed at once: a verdict does not wait for the next megabyte). Records are walked in
the chunk without copying; a frame is cut out and decoded (:class:`~.packets.PacketDecoder`)
only when it may matter: it holds ``SIP/2.0`` or ``INVITE`` (found with one ``bytes.find``
over the chunk, not per frame), or it is an IP fragment, or a TCP stream holds part of a
message. Everything else (RTP, mostly) costs a few byte comparisons.

Every length is checked before it is used. A file that ends inside a record (truncated) or
whose lengths stop making sense (corrupt) ends the reading there with one warning naming the
file and the byte offset; records before it are kept, and the record at the cut is not read.
Memory is bounded by a chunk and the largest record (:data:`MAX_FRAME_BYTES`,
:data:`MAX_BLOCK_BYTES`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from .packets import SUPPORTED_LINKTYPES, PacketDecoder, probe, tcp_invite
from .records import CallRecord, CaptureError, Progress, Warn, plausible_time

__all__ = [
    "CHUNK_BYTES",
    "MAX_BLOCK_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_INTERFACES",
    "PCAPNG_MAGIC",
    "PCAP_MAGICS",
    "read_pcap",
    "read_pcapng",
]

PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
CHUNK_BYTES = 1 << 20
MAX_FRAME_BYTES = 262_144
"""Largest captured frame (Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD); a longer record is
corrupt."""
MAX_BLOCK_BYTES = 16 << 20
"""Largest pcapng block held in memory; a longer non-packet block is skipped unread."""
MAX_INTERFACES = 4096
"""Interface Description Blocks per pcapng section."""

_SIP = b"SIP/2.0"
_SHB = 0x0A0D0D0A
_BOMS = (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d")  # little-, big-endian byte-order magic


def _reader(f: Any) -> Callable[[int], bytes]:
    """``read1`` when the stream has it (returns what is available: pipes stream), else
    ``read``."""
    read1 = getattr(f, "read1", None)
    return read1 if callable(read1) else f.read  # type: ignore[no-any-return]


def _fill(read: Callable[[int], bytes], buf: bytes, want: int) -> bytes:
    """``buf`` extended by reads until it holds ``want`` bytes or the stream ends."""
    while len(buf) < want:
        more = read(max(want - len(buf), CHUNK_BYTES))
        if not more:
            break
        buf += more
    return buf


def _s(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _end_of_capture(
    name: str, dec: PacketDecoder, size: int, warn: Warn, warned: bool = False
) -> None:
    """The capture ends (at ``size``): what streams hold is partial and is never read; say
    so unless the cut was already reported."""
    partial = dec.finish()
    if partial and not warned:
        warn(
            f"{name}: truncated at byte {size}: the capture ends inside "
            f"{_s(partial, 'INVITE')} on TCP; {'it is' if partial == 1 else 'they are'} "
            "not verified"
        )


def read_pcap(
    name: str, f: Any, dec: PacketDecoder, tick: Progress, warn: Warn
) -> Iterator[CallRecord]:
    """The records of a pcap file (``f`` positioned at its start)."""
    read = _reader(f)
    buf = _fill(read, b"", 24)
    if len(buf) < 24 or buf[:4] not in PCAP_MAGICS:
        raise CaptureError(f"{name}: not a readable pcap file (the file header is cut short)")
    magic = buf[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    unit = 1e9 if magic in (b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1") else 1e6
    major, minor, _zone, _sigfigs, _snaplen, lt = struct.unpack_from(e + "HHiIII", buf, 4)
    if major != 2:
        raise CaptureError(f"{name}: not a readable pcap file (version {major}.{minor})")
    lt &= 0xFFFF  # the upper bits hold FCS information
    if lt not in SUPPORTED_LINKTYPES:
        warn(f"{name}: link type {lt} is not supported: its frames are skipped")
    unpack = struct.Struct(e + "IIII").unpack_from
    eth = lt == 1
    frame = 0
    pos = 24
    base = 0  # file offset of buf[0]
    busy = False
    while True:
        n = len(buf)
        h = buf.find(_SIP, pos)
        h = n if h < 0 else h
        while pos + 16 <= n:
            sec, frac, caplen, _wire = unpack(buf, pos)
            end = pos + 16 + caplen
            if end > n:
                if caplen > MAX_FRAME_BYTES:
                    warn(
                        f"{name}: corrupt at byte {base + pos}: frame {frame + 1} claims "
                        f"{caplen} bytes (at most {MAX_FRAME_BYTES}); stopped there"
                    )
                    _end_of_capture(name, dec, base + pos, warn, True)
                    return
                break
            frame += 1
            if end > h:
                go = hit = True
            elif eth and caplen >= 34 and buf[pos + 28] == 8 and buf[pos + 29] == 0:
                # Ethernet, IPv4 (inlined: most frames). A fragment (MF or an offset) may
                # belong to a SIP datagram; a TCP segment may start an INVITE.
                if buf[pos + 36] & 0x3F or buf[pos + 37]:
                    go, hit = True, False
                elif buf[pos + 39] == 6:
                    hit = tcp_invite(buf, pos + 30, end)
                    go = hit or busy
                else:
                    go, hit = busy, False
            else:
                kind = probe(lt, buf, pos + 16, end)
                hit = kind == 2
                go = kind > 0 or busy
            if go:
                recs = dec.frame(
                    lt, buf[pos + 16 : end], frame, plausible_time(sec + frac / unit), hit
                )
                busy = dec.busy
                yield from recs
                if end > h:
                    h = buf.find(_SIP, end)
                    h = n if h < 0 else h
            pos = end
        tick(frame, base + pos)
        more = read(CHUNK_BYTES)
        if not more:
            if pos < n:
                warn(
                    f"{name}: truncated at byte {base + n}: frame {frame + 1} (from byte "
                    f"{base + pos}) is cut short; stopped there, it is not read"
                )
            _end_of_capture(name, dec, base + n, warn, pos < n)
            return
        buf = buf[pos:] + more
        base += pos
        pos = 0


class _Interface:
    __slots__ = ("linktype", "offset", "units")

    def __init__(self, linktype: int, units: float, offset: int) -> None:
        self.linktype = linktype
        self.units = units
        self.offset = offset


def _interface(body: bytes, e: str) -> _Interface:
    """An Interface Description Block's link type and timestamp resolution and offset."""
    lt, _reserved, _snaplen = struct.unpack_from(e + "HHI", body, 0)
    units, offset = 1e6, 0
    p = 8
    while p + 4 <= len(body):
        code, length = struct.unpack_from(e + "HH", body, p)
        value = body[p + 4 : p + 4 + length]
        if code == 0 or len(value) < length:  # opt_endofopt, or an option cut short
            break
        if code == 9 and length == 1:  # if_tsresol: 10^-v, or 2^-v when the top bit is set
            v = value[0]
            units = float(2 ** (v & 0x7F) if v & 0x80 else 10 ** min(v, 30))
        elif code == 14 and length == 8:  # if_tsoffset: seconds added to every timestamp
            (offset,) = struct.unpack(e + "q", value)
        p += 4 + length + (-length % 4)
    return _Interface(lt, units, offset)


def read_pcapng(
    name: str, f: Any, dec: PacketDecoder, tick: Progress, warn: Warn
) -> Iterator[CallRecord]:
    """The records of a pcapng file (``f`` positioned at its start)."""
    read = _reader(f)
    buf = _fill(read, b"", 28)
    bom = buf[8:12]
    if len(buf) < 28 or buf[:4] != PCAPNG_MAGIC or bom not in _BOMS:
        raise CaptureError(f"{name}: not a readable pcapng file (the section header is cut short)")
    e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
    blen, _bom, major, minor = struct.unpack_from(e + "IIHH", buf, 4)
    if major != 1 or blen < 28 or blen % 4:
        raise CaptureError(f"{name}: not a readable pcapng file (version {major}.{minor})")
    head = struct.Struct(e + "II").unpack_from
    epb = struct.Struct(e + "IIIII").unpack_from
    ifaces: list[_Interface] = []
    warned: set[int] = set()
    frame = 0
    pos = 0
    base = 0  # file offset of buf[0]
    busy = False
    skip = 0  # bytes of an oversized non-packet block still to discard
    skip_from = 0

    def stop(at: int, why: str) -> None:
        warn(f"{name}: corrupt at byte {at}: {why}; stopped there")
        _end_of_capture(name, dec, at, warn, True)

    while True:
        n = len(buf)
        h = buf.find(_SIP, pos)
        h = n if h < 0 else h
        while pos + 12 <= n:
            btype, blen = head(buf, pos)
            if btype == _SHB:
                # A new section; its byte order is given by its byte-order magic.
                bom = buf[pos + 8 : pos + 12]
                if bom not in _BOMS:
                    stop(base + pos, "a section header without its byte-order magic")
                    return
                e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                head = struct.Struct(e + "II").unpack_from
                epb = struct.Struct(e + "IIIII").unpack_from
                btype, blen = head(buf, pos)
            if blen < 12 or blen % 4:
                stop(base + pos, f"a block of {blen} bytes")
                return
            end = pos + blen
            if end > n:
                if blen > MAX_BLOCK_BYTES:
                    if btype in (1, 2, 3, 6, _SHB):
                        stop(base + pos, f"a block of {blen} bytes (at most {MAX_BLOCK_BYTES})")
                        return
                    skip = end - n  # a block not read, too large to hold: discard its bytes
                    skip_from = base + pos
                    pos = n
                break
            if buf[end - 4 : end] != buf[pos + 4 : pos + 8]:
                stop(base + pos, "a block whose two length fields differ")
                return
            if btype == 6 or btype == 2:  # Enhanced Packet Block; the obsolete Packet Block
                frame += 1
                if blen < 32:
                    stop(base + pos, f"frame {frame}: a packet block cut short")
                    return
                if btype == 6:
                    iface, tshi, tslo, caplen, _wire = epb(buf, pos + 8)
                else:
                    iface, _drops, tshi, tslo, caplen, _wire = struct.unpack_from(
                        e + "HHIIII", buf, pos + 8
                    )
                d = pos + 28
                dend = d + caplen
                if dend > end - 4:
                    stop(base + pos, f"frame {frame} is longer than its block")
                    return
                if iface < len(ifaces):
                    itf = ifaces[iface]
                    lt = itf.linktype
                    if dend > h:
                        go = hit = True
                    else:
                        kind = probe(lt, buf, d, dend)
                        hit = kind == 2
                        go = kind > 0 or busy
                    if go:
                        ts = plausible_time(((tshi << 32) | tslo) / itf.units + itf.offset)
                        recs = dec.frame(lt, buf[d:dend], frame, ts, hit)
                        busy = dec.busy
                        yield from recs
            elif btype == 3:  # Simple Packet Block: interface 0, no timestamp
                frame += 1
                if blen < 16:
                    stop(base + pos, f"frame {frame}: a packet block cut short")
                    return
                (wire,) = struct.unpack_from(e + "I", buf, pos + 8)
                d = pos + 12
                dend = d + min(wire, blen - 16)
                if ifaces:
                    lt = ifaces[0].linktype
                    kind = 2 if dend > h else probe(lt, buf, d, dend)
                    if kind or busy:
                        recs = dec.frame(lt, buf[d:dend], frame, None, kind == 2)
                        busy = dec.busy
                        yield from recs
            elif btype == 1:  # Interface Description Block
                if len(ifaces) >= MAX_INTERFACES:
                    stop(base + pos, f"more than {MAX_INTERFACES} interfaces in a section")
                    return
                if blen < 20:
                    stop(base + pos, "an interface description block cut short")
                    return
                itf = _interface(buf[pos + 8 : end - 4], e)
                ifaces.append(itf)
                if itf.linktype not in SUPPORTED_LINKTYPES and itf.linktype not in warned:
                    warned.add(itf.linktype)
                    warn(
                        f"{name}: link type {itf.linktype} is not supported: its frames are skipped"
                    )
            elif btype == _SHB:
                (major,) = struct.unpack_from(e + "H", buf, pos + 12) if blen >= 28 else (0,)
                if major != 1:
                    stop(base + pos, f"a section of pcapng version {major}")
                    return
                ifaces = []
            # Other blocks (name resolution, statistics, secrets, custom ...) are skipped.
            if end > h:
                h = buf.find(_SIP, end)
                h = n if h < 0 else h
            pos = end
        tick(frame, base + pos)
        more = read(CHUNK_BYTES)
        if skip:
            base += n
            buf, pos, n = b"", 0, 0
            while skip and more:
                k = min(skip, len(more))
                skip -= k
                base += k
                more = more[k:] or read(CHUNK_BYTES)
        if not more:
            if pos < n or skip:
                warn(
                    f"{name}: truncated at byte {base + n}: the block from byte "
                    f"{skip_from if skip else base + pos} is cut short; stopped there, it is "
                    "not read"
                )
            _end_of_capture(name, dec, base + n, warn, bool(pos < n or skip))
            return
        buf = buf[pos:] + more
        base += pos
        pos = 0
