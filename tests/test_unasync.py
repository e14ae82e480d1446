"""The sync transport is generated from its async source (scripts/unasync.py, as httpcore does):
one implementation behind sync and async (issue 18 item 16)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _unasync() -> ModuleType:
    path = ROOT / "scripts" / "unasync.py"
    spec = importlib.util.spec_from_file_location("unasync", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sync_code_is_what_the_async_source_gives() -> None:
    """Run scripts/unasync.py after editing an async source region; never edit the sync copy."""
    unasync = _unasync()
    for name in unasync.FILES:
        text = (ROOT / name).read_text()
        assert "# unasync: async source" in text
        _, changed = unasync.generate(text, name)
        assert changed == [], f"{name}: sync code drifted at lines {changed}"


def test_check_fails_when_the_sync_copy_drifts() -> None:
    """A hand edit of the generated code (or of the source alone) is caught."""
    unasync = _unasync()
    name = unasync.FILES[0]
    text = (ROOT / name).read_text()
    drifted = text.replace("    def download(", "    def download_edited_by_hand(", 1)
    assert drifted != text
    fixed, changed = unasync.generate(drifted, name)
    assert len(changed) == 1 and fixed == text


def test_rewrites() -> None:
    unasync = _unasync()
    """The rewrites the transport needs: await, async def/for/with, the a-prefixed names."""
    assert unasync.unasync_line("    await self._pool.aclose()\n") == "    self._pool.close()\n"
    assert (
        unasync.unasync_line("    async def adownload(self) -> AsyncIterator[bytes]:\n")
        == "    def download(self) -> Iterator[bytes]:\n"
    )
    assert unasync.unasync_line('        aclose = getattr(s, "aclose")\n') == (
        '        close = getattr(s, "close")\n'
    )
    source = "        async for part in self._stream:\n            yield part\n"
    lines = [
        "# unasync: async source\n",
        source,
        "# unasync: sync code generated\n",
        "# unasync: end\n",
    ]
    out, _ = unasync.generate("".join(lines), "x.py")
    assert "        yield from self._stream\n# unasync: end\n" in out
