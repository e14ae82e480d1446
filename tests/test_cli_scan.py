"""The command line for calls as they arrive: `scan`, `verify --sip`, `sign` (docs/cli.md).

Runs against the generated samples in tests/data/samples (scripts/make_samples.py): their
README lists each call and the verdict it must get.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shakenkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "samples"
X5U = "https://cr.example.com/sp/123A.pem"
T0 = 1_767_225_600
OFFLINE = [
    "--offline",
    "--trust",
    str(SAMPLES / "root.pem"),
    "--cert",
    f"{X5U}={SAMPLES / 'chain.pem'}",
]
# (call id, verstat, attest, caller_id, error) for every verdict of the sample calls.
EXPECTED = [
    ("call-0001", "TN-Validation-Passed", "A", "verified", None),
    ("call-0002", "TN-Validation-Passed", "B", "unverified", None),
    ("call-0003", "TN-Validation-Passed", "A", "verified", None),
    ("call-0004", "TN-Validation-Passed", "A", "verified", None),
    ("call-0005", "TN-Validation-Failed", "A", "likely_spoofed", (438, "orig_tn")),
    ("call-0006", "TN-Validation-Failed", "A", "likely_spoofed", (403, "freshness")),
    ("call-0007", "No-TN-Validation", None, "unverified", None),
    # A SHAKEN and a (malformed) div header: one verdict for the call (RFC 8946 linking).
    ("call-0008", "TN-Validation-Passed", "A", "verified", None),
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def summary(objs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            o["call_id"].split("@")[0],
            o["verstat"],
            o["attest"],
            o["caller_id"],
            (o["error"]["sip_code"], o["error"]["check"]) if o["error"] else None,
        )
        for o in objs
    ]


# -- scan ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["calls.pcap", "calls.pcapng", "calls.jsonl"])
def test_scan_json_counts_and_verdicts(capsys: pytest.CaptureFixture[str], name: str) -> None:
    """`scan --json`: one object per Identity header (a No-TN-Validation one for an INVITE
    without any) with the verdict's fields plus source, frame or line, and call_id."""
    code, out, err = run(capsys, "scan", "--json", *OFFLINE, str(SAMPLES / name))
    assert code == 1  # the spoofed and stale calls fail
    objs = rows(out)
    assert summary(objs) == EXPECTED
    where = "line" if name.endswith("jsonl") else "frame"
    assert all(o["source"] == str(SAMPLES / name) and isinstance(o[where], int) for o in objs)
    assert "shakenkit scan: 1 file, 8 calls, 8 verdicts" in err
    assert "TN-Validation-Passed       5" in err and "403 freshness" in err
    assert "123A" in err


def test_scan_pcap_reads_tcp_split_and_ipv6(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _ = run(capsys, "scan", "--json", *OFFLINE, str(SAMPLES / "calls.pcap"))
    objs = {o["call_id"].split("@")[0]: o for o in rows(out)}
    assert objs["call-0003"]["transport"] == "tcp" and objs["call-0003"]["frame"] == 12
    assert objs["call-0004"]["frame"] == 14  # the IPv6 call
    assert objs["call-0001"]["time"] == T0 and objs["call-0001"]["verified_at"] == T0


def test_scan_sip_text_file(capsys: pytest.CaptureFixture[str]) -> None:
    """SIP text files: the UDP calls, judged at their Date header (no capture time)."""
    _code, out, _ = run(capsys, "scan", "--json", *OFFLINE, str(SAMPLES / "calls.sip"))
    objs = rows(out)
    assert summary(objs) == [e for e in EXPECTED if e[0] not in ("call-0003", "call-0004")]
    assert [o["line"] for o in objs][:2] == [1, 32]


def test_scan_several_files_text_output_and_out_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dest = tmp_path / "verdicts.txt"
    files = [str(SAMPLES / n) for n in ("calls.pcap", "calls.sip")]
    code, out, err = run(capsys, "scan", *OFFLINE, "--out", str(dest), *files)
    assert out == "" and code == 1
    text = dest.read_text()
    assert "calls.pcap:frame 1  call-0001@sp.example.com  TN-Validation-Passed" in text
    assert "403 Stale Date [freshness]" in text
    assert "2 files, 14 calls, 14 verdicts" in err


def test_scan_now_overrides_the_capture_time(capsys: pytest.CaptureFixture[str]) -> None:
    """--now judges every call at one time: an hour later every signed call is stale."""
    _code, out, _ = run(
        capsys, "scan", "--json", *OFFLINE, "--now", str(T0 + 3600), str(SAMPLES / "calls.pcap")
    )
    errors = Counter(o["error"]["sip_code"] for o in rows(out) if o["error"])
    assert errors == Counter({403: 7})


def test_scan_exit_zero_when_every_call_passes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "good.jsonl"
    lines = (SAMPLES / "calls.jsonl").read_text().splitlines()
    good.write_text("\n".join(lines[:4]) + "\n")
    code, out, err = run(capsys, "scan", *OFFLINE, str(good))
    assert code == 0, out + err


def test_scan_signed_only_skips_unsigned_invites(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _ = run(
        capsys, "scan", "--json", "--signed-only", *OFFLINE, str(SAMPLES / "calls.pcap")
    )
    assert [o["call_id"] for o in rows(out)].count("call-0007@sp.example.com") == 0
    assert len(rows(out)) == 7


def test_scan_require_identity_gives_428(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _ = run(
        capsys, "scan", "--json", "--require-identity", *OFFLINE, str(SAMPLES / "calls.pcap")
    )
    unsigned = [o for o in rows(out) if o["call_id"].startswith("call-0007")]
    assert unsigned[0]["error"]["sip_code"] == 428


def test_scan_unknown_or_unreadable_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """One clear error line, exit status 2, before any output."""
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n")
    for bad, words in ((junk, "unknown format"), (tmp_path / "nope.pcap", "cannot read")):
        code, out, err = run(capsys, "scan", *OFFLINE, str(SAMPLES / "calls.pcap"), str(bad))
        assert code == 2 and out == ""
        assert err.startswith("shakenkit: error: ") and words in err
        assert err.count("\n") == 1


def test_scan_unusable_json_lines_are_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"identity": null}\n{broken\n')
    code, out, err = run(capsys, "scan", "--json", *OFFLINE, str(batch))
    assert code == 1 and len(rows(out)) == 1
    assert f"shakenkit: warning: {batch}:line 2: not valid JSON" in err
    assert "1 unusable record skipped" in err


def test_scan_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (SAMPLES / "calls.pcapng").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    _code, out, _ = run(capsys, "scan", "--json", *OFFLINE, "-")
    assert summary(rows(out)) == EXPECTED and rows(out)[0]["source"] == "<stdin>"


def test_scan_progress_only_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Progress goes to stderr only when it is a terminal (captured stderr is not)."""
    _, _, err = run(capsys, "scan", *OFFLINE, str(SAMPLES / "calls.pcap"))
    assert "\r" not in err and "\x1b[" not in err


def test_progress_line_counts_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    from shakenkit.cli.progress import Progress

    buf = io.StringIO()
    monkeypatch.setattr(buf, "isatty", lambda: True)
    p = Progress(buf, total_bytes=100_000, unit="packets")
    p.started -= 10
    p.next_file("scanning x.pcap")
    p.read(1000, 50_000)
    p.verified(7)
    assert p.text(p.started + 10) == (
        "scanning x.pcap: 1,000 packets, 50.0 kB of 100.0 kB (50%), 7 calls verified, "
        "100 packets/s, ETA 0:10"
    )
    p.done()
    assert buf.getvalue().startswith("\r\x1b[Kscanning x.pcap: ")
    assert buf.getvalue().endswith("\r\x1b[K")
    quiet = io.StringIO()
    monkeypatch.setattr(quiet, "isatty", lambda: True)
    q = Progress(quiet, quiet=True)
    q.read(1, 1)
    q.done()
    assert quiet.getvalue() == ""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "shakenkit.cli", *args]


ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _stderr_on_a_terminal(cmd: list[str]) -> str:
    """Run ``cmd`` with its stderr on a pseudo-terminal; what it wrote there."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
    p = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=ENV
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not b:
            break
        chunks.append(b)
    p.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode()


def test_scan_shows_progress_on_a_terminal() -> None:
    """On a terminal: packets and bytes read (of the file's size), calls verified, the rate."""
    err = _stderr_on_a_terminal(_cli("scan", *OFFLINE, str(SAMPLES / "calls.pcap")))
    assert re.search(
        r"\r\x1b\[Kscanning \S*calls\.pcap: \d+ packets, [\d.]+ k?B of 13\.1 kB \(\d+%\), "
        r"\d+ calls verified, [\d,]+ packets/s",
        err,
    ), err
    assert "shakenkit scan: 1 file, 8 calls" in err  # the summary after the line is erased
    quiet = _stderr_on_a_terminal(_cli("scan", "--quiet", *OFFLINE, str(SAMPLES / "calls.pcap")))
    assert quiet == ""


def test_traceback_shows_progress_on_a_terminal() -> None:
    err = _stderr_on_a_terminal(_cli("traceback", *OFFLINE, str(SAMPLES / "calls.jsonl")))
    assert re.search(
        r"\r\x1b\[Ktraceback: \d+ records, [\d.]+ k?B of [\d.]+ kB \(\d+%\), \d+ calls verified",
        err,
    ), err


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        (["scan", "--quiet"], ""),
        (["traceback"], ""),
        (["traceback", "--quiet"], ""),
    ],
)
def test_nothing_on_stderr_without_a_terminal(command: list[str], expect: str) -> None:
    """Not a terminal: no progress, stderr stays empty (scan's summary table aside, which
    --quiet drops too)."""
    p = subprocess.run(
        _cli(*command, *OFFLINE, str(SAMPLES / "calls.pcap")),
        capture_output=True, text=True, env=ENV, timeout=120, check=False,
    )  # fmt: skip
    assert p.stdout and p.stderr == expect


def test_scan_without_a_terminal_writes_only_its_summary() -> None:
    p = subprocess.run(
        _cli("scan", *OFFLINE, str(SAMPLES / "calls.pcap")),
        capture_output=True, text=True, env=ENV, timeout=120, check=False,
    )  # fmt: skip
    assert p.stderr.startswith("shakenkit scan: 1 file, 8 calls, 8 verdicts\n")
    assert "\r" not in p.stderr and "\x1b" not in p.stderr


def test_scan_warns_about_a_truncated_capture(tmp_path: Path) -> None:
    """The half INVITE at the cut gets no verdict (it used to get a 438); a warning names the
    file and the offset; the calls before the cut are verified."""
    data = (SAMPLES / "calls.pcap").read_bytes()
    cut = 2292 + 16 + 600  # inside the INVITE of call 2 (frame 6)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:cut])
    p = subprocess.run(
        _cli("scan", "--json", *OFFLINE, str(path)),
        capture_output=True, text=True, env=ENV, timeout=120, check=False,
    )  # fmt: skip
    assert [o["call_id"] for o in rows(p.stdout)] == ["call-0001@sp.example.com"]
    assert p.returncode == 0  # the one call verified passed
    assert p.stderr.startswith(
        f"shakenkit: warning: {path}: truncated at byte {cut}: frame 6 (from byte 2292) is "
        "cut short; stopped there, it is not read\n"
    )


def _pcap_records(data: bytes) -> tuple[bytes, list[bytes]]:
    """The file header and each record (header and data) of a little-endian pcap."""
    out, pos = [], 24
    while pos < len(data):
        (caplen,) = struct.unpack_from("<I", data, pos + 8)
        out.append(data[pos : pos + 16 + caplen])
        pos += 16 + caplen
    return data[:24], out


def test_scan_from_a_pipe_prints_each_verdict_as_its_invite_arrives() -> None:
    """`dumpcap -w - | shakenkit scan -`: a writer sends the capture frame by frame and waits
    for each INVITE's verdict on scan's stdout before sending more; stdin stays open until
    the end. (The old reader waited for 4 KiB, then for the end of the capture.)"""
    import queue
    import threading

    head, recs = _pcap_records((SAMPLES / "calls.pcap").read_bytes())
    p = subprocess.Popen(
        _cli("scan", "--json", *OFFLINE, "-"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    assert p.stdin is not None and p.stdout is not None
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        assert p.stdout is not None
        for line in p.stdout:
            lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump, daemon=True).start()
    invites = {1: "call-0001", 6: "call-0002", 12: "call-0003", 14: "call-0004"}
    try:
        p.stdin.write(head)
        for frame, rec in enumerate(recs[:14], start=1):
            p.stdin.write(rec)
            p.stdin.flush()
            if frame in invites:
                line = lines.get(timeout=60)  # a liveness guard, not a speed assertion
                assert json.loads(line)["call_id"].startswith(invites[frame])
                assert lines.empty()
        p.stdin.write(b"".join(recs[14:]))
        p.stdin.close()
        rest = []
        while (line := lines.get(timeout=60)) != b"":
            rest.append(json.loads(line)["call_id"].split("@")[0])
        assert rest == ["call-0005", "call-0006", "call-0007", "call-0008"]
        assert p.wait(timeout=60) == 1
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# -- verify --sip --------------------------------------------------------------------------------


def test_verify_sip_file(capsys: pytest.CaptureFixture[str]) -> None:
    """`verify --sip FILE`: numbers and Date from the message; judged at --now."""
    code, out, _ = run(
        capsys,
        "verify",
        *OFFLINE,
        "--json",
        "--now",
        str(T0 + 5),
        "--sip",
        str(SAMPLES / "invite.sip"),
    )
    assert code == 0
    [v] = rows(out)
    assert (v["verstat"], v["attest"], v["caller_id"]) == ("TN-Validation-Passed", "A", "verified")


def test_verify_sip_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`verify --sip -` reads the message from stdin; text output like `verify`."""
    data = (SAMPLES / "calls.sip").read_bytes().split(b"\nSIP/2.0 100")[0]  # the first INVITE
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(capsys, "verify", *OFFLINE, "--now", str(T0), "--sip", "-")
    assert code == 0
    assert out.startswith("TN-Validation-Passed  attest=A  caller_id=verified")


def test_verify_sip_several_headers_and_stale(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A call with a div header gets one verdict for the call (its headers linked, RFC 8946);
    the default time is now, so old calls are stale."""
    msg = (SAMPLES / "calls.sip").read_bytes()
    start = msg.index(b"INVITE sip", msg.index(b"call-0007"))
    path = tmp_path / "two_headers.sip"
    path.write_bytes(msg[start:])
    code, out, _ = run(capsys, "verify", *OFFLINE, "--json", "--sip", str(path))
    objs = rows(out)
    assert code == 1 and len(objs) == 1
    assert objs[0]["error"]["sip_code"] == 403
    assert [d["result"] for d in objs[0]["diversion"]] == ["failed"]


def test_verify_sip_warns_about_a_file_of_several_messages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO((SAMPLES / "calls.sip").read_text()))
    code, out, err = run(capsys, "verify", *OFFLINE, "--now", str(T0), "--sip", "-")
    assert code == 0 and out.startswith("TN-Validation-Passed")
    assert "shakenkit: warning: - holds more than one SIP message" in err


def test_verify_sip_malformed_message_is_a_438_verdict(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.sip"
    bad.write_bytes(b"INVITE sip:x@h SIP/2.0\r\nno colon here\r\n\r\n")
    code, out, _ = run(capsys, "verify", *OFFLINE, "--json", "--sip", str(bad))
    [v] = rows(out)
    assert code == 1 and v["error"]["sip_code"] == 438 and "line 2" in v["error"]["detail"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--orig", "+12155551212"], "--orig/--dest cannot be used with --sip"),
        (["eyJ.x.y;info=<https://x/y>"], "not both"),
    ],
)
def test_verify_sip_usage_errors(
    capsys: pytest.CaptureFixture[str], extra: list[str], words: str
) -> None:
    code, _, err = run(capsys, "verify", *OFFLINE, "--sip", str(SAMPLES / "invite.sip"), *extra)
    assert code == 2 and err == f"shakenkit: error: {err.split('error: ')[1]}"
    assert words in err


def test_verify_without_headers_or_sip_is_still_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["verify", *OFFLINE])
    assert e.value.code == 2
    assert "shakenkit: error: the following arguments are required: IDENTITY" in (
        capsys.readouterr().err
    )
    code, _, err = run(capsys, "verify", *OFFLINE, "--sip", str(tmp_path / "missing.sip"))
    assert code == 2 and "cannot read SIP message" in err


# -- sign ----------------------------------------------------------------------------------------


def test_sign_round_trips_through_verify(capsys: pytest.CaptureFixture[str]) -> None:
    """`sign` prints an Identity header that `verify` passes (and `verify` catches a wrong
    number)."""
    code, out, _ = run(
        capsys, "sign", "--key", str(SAMPLES / "sp-key.pem"), "--x5u", X5U,
        "--orig", "+1 215-555-1212", "--dest", "tel:+12155551213", "--attest", "B",
        "--origid", "123e4567-e89b-12d3-a456-426655440000", "--iat", str(T0),
    )  # fmt: skip
    assert code == 0
    header = out.strip()
    assert header.endswith(f";info=<{X5U}>;alg=ES256;ppt=shaken")
    args = ["verify", *OFFLINE, "--json", "--now", str(T0 + 1), "--dest", "+12155551213"]
    code, out, _ = run(capsys, *args, "--orig", "+12155551212", header)
    [v] = rows(out)
    assert code == 0 and (v["attest"], v["origid"]) == ("B", "123e4567-e89b-12d3-a456-426655440000")
    code, out, _ = run(capsys, *args, "--orig", "+12155559999", header)
    assert code == 1 and rows(out)[0]["error"]["check"] == "orig_tn"


def test_sign_defaults_to_now(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "sign", "--key", str(SAMPLES / "sp-key.pem"), "--x5u", X5U,
        "--orig", "12155551212", "--dest", "12155551213",
    )  # fmt: skip
    assert code == 0
    code, out, _ = run(
        capsys, "verify", *OFFLINE, "--orig", "12155551212", "--dest", "12155551213", out.strip()
    )
    assert code == 0


def _key(tmp_path: Path, key: Any, password: bytes | None = None) -> str:
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path = tmp_path / "k.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    )
    return str(path)


def test_sign_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A non-P-256 key, an encrypted key, a non-key, bad numbers: one line, exit 2."""
    p384 = _key(tmp_path, ec.generate_private_key(ec.SECP384R1()))
    cases = [
        (["--key", p384], "not an ECDSA P-256 key"),
        (["--key", str(SAMPLES / "root.pem")], "not a private key"),
        (["--key", str(tmp_path / "none.pem")], "cannot read key file"),
        (["--key", str(SAMPLES / "sp-key.pem"), "--orig", "alice"], "--orig 'alice'"),
        (["--key", str(SAMPLES / "sp-key.pem"), "--origid", "nope"], "not a UUID"),
    ]
    for extra, words in cases:
        args = ["sign", "--x5u", X5U, "--orig", "12155551212", "--dest", "12155551213"]
        code, out, err = run(capsys, *args, *extra)
        assert code == 2 and out == "" and words in err, err
        assert err.startswith("shakenkit: error: ") and err.count("\n") == 1
    enc = _key(tmp_path, ec.generate_private_key(ec.SECP256R1()), b"secret")
    code, _, err = run(capsys, "sign", "--key", enc, "--x5u", X5U, "--orig", "1", "--dest", "2")
    assert code == 2 and "encrypted" in err
    with pytest.raises(SystemExit) as e:
        main(["sign", "--x5u", X5U])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith("shakenkit: error: the following arguments are required")


# -- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["verify", "scan", "cert", "sign", "demo"])
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: shakenkit {command}")
    assert "examples:" in out


def test_console_script_entry_point() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "shakenkit.cli", "scan", "--json", *OFFLINE]
    p = subprocess.run(
        [*cmd, str(SAMPLES / "calls.pcap")],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert p.returncode == 1 and len(p.stdout.splitlines()) == 8
    assert "WARNING" not in p.stderr and "Warning" not in p.stderr
