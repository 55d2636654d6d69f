"""``vcmctc import`` from CompressAI-Vision result files and VCM-RS coding logs.

The CSV fixtures are written here from the columns CompressAI-Vision writes at its commit 31165da:
``compressai_vision/run/eval_split_inference.py`` (summary.csv: Dataset, fps,
num_of_coded_frame, qp, bitrate (kbps), end_accuracy, nn_part_1, encode, decode, nn_part_2;
image sets: Dataset, qp, avg_bpp, end_accuracy, ...), and ``scripts/metrics/gen_mpeg_cttc_csv.py``
(final_<DATASET>.csv: pandas index column, fps/num_of_coded_frame dropped, class rows appended,
an ``ap`` column of fitted values in VCM mode). The log names follow the VCM-RS scripts
(``encoding_<seq>_qp<N>_<timestamp>.log`` in coding_log/, ``<seq>_<WxH>_qp<N>.log`` in
decoding_log/, N = rate point index).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcmctc.submission.manifest import load_manifest

SUMMARY_HEAD = "Dataset,fps,num_of_coded_frame,qp,bitrate (kbps),end_accuracy,nn_part_1,encode,decode,nn_part_2"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _summary_tree(root: Path) -> Path:
    """A CompressAI-Vision split-inference run tree for edition fcm-fctm-v1 (one summary.csv per
    sequence and QP). SFU accuracies are COCO AP50 in percent; TVD's MOTA is 0-1."""
    sfu = {"Traffic_2560x1600_30": [(24, 1210.5, 71.25), (28, 640.25, 69.5), (29, 512.0, 68.0),
                                    (34, 250.75, 60.125)],
           # the inconsistent name CompressAI-Vision's own script works around
           "RaceHorsesC_832x480_30": [(26, 800.0, 55.5), (32, 400.0, 50.0), (37, 200.0, 44.25),
                                      (41, 100.0, 30.5)]}
    folders = {"Traffic_2560x1600_30": "sfu-hw-Traffic_2560x1600_30_val",
               "RaceHorsesC_832x480_30": "sfu-hw-RaceHorses_832x480_30_val"}
    fps = {"Traffic_2560x1600_30": 30, "RaceHorsesC_832x480_30": 30}
    for name, points in sfu.items():
        for qp, rate, acc in points:
            _write(root / folders[name] / f"qp{qp}" / "evaluation" / "summary.csv",
                   f"{SUMMARY_HEAD}\n{name},{fps[name]},33,{qp},{rate},{acc},1.5,{qp / 2},{qp / 8},2.5\n")
    for qp, rate, mota in [(25, 3000.0, 0.5123), (30, 2000.0, 0.5), (33, 1500.0, 0.455),
                           (38, 900.0, 0.3875)]:
        _write(root / "mpeg-TVD-01" / f"qp{qp}" / "evaluation" / "summary.csv",
               f"{SUMMARY_HEAD}\nTVD-01,50,500,{qp},{rate},{mota},1.0,{qp},{qp / 10},3.0\n")
    return root


def _results(cli, folder: Path, out: Path) -> dict:
    r = cli("evaluate", folder, "--allow-incomplete", "--out", out, "-q")
    assert r.code == 0, r.err + r.out
    return json.loads((out / "results.json").read_text())


def test_compressai_vision_summary_tree_round_trip(cli, tmp_path):
    root = _summary_tree(tmp_path / "runs")
    r = cli("import", root, tmp_path / "sub", "--edition", "fcm-fctm-v1", "--codec", "CAV codec")
    # fcm-fctm-v1 scores SFU with AP50, CompressAI-Vision's end_accuracy is AP by default
    assert r.code == 2 and "say which metric end_accuracy is with --metric" in r.err
    r = cli("import", root, tmp_path / "sub", "--edition", "fcm-fctm-v1", "--codec", "CAV codec",
            "--metric", "coco-bbox-ap")
    assert r.code == 2 and "--metric coco-bbox-ap but edition scores RaceHorsesC with " \
        "coco-bbox-ap50" in r.err
    r = cli("import", root, tmp_path / "sub", "--edition", "fcm-fctm-v1", "--codec", "CAV codec",
            "--metric", "coco-bbox-ap50")
    assert r.code == 0, r.err
    assert "3 sequence(s), 12 rate point(s)" in r.out
    m = load_manifest(tmp_path / "sub")
    assert m.anchor is None and m.codec == "CAV codec"
    assert [p.sequence for p in m.points][:4] == ["Traffic"] * 4
    res = _results(cli, tmp_path / "sub", tmp_path / "out")
    pts = {(p["sequence"], p["qp"]): p for p in res["points"]}
    assert len(pts) == 12
    t = pts[("Traffic", 28)]
    assert (t["rate"], t["metric"], t["evidence"]) == (640.25, 69.5, "reported")
    assert (t["enc_time_s"], t["dec_time_s"], t["enc_time_source"]) == (14.0, 3.5, "reported")
    assert t["time_s"] == 17.5                     # encode + decode; NN parts are not codec time
    assert pts[("RaceHorsesC", 37)]["metric"] == 44.25
    # MOTA of summary.csv is 0-1: scaled to percent (0.5123 * 100, one float rounding)
    assert pts[("TVD-01", 25)]["metric"] == pytest.approx(51.23, abs=1e-12)
    assert pts[("TVD-01", 38)]["metric"] == pytest.approx(38.75, abs=1e-12)
    assert {s["status"] for s in res["sequences"]} == {"no-anchor"}


def test_compressai_vision_final_csv_skips_class_rows(cli, tmp_path):
    """final_SFU.csv of VCM mode for edition vcm-n0638: index column, class rows, 'ap' column."""
    head = ",Dataset,qp,bitrate (kbps),end_accuracy,nn_part_1,encode,decode,nn_part_2,ap"
    lines, i = [head], 0
    for name, qps in (("Traffic_2560x1600_30", range(32, 53, 4)),
                      ("BQTerrace_1920x1080_60", range(26, 47, 4))):
        for k, qp in enumerate(qps):
            lines.append(f"{i},{name},{qp},{1000.0 / (k + 1)},{60.0 - 3 * k},1.0,{10.0 + k},"
                         f"{1.0 + k / 4},2.0,{59.0 - 3 * k}")
            i += 1
    for k in range(6):
        lines.append(f"{i},CLASS-AB,{k},{800.0 / (k + 1)},-1,1.0,5.0,1.0,2.0,")
        i += 1
    src = _write(tmp_path / "final_SFU.csv", "\n".join(lines) + "\n")
    r = cli("import", src, tmp_path / "sub", "-e", "vcm-n0638", "--codec", "X",
            "--from", "compressai-vision")
    assert r.code == 0, r.err
    # vcm-n0638 has no class AB: the class row is not kept
    assert "class rows not imported (vcmctc computes class rows; only those of a final_*.csv " \
           "are kept as reported): CLASS-AB" in r.err
    assert "column 'ap'" in r.err
    m = load_manifest(tmp_path / "sub")
    assert len(m.points) == 12
    bq = [p for p in m.points if p.sequence == "BQTerrace"]
    assert [p.qp for p in bq] == [26, 30, 34, 38, 42, 46]
    # end_accuracy as written (final files are in percent already), not the fitted 'ap'
    assert bq[1].reported == {"rate": 500.0, "metric": 57.0, "enc_time_s": 11.0, "dec_time_s": 1.25,
                              "nn_part_1_s": 1.0, "nn_part_2_s": 2.0}


def test_image_set_summary_in_bpp(cli, tmp_path):
    head = "Dataset,qp,avg_bpp,end_accuracy,nn_part_1,encode,decode,nn_part_2"
    rows = "".join(f"mpeg-oiv6-detection,{qp},{0.5 / (k + 1)},{0.6 - 0.05 * k},1,2,3,4\n"
                   for k, qp in enumerate((29, 31, 32, 39)))
    src = _write(tmp_path / "oiv6" / "summary.csv", head + "\n" + rows)
    r = cli("import", src, tmp_path / "sub", "-e", "fcm-fctm-v1", "--codec", "X")
    assert r.code == 0, r.err
    m = load_manifest(tmp_path / "sub")
    assert [p.sequence for p in m.points] == ["OIV6-detection"] * 4
    # OpenImages mAP of summary.csv is 0-1 -> percent
    assert m.points[1].reported["metric"] == pytest.approx(55.0, abs=1e-12)
    assert m.points[1].reported["rate"] == 0.25


def test_metric_scale_override_and_range_check(cli, tmp_path):
    src = _write(tmp_path / "summary.csv", f"{SUMMARY_HEAD}\nTVD-01,50,500,25,3000,51.23,1,2,3,4\n")
    r = cli("import", src, tmp_path / "a", "-e", "fcm-fctm-v1", "--codec", "X")
    assert r.code == 2
    assert f"{src}:2: column 'end_accuracy': 5123 after scaling by 100 is above 100" in r.err
    r = cli("import", src, tmp_path / "b", "-e", "fcm-fctm-v1", "--codec", "X",
            "--metric-scale", "1")
    assert r.code == 0
    assert load_manifest(tmp_path / "b").points[0].reported["metric"] == 51.23


@pytest.mark.parametrize("text, message", [
    ("Dataset,qp,bitrate (kbps)\nTraffic,24,100\n", "missing column(s) end_accuracy"),
    ("Dataset,qp,end_accuracy\nTraffic,24,50\n", "missing column(s) 'bitrate (kbps)' or 'avg_bpp'"),
    (f"{SUMMARY_HEAD}\nFoo_64x64_30,30,33,24,100,50,1,2,3,4\n",
     ":2: column 'Dataset': 'Foo_64x64_30' is not a sequence of edition fcm-fctm-v1"),
    (f"{SUMMARY_HEAD}\nTraffic_2560x1600_30,30,33,24.5,100,50,1,2,3,4\n",
     ":2: column 'qp': '24.5' is not an integer"),
    (f"{SUMMARY_HEAD}\nTraffic_2560x1600_30,30,33,24,fast,50,1,2,3,4\n",
     ":2: column 'bitrate (kbps)': 'fast' is not a number"),
    ("Dataset,qp,avg_bpp,end_accuracy\nTraffic,24,0.1,50\n",
     ":2: column 'avg_bpp' is in bpp but Traffic is rated in kbps"),
    (f"{SUMMARY_HEAD}\nTraffic_2560x1600_30,30,33,24,100,50,1,2,3,4\n"
     f"Traffic_2560x1600_30,30,33,24,90,49,1,2,3,4\n",
     "sequence Traffic QP 24 appears twice (also at"),
])
def test_compressai_vision_bad_input(cli, tmp_path, text, message):
    src = _write(tmp_path / "summary.csv", text)
    r = cli("import", src, tmp_path / "sub", "-e", "fcm-fctm-v1", "--codec", "X",
            "--from", "compressai-vision", "--metric", "coco-bbox-ap50")
    assert r.code == 2 and message in r.err and r.err.count("\n") == 1, r.err
    assert str(src) in r.err


def test_autodetect(cli, tmp_path):
    from vcmctc.submission.importers import detect_source

    pts = _write(tmp_path / "p.csv", "sequence,qp,rate,metric\nTraffic,24,1,2\n")
    cav = _write(tmp_path / "c.csv", f"{SUMMARY_HEAD}\n")
    assert detect_source(pts) == "points-csv" and detect_source(cav) == "compressai-vision"
    other = _write(tmp_path / "o.csv", "a,b\n1,2\n")
    r = cli("import", other, tmp_path / "sub", "-e", "fcm-fctm-v1", "--codec", "X")
    assert r.code == 2 and f"{other}:1: cannot tell the format from the columns (a, b)" in r.err
    (tmp_path / "empty").mkdir()
    r = cli("import", tmp_path / "empty", tmp_path / "sub", "-e", "fcm-fctm-v1", "--codec", "X")
    assert r.code == 2 and "no summary.csv" in r.err


@pytest.mark.parametrize("name, expected", [
    ("Traffic", "Traffic"), ("traffic", "Traffic"), ("Traffic_2560x1600_30", "Traffic"),
    ("sfu-hw-Traffic_2560x1600_30_val", "Traffic"), ("RaceHorses_832x480_30", "RaceHorsesC"),
    ("RaceHorses_416x240_30", "RaceHorsesD"), ("RaceHorsesC_832x480_30", "RaceHorsesC"),
    ("RaceHorses_832x480", "RaceHorsesC"), ("mpeg-TVD-01", "TVD-01"), ("hieve-13", "HiEve-13"),
    ("mpeg-oiv6-detection", "OIV6-detection"), ("Traffic_1920x1080_30", None), ("CLASS-AB", None),
    ("Foo", None),
])
def test_resolve_sequence(name, expected):
    from vcmctc.ctc.editions import load_edition
    from vcmctc.submission.importers import resolve_sequence

    seq = resolve_sequence(load_edition("fcm-fctm-v1"), name)
    assert (seq.id if seq else None) == expected


# ---------------------------------------------------------------------------------------------
# VCM-RS logs

def _vcm_points(tmp_path: Path) -> Path:
    lines = ["sequence,qp,rate,metric,enc_time_s,dec_time_s"]
    for k, qp in enumerate(range(32, 53, 4)):
        lines.append(f"Traffic,{qp},{1000 / (k + 1)},{60 - 3 * k},10.0,1.0")
    for k, qp in enumerate(range(26, 47, 4)):
        lines.append(f"BQTerrace,{qp},{900 / (k + 1)},{50 - 3 * k},20.0,2.0")
    return _write(tmp_path / "points.csv", "\n".join(lines) + "\n")


def _logs(root: Path) -> Path:
    _write(root / "coding_log" / "encoding_Traffic_qp0_20240101_120000.log",
           "vcmrs start\nsome VTM line\nEncoding completed in 123.5 seconds\n")
    _write(root / "coding_log" / "encoding_Traffic_qp5_20240101_130000.log",
           "Encoding completed in 50 seconds\n")
    _write(root / "decoding_log" / "Traffic_2560x1600_qp0.log", "Decoding completed in 4.25 seconds\n")
    # a VTM decoder log: CPU time, kind from the folder name
    _write(root / "decoding_log" / "BQTerrace_1920x1080_qp5.log",
           "POC 0 ...\n Total Time:       12.345 sec.\n")
    _write(root / "notes.log", "not a coding log\n")
    return root


def test_vcmrs_logs_times_appear_in_the_points(cli, tmp_path):
    src = _vcm_points(tmp_path)
    logs = _logs(tmp_path / "logs")
    r = cli("import", src, tmp_path / "sub", "-e", "vcm-n0638", "--codec", "X", "--logs", logs)
    assert r.code == 0, r.err
    assert "4 log(s)" in r.out and "notes.log: ignored" in r.err
    assert (tmp_path / "sub" / "logs" / "coding_log" / "encoding_Traffic_qp0_20240101_120000.log").is_file()
    m = load_manifest(tmp_path / "sub")
    first = next(p for p in m.points if p.sequence == "Traffic" and p.qp == 32)
    # the log replaces the reported time of its kind
    assert first.logs == {"encoder": "logs/coding_log/encoding_Traffic_qp0_20240101_120000.log",
                          "decoder": "logs/decoding_log/Traffic_2560x1600_qp0.log"}
    assert "enc_time_s" not in first.reported and "dec_time_s" not in first.reported
    res = _results(cli, tmp_path / "sub", tmp_path / "out")
    pts = {(p["sequence"], p["qp"]): p for p in res["points"]}
    p = pts[("Traffic", 32)]                     # qp0 = the lowest QP of Traffic (32)
    assert (p["enc_time_s"], p["enc_time_source"]) == (123.5, "log vcm-rs (wall)")
    assert (p["dec_time_s"], p["dec_time_source"]) == (4.25, "log vcm-rs (wall)")
    assert p["time_s"] == 127.75
    p = pts[("Traffic", 52)]                     # qp5 = 52; decoding time still reported
    assert (p["enc_time_s"], p["enc_time_source"]) == (50.0, "log vcm-rs (wall)")
    assert (p["dec_time_s"], p["dec_time_source"]) == (1.0, "reported")
    p = pts[("BQTerrace", 46)]
    assert (p["dec_time_s"], p["dec_time_source"]) == (12.345, "log vtm (cpu)")
    assert (p["enc_time_s"], p["enc_time_source"]) == (20.0, "reported")
    assert all(x["evidence"] == "reported" for x in res["points"])
    inputs = [f["path"] for f in pts[("Traffic", 32)]["inputs"].get("encoder-log", [])]
    assert inputs == ["logs/coding_log/encoding_Traffic_qp0_20240101_120000.log"]


def test_log_qp_value(cli, tmp_path):
    src = _vcm_points(tmp_path)
    _write(tmp_path / "logs" / "Traffic_qp36.log", "Decoding completed in 2.5 seconds\n")
    r = cli("import", src, tmp_path / "sub", "-e", "vcm-n0638", "--codec", "X",
            "--logs", tmp_path / "logs", "--log-qp", "value")
    assert r.code == 0, r.err
    p = next(p for p in load_manifest(tmp_path / "sub").points if p.sequence == "Traffic" and p.qp == 36)
    assert p.logs == {"decoder": "logs/Traffic_qp36.log"}
    # a log whose point is not in the source is reported, not silently used
    _write(tmp_path / "logs2" / "Traffic_qp99.log", "Decoding completed in 2.5 seconds\n")
    r = cli("import", src, tmp_path / "sub2", "-e", "vcm-n0638", "--codec", "X",
            "--logs", tmp_path / "logs2", "--log-qp", "value")
    assert r.code == 0 and "no rate point Traffic QP 99 in the source; log ignored" in r.err


@pytest.mark.parametrize("files, message", [
    ({"Traffic_qp9.log": "Decoding completed in 1 seconds"},
     "qp9 is a rate point index but Traffic has 6 QPs"),
    ({"a/encoding_Traffic_qp0_1.log": "Encoding completed in 1 seconds",
      "b/encoding_Traffic_qp0_2.log": "Encoding completed in 2 seconds"},
     "two encoder logs for Traffic QP 32"),
    ({"Foo_qp0.log": "Decoding completed in 1 seconds"},
     "sequence 'Foo' in the file name is not a sequence of edition vcm-n0638"),
    ({"Traffic_qp0.log": " Total Time:  1.0 sec."},
     "cannot tell whether this is an encoding or a decoding log"),
    ({"readme.log": "nothing"}, "no timing log found"),
])
def test_log_bad_input(cli, tmp_path, files, message):
    for name, text in files.items():
        _write(tmp_path / "logs" / name, text + "\n")
    r = cli("import", _vcm_points(tmp_path), tmp_path / "sub", "-e", "vcm-n0638", "--codec", "X",
            "--logs", tmp_path / "logs")
    assert r.code == 2 and message in r.err and r.err.count("\n") == 1, r.err
    assert not (tmp_path / "sub" / "submission.yaml").exists()


def test_existing_manifest_is_kept(cli, tmp_path):
    src = _vcm_points(tmp_path)
    assert cli("import", src, tmp_path / "sub", "-e", "vcm-n0638", "--codec", "X").code == 0
    r = cli("import", src, tmp_path / "sub", "-e", "vcm-n0638", "--codec", "Y")
    assert r.code == 2 and "--force" in r.err
    assert cli("import", src, tmp_path / "sub", "-e", "vcm-n0638", "--codec", "Y", "--force").code == 0
    assert load_manifest(tmp_path / "sub").codec == "Y"
