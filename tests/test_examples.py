"""The examples in examples/ run and print what their docstrings promise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(name: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_example_verify_call_screens_good_spoofed_and_unsigned_calls() -> None:
    """examples/verify_call.py: a verified, a spoofed and an unsigned call, each handled."""
    out = _run("verify_call.py")
    assert "good call:     deliver (verified caller ID)" in out
    assert "spoofed call:  label as likely spoofed; Reason: SIP ;cause=438" in out
    assert "unsigned call: deliver without indication (No-TN-Validation" in out
