"""vcmctc's MOT evaluator against py-motmetrics 1.4.0 run live (through the compat layer).

motmetrics is driven the way public CTC evaluators drive it: ``mm.io.loadtxt`` for both files (or
an in-memory prediction DataFrame, as CompressAI-Vision builds it), ``compare_to_groundtruth``
(plain, HiEve with GT ``min_confidence=1``) or ``CLEAR_MOT_M`` with a seqinfo.ini (TVD), then
``compute_many(..., generate_overall=True)`` with ``motchallenge_metrics``. Counts must be equal,
ratios within 1e-9 (they come out equal to ~1e-15).
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("motmetrics")

from vcmctc.datasets.mot import read_mot_txt  # noqa: E402
from vcmctc.evaluators.mot import finalize, mot_counts, sum_counts  # noqa: E402

from .motmetrics_compat import import_motmetrics, patch, solver  # noqa: E402

mm = import_motmetrics()
MM_DATA = Path(mm.__file__).parent / "data"

COUNTS = {  # motmetrics name -> vcmctc name
    "num_matches": "Matches", "num_switches": "IDSW", "num_false_positives": "FP",
    "num_misses": "FN", "num_fragmentations": "Frag", "mostly_tracked": "MT",
    "partially_tracked": "PT", "mostly_lost": "ML", "num_unique_objects": "GT_IDs",
    "num_transfer": "Transfer", "num_ascend": "Ascend", "num_migrate": "Migrate",
    "num_objects": "GT", "num_predictions": "Pred", "num_detections": "TP", "idtp": "IDTP",
    "idfp": "IDFP", "idfn": "IDFN"}
PERCENT = {"mota": "MOTA", "idf1": "IDF1", "idp": "IDP", "idr": "IDR", "recall": "Recall",
           "precision": "Precision"}
METRICS = mm.metrics.motchallenge_metrics + [
    "num_matches", "num_objects", "num_predictions", "num_detections", "idtp", "idfp", "idfn",
    "num_frames"]


def _installed_solvers():
    out = ["scipy"]
    for name in ("lap", "munkres"):
        try:
            __import__(name)
            out.append(name)
        except ImportError:
            pass
    return out


SOLVERS = _installed_solvers()


# --------------------------------------------------------------------------- synthetic data
def gen_sequence(rng: np.random.Generator, *, tvd: bool = False, first: int = 1):
    """Random GT and tracker rows with the situations that stress the matching.

    Tracks appear and disappear, have occlusion gaps; detections are missed, jittered (with some
    boxes at exactly IoU 0.5, on integer grids), change ids (new or stolen ids); false positives,
    empty frames, frames with only GT or only predictions, duplicated boxes (exact ties),
    occasionally an id repeated within a frame. ``tvd``: MOT16 classes, confidences 0/1 and
    visibilities (some negative) in the GT.
    """
    n_frames = int(rng.integers(1, 35))
    n_tracks = int(rng.integers(0, 12))
    p_det = rng.uniform(0.3, 1.0)
    noise = rng.choice([0.0, 0.05, 0.15, 0.3])
    p_switch = rng.uniform(0, 0.25)
    integer = rng.random() < 0.5
    dup = rng.random() < 0.3
    gt, pr = [], []
    next_pid = 100
    for tid in range(1, n_tracks + 1):
        start = int(rng.integers(first, first + n_frames))
        stop = min(first + n_frames, start + int(rng.integers(1, n_frames + 1)))
        x, y = rng.uniform(0, 300, 2)
        w, h = rng.uniform(8, 60), rng.uniform(16, 100)
        vx, vy = rng.normal(0, 4, 2)
        pid = next_pid
        next_pid += 1
        cls = int(rng.choice([1, 1, 1, 1, 2, 7, 8, 12, 3, 4])) if tvd else 1
        for f in range(start, stop):
            x, y = x + vx, y + vy
            if rng.random() < 0.1:  # occlusion gap
                continue
            box = [round(x), round(y), round(w), round(h)] if integer else [x, y, w, h]
            conf = int(rng.random() > 0.15) if tvd else 1
            vis = round(float(rng.uniform(-0.2, 1.0)), 2) if tvd else -1
            gt.append([f, tid, *box, conf, cls, vis])
            if dup and rng.random() < 0.05:  # identical GT box with another id (a tie)
                gt.append([f, tid + 50, *box, conf, cls, vis])
            if rng.random() >= p_det:
                continue
            if rng.random() < p_switch:
                pid = next_pid if rng.random() < 0.6 else 100 + int(rng.integers(0, n_tracks))
                next_pid += 1
            r = rng.random()
            if r < 0.1:  # exactly IoU 0.5 (distance 0.5 is still matchable)
                pbox = [box[0], box[1], box[2], box[3] / 2]
            elif r < 0.15:  # just below IoU 0.5
                pbox = [box[0], box[1], box[2], box[3] * 0.499]
            else:
                pbox = list(np.asarray(box, float)
                            + rng.normal(0, 1, 4) * noise * np.array([w, h, w, h]))
                if integer:
                    pbox = [round(pbox[0]), round(pbox[1]), max(1, round(pbox[2])),
                            max(1, round(pbox[3]))]
            pr.append([f, pid, *pbox, 1, -1, -1, -1])
            if dup and rng.random() < 0.08:  # duplicate detection (tie); maybe the same id
                pr.append([f, pid if rng.random() < 0.3 else pid + 1000, *pbox, 1, -1, -1, -1])
    for _ in range(int(rng.integers(0, 2 * n_frames + 1))):  # false positives
        f = int(rng.integers(first, first + n_frames))
        pr.append([f, 900 + int(rng.integers(0, 6)), *rng.uniform(0, 300, 2),
                   *rng.uniform(8, 60, 2), 1, -1, -1, -1])
    if rng.random() < 0.2:  # predictions in a frame without GT
        pr.append([first + n_frames + 1, 999, 5.0, 5.0, 20.0, 20.0, 1, -1, -1, -1])
    rng.shuffle(gt)
    rng.shuffle(pr)
    return gt, pr


def _fmt(v):
    return repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v))


def write_rows(path: Path, rows) -> Path:
    path.write_text("".join(",".join(_fmt(v) for v in r) + "\n" for r in rows))
    return path


def make_sequence(tmp_path: Path, name: str, rng, tvd: bool = False):
    gt_rows, pr_rows = gen_sequence(rng, tvd=tvd)
    seq = tmp_path / name
    seq.mkdir()
    frames = [r[0] for r in gt_rows + pr_rows] or [1]
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength={max(frames)}\n")
    return {"gt": write_rows(seq / "gt.txt", gt_rows), "pred": write_rows(seq / "pred.txt", pr_rows),
            "ini": seq / "seqinfo.ini", "seq_length": max(frames), "gt_rows": gt_rows,
            "pred_rows": pr_rows}


# --------------------------------------------------------------------------- reference runs
def mm_accumulate(seq, protocol, pred_df=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt = mm.io.loadtxt(str(seq["gt"]), min_confidence=1 if protocol == "hieve" else -1)
        pred = pred_df if pred_df is not None else mm.io.loadtxt(str(seq["pred"]))
        if protocol == "tvd":
            return mm.utils.CLEAR_MOT_M(gt, pred, str(seq["ini"]))
        return mm.utils.compare_to_groundtruth(gt, pred, "iou", distth=0.5), None


def mm_summary(accs, anas, names):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mh = mm.metrics.create()
        df = mh.compute_many(accs, anas=anas, metrics=METRICS, names=names,
                             generate_overall=True)
    return {name: row.to_dict() for name, row in df.iterrows()}


def ours(seq, protocol, lap_solver, **kw):
    return mot_counts(read_mot_txt(seq["gt"]), read_mot_txt(seq["pred"]), protocol=protocol,
                      seq_length=seq["seq_length"], solver=lap_solver, **kw)


def comparable_frames(got: dict) -> bool:
    """motmetrics counts frames through pandas' MultiIndex.union, whose levels keep every frame
    of both loaded files even after rows are filtered out, except that a union with an empty
    side returns the other side as it is; vcmctc counts the same way, so frames always compare."""
    return True


def assert_same(ref: dict, got: dict, *, frames: bool | None = None, motp: bool = True,
                where=""):
    for m, v in COUNTS.items():
        assert got[v] == int(ref[m]), f"{where} {v}: vcmctc {got[v]} motmetrics {ref[m]}"
        assert float(ref[m]) == int(ref[m])
    if comparable_frames(got) if frames is None else frames:
        assert got["Frames"] == int(ref["num_frames"]), where
    pairs = [(m, v, 100.0) for m, v in PERCENT.items()] + ([("motp", "MOTP", 1.0)] if motp else [])
    for m, v, scale in pairs:
        a, b = float(ref[m]) * scale, got[v]
        if np.isnan(a) or np.isnan(b):
            assert np.isnan(a) and np.isnan(b), f"{where} {v}: {b} vs {a}"
        else:
            assert b == pytest.approx(a, rel=1e-9, abs=1e-9), f"{where} {v}: {b} vs {a}"


# --------------------------------------------------------------------------- tests
def test_compat_layer_restores_what_motmetrics_needs():
    patch()
    a = np.asfarray([1, 2])  # noqa: NPY201 - restored alias
    assert a.dtype == np.float64 and a.tolist() == [1.0, 2.0]
    assert np.asfarray([1], dtype=np.float32).dtype == np.float32
    assert np.asfarray([1], dtype=int).dtype == np.float64  # integer dtype -> float64
    import pandas as pd

    df = pd.DataFrame({"a": [1]})
    out = df.append(pd.DataFrame({"a": [2]}))
    assert out["a"].tolist() == [1, 2]
    empty = pd.DataFrame({"a": pd.Series(dtype=float)})
    assert empty.append(pd.DataFrame({"a": [3]}))["a"].tolist() == [3]


def test_compat_layer_merge_event_dataframes_runs():
    """merge_event_dataframes uses DataFrame.append: the shim makes it work on pandas 2+."""
    acc1, acc2 = mm.MOTAccumulator(), mm.MOTAccumulator()
    acc1.update([1, 2], [1], [[0.1], [np.nan]], frameid=0)
    acc2.update([1], [1, 2], [[0.2, 0.3]], frameid=0)
    merged = mm.MOTAccumulator.merge_event_dataframes([acc1, acc2])
    assert sorted(merged.Type.astype(str).unique()) == ["FP", "MATCH", "MISS", "RAW"]


def test_solver_context_pins_and_restores():
    before = mm.lap.default_solver
    with solver("scipy"):
        assert mm.lap.default_solver == "scipy"
    assert mm.lap.default_solver == before


@pytest.mark.parametrize("lap_solver", SOLVERS)
@pytest.mark.parametrize("protocol", ["plain", "hieve", "tvd"])
def test_random_sequences_and_overall(tmp_path, protocol, lap_solver):
    """Seeded random sequences; each sequence's row and the pooled OVERALL row must match."""
    seed = {"plain": 0, "hieve": 1, "tvd": 2}[protocol] * 100 + SOLVERS.index(lap_solver)
    rng = np.random.default_rng(seed)
    seqs = [make_sequence(tmp_path, f"s{i}", rng, tvd=protocol != "plain") for i in range(10)]
    with solver(lap_solver):
        runs = [mm_accumulate(s, protocol) for s in seqs]
        ref = mm_summary([a for a, _ in runs], [b for _, b in runs],
                         [f"s{i}" for i in range(len(seqs))])
    counts = [ours(s, protocol, lap_solver) for s in seqs]
    for i, c in enumerate(counts):
        assert_same(ref[f"s{i}"], finalize(c), where=f"{protocol}/{lap_solver}/s{i}")
    # OVERALL: motmetrics pools counts (MOTP: detection-weighted, NaN if a sequence has none).
    pooled = finalize(sum_counts(counts))
    all_detect = all(c.num_matches + c.num_switches > 0 for c in counts)
    assert_same(ref["OVERALL"], pooled,
                frames=all(comparable_frames(finalize(c)) for c in counts),
                motp=all_detect, where=f"{protocol}/{lap_solver}/OVERALL")


@pytest.mark.parametrize("protocol", ["plain", "hieve", "tvd"])
def test_more_random_sequences(tmp_path, protocol):
    """A wider sweep per protocol with the scipy solver (one reference run per sequence)."""
    rng = np.random.default_rng({"plain": 1005, "hieve": 1005, "tvd": 2002}[protocol])
    seen = dict.fromkeys(["IDSW", "Frag", "Transfer", "Ascend", "Migrate", "FP", "FN", "MT", "PT",
                          "ML"], 0)
    dropped = 0
    for i in range(25):
        seq = make_sequence(tmp_path, f"m{i}", rng, tvd=protocol != "plain")
        with solver("scipy"):
            acc, ana = mm_accumulate(seq, protocol)
            ref = mm_summary([acc], [ana], ["x"])["x"]
        got = finalize(ours(seq, protocol, "scipy"))
        assert_same(ref, got, where=f"{protocol}/m{i}")
        for k in seen:
            seen[k] += got[k]
        dropped += len(seq["pred_rows"]) - got["Pred"]
    # the sweep really exercised every kind of event (and, for tvd, the preprocessing)
    assert all(v > 0 for v in seen.values()), seen
    assert (dropped > 0) == (protocol == "tvd")


def test_in_memory_predictions_match_offset_one(tmp_path):
    """CompressAI-Vision builds the prediction DataFrame from unshifted boxes while motmetrics'
    loader shifts the GT by -1: that is pred_offset=(1, 1), bit for bit."""
    import pandas as pd

    rng = np.random.default_rng(7)
    for i in range(6):
        seq = make_sequence(tmp_path, f"o{i}", rng)
        rows = seq["pred_rows"]
        idx = pd.MultiIndex.from_tuples([(int(r[0]), int(r[1])) for r in rows],
                                        names=["FrameId", "Id"])
        df = pd.DataFrame([[float(v) for v in r[2:6]] + [1.0, -1.0, -1.0] for r in rows], idx,
                          ["X", "Y", "Width", "Height", "Confidence", "ClassId", "Visibility"])
        with solver("scipy"):
            acc, _ = mm_accumulate(seq, "hieve", pred_df=df)
            ref = mm_summary([acc], [None], ["x"])["x"]
        got = finalize(ours(seq, "hieve", "scipy", pred_offset=(1, 1)))
        assert_same(ref, got, where=f"offset/o{i}")


def test_overall_motp_when_a_sequence_has_no_detection(tmp_path):
    """Deliberate difference: motmetrics' OVERALL MOTP is NaN as soon as one sequence has no
    detection (NaN * 0); vcmctc pools distances over all matches."""
    a = make_sequence(tmp_path, "a", np.random.default_rng(3))
    b = tmp_path / "b"
    b.mkdir()
    seq_b = {"gt": write_rows(b / "gt.txt", [[1, 1, 0, 0, 10, 10, 1, 1, 1]]),
             "pred": write_rows(b / "pred.txt", [[1, 5, 100, 100, 10, 10, 1, -1, -1, -1]]),
             "ini": b / "seqinfo.ini", "seq_length": 1}
    seq_b["ini"].write_text("[Sequence]\nseqLength=1\n")
    with solver("scipy"):
        runs = [mm_accumulate(s, "plain") for s in (a, seq_b)]
        ref = mm_summary([r for r, _ in runs], [None, None], ["a", "b"])
    counts = [ours(s, "plain", "scipy") for s in (a, seq_b)]
    pooled = finalize(sum_counts(counts))
    assert np.isnan(ref["OVERALL"]["motp"])
    assert pooled["MOTP"] == pytest.approx(counts[0].distance_sum / pooled["TP"], rel=1e-12)
    assert_same(ref["OVERALL"], pooled, motp=False)


# --------------------------------------------------------------------------- TUD data
TUD = ["TUD-Campus", "TUD-Stadtmitte"]


def _expected_from_motmetrics_tests():
    """The official values motmetrics' own test suite states for the TUD sequences: the literal
    ``expected`` table of ``test_motchallenge_files`` (rows: TUD-Campus, TUD-Stadtmitte,
    OVERALL; columns: ``motchallenge_metrics[:15]``), read from the installed test file."""
    path = Path(mm.__file__).parent / "tests" / "test_metrics.py"
    if not path.is_file():
        pytest.skip("motmetrics' tests are not installed")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    func = next(n for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef) and n.name == "test_motchallenge_files")
    assign = next(n for n in ast.walk(func) if isinstance(n, ast.Assign)
                  and getattr(n.targets[0], "id", "") == "expected")
    table = ast.literal_eval(assign.value.args[0])
    names = mm.metrics.motchallenge_metrics[:15]
    assert len(table) == 3 and all(len(r) == len(names) for r in table)
    return {row: dict(zip(names, values)) for row, values in zip(TUD + ["OVERALL"], table)}


def _tud_ours():
    counts = {name: mot_counts(read_mot_txt(MM_DATA / name / "gt.txt"),
                               read_mot_txt(MM_DATA / name / "test.txt"), protocol="plain")
              for name in TUD}
    scores = {name: finalize(c) for name, c in counts.items()}
    scores["OVERALL"] = finalize(sum_counts(counts.values()))
    return scores


def test_tud_against_values_in_motmetrics_tests():
    expected = _expected_from_motmetrics_tests()
    got = _tud_ours()
    for row, exp in expected.items():
        for m, value in exp.items():
            if m in COUNTS:
                assert got[row][COUNTS[m]] == value, (row, m)
            else:
                name, scale = (PERCENT[m], 100.0) if m in PERCENT else ("MOTP", 1.0)
                # the test file prints 6 decimals; motmetrics' own test uses atol=1e-3
                assert got[row][name] / scale == pytest.approx(value, abs=1e-6), (row, m)
    # the official MOTChallenge numbers themselves
    assert round(got["TUD-Campus"]["MOTA"], 1) == 52.6
    assert round(got["TUD-Stadtmitte"]["MOTA"], 1) == 56.4


@pytest.mark.parametrize("lap_solver", SOLVERS)
def test_tud_against_motmetrics_live(lap_solver):
    with solver(lap_solver), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accs = [mm.utils.compare_to_groundtruth(mm.io.loadtxt(str(MM_DATA / n / "gt.txt")),
                                                mm.io.loadtxt(str(MM_DATA / n / "test.txt")),
                                                "iou", distth=0.5) for n in TUD]
        ref = mm_summary(accs, None, TUD)
    got = _tud_ours()
    for row in TUD + ["OVERALL"]:
        assert_same(ref[row], got[row], where=row)



@pytest.mark.parametrize("protocol", ["hieve", "tvd"])
def test_frames_when_the_filter_leaves_no_gt(tmp_path, protocol):
    """Every GT row is filtered out (confidence 0): motmetrics then counts the frames of the
    predictions only, and so does vcmctc."""
    seq = tmp_path / protocol
    seq.mkdir()
    gt = write_rows(seq / "gt.txt", [[f, 1, 10, 10, 20, 40, 0, 1, 1.0] for f in range(1, 6)])
    pred = write_rows(seq / "pred.txt", [[f, 7, 11, 10, 20, 40, 1, -1, -1, -1] for f in (2, 3, 9)])
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=x\nseqLength=9\n")
    s = {"gt": gt, "pred": pred, "ini": seq / "seqinfo.ini", "seq_length": 9}
    with solver("scipy"):
        acc, ana = mm_accumulate(s, protocol)
        ref = mm_summary([acc], [ana], ["x"])["x"]
    got = finalize(ours(s, protocol, "scipy"))
    assert got["GT"] == 0 and got["Frames"] == int(ref["num_frames"])
    assert_same(ref, got, frames=True, where=protocol)
