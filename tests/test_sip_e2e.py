"""End to end behind a real SIP proxy: SIPp -> Kamailio -> ``shakenkit serve`` -> SIPp.

A SIPp UAC sends INVITEs whose Identity headers were made by ``shakenkit sign`` (a good call, a
forged signature, a stale one, a caller-ID mismatch). Kamailio (Debian's ``kamailio``, with the
``http_client`` and ``json`` modules) asks ``shakenkit serve`` over the ATIS-1000082 API for each
INVITE and forwards it with ``P-Asserted-Identity: <sip:+1...;verstat=...@host;user=phone>``
(3GPP TS 24.229). A SIPp UAS at the far end records what it receives, and the test reads the
verstat there. The config and scenario are in tests/sip_e2e/. Skips when kamailio or sipp
(Debian ``sip-tester``) is missing; CI installs both.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")

from shakenkit import cli
from shakenkit.testing import make_pki
from tests.serve_process import ServeProcess, free_port

HERE = Path(__file__).parent / "sip_e2e"
ORIG, DEST = "12155551212", "12155551213"
X5U = "https://cr.example.com/sp/123A.pem"


def _modules_dir() -> str | None:
    for d in [*sorted(glob.glob("/usr/lib/*/kamailio/modules")), "/usr/lib/kamailio/modules"]:
        if os.path.exists(f"{d}/http_client.so") and os.path.exists(f"{d}/json.so"):
            return d
    return None


MODULES = _modules_dir()
pytestmark = [
    pytest.mark.skipif(
        shutil.which("kamailio") is None, reason="kamailio not installed (apt: kamailio)"
    ),
    pytest.mark.skipif(
        MODULES is None,
        reason="kamailio http_client/json modules missing "
        "(apt: kamailio-utils-modules kamailio-json-modules)",
    ),
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed (apt: sip-tester)"),
]


def _sign(key: Path, *, orig: str = ORIG, iat: int | None = None) -> str:
    """``shakenkit sign`` (the command, in-process): the Identity header value."""
    argv = ["sign", "--key", str(key), "--x5u", X5U, "--orig", orig, "--dest", DEST]
    if iat is not None:
        argv += ["--iat", str(iat)]
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(argv) == 0
    return out.getvalue().strip()


def _wait_udp_bound(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    """Until something binds 127.0.0.1:port/udp (bind fails with EADDRINUSE)."""
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not bind udp port {port}")


@contextlib.contextmanager
def _running(cmd: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _received_invites(message_log: str) -> dict[str, list[str]]:
    """The INVITEs in a SIPp message log: X-Case -> its P-Asserted-Identity values."""
    out: dict[str, list[str]] = {}
    for block in re.split(r"message received \[\d+\] bytes :", message_log)[1:]:
        text = block.lstrip()
        if not text.startswith("INVITE "):
            continue
        head = text.split("\n\n", 1)[0]
        case = re.search(r"^X-Case:\s*(\S+)", head, re.M | re.I)
        pai = re.findall(r"^P-Asserted-Identity:\s*(.+?)\s*$", head, re.M | re.I)
        if case:
            out[case.group(1)] = pai
    return out


def test_kamailio_puts_the_verstat_of_shakenkit_serve_on_the_invite(tmp_path: Path) -> None:
    assert MODULES is not None
    pki = make_pki(x5u=X5U, crl_url=None)
    forger = make_pki(x5u=X5U, crl_url=None)
    for name, data in {
        "root.pem": pki.root_pem,
        "chain.pem": pki.chain_pem,
        "key.pem": pki.leaf_key_pem,
        "forger.pem": forger.leaf_key_pem,
    }.items():
        (tmp_path / name).write_bytes(data)
    now = int(time.time())
    calls = {
        "good": _sign(tmp_path / "key.pem"),
        "forged": _sign(tmp_path / "forger.pem"),
        "stale": _sign(tmp_path / "key.pem", iat=now - 3600),
        "mismatch": _sign(tmp_path / "key.pem", orig="12155559999"),
    }
    rows = ["SEQUENTIAL"]
    for case, header in calls.items():
        token, info = re.fullmatch(r"([^;]+);info=<([^>]+)>;alg=ES256;ppt=shaken", header).groups()  # type: ignore[union-attr]
        rows.append(f"{token};{info};{ORIG};{DEST};{case}")
    (tmp_path / "calls.csv").write_text("\n".join(rows) + "\n")

    kamailio_port, uas_port, uac_port = (free_port(socket.SOCK_DGRAM) for _ in range(3))
    run_dir = tmp_path / "kamailio-run"
    run_dir.mkdir()
    serve_args = ["--offline", "--trust", str(tmp_path / "root.pem")]
    serve_args += ["--cert", f"{X5U}={tmp_path / 'chain.pem'}"]
    with ServeProcess(serve_args) as server:
        cfg = (HERE / "kamailio.cfg.in").read_text()
        for key, value in {
            "@KAMAILIO_PORT@": str(kamailio_port),
            "@UAS_PORT@": str(uas_port),
            "@MODULES@": MODULES,
            "@VERIFY_URL@": server.url + "/stir/v1/verification",
        }.items():
            cfg = cfg.replace(key, value)
        (tmp_path / "kamailio.cfg").write_text(cfg)
        uas_log = tmp_path / "uas-messages.log"
        uas = [
            "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-m", str(len(calls)),
            "-nostdin", "-trace_msg", "-message_file", str(uas_log),
        ]  # fmt: skip
        kamailio = [
            "kamailio", "-f", str(tmp_path / "kamailio.cfg"), "-DD", "-E",
            "-Y", str(run_dir), "-P", str(run_dir / "kamailio.pid"),
        ]  # fmt: skip
        uac = [
            "sipp", f"127.0.0.1:{kamailio_port}", "-sf", str(HERE / "uac.xml"),
            "-inf", str(tmp_path / "calls.csv"), "-i", "127.0.0.1", "-p", str(uac_port),
            "-m", str(len(calls)), "-l", "1", "-r", "10", "-nostdin",
            "-timeout", "60s", "-timeout_error", "-trace_err",
            "-error_file", str(tmp_path / "uac-errors.log"),
        ]  # fmt: skip
        with (
            _running(uas, tmp_path / "uas.out") as uas_proc,
            _running(kamailio, tmp_path / "kamailio.log") as kam_proc,
        ):
            _wait_udp_bound(uas_port, uas_proc, "sipp uas")
            _wait_udp_bound(kamailio_port, kam_proc, "kamailio")
            done = subprocess.run(
                uac, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, timeout=120
            )
            kam_log = (tmp_path / "kamailio.log").read_text(errors="replace")
            assert done.returncode == 0, (
                f"sipp uac failed ({done.returncode}): {done.stdout[-2000:]!r}\n{kam_log[-3000:]}"
            )
            with contextlib.suppress(subprocess.TimeoutExpired):
                uas_proc.wait(timeout=10)

    received = _received_invites(uas_log.read_text(errors="replace"))
    assert set(received) == set(calls), received
    verstat = {}
    for case, pai in received.items():
        assert len(pai) == 1, (case, pai)  # the proxy replaced the PAI, did not add one
        m = re.search(r";verstat=([A-Za-z-]+)@", pai[0])
        assert m, pai
        verstat[case] = m.group(1)
    assert verstat == {
        "good": "TN-Validation-Passed",
        "forged": "TN-Validation-Failed",
        "stale": "TN-Validation-Failed",
        "mismatch": "TN-Validation-Failed",
    }
    assert received["good"][0].startswith("<sip:+12155551212;verstat=")
