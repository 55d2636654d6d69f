"""The demo content: synthetic sequences + GT, demo detector, IoU tracker, VVC helpers, fgcodec."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vcmctc.datasets.coco import load_coco_results
from vcmctc.datasets.mot import load_mot_sequence, parse_mot_text, read_mot_txt
from vcmctc.datasets.sfu import load_sfu_json, load_sfu_txt
from vcmctc.demo import detector, fgcodec, scene, tracker, vvc
from vcmctc.demo.detector import Detection
from vcmctc.errors import UserError
from vcmctc.evaluators.coco import evaluate_coco
from vcmctc.evaluators.mot import evaluate_mot


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def det_seq():
    return scene.make_detection_sequence("DetTest", seed=5, frames=9)


@pytest.fixture(scope="module")
def trk_seq():
    return scene.make_tracking_sequence("TrkTest", seed=5, frames=40)


# --------------------------------------------------------------------------- scene
def _gt_files(seq, root: Path) -> dict[str, bytes]:
    paths = scene.write_sequence_files(seq, root)
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = p.read_bytes()
    assert paths["yuv"].stat().st_size == seq.frames * seq.frame_bytes
    return out


def test_same_seed_same_bytes(tmp_path, det_seq, trk_seq):
    again = scene.make_detection_sequence("DetTest", seed=5, frames=9)
    assert again.md5() == det_seq.md5()
    assert _gt_files(det_seq, tmp_path / "a") == _gt_files(again, tmp_path / "b")
    t2 = scene.make_tracking_sequence("TrkTest", seed=5, frames=40)
    assert _gt_files(trk_seq, tmp_path / "c") == _gt_files(t2, tmp_path / "d")
    assert scene.make_detection_sequence("DetTest", seed=6, frames=9).md5() != det_seq.md5()


def test_same_bytes_in_a_fresh_process(det_seq):
    code = ("from vcmctc.demo.scene import make_detection_sequence as m;"
            "print(m('DetTest', seed=5, frames=9).md5())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == det_seq.md5()


def test_yuv_layout_and_ranges(det_seq):
    data = det_seq.yuv_bytes()
    w, h = det_seq.width, det_seq.height
    assert len(data) == det_seq.frames * w * h * 3 // 2
    frame1 = np.frombuffer(data, np.uint8)[w * h * 3 // 2:w * h * 3]
    assert np.array_equal(frame1[:w * h].reshape(h, w), det_seq.y[1])
    assert np.array_equal(frame1[w * h:w * h * 5 // 4].reshape(h // 2, w // 2), det_seq.u[1])
    assert det_seq.y.min() >= 16 and det_seq.y.max() <= 235  # limited range
    assert det_seq.u.min() >= 16 and det_seq.v.max() <= 240


def _visible_objects(seq, frame: int) -> dict[int, tuple[int, int, int, int, int]]:
    """Per track id seen in the label map: (pixel count, x0, y0, x1, y1) of its visible pixels."""
    lab = seq.labels[frame]
    out = {}
    for tid in np.unique(lab):
        if tid == 0:
            continue
        rows, cols = np.nonzero(lab == tid)
        out[int(tid)] = (rows.size, cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    return out


@pytest.mark.parametrize("which", ["det_seq", "trk_seq"])
def test_gt_matches_what_is_drawn(which, request):
    seq = request.getfixturevalue(which)
    areas = {p.track_id: int(p.sprite.mask.sum()) for p in seq.plans}
    by_frame: dict[int, dict[int, scene.ObjectBox]] = {}
    for o in seq.objects:
        assert 0 <= o.x and 0 <= o.y and o.w > 0 and o.h > 0
        assert o.x + o.w <= seq.width and o.y + o.h <= seq.height
        assert 0.0 <= o.visibility <= o.in_frame <= 1.0
        by_frame.setdefault(o.frame, {})[o.track_id] = o
    fully_visible = 0
    for t in range(seq.frames):
        seen = _visible_objects(seq, t)
        boxes = by_frame.get(t, {})
        assert set(seen) <= set(boxes)  # every drawn object has a box
        for tid, o in boxes.items():
            count = seen.get(tid, (0,))[0]
            assert o.visibility == round(count / areas[tid], 6)
            if o.visibility == 1.0:  # unoccluded, inside the frame: box = its pixels' box
                fully_visible += 1
                assert seen[tid][1:] == (o.x, o.y, o.x + o.w, o.y + o.h)
        # the detection GT of this frame = drawn objects seen enough, independently recounted
        expected = sorted(tid for tid, (n, x0, y0, x1, y1) in seen.items()
                          if n / areas[tid] >= scene.MIN_VISIBILITY
                          and boxes[tid].w >= scene.MIN_BOX and boxes[tid].h >= scene.MIN_BOX)
        got = sorted(o.track_id for o in seq.detection_boxes() if o.frame == t)
        assert got == expected
    assert fully_visible > seq.frames  # the check above really ran


def test_sfu_files_load_back(tmp_path, det_seq):
    folder = det_seq.write_sfu_txt(tmp_path / "txt")
    assert sorted(p.name for p in folder.iterdir())[:2] == ["DetTest_000.txt", "DetTest_001.txt"]
    gt = load_sfu_txt(folder, width=det_seq.width, height=det_seq.height,
                      frames=det_seq.frames, total=det_seq.frames)
    ref = det_seq.coco_gt()
    assert len(gt["annotations"]) == len(ref["annotations"]) > 5 * det_seq.frames
    for a, b in zip(gt["annotations"], ref["annotations"]):
        assert (a["image_id"], a["category_id"]) == (b["image_id"], b["category_id"])
        # 6 decimals of a normalised coordinate: error <= 0.5e-6 * 416 per value
        assert np.allclose(a["bbox"], b["bbox"], atol=1e-3)
    assert {a["category_id"] for a in gt["annotations"]} == {1, 3, 37}
    js = load_sfu_json(det_seq.write_sfu_json(tmp_path / "gt.json"), frames=det_seq.frames,
                       width=det_seq.width, height=det_seq.height)
    assert [a["bbox"] for a in js["annotations"]] == [b["bbox"] for b in ref["annotations"]]
    assert [a["category_id"] for a in js["annotations"]] == [
        b["category_id"] for b in ref["annotations"]]


def test_mot_files_load_back(tmp_path, trk_seq):
    seq_dir = trk_seq.write_mot(tmp_path / "TrkTest", first_frame=1)
    gt, info = load_mot_sequence(seq_dir, first_frame=1)
    assert (info.seq_length, info.im_width, info.im_height) == (40, 416, 240)
    boxes = trk_seq.tracking_boxes()
    assert len(gt) == len(boxes) > 40
    assert gt.frame.min() >= 1 and gt.frame.max() <= 40
    assert set(gt.conf.tolist()) == {1.0} and set(gt.cls.tolist()) == {1.0}
    assert ((gt.visibility >= 0) & (gt.visibility <= 1)).all()
    persons = {p.track_id for p in trk_seq.plans if p.category_id == scene.PERSON}
    assert set(gt.id.tolist()) <= persons  # the car is not tracking GT
    assert (gt.visibility < 0.5).any()  # people do occlude each other when they cross


def test_demo_set_properties(tmp_path, capsys):
    assert scene.main(["--output", str(tmp_path), "SynthStreet", "SynthCrossing"]) == 0
    assert "SynthStreet: 33 frames, md5 " in capsys.readouterr().out
    street = scene.make_demo_sequence("SynthStreet")
    assert (street.yuv_bytes() == (tmp_path / "yuv" / "SynthStreet_416x240_30.yuv").read_bytes())
    assert len(list((tmp_path / "sfu" / "SynthStreet").glob("*.txt"))) == 33
    assert (tmp_path / "mot" / "SynthCrossing" / "gt" / "gt.txt").is_file()
    assert {o.category_id for o in street.detection_boxes()} == {1, 3, 37}
    first = {o.track_id for o in street.objects if o.frame == 0}
    assert {o.track_id for o in street.objects} - first  # some objects enter later
    assert any(o.in_frame < 1 for o in street.objects)  # ... and some cross the frame edge
    assert scene.main(["--output", str(tmp_path), "Nope"]) == 2
    assert "unknown demo sequence 'Nope'" in capsys.readouterr().err


def test_unknown_demo_sequence():
    with pytest.raises(UserError, match="unknown demo sequence 'Nope'"):
        scene.make_demo_sequence("Nope")


# --------------------------------------------------------------------------- detector
def test_detector_quality_on_the_original(det_seq):
    gt = det_seq.coco_gt()
    dets = detector.to_coco_results([detector.detect_frame(det_seq.y[i], det_seq.u[i],
                                                          det_seq.v[i])
                                     for i in range(det_seq.frames)])
    r = evaluate_coco(gt, dets)
    # measured: AP 83.87, AP50 94.39 (seed 5, 9 frames)
    assert r["AP50"] >= 90.0
    assert r["AP"] >= 78.0


def test_detector_ignores_black_and_grey():
    y = np.full((64, 96), 16, np.uint8)
    u = np.full((32, 48), 128, np.uint8)
    assert detector.detect_frame(y, u, u.copy()) == []
    rng = np.random.default_rng(0)
    y = rng.integers(16, 236, (64, 96)).astype(np.uint8)
    u = (128 + rng.integers(-5, 6, (32, 48))).astype(np.uint8)
    assert detector.detect_frame(y, u, u.copy()) == []


def test_detector_finds_a_painted_car():
    # a 40x20 blue rectangle at (20, 10) on grey: one car box, exactly there
    y = np.full((64, 96), 120, np.uint8)
    u = np.full((32, 48), 128, np.uint8)
    v = u.copy()
    _, cb, cr = scene.PALETTE[3].ycbcr  # blue (car)
    u[5:15, 10:30] = round(cb)
    v[5:15, 10:30] = round(cr)
    (d,) = detector.detect_frame(y, u, v)
    assert (d.x, d.y, d.w, d.h, d.category_id) == (20, 10, 40, 20, scene.CAR)
    assert 0 < d.score <= 1


def test_detector_cli(tmp_path, det_seq):
    yuv = det_seq.write_yuv(tmp_path / "in.yuv")
    out = tmp_path / "dets.json"
    code = detector.main(["--yuv", str(yuv), "--width", "416", "--height", "240",
                          "--frames", "3", "--first-frame", "0", "--output", str(out)])
    assert code == 0
    gt = det_seq.coco_gt()
    dets = load_coco_results(out, gt)
    assert {d["image_id"] for d in dets} == {0, 1, 2}
    direct = detector.to_coco_results(detector.detect_yuv(yuv, 416, 240, 3))
    assert json.loads(out.read_text()) == direct


def test_detector_cli_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.yuv"
    bad.write_bytes(b"\0" * 1000)
    code = detector.main(["--yuv", str(bad), "--width", "416", "--height", "240",
                          "--output", str(tmp_path / "o.json")])
    err = capsys.readouterr().err
    assert code == 2 and "bad.yuv" in err and "not a whole number" in err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- tracker
def _det(x, y=50, w=10, h=26, cid=scene.PERSON, score=0.9):
    return Detection(x, y, w, h, cid, score)


def test_tracker_keeps_ids_through_a_crossing():
    # A walks right (x = 10 + 5t), B walks left (x = 100 - 5t), same row, 10x26 boxes; they
    # meet at t = 9. B is hidden behind A at t = 8, 9, 10 (only A is detected). Constant-velocity
    # prediction puts B at x = 45 at t = 11, where it reappears: same id, no switch.
    frames = []
    for t in range(15):
        dets = [_det(10 + 5 * t)]
        if t not in (8, 9, 10):
            dets.append(_det(100 - 5 * t))
        frames.append(dets)
    rows = tracker.track(frames)
    ids = {}
    for r in rows:
        ids.setdefault(r.track_id, []).append((r.frame, r.x))
    assert sorted(ids) == [1, 2]
    assert ids[1] == [(t, 10 + 5 * t) for t in range(15)]
    assert ids[2] == [(t, 100 - 5 * t) for t in range(15) if t not in (8, 9, 10)]
    # GT: both people in all 15 frames (30 rows). The tracker misses B 3 times and makes no
    # other error: MOTA = 1 - 3 / 30 = 90 %, no ID switch.
    gt = parse_mot_text("".join(f"{t + 1},{k},{x},50,10,26,1,1,1\n" for t in range(15)
                                for k, x in ((1, 10 + 5 * t), (2, 100 - 5 * t))))
    pred = parse_mot_text("\n".join(tracker.mot_lines(rows, first_frame=1)))
    r = evaluate_mot(gt, pred, protocol="plain", hota=False)
    assert (r["FN"], r["FP"], r["IDSW"]) == (3, 0, 0)
    assert r["MOTA"] == pytest.approx(90.0, abs=1e-9)


def test_tracker_birth_and_death_rules():
    cfg = tracker.TrackerConfig(min_hits=2, max_age=2)
    frames = [[] for _ in range(12)]
    frames[3] = [_det(200)]  # a one-frame blip: never confirmed, never reported
    for t in (0, 1, 2):
        frames[t].append(_det(10 + t))
    for t in (6, 7):  # gap of 3 frames > max_age: the same place gets a new id
        frames[t].append(_det(10 + t))
    frames[9] = [_det(50, cid=scene.CAR)]  # not a tracked class
    frames[10] = [_det(80, score=0.1), _det(81, score=0.1)]  # below min_score
    rows = tracker.track(frames, cfg)
    assert [(r.frame, r.track_id) for r in rows] == [(0, 1), (1, 1), (2, 1), (6, 2), (7, 2)]


def test_tracker_greedy_association():
    # IoU (tracks x detections) [[0.9, 0.8], [0.8, 0.0]]: greedy takes (0, 0) first; track 1's
    # only candidate is then gone, so it stays unmatched (an optimal assignment would pair
    # (0, 1) and (1, 0) for a larger total, 1.6 > 0.9).
    iou = np.array([[0.9, 0.8], [0.8, 0.0]])
    assert tracker._greedy_pairs(iou, 0.25) == [(0, 0)]
    # ties: lower track index first, then lower detection index; threshold is inclusive
    iou = np.array([[0.5, 0.5], [0.5, 0.25]])
    assert tracker._greedy_pairs(iou, 0.25) == [(0, 0), (1, 1)]
    assert tracker._greedy_pairs(np.zeros((0, 3)), 0.25) == []


def test_tracker_on_a_rendered_crossing(tmp_path, trk_seq):
    yuv = trk_seq.write_yuv(tmp_path / "trk.yuv")
    out = tmp_path / "trk.txt"
    code = tracker.main(["--yuv", str(yuv), "--width", "416", "--height", "240",
                         "--frames", "40", "--first-frame", "1", "--output", str(out)])
    assert code == 0
    pred = read_mot_txt(out, first_frame=1, seq_length=40)
    gt, _ = load_mot_sequence(trk_seq.write_mot(tmp_path / "gt"), first_frame=1)
    r = evaluate_mot(gt, pred, protocol="plain", hota=False)
    # measured: MOTA 97.01 (234 GT, 0 FP, 7 FN), IDSW 0
    assert r["MOTA"] >= 92.0
    assert r["IDSW"] <= 1


# --------------------------------------------------------------------------- VVC
@pytest.fixture(scope="module")
def small_yuv(tmp_path_factory, det_seq):
    path = tmp_path_factory.mktemp("vvc") / "small.yuv"
    seq = scene.make_detection_sequence("Small", seed=3, width=192, height=128, frames=5,
                                        people=2, cars=1, balls=1)
    seq.write_yuv(path)
    return seq, path


def test_vvc_round_trip_and_rate_order(tmp_path, small_yuv):
    seq, path = small_yuv
    sizes, psnr = {}, {}
    for qp in (27, 42):
        run = vvc.encode_vvc(path, 192, 128, 5, 30, qp, tmp_path / f"q{qp}.266")
        assert run.size_bytes == (tmp_path / f"q{qp}.266").stat().st_size > 0
        dec = vvc.decode_vvc(tmp_path / f"q{qp}.266", tmp_path / f"q{qp}.yuv", width=192,
                             height=128, frames=5)
        assert dec.frames == 5 and dec.size_bytes == 5 * seq.frame_bytes
        a = np.fromfile(path, np.uint8).astype(float)
        b = np.fromfile(tmp_path / f"q{qp}.yuv", np.uint8).astype(float)
        sizes[qp], psnr[qp] = run.size_bytes, 10 * np.log10(255 ** 2 / np.mean((a - b) ** 2))
    assert sizes[42] < sizes[27]
    assert psnr[42] < psnr[27] and psnr[27] > 33
    again = vvc.encode_vvc(path, 192, 128, 5, 30, 27, tmp_path / "again.266")
    assert _md5(again.output.read_bytes()) == _md5((tmp_path / "q27.266").read_bytes())


def test_vvc_bad_input(tmp_path, small_yuv):
    _, path = small_yuv
    with pytest.raises(UserError, match="has 5 frames, need 9"):
        vvc.encode_vvc(path, 192, 128, 9, 30, 27, tmp_path / "x.266")
    with pytest.raises(UserError, match="not a whole number"):
        vvc.encode_vvc(path, 190, 128, 1, 30, 27, tmp_path / "x.266")
    with pytest.raises(UserError, match="QP must be"):
        vvc.encode_vvc(path, 192, 128, 1, 30, 64, tmp_path / "x.266")
    with pytest.raises(UserError, match="preset"):
        vvc.encode_vvc(path, 192, 128, 1, 30, 30, tmp_path / "x.266", preset="turbo")
    junk = tmp_path / "junk.266"
    junk.write_bytes(b"not a bitstream")
    with pytest.raises(UserError, match="junk.266"):
        vvc.decode_vvc(junk, tmp_path / "o.yuv")


# --------------------------------------------------------------------------- fgcodec
def test_side_info_round_trip_random():
    rng = np.random.default_rng(1)
    cids = [1, 3, 37, 90, 62]
    for trial in range(20):
        width, height = (416, 240) if trial % 2 else (1922, 1080)
        frames = []
        for _ in range(int(rng.integers(1, 30))):
            boxes = []
            for _ in range(int(rng.integers(0, 12))):
                x0 = int(rng.integers(0, width // 4)) * 4
                y0 = int(rng.integers(0, height // 4)) * 4
                x1 = min(width, x0 + 4 * int(rng.integers(1, 40)))
                y1 = min(height, y0 + 4 * int(rng.integers(1, 40)))
                boxes.append((cids[int(rng.integers(0, 5))], x0, y0, x1, y1))
            frames.append(tuple(boxes))
        info = fgcodec.SideInfo(width, height, 4, tuple(frames))
        assert fgcodec.unpack_side_info(fgcodec.pack_side_info(info)) == info


def test_side_info_bad_reference():
    import zlib

    # one frame with one box that refers to box 5 of a previous frame that does not exist
    header = fgcodec._HEADER.pack(b"VCMFG", 1, 416, 240, 1, 4, 1)
    blob = header + zlib.compress(bytes([1, 5, 0, 0, 0, 0]))
    with pytest.raises(UserError, match="reference to box 5 of the previous frame"):
        fgcodec.unpack_side_info(blob, source="b.side")


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"XXXXX" + b[5:], "magic"),
    (lambda b: b[:8], "too short"),
    (lambda b: b[:-3], "corrupt"),
    (lambda b: b[:10] + (7).to_bytes(2, "little") + b[12:], "ends before frame"),
])
def test_side_info_malformed(mutate, message):
    info = fgcodec.SideInfo(416, 240, 4, (((1, 0, 0, 8, 8),), ()))
    blob = fgcodec.pack_side_info(info)
    with pytest.raises(UserError, match=message) as exc:
        fgcodec.unpack_side_info(mutate(blob), source="a.side")
    assert str(exc.value).startswith("a.side")


def test_foreground_boxes_enlarge_and_align():
    # a 10x26 box at (21, 33): margin max(4, ceil(0.1 * side)) = 4 and 3 -> 4 per side, so
    # (17, 29)-(35, 63), aligned outwards to 4 px: (16, 28)-(36, 64); clipped at the frame edge
    boxes = fgcodec.foreground_boxes([_det(21, 33), _det(0, 220, 30, 20, cid=37),
                                      _det(5, 5, score=0.01)], 416, 240)
    assert boxes == ((1, 16, 28, 36, 64), (37, 0, 216, 36, 240))


def test_fgcodec_round_trip(tmp_path, small_yuv):
    seq, path = small_yuv
    bs, side, out = tmp_path / "fg.266", tmp_path / "fg.side", tmp_path / "fg.yuv"
    code = fgcodec.main(["encode", "--yuv", str(path), "--width", "192", "--height", "128",
                         "--frames", "5", "--fps", "30", "--qp", "32", "--bitstream", str(bs),
                         "--side-info", str(side)])
    assert code == 0
    info = fgcodec.unpack_side_info(side.read_bytes())
    expected = tuple(fgcodec.foreground_boxes(detector.detect_frame(seq.y[i], seq.u[i],
                                                                    seq.v[i]), 192, 128)
                     for i in range(5))
    assert info.boxes == expected and sum(map(len, expected)) >= 5
    args = ["decode", "--bitstream", str(bs), "--side-info", str(side), "--width", "192",
            "--height", "128", "--frames", "5"]
    assert fgcodec.main(args + ["--output", str(out)]) == 0
    assert fgcodec.main(args + ["--output", str(tmp_path / "fg2.yuv")]) == 0
    data = out.read_bytes()
    assert len(data) == 5 * seq.frame_bytes
    assert _md5(data) == _md5((tmp_path / "fg2.yuv").read_bytes())
    frames = np.frombuffer(data, np.uint8).reshape(5, -1)
    for i, boxes in enumerate(info.boxes):
        y = frames[i][:192 * 128].reshape(128, 192)
        u = frames[i][192 * 128:192 * 128 * 5 // 4].reshape(64, 96)
        keep = np.zeros((128, 192), bool)
        for _, x0, y0, x1, y1 in boxes:
            keep[y0:y1, x0:x1] = True
        assert (y[~keep] == 16).all() and (u[~keep[::2, ::2]] == 128).all()
        assert (y[keep] != 16).mean() > 0.9  # the kept objects are really there
    # the task network sees the objects on the decoded foreground video
    dets = detector.detect_yuv(out, 192, 128, 5)
    assert sum(len(d) for d in dets) >= sum(map(len, expected)) - 2


def test_fgcodec_cli_bad_input(tmp_path, capsys):
    code = fgcodec.main(["encode", "--yuv", str(tmp_path / "missing.yuv"), "--width", "192",
                         "--height", "128", "--frames", "5", "--fps", "30", "--qp", "32",
                         "--bitstream", str(tmp_path / "o.266"),
                         "--side-info", str(tmp_path / "o.side")])
    err = capsys.readouterr().err
    assert code == 2 and "missing.yuv: YUV file not found" in err
    assert len(err.strip().splitlines()) == 1


def test_fgcodec_decode_checks_side_info(tmp_path, small_yuv):
    info = fgcodec.SideInfo(192, 128, 4, ((),) * 3)
    side = tmp_path / "three.side"
    side.write_bytes(fgcodec.pack_side_info(info))
    with pytest.raises(UserError, match="side information is for 3 frames"):
        fgcodec.decode(tmp_path / "none.266", side, tmp_path / "o.yuv", 192, 128, 5)


def test_versions_are_reported():
    v = vvc.versions()
    assert v["ffmpeg"] != "unknown" and v["libvvenc"] != "unknown"


def test_demo_content_is_pinned():
    """The demo's content, byte for byte: the sequences as the ``ctc-demo`` anchors were made
    from them (the three video sequences: md5 of the YUV as first released), the pose sequence
    and the image set's pixels. A deliberate change updates these and run.py's STAMP_VERSION."""
    from vcmctc.demo import images, pose

    expected = {"SynthStreet": "12cb4e067deb352f9ad56114a4ee5a93",
                "SynthPark": "40e1ff8ff28aa563361f6b2099272dd6",
                "SynthCrossing": "e6372032cede7f9e1574be98f408fe7f"}
    assert {name: scene.make_demo_sequence(name).md5() for name in expected} == expected
    assert _md5(pose.make_pose_sequence().yuv_bytes()) == "d2f3a1242aae1a8e645333394cd2c411"
    pixels = hashlib.md5()
    for im in images.make_image_set():
        pixels.update(im.rgb.tobytes())
    assert pixels.hexdigest() == "03c6fb6891c7cd6be1f81ed26dcd3d4c"
