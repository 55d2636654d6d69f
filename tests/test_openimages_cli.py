"""``vcmctc score openimages``: outputs on a hand-worked case, and one-line errors (exit 2)."""

from __future__ import annotations

import pytest

from test_openimages_synth import make_dataset, score, write_dataset

BOXES = "ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf\n"
PREDS = "ImageID,LabelName,Score,XMin,XMax,YMin,YMax\n"


@pytest.fixture
def case(tmp_path):
    """cat: TP 0.9 -> AP 1; dog: FP 0.8 on a negative label, then TP 0.7 -> AP 0.5.
    mAP = 75 on the 0-100 scale."""
    (tmp_path / "b.csv").write_text(BOXES + "A,cat,0,0.5,0,0.5,0\nB,dog,0,0.5,0,0.5,0\n")
    (tmp_path / "l.csv").write_text("ImageID,LabelName,Confidence\nA,cat,1\nA,dog,0\n")
    (tmp_path / "p.csv").write_text(PREDS + "A,cat,0.9,0,0.5,0,0.5\nA,dog,0.8,0,0.5,0,0.5\n"
                                    "B,dog,0.7,0,0.5,0,0.5\nB,cow,0.99,0,0.5,0,0.5\n")
    return ["score", "openimages", "--gt-boxes", tmp_path / "b.csv", "--gt-labels",
            tmp_path / "l.csv", "--pred", tmp_path / "p.csv"]


def test_json(cli, case):
    r = cli(*case, "--format", "json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["mAP@0.5"] == 75.0
    assert out["per_class"] == {"cat": 100.0, "dog": 50.0}
    assert out["num_gt"] == {"cat": 1.0, "dog": 1.0}
    assert out["counts"]["unknown_class"] == 1 and out["counts"]["detections"] == 4
    assert out["signature"]["metric"] == "oid-challenge-boxes"
    assert out["signature"]["group_of_weight"] == 1.0


def test_text_and_csv(cli, case):
    r = cli(*case)
    assert r.code == 0, r.err
    assert "mAP@0.5 75.000 over 2 classes" in r.out
    assert "dog" in r.out and "unknown class 1" in r.out
    r = cli(*case, "--format", "csv")
    lines = r.out.strip().splitlines()
    assert lines[0] == "class,AP,num_gt,num_tp,entries"
    assert lines[1] == "cat,100.0,1,1,1" and lines[2] == "dog,50.0,1,1,2"
    assert lines[-1].startswith("mAP@0.5,75.0,")


def test_options_change_the_score(cli, case):
    r = cli(*case, "--iou-threshold", "0.75", "--group-of-weight", "0", "--format", "json")
    assert r.code == 0 and "mAP@0.75" in r.json()


def test_cli_equals_api_on_synthetic_masks(cli, tmp_path):
    data = make_dataset(7, masks=True)
    paths = write_dataset(data, tmp_path)
    r = cli("score", "openimages", "--gt-boxes", paths["boxes"], "--gt-labels", paths["labels"],
            "--gt-masks", paths["masks"], "--pred", paths["preds"], "--format", "json")
    assert r.code == 0, r.err
    expected = score(paths, masks=True)
    assert r.json()["mAP@0.5"] == pytest.approx(expected.map * 100, abs=1e-12)
    assert r.json()["signature"]["metric"] == "oid-challenge-masks"


@pytest.mark.parametrize("args, message", [
    (["--pred", "P"], "give --gt-boxes"),
    (["--gt-boxes", "B", "--pred", "P", "--iou-type", "segm"], "segm needs --gt-masks"),
    (["--gt-boxes", "B", "--pred", "P", "--iou-threshold", "1.5"], "--iou-threshold must be"),
    (["--gt-boxes", "B", "--pred", "P", "--group-of-weight", "-1"], "--group-of-weight must be"),
    (["--gt-boxes", "MISSING", "--pred", "P"], "MISSING: file not found"),
    (["--gt-boxes", "BAD", "--pred", "P"], "BAD.csv:3: XMin: 'x' is not a number"),
    (["--gt-json", "J", "--gt-boxes", "B", "--pred", "P"], "not both"),
])
def test_errors_exit_2_one_line(cli, tmp_path, args, message):
    (tmp_path / "B.csv").write_text(BOXES + "A,c,0,1,0,1,0\n")
    (tmp_path / "BAD.csv").write_text(BOXES + "A,c,0,1,0,1,0\nA,c,x,1,0,1,0\n")
    (tmp_path / "P.csv").write_text(PREDS + "A,c,0.5,0,1,0,1\n")
    (tmp_path / "J.json").write_text("{}")
    names = {"B": "B.csv", "BAD": "BAD.csv", "P": "P.csv", "J": "J.json", "MISSING": "MISSING"}
    argv = [str(tmp_path / names[a]) if a in names else a for a in args]
    r = cli("score", "openimages", *argv)
    assert r.code == 2
    assert message in r.err
    assert r.err.startswith("vcmctc: error: ") and r.err.count("\n") == 1
    assert "Traceback" not in r.err
