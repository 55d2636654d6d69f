"""`vcmctc evaluate` of decoded features (FCM): a decoder with `output: features` run by vcmctc,
its feature files checked against the split point, MD5s, conformance statistics and MSE
recorded, part 2 run by the torch and the command adapters; bad feature files are point
statuses with a clear message. Real data: the demo's sequence, part 1 of the demo network and
its VVC-coded features."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

torch = pytest.importorskip("torch")

SEQ = "SynthStreet"
QPS = (32, 42)
DECODER = [sys.executable, str(REPO / "tests/programs/feature_decoder.py"), "{bitstream}",
           "{side_info}", "{output}", "{width}", "{height}", "{frames}"]
EDITION = """\
id: {id}
title: one demo sequence, decoded features
track: demo
sources: {{demo: "vcmctc.demo.scene"}}
default_source: demo
scenarios: [RA]
rate_points: {n}
rate_unit: kbps
bd: {{method: pchip, policy: refuse, min_points: 2}}
aggregation: {{class_rows: pooled, overall: mean-of-classes}}
classes: {{DET: {{}}}}
split_points:
  demo-colour-split:
    network: vcmctc.demo.fcmnet
    input: {{resize: none}}
    tensors: [{{name: a, channels: 8, stride: 4}}, {{name: b, channels: 3, stride: 8}}]
    dtypes: [float32]
    conformance_subsample: 2
datasets:
  DemoDet: {{task: object-detection, metric: coco-bbox-ap, first_frame: 0, gt: "sfu/{{id}}",
            split_point: demo-colour-split}}
sequences:
  SynthStreet: {{dataset: DemoDet, class: DET, width: 416, height: 240, fps: 30, total_frames: 33,
                skip: 0, frames: 33, tail: true, intra_period: 32, bit_depth: 8}}
"""
TORCH_TASK = {"adapter": "torch", "entry": "vcmctc.demo.fcmnet:build_part2",
              "options": {"device": "cpu"}}
COMMAND_TASK = {"adapter": "command", "argv": [
    sys.executable, str(REPO / "tests/programs/feature_task.py"), "{decoded}", "{output}",
    "{width}", "{height}", "{split_point}"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The sequence, its ground truth, part 1's features and their anchor-coded bitstreams."""
    from vcmctc.demo import fcmcodec, fcmnet
    from vcmctc.demo.scene import make_demo_sequence, write_sequence_files
    from vcmctc.features.store import write_features
    from vcmctc.media.yuv import YuvFormat, YuvReader

    root = tmp_path_factory.mktemp("features")
    paths = write_sequence_files(make_demo_sequence(SEQ), root / "data")
    net = fcmnet.Part1()
    a, b = [], []
    with YuvReader(paths["yuv"], YuvFormat(416, 240)) as reader, torch.no_grad():
        for i in range(33):
            fa, fb = net(torch.from_numpy(fcmnet.frame_input(*reader[i]))[None])
            a.append(fa[0].float().numpy())
            b.append(fb[0].float().numpy())
    a, b = np.stack(a), np.stack(b)
    bits = root / "bits"
    bits.mkdir()
    write_features(bits / "original.npz", {"a": a, "b": b})
    for qp in QPS:
        fcmcodec.encode(a, b, "anchor", qp, 30, 416, 240, bits / f"qp{qp}.266",
                        bits / f"qp{qp}.side")
    return root


def make_sub(world, name: str, points: list[dict], task: dict, **decoder) -> Path:
    folder = world / name
    shutil.copytree(world / "bits", folder / "bits")
    edition = folder / f"ed-{name}.yaml"
    edition.write_text(EDITION.format(id=f"ed-{name}", n=max(2, len(points))))
    manifest = {"codec": "feature test", "edition": str(edition),
                "decoder": {"argv": DECODER, "output": "features", **decoder}, "task": task,
                "sequences": {SEQ: points}}
    (folder / "submission.yaml").write_text(json.dumps(manifest))
    return folder


def point(label: str, bitstream: str, **extra) -> dict:
    return {"label": label, "bitstream": bitstream, "side_info": "bits/qp32.side", **extra}


def test_features_evaluated_at_the_decoded_level(world, cli):
    """Every recorded number equals the same computation made directly: the decoded features
    (the demo decoder called by hand), their MD5 and statistics, the MSE against the original,
    part 2's detections scored by the family, part 2's kMAC/pixel."""
    from vcmctc.ctc.editions import load_edition
    from vcmctc.demo import fcmcodec, fcmnet
    from vcmctc.families import family_for

    points = [{"qp": qp, "bitstream": f"bits/qp{qp}.266", "side_info": f"bits/qp{qp}.side",
               "original_features": "bits/original.npz"} for qp in QPS]
    sub = make_sub(world, "good", points, TORCH_TASK)
    out = world / "good-out"
    r = cli("evaluate", sub, "--data-root", world / "data", "--no-anchor", "-q", "--out", out)
    assert r.code == 0, r.err
    results = json.loads((out / "results.json").read_text())
    seq = load_edition(sub / "ed-good.yaml").sequences[SEQ]
    family = family_for("coco-bbox-ap")
    gt = family.load_gt(seq, world / "data" / "sfu" / SEQ)
    original = np.load(world / "bits/original.npz")
    part2 = fcmnet.Part2()
    for p in results["points"]:
        assert p["status"] == "ok" and p["evidence"] == "decoded", p["message"]
        qp = p["qp"]
        npz = world / f"direct{qp}.npz"
        fcmcodec.decode(world / f"bits/qp{qp}.266", world / f"bits/qp{qp}.side", npz,
                        width=416, height=240, frames=33)
        dec = np.load(npz)
        # MD5 per frame and overall, computed here from the arrays
        frames = []
        for i in range(33):
            import hashlib

            h = hashlib.md5()
            for n in ("a", "b"):
                h.update(f"{n}:float32:{'x'.join(map(str, dec[n][i].shape))}:".encode())
                h.update(dec[n][i].astype("<f4").tobytes())
            frames.append(h.hexdigest())
        overall = hashlib.md5("".join(frames).encode()).hexdigest()
        assert p["decode"]["md5"] == overall and p["decode"]["frames_decoded"] == 33
        info = p["decode"]["features"]
        assert info["tensors"] == {"a": {"dtype": "float32", "shape": [8, 60, 104]},
                                   "b": {"dtype": "float32", "shape": [3, 30, 52]}}
        sq = {n: float(((dec[n].astype(np.float64) - original[n]) ** 2).sum()) for n in "ab"}
        assert info["mse_tensors"]["a"] == pytest.approx(sq["a"] / dec["a"].size, rel=1e-12)
        assert info["mse"] == pytest.approx((sq["a"] + sq["b"]) / (dec["a"].size
                                                                  + dec["b"].size), rel=1e-12)
        conformance = json.loads((out / info["conformance"]).read_text())
        assert [e["md5"] for e in conformance["entries"]] == frames
        e = conformance["entries"][7]["dump"]   # a: channels 0, 2, 4, 6; b: 8 % 2 = 0 -> 0, 2
        assert e[0]["means"] == pytest.approx(
            [statistics.fmean(map(float, dec["a"][7, c].ravel())) for c in (0, 2, 4, 6)],
            rel=1e-12, abs=1e-12)
        assert e[1]["variances"] == pytest.approx(
            [statistics.pvariance(list(map(float, dec["b"][7, c].ravel()))) for c in (0, 2)],
            rel=1e-9, abs=1e-12)
        # part 2 on the decoded features, scored by the family
        dets = []
        with torch.no_grad():
            for i in range(33):
                frame = type("F", (), {"width": 416, "height": 240})
                dets += [{"image_id": i, **d} for d in part2(
                    {n: torch.from_numpy(np.array(dec[n][i]))[None] for n in "ab"}, frame)]
        (world / "dets.json").write_text(json.dumps(dets))
        stats = family.measure(seq, gt, world / "dets.json").stats
        assert p["metric"] == pytest.approx(stats["AP"], abs=1e-9)
        # part 2: 3x3 depthwise conv on 6 channels + 1x1 conv 3 -> 6, at 60 x 104; per pixel
        # of the 3 x 240 x 416 network input
        assert p["complexity"]["nn_part2"] == pytest.approx(
            (60 * 104 * (6 * 9 + 3 * 6)) / 1000 / (3 * 240 * 416), rel=1e-12)
    assert results["sequences"][0]["complexity"]["nn_part2"] == pytest.approx(
        results["points"][0]["complexity"]["nn_part2"])

    # The command adapter gets the feature file and the split point: same detections.
    cmd = make_sub(world, "cmd", points, COMMAND_TASK)
    r = cli("evaluate", cmd, "--data-root", world / "data", "--no-anchor", "-q", "--out",
            world / "cmd-out")
    assert r.code == 0, r.err
    again = json.loads((world / "cmd-out/results.json").read_text())
    assert [p["metric"] for p in again["points"]] == [p["metric"] for p in results["points"]]
    assert [p["decode"]["md5"] for p in again["points"]] == \
        [p["decode"]["md5"] for p in results["points"]]
    assert "nn_part2" not in again["points"][0]["complexity"]   # nothing measured it


BAD = {
    "WRONGNAME": "tensor(s) 'b' missing; unknown tensor(s) 'c'; the split point "
                 "demo-colour-split has a, b",
    "EXTRA": "unknown tensor(s) 'p6'",
    "WRONGSHAPE": "tensor 'a' is 8x60x105 (C x H x W) per frame; the split point "
                  "demo-colour-split (416x240 frames, network input 416x240 padded to 416x240) "
                  "needs 8x60x104",
    "WRONGDTYPE": "tensor 'a' has dtype float64; the split point demo-colour-split allows "
                  "float32",
    "FEWFRAMES": "tensor 'a' has 32 frame(s), expected 33",
    "NAN": "tensor 'a', frame 2 has values that are not finite",
    "PICKLE": "tensor 'a' has dtype object, not a numeric array",
    "GARBAGE": "decoded.npz is not an .npz file",
    "NONE": "decoded.npz was not written",
    "TRUNCATED": "decoded.npz is not an .npz file",
}


def test_bad_feature_files_are_point_statuses(world, cli):
    bits = world / "bad-bits"
    bits.mkdir(exist_ok=True)
    points = [point("good", "bits/qp32.266")]
    for k, marker in enumerate(BAD):   # sizes differ: rates must not repeat
        (bits / f"{marker}.bin").write_bytes(marker.encode().ljust(16, b"\0") + b"\0" * k)
        points.append(point(marker.lower(), f"bad/{marker}.bin"))
    sub = make_sub(world, "bad", points, TORCH_TASK)
    shutil.copytree(bits, sub / "bad")
    out = world / "bad-out"
    r = cli("evaluate", sub, "--data-root", world / "data", "--no-anchor", "-q", "--out", out,
            "--jobs", "2")
    assert r.code == 1, r.out + r.err   # points failed; the run went on
    results = json.loads((out / "results.json").read_text())
    by = {p["label"]: p for p in results["points"]}
    assert by["good"]["status"] == "ok" and by["good"]["metric"] > 0
    for marker, message in BAD.items():
        p = by[marker.lower()]
        assert p["status"] == "decode-failed" and p["metric"] is None, marker
        assert message in p["message"], (marker, p["message"])
        assert p["message"].startswith("decoded features: ")
        assert p["decode"]["status"] == ("no-output" if marker == "NONE" else "bad-output")
        assert str(world) not in p["message"]


def test_decoded_md5_is_checked_for_features(world, cli):
    pts = [point("a", "bits/qp32.266"), point("b", "bits/qp42.266")]
    out = world / "md5-out"
    r = cli("evaluate", make_sub(world, "md5", pts, TORCH_TASK), "--data-root", world / "data",
            "--no-anchor", "-q", "--out", out)
    assert r.code == 0, r.err
    md5 = json.loads((out / "results.json").read_text())["points"][0]["decode"]["md5"]
    pts = [point("a", "bits/qp32.266", decoded_md5=md5),
           point("b", "bits/qp42.266", decoded_md5="0" * 32)]
    r = cli("evaluate", make_sub(world, "md5-check", pts, TORCH_TASK), "--data-root",
            world / "data", "--no-anchor", "-q", "--out", world / "md5-check-out")
    assert r.code == 1
    right, wrong = json.loads((world / "md5-check-out/results.json").read_text())["points"]
    assert right["status"] == "ok" and right["decode"]["md5"] == md5
    assert wrong["status"] == "decode-failed" and wrong["decode"]["status"] == "md5-mismatch"
    assert "the submitted decoded_md5 is 00000000000000000000000000000000" in wrong["message"]


def test_validate_checks_submitted_features_and_the_setup(world, cli):
    from vcmctc.demo.fcmcodec import decode

    sub = make_sub(world, "val", [point("a", "bits/qp32.266", decoded="bits/dec.npz",
                                        decoded_md5="0" * 32,
                                        original_features="bits/original.npz")], TORCH_TASK)
    decode(sub / "bits/qp32.266", sub / "bits/qp32.side", sub / "bits/dec.npz", width=416,
           height=240, frames=33)
    r = cli("validate", sub)
    assert r.code == 1 and "decoded features dec.npz: MD5 " in r.out and "differs from " \
        "decoded_md5 00000000000000000000000000000000" in r.out
    np.savez(sub / "bits/dec.npz", a=np.zeros((33, 8, 60, 104), np.float32))
    np.savez(sub / "bits/original.npz", a=np.zeros((3, 8, 60, 104), np.float32),
             b=np.zeros((3, 3, 30, 52), np.float32))
    r = cli("validate", sub)
    assert r.code == 1
    assert "decoded features: dec.npz: tensor(s) 'b' missing" in r.out
    assert "original features original.npz: tensor 'a' has 3 frame(s), expected 33" in r.out

    # a torch part 2 needs decoded features; features need a split point
    pixels = make_sub(world, "pix", [point("a", "bits/qp32.266")], TORCH_TASK)
    manifest = json.loads((pixels / "submission.yaml").read_text())
    manifest["decoder"]["output"] = "pixels"
    (pixels / "submission.yaml").write_text(json.dumps(manifest))
    r = cli("validate", pixels)
    assert r.code == 1 and "the decoder outputs pixels" in r.out and "'torch' adapter reads " \
        "features: use command" in r.out
    nosplit = make_sub(world, "nosplit", [point("a", "bits/qp32.266")], TORCH_TASK)
    (nosplit / "ed-nosplit.yaml").write_text((nosplit / "ed-nosplit.yaml").read_text().replace(
        "            split_point: demo-colour-split}", "}"))
    r = cli("validate", nosplit)
    assert r.code == 1 and "names no split point for SynthStreet" in r.out
    manifest["decoder"]["output"] = "tensors"
    (pixels / "submission.yaml").write_text(json.dumps(manifest))
    r = cli("validate", pixels)
    assert r.code == 2 and "field 'output': expected one of pixels, features" in r.err
