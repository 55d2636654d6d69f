"""The Python API: the worked example of docs/api.md runs as written, ``import vcmctc`` stays
light, the DataFrames are the CSV tables, plots draw the stored curves."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from conftest import REPO

DOC = REPO / "docs" / "api.md"


def test_worked_example_of_the_docs_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    pytest.importorskip("matplotlib")
    exec(compile(blocks[0], str(DOC), "exec"), {"__name__": "__doc_example__"})
    assert (tmp_path / "out/fcm/results.json").is_file()
    png = (tmp_path / "out/fcm/curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (tmp_path / "out/fcm/report.xlsx").stat().st_size > 5_000


def test_import_is_light_and_attributes_are_lazy():
    code = ("import sys, vcmctc; heavy = ('pandas', 'numpy', 'scipy', 'openpyxl', 'jinja2', "
            "'matplotlib', 'typer'); print(sorted(m for m in heavy if m in sys.modules)); "
            "vcmctc.load_results; print(sorted(m for m in heavy if m in sys.modules)); "
            "print(callable(vcmctc.evaluate), vcmctc.bd_rate.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "[]" and lines[1] == "[]"
    assert lines[2] == "True vcmctc.bd.core"
    with pytest.raises(AttributeError):
        import vcmctc

        vcmctc.no_such_thing  # noqa: B018


def test_frames_are_the_csv_tables_and_values_are_stored_ones():
    import pandas as pd

    import vcmctc
    from vcmctc.reports.render import render

    res = vcmctc.load_results(REPO / "tests/golden/results_small.json")
    tables = render(res.model, "csv")
    for name in ("points", "sequences", "classes", "overall"):
        frame = getattr(res, name)()
        from_csv = pd.read_csv(io.StringIO(tables[name]), keep_default_na=False,
                               na_values=[""])
        assert list(frame.columns) == list(from_csv.columns), name
        assert len(frame) == len(from_csv), name
    seqs = res.sequences().set_index("name")
    assert seqs.loc["SeqA", "bd_rate"] == -12.345678
    assert seqs.loc["SeqB", "status"] == "low-overlap" and bool(seqs.loc["SeqB", "flagged"])
    assert pd.isna(seqs.loc["SeqC", "bd_rate"])
    pts = res.points()
    seqa = pts[pts["sequence"] == "SeqA"]
    assert list(seqa["rate"].head(4)) == [812.5, 401.0, 190.25, 95.125]
    assert res.overall().loc[0, "fallback_bd_rate"] == -3.75 and res.bd_rate is None


def test_plot_draws_the_stored_curves():
    pytest.importorskip("matplotlib")
    import vcmctc
    from vcmctc.errors import UserError

    res = vcmctc.load_results(REPO / "tests/golden/results_small.json")
    fig = res.plot(["SeqA", "class-AB"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    lines = {line.get_label(): line for line in axes[0].get_lines()}
    test = next(v for k, v in lines.items() if k.startswith("test:"))
    stored = sorted((p.rate, p.metric) for p in res.model.points_of("SeqA") if p.ok)
    assert list(zip(test.get_xdata(), test.get_ydata())) == stored
    assert axes[0].get_xscale() == "log"
    svgs = res.plot(backend="svg")
    assert set(svgs) == {s.name for s in res.model.sequences} | {
        f"class-{c.name}" for c in res.model.classes if c.curve}
    with pytest.raises(UserError, match="no curve named nope"):
        res.plot(["nope"])
