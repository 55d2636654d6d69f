"""Results and reports are portable: the same submission evaluated in another folder has the
same signature, nothing names a local path, files follow the umask, and the run record says
when, where and with which library versions the run was made."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO
from vcmctc.reports.render import FORMATS, render
from vcmctc.results.model import load_results

EXAMPLE = REPO / "examples" / "jbe2024" / "vcm-dcvc-fm"


def _evaluate(cli, folder: Path, out: Path):
    r = cli("evaluate", folder, "--allow-incomplete", "--out", out, "-q")
    assert r.code == 0, r.err
    return load_results(out / "results.json")


def _copy(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name / "submission"
    shutil.copytree(EXAMPLE, dest)
    return dest


def _texts(results) -> dict[str, str]:
    out = {}
    for fmt in FORMATS.names():
        data = render(results, fmt)
        if isinstance(data, dict):
            out.update({f"{fmt}.{k}": v for k, v in data.items()})
        elif isinstance(data, bytes):   # xlsx: the cell text is in the zip's XML parts
            import io
            import zipfile

            with zipfile.ZipFile(io.BytesIO(data)) as z:
                out[fmt] = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        else:
            out[fmt] = data
    return out


def test_same_run_in_another_folder_has_the_same_signature_and_no_local_path(cli, tmp_path,
                                                                               monkeypatch):
    first = _evaluate(cli, _copy(tmp_path, "alice"), tmp_path / "out-a")
    monkeypatch.chdir(tmp_path)            # another working folder too
    second = _evaluate(cli, _copy(tmp_path, "bob-elsewhere"), tmp_path / "x" / "out-b")
    assert first.signature == second.signature
    assert first.to_dict()["points"] == second.to_dict()["points"]
    local = [str(tmp_path), str(REPO), os.path.expanduser("~"), os.getcwd()]
    for results, where in ((first, "alice"), (second, "bob-elsewhere")):
        raw = (tmp_path / ("out-a" if where == "alice" else "x/out-b") / "results.json").read_text()
        texts = {"results.json": raw, **_texts(results)}
        for name, text in texts.items():
            for path in local:
                assert path not in text, (name, path)
            assert where not in text, name
            # no absolute path of any kind in a string field
            assert not re.search(r'"/(?:tmp|home|root|work|usr)/', text), name


def test_run_record_date_platform_and_versions(cli, tmp_path):
    results = _evaluate(cli, _copy(tmp_path, "a"), tmp_path / "out")
    run = results.run
    date = dt.datetime.fromisoformat(run["date"])
    assert date.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.timezone.utc) - date) < dt.timedelta(minutes=10)
    assert run["platform"] and run["cpu"] and run["cpu_count"] >= 1 and run["python"]
    import numpy
    import pandas
    import scipy

    versions = run["versions"]
    assert (versions["numpy"], versions["scipy"], versions["pandas"]) == (
        numpy.__version__, scipy.__version__, pandas.__version__)
    assert "pycocotools" in versions and "faster-coco-eval" in versions
    # shown in the reports' provenance, never in the signature (it changes no number)
    assert "date" not in results.signature and "run.date" in render(results, "csv")["meta"]


def test_reported_numbers_change_the_inputs_hash(cli, tmp_path):
    a = _copy(tmp_path, "a")
    b = _copy(tmp_path, "b")
    text = (b / "submission.yaml").read_text()
    (b / "submission.yaml").write_text(text.replace("metric: 59.19", "metric: 59.2", 1))
    ra = _evaluate(cli, a, tmp_path / "out-a")
    rb = _evaluate(cli, b, tmp_path / "out-b")
    assert ra.signature["inputs_sha256"] != rb.signature["inputs_sha256"]
    assert ra.signature["manifest_sha256"] != rb.signature["manifest_sha256"]
    assert ra.signature["line"] != rb.signature["line"]


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_results_and_reports_follow_the_umask(cli, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        _evaluate(cli, _copy(tmp_path, "a"), tmp_path / "out")
        r = cli("report", tmp_path / "out" / "results.json", "-o", tmp_path / "r.csv")
        assert r.code == 0, r.err
        r = cli("report", tmp_path / "out" / "results.json", "-o", tmp_path / "r.xlsx")
        assert r.code == 0, r.err
    finally:
        os.umask(old)
    for path in [tmp_path / "out" / "results.json", tmp_path / "r.points.csv",
                 tmp_path / "r.meta.csv", tmp_path / "r.xlsx"]:
        assert path.stat().st_mode & 0o777 == mode, path
