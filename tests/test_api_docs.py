"""docs/api.md is generated from the public docstrings and kept current; the public API is
documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import shakenkit

ROOT = Path(__file__).resolve().parents[1]


def _generator():  # type: ignore[no-untyped-def]
    path = ROOT / "scripts" / "gen_api_docs.py"
    spec = importlib.util.spec_from_file_location("gen_api_docs", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_reference_is_current() -> None:
    """Regenerating docs/api.md changes nothing (run scripts/gen_api_docs.py after editing)."""
    assert (ROOT / "docs" / "api.md").read_text(encoding="utf-8") == _generator().render()


def test_every_public_name_has_a_docstring() -> None:
    """What __all__ promises is documented."""
    missing = [n for n in shakenkit.__all__
               if n != "__version__" and not (getattr(shakenkit, n).__doc__ or "").strip()]
    assert missing == []
