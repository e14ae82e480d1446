"""docs/cli.md's forwarded-call example runs as written (issue 18 point 15): the lab PKI
snippet makes the key and chain files the commands use, and the verdict is the one shown."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI_MD = ROOT / "docs" / "cli.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_forwarded_call_example_runs_as_documented(tmp_path: Path) -> None:
    blocks = _blocks(CLI_MD.read_text(encoding="utf-8"))
    [pki] = [b for b in blocks if "a.carrier(" in b]
    [calls] = [b for b in blocks if "--ppt div" in b and "a-key.pem" in b]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
    }
    script = pki.replace("python3 -", f"{sys.executable} -") + calls
    proc = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {p.name for p in tmp_path.iterdir()} >= {"root.pem", "a-key.pem", "a.pem",
                                                    "b-key.pem", "b.pem"}
    shown = [ln[2:] for ln in calls.splitlines() if ln.startswith("# ")]
    out = proc.stdout.splitlines()
    assert len(out) == len(shown)
    for want, got in zip(shown, out, strict=True):
        if want.endswith("..."):
            assert got.startswith(want[:-3]), (want, got)
        else:
            assert got == want
