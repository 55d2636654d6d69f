"""The demo pose sequence SynthDance: generator, COCO keypoint GT, pose estimator, coding."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from vcmctc.datasets.coco import load_coco_gt, load_coco_results
from vcmctc.demo import detector, fgcodec, pose, scene, tasknet, vvc
from vcmctc.evaluators.coco import evaluate_coco


def _keypoint_ap(gt: dict, results: list[dict]) -> dict:
    """pycocotools' COCOeval(iouType='keypoints') run directly: (AP, AP50)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco = COCO()
    coco.dataset = copy.deepcopy(gt)
    coco.createIndex()
    dt = coco.loadRes(copy.deepcopy(results))
    ev = COCOeval(coco, dt, iouType="keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return {"AP": 100 * ev.stats[0], "AP50": 100 * ev.stats[1]}


@pytest.fixture(scope="module")
def dance():
    return pose.make_pose_sequence()


@pytest.fixture(scope="module")
def written(tmp_path_factory, dance):
    root = tmp_path_factory.mktemp("dance")
    return root, pose.write_pose_sequence(root, dance)


# --------------------------------------------------------------------------- generator
def test_same_bytes_twice_and_in_a_fresh_process(tmp_path, dance, written):
    root, paths = written
    assert paths["yuv"] == root / "yuv" / "SynthDance_416x240_30.yuv"
    assert paths["gt"] == root / "pose" / "SynthDance" / "annotations.json"
    again = pose.write_pose_sequence(tmp_path)
    for role in ("yuv", "gt"):
        assert again[role].read_bytes() == paths[role].read_bytes()
    md5 = hashlib.md5(paths["yuv"].read_bytes()).hexdigest()
    code = ("import hashlib; from vcmctc.demo.pose import make_pose_sequence as m;"
            "print(hashlib.md5(m().yuv_bytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == md5
    assert hashlib.md5(pose.make_pose_sequence(seed=56, frames=3).yuv_bytes()).digest() != \
        hashlib.md5(pose.make_pose_sequence(frames=3).yuv_bytes()).digest()


def test_yuv_layout(dance, written):
    _, paths = written
    w, h = pose.WIDTH, pose.HEIGHT
    data = np.fromfile(paths["yuv"], np.uint8)
    assert data.size == pose.FRAMES * w * h * 3 // 2 and dance.frames == pose.FRAMES == 33
    frame2 = data[2 * w * h * 3 // 2:3 * w * h * 3 // 2]
    assert np.array_equal(frame2[:w * h].reshape(h, w), dance.y[2])
    assert np.array_equal(frame2[w * h * 5 // 4:].reshape(h // 2, w // 2), dance.v[2])
    assert dance.y.min() >= 16 and dance.y.max() <= 235


def test_ground_truth_loads(written):
    from pycocotools.coco import COCO

    _, paths = written
    gt = load_coco_gt(paths["gt"], iou_type="keypoints")
    assert [img["id"] for img in gt["images"]] == list(range(33))
    assert {(img["width"], img["height"]) for img in gt["images"]} == {(416, 240)}
    (cat,) = gt["categories"]
    assert cat["id"] == 1 and cat["name"] == "person" and cat["keypoints"] == [
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
    assert all(1 <= a <= 17 and 1 <= b <= 17 for a, b in cat["skeleton"])
    coco = COCO(str(paths["gt"]))
    assert len(coco.getAnnIds(catIds=[1])) == 33 * pose.DANCERS
    for ann in gt["annotations"]:
        assert ann["category_id"] == 1 and ann["iscrowd"] == 0
        assert ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3]) == 17
        x, y, w, h = ann["bbox"]
        assert 0 < ann["area"] < w * h


def test_ground_truth_matches_what_is_drawn(dance):
    markers = [scene.rgb_to_ycbcr(*c) for c in pose.MARKER_RGB]
    visible = 0
    for ann in dance.annotations:
        t = ann["image_id"]
        kp = np.array(ann["keypoints"]).reshape(17, 3)
        x, y, w, h = ann["bbox"]
        assert (kp[:, 0] >= x).all() and (kp[:, 0] < x + w).all()
        assert (kp[:, 1] >= y).all() and (kp[:, 1] < y + h).all()
        assert 0 <= x and x + w <= pose.WIDTH and 0 <= y and y + h <= pose.HEIGHT
        for k, (px, py, v) in enumerate(kp.tolist()):
            if v == 2:  # the marker's centre pixel shows the marker's luma
                visible += 1
                assert dance.y[t, py, px] == np.floor(markers[k][0] + 0.5)
        others = [a for a in dance.annotations if a["image_id"] == t and a is not ann]
        for o in others:  # dancers never overlap
            ox, oy, ow, oh = o["bbox"]
            assert ox >= x + w or ox + ow <= x or oy >= y + h or oy + oh <= y
    assert visible > 0.95 * 17 * len(dance.annotations)


def test_dancers_move(dance):
    kp = {t: [a["keypoints"] for a in dance.annotations if a["image_id"] == t] for t in (0, 16)}
    assert all(a != b for a, b in zip(kp[0], kp[16]))


# --------------------------------------------------------------------------- pose estimator
def test_estimator_on_the_original(dance):
    gt = dance.coco_gt()
    results = pose.to_coco_results([pose.estimate_frame(dance.y[t], dance.u[t], dance.v[t])
                                    for t in range(dance.frames)])
    r = _keypoint_ap(gt, results)
    # measured: AP 100, AP50 100 (every keypoint within a pixel)
    assert r["AP"] >= 95.0 and r["AP50"] >= 99.0
    assert len(results) == pose.DANCERS * dance.frames  # no false person
    ours = evaluate_coco(gt, results, "keypoints")
    assert ours["AP"] == pytest.approx(r["AP"], abs=1e-9)


def test_estimator_sees_nothing_in_grey_or_black():
    y = np.full((64, 96), 16, np.uint8)
    u = np.full((32, 48), 128, np.uint8)
    assert pose.estimate_frame(y, u, u.copy()) == []
    rng = np.random.default_rng(1)
    y = rng.integers(16, 236, (64, 96)).astype(np.uint8)
    assert pose.estimate_frame(y, u, u.copy()) == []


def test_estimator_finds_a_painted_marker():
    # a person-coloured block with the left-wrist marker colour on 2x2 chroma samples at
    # chroma (20, 30): the wrist is their centre, luma pixel (2*30.5 + 0.5, 2*20.5 + 0.5)
    red = scene._colour("red").ycbcr
    wrist = scene.rgb_to_ycbcr(*pose.MARKER_RGB[pose.KEYPOINTS.index("left_wrist")])
    y = np.full((96, 128), 100, np.uint8)
    u = np.full((48, 64), 128, np.uint8)
    v = u.copy()
    y[20:80, 40:80] = round(red[0])
    u[10:40, 20:40] = round(red[1])
    v[10:40, 20:40] = round(red[2])
    y[40:44, 60:64] = round(wrist[0])
    u[20:22, 30:32] = round(wrist[1])
    v[20:22, 30:32] = round(wrist[2])
    (p,) = pose.estimate_frame(y, u, v)
    k = pose.KEYPOINTS.index("left_wrist")
    assert p.keypoints[k][:2] == (61.5, 41.5) and p.keypoints[k][2] > 0.8
    assert all(s == 0.0 for i, (_, _, s) in enumerate(p.keypoints) if i != k)
    assert p.score == round(p.keypoints[k][2] / 17, 4)


def test_pose_task_network_cli(written, tmp_path):
    _, paths = written
    out = tmp_path / "kp.json"
    argv = ["--task", "pose-estimation", "--yuv", str(paths["yuv"]), "--width", "416",
            "--height", "240", "--frames", "5", "--first-frame", "0", "--output", str(out)]
    proc = subprocess.run([sys.executable, "-m", "vcmctc.demo.tasknet", *argv],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    gt = load_coco_gt(paths["gt"], iou_type="keypoints")
    results = load_coco_results(out, gt, iou_type="keypoints")
    assert {r["image_id"] for r in results} == set(range(5))
    assert all(r["category_id"] == 1 and len(r["keypoints"]) == 51 for r in results)
    shifted = tmp_path / "kp1.json"
    assert tasknet.main(argv[:-3] + ["1", "--output", str(shifted)]) == 0
    assert [r["image_id"] - 1 for r in json.loads(shifted.read_text())] == [
        r["image_id"] for r in json.loads(out.read_text())]


def test_pose_cli_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.yuv"
    bad.write_bytes(b"\0" * 999)
    assert pose.main(["--yuv", str(bad), "--width", "416", "--height", "240", "--output",
                      str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.yuv" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- coding
def test_foreground_coding_keeps_the_dancers(dance):
    """The demo detector finds every dancer in every frame; the foreground codec's boxes hold
    the whole figure."""
    for t in range(dance.frames):
        boxes = fgcodec.foreground_boxes(detector.detect_frame(dance.y[t], dance.u[t],
                                                               dance.v[t]), 416, 240)
        for ann in (a for a in dance.annotations if a["image_id"] == t):
            x, y, w, h = ann["bbox"]
            assert any(b[0] == scene.PERSON and b[1] <= x and b[2] <= y and x + w <= b[3]
                       and y + h <= b[4] for b in boxes), (t, ann["bbox"])


def test_rate_and_accuracy_fall_with_the_qp(written, dance, tmp_path):
    _, paths = written
    frames = 9
    gt = dance.coco_gt()
    gt["images"] = gt["images"][:frames]
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] < frames]
    size, ap = {}, {}
    for codec in ("anchor", "foreground"):
        for qp in (22, 37):
            bs, out = tmp_path / f"{codec}{qp}.266", tmp_path / f"{codec}{qp}.yuv"
            if codec == "anchor":
                size[codec, qp] = vvc.encode_vvc(paths["yuv"], 416, 240, frames, 30, qp,
                                                 bs).size_bytes
                vvc.decode_vvc(bs, out, frames=frames)
            else:
                side = tmp_path / f"{qp}.side"
                info = fgcodec.encode(paths["yuv"], 416, 240, frames, 30, qp, bs, side)
                size[codec, qp] = info["bitstream_bytes"] + info["side_info_bytes"]
                fgcodec.decode(bs, side, out, 416, 240, frames)
            results = pose.to_coco_results(pose.estimate_yuv(out, 416, 240, frames))
            ap[codec, qp] = _keypoint_ap(gt, results)["AP"]
    for codec in ("anchor", "foreground"):
        assert size[codec, 37] < size[codec, 22]
        assert ap[codec, 37] < ap[codec, 22]
        assert ap[codec, 22] >= 90.0  # measured: 100.0 (anchor), 99.41 (foreground)
    assert size["foreground", 22] < size["anchor", 22]
