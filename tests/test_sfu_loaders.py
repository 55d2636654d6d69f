"""SFU-HW-Objects-v1 loaders: per-frame txt folder and MPEG JSON give the same COCO GT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vcmctc.datasets.coco import COCO80, CONTIGUOUS_TO_COCO_ID, contiguous_to_coco_id
from vcmctc.datasets.sfu import load_sfu_json, load_sfu_txt
from vcmctc.errors import UserError

WIDTH, HEIGHT = 416, 240
SEQ = "RaceHorses_416x240_30"


def synthetic_rows(seed: int, n_frames: int) -> list[list[tuple[int, float, float, float, float]]]:
    """Per-frame rows (cls, cx, cy, w, h). Values are multiples of 1/256 so that the products with
    the frame size below are exact in floating point (the JSON side is computed independently)."""
    rng = np.random.default_rng(seed)
    classes = [0, 2, 17, 26, 79]
    frames = []
    for f in range(n_frames):
        rows = []
        for _ in range(0 if f % 5 == 3 else int(rng.integers(1, 6))):
            w, h = (int(v) / 256 for v in rng.integers(4, 120, 2))
            cx, cy = (int(v) / 256 for v in rng.integers(0, 257, 2))
            rows.append((int(rng.choice(classes)), cx, cy, w, h))
        frames.append(rows)
    return frames


def write_txt(folder: Path, frames, *, prefix="RaceHorses", tracks=False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(frames):
        lines = []
        for k, (c, cx, cy, w, h) in enumerate(rows):
            ident = f" {k + 1}" if tracks else ""
            lines.append(f"{c}{ident} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}")
        (folder / f"{prefix}_{i:03d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return folder


def write_mpeg_json(path: Path, frames, *, skip: int) -> Path:
    """The same boxes in the MPEG m59143 layout: float image ids, contiguous category ids,
    misleading capitalised names, extra keys, absolute XYWH."""
    images, anns = [], []
    for image_id, rows in enumerate(frames[skip:]):
        images.append({"file_name": f"{SEQ}_val_{image_id:03d}.png", "width": WIDTH,
                       "height": HEIGHT, "id": float(image_id)})
        for c, cx, cy, w, h in rows:
            bw, bh = w * WIDTH, h * HEIGHT
            x, y = cx * WIDTH - bw / 2, cy * HEIGHT - bh / 2
            anns.append({"bbox": [x, y, bw, bh], "bbox_mode": 0, "category_id": c, "class": "?",
                         "id": len(anns) + 1, "image_id": float(image_id), "iscrowd": 0,
                         "area": bw * bh})
    cats = [{"name": f"Wrong{i}", "id": i} for i in range(80)]
    path.write_text(json.dumps({"images": images, "categories": cats, "annotations": anns}))
    return path


@pytest.mark.parametrize("seed", range(4))
def test_txt_and_json_forms_give_identical_gt(tmp_path, seed):
    frames = synthetic_rows(seed, 12)
    skip = 4
    txt = load_sfu_txt(write_txt(tmp_path / "RaceHorses", frames), width=WIDTH, height=HEIGHT,
                       frames=8, skip=skip, total=12, sequence=SEQ)
    js = load_sfu_json(write_mpeg_json(tmp_path / "a.json", frames, skip=skip), frames=8,
                       width=WIDTH, height=HEIGHT)
    assert txt == js
    assert len(txt["images"]) == 8 and [i["id"] for i in txt["images"]] == list(range(8))
    assert all(type(i["id"]) is int for i in js["images"])
    assert len(txt["annotations"]) == sum(len(r) for r in frames[skip:]) > 0
    assert txt["categories"] == [{"id": c, "name": n, "supercategory": ""} for c, n in COCO80]


def test_txt_box_conversion_worked_by_hand(tmp_path):
    """Row '17 0.5 0.25 0.25 0.5' on 416x240: w = 104, h = 120, x = 208 - 52 = 156,
    y = 60 - 60 = 0; area 12480; class 17 (horse) is COCO id 19."""
    folder = tmp_path / "seq"
    folder.mkdir()
    (folder / "seq_000.txt").write_text("17 0.5 0.25 0.25 0.5\n")
    (folder / "seq_001.txt").write_text("")
    gt = load_sfu_txt(folder, width=WIDTH, height=HEIGHT)
    assert gt["annotations"] == [{"id": 1, "image_id": 0, "category_id": 19,
                                  "bbox": [156.0, 0.0, 104.0, 120.0], "area": 12480.0,
                                  "iscrowd": 0}]
    assert [i["file_name"] for i in gt["images"]] == ["seq_val_000.png", "seq_val_001.png"]


def test_tracks_format_keeps_the_object_id(tmp_path):
    frames = synthetic_rows(7, 3)
    gt = load_sfu_txt(write_txt(tmp_path / "t", frames, tracks=True), width=WIDTH, height=HEIGHT)
    plain = load_sfu_txt(write_txt(tmp_path / "p", frames), width=WIDTH, height=HEIGHT,
                         sequence="t")
    assert [a.pop("track_id") for a in gt["annotations"]] == [
        k + 1 for rows in frames for k in range(len(rows))]
    assert gt == plain


def test_contiguous_index_mapping():
    # spot checks of the standard COCO-80 mapping
    assert contiguous_to_coco_id(0) == 1 and COCO80[0][1] == "person"
    assert contiguous_to_coco_id(11) == 13 and COCO80[11][1] == "stop sign"
    assert contiguous_to_coco_id(79) == 90 and COCO80[79][1] == "toothbrush"
    # every SFU class listed in ctc_facts.md ("SFU index -> COCO id")
    facts = {0: (1, "person"), 1: (2, "bicycle"), 2: (3, "car"), 5: (6, "bus"), 7: (8, "truck"),
             8: (9, "boat"), 13: (15, "bench"), 17: (19, "horse"), 24: (27, "backpack"),
             25: (28, "umbrella"), 26: (31, "handbag"), 27: (32, "tie"), 32: (37, "sports ball"),
             41: (47, "cup"), 56: (62, "chair"), 58: (64, "potted plant"),
             60: (67, "dining table"), 63: (73, "laptop"), 67: (77, "cell phone"),
             73: (84, "book"), 74: (85, "clock"), 77: (88, "teddy bear")}
    for index, (cid, name) in facts.items():
        assert COCO80[index] == (cid, name)
    ids = [cid for cid, _ in COCO80]
    assert len(ids) == 80 and ids == sorted(set(ids)) and ids[-1] == 90
    # the 10 ids COCO skips
    assert sorted(set(range(1, 91)) - set(ids)) == [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]
    assert CONTIGUOUS_TO_COCO_ID == dict(enumerate(ids))
    with pytest.raises(UserError, match="not a COCO-80 index"):
        contiguous_to_coco_id(80)


# ------------------------------------------------------------------------------ bad input: txt

def _folder(tmp_path, contents: dict[str, str]) -> Path:
    folder = tmp_path / "Seq"
    folder.mkdir(parents=True)
    for name, text in contents.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("line, message", [
    ("0 0.5 0.5 0.1", "expected 5 fields"),
    ("0 0.5 0.5 0.1 0.1 0.1 0.1", "expected 5 fields"),
    ("person 0.5 0.5 0.1 0.1", "not a COCO-80 index"),
    ("80 0.5 0.5 0.1 0.1", "not a COCO-80 index"),
    ("-1 0.5 0.5 0.1 0.1", "not a COCO-80 index"),
    ("0 0.5 0.5 abc 0.1", "box values must be numbers"),
    ("0 0.5 nan 0.1 0.1", "not normalised"),
    ("0 208 120 40 30", "not normalised"),
    ("0 0.5 0.5 -0.1 0.1", "width and height must be >= 0"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    folder = _folder(tmp_path, {"Seq_000.txt": "0 0.5 0.5 0.1 0.1\n\n" + line + "\n"})
    with pytest.raises(UserError, match=message) as err:
        load_sfu_txt(folder, width=WIDTH, height=HEIGHT)
    assert "Seq_000.txt:3" in str(err.value)


def test_mixed_plain_and_tracks_rows(tmp_path):
    folder = _folder(tmp_path, {"Seq_000.txt": "0 0.5 0.5 0.1 0.1\n",
                                "Seq_001.txt": "0 4 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(UserError, match=r"Seq_001.txt:1: expected 5 fields like the other rows"):
        load_sfu_txt(folder, width=WIDTH, height=HEIGHT)


def test_frame_count_checks(tmp_path):
    folder = _folder(tmp_path, {f"Seq_{i:03d}.txt": "" for i in (0, 1, 2, 4, 5)})
    # the clip 3..5 misses frame 3
    with pytest.raises(UserError,
                       match=r"1 of the 3 frames 3\.\.5 have no annotation file: frames 3"):
        load_sfu_txt(folder, width=WIDTH, height=HEIGHT, skip=3, frames=3)
    # the edition says the source has 6 frames
    with pytest.raises(UserError, match=r"5 frame files, expected 6 .*missing frames 3"):
        load_sfu_txt(folder, width=WIDTH, height=HEIGHT, total=6)
    with pytest.raises(UserError, match=r"unexpected frames 4, 5"):
        load_sfu_txt(folder, width=WIDTH, height=HEIGHT, total=4)
    # a clip that fits
    gt = load_sfu_txt(folder, width=WIDTH, height=HEIGHT, skip=4)
    assert [i["id"] for i in gt["images"]] == [0, 1]


def test_file_naming_problems(tmp_path):
    folder = _folder(tmp_path, {"Seq_000.txt": "", "notes.txt": ""})
    with pytest.raises(UserError, match=r"notes.txt: file name does not end in _<frame>.txt"):
        load_sfu_txt(folder, width=WIDTH, height=HEIGHT)
    folder = _folder(tmp_path / "b", {"Seq_000.txt": "", "Seq_0.txt": ""})
    with pytest.raises(UserError, match="frame 0 has two files"):
        load_sfu_txt(folder, width=WIDTH, height=HEIGHT)
    with pytest.raises(UserError, match="no per-frame .txt files"):
        load_sfu_txt(_folder(tmp_path / "c", {}), width=WIDTH, height=HEIGHT)
    with pytest.raises(UserError, match="not a directory"):
        load_sfu_txt(tmp_path / "missing", width=WIDTH, height=HEIGHT)


# ------------------------------------------------------------------------------ bad input: JSON

def _json(tmp_path, frames=3, **edit):
    path = write_mpeg_json(tmp_path / "g.json", synthetic_rows(1, frames), skip=0)
    data = json.loads(path.read_text())
    for key, fn in edit.items():
        fn(data[key])
    path.write_text(json.dumps(data))
    return path


def test_json_frame_count_and_size_checks(tmp_path):
    path = _json(tmp_path, frames=5)
    assert len(load_sfu_json(path, frames=5)["images"]) == 5
    with pytest.raises(UserError, match="5 images, expected 97 frames"):
        load_sfu_json(path, frames=97)
    with pytest.raises(UserError, match=r"images\[0\]: width 416, expected 832"):
        load_sfu_json(path, width=832)


def test_json_image_ids_must_be_frame_numbers(tmp_path):
    def shift(images):
        images[3]["id"] = 10.0  # frame 3 has no boxes (see synthetic_rows)
    with pytest.raises(UserError, match=r"image ids must be the frame numbers 0\.\.3; found 10"):
        load_sfu_json(_json(tmp_path, frames=4, images=shift))

    def half(images):
        images[0]["id"] = 0.5
    with pytest.raises(UserError, match=r"images\[0\]\.id: id must be an integer, got 0.5"):
        load_sfu_json(_json(tmp_path, images=half))


def test_json_bad_category_and_bbox(tmp_path):
    def cat80(anns):
        anns[1]["category_id"] = 80
    with pytest.raises(UserError, match=r"g.json: annotations\[1\]\.category_id: category_id 80 "
                                        "has no mapping"):
        load_sfu_json(_json(tmp_path, annotations=cat80))

    def short_box(anns):
        anns[0]["bbox"] = [1, 2, 3]
    with pytest.raises(UserError, match=r"annotations\[0\]\.bbox: bbox must be 4 finite numbers"):
        load_sfu_json(_json(tmp_path, annotations=short_box))

    def no_area(anns):
        del anns[2]["area"]
    with pytest.raises(UserError, match=r"annotations\[2\]: missing key 'area'"):
        load_sfu_json(_json(tmp_path, annotations=no_area))
