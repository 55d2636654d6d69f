"""Time the Open Images Challenge evaluator at MPEG OIV6 scale (synthetic data).

5000 images, 47 classes, about 12,600 GT boxes (like mpeg-oiv6-detection), six "rate points"
(six prediction files of the same GT, as a 6-QP anchor run produces). No reference tool is
installed here, so only vcmctc's own time is printed. Run:

    python benchmarks/bench_openimages.py [--masks] [--images N] [--fp-per-image F]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_openimages_synth import make_dataset, write_dataset  # noqa: E402

from vcmctc.datasets.openimages import load_ground_truth, load_predictions  # noqa: E402
from vcmctc.evaluators.openimages import evaluate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--classes", type=int, default=47)
    ap.add_argument("--rates", type=int, default=6)
    ap.add_argument("--fp-per-image", type=float, default=10.0)
    ap.add_argument("--masks", action="store_true", help="instance masks (64x96 images)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sets = []
        for r in range(args.rates):
            # same GT (seed 0) for every rate point, other predictions
            data = make_dataset(0, n_images=args.images, n_classes=args.classes,
                                masks=args.masks, mask_size=(64, 96), gt_per_image=2.53,
                                fp_per_image=args.fp_per_image, pred_seed=r)
            sets.append((data, write_dataset(data, Path(tmp) / f"r{r}")))
        print(f"generated {args.rates} synthetic rate points in {time.perf_counter() - t0:.1f} s")
        paths0 = sets[0][1]
        t = time.perf_counter()
        gt = load_ground_truth(paths0["boxes"], paths0["labels"],
                               masks=paths0.get("masks") if args.masks else None)
        t_gt = time.perf_counter() - t
        print(f"GT: {len(gt.images)} images, {gt.num_boxes} instances, {len(gt.classes)} classes;"
              f" loaded in {t_gt:.2f} s")
        total = 0.0
        for r, (_, paths) in enumerate(sets):
            t = time.perf_counter()
            preds = load_predictions(paths["preds"], gt, masks=args.masks)
            t_load = time.perf_counter() - t
            res = evaluate(gt, preds, masks=args.masks)
            t_all = time.perf_counter() - t
            total += t_all
            n_det = sum(len(p.scores) for p in preds.values())
            print(f"rate point {r}: {n_det} detections, mAP {res.map * 100:.3f}; "
                  f"load {t_load:.2f} s, load+evaluate {t_all:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"vcmctc total for {args.rates} rate points: {total + t_gt:.1f} s; peak RSS "
          f"{peak:.0f} MiB (no reference evaluator installed: vcmctc time only)")


if __name__ == "__main__":
    main()
