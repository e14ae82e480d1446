"""Capture scanning against tshark, in the same run: packets per second and the time ratio.

Generates (or reuses, ``--capture FILE``) an SBC-tap capture: ``--calls`` signed calls (default
1,000), each an INVITE over UDP with its 100/180/200 responses, ACK, BYE and 200, and
``--rtp`` RTP packets (default 500: G.711, 20 ms, both directions) interleaved with the other
calls' media, about 507,000 Ethernet/IPv4 frames and 117 MB for the defaults. Then times, on
that file:

* ``shakenkit scan --json --out /dev/null`` as a command (import and verifier set-up included),
  offline against the capture's own test PKI: every call verified;
* the same scan in this process (``read_records`` + ``verify_records``), and ``read_records``
  alone (reading, no verification);
* ``tshark -r FILE -Y 'sip.Method == "INVITE"' -T fields -e sip.Identity`` (extracting the
  headers only, no verification). Skipped with a message when tshark is not installed;
* with ``--readers``: the same reading job (find the frames holding SIP, decode them to the UDP
  payload, parse the INVITEs) written with scapy and with dpkt, when they are installed, to
  compare capture libraries with shakenkit's own reader.

With ``--memory K`` it also scans a capture made of K copies of the packets (K x 117 MB) and
prints the scan command's peak resident memory for 1 and K copies (flat memory: the same).

No assertion on time: this script reports, it does not judge.

    python benchmarks/bench_scan.py [--calls 1000] [--rtp 500] [--capture FILE] [--repeat 3]
                                    [--readers] [--memory 8] [--json]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from shakenkit.sip import parse_sip, read_records, verify_records  # noqa: E402
from shakenkit.testing import make_pki  # noqa: E402
from tests.packets import ether, ipv4, udp  # noqa: E402

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
X5U = "https://cr.example.com/sp/123A.pem"
SBC, PEER = "192.0.2.10", "198.51.100.20"


def _sip(first: str, n: int, extra: list[str] = (), body: str = "") -> bytes:  # type: ignore[assignment]
    lines = [
        first,
        f"Via: SIP/2.0/UDP {SBC}:5060;branch=z9hG4bK-{n:06d}",
        "Max-Forwards: 70",
        f"From: <sip:+1215555{n % 10000:04d}@sp.example.com;user=phone>;tag=f{n}",
        f"To: <sip:+1267555{n % 10000:04d}@cr.example.net;user=phone>",
        f"Call-ID: bench-{n:06d}@sp.example.com",
        *extra,
        f"Content-Length: {len(body)}",
        "",
        body,
    ]
    return "\r\n".join(lines).encode()


def _call(pki: Any, n: int, rtp: int, start: float) -> Iterator[tuple[float, bytes]]:
    """One call's frames, in time order: SIP signalling and RTP both ways."""
    orig, dest = f"1215555{n % 10000:04d}", f"1267555{n % 10000:04d}"
    at = int(start)
    ident = pki.sign(orig=orig, dest=dest, iat=at)
    sdp = (
        f"v=0\r\no=- {n} 0 IN IP4 {SBC}\r\ns=-\r\nc=IN IP4 {SBC}\r\nt=0 0\r\n"
        f"m=audio {20000 + 2 * (n % 10000)} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    inv = _sip(
        f"INVITE sip:+{dest}@cr.example.net;user=phone SIP/2.0",
        n,
        [
            "CSeq: 1 INVITE",
            f"Contact: <sip:+{orig}@{SBC}:5060>",
            f"Identity: {ident}",
            "Content-Type: application/sdp",
        ],
        sdp,
    )
    fwd = lambda p, sp=5060, dp=5060: ether(ipv4(udp(p, sp, dp), SBC, PEER, 17))  # noqa: E731
    rev = lambda p, sp=5060, dp=5060: ether(ipv4(udp(p, sp, dp), PEER, SBC, 17))  # noqa: E731
    resp = lambda code, why: _sip(f"SIP/2.0 {code} {why}", n, ["CSeq: 1 INVITE"])  # noqa: E731
    yield start, fwd(inv)
    yield start + 0.002, rev(resp(100, "Trying"))
    yield start + 0.5, rev(resp(180, "Ringing"))
    yield start + 2.0, rev(resp(200, "OK"))
    yield start + 2.01, fwd(_sip(f"ACK sip:+{dest}@cr.example.net SIP/2.0", n, ["CSeq: 1 ACK"]))
    # G.711 media, 20 ms, both directions: a fixed template, sequence number and timestamp set.
    port = 20000 + 2 * (n % 10000)
    tmpl_f = bytearray(fwd(bytes(172), port, 30000 + 2 * (n % 10000)))
    tmpl_r = bytearray(rev(bytes(172), 30000 + 2 * (n % 10000), port))
    payload_at = len(tmpl_f) - 172
    t = start + 2.02
    for i in range(rtp):
        tmpl = tmpl_f if i % 2 == 0 else tmpl_r
        struct.pack_into("!BBHII", tmpl, payload_at, 0x80, 0, (i // 2) & 0xFFFF, i * 80, n)
        tmpl[payload_at + 12 : payload_at + 20] = (i * 0x0101010101010101 & (2**64 - 1)).to_bytes(
            8, "big"
        )
        yield t + (i // 2) * 0.02, bytes(tmpl)
    end = t + (rtp // 2) * 0.02
    yield end, fwd(_sip(f"BYE sip:+{dest}@cr.example.net SIP/2.0", n, ["CSeq: 2 BYE"]))
    yield end + 0.002, rev(_sip("SIP/2.0 200 OK", n, ["CSeq: 2 BYE"]))


def generate(path: Path, calls: int, rtp: int) -> dict[str, Any]:
    """Write the capture and the PKI its calls verify against; return the manifest."""
    pki = make_pki(spc="123A", x5u=X5U, not_before=T0 - 86_400 * 30, crl_url=None)
    # Calls start every 50 ms, so about 100 carry media at any moment (interleaved frames).
    streams = [_call(pki, n, rtp, T0 + n * 0.05) for n in range(calls)]
    frames = 0
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 1))
        buf = []
        for t, frame in heapq.merge(*streams, key=lambda x: x[0]):
            sec = int(t)
            buf.append(struct.pack("<IIII", sec, round((t - sec) * 1e6), len(frame), len(frame)))
            buf.append(frame)
            frames += 1
            if len(buf) > 8192:
                f.write(b"".join(buf))
                buf.clear()
        f.write(b"".join(buf))
    m = {"calls": calls, "rtp": rtp, "frames": frames, "bytes": path.stat().st_size}
    path.with_suffix(".root.pem").write_bytes(pki.root_pem)
    path.with_suffix(".chain.pem").write_bytes(pki.chain_pem)
    path.with_suffix(".json").write_text(json.dumps(m))
    return m


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _scan_cmd(path: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "shakenkit.cli", "scan", "--offline", "--quiet",
        "--trust", str(path.with_suffix(".root.pem")),
        "--cert", f"{X5U}={path.with_suffix('.chain.pem')}",
        "--json", "--out", os.devnull, *extra, str(path),
    ]  # fmt: skip


def run_cli(path: Path) -> tuple[int, int]:
    """Run the scan command; return (exit status, peak RSS of the child in KiB)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = _scan_cmd(path)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode not in (0, 1) or "unrecognized arguments: --quiet" in p.stderr:
        p = subprocess.run([c for c in cmd if c != "--quiet"], env=env, capture_output=True)
    if p.returncode not in (0, 1):
        raise SystemExit(f"scan failed: {p.stderr}")
    return p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def in_process(path: Path) -> tuple[int, int]:
    from shakenkit import Verifier

    v = Verifier(
        trust_anchors=[path.with_suffix(".root.pem").read_bytes()],
        certificates={X5U: path.with_suffix(".chain.pem").read_bytes()},
    )
    passed = total = 0
    for r in verify_records(v, read_records(path)):
        total += 1
        passed += r.verdict.passed
    return total, passed


def read_only(path: Path) -> int:
    return sum(1 for _ in read_records(path))


def tshark(path: Path) -> int | None:
    exe = shutil.which("tshark")
    if exe is None:
        return None
    p = subprocess.run(
        [exe, "-n", "-r", str(path), "-Y", 'sip.Method == "INVITE"', "-T", "fields", "-e",
         "sip.Identity"],
        capture_output=True,
        check=True,
    )  # fmt: skip
    return sum(1 for line in p.stdout.splitlines() if line.strip())


# -- the same reading job with other capture libraries (--readers) -----------------------------


def _invites(payloads: Iterator[bytes]) -> int:
    from shakenkit.sip import datagram_message, is_invite

    n = 0
    for p in payloads:
        m = datagram_message(p)
        if m is not None and is_invite(m):
            parse_sip(m)
            n += 1
    return n


def read_with_scapy(path: Path) -> int | None:
    try:
        from scapy.layers.l2 import Ether
        from scapy.utils import RawPcapReader
    except ImportError:
        return None

    def payloads() -> Iterator[bytes]:
        for data, _meta in RawPcapReader(str(path)):
            if b"SIP/2.0" in data:
                yield bytes(Ether(data).payload.payload.payload)

    return _invites(payloads())


def read_with_dpkt(path: Path) -> int | None:
    try:
        import dpkt
    except ImportError:
        return None

    def payloads() -> Iterator[bytes]:
        with path.open("rb") as f:
            for _ts, data in dpkt.pcap.Reader(f):
                if b"SIP/2.0" in data:
                    yield bytes(dpkt.ethernet.Ethernet(data).data.data.data)

    return _invites(payloads())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--rtp", type=int, default=500, help="RTP packets per call")
    ap.add_argument("--capture", type=Path, help="reuse (or create) the capture at this path")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs per measurement")
    ap.add_argument("--readers", action="store_true", help="also time scapy and dpkt readers")
    ap.add_argument("--memory", type=int, metavar="K", help="peak RSS on K copies of the file")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    tmp = None
    path = a.capture
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-scan-")
        path = Path(tmp.name) / "sbc.pcap"
    if not path.with_suffix(".json").exists():
        t = time.perf_counter()
        m = generate(path, a.calls, a.rtp)
        if not a.json:
            print(f"generated {m['frames']:,} frames, {m['bytes'] / 1e6:.0f} MB, "
                  f"{m['calls']} calls in {time.perf_counter() - t:.1f} s")  # fmt: skip
    m = json.loads(path.with_suffix(".json").read_text())
    frames = m["frames"]
    res: dict[str, Any] = {"frames": frames, "bytes": m["bytes"], "calls": m["calls"]}

    t_cli, (_status, _rss) = _best(lambda: run_cli(path), a.repeat)
    res["scan_command_s"] = t_cli
    t_lib, (verdicts, passed) = _best(lambda: in_process(path), a.repeat)
    res.update(scan_in_process_s=t_lib, verdicts=verdicts, passed=passed)
    t_read, n = _best(lambda: read_only(path), a.repeat)
    res.update(read_records_s=t_read, records=n)
    t_ts, n_ts = _best(lambda: tshark(path), a.repeat)
    res["tshark_s"] = t_ts if n_ts is not None else None
    res["tshark_invites"] = n_ts
    if a.readers:
        for name, fn in (("scapy", read_with_scapy), ("dpkt", read_with_dpkt)):
            t, k = _best(lambda fn=fn: fn(path), max(1, a.repeat - 1))
            res[f"{name}_read_s"] = t if k is not None else None
    if a.memory:
        big = path.with_name(f"sbc-x{a.memory}.pcap")
        if not big.exists():
            body = path.read_bytes()
            with big.open("wb") as f:
                f.write(body)
                for _ in range(a.memory - 1):
                    f.write(body[24:])
        for k, p in ((1, path), (a.memory, big)):
            for suffix in (".root.pem", ".chain.pem"):
                if p is not path:
                    shutil.copy(path.with_suffix(suffix), p.with_suffix(suffix))
            code = (
                "import resource,subprocess,sys;subprocess.run(sys.argv[1:]);"
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
            )
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            out = subprocess.run(
                [sys.executable, "-c", code, *_scan_cmd(p)], env=env, capture_output=True, text=True
            ).stdout.split()
            res[f"peak_rss_kib_x{k}"] = int(out[-1]) if out else None
            res[f"bytes_x{k}"] = p.stat().st_size

    if a.json:
        print(json.dumps(res))
        return 0
    print(f"capture: {frames:,} frames, {m['bytes'] / 1e6:.0f} MB, {m['calls']} signed calls")
    print(f"shakenkit scan (command)     {t_cli:6.2f} s  {frames / t_cli:>10,.0f} packets/s")
    print(f"scan in process              {t_lib:6.2f} s  {frames / t_lib:>10,.0f} packets/s"
          f"  ({verdicts} verdicts, {passed} passed)")  # fmt: skip
    print(f"read_records only            {t_read:6.2f} s  {frames / t_read:>10,.0f} packets/s")
    for name in ("scapy", "dpkt"):
        if f"{name}_read_s" in res:
            t = res[f"{name}_read_s"]
            if t is None:
                print(f"{name} reader: not installed")
            else:
                print(
                    f"{name + ' reader (same job)':<28} {t:6.2f} s  {frames / t:>10,.0f} packets/s"
                )
    if n_ts is None:
        print("tshark: not installed (apt-get install tshark); ratio skipped")
    else:
        print(f"tshark -Y INVITE -e Identity {t_ts:6.2f} s  {frames / t_ts:>10,.0f} packets/s"
              f"  ({n_ts} INVITEs)")  # fmt: skip
        print(f"scan command / tshark time: {t_cli / t_ts:.2f} (goal <= 0.25)")
    if a.memory:
        print(
            f"peak RSS of the scan command: {res['peak_rss_kib_x1'] / 1024:.0f} MiB on "
            f"{res['bytes_x1'] / 1e6:.0f} MB, {res[f'peak_rss_kib_x{a.memory}'] / 1024:.0f} MiB on "
            f"{res[f'bytes_x{a.memory}'] / 1e6:.0f} MB"
        )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
