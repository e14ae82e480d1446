"""Generate docs/api.md, the API reference, from the docstrings of the public API.

The public API is what ``shakenkit.__all__`` lists (plus the documented submodules below).
Run ``python scripts/gen_api_docs.py`` after changing a public docstring; a test fails when
docs/api.md is out of date.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import shakenkit  # noqa: E402

# Documented packages and modules, each with its docstring and its ``__all__``. A package
# re-exports its modules' public names; the modules in MODULE_DOCS add their docstrings (the
# longer story) under the package, without repeating the members.
SUBMODULES = ["shakenkit.signing", "shakenkit.testing", "shakenkit.core.div",
              "shakenkit.core.rcd", "shakenkit.certs.calist", "shakenkit.repository",
              "shakenkit.repository.stipa", "shakenkit.repository.trustdir", "shakenkit.sip",
              "shakenkit.traceback",
              "shakenkit.traceback.dask", "shakenkit.service.schemas"]
MODULE_DOCS = {
    "shakenkit.repository": ["shakenkit.repository.fetch", "shakenkit.repository.https",
                             "shakenkit.repository.sources"],
    "shakenkit.sip": ["shakenkit.core.sip_message", "shakenkit.sip.capture"],
    "shakenkit.traceback": ["shakenkit.traceback.report"],
}


def _sig(obj: object) -> str:
    try:
        sig = str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return re.sub(r" at 0x[0-9a-f]+", "", sig)  # stable across runs


def _doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip() or "(undocumented)"


def _members(cls: type) -> list[tuple[str, object]]:
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_") or name in ("model_config", "model_fields"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if callable(member) or isinstance(member, property):
            out.append((name, member))
    return out


def _render(qual: str, obj: object, lines: list[str]) -> None:
    if inspect.isclass(obj):
        lines.append(f"### class `{qual}{_sig(obj)}`\n")
        lines.append(_doc(obj) + "\n")
        for name, member in _members(obj):
            target = member.fget if isinstance(member, property) else member
            sig = "" if isinstance(member, property) else _sig(target)
            kind = "property " if isinstance(member, property) else ""
            lines.append(f"- {kind}`{name}{sig}`: " + _doc(target).split("\n\n")[0].replace(
                "\n", " "))
        lines.append("")
    elif callable(obj):
        lines.append(f"### `{qual}{_sig(obj)}`\n")
        lines.append(_doc(obj) + "\n")
    else:
        lines.append(f"### `{qual}`\n")
        lines.append(f"`{obj!r}`\n")


def render() -> str:
    """The whole API reference as Markdown."""
    lines = ["# API reference", "",
             "Generated from docstrings by `scripts/gen_api_docs.py`; do not edit by hand.", "",
             "## `shakenkit`", "", _doc(shakenkit), ""]
    for name in shakenkit.__all__:
        if name == "__version__":
            continue
        _render(f"shakenkit.{name}", getattr(shakenkit, name), lines)
    import importlib

    for modname in SUBMODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        lines += [f"## `{modname}`", "", _doc(mod), ""]
        for sub in MODULE_DOCS.get(modname, []):
            lines += [f"### module `{sub}`", "", _doc(importlib.import_module(sub)), ""]
        for name in getattr(mod, "__all__", []):
            _render(f"{modname}.{name}", getattr(mod, name), lines)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    out = ROOT / "docs" / "api.md"
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
