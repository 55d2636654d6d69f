"""The Python API: evaluate a submission, read a results.json, get DataFrames and plots.

``import vcmctc`` stays light: :func:`evaluate`, :func:`load_results` and :func:`bd_rate` are
lazy attributes of the package, and pandas / matplotlib are imported only when a DataFrame or a
figure is asked for. See ``docs/api.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import pandas as pd

    from vcmctc.results.model import Results as ResultsModel


@dataclass
class Results:
    """A results.json as Python objects: ``model`` is the typed results
    (:class:`vcmctc.results.model.Results`), ``path`` where it was read or written."""

    model: "ResultsModel"
    path: Path | None = None

    # ---- tables (the same columns as the CSV report's tables)
    def _frame(self, name: str) -> "pd.DataFrame":
        import pandas as pd

        from vcmctc.reports.render import COMPLEXITY_COLUMNS, FEATURE_COLUMNS, tidy_tables

        empty = {"complexity": (COMPLEXITY_COLUMNS, []), "features": (FEATURE_COLUMNS, [])}
        columns, rows = tidy_tables(self.model).get(name) or empty[name]
        return pd.DataFrame(rows, columns=columns)

    def points(self) -> "pd.DataFrame":
        """One row per rate point, the anchor's point of the same QP beside it."""
        return self._frame("points")

    def sequences(self) -> "pd.DataFrame":
        """One row per sequence: BD-rate, BD-metric, status, time ratios..."""
        return self._frame("sequences")

    def classes(self) -> "pd.DataFrame":
        """One row per class row, in the edition's order."""
        return self._frame("classes")

    def overall(self) -> "pd.DataFrame":
        """The overall row (one row, the same columns as :meth:`sequences`)."""
        return self._frame("overall")

    def complexity(self) -> "pd.DataFrame":
        """kMAC/pixel per point, sequence, class and overall row and component (FCM; empty
        when the results have none)."""
        return self._frame("complexity")

    def features(self) -> "pd.DataFrame":
        """The decoded features of each point: split point, tensors, MD5, MSE, conformance
        file (FCM; empty when no point decoded features)."""
        return self._frame("features")

    # ---- shortcuts
    @property
    def signature(self) -> str:
        return str(self.model.signature.get("line", ""))

    @property
    def bd_rate(self) -> float | None:
        """The overall BD-rate (None when it is not a CTC number: see ``overall()``)."""
        return self.model.overall.bd_rate

    # ---- reports and plots
    def report(self, fmt: str = "md", out: str | Path | None = None) -> Any:
        """The report in ``fmt`` (md, html, latex, csv, xlsx): its text (bytes for xlsx, a dict
        of tables for csv), or, with ``out``, the list of files written."""
        from vcmctc.reports.render import FORMATS, render, write_report_files

        fmt = FORMATS.check(fmt)
        if out is None:
            return render(self.model, fmt)
        return write_report_files(self.model, fmt, Path(out))

    def plot(self, names: list[str] | None = None, *, backend: str = "auto",
             columns: int = 3) -> Any:
        """R-P curves (anchor and test) of the sequences and pooled class curves, or of those
        named (a sequence name, or ``class-NAME``). ``backend``: ``matplotlib`` returns a
        Figure (``pip install 'vcmctc[plot]'``), ``svg`` a dict name -> SVG text (the plots of
        the HTML report), ``auto`` matplotlib when installed, else svg."""
        from vcmctc.reports.model import build_report

        report = build_report(self.model)
        curves = {c.name: c for c in [*report.curves, *report.class_curves]}
        if names is not None:
            unknown = [n for n in names if n not in curves]
            if unknown:
                from vcmctc.errors import UserError

                raise UserError(f"no curve named {', '.join(unknown)} (known: "
                                f"{', '.join(curves)})")
            curves = {n: curves[n] for n in names}
        if backend == "auto":
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                backend = "svg"
            else:
                backend = "matplotlib"
        if backend == "svg":
            return _svg_plots(report, list(curves.values()))
        if backend != "matplotlib":
            raise ValueError(f"backend must be auto, matplotlib or svg, not {backend!r}")
        return _figure(report, list(curves.values()), columns)


def _svg_plots(report, curves) -> dict[str, str]:
    from vcmctc.reports.render import ANCHOR_COLOR, TEST_COLOR
    from vcmctc.reports.svg import Series, rp_plot

    out = {}
    for c in curves:
        series = []
        if c.anchor:
            series.append(Series(f"anchor: {report.anchor_name}", c.anchor, "anchor",
                                 ANCHOR_COLOR, "circle"))
        series.append(Series(f"test: {report.codec}", c.test, "test", TEST_COLOR, "square"))
        out[c.name] = rp_plot(series, title=c.title, x_label=f"rate ({c.rate_unit or 'rate'}, "
                              "log scale)", y_label=c.metric_label)
    return out


def _figure(report, curves, columns: int):
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vcmctc.reports.render import ANCHOR_COLOR, TEST_COLOR

    n = max(len(curves), 1)
    cols = max(1, min(columns, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax, c in zip(axes.flat, curves):
        if c.anchor:
            ax.plot(*zip(*c.anchor), "o-", color=ANCHOR_COLOR,
                    label=f"anchor: {report.anchor_name}")
        if c.test:
            ax.plot(*zip(*c.test), "s-", color=TEST_COLOR, label=f"test: {report.codec}")
        ax.set_xscale("log")
        ax.set_title(f"{c.title}\n{c.bd_text}", fontsize=9)
        ax.set_xlabel(f"rate ({c.rate_unit or 'rate'})", fontsize=8)
        ax.set_ylabel(c.metric_label, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(curves):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def load_results(path: str | Path) -> Results:
    """Read and check a results.json (any problem is one :class:`vcmctc.errors.UserError`
    naming the file and field)."""
    from vcmctc.results.model import load_results as _load

    return Results(_load(path), Path(path))


def evaluate(path: str | Path, *, out: str | Path | None = None,
             data_root: str | Path | None = None, jobs: int = 1, level: str = "best",
             allow_incomplete: bool = False, timing: str = "parallel",
             backend: str | None = None, use_cache: bool = True,
             progress: Callable[[str], None] | None = None) -> Results:
    """Evaluate the submission folder ``path`` as ``vcmctc evaluate`` does and return its
    results (written to ``OUT/results.json``; ``out`` defaults to
    ``./vcmctc-out/<folder name>``). Validation errors raise
    :class:`vcmctc.submission.pipeline.ValidationFailed` (its ``plan.findings`` list them)."""
    from vcmctc.submission.pipeline import Options
    from vcmctc.submission.pipeline import evaluate as _evaluate

    options = Options(out=Path(out) if out is not None else None,
                      data_root=Path(data_root) if data_root is not None else None,
                      jobs=jobs, level=level, allow_incomplete=allow_incomplete, timing=timing,
                      coco_backend=backend, use_cache=use_cache, progress=progress)
    results, written = _evaluate(path, options)
    return Results(results, written)
