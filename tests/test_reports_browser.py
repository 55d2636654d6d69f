"""The HTML report in a real headless browser (Chromium from the system packages).

Needs the Debian package ``chromium`` (``apt-get install -y chromium``). Without it the tests
skip, except when ``CI`` is set: then they fail, so CI cannot pass without having run them.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from vcmctc.reports.model import load_results
from vcmctc.reports.render import ANCHOR_COLOR, TEST_COLOR, render

FIXTURE = Path(__file__).resolve().parent / "golden" / "results_small.json"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = ("no Chromium found (looked for " + ", ".join(BROWSERS) + "); install the Debian "
               "package: apt-get update && apt-get install -y chromium")
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this is a failure, not a skip)")
    pytest.skip(message)


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def html_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render(load_results(FIXTURE), "html"), encoding="utf-8")
    return path


def test_dom_has_every_curve_with_its_points(html_file, tmp_path):
    proc = _run(tmp_path, "--dump-dom", html_file.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    results = load_results(FIXTURE)
    # one plot per sequence + one per pooled class curve, each an <svg> the browser parsed
    n_plots = len(results.sequences) + sum(1 for c in results.classes if c.curve)
    assert dom.count('<svg xmlns="http://www.w3.org/2000/svg" class="rp-plot"') == n_plots
    paths = re.findall(r'<figure id="plot-([^"]+)">.*?</figure>', dom, flags=re.S)
    assert len(paths) == n_plots
    expected = {}
    for s in results.sequences:
        test = [p for p in results.points_of(s.name) if p.ok]
        expected[s.name] = {"anchor": len(results.anchor.points[s.name]), "test": len(test)}
    for c in results.classes:
        if c.curve:
            expected[f"class-{c.name}"] = {"test": len(c.curve)}
    for name, counts in expected.items():
        figure = re.search(rf'<figure id="plot-{re.escape(name)}">(.*?)</figure>', dom, re.S)
        assert figure, name
        for css, n in counts.items():
            m = re.search(rf'<path class="series {css}" data-points="(\d+)" d="([^"]+)"',
                          figure.group(1))
            assert m, (name, css)
            # the path really has n vertices: one move-to and n-1 line-to commands
            d = m.group(2)
            assert int(m.group(1)) == n and d.count("M") == 1 and d.count("L") == n - 1, (name, css)
            markers = re.findall(rf'class="marker {css}"', figure.group(1))
            assert len(markers) == n
        assert "log scale" in figure.group(1)


LAYOUT_PROBE = """<script>
const figs = [...document.querySelectorAll("figure")];
const lefts = new Set(figs.map(f => Math.round(f.getBoundingClientRect().left)));
let cut = 0;
for (const svg of document.querySelectorAll("svg.rp-plot")) {
  const width = svg.viewBox.baseVal.width;
  for (const t of svg.querySelectorAll("text.legend-text")) {
    const box = t.getBBox();
    if (box.x + box.width > width + 0.5) cut += 1;
  }
}
document.body.setAttribute("data-columns", lefts.size);
document.body.setAttribute("data-legends-cut", cut);
</script>"""


@pytest.mark.parametrize("width,columns", [(1300, 3), (900, 2)])
def test_plots_fill_the_columns_and_legends_are_whole(tmp_path, width, columns):
    """Measured by the browser's layout: at 1300 px the plots use three columns (two at 900),
    and no legend text runs past its plot (a long codec name included)."""
    results = load_results(FIXTURE)
    results.submission["codec"] = "A rather long codec name, v2.1 (learned, multi-task)"
    html = render(results, "html").replace("</body>", LAYOUT_PROBE + "</body>")
    page = tmp_path / "probe.html"
    page.write_text(html, encoding="utf-8")
    proc = _run(tmp_path, f"--window-size={width},2000", "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", proc.stdout).group(1)
    assert f'data-columns="{columns}"' in body, body
    assert 'data-legends-cut="0"' in body, body


def _png_pixels(path: Path):
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) into an (H, W, 3)
    array: with Pillow when it is installed (fast), else here (None/Sub/Up rows with numpy,
    Average/Paeth rows in Python)."""
    import numpy as np

    try:
        from PIL import Image
    except ImportError:
        pass
    else:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, width * bpp + 1)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.uint8)
    for y in range(height):
        f, line = raw[y, 0], raw[y, 1:]
        if f == 0:
            cur = line.copy()
        elif f == 2:
            cur = line + prev  # uint8 arithmetic wraps mod 256
        elif f == 1:
            cur = (np.cumsum(line.reshape(width, bpp).astype(np.int64), axis=0) % 256
                   ).astype(np.uint8).reshape(-1)
        else:
            cur = bytearray(line.tobytes())
            for i in range(len(cur)):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = int(prev[i]), int(prev[i - bpp]) if i >= bpp else 0
                if f == 3:
                    cur[i] = (cur[i] + (a + b) // 2) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            cur = np.frombuffer(bytes(cur), dtype=np.uint8)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)[:, :, :3]


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_screenshot_shows_the_curves(html_file, tmp_path):
    shot = tmp_path / "shot.png"
    proc = _run(tmp_path, "--hide-scrollbars", "--window-size=1300,2400",
                f"--screenshot={shot}", html_file.as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    import numpy as np

    pixels = _png_pixels(shot).reshape(-1, 3).astype(np.int64)
    packed = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
    _, counts = np.unique(packed, return_counts=True)
    assert counts.max() < 0.97 * len(pixels), "screenshot is (almost) one colour: blank page"

    def near(color: tuple[int, int, int]) -> int:
        return int((np.abs(pixels - np.array(color)).max(axis=1) <= 40).sum())

    # both curve colours are drawn (lines and markers of the anchor and of the submission)
    assert near(_rgb(ANCHOR_COLOR)) > 200
    assert near(_rgb(TEST_COLOR)) > 200


def test_missing_browser_fails_on_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        _browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no Chromium found"):
        _browser()
