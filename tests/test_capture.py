"""shakenkit.capture: INVITEs from pcap/pcapng (link types, IPv4/IPv6, UDP, TCP reassembly,
fragments), SIP text files and JSON Lines; freshness judged at capture time.

Captures are built here with tests/packets.py (frames and capture files written by hand from
the protocol documents, independently of the reader), at the fixed time NOW of the test suite.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shakenkit import Verifier
from shakenkit.sip import SipParseError
from shakenkit.sip.capture import (
    MAX_TCP_STREAMS,
    CallRecord,
    CaptureError,
    CaptureWarning,
    judged_at,
    read_records,
    sniff_file,
    sniff_format,
    verify_records,
)
from shakenkit.testing import TestPKI
from tests import packets as pk
from tests.conftest import DEST_TN, NOW, ORIG_TN
from tests.packets import A6, B6, A, B, Frame

pytestmark = pytest.mark.filterwarnings("ignore::shakenkit.sip.CaptureWarning")


def invite(identity: str | None, n: int = 1, *, body: str = "v=0\r\n", date: int = NOW) -> bytes:
    from email.utils import formatdate

    lines = [
        f"INVITE sip:+{DEST_TN}@cr.example.net;user=phone SIP/2.0",
        f"Via: SIP/2.0/UDP {A}:5060;branch=z9hG4bK-{n}",
        "Max-Forwards: 70",
        f"From: <sip:+{ORIG_TN}@sp.example.com;user=phone>;tag={n}",
        f"To: <sip:+{DEST_TN}@cr.example.net;user=phone>",
        f"Call-ID: call-{n}@sp.example.com",
        "CSeq: 1 INVITE",
        f"Date: {formatdate(date, usegmt=True)}",
    ]
    if identity:
        lines.append(f"Identity: {identity}")
    lines += ["Content-Type: application/sdp", f"Content-Length: {len(body)}", "", body]
    return "\r\n".join(lines).encode()


TRYING = b"SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP h\r\nContent-Length: 0\r\n\r\n"
BYE = (
    b"BYE sip:x@h SIP/2.0\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\n"
    b"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
)


@pytest.fixture(scope="module")
def header(pki: TestPKI) -> str:
    return pki.sign(orig=ORIG_TN, dest=DEST_TN, iat=NOW)


def udp(payload: bytes, t: float = NOW, *, v6: bool = False) -> Frame:
    return pk.udp_frame(payload, v6=v6), t


def tcp(payload: bytes, seq: int, t: float = NOW, *, flags: str = "PA", v6: bool = False) -> Frame:
    return pk.tcp_frame(payload, seq, flags=flags, v6=v6), t


def write(path: Path, pkts: list[Frame], **kw: Any) -> Path:
    return pk.write_pcap(path, pkts, **kw)


def records(path: Path | str, **kw: Any) -> list[CallRecord]:
    return list(read_records(path, **kw))


def ids(recs: list[CallRecord]) -> list[str | None]:
    return [r.call_id for r in recs]


# -- pcap --------------------------------------------------------------------------------------


def test_udp_over_ethernet_pcap(tmp_path: Path, header: str) -> None:
    """pcap, Ethernet, UDP over IPv4: one record per INVITE frame with frame number and time."""
    pkts = [udp(invite(header, 1)), udp(TRYING, NOW + 0.5), udp(invite(header, 2), NOW + 1.25)]
    recs = records(write(tmp_path / "c.pcap", pkts))
    assert ids(recs) == ["call-1@sp.example.com", "call-2@sp.example.com"]
    assert [r.frame for r in recs] == [1, 3]
    assert [r.time for r in recs] == [NOW, NOW + 1.25]
    assert all(r.transport == "udp" and r.message is not None for r in recs)
    assert recs[0].identity == (header,) and recs[0].orig == ORIG_TN and recs[0].dest == DEST_TN


@pytest.mark.parametrize(
    ("kw", "magic"),
    [
        ({}, None),
        ({"big_endian": True}, b"\xa1\xb2\xc3\xd4"),
        ({"big_endian": False}, b"\xd4\xc3\xb2\xa1"),
        ({"big_endian": True, "nano": True}, b"\xa1\xb2\x3c\x4d"),
        ({"big_endian": False, "nano": True}, b"\x4d\x3c\xb2\xa1"),
        ({"gz": True}, b"\x1f\x8b"),
    ],
)
def test_pcap_byte_orders_nanoseconds_and_gzip(
    tmp_path: Path, header: str, kw: dict[str, Any], magic: bytes | None
) -> None:
    """All four pcap magics (standards: a1b2c3d4, d4c3b2a1, a1b23c4d, 4d3cb2a1), and gzip."""
    path = write(tmp_path / "c.pcap", [udp(invite(header), NOW + 0.25)], **kw)
    if magic is not None:
        assert path.read_bytes()[: len(magic)] == magic
    [r] = records(path)
    assert r.time == pytest.approx(NOW + 0.25)


def raw_pcap(path: Path, linktype: int, frames: list[bytes], t: int = NOW) -> Path:
    """A classic pcap (libpcap file format) with any link type, written by hand."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, linktype)]
    for f in frames:
        out.append(struct.pack("<IIII", t, 0, len(f), len(f)) + f)
    path.write_bytes(b"".join(out))
    return path


def test_linux_cooked_capture_sll_and_sll2(tmp_path: Path, header: str) -> None:
    """Linux 'any' captures: SLL (113) and SLL2 (276)."""
    ip = pk.ipv4(pk.udp(invite(header)), A, B, 17)
    for lt, frame in ((113, pk.sll(ip)), (276, pk.sll2(ip))):
        [r] = records(raw_pcap(tmp_path / f"{lt}.pcap", lt, [frame]))
        assert r.call_id == "call-1@sp.example.com" and r.frame == 1


@pytest.mark.parametrize("linktype", [101, 12, 228, 229, 0])
def test_raw_ip_and_loopback_link_types(tmp_path: Path, header: str, linktype: int) -> None:
    """Raw IP (101, 12: IPv4 or IPv6 by version; 228 IPv4; 229 IPv6) and BSD loopback (0)."""
    seg = pk.udp(invite(header))
    ip = pk.ipv6(seg, A6, B6, 17) if linktype == 229 else pk.ipv4(seg, A, B, 17)
    frame = pk.loopback(ip) if linktype == 0 else ip
    [r] = records(raw_pcap(tmp_path / "r.pcap", linktype, [frame]))
    assert r.message is not None and r.message.calling_tn == ORIG_TN


def test_raw_ip_ipv6(tmp_path: Path, header: str) -> None:
    frame = pk.ipv6(pk.udp(invite(header)), A6, B6, 17)
    [r] = records(raw_pcap(tmp_path / "r6.pcap", 101, [frame]))
    assert r.call_id == "call-1@sp.example.com"


def test_unsupported_link_type_is_skipped(tmp_path: Path, header: str) -> None:
    frame = pk.ipv4(pk.udp(invite(header)), A, B, 17)
    assert records(raw_pcap(tmp_path / "x.pcap", 147, [frame])) == []


def test_pcapng_with_two_interfaces(tmp_path: Path, header: str) -> None:
    """pcapng (0a0d0d0a): interfaces with different link types (Ethernet and SLL2)."""
    path = tmp_path / "c.pcapng"
    with path.open("wb") as f:
        w = pk.PcapNgWriter(f, (1, 276))
        w.write(*udp(invite(header, 1), NOW + 0.5), 0)
        w.write(*udp(TRYING), 0)
        w.write(pk.sll2(pk.ipv4(pk.udp(invite(header, 2)), A, B, 17)), NOW + 2, 1)
    assert path.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    recs = records(path)
    assert ids(recs) == ["call-1@sp.example.com", "call-2@sp.example.com"]
    assert [r.frame for r in recs] == [1, 3]
    assert [r.time for r in recs] == [pytest.approx(NOW + 0.5), pytest.approx(NOW + 2)]


# -- TCP ---------------------------------------------------------------------------------------


def test_invite_split_across_two_tcp_segments(tmp_path: Path, header: str) -> None:
    """TCP reassembly: the message is complete when its Content-Length body has arrived; the
    record carries the frame that completed it."""
    msg = invite(header)
    cut = len(msg) // 2
    pkts = [
        tcp(b"", 999, NOW - 1, flags="S"),
        tcp(msg[:cut], 1000, NOW),
        tcp(msg[cut:], 1000 + cut, NOW + 0.01),
    ]
    [r] = records(write(tmp_path / "t.pcap", pkts))
    assert (r.frame, r.transport, r.time) == (3, "tcp", pytest.approx(NOW + 0.01))
    assert r.message is not None and r.message.identity == (header,)


def test_tcp_split_inside_the_headers_and_the_request_line(tmp_path: Path, header: str) -> None:
    msg = invite(header)
    for cut in (10, 30, len(msg) - 3):
        pkts = [tcp(msg[:cut], 5000), tcp(msg[cut:], 5000 + cut)]
        [r] = records(write(tmp_path / "t.pcap", pkts))
        assert r.message is not None and r.message.identity == (header,)


def test_tcp_out_of_order_and_retransmitted_segments(tmp_path: Path, header: str) -> None:
    msg = invite(header)
    a, b, c = msg[:300], msg[300:700], msg[700:]
    pkts = [
        tcp(a, 1),
        tcp(c, 1 + 700),  # arrives before the middle
        tcp(a, 1),  # retransmission
        tcp(b, 1 + 300),
        tcp(msg[650:], 1 + 650),  # overlapping retransmission after completion
    ]
    recs = records(write(tmp_path / "t.pcap", pkts))
    assert len(recs) == 1 and recs[0].frame == 4
    assert recs[0].message is not None and recs[0].message.identity == (header,)


def test_several_messages_in_one_tcp_segment(tmp_path: Path, header: str) -> None:
    """Responses and other requests in the stream are skipped; each INVITE is read."""
    data = TRYING + invite(header, 1) + b"\r\n\r\n" + BYE + invite(header, 2)
    recs = records(write(tmp_path / "t.pcap", [tcp(data, 77)]))
    assert ids(recs) == ["call-1@sp.example.com", "call-2@sp.example.com"]


def test_tcp_sequence_wraparound(tmp_path: Path, header: str) -> None:
    msg = invite(header)
    start = (1 << 32) - 100
    pkts = [tcp(msg[:200], start), tcp(msg[200:], (start + 200) & 0xFFFFFFFF)]
    assert len(records(write(tmp_path / "t.pcap", pkts))) == 1


def test_tcp_message_cut_short_is_flushed_with_its_headers(tmp_path: Path, header: str) -> None:
    """A stream that ends (FIN) before the body is complete: the headers are still read."""
    msg = invite(header, body="v=0\r\n" * 20)
    pkts = [tcp(msg[:-30], 10), tcp(b"", 10 + len(msg) - 30, NOW + 1, flags="FA")]
    [r] = records(write(tmp_path / "t.pcap", pkts))
    assert r.message is not None and r.message.identity == (header,)
    assert r.frame == 2


def test_tcp_over_ipv6(tmp_path: Path, header: str) -> None:
    msg = invite(header)
    pkts = [tcp(msg[:100], 1, v6=True), tcp(msg[100:], 101, v6=True)]
    [r] = records(write(tmp_path / "t6.pcap", pkts))
    assert r.transport == "tcp" and r.call_id == "call-1@sp.example.com"


def test_tcp_streams_are_bounded(tmp_path: Path, header: str) -> None:
    """Constant memory: at most MAX_TCP_STREAMS streams are held; the oldest are dropped."""
    msg = invite(header)
    template = pk.tcp_frame(msg[:200], 1, sport=1)
    frames = [
        template[:34] + struct.pack(">H", 1024 + i) + template[36:]  # TCP source port
        for i in range(MAX_TCP_STREAMS + 50)
    ]
    recs = records(raw_pcap(tmp_path / "many.pcap", 1, frames))
    assert len(recs) <= MAX_TCP_STREAMS  # flushed partial heads never parse as complete


# -- IPv6, fragments, noise --------------------------------------------------------------------


def test_udp_over_ipv6(tmp_path: Path, header: str) -> None:
    [r] = records(write(tmp_path / "c.pcap", [udp(invite(header), v6=True)]))
    assert r.call_id == "call-1@sp.example.com"


def test_fragmented_udp_invites_are_reassembled(tmp_path: Path, header: str) -> None:
    """IPv4 and IPv6 fragments (large INVITEs over UDP)."""
    msg = invite(header, body="a=x\r\n" * 200)
    v4 = pk.fragment4(pk.udp(msg), A, B, 17, ident=7, size=500)
    v6 = pk.fragment6(pk.udp(msg), A6, B6, 17, ident=9, size=600)
    pkts = [(pk.ether(f), NOW) for f in v4[::-1]]
    pkts += [(pk.ether(f, pk.ETH_IPV6), NOW) for f in v6]
    recs = records(write(tmp_path / "f.pcap", pkts))
    assert len(v4) > 2 and len(v6) > 2
    assert [r.frame for r in recs] == [len(v4), len(v4) + len(v6)]
    assert all(r.message is not None and r.message.identity == (header,) for r in recs)


def test_noise_is_ignored(tmp_path: Path, header: str) -> None:
    """Responses, non-INVITE requests, keep-alives, RTP and ICMP errors quoting an INVITE
    are skipped; a VLAN-tagged INVITE is read."""
    quoted = pk.ipv4(pk.udp(invite(header)), A, B, 17)
    icmp = pk.ether(pk.ipv4(pk.icmp_unreachable(quoted), B, A, 1))
    vlan = pk.udp_frame(invite(header, 9), vlans=[42])
    pkts = [udp(TRYING), udp(BYE), udp(b"\r\n\r\n"), udp(b"\x80\x00" + bytes(160))]
    pkts += [(icmp, NOW), (vlan, NOW)]
    [r] = records(write(tmp_path / "n.pcap", pkts))
    assert (r.call_id, r.frame) == ("call-9@sp.example.com", 6)


def test_malformed_invite_in_a_capture_is_an_error_record(tmp_path: Path) -> None:
    bad = b"INVITE sip:x@h SIP/2.0\r\nFrom <no colon>\r\n\r\n"
    [r] = records(write(tmp_path / "m.pcap", [udp(bad)]))
    assert isinstance(r.error, SipParseError) and r.error.line == 2 and r.message is None


SAMPLES = Path(__file__).parent / "data" / "samples"


def pcap_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each record of a pcap file (walked here independently)."""
    e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, pos = [], 24
    while pos + 16 <= len(data):
        (caplen,) = struct.unpack_from(e + "I", data, pos + 8)
        out.append((pos, pos + 16 + caplen))
        pos += 16 + caplen
    return out


def pcapng_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each packet block of a little-endian pcapng file."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        if btype in (2, 3, 6):
            out.append((pos, pos + blen))
        pos += blen
    return out


def read_with_warnings(path: Path) -> tuple[list[CallRecord], list[str]]:
    said: list[str] = []
    return list(read_records(path, on_warning=said.append)), said


# The sample capture (tests/data/samples/README.md): frame 1 INVITE call 1 (UDP), frame 6 INVITE
# call 2, frames 11-12 the INVITE of call 3 over TCP in two segments, frame 14 call 4 (IPv6) ...
@pytest.mark.parametrize(
    ("where", "frame", "into"),
    [
        ("mid-INVITE, its headers partly there", 6, 16 + 600),
        ("mid-INVITE, all but its last bytes", 6, 16 + 1100),
        ("inside a record header", 6, 8),
        ("between the two TCP segments of an INVITE", 12, 0),
        ("inside the second TCP segment of an INVITE", 12, 16 + 300),
        ("at a record boundary, nothing held", 15, 0),
        ("inside the last record", 25, 100),
    ],
)
def test_attack_truncated_capture_stops_at_the_cut_and_never_reads_a_partial_invite(
    tmp_path: Path, where: str, frame: int, into: int
) -> None:
    """A capture cut short (a copy interrupted, a disk full, an attacker's file): the calls
    before the cut are read, the INVITE at the cut is not (it used to get a 438 verdict), and
    one warning names the file and the byte offset."""
    data = (SAMPLES / "calls.pcap").read_bytes()
    spans = pcap_spans(data)
    whole = records(SAMPLES / "calls.pcap")
    cut = spans[frame - 1][0] + into
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:cut])
    got, said = read_with_warnings(path)
    assert ids(got) == [r.call_id for r in whole if spans[r.frame - 1][1] <= cut]  # type: ignore[index]
    assert all(r.message is not None for r in got)  # no partial message, no parse error
    mid_tcp_invite = spans[10][1] <= cut < spans[11][1]
    if into == 0 and not mid_tcp_invite:
        assert said == []
    else:
        [w] = said
        assert w.startswith(f"{path}: truncated at byte {cut}: ")
        if mid_tcp_invite and into == 0:
            assert "inside 1 INVITE on TCP" in w


def test_attack_truncated_pcapng_mid_invite(tmp_path: Path) -> None:
    data = (SAMPLES / "calls.pcapng").read_bytes()
    spans = pcapng_spans(data)
    cut = spans[5][0] + 400  # inside the block of call 2's INVITE
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:cut])
    got, said = read_with_warnings(path)
    assert ids(got) == ["call-0001@sp.example.com"]
    assert said == [
        f"{path}: truncated at byte {cut}: the block from byte {spans[5][0]} is cut short; "
        "stopped there, it is not read"
    ]


def test_attack_truncated_gzip_capture(tmp_path: Path) -> None:
    """A gzip-compressed capture cut mid-stream: what was decompressed is read, then a warning;
    no partial message."""
    data = gzip.compress((SAMPLES / "calls.pcap").read_bytes())
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    got, said = read_with_warnings(path)
    whole = ids(records(SAMPLES / "calls.pcap"))
    assert ids(got) == whole[: len(got)] and len(got) < len(whole)
    assert all(r.message is not None for r in got)
    [w] = said
    assert w.startswith(f"{path}: truncated")


def test_truncated_capture_warns_through_python_warnings_by_default(tmp_path: Path) -> None:
    data = (SAMPLES / "calls.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:3000])
    with pytest.warns(CaptureWarning, match=r"cut\.pcap: truncated at byte 3000"):
        assert ids(records(path)) == ["call-0001@sp.example.com"]


def test_capture_from_a_file_object_and_stdin(
    tmp_path: Path, header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write(tmp_path / "c.pcap", [udp(invite(header))]).read_bytes()
    assert len(records(io.BytesIO(data))) == 1  # type: ignore[arg-type]

    class Stdin:
        buffer = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]

    monkeypatch.setattr("sys.stdin", Stdin)
    [r] = records("-")
    assert r.source == "<stdin>"


# -- sniffing and errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"\xa1\xb2\xc3\xd4rest", "pcap"),
        (b"\xd4\xc3\xb2\xa1rest", "pcap"),
        (b"\xa1\xb2\x3c\x4drest", "pcap"),
        (b"\x4d\x3c\xb2\xa1rest", "pcap"),
        (b"\x0a\x0d\x0d\x0arest", "pcapng"),
        (b'\n  {"identity": null}\n', "jsonl"),
        (b"\xef\xbb\xbf{}", "jsonl"),
        (b"\r\nINVITE sip:x@h SIP/2.0\r\n", "sip"),
        (b"SIP/2.0 180 Ringing\n", "sip"),
        (b"GET / HTTP/1.1\r\n", None),
        (b"\x89PNG\r\n", None),
        (b"", None),
    ],
)
def test_sniff_format_by_magic_bytes(head: bytes, fmt: str | None) -> None:
    """The format comes from the first bytes, never from the file name."""
    assert sniff_format(head) == fmt


def test_sniffing_ignores_the_file_name(tmp_path: Path, header: str) -> None:
    data = write(tmp_path / "c.pcap", [udp(invite(header))]).read_bytes()
    odd = tmp_path / "calls.jsonl"
    odd.write_bytes(data)
    assert sniff_file(odd) == "pcap" and len(records(odd)) == 1


def test_unreadable_and_unknown_files_raise_capture_error(tmp_path: Path) -> None:
    png = tmp_path / "x.pcap"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for path, words in (
        (png, "unknown format"),
        (tmp_path / "missing.pcap", "cannot read"),
        (tmp_path, "directory"),
    ):
        with pytest.raises(CaptureError, match=words):
            records(path)
        with pytest.raises(CaptureError, match=words):
            sniff_file(path)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")  # a pcap magic and nothing else
    with pytest.raises(CaptureError, match="not a readable pcap"):
        records(bad)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert records(empty) == [] and sniff_file(empty) is None


# -- SIP text files ----------------------------------------------------------------------------


def test_sip_text_file_with_several_messages(tmp_path: Path, header: str) -> None:
    """Messages after a blank line (LF or CRLF), or right after a Content-Length body; junk
    between messages and non-INVITE messages are skipped; records carry the start line."""
    a = invite(header, 1).replace(b"\r\n", b"\n")
    b = invite(header, 2)
    c = invite(header, 3, body="")
    text = b"# exported trace\n\n" + a + b"\n" + TRYING + b + c + b"\r\n" + BYE + b"\n"
    path = tmp_path / "calls.txt"
    path.write_bytes(text)
    recs = records(path)
    assert ids(recs) == [f"call-{i}@sp.example.com" for i in (1, 2, 3)]
    assert recs[0].line == 3
    lines = text.split(b"\n")
    for r in recs:
        assert lines[r.line - 1].startswith(b"INVITE ")  # type: ignore[operator]
    assert all(r.identity == (header,) and r.time is None for r in recs)


def test_sip_text_wrong_content_length_still_splits_at_blank_line(
    tmp_path: Path, header: str
) -> None:
    """Hand-made files often carry a Content-Length counted with CRLF while the file has LF."""
    a = invite(header, 1, body="v=0\r\no=x\r\n").replace(b"\r\n", b"\n")
    path = tmp_path / "x.sip"
    path.write_bytes(a + b"\n" + a.replace(b"call-1", b"call-2"))
    assert ids(records(path)) == ["call-1@sp.example.com", "call-2@sp.example.com"]


def test_sip_text_messages_concatenated_by_content_length(tmp_path: Path, header: str) -> None:
    """A raw stream dump: a body without a final CRLF, the next message right after it; and a
    byte order mark before the first message."""
    a = invite(header, 1, body="v=0")
    path = tmp_path / "stream.txt"
    path.write_bytes(
        b"\xef\xbb\xbf" + a + invite(header, 2, body="v=0") + TRYING + invite(header, 3)
    )
    recs = records(path)
    assert ids(recs) == [f"call-{i}@sp.example.com" for i in (1, 2, 3)]
    assert recs[0].message is not None and recs[0].message.body == b"v=0"


def test_sip_text_oversized_message_is_an_error_record(tmp_path: Path, header: str) -> None:
    path = tmp_path / "big.sip"
    path.write_bytes(invite(header, 1, body="x" * 5000) + b"\r\n" + invite(header, 2))
    recs = records(path, max_message_bytes=3000)
    assert isinstance(recs[0].error, SipParseError) and "3000-byte limit" in recs[0].error.detail
    assert recs[1].call_id == "call-2@sp.example.com"


# -- JSON Lines --------------------------------------------------------------------------------


def test_json_lines_records(tmp_path: Path) -> None:
    rows = [
        {"identity": "h1", "orig": "+12155551212", "dest": 12155551213, "time": NOW},
        {"identity": ["h2", "h3"], "time": "2026-01-01T00:00:05Z", "call_id": "c2"},
        {"identity": None, "orig": "1"},
        "not an object",
        {"identity": 5},
        {"identity": "x", "time": "soon"},
        {"identity": "x", "time": "nan"},
        {"identity": "x", "time": 1e300},
    ]
    text = "\n".join(json.dumps(r) for r in rows) + "\n\n{broken\n"
    path = tmp_path / "b.jsonl"
    path.write_text(text)
    recs = records(path)
    assert [r.line for r in recs] == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert recs[0].identity == ("h1",) and recs[0].dest == "12155551213" and recs[0].time == NOW
    assert recs[1].identity == ("h2", "h3") and recs[1].time == NOW + 5 and recs[1].call_id == "c2"
    assert recs[2].identity == () and recs[2].invalid is None
    assert all(r.invalid is not None for r in recs[3:])


# -- verification ------------------------------------------------------------------------------


def test_freshness_is_judged_at_capture_time(
    tmp_path: Path, header: str, verifier: Verifier
) -> None:
    """Captured calls are checked after the fact: at the packet's time, unless now is given."""
    pkts = [udp(invite(header, 1), NOW + 30), udp(invite(header, 2), NOW + 3600)]
    path = write(tmp_path / "c.pcap", pkts)
    res = list(verify_records(verifier, read_records(path)))
    assert [r.verdict.passed for r in res] == [True, False]
    assert res[1].verdict.error is not None and res[1].verdict.error.sip_code == 403
    assert [r.verified_at for r in res] == [NOW + 30, NOW + 3600]
    res = list(verify_records(verifier, read_records(path), now=NOW))
    assert [r.verdict.passed for r in res] == [True, True]


def test_judged_at_order() -> None:
    """--now, else the record's time, else the Date header, else the current time."""
    from shakenkit.sip import parse_sip

    msg = parse_sip(invite(None, date=NOW - 5))
    assert judged_at(CallRecord("s", time=NOW), NOW + 1) == NOW + 1
    assert judged_at(CallRecord("s", time=NOW, message=msg)) == NOW
    assert judged_at(CallRecord("s", message=msg)) == NOW - 5
    assert judged_at(CallRecord("s")) > NOW


def test_verify_records_over_every_kind_of_record(verifier: Verifier, header: str) -> None:
    from shakenkit.sip import parse_sip

    recs = [
        CallRecord("s", message=parse_sip(invite(header)), time=NOW),
        CallRecord("s", message=parse_sip(invite(None)), time=NOW),
        CallRecord("s", error=SipParseError("bad", line=1), time=NOW),
        CallRecord("s", identity=(header, header), orig=ORIG_TN, dest=DEST_TN, time=NOW),
        CallRecord("s", time=NOW),
        CallRecord("s", invalid="not JSON"),
    ]
    results = list(verify_records(verifier, recs))
    out = [(r.header, r.verdict.verstat, len(r.verdict.headers)) for r in results]
    # One result per call (issue 18): the two-header record is one call, its headers inside.
    assert out == [
        (0, "TN-Validation-Passed", 1),
        (None, "No-TN-Validation", 0),
        (None, "TN-Validation-Failed", 0),
        (0, "TN-Validation-Passed", 2),
        (None, "No-TN-Validation", 0),
    ]


def test_scan_result_json(verifier: Verifier, header: str, tmp_path: Path) -> None:
    path = write(tmp_path / "c.pcap", [udp(invite(header))])
    [r] = list(verify_records(verifier, read_records(path)))
    d = r.to_dict()
    assert d["verstat"] == "TN-Validation-Passed" and d["source"] == str(path)
    assert (d["frame"], d["call_id"], d["transport"], d["header"]) == (
        1,
        "call-1@sp.example.com",
        "udp",
        0,
    )
    assert "line" not in d and json.loads(json.dumps(d)) == d


def test_gzip_text_and_jsonl(tmp_path: Path, header: str) -> None:
    p = tmp_path / "calls.gz"
    p.write_bytes(gzip.compress(invite(header)))
    assert len(records(p)) == 1
    q = tmp_path / "b.gz"
    q.write_bytes(gzip.compress(b'{"identity": "x"}\n'))
    assert records(q)[0].identity == ("x",)


def test_pcap_header_helper_is_standard(tmp_path: Path, header: str) -> None:
    """A pcap written here with struct (the libpcap file format) reads the same."""
    frame = pk.udp_frame(invite(header))
    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    rec = struct.pack("<IIII", NOW, 500_000, len(frame), len(frame)) + frame
    path = tmp_path / "hand.pcap"
    path.write_bytes(hdr + rec)
    [r] = records(path)
    assert r.time == NOW + 0.5


# -- robustness --------------------------------------------------------------------------------


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    linktype=st.sampled_from([1, 101, 113, 276, 0, 229]),
    frames=st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.builds(
                lambda b, cut: pk.udp_frame(b)[:cut],
                st.binary(max_size=200).map(lambda b: b"INVITE sip:x@h SIP/2.0\r\n" + b),
                st.integers(0, 400),
            ),
        ),
        max_size=8,
    ),
)
def test_arbitrary_frames_never_crash_the_reader(
    tmp_path_factory: pytest.TempPathFactory, linktype: int, frames: list[bytes]
) -> None:
    """Property: whatever the frames hold, reading yields records or nothing, never raises."""
    path = raw_pcap(tmp_path_factory.mktemp("fuzz") / "f.pcap", linktype, frames)
    for r in read_records(path):
        assert r.message is not None or r.error is not None


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a", b"{", b"INVITE sip:x@h SIP/2.0\n"]),
    st.binary(max_size=400),
)
def test_arbitrary_file_bodies_raise_only_capture_error(magic: bytes, body: bytes) -> None:
    with contextlib.suppress(CaptureError):
        list(read_records(io.BytesIO(magic + body)))  # type: ignore[arg-type]


def test_truncated_gzip_text_file_is_a_capture_error(tmp_path):
    """A gzip-compressed JSON Lines file cut mid-stream: CaptureError (one clear message), not
    a bare EOFError; the records before the cut are still yielded."""
    import gzip as _gzip

    from shakenkit.sip.capture import CaptureError, read_records

    lines = b"".join(
        b'{"identity": "", "orig": "12155551212", "dest": "12155551213", "call_id": "c%d"}\n' % i
        for i in range(2000)
    )
    data = _gzip.compress(lines)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(CaptureError, match="ends early"):
        for rec in read_records(cut):
            got.append(rec)
    assert got and got[0].call_id == "c0"


# -- the hand-written reader: hostile and unusual inputs ----------------------------------------


def test_attack_snaplen_cut_udp_invite_is_not_verified(tmp_path: Path, header: str) -> None:
    """A frame captured with a short snapshot length holds only the start of an INVITE: it is
    not read (scapy's reader handed the partial message on, which got a 438 verdict)."""
    frame = pk.udp_frame(invite(header))
    path = tmp_path / "snap.pcap"
    with path.open("wb") as f:
        w = pk.PcapWriter(f, snaplen=600)
        w.write(frame[:600], NOW, orig_len=len(frame))
        w.write(*udp(invite(header, 2), NOW + 1))
    got, said = read_with_warnings(path)
    assert ids(got) == ["call-2@sp.example.com"]
    assert said == [
        f"{path}: frame 1 holds a SIP message cut short when it was captured (snapshot "
        "length): messages in cut frames are not verified"
    ]


def test_attack_snaplen_cut_tcp_segment_drops_the_held_message(tmp_path: Path, header: str) -> None:
    """A TCP segment cut at capture time: the message it continues is partial and is dropped;
    the stream resynchronizes on the next INVITE."""
    a, b = invite(header, 1), invite(header, 2)
    cut_frame = pk.tcp_frame(a[300:], 1 + 300)
    path = tmp_path / "snaptcp.pcap"
    with path.open("wb") as f:
        w = pk.PcapWriter(f, snaplen=400)
        w.write(*tcp(a[:300], 1))
        w.write(cut_frame[:400], NOW, orig_len=len(cut_frame))
        w.write(*tcp(b, 1 + len(a), NOW + 1))
    got, said = read_with_warnings(path)
    assert ids(got) == ["call-2@sp.example.com"] and len(said) == 1


def test_ethernet_padding_is_not_stream_data(tmp_path: Path, header: str) -> None:
    """A pure ACK is padded to Ethernet's 60 bytes; the padding is not TCP payload (the IP
    length says where the packet ends)."""
    msg = invite(header)
    ack = pk.tcp_frame(b"", 1 + 200, flags="A")
    padded = ack + b"PADPAD"
    pkts = [tcp(msg[:200], 1), (padded, NOW), tcp(msg[200:], 1 + 200)]
    [r] = records(write(tmp_path / "pad.pcap", pkts))
    assert r.message is not None and r.message.identity == (header,)


def test_ipv6_extension_headers_and_a_late_fragment_header(tmp_path: Path, header: str) -> None:
    """Hop-by-Hop and Destination Options before UDP; and fragments behind a Hop-by-Hop
    header, the last one first (it holds no SIP marker)."""
    seg = pk.udp(invite(header, 1))
    plain = pk.ipv6(pk.ipv6_ext(60) + pk.ipv6_ext(17) + seg, A6, B6, 0)
    msg = pk.udp(invite(header, 2, body="a=x\r\n" * 200))
    frags = []
    for off in range(0, len(msg), 504):
        piece = msg[off : off + 504]
        fh = pk.ipv6_fragment_header(17, off, off + 504 < len(msg), 77)
        frags.append(pk.ipv6(pk.ipv6_ext(44) + fh + piece, A6, B6, 0))
    pkts = [(pk.ether(plain, pk.ETH_IPV6), NOW)]
    pkts += [(pk.ether(f, pk.ETH_IPV6), NOW) for f in frags[::-1]]
    got = records(write(tmp_path / "ext.pcap", pkts))
    assert ids(got) == ["call-1@sp.example.com", "call-2@sp.example.com"]
    assert got[1].frame == 1 + len(frags)


def test_sip_on_any_port_and_double_vlan_tags(tmp_path: Path, header: str) -> None:
    pkts = [
        (pk.udp_frame(invite(header, 1), sport=61000, dport=5080), NOW),
        (pk.udp_frame(invite(header, 2), vlans=[100, 200]), NOW),
        (pk.ether(pk.ipv4(pk.tcp(invite(header, 3), 1234, 8443, seq=9), A, B, 6)), NOW),
    ]
    got = records(write(tmp_path / "ports.pcap", pkts))
    assert ids(got) == [f"call-{i}@sp.example.com" for i in (1, 2, 3)]
    assert [r.transport for r in got] == ["udp", "udp", "tcp"]


def test_pcapng_byte_orders_resolutions_and_block_kinds(tmp_path: Path, header: str) -> None:
    """Big-endian sections, nanosecond and binary timestamp resolutions, Simple Packet Blocks
    (no time), blocks readers skip, and a second section with its own interfaces."""
    path = tmp_path / "mixed.pcapng"
    with path.open("wb") as f:
        w = pk.PcapNgWriter(f, (1,), big_endian=True, tsresol=9)
        w.write(*udp(invite(header, 1), NOW + 0.123456789))
        w.other(4, b"\x00\x00\x00\x00")  # Name Resolution Block: skipped
        w.simple(pk.udp_frame(invite(header, 2)))
        w.write(*udp(invite(header, 9)), interface=3)  # no such interface: skipped
        w2 = pk.PcapNgWriter(f, (276,), tsresol=0x80 | 10)  # a new section, 2^-10 s
        w2.write(pk.sll2(pk.ipv4(pk.udp(invite(header, 3)), A, B, 17)), NOW + 0.5)
    got = records(path)
    assert ids(got) == [f"call-{i}@sp.example.com" for i in (1, 2, 3)]
    assert [r.frame for r in got] == [1, 2, 4]
    assert got[0].time == pytest.approx(NOW + 0.123456789, abs=1e-6)
    assert got[1].time is None and got[2].time == pytest.approx(NOW + 0.5, abs=1e-3)


def test_attack_oversized_record_length_stops_without_allocating(tmp_path: Path) -> None:
    """A record header claiming 4 GiB: a corrupt file, stopped at once (memory stays flat)."""
    good = pk.pcap_bytes([udp(TRYING)])
    bad = struct.pack("<IIII", NOW, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"x" * 100
    path = tmp_path / "huge.pcap"
    path.write_bytes(good + bad)
    got, said = read_with_warnings(path)
    assert got == [] and said == [
        f"{path}: corrupt at byte {len(good)}: frame 2 claims 4294967280 bytes (at most "
        "262144); stopped there"
    ]


def test_attack_oversized_pcapng_block_is_skipped_unread(
    tmp_path: Path, header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-packet block larger than MAX_BLOCK_BYTES is skipped without being held; a packet
    block that large is corruption."""
    monkeypatch.setattr("shakenkit.sip.pcap.MAX_BLOCK_BYTES", 4096)
    monkeypatch.setattr("shakenkit.sip.pcap.CHUNK_BYTES", 1024)
    path = tmp_path / "big.pcapng"
    with path.open("wb") as f:
        w = pk.PcapNgWriter(f)
        w.other(0x0BAD, bytes(50_000))
        w.write(*udp(invite(header, 1)))
        w.write(*udp(invite(header, 2) + bytes(8000)))
        w.write(*udp(invite(header, 3)))
    got, said = read_with_warnings(path)
    assert ids(got) == ["call-1@sp.example.com"]
    assert len(said) == 1 and "corrupt" in said[0] and "at most 4096" in said[0]


def test_attack_streams_holding_partial_messages_are_bounded(header: str) -> None:
    """Memory: at most MAX_HOLDING_STREAMS streams hold bytes, each at most two message
    limits (the message so far and out-of-order segments)."""
    from shakenkit.sip.packets import MAX_HOLDING_STREAMS, PacketDecoder

    dec = PacketDecoder("x", max_bytes=4096, warn=lambda m: None)
    msg = invite(header)
    for i in range(MAX_HOLDING_STREAMS + 100):
        ip = pk.ipv4(pk.tcp(msg[:200], 1024 + i, 5060, seq=1), A, B, 6)
        dec.frame(101, ip, i + 1, NOW)
        for k in range(20):  # out-of-order segments far ahead, never filling the gap
            ip = pk.ipv4(pk.tcp(bytes(1000), 1024 + i, 5060, seq=5000 + 1000 * k), A, B, 6)
            dec.frame(101, ip, i + 1, NOW, hit=False)
    held = [s for s in dec.streams.values() if s.framer.pending or s.ooo]
    assert len(dec.holding) <= MAX_HOLDING_STREAMS and len(held) <= MAX_HOLDING_STREAMS
    assert all(s.ooo_bytes <= 4096 and s.framer.pending <= 4096 for s in held)


@settings(max_examples=80, deadline=None)
@given(
    blocks=st.lists(
        st.tuples(st.sampled_from([1, 2, 3, 4, 5, 6, 0x0A0D0D0A, 0xBAD]), st.binary(max_size=80)),
        max_size=8,
    ),
    cut=st.integers(0, 2000),
)
def test_arbitrary_pcapng_blocks_never_raise(blocks: list[tuple[int, bytes]], cut: int) -> None:
    """Property: well-framed blocks of any type with any body, cut anywhere, are read or
    skipped with warnings; never an exception other than CaptureError."""
    buf = io.BytesIO()
    w = pk.PcapNgWriter(buf)
    for btype, body in blocks:
        w.other(btype, body)
    data = buf.getvalue()
    with contextlib.suppress(CaptureError):
        for r in read_records(io.BytesIO(data[: 28 + cut]), on_warning=lambda m: None):  # type: ignore[arg-type]
            assert r.message is not None or r.error is not None


class _Pipe(io.RawIOBase):
    """A non-seekable byte stream (a pipe) that returns at most ``step`` bytes a read."""

    def __init__(self, data: bytes, step: int = 1000) -> None:
        self._data, self._step = data, step

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._step, len(self._data))
        b[:n], self._data = self._data[:n], self._data[n:]
        return n


@pytest.mark.parametrize("name", ["calls.pcap", "calls.pcapng", "calls.jsonl", "calls.sip"])
@pytest.mark.parametrize("gz", [False, True])
def test_every_format_from_a_pipe(monkeypatch: pytest.MonkeyPatch, name: str, gz: bool) -> None:
    """stdin that cannot seek, arriving in small reads, gzip-compressed or not: the same
    records as from the file (the head read for sniffing is put back, never seeked to)."""
    data = (SAMPLES / name).read_bytes()

    class Stdin:
        buffer = io.BufferedReader(_Pipe(gzip.compress(data) if gz else data))

    monkeypatch.setattr("sys.stdin", Stdin)
    assert ids(records("-")) == ids(records(SAMPLES / name))
