"""Required dependencies carry permissive licences only: no GPL in an Apache-2.0 library that
carriers embed in their own code (docs/security.md; issue 18 item 7, scapy was GPL-2.0-only).

Read from the installed distributions' metadata (``importlib.metadata``): shakenkit's
``Requires-Dist`` entries without an extra marker, and theirs in turn (the whole required
closure), each judged by its ``License-Expression``, ``License`` and ``License ::``
classifiers.
"""

from __future__ import annotations

import re
from importlib import metadata

import pytest
from packaging.requirements import Requirement

GPL = re.compile(r"\b(?:A|L)?GPL|General Public License", re.IGNORECASE)
# The extras a requirement may name; markers are judged as on this machine.
_ENV = {"extra": ""}


def required(dist: str) -> list[str]:
    """The names of the distributions ``dist`` requires (no extras, markers true here)."""
    out = []
    for spec in metadata.requires(dist) or []:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate(_ENV):
            continue
        out.append(req.name)
    return out


def closure(root: str) -> list[str]:
    seen: dict[str, None] = {}
    todo = required(root)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = None
        todo.extend(required(name))
    return sorted(seen)


def licence_texts(dist: str) -> list[str]:
    md = metadata.metadata(dist)
    texts = [md.get("License-Expression") or "", (md.get("License") or "")[:500]]
    texts += [c for c in md.get_all("Classifier") or [] if c.startswith("License ::")]
    return [t for t in texts if t]


def test_licence_check_sees_a_gpl_licence() -> None:
    """The check itself: the forms GPL takes in metadata are caught, permissive ones are not."""
    for text in (
        "GPL-2.0-only",
        "License :: OSI Approved :: GNU General Public License v2 (GPLv2)",
        "LGPL-3.0-or-later",
        "AGPL-3.0",
    ):
        assert GPL.search(text), text
    for text in ("Apache-2.0", "BSD-3-Clause", "MIT", "MPL-2.0", "Apache-2.0 OR BSD-3-Clause"):
        assert not GPL.search(text), text


def test_required_dependencies_are_installed_and_known() -> None:
    deps = closure("shakenkit")
    assert {"cryptography", "httpx", "pydantic"} <= set(deps)
    assert "scapy" not in deps


@pytest.mark.parametrize("dist", closure("shakenkit"))
def test_no_required_dependency_carries_a_gpl_licence(dist: str) -> None:
    texts = licence_texts(dist)
    assert texts, f"{dist} declares no licence in its metadata"
    assert not [t for t in texts if GPL.search(t)], f"{dist}: {texts}"
