"""The reference path for the CTC benchmark: what a user scores an FCM submission with today.

Runs in the benchmark's own reference venv (NumPy < 2, see benchmarks/refenv.py), never imports
vcmctc, and uses the public libraries the way their own scripts do:

- SFU (COCO mAP@0.5): per sequence, pycocotools ``COCO(gt.json)`` on the MPEG SFU JSON as it is
  (float image ids, contiguous category ids; the results' COCO ids are mapped to the contiguous
  ones), and per rate point ``loadRes`` + ``COCOeval`` -> the 12 statistics. Class rows (FCM: one
  evaluation over the class's pooled data): per class and rate point (k-th point by rate of each
  member) the members' GT and results files read again and merged with image-id offsets of
  10000 per member, then one ``COCOeval``. ``--coco faster-coco-eval`` runs the same calls with
  faster-coco-eval's ``COCO`` / ``COCOeval_faster`` instead.
- TVD (MOTA): motmetrics 1.4.0 (NumPy < 2, pandas < 2), ``mm.io.loadtxt`` once per sequence,
  ``mm.utils.CLEAR_MOT_M(gt, pred, seqinfo.ini)`` per rate point (the edition's ``tvd``
  protocol), ``compute_many(..., generate_overall=True)`` per rate point: the OVERALL row is the
  TVD class row. LAP solver ``scipy`` (what ``vcmctc evaluate`` uses; it is also the only one
  installed here).
- OIV6 detection (Open Images challenge mAP@0.5): the TF Object Detection API's
  ``OpenImagesDetectionChallengeEvaluator`` from the PyPI package ``object-detection-0-1==0.1``
  (the 2019 API), fed the way its ``metrics/oid_od_challenge_evaluation.py`` does (boxes and
  image-level labels concatenated and grouped by ImageID; predictions grouped by ImageID), with
  ``.to_numpy()`` where that script calls the long-removed ``DataFrame.as_matrix()``. The
  package imports TensorFlow for its estimator helpers only: a stub ``tensorflow`` module stands
  in for it (nothing of it is called), and ``builtins.unicode = str`` lets its Python 2 name
  handling run (it catches the TypeError that follows, as it does on Python 2 for unicode), and
  ``np.float`` / ``np.bool`` (removed in NumPy 1.24) are set to the builtins they aliased. The ground-truth dictionaries are built once and added to
  a fresh evaluator per rate point; predictions of classes outside the label map are dropped
  (the script would stop on them with a KeyError). OIV6 segmentation has no reference: that
  package has no instance-segmentation challenge evaluator.
- Rates: kbps = bits x fps / (1000 x frames) from the bitstream sizes; pooled class rates: total
  bits over total duration. OIV6: the reported bpp. BD-rates: ``bjontegaard.bd_rate(...,
  method="pchip")`` per sequence and per pooled class curve, against an anchor whose curves are
  the same task outputs (so the same metrics) with the anchor's rates; a curve whose metric does
  not rise strictly with the rate gets no BD-rate (the edition's ``refuse`` policy).

Output: one JSON file with every number and the wall and CPU seconds of each part.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import io
import json
import resource
import sys
import time
import types
import warnings
from pathlib import Path

START = (time.perf_counter(), time.process_time())

import numpy as np  # noqa: E402

# COCO ids of the 80 detection categories, in contiguous order (the COCO data set's own list)
COCO80_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
              25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49,
              50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74,
              75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]
CONTIGUOUS = {cid: i for i, cid in enumerate(COCO80_IDS)}
MOT_METRICS = ["idf1", "idp", "idr", "recall", "precision", "num_unique_objects",
               "mostly_tracked", "partially_tracked", "mostly_lost", "num_false_positives",
               "num_misses", "num_switches", "num_fragmentations", "mota", "motp",
               "num_transfer", "num_ascend", "num_migrate", "num_matches", "num_objects",
               "num_predictions", "idtp", "idfp", "idfn", "num_frames"]


class Clock:
    """Wall and CPU seconds per part, and CPU seconds per item (a point or a class point)."""

    def __init__(self):
        self.parts: dict[str, list[float]] = {}
        self.items: dict[str, float] = {}

    @contextlib.contextmanager
    def part(self, name: str):
        w, c = time.perf_counter(), time.process_time()
        yield
        acc = self.parts.setdefault(name, [0.0, 0.0])
        acc[0] += time.perf_counter() - w
        acc[1] += time.process_time() - c

    @contextlib.contextmanager
    def item(self, name: str):
        c = time.process_time()
        yield
        self.items[name] = self.items.get(name, 0.0) + time.process_time() - c


def kbps(path: Path, fps: float, frames: int) -> tuple[float, int]:
    bits = path.stat().st_size * 8
    return bits * fps / (1000.0 * frames), bits


# ------------------------------------------------------------------------------ COCO (SFU)

def coco_classes(backend: str):
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        return COCO, COCOeval
    from faster_coco_eval import COCO, COCOeval_faster
    return COCO, COCOeval_faster


def coco_stats(COCO, COCOeval, coco_gt, dets) -> list:
    coco_dt = coco_gt.loadRes(dets)
    ev = COCOeval(coco_gt, coco_dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return [None if v == -1 else 100.0 * float(v) for v in list(ev.stats)[:12]]


def read_results(path: Path, offset: int = 0) -> list:
    dets = json.loads(path.read_text())
    for d in dets:
        d["category_id"] = CONTIGUOUS[d["category_id"]]
        d["image_id"] = d["image_id"] + offset
    return dets


def run_sfu(spec, data, sub, backend, clock, out, rates):
    COCO, COCOeval = coco_classes(backend)
    sfu = {s: v for s, v in spec["sequences"].items() if v["family"] == "coco"}
    with contextlib.redirect_stdout(io.StringIO()):
        with clock.part("sfu sequences"):
            for seq_id, seq in sfu.items():
                with clock.item(f"gt {seq_id}"):
                    coco_gt = COCO(str(data / seq["gt"]))
                for p in seq["points"]:
                    with clock.item(f"{seq_id} {p['qp']}"):
                        rate, bits = kbps(sub / p["bitstream"], seq["fps"], seq["frames"])
                        stats = coco_stats(COCO, COCOeval, coco_gt,
                                           read_results(sub / p["task_output"]))
                    rates[(seq_id, p["qp"])] = (rate, bits)
                    out["points"].setdefault(seq_id, []).append(
                        {"qp": p["qp"], "rate": rate, "stats": stats, "metric": stats[1]})
        with clock.part("sfu class rows"):
            for cls, members in spec["classes"].items():
                if spec["sequences"][members[0]]["family"] != "coco":
                    continue
                by_rate = [sorted(sfu[m]["points"], key=lambda p: rates[(m, p["qp"])][0])
                           for m in members]
                curve = []
                for k in range(len(by_rate[0])):
                    with clock.item(f"class {cls} {k}"):
                        images, anns, dets, categories = [], [], [], None
                        bits = duration = 0.0
                        for m, (seq_id, points) in enumerate(zip(members, by_rate)):
                            seq, p = sfu[seq_id], points[k]
                            offset = 10000 * (m + 1)
                            gt = json.loads((data / seq["gt"]).read_text())
                            for img in gt["images"]:
                                img["id"] = int(img["id"]) + offset
                                images.append(img)
                            for a in gt["annotations"]:
                                a["image_id"] = int(a["image_id"]) + offset
                                a["id"] = len(anns) + 1
                                anns.append(a)
                            categories = categories or gt["categories"]
                            dets += read_results(sub / p["task_output"], offset)
                            bits += rates[(seq_id, p["qp"])][1]
                            duration += seq["frames"] / seq["fps"]
                        coco_gt = COCO()
                        coco_gt.dataset = {"images": images, "annotations": anns,
                                           "categories": categories}
                        coco_gt.createIndex()
                        stats = coco_stats(COCO, COCOeval, coco_gt, dets)
                    curve.append({"rate": bits / duration / 1000.0, "metric": stats[1],
                                  "stats": stats, "bits": bits, "duration": duration})
                out["classes"][cls] = curve


# ------------------------------------------------------------------------------ MOT (TVD)

def run_tvd(spec, data, sub, clock, out, rates):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with clock.part("imports tvd"):
            import motmetrics as mm
        mm.lap.default_solver = "scipy"
        tvd = {s: v for s, v in spec["sequences"].items() if v["family"] == "tracking"}
        with clock.part("tvd"):
            accs = {}
            for seq_id, seq in tvd.items():
                with clock.item(f"gt {seq_id}"):
                    gt = mm.io.loadtxt(str(data / seq["gt"]))
                for p in seq["points"]:
                    with clock.item(f"{seq_id} {p['qp']}"):
                        pred = mm.io.loadtxt(str(sub / p["task_output"]))
                        accs[(seq_id, p["qp"])] = mm.utils.CLEAR_MOT_M(gt, pred,
                                                                       str(data / seq["ini"]))
                    rates[(seq_id, p["qp"])] = kbps(sub / p["bitstream"], seq["fps"],
                                                    seq["frames"])
            members = list(tvd)
            by_rate = [sorted(tvd[m]["points"], key=lambda p: rates[(m, p["qp"])][0])
                       for m in members]
            mh = mm.metrics.create()
            curve = []
            for k in range(len(by_rate[0])):
                with clock.item(f"class TVD {k}"):
                    keys = [(m, pts[k]["qp"]) for m, pts in zip(members, by_rate)]
                    summary = mh.compute_many([accs[key][0] for key in keys],
                                              anas=[accs[key][1] for key in keys],
                                              metrics=MOT_METRICS, names=members,
                                              generate_overall=True)
                rows = {name: {m: float(v) for m, v in row.items()}
                        for name, row in summary.iterrows()}
                for seq_id, qp in keys:
                    row = rows[seq_id]
                    out["points"].setdefault(seq_id, []).append(
                        {"qp": qp, "rate": rates[(seq_id, qp)][0], "stats": row,
                         "metric": 100.0 * row["mota"]})
                bits = sum(rates[key][1] for key in keys)
                duration = sum(tvd[m]["frames"] / tvd[m]["fps"] for m in members)
                curve.append({"rate": bits / duration / 1000.0,
                              "metric": 100.0 * rows["OVERALL"]["mota"],
                              "stats": rows["OVERALL"], "bits": bits, "duration": duration})
            for seq_id in members:
                out["points"][seq_id].sort(key=lambda p: p["qp"])
            out["classes"]["TVD"] = curve


# ------------------------------------------------------------------------------ Open Images

def oid_challenge(boxes_csv: Path, labels_csv: Path, predictions: list[Path],
                  clock: Clock | None = None, keys: list[str] | None = None) -> list[float]:
    """mAP@0.5 (0-100) of each predictions CSV against the GT CSVs, by the TF OD API challenge
    evaluator (see the module docstring); ``clock`` items ``gt`` and ``keys[k]``."""
    import pandas as pd

    clock = clock or Clock()
    keys = keys or [str(k) for k in range(len(predictions))]
    with clock.part("imports oiv"):
        # The package imports TensorFlow for its tf.estimator helpers only; nothing of it runs.
        sys.modules.setdefault("tensorflow", types.ModuleType("tensorflow"))
        # It is Python 2 code in places: ``unicode(name, 'utf-8')`` on a category name, whose
        # TypeError it catches; ``str`` gives that TypeError on Python 3.
        builtins.unicode = str
        # and NumPy < 1.20 code: the aliases np.float and np.bool (removed in 1.24) were the
        # builtins, which is what its dtype checks compare with
        np.float, np.bool = float, bool
        from object_detection.core import standard_fields
        from object_detection.utils import object_detection_evaluation
    gt_fields = standard_fields.InputDataFields
    dt_fields = standard_fields.DetectionResultFields
    maps = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with clock.item(f"gt {keys[0].split()[0]}"):
            boxes = pd.read_csv(boxes_csv)
            labels = pd.read_csv(labels_csv)
            labels.rename(columns={"Confidence": "ConfidenceImageLabel"}, inplace=True)
            annotations = pd.concat([boxes, labels])
            names = list(dict.fromkeys(annotations["LabelName"]))
            class_map = {name: i + 1 for i, name in enumerate(names)}
            categories = [{"id": i, "name": n} for n, i in class_map.items()]
            gt_dicts = {}
            for image_id, g in annotations.groupby("ImageID"):
                data_boxes = g[g.ConfidenceImageLabel.isnull()]
                data_labels = g[g.XMin.isnull()]
                gt_dicts[image_id] = {
                    gt_fields.groundtruth_boxes:
                        data_boxes[["YMin", "XMin", "YMax", "XMax"]].to_numpy(),
                    gt_fields.groundtruth_classes:
                        data_boxes["LabelName"].map(lambda x: class_map[x]).to_numpy(),
                    gt_fields.groundtruth_group_of:
                        data_boxes["IsGroupOf"].to_numpy().astype(int),
                    gt_fields.groundtruth_image_classes:
                        data_labels["LabelName"].map(lambda x: class_map[x]).to_numpy()}
        for key, path in zip(keys, predictions):
            with clock.item(key):
                evaluator = object_detection_evaluation.OpenImagesDetectionChallengeEvaluator(
                    categories)
                for image_id, gt_dict in gt_dicts.items():
                    evaluator.add_single_ground_truth_image_info(image_id, gt_dict)
                preds = pd.read_csv(path)
                preds = preds[preds["LabelName"].isin(class_map)]
                for image_id, pr in preds.groupby("ImageID"):
                    evaluator.add_single_detected_image_info(image_id, {
                        dt_fields.detection_boxes: pr[["YMin", "XMin", "YMax", "XMax"]].to_numpy(),
                        dt_fields.detection_classes:
                            pr["LabelName"].map(lambda x: class_map[x]).to_numpy(),
                        dt_fields.detection_scores: pr["Score"].to_numpy()})
                metrics = evaluator.evaluate()
            maps.append(100.0 * float(metrics["OpenImagesChallenge2018_Precision/mAP@0.5IOU"]))
    return maps


def run_oiv_det(spec, data, sub, clock, out, rates):
    sets = {s: v for s, v in spec["sequences"].items()
            if v["family"] == "openimages" and not v["masks"]}
    for seq_id, seq in sets.items():
        with clock.part("oiv6 detection"):
            maps = oid_challenge(data / seq["boxes"], data / seq["labels"],
                                 [sub / p["task_output"] for p in seq["points"]], clock,
                                 [f"{seq_id} {p['qp']}" for p in seq["points"]])
            for p, value in zip(seq["points"], maps):
                rate = p["bits"] / p["pixels"]
                rates[(seq_id, p["qp"])] = (rate, p["bits"])
                out["points"].setdefault(seq_id, []).append(
                    {"qp": p["qp"], "rate": rate, "stats": {"mAP@0.5": value}, "metric": value})


# ------------------------------------------------------------------------------ BD-rates

def run_bd(spec, sub_anchor, clock, out):
    with clock.part("imports bd"):
        import bjontegaard as bd

    def bd_rate(anchor, test):
        anchor, test = sorted(anchor), sorted(test)
        for curve in (anchor, test):
            if any(b[1] <= a[1] for a, b in zip(curve, curve[1:])):
                return None      # the edition's 'refuse' policy: no BD-rate on such a curve
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = bd.bd_rate([r for r, _ in anchor], [m for _, m in anchor],
                               [r for r, _ in test], [m for _, m in test], method="pchip",
                               require_matching_points=False)
        return None if value != value else float(value)

    with clock.part("bd-rates"):
        anchor_bits = {}
        for seq_id, points in out["points"].items():
            seq = spec["sequences"][seq_id]
            test, anchor = [], []
            for p, sp in zip(points, sorted(seq["points"], key=lambda x: x["qp"])):
                if "anchor_rate" in sp:
                    a_rate, a_bits = sp["anchor_rate"], None
                else:
                    a_rate, a_bits = kbps(sub_anchor / sp["anchor_bitstream"], seq["fps"],
                                          seq["frames"])
                anchor_bits[(seq_id, p["qp"])] = a_bits
                test.append((p["rate"], p["metric"]))
                anchor.append((a_rate, p["metric"]))   # the same outputs: the same metric
            out["bd"][seq_id] = bd_rate(anchor, test)
        for cls, curve in out["classes"].items():
            members = spec["classes"][cls]
            by_rate = [sorted(out["points"][m], key=lambda p: p["rate"]) for m in members]
            anchor = []
            for k, c in enumerate(curve):
                bits = sum(anchor_bits[(m, pts[k]["qp"])] for m, pts in zip(members, by_rate))
                anchor.append((bits / c["duration"] / 1000.0, c["metric"]))
            out["bd"][f"class {cls}"] = bd_rate(anchor, [(c["rate"], c["metric"]) for c in curve])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, required=True)
    ap.add_argument("--root", type=Path, required=True, help="the generated data's folder")
    ap.add_argument("--submission", default="comparable")
    ap.add_argument("--coco", choices=["pycocotools", "faster-coco-eval"], default="pycocotools")
    ap.add_argument("--parts", default="sfu,tvd,oiv-det,bd")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    spec = json.loads(args.spec.read_text())
    data, sub = args.root / "data", args.root / "sub" / args.submission
    parts = set(args.parts.split(","))
    clock = Clock()
    clock.parts["start-up"] = [time.perf_counter() - START[0], time.process_time() - START[1]]
    out = {"coco": args.coco, "points": {}, "classes": {}, "bd": {}}
    rates: dict = {}
    if "sfu" in parts:
        run_sfu(spec, data, sub, args.coco, clock, out, rates)
    if "tvd" in parts:
        run_tvd(spec, data, sub, clock, out, rates)
    if "oiv-det" in parts:
        run_oiv_det(spec, data, sub, clock, out, rates)
    if "bd" in parts:
        run_bd(spec, args.root / "sub" / "anchor", clock, out)
    for points in out["points"].values():
        points.sort(key=lambda p: p["qp"])
    out["times"] = clock.parts
    out["items"] = clock.items
    out["total"] = [time.perf_counter() - START[0], time.process_time() - START[1]]
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["versions"] = versions()
    args.out.write_text(json.dumps(out))
    return 0


def versions() -> dict:
    from importlib import metadata

    found = {}
    for dist in ("numpy", "pandas", "scipy", "pycocotools", "faster-coco-eval", "motmetrics",
                 "bjontegaard", "object-detection-0.1"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


if __name__ == "__main__":
    sys.exit(main())
