"""Benchmark, library level: CTC-scale COCO scoring, vcmctc against the reference tools.

Synthetic data at CTC scale (no real data needed):
- SFU-HW: the 14 clips (frames and sizes of the VCM-RS v0.12 table), 6 rate points, in the MPEG
  JSON layout (float image ids, contiguous category ids); 5-40 GT boxes and 80-120 detections
  per frame, detectron2-style results (float image ids, contiguous ids, 5-decimal scores, so
  some scores tie).
- OIV6-like: 5000 images, 6 rate points, COCO layout, 47 GT categories (~2.5 GT boxes per image)
  and a COCO-80 detector's results (20-60 detections per image).

The sides, each a whole process timed by the operating system (start-up, imports, file reading
included), interleaved and repeated (median and range of CPU and wall, peak memory):
- reference, in the reference venv the benchmark makes (NumPy < 2): what public reference
  scripts do, per sequence ``COCO(gt.json)``, then per rate point ``loadRes(results.json)`` +
  ``COCOeval``; per FCM class and rate point the GT and results files of the class's sequences
  read again and merged with image-id offsets, one ``COCOeval``. Once with pycocotools, once with
  faster-coco-eval's ``COCO`` / ``COCOeval_faster`` driven directly (the library vcmctc's
  default backend is): vcmctc's speed-up over pycocotools is mostly faster-coco-eval's.
- vcmctc, LIBRARY LEVEL (no validation, hashing, cache or results.json; ``vcmctc evaluate`` end
  to end is ``bench_ctc.py``): ``load_sfu_json`` / ``load_coco_gt`` once per sequence, per rate
  point ``load_coco_results`` + ``evaluate_coco``, and ``evaluate_coco_pooled`` for the class
  rows on the detections already parsed (as evaluate's pooled state does); with each backend
  named in ``--backends``.
All 12 statistics of every row must agree to 1e-9; the bit-identical share is printed.

    python benchmarks/bench_coco.py [--small] [--repeats 3] [--backends vcmctc,faster-coco-eval,pycocotools]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# (clip, width, height, frames coded, FCM class), in the order of the public reference script's
# image-id offsets (which is also the pooled order vcmctc must reproduce).
SFU_CLIPS = [
    ("Traffic_2560x1600_30", 2560, 1600, 33, "AB"),
    ("Kimono_1920x1080_24", 1920, 1080, 33, "AB"),
    ("ParkScene_1920x1080_24", 1920, 1080, 33, "AB"),
    ("Cactus_1920x1080_50", 1920, 1080, 97, "AB"),
    ("BasketballDrive_1920x1080_50", 1920, 1080, 97, "AB"),
    ("BQTerrace_1920x1080_60", 1920, 1080, 129, "AB"),
    ("BasketballDrill_832x480_50", 832, 480, 97, "C"),
    ("BQMall_832x480_60", 832, 480, 129, "C"),
    ("PartyScene_832x480_50", 832, 480, 97, "C"),
    ("RaceHorses_832x480_30", 832, 480, 65, "C"),
    ("BasketballPass_416x240_50", 416, 240, 97, "D"),
    ("BQSquare_416x240_60", 416, 240, 129, "D"),
    ("BlowingBubbles_416x240_50", 416, 240, 97, "D"),
    ("RaceHorses_416x240_30", 416, 240, 65, "D"),
]


# ------------------------------------------------------------------------------ data generation

def _det_dicts(image_id, boxes, cats, scores):
    return [{"image_id": image_id, "category_id": int(c), "bbox": [round(float(v), 4) for v in b],
             "score": round(float(s), 5)} for b, c, s in zip(boxes, cats, scores)]


def generate(data: Path, small: bool, seed: int = 2024) -> dict:
    from ctc_data import boxes as _boxes, detections as _detections, sfu_gt

    rng = np.random.default_rng(seed)
    n_rates = 2 if small else 6
    manifest = {"rates": n_rates, "sfu": [], "oiv": None}
    for name, width, height, frames, klass in SFU_CLIPS:
        if small:
            frames = max(8, frames // 4)
        gt, per_frame, classes = sfu_gt(rng, name, width, height, frames, mean_range=(5, 40),
                                        objects=(1, 60), digits=4)
        gt_path = data / f"{name}_val.json"
        gt_path.write_text(json.dumps(gt))
        det_paths = []
        for q in range(n_rates):
            dets = []
            for f, (boxes, cats) in enumerate(per_frame):
                n_total = int(rng.integers(80, 121))
                dets += _det_dicts(float(f), *_detections(rng, boxes, cats, q, n_total, width,
                                                          height, classes, np.arange(80)))
            det_paths.append(str(data / f"{name}_qp{q}.json"))
            Path(det_paths[-1]).write_text(json.dumps(dets))
        manifest["sfu"].append({"name": name, "width": width, "height": height,
                                "frames": frames, "class": klass, "gt": str(gt_path),
                                "dets": det_paths})
    n_images = 500 if small else 5000
    from vcmctc.datasets.coco import COCO80

    coco_ids = np.array([cid for cid, _ in COCO80])
    cats = sorted(rng.choice(coco_ids, 47, replace=False).tolist())
    images, anns, per_image = [], [], []
    for i in range(1, n_images + 1):
        width, height = int(rng.integers(500, 1025)), int(rng.integers(400, 1025))
        images.append({"id": i, "width": width, "height": height, "file_name": f"{i:06d}.jpg"})
        n = int(rng.poisson(2.53))
        boxes = np.round(_boxes(rng, n, width, height, 0.03, 0.8), 2)
        bcats = rng.choice(cats, n)
        per_image.append((width, height, boxes, bcats))
        for b, c in zip(boxes, bcats):
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c),
                         "bbox": [float(v) for v in b], "area": float(b[2] * b[3]),
                         "iscrowd": 0})
    gt_path = data / "oiv6_like_gt.json"
    gt_path.write_text(json.dumps({"images": images, "annotations": anns,
                                   "categories": [{"id": c, "name": f"c{c}"} for c in cats]}))
    det_paths = []
    for q in range(n_rates):
        dets = []
        for i, (width, height, boxes, bcats) in enumerate(per_image, start=1):
            dets += _det_dicts(i, *_detections(rng, boxes, bcats, q, int(rng.integers(20, 61)),
                                               width, height, np.array(cats), coco_ids))
        det_paths.append(str(data / f"oiv6_like_qp{q}.json"))
        Path(det_paths[-1]).write_text(json.dumps(dets))
    manifest["oiv"] = {"gt": str(gt_path), "dets": det_paths, "images": n_images}
    (data / "manifest.json").write_text(json.dumps(manifest))
    return manifest


# ------------------------------------------------------------------------------ the sides

def _classes(manifest):
    out: dict[str, list[int]] = {}
    for k, seq in enumerate(manifest["sfu"]):
        out.setdefault(seq["class"], []).append(k)
    return out


def run_reference(manifest, coco: str) -> tuple[dict, dict]:
    from ref_ctc import coco_classes, coco_stats

    COCO, COCOeval = coco_classes(coco)
    rows, times = {}, {}
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = _clock()
        gts = [COCO(seq["gt"]) for seq in manifest["sfu"]]
        for q in range(manifest["rates"]):
            for seq, coco_gt in zip(manifest["sfu"], gts):
                dets = json.loads(Path(seq["dets"][q]).read_text())
                rows[f"{seq['name']}/qp{q}"] = coco_stats(COCO, COCOeval, coco_gt, dets)
        times["sfu sequences"] = _clock() - t0
        t0 = _clock()
        for q in range(manifest["rates"]):
            for klass, members in _classes(manifest).items():
                images, anns, dets, categories = [], [], [], None
                for k, idx in enumerate(members):
                    seq = manifest["sfu"][idx]
                    offset = 10000 * (k + 1)
                    gt = json.loads(Path(seq["gt"]).read_text())
                    for d in json.loads(Path(seq["dets"][q]).read_text()):
                        d["image_id"] = int(d["image_id"]) + offset
                        dets.append(d)
                    for img in gt["images"]:
                        img["id"] = int(img["id"]) + offset
                        images.append(img)
                    for a in gt["annotations"]:
                        a["id"] = len(anns) + 1
                        a["image_id"] = int(a["image_id"]) + offset
                        anns.append(a)
                    categories = categories or gt["categories"]
                coco_gt = COCO()
                coco_gt.dataset = {"images": images, "annotations": anns,
                                   "categories": categories}
                coco_gt.createIndex()
                rows[f"class {klass}/qp{q}"] = coco_stats(COCO, COCOeval, coco_gt, dets)
        times["sfu class rows"] = _clock() - t0
        t0 = _clock()
        coco_gt = COCO(manifest["oiv"]["gt"])
        for q, det_path in enumerate(manifest["oiv"]["dets"]):
            dets = json.loads(Path(det_path).read_text())
            rows[f"oiv6-like/qp{q}"] = coco_stats(COCO, COCOeval, coco_gt, dets)
        times["oiv6-like"] = _clock() - t0
    return rows, times


def run_vcmctc(manifest, backend: str) -> tuple[dict, dict]:
    from vcmctc.datasets.coco import CONTIGUOUS_TO_COCO_ID, load_coco_gt, load_coco_results
    from vcmctc.datasets.sfu import load_sfu_json
    from vcmctc.evaluators.coco import evaluate_coco, evaluate_coco_pooled

    def as_row(stats):
        return [None if math.isnan(v) else v for v in stats.values()]

    rows, times = {}, {"sfu sequences": 0.0, "sfu class rows": 0.0}
    t0 = _clock()
    gts = [load_sfu_json(s["gt"], frames=s["frames"], width=s["width"], height=s["height"])
           for s in manifest["sfu"]]
    times["sfu sequences"] += _clock() - t0
    for q in range(manifest["rates"]):
        t0 = _clock()
        dets = []
        for seq, gt in zip(manifest["sfu"], gts):
            dets.append(load_coco_results(seq["dets"][q], gt, category_map=CONTIGUOUS_TO_COCO_ID))
            rows[f"{seq['name']}/qp{q}"] = as_row(evaluate_coco(gt, dets[-1], backend=backend))
        t1 = _clock()
        for klass, members in _classes(manifest).items():
            pooled = evaluate_coco_pooled([(gts[i], dets[i]) for i in members], backend=backend)
            rows[f"class {klass}/qp{q}"] = as_row(pooled)
        times["sfu sequences"] += t1 - t0
        times["sfu class rows"] += _clock() - t1
    t0 = _clock()
    gt = load_coco_gt(manifest["oiv"]["gt"])
    for q, det_path in enumerate(manifest["oiv"]["dets"]):
        # a COCO-80 detector on a 47-class GT: pycocotools silently ignores the other classes;
        # vcmctc refuses them unless told to drop them
        dets = load_coco_results(det_path, gt, drop_unknown_categories=True)
        rows[f"oiv6-like/qp{q}"] = as_row(evaluate_coco(gt, dets, backend=backend))
    times["oiv6-like"] = _clock() - t0
    return rows, times


def _clock() -> np.ndarray:
    """(wall, CPU) seconds."""
    return np.array([time.perf_counter(), time.process_time()])


def child(which: str, data: Path, out: Path) -> None:
    manifest = json.loads((data / "manifest.json").read_text())
    t0 = _clock()
    side, _, backend = which.partition(":")
    if side == "reference":
        rows, times = run_reference(manifest, backend)
    else:
        rows, times = run_vcmctc(manifest, backend)
    times["total"] = _clock() - t0
    times = {part: [float(v) for v in t] for part, t in times.items()}
    out.write_text(json.dumps({"rows": rows, "times": times}))


# ------------------------------------------------------------------------------ driver

def agreement(ours: dict, ref: dict) -> tuple[int, int, float]:
    n, same, worst = 0, 0, 0.0
    for key, ref_row in ref.items():
        for a, b in zip(ours[key], ref_row):
            n += 1
            if (a is None) != (b is None):
                worst = math.inf
            elif a is None or a == b:
                same += 1
            else:
                worst = max(worst, abs(a - b))
    return n, same, worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="quarter-length clips, 2 rate "
                        "points, 500 OIV6-like images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="vcmctc,faster-coco-eval,pycocotools",
                        help="vcmctc's COCO backends to time (comma-separated)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.out)
        return 0
    from refenv import interleave, machine, print_times, reference_python, with_outputs

    print(f"machine: {machine()}")
    ref_python = reference_python()
    data = Path(tempfile.mkdtemp(prefix="vcmctc_bench_coco_"))
    try:
        t0 = time.perf_counter()
        manifest = generate(data, args.small)
        n_frames = sum(s["frames"] for s in manifest["sfu"])
        print(f"generated in {time.perf_counter() - t0:.1f} s: SFU {len(manifest['sfu'])} clips, "
              f"{n_frames} frames x {manifest['rates']} rate points; OIV6-like "
              f"{manifest['oiv']['images']} images x {manifest['rates']} rate points "
              f"({sum(f.stat().st_size for f in data.iterdir()) / 2**20:.0f} MiB of JSON)",
              flush=True)
        sides = {}
        for coco in ("pycocotools", "faster-coco-eval"):
            sides[f"reference {coco} (numpy<2)"] = [str(ref_python), __file__, "--child",
                                                    f"reference:{coco}"]
        for backend in args.backends.split(","):
            sides[f"vcmctc library, {backend}"] = [sys.executable, __file__, "--child",
                                                   f"vcmctc:{backend}"]
        outs = with_outputs(sides, data, "--data", str(data))
        times = interleave(sides, args.repeats, log_dir=data)
        results = {name: json.loads(path.read_text()) for name, path in outs.items()}
    finally:
        shutil.rmtree(data, ignore_errors=True)

    names = list(sides)
    print_times(times, reference=names[0])
    ok = True
    ref = results[names[0]]
    for which in names[1:]:
        n, same, worst = agreement(results[which]["rows"], ref["rows"])
        ok &= worst <= 1e-9
        print(f"{which}: {len(ref['rows'])} rows x 12 statistics vs reference pycocotools: "
              f"{same}/{n} bit-identical, max |difference| {worst:.3g} (0-100 scale)"
              f"{'' if worst <= 1e-9 else '  <-- MISMATCH'}")
    print("\nin-process seconds by part (last run), wall / CPU:")
    print(f"{'part':<19}" + "".join(f"{n[:30]:>32}" for n in names))
    for part in ("sfu sequences", "sfu class rows", "oiv6-like", "total"):
        cells = "".join(f"{f'{w:.1f} / {c:.1f}':>32}" for w, c in
                        (results[n]["times"][part] for n in names))
        print(f"{part:<19}{cells}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
