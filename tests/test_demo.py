"""`vcmctc demo` end to end, as the README's first command runs it (about a minute on 2 cores)."""

from __future__ import annotations

import json

import openpyxl


def test_demo_end_to_end_and_cached(cli, tmp_path):
    out = tmp_path / "demo"
    r = cli("demo", "--out", out, "-q")
    assert r.code == 0, r.err
    assert "SynthStreet" in r.out and "report:" in r.out
    results = json.loads((out / "eval/submission/results.json").read_text())
    anchor = json.loads((out / "eval/anchor/results.json").read_text())

    # Decoded evidence everywhere; the side information is part of the rate.
    assert {p["evidence"] for p in results["points"]} == {"decoded"}
    assert all(p["status"] == "ok" for p in results["points"] + anchor["points"])
    frames = {"SynthStreet": 33, "SynthPark": 33, "SynthCrossing": 60, "SynthDance": 33}
    for p in results["points"]:
        bits = p["bits_components"]
        assert bits["bitstream"] > 0 and p["enc_time_s"] > 0 and p["dec_time_s"] > 0
        if p["sequence"] == "SynthImages":   # 24 images of 320x240, one bitstream each
            assert p["rate_unit"] == "bpp" and bits["side-info"] == 0
            assert p["rate"] == bits["bitstream"] / (24 * 320 * 240)
            assert p["decode"]["items"] == 24
        else:
            assert bits["side-info"] > 0
            assert p["rate"] == (bits["side-info"] + bits["bitstream"]) * 30 / (1000 * frames[p["sequence"]])

    # Foreground coding saves bits for detection, the image set and pose, and costs some for
    # tracking (measured: -49.75 %, -15.16 %, +6.16 %, -45.82 %, -41.88 % with imageio-ffmpeg
    # 0.8.1's libvvenc).
    bd = {s["name"]: s for s in results["sequences"]}
    # every sequence has its number; below 75 % metric overlap the status says low-overlap
    assert len(bd) == 5 and all(s["bd_rate"] is not None for s in bd.values())
    assert all(s["status"] == ("low-overlap" if s["overlap"] < 0.75 else "ok") for s in bd.values())
    assert bd["SynthStreet"]["bd_rate"] < -30 and bd["SynthPark"]["bd_rate"] < 0
    assert bd["SynthCrossing"]["bd_rate"] > 0
    assert bd["SynthImages"]["bd_rate"] < -20 and bd["SynthDance"]["bd_rate"] < -20
    assert bd["SynthImages"]["metric_id"] == "oid-bbox-map50"
    assert bd["SynthDance"]["metric_id"] == "coco-keypoints-ap"
    stats = next(p for p in results["points"] if p["sequence"] == "SynthDance")["stats"]
    assert {"AP", "AP50", "AP75", "APm"} <= set(stats)   # every statistic of the family kept

    # Pooled class rows against the anchor's own pooled class curves.
    det = next(c for c in results["classes"] if c["name"] == "DET")
    assert det["rule"] == "pooled" and det["bd_rate"] < 0
    assert det["status"] == ("low-overlap" if det["overlap"] < 0.75 else "ok")
    assert len(det["curve"]) == 4 and len(det["anchor_curve"]) == 4
    assert det["anchor_curve"] == next(c for c in anchor["classes"] if c["name"] == "DET")["curve"]
    assert results["overall"]["status"] == "ok"

    # Reports written where the command says.
    for ext in ("html", "md", "xlsx"):
        assert (out / "reports" / f"demo.{ext}").stat().st_size > 1000
    wb = openpyxl.load_workbook(out / "reports/demo.xlsx")
    assert len(wb.sheetnames) >= 2

    # A second run is served from the cache and gives the same numbers.
    r2 = cli("demo", "--out", out, "-q")
    assert r2.code == 0
    again = json.loads((out / "eval/submission/results.json").read_text())
    assert again["run"]["cached_steps"] == again["run"]["steps"] == 60
    assert [s["bd_rate"] for s in again["sequences"]] == [s["bd_rate"] for s in results["sequences"]]
