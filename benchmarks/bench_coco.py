"""Benchmark: CTC-scale COCO scoring with vcmctc against the plain pycocotools reference path.

Synthetic data at CTC scale (no real data needed):
- SFU-HW: the 14 clips (frames and sizes of the VCM-RS v0.12 table), 6 rate points, in the MPEG
  JSON layout (float image ids, contiguous category ids); 5-40 GT boxes and about 100 detections
  per frame, detectron2-style results (float image ids, contiguous ids, 5-decimal scores, so
  some scores tie).
- OIV6-like: 5000 images, 6 rate points, COCO layout, 47 GT categories (~2.5 GT boxes per image)
  and a COCO-80 detector's results (~40 detections per image).

Each path runs in its own subprocess so that its peak memory (max RSS) is its own:
- reference: what public reference scripts do: pycocotools per sequence and rate point from the
  files (COCO, loadRes, COCOeval), and per FCM class the GT and results of the class's sequences
  merged with image-id offsets (done in memory here, which only flatters the reference).
- vcmctc: what a vcmctc user runs: load_sfu_json / load_coco_gt once per sequence, then per
  rate point load_coco_results (contiguous ids mapped to COCO ids) and, with the vcmctc
  backend, coco_state per sequence and coco_pool of the states for the class rows (with the
  faster-coco-eval backend: evaluate_coco and evaluate_coco_pooled).
All 12 statistics of every row must agree to 1e-9 and the bit-identical share is printed (the
pycocotools backend is bit-identical; faster-coco-eval can differ in the last bits of a mean).
Run: python benchmarks/bench_coco.py [--small] [--also-pycocotools]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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
SFU_CLASS_INDICES = [0, 1, 2, 5, 7, 8, 13, 17, 24, 25, 26, 27, 32, 41, 56, 58, 60, 63, 67, 73,
                     74, 77]


# ------------------------------------------------------------------------------ data generation

def _boxes(rng, n, width, height, lo=0.01, hi=0.3):
    w = width * np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    h = height * np.exp(rng.uniform(np.log(lo), np.log(hi), n)) * 1.5
    x = rng.uniform(-0.02, 1.0, n) * width - w / 3
    y = rng.uniform(-0.02, 1.0, n) * height - h / 3
    return np.stack([x, y, w, h], 1)


def _detections(rng, gt_boxes, gt_cats, quality, n_total, width, height, class_pool, all_ids):
    """Jittered copies of most GT boxes (high scores) plus false positives up to n_total, most in
    the clip's classes (``class_pool``), some in any class the detector knows (``all_ids``)."""
    found = rng.random(len(gt_boxes)) < 0.95 - 0.08 * quality
    sigma = 0.03 + 0.03 * quality
    tb = gt_boxes[found].copy()
    if len(tb):
        tb[:, :2] += rng.normal(0, sigma, (len(tb), 2)) * tb[:, 2:]
        tb[:, 2:] *= np.exp(rng.normal(0, sigma, (len(tb), 2)))
    ts = np.clip(rng.beta(5, 1.5, len(tb)) - 0.05 * quality, 0.05, 1.0)
    n_fp = max(0, n_total - len(tb))
    fb = _boxes(rng, n_fp, width, height)
    fc = np.where(rng.random(n_fp) < 0.7, rng.choice(class_pool, n_fp), rng.choice(all_ids, n_fp))
    fs = rng.uniform(0.05, 0.75, n_fp)
    boxes = np.concatenate([tb, fb])
    cats = np.concatenate([gt_cats[found], fc])
    scores = np.round(np.concatenate([ts, fs]), 5)  # 5 decimals: some scores tie
    return boxes, cats, scores


def _det_dicts(image_id, boxes, cats, scores):
    return [{"image_id": image_id, "category_id": int(c), "bbox": [round(float(v), 4) for v in b],
             "score": float(s)} for b, c, s in zip(boxes, cats, scores)]


def generate(data: Path, small: bool, seed: int = 2024) -> dict:
    rng = np.random.default_rng(seed)
    n_rates = 2 if small else 6
    manifest = {"rates": n_rates, "sfu": [], "oiv": None}
    for name, width, height, frames, klass in SFU_CLIPS:
        if small:
            frames = max(8, frames // 4)
        classes = rng.choice(SFU_CLASS_INDICES, size=int(rng.integers(1, 5)), replace=False)
        mean_boxes = rng.uniform(5, 40)
        images, anns, per_frame = [], [], []
        for f in range(frames):
            images.append({"file_name": f"{name}_val_{f:03d}.png", "width": width,
                           "height": height, "id": float(f)})
            n = int(np.clip(rng.poisson(mean_boxes), 1, 60))
            boxes = np.round(_boxes(rng, n, width, height), 4)
            cats = rng.choice(classes, n)
            per_frame.append((boxes, cats))
            for b, c in zip(boxes, cats):
                anns.append({"bbox": [float(v) for v in b], "bbox_mode": 0,
                             "category_id": int(c), "id": len(anns) + 1, "image_id": float(f),
                             "iscrowd": 0, "area": float(b[2] * b[3])})
        gt_path = data / f"{name}_val.json"
        gt_path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [
            {"name": f"Class{i}", "id": i} for i in range(80)]}))
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


# ------------------------------------------------------------------------------ the two paths

def _classes(manifest):
    out: dict[str, list[int]] = {}
    for k, seq in enumerate(manifest["sfu"]):
        out.setdefault(seq["class"], []).append(k)
    return out


def run_reference(manifest) -> tuple[dict, dict]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def stats(coco_gt, coco_dt):
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = coco_gt.getImgIds()
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return [None if v == -1 else 100.0 * float(v) for v in ev.stats]

    rows, times = {}, {}
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = _clock()
        for q in range(manifest["rates"]):
            for seq in manifest["sfu"]:
                coco = COCO(seq["gt"])
                rows[f"{seq['name']}/qp{q}"] = stats(coco, coco.loadRes(seq["dets"][q]))
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
                        img["id"] += offset
                        images.append(img)
                    for a in gt["annotations"]:
                        a["id"] = len(anns) + 1
                        a["image_id"] += offset
                        anns.append(a)
                    categories = categories or gt["categories"]
                coco = COCO()
                coco.dataset = {"images": images, "annotations": anns, "categories": categories}
                coco.createIndex()
                rows[f"class {klass}/qp{q}"] = stats(coco, coco.loadRes(dets))
        times["sfu class rows"] = _clock() - t0
        t0 = _clock()
        for q, det_path in enumerate(manifest["oiv"]["dets"]):
            coco = COCO(manifest["oiv"]["gt"])
            rows[f"oiv6-like/qp{q}"] = stats(coco, coco.loadRes(det_path))
        times["oiv6-like"] = _clock() - t0
    return rows, times


def run_vcmctc(manifest, backend: str) -> tuple[dict, dict]:
    from vcmctc.datasets.coco import CONTIGUOUS_TO_COCO_ID, load_coco_gt, load_coco_results
    from vcmctc.datasets.sfu import load_sfu_json
    from vcmctc.evaluators.coco import (
        coco_finalize,
        coco_pool,
        coco_state,
        evaluate_coco,
        evaluate_coco_pooled,
    )

    def as_row(stats):
        return [None if math.isnan(v) else v for v in stats.values()]

    rows, times = {}, {"sfu sequences": 0.0, "sfu class rows": 0.0}
    t0 = _clock()
    gts = [load_sfu_json(s["gt"], frames=s["frames"], width=s["width"], height=s["height"])
           for s in manifest["sfu"]]
    times["sfu sequences"] += _clock() - t0
    for q in range(manifest["rates"]):
        t0 = _clock()
        dets, states = [], []
        for seq, gt in zip(manifest["sfu"], gts):
            dets.append(load_coco_results(seq["dets"][q], gt, category_map=CONTIGUOUS_TO_COCO_ID))
            if backend == "vcmctc":  # per-sequence states; class rows pool them
                states.append(coco_state(gt, dets[-1]))
                rows[f"{seq['name']}/qp{q}"] = as_row(coco_finalize(states[-1]))
            else:
                rows[f"{seq['name']}/qp{q}"] = as_row(evaluate_coco(gt, dets[-1], backend=backend))
        t1 = _clock()
        for klass, members in _classes(manifest).items():
            if backend == "vcmctc":
                pooled = coco_pool([states[i] for i in members])
            else:
                pooled = evaluate_coco_pooled([(gts[i], dets[i]) for i in members],
                                              backend=backend)
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
    """(wall, CPU) seconds: the machine may be shared, and CPU time suffers less from that."""
    return np.array([time.perf_counter(), time.process_time()])


def child(which: str, data: Path, out: Path) -> None:
    manifest = json.loads((data / "manifest.json").read_text())
    t0 = _clock()
    if which == "reference":
        rows, times = run_reference(manifest)
    else:
        rows, times = run_vcmctc(manifest, which.partition(":")[2])
    times["total"] = _clock() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = {part: [float(v) for v in t] for part, t in times.items()}
    out.write_text(json.dumps({"rows": rows, "times": times, "peak_mib": peak_mib}))


# ------------------------------------------------------------------------------ driver

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="quarter-length clips, 2 rate "
                        "points, 500 OIV6-like images")
    parser.add_argument("--also-pycocotools", action="store_true", help="also time vcmctc with "
                        "its pycocotools backend (bit-identical to the reference)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.out)
        return 0

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
        results = {}
        runs = ["vcmctc:vcmctc", "vcmctc:faster-coco-eval"] + (["vcmctc:pycocotools"] if args.also_pycocotools
                                               else []) + ["reference"]
        for which in runs:
            out = data / "run.out.json"
            subprocess.run([sys.executable, __file__, "--child", which, "--data", str(data),
                            "--out", str(out)], check=True, env={**os.environ})
            results[which] = json.loads(out.read_text())
    finally:
        shutil.rmtree(data, ignore_errors=True)

    ref = results.pop("reference")
    ok = True
    for which, ours in results.items():
        assert ours["rows"].keys() == ref["rows"].keys()
        n, same, worst = 0, 0, 0.0
        for key, ref_row in ref["rows"].items():
            for a, b in zip(ours["rows"][key], ref_row):
                n += 1
                if (a is None) != (b is None):
                    worst = math.inf
                elif a is None or a == b:
                    same += 1
                else:
                    worst = max(worst, abs(a - b))
        ok &= worst <= 1e-9
        print(f"{which}: {len(ref['rows'])} rows x 12 statistics vs reference: {same}/{n} "
              f"bit-identical, max |difference| {worst:.3g} (0-100 scale)"
              f"{'' if worst <= 1e-9 else '  <-- MISMATCH'}")
    names = list(results) + ["reference"]
    results["reference"] = ref
    print("seconds, wall / CPU" + "".join(f"{n:>28}" for n in names)
          + f"{'reference / ' + names[0].split(':')[-1]:>34}")
    for part in ("sfu sequences", "sfu class rows", "oiv6-like", "total"):
        times = [results[n]["times"][part] for n in names]
        cells = "".join(f"{f'{wall:.1f} / {cpu:.1f}':>28}" for wall, cpu in times)
        ratio = f"{times[-1][0] / times[0][0]:.1f}x / {times[-1][1] / times[0][1]:.1f}x"
        print(f"{part:<19}{cells}{ratio:>34}")
    print("peak memory (max RSS): " + ", ".join(
        f"{n} {results[n]['peak_mib']:.0f} MiB" for n in names))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
