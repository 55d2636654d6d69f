"""Benchmark, library level: the Open Images challenge mAP@0.5 at MPEG OIV6 scale.

Synthetic data (``ctc_data.oiv_set``): 5000 images, 47 classes, 12,641 GT boxes (15,365
instances with ``--masks``, RLE masks at image size in the challenge masks CSV), group-of boxes,
verified positive and negative image labels, and 4 rate points of predictions (about 30 boxes or
20 masks per image, some of classes outside the GT's).

The sides, each a whole process timed by the operating system (start-up, imports, file reading
included), interleaved and repeated (median and range of CPU and wall, peak memory):
- reference (boxes only): the TF Object Detection API's ``OpenImagesDetectionChallengeEvaluator``
  (PyPI ``object-detection-0-1==0.1``) in the reference venv (NumPy < 2), fed as its
  ``oid_od_challenge_evaluation.py`` does (see ``ref_ctc.oid_challenge``). That package has no
  instance-segmentation challenge evaluator: with ``--masks`` only vcmctc's time is printed.
- vcmctc, LIBRARY LEVEL: ``load_ground_truth`` once, then per rate point ``load_predictions`` +
  ``evaluate`` in-process (no validation, hashing, cache or results.json; ``vcmctc evaluate``
  end to end, OIV6 included, is ``bench_ctc.py``).
The mAP of every rate point must agree to 1e-9.

    python benchmarks/bench_openimages.py [--masks] [--images N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
QPS = (27, 32, 37, 39)


def run_vcmctc(spec: dict, data: Path, sub: Path) -> list[float]:
    from vcmctc.datasets.openimages import load_ground_truth, load_predictions
    from vcmctc.evaluators.openimages import evaluate

    masks = spec["masks"]
    mask_csv = next(iter((data / spec["boxes"]).parent.glob("*masks*.csv")), None)
    gt = load_ground_truth(data / spec["boxes"], data / spec["labels"],
                           masks=mask_csv if masks else None)
    out = []
    for p in spec["points"]:
        preds = load_predictions(sub / p["task_output"], gt, masks=masks)
        out.append(100.0 * evaluate(gt, preds, masks=masks).map)
    return out


def child(side: str, root: Path, out: Path) -> None:
    c0 = time.process_time()
    spec = json.loads((root / "spec.json").read_text())
    data, sub = root / "data", root / "sub"
    if side == "reference":
        from ref_ctc import oid_challenge

        maps = oid_challenge(data / spec["boxes"], data / spec["labels"],
                             [sub / p["task_output"] for p in spec["points"]])
    else:
        maps = run_vcmctc(spec, data, sub)
    out.write_text(json.dumps({"maps": maps, "in_process_cpu": time.process_time() - c0}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--masks", action="store_true", help="instance masks (no reference side)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.root, args.out)
        return 0
    from ctc_data import oiv_set
    from refenv import interleave, machine, print_times, reference_python, with_outputs

    print(f"machine: {machine()}")
    ref_python = None if args.masks else reference_python()
    with tempfile.TemporaryDirectory(prefix="vcmctc_bench_oid_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        instances = round((15365 if args.masks else 12641) * args.images / 5000)
        spec = oiv_set(np.random.default_rng(7), root / "data", root / "sub", "set", args.masks,
                       instances, 47, args.images, QPS)
        (root / "spec.json").write_text(json.dumps(spec))
        n_pred = sum(sum(1 for _ in open(root / "sub" / p["task_output"])) - 1
                     for p in spec["points"])
        print(f"generated in {time.perf_counter() - t0:.0f} s: {args.images} images, {instances} "
              f"GT {'instances with masks' if args.masks else 'boxes'}, {len(QPS)} rate points, "
              f"{n_pred} predictions", flush=True)
        sides = {}
        if not args.masks:
            sides["TF OD API challenge evaluator (numpy<2)"] = [
                str(ref_python), __file__, "--child", "reference"]
        sides["vcmctc library"] = [sys.executable, __file__, "--child", "vcmctc"]
        outs = with_outputs(sides, root, "--root", str(root))
        times = interleave(sides, args.repeats, log_dir=root)
        results = {name: json.loads(path.read_text()) for name, path in outs.items()}
    print_times(times, reference=next(iter(sides)))
    ours = results["vcmctc library"]["maps"]
    print("vcmctc mAP@0.5 per rate point: " + ", ".join(f"{m:.4f}" for m in ours))
    if args.masks:
        print("no reference: object-detection-0-1 has no instance-segmentation challenge "
              "evaluator (vcmctc's time only)")
        return 0
    ref = results[next(iter(sides))]["maps"]
    bad = [k for k, (a, b) in enumerate(zip(ours, ref)) if not abs(a - b) <= 1e-9 * max(1, abs(b))]
    print("numbers identical (1e-9)" if not bad else
          "MISMATCH: " + "; ".join(f"point {k}: vcmctc {ours[k]!r} reference {ref[k]!r}"
                                   for k in bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
