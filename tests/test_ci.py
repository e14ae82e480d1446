"""CI keeps the habits the project promises (issue 18 point 14): ``.ci/run`` installs, then runs
``ruff check`` and ``mypy --strict src`` and the tests, and stops at the first failure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / ".ci" / "run"


def _commands() -> list[str]:
    lines = CI.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_ci_fails_on_the_first_error() -> None:
    assert "set -euo pipefail" in _commands()
    assert CI.stat().st_mode & 0o111, ".ci/run is executable"


def test_ci_runs_ruff_and_mypy_after_installing_and_before_the_tests() -> None:
    cmds = _commands()

    def first(pattern: str) -> int:
        hits = [i for i, c in enumerate(cmds) if re.search(pattern, c)]
        assert hits, f"{pattern!r} not in .ci/run"
        return hits[0]

    install = first(r"pip install -e '\.\[test")
    ruff = first(r"^\.venv/bin/ruff check \.$")
    mypy = first(r"^\.venv/bin/mypy --strict src$")
    tests = first(r"^\.venv/bin/python -m pytest")
    assert install < ruff < tests and install < mypy < tests
    # Not masked: no `|| true`, no `-` prefix, no backgrounding on those lines.
    for i in (ruff, mypy, tests):
        assert "||" not in cmds[i] and not cmds[i].endswith("&")


def test_readme_names_the_ci_lint_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/ruff check . && .venv/bin/mypy --strict src" in readme


@pytest.mark.skipif(shutil.which("ruff") is None and not (ROOT / ".venv/bin/ruff").exists(),
                    reason="ruff is not installed")
def test_ruff_is_clean_now() -> None:
    """What CI runs, run here too (ruff is fast): the tree is clean."""
    ruff = str(ROOT / ".venv/bin/ruff") if (ROOT / ".venv/bin/ruff").exists() else "ruff"
    proc = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pyproject_licence_is_spdx_and_pre_1_0_dependencies_are_capped() -> None:
    """Issue 18 point 9: ``license = "Apache-2.0"`` (PEP 639, setuptools >= 77), and a 0.x
    dependency whose API shakenkit calls is capped below 1."""
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    assert project["license"] == "Apache-2.0"
    assert (ROOT / "LICENSE").is_file() and project["license-files"] == ["LICENSE"]
    assert "setuptools>=77" in meta["build-system"]["requires"]
    deps = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0]: d for d in project["dependencies"]}
    assert deps["httpx"].endswith(",<1")
    assert deps["rfc8785"].endswith(",<0.2")
    serve = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0]: d
             for d in project["optional-dependencies"]["serve"]}
    assert serve["uvicorn"].endswith(",<1") and serve["prometheus-client"].endswith(",<1")
