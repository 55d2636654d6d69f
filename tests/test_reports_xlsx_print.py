"""The xlsx report printed by a real spreadsheet program: LibreOffice (Debian package
``libreoffice-calc-nogui``) converts it to PDF headless; every page is A4 landscape and each
sheet of the fixture fits on one page (fitted to the width, long names not cut).

Without LibreOffice the tests skip, except when ``CI`` is set: then they fail, so CI cannot pass
without having run them (.ci/run installs it: about 15 s, 58 packages)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vcmctc.reports.model import load_results
from vcmctc.reports.render import render

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "golden" / "results_small.json"


def _soffice() -> str:
    for name in ("soffice", "libreoffice"):
        path = shutil.which(name)
        if path:
            return path
    message = ("no LibreOffice found; install the Debian package: apt-get install -y "
               "--no-install-recommends libreoffice-calc-nogui")
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this is a failure, not a skip)")
    pytest.skip(message)


def to_pdf(xlsx: Path, tmp_path: Path) -> bytes:
    proc = subprocess.run([_soffice(), "--headless", "--norestore",
                           f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
                           "--convert-to", "pdf", "--outdir", str(tmp_path), str(xlsx)],
                          capture_output=True, text=True, timeout=180)
    pdf = tmp_path / (xlsx.stem + ".pdf")
    assert proc.returncode == 0 and pdf.is_file(), proc.stdout + proc.stderr
    return pdf.read_bytes()


def pages(pdf: bytes) -> list[tuple[float, float]]:
    """(width, height) in points of every page of a PDF LibreOffice wrote (uncompressed page
    dictionaries; the media box is on each page or on the page tree)."""
    found = []
    for m in re.finditer(rb"/Type\s*/Page(?![s\w])(.*?)>>", pdf, re.S):
        box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", m.group(1))
        if box is None:
            box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", pdf)
        x0, y0, x1, y1 = (float(v) for v in box.groups())
        found.append((x1 - x0, y1 - y0))
    return found


def test_fixture_prints_one_a4_landscape_page_per_sheet(tmp_path):
    xlsx = tmp_path / "report.xlsx"
    xlsx.write_bytes(render(load_results(FIXTURE), "xlsx"))
    got = pages(to_pdf(xlsx, tmp_path))
    import openpyxl

    sheets = openpyxl.load_workbook(xlsx).sheetnames
    assert len(got) == len(sheets), got
    for width, height in got:   # A4 landscape: 842 x 595 points
        assert (round(width), round(height)) == (842, 595)


def test_bundled_example_prints_compactly(tmp_path):
    """The 2024 paper's VCM table (32 rate points): a few pages, not the 21 portrait pages of
    the flat sheet it replaced."""
    xlsx = tmp_path / "vcm.xlsx"
    shutil.copyfile(REPO / "examples" / "jbe2024" / "reports" / "vcm-dcvc-fm.xlsx", xlsx)
    got = pages(to_pdf(xlsx, tmp_path))
    assert 3 <= len(got) <= 6, len(got)
    assert all(w > h for w, h in got)
