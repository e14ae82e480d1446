"""The package layering of docs/architecture.md, enforced: data flows one way.

Every ``import`` in ``src/shakenkit`` is read with :mod:`ast` (module level, inside functions,
under ``TYPE_CHECKING``: a lazy import is still an import), resolved to the package it names,
and checked against the layers below. A module may import its own package and any package of a
*lower* layer; never one of its own layer or above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom to top (docs/architecture.md). "shakenkit" is the root package's __init__ (the public
# API re-exports); "service" is the HTTP service of issue 13; "signing" the STI-AS (issue 18:
# above the core whose PASSporT encoder it uses, below everything that signs).
LAYERS: list[set[str]] = [
    {"errors"},
    {"certs"},
    {"repository"},
    {"core"},
    {"signing"},
    {"shakenkit"},
    {"sip", "testing"},
    {"traceback", "service"},
    {"cli"},
]
RANK = {component: i for i, layer in enumerate(LAYERS) for component in layer}


def component(module: str) -> str:
    """The layer component of a dotted module name inside shakenkit."""
    parts = module.split(".")
    assert parts[0] == "shakenkit", module
    return parts[1] if len(parts) > 1 else "shakenkit"


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """(dotted module name, is a package __init__) of a source file under ``root``."""
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imports(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """Every shakenkit module ``path`` imports, as (line, absolute dotted name)."""
    name, is_package = module_name(path, root)
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "shakenkit":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "shakenkit":
                continue
            for alias in node.names:
                # ``from pkg import x``: x is judged as a module when it is one.
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if _is_module(sub, root) else target


def _is_module(name: str, root: Path) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(root: Path) -> list[str]:
    """Imports that go sideways or up the layers, and modules outside every layer."""
    found = []
    for path in sorted((root / "shakenkit").rglob("*.py")):
        name, _ = module_name(path, root)
        mine = component(name)
        if mine not in RANK:
            found.append(f"{name}: {mine!r} is in no layer (add it to a package)")
            continue
        for line, target in imports(path, root):
            theirs = component(target)
            if theirs == mine:
                continue
            if theirs not in RANK:
                found.append(f"{name}:{line} imports {target}, which is in no layer")
            elif RANK[theirs] >= RANK[mine]:
                found.append(
                    f"{name}:{line} imports {target}: {mine} (layer {RANK[mine]}) may import "
                    f"only lower layers, and {theirs} is layer {RANK[theirs]}"
                )
    return found


def test_imports_flow_down_the_layers() -> None:
    """Nothing below imports from above (docs/architecture.md)."""
    assert violations(SRC) == []


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for init in sorted((SRC / "shakenkit").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc or "Nothing imports" in doc, init.parent.name


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "shakenkit" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # a lower package importing a higher one, at module level
        ({"certs/pki.py": "from ..core.verdict import Verdict\n"}, "certs.pki:1 imports"),
        # ... lazily, inside a function
        (
            {"repository/https.py": "def f():\n    from ..core import verifier\n"},
            "repository.https:2 imports shakenkit.core",
        ),
        # ... under TYPE_CHECKING, absolute
        (
            {"core/verifier.py": "if TYPE_CHECKING:\n    import shakenkit.sip.capture\n"},
            "core.verifier:2 imports shakenkit.sip.capture",
        ),
        # ``from .. import x`` where x is a higher package
        (
            {"core/verifier.py": "from .. import sip\n", "sip/__init__.py": ""},
            "imports shakenkit.sip",
        ),
        # siblings of one layer do not import each other
        ({"sip/capture.py": "from ..testing import make_pki\n"}, "imports shakenkit.testing"),
        # a new flat module outside every package
        ({"div.py": "x = 1\n"}, "'div' is in no layer"),
        # the signer never reaches up to the test helpers built on it
        ({"signing.py": "from .testing import make_pki\n", "testing.py": ""},
         "imports shakenkit.testing"),
        # nor does the core reach up to the signer
        ({"core/verifier.py": "from ..signing import sign_shaken\n", "signing.py": ""},
         "imports shakenkit.signing"),
    ],
)
def test_the_check_catches(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    """The checker is not vacuous: each kind of upward import is reported."""
    found = violations(_tree(tmp_path, files))
    assert any(expected in v for v in found), found


def test_the_check_allows_downward_and_internal_imports(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "core/verifier.py": "from ..certs.pki import TrustStore\nfrom .tn import x\n",
            "cli/app.py": "from .. import __version__\nfrom ..traceback import analysis\n",
            "sip/__init__.py": "from ..core.sip_message import parse_sip\n",
        },
    )
    assert violations(root) == []
