"""The demo image set SynthImages: generator, Open Images GT, image codec, image task network."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vcmctc.datasets.openimages import OpenImagesGT, load_ground_truth, load_predictions
from vcmctc.demo import images, scene, tasknet, vvc
from vcmctc.errors import UserError
from vcmctc.evaluators.openimages import evaluate
from vcmctc.media.yuv import YuvFormat, to_rgb


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def image_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthimages")
    paths = images.write_image_set(root)
    return root, paths


@pytest.fixture(scope="module")
def gt(image_set):
    _, paths = image_set
    return load_ground_truth(paths["boxes"], paths["labels"])


# --------------------------------------------------------------------------- generator
def test_same_bytes_twice(tmp_path, image_set):
    root, _ = image_set
    images.write_image_set(tmp_path)
    assert _files(tmp_path) == _files(root)
    assert len(list((root / "images").glob("*.png"))) == images.N_IMAGES


def test_same_pixels_in_a_fresh_process():
    code = ("import hashlib; from vcmctc.demo.images import make_image;"
            "print(hashlib.md5(make_image(3).rgb.tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == hashlib.md5(images.make_image(3).rgb.tobytes()).hexdigest()


def test_png_holds_the_pixels(image_set):
    root, _ = image_set
    im = images.make_image(5)
    assert im.rgb.shape == (images.HEIGHT, images.WIDTH, 3) and im.rgb.dtype == np.uint8
    assert np.array_equal(images.read_png(root / "images" / f"{im.image_id}.png"), im.rgb)
    ids = [images.image_id(i) for i in range(images.N_IMAGES)]
    assert len(set(ids)) == len(ids) and all(len(i) == 16 for i in ids)


def test_ground_truth_loads_and_has_every_rule(image_set, gt):
    root, paths = image_set
    assert set(gt.images) == {images.image_id(i) for i in range(images.N_IMAGES)}
    assert gt.classes == ["person", "car", "sports_ball"]
    assert gt.dropped == {}
    boxes = np.concatenate([g.boxes for g in gt.images.values()])
    assert ((boxes >= 0) & (boxes <= 1)).all()
    assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()
    group_of = {(k, gt.classes[c]) for k, g in gt.images.items()
                for c, is_group in zip(g.labels, g.group_of) if is_group}
    assert {c for _, c in group_of} == {"person", "sports_ball"} and len(group_of) >= 4
    # verified labels: every class with a box, some classes verified absent, some unverified
    import pandas as pd

    labels = pd.read_csv(paths["labels"], dtype={"ImageID": str})
    assert set(labels.Confidence) == {0, 1}
    for key, g in gt.images.items():
        assert set(g.labels.tolist()) <= set(g.verified.tolist())
    unverified = [k for k, g in gt.images.items() if len(g.verified) < len(gt.classes)]
    assert len(unverified) >= 4
    empty = [k for k, g in gt.images.items() if len(g.labels) == 0]
    assert empty and all(len(gt.images[k].verified) for k in empty)


def _pixel_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def test_ground_truth_matches_what_is_drawn():
    unoccluded = groups = 0
    for index in range(images.N_IMAGES):
        im = images.make_image(index)
        drawn = set(np.unique(im.object_map).tolist()) - {0}
        covered = [t for b in im.boxes for t in b.members]
        assert len(covered) == len(set(covered)) and set(covered) <= drawn
        for b in im.boxes:
            boxes = [_pixel_box(im.object_map == t) for t in b.members]
            for x0, y0, x1, y1 in boxes:  # the seen pixels of each member lie in the box
                assert b.x0 <= x0 and b.y0 <= y0 and x1 <= b.x1 and y1 <= b.y1
            if b.group_of:
                groups += 1
                assert len(b.members) >= 5
            elif boxes[0] == (b.x0, b.y0, b.x1, b.y1):
                unoccluded += 1
        classes = {b.category_id for b in im.boxes}
        assert {c for c, conf in im.labels if conf == 1} == classes
        if index % 6 == 5:  # balls drawn but their class not verified: no ball box or label
            balls = [t for t in drawn if t not in covered]
            assert balls and scene.BALL not in classes
            assert scene.BALL not in dict(im.labels)
    assert groups >= 4 and unoccluded > 40


def test_rgb_to_yuv420_bt709_limited():
    # BT.709 limited range: white 235/128/128, black 16/128/128, red 63/102/240, blue 32/240/118
    rgb = np.zeros((2, 8, 3), np.uint8)
    rgb[:, 0:2] = 255
    rgb[:, 4:6] = (255, 0, 0)
    rgb[:, 6:8] = (0, 0, 255)
    y, u, v = images.rgb_to_yuv420(rgb)
    assert y[0].tolist() == [235, 235, 16, 16, 63, 63, 32, 32]
    assert u[0].tolist() == [128, 128, 102, 240] and v[0].tolist() == [128, 128, 240, 118]
    with pytest.raises(UserError, match="even image size"):
        images.rgb_to_yuv420(np.zeros((3, 4, 3), np.uint8))


def test_rgb_round_trip_is_close():
    im = images.make_image(1)
    y, u, v = images.rgb_to_yuv420(im.rgb)
    back = to_rgb(y, u, v, YuvFormat(images.WIDTH, images.HEIGHT))
    diff = np.abs(back.astype(int) - im.rgb.astype(int))
    # rounding to 8 bits on both ways: off by more than 1 only where rounding errors of the
    # three planes add up (measured: 14 of 230400 values, at most 4)
    assert diff.max() <= 4 and (diff <= 1).mean() > 0.999
    for a, b in zip((y, u, v), images.rgb_to_yuv420(back)):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


# --------------------------------------------------------------------------- task network
def test_detector_scores_high_on_the_originals(cli, image_set, tmp_path):
    root, paths = image_set
    pred = tmp_path / "pred.csv"
    assert tasknet.main(["--task", "object-detection", "--images", str(root / "images"),
                         "--output", str(pred)]) == 0
    r = cli("score", "openimages", "--gt-boxes", paths["boxes"], "--gt-labels", paths["labels"],
            "--pred", pred, "--format", "json")
    assert r.code == 0, r.err
    result = r.json()
    # measured: 100.0 (every GT box found first; balls of unverified images ignored)
    assert result["mAP@0.5"] >= 95.0
    assert result["counts"]["unverified"] > 0  # the unverified-class rule is exercised
    assert result["counts"]["images_pred"] <= images.N_IMAGES


def test_task_network_output_parses(image_set, gt, tmp_path):
    root, _ = image_set
    out = tmp_path / "sub" / "pred.csv"
    code = subprocess.run([sys.executable, "-m", "vcmctc.demo.tasknet", "--task",
                           "object-detection", "--images", str(root / "images"), "--output",
                           str(out)], capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == images.PRED_HEADER
    preds = load_predictions(out, gt)
    assert sum(len(p.scores) for p in preds.values()) == len(lines) - 1
    assert set(preds) <= set(gt.images)
    for p in preds.values():
        assert (p.labels >= 0).all()  # "sports ball" matches "sports_ball"
        assert ((p.scores > 0) & (p.scores <= 1)).all()
    direct = images.detect_images(root / "images")
    assert lines[1:] == direct


def test_task_network_bad_input(tmp_path, capsys):
    assert images.main(["--images", str(tmp_path / "none"), "--output",
                        str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "none: not a folder" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    assert images.main(["--images", str(tmp_path / "empty"), "--output",
                        str(tmp_path / "o.csv")]) == 2
    assert "no .png image" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    assert images.main(["--images", str(tmp_path / "bad"), "--output",
                        str(tmp_path / "o.csv")]) == 2
    assert "x.png: cannot read the image" in capsys.readouterr().err


# --------------------------------------------------------------------------- coding
def _run_argv(bitstream: Path, output: Path) -> None:
    argv = [a.replace("{bitstream}", str(bitstream)).replace("{output}", str(output))
            for a in images.image_decoder_argv()]
    subprocess.run(argv, check=True, capture_output=True)


def test_decoder_argv_is_one_ffmpeg_call():
    argv = images.image_decoder_argv("/opt/ffmpeg")
    assert argv[0] == "/opt/ffmpeg" and "python" not in " ".join(argv).lower()
    assert argv.count("{bitstream}") == 1 and argv.count("{output}") == 1
    assert argv[argv.index("-pix_fmt") + 1] == "rgb24"
    assert images.image_decoder_argv()[0] == vvc.ffmpeg_exe()


def _decode_10bit(bitstream: Path) -> np.ndarray:
    raw = subprocess.run([vvc.ffmpeg_exe(), "-loglevel", "error", "-f", "vvc", "-i",
                          str(bitstream), "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-"],
                         capture_output=True, check=True).stdout
    w, h = images.WIDTH, images.HEIGHT
    x = np.frombuffer(raw, "<u2")
    n, c = w * h, w * h // 4
    fmt = YuvFormat(w, h, bit_depth=10)
    return to_rgb(x[:n].reshape(h, w), x[n:n + c].reshape(h // 2, w // 2),
                  x[n + c:n + 2 * c].reshape(h // 2, w // 2), fmt)


@pytest.mark.parametrize("foreground", [False, True])
def test_encode_and_decode_one_image(image_set, tmp_path, foreground):
    root, _ = image_set
    im = images.make_image(2)
    png = root / "images" / f"{im.image_id}.png"
    bs = tmp_path / f"{im.image_id}.266"
    info = images.encode_image(png, 32, bs, foreground)
    assert info["bitstream_bytes"] == bs.stat().st_size > 0
    assert info["pixels"] == images.WIDTH * images.HEIGHT
    assert info["enc_time_s"] >= info["vvc_wall_s"] > 0
    again = images.encode_image(png, 32, tmp_path / "again.266", foreground)
    assert (tmp_path / "again.266").read_bytes() == bs.read_bytes()
    out = tmp_path / "decoded.png"
    _run_argv(bs, out)
    decoded = images.read_png(out)
    assert decoded.shape == im.rgb.shape
    # The PNG is to_rgb of the 10-bit decoded picture to within 1 (swscale's fixed point), and
    # the demo VVC decoder's 8-bit output through to_rgb to within 2 (it rounds to 8 bits first).
    diff10 = np.abs(decoded.astype(int) - _decode_10bit(bs).astype(int))
    assert diff10.max() <= 1 and (diff10 == 0).mean() > 0.95
    ref = images.decode_image_reference(bs)
    assert np.abs(decoded.astype(int) - ref.astype(int)).max() <= 2
    if foreground:
        assert 0 < info["boxes"] and again["boxes"] == info["boxes"]
        grey = decoded.astype(int).max(axis=2) <= 20  # black background
        assert grey.mean() > 0.5
        anchor = images.encode_image(png, 32, tmp_path / "anchor.266", False)
        assert info["bitstream_bytes"] < anchor["bitstream_bytes"] / 2
    else:
        assert info["boxes"] == 0
        assert np.abs(decoded.astype(int) - im.rgb.astype(int)).mean() < 6


def test_colour_description_in_the_bitstream(image_set, tmp_path):
    root, _ = image_set
    png = root / "images" / f"{images.image_id(0)}.png"
    bs = tmp_path / "a.266"
    images.encode_image(png, 37, bs)
    probe = subprocess.run([vvc.ffmpeg_exe(), "-hide_banner", "-f", "vvc", "-i", str(bs)],
                           capture_output=True, text=True).stderr
    assert "yuv420p10le(tv, bt709" in probe
    # the colour description does not change the pictures
    yuv = tmp_path / "a.yuv"
    yuv.write_bytes(b"".join(p.tobytes() for p in images.rgb_to_yuv420(images.read_png(png))))
    plain = vvc.encode_vvc(yuv, images.WIDTH, images.HEIGHT, 1, 1.0, 37, tmp_path / "p.266")
    vvc.decode_vvc(plain.output, tmp_path / "p.yuv")
    vvc.decode_vvc(bs, tmp_path / "b.yuv")
    assert (tmp_path / "p.yuv").read_bytes() == (tmp_path / "b.yuv").read_bytes()
    with pytest.raises(UserError, match="colour options"):
        vvc.encode_vvc(yuv, images.WIDTH, images.HEIGHT, 1, 1.0, 37, tmp_path / "x.266",
                       colour=("-vf", "null"))


def test_decode_errors(tmp_path):
    junk = tmp_path / "junk.266"
    junk.write_bytes(b"not a bitstream")
    with pytest.raises(UserError, match="junk.266: ffmpeg could not decode"):
        images.decode_image(junk, tmp_path / "o.png")
    with pytest.raises(UserError, match="image not found"):
        images.encode_image(tmp_path / "missing.png", 32, tmp_path / "o.266")


def test_rate_and_accuracy_fall_with_the_qp(image_set, gt, tmp_path):
    root, _ = image_set
    subset = sorted(images.image_id(i) for i in range(8))
    src = tmp_path / "src"
    src.mkdir()
    for key in subset:
        (src / f"{key}.png").write_bytes((root / "images" / f"{key}.png").read_bytes())
    part = OpenImagesGT(gt.classes, {k: gt.images[k] for k in subset})
    bpp, m_ap = {}, {}
    for foreground in (False, True):
        for qp in (27, 47):
            run = images.encode_image_set(src, qp, tmp_path / f"bs{foreground}{qp}", foreground,
                                          jobs=2)
            assert sorted(run["images"]) == subset
            assert run["bits"] == 8 * sum((tmp_path / f"bs{foreground}{qp}" / f"{k}.266")
                                          .stat().st_size for k in subset)
            assert run["pixels"] == 8 * images.WIDTH * images.HEIGHT
            dec = tmp_path / f"dec{foreground}{qp}"
            for key in subset:
                images.decode_image(tmp_path / f"bs{foreground}{qp}" / f"{key}.266",
                                    dec / f"{key}.png")
            pred = images.write_predictions(dec, tmp_path / f"p{foreground}{qp}.csv")
            bpp[foreground, qp] = run["bpp"]
            m_ap[foreground, qp] = evaluate(part, load_predictions(pred, part)).map
    for foreground in (False, True):
        assert bpp[foreground, 47] < bpp[foreground, 27]
        assert m_ap[foreground, 47] < m_ap[foreground, 27]
    assert bpp[True, 27] < bpp[False, 27] / 2  # foreground coding drops the background
