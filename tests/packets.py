"""Frames and capture files built by hand, for the tests, scripts/make_samples.py and
benchmarks/bench_scan.py.

Each builder returns the bytes of one protocol layer with its payload, as the documents define
them: Ethernet II and IEEE 802.1Q, Linux cooked capture (SLL, SLL2), BSD loopback, IPv4
(RFC 791, with its header checksum), IPv6 (RFC 8200, the Fragment header §4.5), UDP (RFC 768),
TCP (RFC 9293), ICMP (RFC 792); and the two capture file formats, pcap and pcapng
(draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng). The reader in ``shakenkit.sip`` is written
separately; the tests use these builders as an independent writer, and tshark reads what they
write (benchmarks/bench_scan.py).
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
ETH_IPV4, ETH_IPV6, ETH_VLAN = 0x0800, 0x86DD, 0x8100
TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _addr(a: str) -> bytes:
    return ipaddress.ip_address(a).packed


# -- link layers --------------------------------------------------------------------------------


def ether(
    payload: bytes,
    ethertype: int = ETH_IPV4,
    *,
    vlans: Iterable[int] = (),
    src: bytes = MAC_A,
    dst: bytes = MAC_B,
) -> bytes:
    """An Ethernet II frame, with 802.1Q tags (outermost first)."""
    tags = b"".join(struct.pack("!HH", ETH_VLAN, v & 0x0FFF) for v in vlans)
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def sll(payload: bytes, proto: int = ETH_IPV4) -> bytes:
    """Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113): 16-byte header."""
    return struct.pack("!HHH8sH", 0, 1, 6, MAC_A + b"\x00\x00", proto) + payload


def sll2(payload: bytes, proto: int = ETH_IPV4, ifindex: int = 1) -> bytes:
    """Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 276): 20-byte header."""
    return struct.pack("!HHIHBB8s", proto, 0, ifindex, 1, 0, 6, MAC_A + b"\x00\x00") + payload


def loopback(payload: bytes, family: int = 2) -> bytes:
    """BSD loopback (LINKTYPE_NULL, 0): the address family in host byte order (little here)."""
    return struct.pack("<I", family) + payload


# -- network ------------------------------------------------------------------------------------


def ipv4(
    payload: bytes,
    src: str,
    dst: str,
    proto: int,
    *,
    ident: int = 1,
    more: bool = False,
    offset: int = 0,
    ttl: int = 64,
    total: int | None = None,
) -> bytes:
    """An IPv4 packet (RFC 791); ``offset`` in bytes (a multiple of 8); ``total`` overrides
    the Total Length field."""
    flags = (0x2000 if more else 0) | (offset // 8)
    length = 20 + len(payload) if total is None else total
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, length, ident, flags, ttl, proto, 0, _addr(src), _addr(dst)
    )
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def ipv6(payload: bytes, src: str, dst: str, nh: int, *, hop_limit: int = 64) -> bytes:
    """An IPv6 packet (RFC 8200); ``payload`` starts with the header ``nh`` names."""
    return struct.pack(
        "!IHBB16s16s", 6 << 28, len(payload), nh, hop_limit, _addr(src), _addr(dst)
    ) + (payload)


def ipv6_ext(nh: int, body: bytes = b"\x00" * 6) -> bytes:
    """A Hop-by-Hop / Routing / Destination Options header (8-octet units) before ``nh``."""
    body = body + b"\x00" * (-(len(body) + 2) % 8)
    return struct.pack("!BB", nh, (len(body) + 2) // 8 - 1) + body


def ipv6_fragment_header(nh: int, offset: int, more: bool, ident: int) -> bytes:
    """The IPv6 Fragment header (RFC 8200 §4.5); ``offset`` in bytes."""
    return struct.pack("!BBHI", nh, 0, offset | int(more), ident)


def fragment4(
    payload: bytes, src: str, dst: str, proto: int, *, ident: int, size: int
) -> list[bytes]:
    """IPv4 packets carrying ``payload`` (a UDP or TCP segment) in fragments of ``size`` bytes
    (rounded down to 8)."""
    size -= size % 8
    out = []
    for off in range(0, len(payload), size):
        piece = payload[off : off + size]
        more = off + size < len(payload)
        out.append(ipv4(piece, src, dst, proto, ident=ident, more=more, offset=off))
    return out


def fragment6(payload: bytes, src: str, dst: str, nh: int, *, ident: int, size: int) -> list[bytes]:
    """IPv6 packets carrying ``payload`` in fragments of ``size`` bytes (rounded down to 8)."""
    size -= size % 8
    out = []
    for off in range(0, len(payload), size):
        piece = payload[off : off + size]
        more = off + size < len(payload)
        out.append(ipv6(ipv6_fragment_header(nh, off, more, ident) + piece, src, dst, 44))
    return out


# -- transport ----------------------------------------------------------------------------------


def udp(payload: bytes, sport: int = 5060, dport: int = 5060) -> bytes:
    """A UDP datagram (RFC 768) without checksum (zero: none, allowed over IPv4)."""
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(
    payload: bytes,
    sport: int = 40000,
    dport: int = 5060,
    *,
    seq: int = 0,
    ack: int = 0,
    flags: str = "PA",
    options: bytes = b"",
) -> bytes:
    """A TCP segment (RFC 9293 §3.1) without checksum; ``flags`` as letters (``"S"``, ``"PA"``)."""
    options += b"\x01" * (-len(options) % 4)  # NOP padding
    bits = 0
    for c in flags:
        bits |= TCP_FLAGS[c]
    offset = (20 + len(options)) // 4
    head = struct.pack(
        "!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, offset << 4, bits, 65535, 0, 0
    )
    return head + options + payload


def icmp_unreachable(quoted: bytes) -> bytes:
    """ICMP destination unreachable, port unreachable (RFC 792), quoting ``quoted``."""
    return struct.pack("!BBHI", 3, 3, 0, 0) + quoted


# -- frames -------------------------------------------------------------------------------------

A, B = "192.0.2.10", "198.51.100.20"
A6, B6 = "2001:db8::10", "2001:db8::20"


def udp_frame(
    payload: bytes,
    *,
    v6: bool = False,
    sport: int = 5060,
    dport: int = 5060,
    vlans: Iterable[int] = (),
) -> bytes:
    """Ethernet / IPv4 or IPv6 (A -> B) / UDP / payload."""
    seg = udp(payload, sport, dport)
    if v6:
        return ether(ipv6(seg, A6, B6, 17), ETH_IPV6, vlans=vlans)
    return ether(ipv4(seg, A, B, 17), vlans=vlans)


def tcp_frame(payload: bytes, seq: int, *, flags: str = "PA", v6: bool = False, **kw: Any) -> bytes:
    """Ethernet / IPv4 or IPv6 (A -> B) / TCP 40000 -> 5060 / payload."""
    seg = tcp(payload, seq=seq, flags=flags, **kw)
    if v6:
        return ether(ipv6(seg, A6, B6, 6), ETH_IPV6)
    return ether(ipv4(seg, A, B, 6))


# -- capture files ------------------------------------------------------------------------------

Frame = tuple[bytes, float]  # frame bytes, capture time (Unix seconds)


class PcapWriter:
    """A pcap file (draft-ietf-opsawg-pcap §4): any byte order, micro- or nanosecond times."""

    def __init__(
        self,
        out: IO[bytes],
        linktype: int = 1,
        *,
        big_endian: bool = False,
        nano: bool = False,
        snaplen: int = 262_144,
    ) -> None:
        self.out = out
        self.e = ">" if big_endian else "<"
        self.nano = nano
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
        out.write(struct.pack(self.e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def record(self, frame: bytes, t: float, *, orig_len: int | None = None) -> bytes:
        """One packet record (header and data) as bytes."""
        sec = int(t)
        frac = round((t - sec) * (1e9 if self.nano else 1e6))
        wire = len(frame) if orig_len is None else orig_len
        return struct.pack(self.e + "IIII", sec, frac, len(frame), wire) + frame

    def write(self, frame: bytes, t: float, *, orig_len: int | None = None) -> None:
        self.out.write(self.record(frame, t, orig_len=orig_len))


def write_pcap(
    path: Path, frames: Iterable[Frame], linktype: int = 1, *, gz: bool = False, **kw: Any
) -> Path:
    """Write ``frames`` as a pcap file (gzip-compressed with ``gz``)."""
    with path.open("wb") as raw:
        f: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb") if gz else raw  # type: ignore[assignment]
        w = PcapWriter(f, linktype, **kw)
        for frame, t in frames:
            w.write(frame, t)
        if gz:
            f.close()
    return path


def pcap_bytes(frames: Iterable[Frame], linktype: int = 1, **kw: Any) -> bytes:
    """A pcap file's bytes."""
    import io

    buf = io.BytesIO()
    w = PcapWriter(buf, linktype, **kw)
    for frame, t in frames:
        w.write(frame, t)
    return buf.getvalue()


def _block(btype: int, body: bytes, e: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def _option(code: int, value: bytes, e: str = "<") -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


class PcapNgWriter:
    """A pcapng file (draft-ietf-opsawg-pcapng): a Section Header Block, one Interface
    Description Block per ``linktypes`` entry (with ``if_tsresol`` when ``tsresol`` is given)
    and Enhanced Packet Blocks."""

    def __init__(
        self,
        out: IO[bytes],
        linktypes: Iterable[int] = (1,),
        *,
        big_endian: bool = False,
        tsresol: int | None = None,
    ) -> None:
        self.out = out
        self.e = ">" if big_endian else "<"
        e = self.e
        # SHB: byte-order magic, version 1.0, section length unknown (-1).
        out.write(_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e))
        self.units = (
            10**6 if tsresol is None else (10**tsresol if tsresol < 128 else 2 ** (tsresol & 0x7F))
        )
        for lt in linktypes:
            opts = b""
            if tsresol is not None:
                opts = _option(9, bytes([tsresol]), e) + _option(0, b"", e)
            out.write(_block(1, struct.pack(e + "HHI", lt, 0, 262_144) + opts, e))

    def block(
        self, frame: bytes, t: float, interface: int = 0, *, orig_len: int | None = None
    ) -> bytes:
        """One Enhanced Packet Block as bytes."""
        ts = round(t * self.units)
        wire = len(frame) if orig_len is None else orig_len
        body = struct.pack(self.e + "IIIII", interface, ts >> 32, ts & 0xFFFFFFFF, len(frame), wire)
        return _block(6, body + frame, self.e)

    def write(self, frame: bytes, t: float, interface: int = 0, **kw: Any) -> None:
        self.out.write(self.block(frame, t, interface, **kw))

    def simple(self, frame: bytes) -> None:
        """A Simple Packet Block (no timestamp; interface 0)."""
        self.out.write(_block(3, struct.pack(self.e + "I", len(frame)) + frame, self.e))

    def other(self, btype: int, body: bytes) -> None:
        """Any other block (e.g. a Name Resolution Block, 4), which readers skip."""
        self.out.write(_block(btype, body, self.e))
