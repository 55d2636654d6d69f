"""Decoded features: split points and the shapes they imply, the feature file and its checks,
per-frame MD5, conformance statistics and MSE, each against an independent computation."""

from __future__ import annotations

import hashlib
import math
import statistics
import zipfile

import numpy as np
import pytest

from vcmctc.ctc.editions import load_edition
from vcmctc.errors import UserError
from vcmctc.features.conformance import channel_stats, check_layout, inspect
from vcmctc.features.spec import InputSpec, Layout, parse_split_point
from vcmctc.features.store import FeatureFile, FeatureFileError, frame_md5, write_features

# Per-sequence FPN shapes CompressAI-Vision stores for FCM (commit
# 31165daf62af4e7fff02b39ba23b39e8c24278b1, data/mpeg-fcm/SFUHW/fpn-sizes/<sequence>_val.json:
# p2 of 1 x 256 x H x W; p3..p5 halve it).
CAV_SFU_P2 = {"Traffic": (200, 320), "Kimono": (192, 336), "ParkScene": (192, 336),
              "Cactus": (192, 336), "BasketballDrive": (192, 336), "BQTerrace": (192, 336),
              "BasketballDrill": (200, 336), "BQMall": (200, 336), "PartyScene": (200, 336),
              "RaceHorsesC": (200, 336), "BasketballPass": (200, 336), "BQSquare": (200, 336),
              "BlowingBubbles": (200, 336), "RaceHorsesD": (200, 336)}
# data/mpeg-fcm/MPEGTVDTRACKING/fpn-sizes/TVD-01.json and MPEGHIEVE/fpn-sizes/13.json
CAV_TVD = {"36": (256, 76, 136), "61": (512, 38, 68), "74": (1024, 19, 34)}
CAV_HIEVE = {"105": (128, 76, 136), "90": (256, 38, 68), "75": (512, 19, 34)}


# ---------------------------------------------------------------------------------------------
# split points


def test_fcm_edition_shapes_equal_compressai_vision_fpn_sizes():
    ed = load_edition("fcm-fctm-v1")
    for name, (h, w) in CAV_SFU_P2.items():
        seq = ed.sequences[name]
        assert seq.split_point == "rcnn-x101-fpn"
        shapes = ed.split_points[seq.split_point].shapes(seq.width, seq.height)
        assert shapes == {"p2": (256, h, w), "p3": (256, h // 2, w // 2),
                          "p4": (256, h // 4, w // 4),
                          "p5": (256, math.ceil(h / 8), math.ceil(w / 8))}, name
    for seq in ed.sequences.values():
        if seq.dataset == "TVD":
            assert ed.split_points[seq.split_point].shapes(seq.width, seq.height) == CAV_TVD
        if seq.dataset == "HiEve":
            sp = ed.split_points[seq.split_point]
            assert sp.shapes(seq.width, seq.height) == CAV_HIEVE and sp.subsample == 90
    assert load_edition("fcm-jbe2024").sequences["TVD-02"].split_point == "jde-1088x608-tvd"
    assert load_edition("vcm-n0638").split_points == {}


def test_shortest_edge_resize_hand_cases():
    # detectron2 ResizeShortestEdge(800, 1333): 416x240 -> 800 x 1386.7 > 1333: scaled again to
    # 769.04 x 1333 -> int(x + 0.5) = 769 x 1333; padded to 32: 800 x 1344
    spec = InputSpec(resize="shortest-edge", short_edge=800, max_size=1333, divisible_by=32)
    assert spec.resized(416, 240) == (769, 1333) and spec.padded(416, 240) == (800, 1344)
    assert spec.resized(1920, 1080) == (750, 1333)          # 1080 -> 800: 1422.2 > 1333
    assert spec.resized(1000, 1000) == (800, 800) and spec.padded(1000, 1000) == (800, 800)
    assert spec.resized(600, 900) == (1200, 800)            # portrait: the width is short
    assert InputSpec(resize="fixed", width=1088, height=608).padded(1920, 1080) == (608, 1088)
    assert InputSpec(divisible_by=8).padded(100, 50) == (56, 104)


@pytest.mark.parametrize("data, message", [
    ({"network": "n", "tensors": [{"name": "a", "channels": 1, "stride": 1}], "colour": 1},
     "unknown field(s) 'colour'"),
    ({"network": "n", "input": {"resize": "stretch"},
      "tensors": [{"name": "a", "channels": 1, "stride": 1}]}, "'input.resize': 'stretch'"),
    ({"network": "n", "input": {"resize": "fixed", "width": 10},
      "tensors": [{"name": "a", "channels": 1, "stride": 1}]}, "needs 'input.height'"),
    ({"network": "n", "input": {"short_edge": 800},
      "tensors": [{"name": "a", "channels": 1, "stride": 1}]}, "applies to resize shortest-edge"),
    ({"network": "n", "tensors": [{"name": "a", "channels": 0, "stride": 1}]},
     "'tensors[0].channels': expected a positive integer"),
    ({"network": "n", "tensors": [{"name": "a", "channels": 1, "stride": 1}] * 2},
     "a name repeats"),
    ({"network": "n", "tensors": [{"name": "a", "channels": 1, "stride": 1}],
      "dtypes": ["int8"]}, "field 'dtypes'"),
    ({"tensors": [{"name": "a", "channels": 1, "stride": 1}]}, "field 'network'"),
])
def test_split_point_errors_name_the_field(data, message):
    import re

    with pytest.raises(UserError, match=re.escape(message)):
        parse_split_point("cfg/x.yaml", "sp", data)


def test_edition_refuses_an_unknown_split_point(tmp_path):
    text = (load_edition("ctc-demo-fcm").files[0].read_text()
            .replace("split_point: demo-colour-split", "split_point: nowhere"))
    path = tmp_path / "ctc-demo-fcm2.yaml"
    path.write_text(text.replace("id: ctc-demo-fcm", "id: ctc-demo-fcm2"))
    with pytest.raises(UserError, match="'split_point': 'nowhere' is not defined"):
        load_edition(path)


# ---------------------------------------------------------------------------------------------
# the feature file and its checks

SPLIT = parse_split_point("t", "two", {
    "network": "test net", "input": {"resize": "none", "divisible_by": 8},
    "tensors": [{"name": "hi", "channels": 11, "stride": 4},
                {"name": "lo", "channels": 7, "stride": 8}],
    "dtypes": ["float32", "float16"], "conformance_subsample": 3})
LAYOUT = Layout(SPLIT, 5, SPLIT.shapes(64, 40), (64, 40))   # hi 11x10x16, lo 7x5x8


def _tensors(rng, frames=5, dtype=np.float32):
    return {"hi": rng.normal(size=(frames, 11, 10, 16)).astype(dtype),
            "lo": rng.normal(size=(frames, 7, 5, 8)).astype(dtype)}


def _problem(path, layout=LAYOUT) -> str:
    with pytest.raises(FeatureFileError) as exc:
        inspect(path, layout)
    return str(exc.value)


def test_wrong_feature_files_give_one_line_problems(tmp_path):
    rng = np.random.default_rng(1)
    good = _tensors(rng)
    cases = {
        "missing": ({"hi": good["hi"]}, "tensor(s) 'lo' missing; the split point two has hi, lo"),
        "unknown": ({**good, "p6": good["lo"]}, "unknown tensor(s) 'p6'"),
        "renamed": ({"hi": good["hi"], "low": good["lo"]}, "tensor(s) 'lo' missing; unknown "
                                                           "tensor(s) 'low'"),
        "shape": ({"hi": good["hi"][:, :, :, :15], "lo": good["lo"]},
                  "tensor 'hi' is 11x10x15 (C x H x W) per frame; the split point two (64x40 "
                  "frames, network input 64x40 padded to 64x40) needs 11x10x16"),
        "channels": ({"hi": good["hi"][:, :10], "lo": good["lo"]},
                     "tensor 'hi' has 10 channels; the split point two has 11"),
        "dtype": ({k: v.astype(np.float64) for k, v in good.items()},
                  "tensor 'hi' has dtype float64; the split point two allows float32, float16"),
        "frames": ({k: v[:4] for k, v in good.items()}, "tensor 'hi' has 4 frame(s), expected 5"),
        "ndim": ({"hi": good["hi"][0], "lo": good["lo"]},
                 "tensor 'hi' has shape 11x10x16; expected frames x C x H x W"),
        "int": ({"hi": good["hi"].astype(np.int32), "lo": good["lo"]},
                "tensor 'hi' has dtype int32"),
    }
    for name, (tensors, expected) in cases.items():
        path = write_features(tmp_path / f"{name}.npz", tensors)
        assert expected in _problem(path), name
    nan = {k: v.copy() for k, v in good.items()}
    nan["lo"][3, 2, 1, 1] = np.inf
    assert "tensor 'lo', frame 3 has values that are not finite" in _problem(
        write_features(tmp_path / "nan.npz", nan))
    # not an npz, empty, missing, pickled objects, Fortran order, truncated, a corrupt CRC
    (tmp_path / "garbage.npz").write_bytes(b"\x80" * 100)
    assert "garbage.npz is not an .npz file" in _problem(tmp_path / "garbage.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    assert _problem(tmp_path / "empty.npz") == "empty.npz is empty"
    assert _problem(tmp_path / "absent.npz") == "absent.npz was not written"
    np.savez(tmp_path / "pickle.npz", hi=np.array([{"x": 1}], dtype=object), lo=good["lo"])
    assert "tensor 'hi' has dtype object, not a numeric array" in _problem(tmp_path / "pickle.npz")
    np.savez(tmp_path / "fortran.npz", hi=np.asfortranarray(good["hi"]), lo=good["lo"])
    assert "stored in Fortran order" in _problem(tmp_path / "fortran.npz")
    data = write_features(tmp_path / "whole.npz", good).read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    assert "cut.npz is not an .npz file" in _problem(tmp_path / "cut.npz")
    with zipfile.ZipFile(tmp_path / "whole.npz") as zf:
        lo_offset = zf.getinfo("lo.npy").header_offset + 200
    broken = bytearray(data)
    broken[lo_offset] ^= 0xFF
    (tmp_path / "crc.npz").write_bytes(bytes(broken))
    assert "tensor 'lo'" in _problem(tmp_path / "crc.npz")
    with zipfile.ZipFile(tmp_path / "dir.npz", "w") as zf:
        zf.writestr("sub/hi.npy", b"x")
    assert "member 'sub/hi.npy' is not a tensor" in _problem(tmp_path / "dir.npz")


def test_md5_equals_an_independent_computation_and_ignores_the_container(tmp_path):
    rng = np.random.default_rng(2)
    tensors = _tensors(rng, dtype=np.float16)
    plain = write_features(tmp_path / "plain.npz", tensors)
    packed = write_features(tmp_path / "packed.npz", tensors, compress=True)
    big = tmp_path / "big.npz"   # big-endian samples, members in the other order
    np.savez(big, lo=tensors["lo"].astype(">f2"), hi=tensors["hi"].astype(">f2"))
    expected_frames = []
    for i in range(5):
        h = hashlib.md5()
        for name in ("hi", "lo"):
            a = tensors[name][i]
            h.update(f"{name}:float16:{'x'.join(map(str, a.shape))}:".encode())
            h.update(a.astype("<f2").tobytes(order="C"))
        expected_frames.append(h.hexdigest())
    expected = hashlib.md5("".join(expected_frames).encode()).hexdigest()
    for path in (plain, packed, big):
        ins = inspect(path, LAYOUT)
        assert ins.frame_md5s == expected_frames and ins.md5 == expected
    other = {**tensors, "lo": tensors["lo"].copy()}
    other["lo"][4, 6, 4, 7] += np.float16(1)
    ins = inspect(write_features(tmp_path / "other.npz", other), LAYOUT)
    assert ins.frame_md5s[:4] == expected_frames[:4] and ins.frame_md5s[4] != expected_frames[4]
    assert frame_md5({"hi": tensors["hi"][0], "lo": tensors["lo"][0]}, ("hi", "lo")) == \
        expected_frames[0]


def test_conformance_statistics_equal_an_independent_computation(tmp_path):
    """Means and population variances per channel (plain Python statistics on the float32
    samples), the channels sampled as CompressAI-Vision does: r = 3 here, the first tensor
    (11 channels) keeps 0, 3, 6, 9, the second starts at 11 % 3 = 2: channels 2, 5."""
    rng = np.random.default_rng(3)
    tensors = _tensors(rng)
    ins = inspect(write_features(tmp_path / "f.npz", tensors), LAYOUT)
    assert len(ins.dumps) == 5
    for i, dump in enumerate(ins.dumps):
        for (name, keep), entry in zip((("hi", [0, 3, 6, 9]), ("lo", [2, 5])), dump):
            values = [[float(v) for v in tensors[name][i, c].ravel()] for c in keep]
            assert entry["means"] == pytest.approx([statistics.fmean(v) for v in values],
                                                   rel=1e-12, abs=1e-15)
            assert entry["variances"] == pytest.approx([statistics.pvariance(v) for v in values],
                                                       rel=1e-9)
    # the offset carries over tensors: with r = 9 and 256-channel tensors (FPN) the second
    # tensor starts at channel 256 % 9 = 4, the third at 8, the fourth at 3
    frame = {f"p{k}": np.zeros((256, 1, 1)) + np.arange(256)[:, None, None] for k in range(2, 6)}
    dump = channel_stats(frame, ("p2", "p3", "p4", "p5"), 9)
    assert [d["means"][:2] for d in dump] == [[0, 9], [4, 13], [8, 17], [3, 12]]


def test_conformance_statistics_agree_with_compressai_visions_torch_computation(tmp_path):
    """CompressAI-Vision computes the statistics in the tensor's dtype with torch
    (``torch.mean(data, axis=(2, 3))``, ``torch.var(..., unbiased=False)``): vcmctc's float64
    values agree to float32 precision."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    tensors = _tensors(rng)
    ins = inspect(write_features(tmp_path / "f.npz", tensors), LAYOUT)
    for i, dump in enumerate(ins.dumps):
        offset = 0
        for name, entry in zip(("hi", "lo"), dump):
            data = torch.from_numpy(tensors[name][i][None])
            means = torch.mean(data, axis=(2, 3)).tolist()[0][offset::3]
            variances = torch.var(data, axis=(2, 3), unbiased=False).tolist()[0][offset::3]
            offset = (offset + data.shape[1]) % 3
            assert entry["means"] == pytest.approx(means, abs=1e-6)
            assert entry["variances"] == pytest.approx(variances, rel=1e-5)


def test_mse_against_the_original_features(tmp_path):
    rng = np.random.default_rng(5)
    original = _tensors(rng)
    decoded = {k: (v + rng.normal(scale=0.1, size=v.shape)).astype(np.float32)
               for k, v in original.items()}
    ins = inspect(write_features(tmp_path / "d.npz", decoded), LAYOUT,
                  original=write_features(tmp_path / "o.npz", original))
    err = {k: (decoded[k].astype(np.float64) - original[k]) ** 2 for k in original}
    for k in err:
        assert ins.sq_err[k] / ins.elements[k] == pytest.approx(err[k].mean(), rel=1e-12)
    from vcmctc.features.conformance import mse

    total, per = mse(ins.sq_err, ins.elements)
    assert total == pytest.approx(np.concatenate([e.ravel() for e in err.values()]).mean(),
                                  rel=1e-12)
    bad = write_features(tmp_path / "bad.npz", {k: v[:3] for k, v in original.items()})
    with pytest.raises(FeatureFileError, match="original features bad.npz: tensor 'hi' has 3 "
                                               "frame"):
        inspect(tmp_path / "d.npz", LAYOUT, original=bad)


def test_images_of_varied_sizes_are_checked_for_consistency(tmp_path):
    fpn = load_edition("fcm-fctm-v1").split_points["rcnn-x101-fpn"]
    layout = Layout(fpn, 1)
    # img_id_0001eeaf4aed83f9 of CompressAI-Vision's MPEGOIV6 fpn-sizes: p2 152x336 ...
    good = {"p2": (152, 336), "p3": (76, 168), "p4": (38, 84), "p5": (19, 42)}
    tensors = {n: np.zeros((1, 256, h, w), np.float16) for n, (h, w) in good.items()}
    with FeatureFile(write_features(tmp_path / "ok.npz", tensors)) as ff:
        assert check_layout(ff, layout)["p5"] == {"dtype": "float16", "shape": [256, 19, 42]}
    tensors["p4"] = np.zeros((1, 256, 37, 84), np.float16)
    with FeatureFile(write_features(tmp_path / "bad.npz", tensors)) as ff:
        with pytest.raises(FeatureFileError, match="do not come from one input size"):
            check_layout(ff, layout)
