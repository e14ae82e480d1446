"""Generate the sample inputs in tests/data/samples/ from a fresh test STI PKI.

Run: PYTHONPATH=src python scripts/make_samples.py [OUT_DIR]

Writes signed SIP INVITEs (and the SIP noise around them) as a pcap (Ethernet: UDP over IPv4,
an INVITE over TCP split across two segments, one over IPv6, ICMP and RTP noise), a pcapng (the
same calls on a Linux cooked capture v2 interface and a raw-IP interface), SIP text files, a
JSON Lines batch, and the PKI they verify against (root.pem, chain.pem, sp-key.pem). Every
timestamp is fixed (2026-01-01T00:00:00Z plus seconds), so the files only change in their keys
and signatures, which are random on each run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shakenkit.testing import TestPKI, make_pki

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import packets as pk

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z: capture time of the first call
DAY = 86_400
X5U = "https://cr.example.com/sp/123A.pem"
ORIGID = "123e4567-e89b-12d3-a456-426655440000"
HERE = Path(__file__).resolve().parents[1]
OUT = HERE / "tests" / "data" / "samples"
UAC, UAS = "192.0.2.10", "198.51.100.20"
UAC6, UAS6 = "2001:db8::10", "2001:db8::20"


@dataclass
class Call:
    """One call in the samples and the verdict it must get (see README.md)."""

    name: str
    at: int  # capture time offset from T0
    orig: str
    dest: str
    identity: list[str]
    expect: str
    transport: str = "udp4"
    pai: bool = True


def http_date(t: int) -> str:
    from email.utils import formatdate

    return formatdate(t, usegmt=True)


def invite(call: Call, n: int) -> bytes:
    """A SIP INVITE (RFC 3261 §7) as an originating carrier's STI-AS sends it."""
    t = T0 + call.at
    host = f"[{UAC6}]" if call.transport == "udp6" else UAC
    sdp = (
        "v=0\r\no=- 20518 0 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        "m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    lines = [
        f"INVITE sip:{call.dest}@cr.example.net;user=phone SIP/2.0",
        f"Via: SIP/2.0/{'TCP' if call.transport == 'tcp' else 'UDP'} {host}:5060;"
        f"branch=z9hG4bK-{n:04d}",
        "Max-Forwards: 70",
        f'From: "Caller {n}" <sip:{call.orig}@sp.example.com;user=phone>;tag=f{n:04d}',
        f"To: <sip:{call.dest}@cr.example.net;user=phone>",
    ]
    if call.pai:
        lines.append(f"P-Asserted-Identity: <sip:{call.orig}@sp.example.com;user=phone>")
    lines += [
        f"Call-ID: call-{n:04d}@sp.example.com",
        "CSeq: 1 INVITE",
        f"Date: {http_date(t)}",
        f"Contact: <sip:{call.orig}@{host}:5060>",
    ]
    lines += [f"Identity: {h}" for h in call.identity]
    lines += [
        "Content-Type: application/sdp",
        f"Content-Length: {len(sdp.encode())}",
        "",
        sdp,
    ]
    return "\r\n".join(lines).encode()


def response(code: int, reason: str, n: int) -> bytes:
    return (
        f"SIP/2.0 {code} {reason}\r\nVia: SIP/2.0/UDP {UAC}:5060;branch=z9hG4bK-{n:04d}\r\n"
        f"From: <sip:caller@sp.example.com>;tag=f{n:04d}\r\nTo: <sip:callee@cr.example.net>\r\n"
        f"Call-ID: call-{n:04d}@sp.example.com\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def request(method: str, n: int) -> bytes:
    return (
        f"{method} sip:callee@cr.example.net SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {UAC}:5060;branch=z9hG4bK-{method.lower()}-{n:04d}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:caller@sp.example.com>;tag=f{n:04d}\r\n"
        f"To: <sip:callee@cr.example.net>;tag=t{n:04d}\r\nCall-ID: call-{n:04d}@sp.example.com\r\n"
        f"CSeq: 2 {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def calls(pki: TestPKI) -> list[Call]:
    a, b, c = "+12155551212", "+12155551213", "+12155551214"

    def sign(orig: str, dest: str, attest: str, at: int, **kw: object) -> str:
        return pki.sign(orig=orig, dest=dest, attest=attest, origid=ORIGID, iat=T0 + at, **kw)

    return [
        Call("A-attested call over UDP", 0, a, b, [sign(a, b, "A", 0)], "Passed A verified"),
        Call("B-attested call", 2, a, c, [sign(a, c, "B", 1)], "Passed B unverified"),
        Call(
            "INVITE over TCP, split across two segments",
            4,
            a,
            b,
            [sign(a, b, "A", 3)],
            "Passed A verified",
            transport="tcp",
        ),
        Call(
            "A-attested call over IPv6",
            6,
            a,
            b,
            [sign(a, b, "A", 6)],
            "Passed A verified",
            transport="udp6",
        ),
        Call(
            "spoofed caller ID (From differs from the signed orig)",
            8,
            "+12155559999",
            b,
            [sign(a, b, "A", 8)],
            "Failed 438 orig_tn likely_spoofed",
        ),
        Call(
            "replayed stale call (iat an hour old)",
            10,
            a,
            b,
            [sign(a, b, "A", -3600)],
            "Failed 403 freshness likely_spoofed",
        ),
        Call("unsigned call", 12, a, b, [], "No-TN-Validation"),
        Call(
            "two Identity headers: SHAKEN and a div PASSporT without its div claim",
            14,
            a,
            b,
            [sign(a, b, "A", 14), sign(a, b, "A", 14, ppt="div")],
            "Passed A verified (one verdict for the call; the div link listed as failed)",
            pai=False,
        ),
    ]


Frame = tuple[float, bytes, bytes]  # capture time, the IP packet, the Ethernet frame


def frames(pki: TestPKI) -> tuple[list[Frame], list[Call]]:
    """The capture: every call's INVITE plus the SIP and media traffic around it."""
    out: list[Frame] = []

    def add(ip: bytes, t: float, *, back: bool = False) -> None:
        v6 = ip[0] >> 4 == 6
        src, dst = (pk.MAC_B, pk.MAC_A) if back else (pk.MAC_A, pk.MAC_B)
        eth = pk.ether(ip, pk.ETH_IPV6 if v6 else pk.ETH_IPV4, src=src, dst=dst)
        out.append((t, ip, eth))

    def fwd(seg: bytes, proto: int = 17) -> bytes:
        return pk.ipv4(seg, UAC, UAS, proto)

    def rev(seg: bytes, proto: int = 17) -> bytes:
        return pk.ipv4(seg, UAS, UAC, proto)

    cs = calls(pki)
    for n, call in enumerate(cs, start=1):
        t = T0 + call.at
        msg = invite(call, n)
        if call.transport == "udp6":
            add(pk.ipv6(pk.udp(msg), UAC6, UAS6, 17), t)
            continue
        if call.transport == "tcp":
            sport, seq, ack = 40_000 + n, 1_000_000, 5_000_000
            add(fwd(pk.tcp(b"", sport, 5060, flags="S", seq=seq - 1), 6), t - 0.010)
            add(
                rev(pk.tcp(b"", 5060, sport, flags="SA", seq=ack - 1, ack=seq), 6),
                t - 0.009,
                back=True,
            )
            add(fwd(pk.tcp(b"", sport, 5060, flags="A", seq=seq, ack=ack), 6), t - 0.008)
            cut = len(msg) // 2
            add(fwd(pk.tcp(msg[:cut], sport, 5060, flags="A", seq=seq, ack=ack), 6), t - 0.001)
            add(fwd(pk.tcp(msg[cut:], sport, 5060, flags="PA", seq=seq + cut, ack=ack), 6), t)
            trying = response(100, "Trying", n)
            seg = pk.tcp(trying, 5060, sport, flags="PA", seq=ack, ack=seq + len(msg))
            add(rev(seg, 6), t + 0.002, back=True)
            continue
        add(fwd(pk.udp(msg)), t)
        add(rev(pk.udp(response(100, "Trying", n))), t + 0.002, back=True)
    # Noise that must be ignored: responses, other requests, media, an ICMP error quoting an
    # INVITE, and a keep-alive.
    add(rev(pk.udp(response(200, "OK", 1))), T0 + 1, back=True)
    add(fwd(pk.udp(request("ACK", 1))), T0 + 1.1)
    add(fwd(pk.udp(b"\x80\x00" + bytes(170), 49170, 20000)), T0 + 1.2)
    add(fwd(pk.udp(request("BYE", 1))), T0 + 16)
    add(fwd(pk.udp(b"\r\n\r\n")), T0 + 17)
    quoted = invite(cs[0], 1)[:400]
    add(rev(pk.icmp_unreachable(fwd(pk.udp(quoted))), 1), T0 + 18, back=True)
    out.sort(key=lambda f: f[0])
    return out, cs


def sip_text(cs: list[Call]) -> bytes:
    """Several messages one after another, as a SIP trace viewer exports them (LF endings)."""
    parts = []
    for n, call in enumerate(cs, start=1):
        if call.transport != "udp4":
            continue
        parts.append(invite(call, n).replace(b"\r\n", b"\n"))
        parts.append(response(100, "Trying", n).replace(b"\r\n", b"\n"))
    return b"\n".join(parts)


def jsonl(cs: list[Call]) -> bytes:
    lines = []
    for n, call in enumerate(cs, start=1):
        lines.append(
            json.dumps(
                {
                    "call_id": f"call-{n:04d}@sp.example.com",
                    "time": T0 + call.at,
                    "orig": call.orig,
                    "dest": call.dest,
                    "identity": call.identity[0] if len(call.identity) == 1 else call.identity,
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


README = """# Sample inputs (generated)

Made by `scripts/make_samples.py` (run `PYTHONPATH=src python scripts/make_samples.py`) from a
fresh test STI PKI (`shakenkit.testing.make_pki`, SPC 123A). Keys and signatures are random on
each run; every time is fixed, starting at 2026-01-01T00:00:00Z ({t0}). Do not use the
keys for anything but tests. The certificates follow the STI profile (`shakenkit cert` finds
no error; the SP subject has no serialNumber, a warning, as on most live leaves) and name the
STI-PA CRL like real ones: verify them `--offline`, which never fetches it.

| file | what |
|---|---|
| `root.pem` | the trust anchor (test STI root) |
| `chain.pem` | what the x5u URL `{x5u}` serves: SP certificate then STI-CA |
| `sp-key.pem` | the SP signing key (P-256, PKCS#8), for `shakenkit sign` |
| `calls.pcap` | Ethernet capture of the calls below, with SIP and media noise (1) |
| `calls.pcapng` | the same frames in pcapng, on two interfaces (2) |
| `calls.sip` | the UDP INVITEs and their 100 Trying as a SIP text file (LF line endings) |
| `invite.sip` | one signed INVITE (CRLF line endings), for `shakenkit verify --sip` |
| `calls.jsonl` | the calls as JSON Lines (`identity`, `orig`, `dest`, `time`, `call_id`) |

(1) UDP over IPv4, one INVITE over TCP split across two segments, one over IPv6; with 100 and
200 responses, ACK, BYE, RTP, a keep-alive and an ICMP error quoting an INVITE, all ignored.
(2) IPv4 frames on a Linux cooked capture v2 (SLL2) interface, the IPv6 one on a raw-IP
interface.

Verify them (offline, at the capture time of each packet):

```sh
shakenkit scan --offline --trust tests/data/samples/root.pem \\
    --cert {x5u}=tests/data/samples/chain.pem tests/data/samples/calls.pcap
```

The calls and the verdict each gets:

| # | call | capture time | expected verdict |
|---|---|---|---|
{rows}
"""


def sample_pki(leaf_key: Any = None) -> TestPKI:
    """The samples' PKI, shaped like the production one so ``shakenkit cert`` finds no error
    in it: the STI-CA and SP certificates name the STI-PA CRL with its cRLIssuer
    (ATIS-1000080 v004). Offline verification (``--offline``, ``certificates=``) never fetches
    it. The SP subject has no serialNumber (a CP 1.1 warning, optional since CP 1.4), as
    most live leaves."""
    return make_pki(
        spc="123A",
        x5u=X5U,
        not_before=T0 - 30 * DAY,
        not_after=T0 + 5 * 365 * DAY,
        leaf_key=leaf_key,
    )


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pki = sample_pki()
    (out / "root.pem").write_bytes(pki.root_pem)
    (out / "chain.pem").write_bytes(pki.chain_pem)
    (out / "sp-key.pem").write_bytes(pki.leaf_key_pem)
    pkts, cs = frames(pki)
    pk.write_pcap(out / "calls.pcap", [(eth, t) for t, _ip, eth in pkts])
    # The pcapng: the IPv4 frames on a Linux cooked capture v2 interface (0), the IPv6 one on a
    # raw-IP interface (1).
    with (out / "calls.pcapng").open("wb") as f:
        w = pk.PcapNgWriter(f, (276, 101))
        for t, ip, _eth in pkts:
            if ip[0] >> 4 == 6:
                w.write(ip, t, 1)
            else:
                w.write(pk.sll2(ip, ifindex=2), t, 0)
    (out / "calls.sip").write_bytes(sip_text(cs))
    (out / "invite.sip").write_bytes(invite(cs[0], 1))
    (out / "calls.jsonl").write_bytes(jsonl(cs))
    rows = "\n".join(
        f"| {n} | {c.name} ({c.transport}) | T0+{c.at} s | {c.expect} |"
        for n, c in enumerate(cs, start=1)
    )
    (out / "README.md").write_text(README.format(t0=T0, x5u=X5U, rows=rows))
    print(f"wrote {len(pkts)} frames and {len(cs)} calls to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
