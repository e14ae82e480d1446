"""The HTML traceback report in a real headless browser: it renders offline, its three SVG
charts are in the rendered DOM with their marks, hostile strings stay text, and the screenshot
is a real picture (not blank)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from shakenkit.sip.capture import read_records
from shakenkit.traceback import LookupQuery, analyze
from shakenkit.traceback.report import write_report
from tests.test_traceback import build_archive, num

CHROMIUM = next(
    (
        p
        for p in (
            os.environ.get("CHROMIUM"),
            "/usr/bin/chromium",
            shutil.which("chromium"),
            shutil.which("chromium-browser"),
            shutil.which("google-chrome"),
        )
        if p and os.path.exists(p)
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def browse(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("report")
    a = build_archive(d)
    agg = analyze(read_records(a.path), a.config, lookup=LookupQuery(num(0)))
    return write_report(agg, d / "report.html", inputs=[a.path.name])


def test_rendered_dom_has_the_charts(report: Path) -> None:
    res = browse(report.as_uri(), "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    for chart in ("chart-signers", "chart-verdicts", "chart-timeline"):
        assert f'id="{chart}"' in dom
    start = dom.index('id="chart-signers"')
    assert dom.count("<rect", start, dom.index("</svg>", start)) >= 5 + 4  # 5 signers, legend
    start = dom.index('id="chart-verdicts"')
    assert "<path" in dom[start : dom.index("</svg>", start)]  # donut segments
    start = dom.index('id="chart-timeline"')
    assert dom.count("<rect", start, dom.index("</svg>", start)) >= 3
    # hostile organisation name and origid: text, not markup
    assert "<script" not in dom and "<img" not in dom
    assert "&lt;script&gt;" in dom


def _png_pixels(png: bytes) -> tuple[int, int, set[tuple[int, int, int]]]:
    """Width, height and the set of RGB colours of an 8-bit RGB/RGBA PNG (scanlines unfiltered,
    PNG spec §9), enough to see what is on the page."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6) and body[12] == 0  # not interlaced
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    prev, colours = bytearray(stride), set()
    for y in range(height):
        f, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        if y % 4 == 0:  # a sample of the rows is plenty
            colours.update(
                (line[x], line[x + 1], line[x + 2]) for x in range(0, stride, channels * 2)
            )
        prev = line
    return width, height, colours


def test_screenshot_shows_the_report(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    res = browse(report.as_uri(), f"--screenshot={shot}", "--window-size=1280,2000")
    assert res.returncode == 0, res.stderr[-2000:]
    png = shot.read_bytes()
    width, height, colours = _png_pixels(png)
    assert (width, height) == (1280, 2000)
    assert len(png) > 20_000  # text, tables and charts: far from a blank page
    assert len(colours) > 50
    # the charts are painted: attestation A green (#2e7d32) and likely-spoofed red (#c62828)
    assert (0x2E, 0x7D, 0x32) in colours and (0xC6, 0x28, 0x28) in colours
