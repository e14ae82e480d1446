"""The examples for calls as they arrive run and print what their docstrings promise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(name: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_screening_hook_decides_per_invite() -> None:
    """examples/screening_hook.py: averify_sip over raw INVITEs, one decision each."""
    out = _run("screening_hook.py")
    assert "signed call:        deliver-verified verstat=TN-Validation-Passed" in out
    assert "spoofed caller ID:  label-spoofed    verstat=TN-Validation-Failed" in out
    assert 'Reason: SIP ;cause=438 ;text="Invalid Identity Header"' in out
    assert "unsigned call:      deliver          verstat=No-TN-Validation" in out
    assert "broken INVITE:      deliver          verstat=TN-Validation-Failed" in out


def test_pcap_smoke_check_passes_on_the_samples() -> None:
    """examples/pcap_smoke_check.py: the sample pcap and pcapng give the README's verdicts."""
    for capture in ("calls.pcap", "calls.pcapng"):
        out = _run("pcap_smoke_check.py", str(ROOT / "tests" / "data" / "samples" / capture))
        assert "frame  12 tcp call-0003@sp.example.com: TN-Validation-Passed" in out
        assert "totals: No-TN-Validation 1, TN-Validation-Failed 2, TN-Validation-Passed 5" in out
        assert out.rstrip().endswith("smoke check passed")


def test_batch_scan_summarizes_a_json_lines_batch() -> None:
    """examples/batch_scan.py: per-record verdicts, a summary and the traceback data."""
    out = _run("batch_scan.py")
    assert "line 1: call-0001@sp.example.com: TN-Validation-Passed caller_id=verified" in out
    assert 'summary: {"likely_spoofed": 2, "unverified": 2, "verified": 4}' in out
    assert "likely spoofed: call-0005@sp.example.com calling +12155559999 (438 orig_tn" in out
