"""`vcmctc demo --track fcm` end to end (about 20 s on 2 cores): a torch split network, the
feature anchor and the example submission evaluated at the decoded level, BD-rates, feature MD5s
and kMAC/pixel in the reports."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pytest

torch = pytest.importorskip("torch")


def _part1_numpy(y, u, v):
    """Part 1 of the demo network written again with numpy alone (float64, the same dyadic
    weights): its features must be bit-identical to the demo's (exact arithmetic)."""
    from vcmctc.demo import fcmnet

    x = fcmnet.frame_input(y, u, v)
    w, b = fcmnet._colour_weights()
    colour = np.maximum(np.einsum("kc,chw->khw", w, x) + b[:, None, None], 0.0)
    c, h, wd = colour.shape
    a = colour.reshape(c, h // 4, 4, wd // 4, 4).mean(axis=(2, 4))
    return a, fcmnet.restore_b(a)


def test_demo_fcm_end_to_end_and_cached(cli, tmp_path):
    from vcmctc.features.store import FeatureFile
    from vcmctc.media.yuv import YuvFormat, YuvReader

    out = tmp_path / "fcm"
    r = cli("demo", "--track", "fcm", "--out", out, "-q")
    assert r.code == 0, r.err
    assert "SynthStreet" in r.out and "report:" in r.out
    results = json.loads((out / "eval/submission/results.json").read_text())
    anchor = json.loads((out / "eval/anchor/results.json").read_text())
    assert results["edition"]["id"] == "ctc-demo-fcm"
    for p in results["points"] + anchor["points"]:
        assert p["status"] == "ok" and p["evidence"] == "decoded", p["message"]
        info = p["decode"]["features"]
        assert info["split_point"] == "demo-colour-split" and info["frames"] == 33
        assert info["tensors"] == {"a": {"dtype": "float32", "shape": [8, 60, 104]},
                                   "b": {"dtype": "float32", "shape": [3, 30, 52]}}
        assert info["mse"] > 0 and len(p["decode"]["md5"]) == 32
        assert (out / "eval" / ("submission" if p in results["points"] else "anchor")
                / info["conformance"]).is_file()
        bits = p["bits_components"]
        assert bits["bitstream"] > 0 and bits["side-info"] > 0
        assert p["rate"] == (bits["bitstream"] + bits["side-info"]) * 30 / (1000 * 33)
    # The submission codes one level and restores the other: fewer bits at equal AP.
    bd = {s["name"]: s for s in results["sequences"]}
    assert all(s["status"] == ("low-overlap" if s["overlap"] < 0.75 else "ok") and s["bd_rate"] < -10
               for s in bd.values()), bd
    det = results["classes"][0]
    assert det["rule"] == "pooled" and det["status"] == ("low-overlap" if det["overlap"] < 0.75 else "ok") and det["bd_rate"] < -10
    assert det["anchor_curve"] == anchor["classes"][0]["curve"]
    assert results["overall"]["bd_rate"] == det["bd_rate"]
    # kMAC/pixel: part 1 and the restoration counted by torch when the demo encoded, part 2
    # measured by vcmctc's torch adapter; per element of the 3 x 240 x 416 network input.
    pixels = 3 * 240 * 416
    part1 = 240 * 416 * 3 * 8 + 30 * 52 * 3 * 8 * 9     # 1x1 conv 3 -> 8, 3x3 conv 8 -> 3
    part2 = 60 * 104 * 6 * 9 + 60 * 104 * 3 * 6           # depthwise 3x3 on 6, 1x1 3 -> 6
    restoration = 30 * 52 * 3 * 8 * 9
    for name, res in (("anchor", anchor), ("submission", results)):
        expected = {"nn_part1": part1 / 1000 / pixels, "feature_reduction": 0.0,
                    "feature_restoration": (restoration / 1000 / pixels
                                            if name == "submission" else 0.0),
                    "nn_part2": part2 / 1000 / pixels}
        for row in [*res["points"], *res["sequences"], *res["classes"], res["overall"]]:
            assert row["complexity"] == pytest.approx(expected, rel=1e-6), name
    # Part 1's features (the original features of every point) are exact: a numpy rewrite of
    # part 1 gives the same bytes.
    with FeatureFile(out / "features/SynthPark.npz") as ff, \
            YuvReader(out / "data/yuv/SynthPark_416x240_30.yuv", YuvFormat(416, 240)) as yuv:
        for i, frame in enumerate(ff.frames(("a", "b"))):
            if i in (0, 17, 32):
                a, b = _part1_numpy(*yuv[i])
                assert np.array_equal(frame["a"], a.astype(np.float32))
                assert np.array_equal(frame["b"], b.astype(np.float32))

    # Reports: BD-rates, the feature MD5s and kMAC/pixel in every format.
    md = (out / "reports/demo-fcm.md").read_text()
    html = (out / "reports/demo-fcm.html").read_text()
    md5s = [p["decode"]["md5"] for p in results["points"]]
    for text in (md, html):
        assert "Complexity (kMAC/pixel)" in text and "Decoded features" in text
        assert all(m in text for m in md5s)
        assert f"{det['bd_rate']:.2f}" in text
    assert "| Class DET | 0.009125 | 0 | 0.001125 | 0.0015 |" in md
    wb = openpyxl.load_workbook(out / "reports/demo-fcm.xlsx")
    assert {"Summary", "Complexity", "Features", "Signature"} <= set(wb.sheetnames)
    assert [c.value for c in wb["Complexity"][4]] == [
        "Row", "Class", "nn_part1", "feature_reduction", "feature_restoration", "nn_part2"]
    assert sorted(c.value for c in wb["Features"]["G"][4:]) == sorted(md5s)

    # The Python API gives the same tables as DataFrames.
    import vcmctc

    api = vcmctc.load_results(out / "eval/submission/results.json")
    assert sorted(api.features()["md5"]) == sorted(md5s)
    comp = api.complexity()
    assert set(comp["component"]) == {"nn_part1", "feature_reduction", "feature_restoration",
                                      "nn_part2"}
    assert len(comp[comp["kind"] == "point"]) == 4 * 8
    assert vcmctc.load_results(out / "eval/anchor/results.json").features().shape[0] == 8

    # A second run is served from the cache and gives the same numbers.
    r2 = cli("demo", "--track", "fcm", "--out", out, "-q")
    assert r2.code == 0
    again = json.loads((out / "eval/submission/results.json").read_text())
    assert again["run"]["cached_steps"] == again["run"]["steps"] == 24
    assert [s["bd_rate"] for s in again["sequences"]] == [s["bd_rate"] for s in bd.values()]
    assert [p["decode"]["md5"] for p in again["points"]] == md5s
