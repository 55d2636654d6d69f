"""Benchmark, library level: vcmctc's MOT evaluator against motmetrics 1.4.0 (TVD protocol).

CTC-scale synthetic TVD data (TVD-01 3000 frames, TVD-02 636, TVD-03 2334; about 30 boxes per
frame plus distractor and ignored GT rows; generator in ``ctc_data.py``) and predictions for 4
rate points. Both sides read the same MOTChallenge files and apply the ``tvd`` protocol
(motmetrics ``CLEAR_MOT_M`` with the MOT16 preprocessing, IoU 0.5), with the LAP solver
``scipy`` (the one ``vcmctc evaluate`` uses) unless ``--solver`` says otherwise:

- reference: motmetrics 1.4.0 as public CTC scripts drive it (``mm.io.loadtxt``,
  ``mm.utils.CLEAR_MOT_M``, ``compute_many(..., generate_overall=True)`` per rate point) in the
  reference venv that the benchmark makes (NumPy < 2, pandas < 2: the environment a user must
  build, since motmetrics 1.4.0 does not run on NumPy 2; no compatibility shim);
- vcmctc, LIBRARY LEVEL: ``vcmctc.datasets.mot.read_mot_txt`` + ``vcmctc.evaluators.mot``
  (``mot_counts``, ``finalize``, ``sum_counts``) called in-process - no validation, hashing,
  cache or results.json. ``vcmctc evaluate`` end to end is ``bench_ctc.py``. vcmctc also
  computes HOTA (``--no-hota`` leaves it out); motmetrics 1.4.0 has none.

Each side is a whole process timed by the operating system (start-up, imports and file reading
included), the sides interleaved and repeated; medians and ranges of CPU and wall, peak memory.
Numbers must be identical (counts exact, ratios to 1e-9).

    python benchmarks/bench_mot.py [--repeats 3] [--scale 0.1]
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
SEQUENCES = {"TVD-01": 3000, "TVD-02": 636, "TVD-03": 2334}
MOT_METRICS = ["idf1", "idp", "idr", "recall", "precision", "num_unique_objects",
               "mostly_tracked", "partially_tracked", "mostly_lost", "num_false_positives",
               "num_misses", "num_switches", "num_fragmentations", "mota", "motp",
               "num_transfer", "num_ascend", "num_migrate", "num_matches", "num_objects",
               "num_predictions", "idtp", "idfp", "idfn", "num_frames"]


def make_data(root: Path, scale: float, seed: int = 0) -> list[dict]:
    from ctc_data import TVD_QUALITY, seqinfo, tvd_gt, tvd_pred, write_mot

    rng = np.random.default_rng(seed)
    jobs = []
    for name, frames in SEQUENCES.items():
        n = max(20, int(frames * scale))
        seq = root / name
        gt = tvd_gt(rng, n)
        write_mot(seq / "gt" / "gt.txt", gt, int_cols=6)
        (seq / "seqinfo.ini").write_text(seqinfo(name, n))
        for q, quality in enumerate(TVD_QUALITY):
            pred = tvd_pred(rng, gt, n, quality)
            path = root / f"{name}_r{q + 1}.txt"
            write_mot(path, pred, int_cols=10)
            jobs.append({"seq": name, "rate": f"r{q + 1}", "gt": str(seq / "gt" / "gt.txt"),
                         "ini": str(seq / "seqinfo.ini"), "pred": str(path), "frames": n,
                         "gt_rows": len(gt), "pred_rows": len(pred)})
    (root / "jobs.json").write_text(json.dumps(jobs))
    return jobs


# ------------------------------------------------------------------------------ the two sides

def run_vcmctc(jobs, solver: str, hota: bool) -> dict:
    from vcmctc.datasets.mot import read_mot_txt, read_seqinfo
    from vcmctc.evaluators.mot import finalize, mot_counts, sum_counts

    out, per_rate, gts = {}, {}, {}
    for job in jobs:
        info = read_seqinfo(job["ini"])
        if job["seq"] not in gts:
            gts[job["seq"]] = read_mot_txt(job["gt"], first_frame=1, seq_length=info.seq_length)
        pred = read_mot_txt(job["pred"], first_frame=1, seq_length=info.seq_length)
        c = mot_counts(gts[job["seq"]], pred, protocol="tvd", seq_length=info.seq_length,
                       solver=solver, hota=hota)
        out[f"{job['seq']} {job['rate']}"] = finalize(c)
        per_rate.setdefault(job["rate"], []).append(c)
    for rp, cs in per_rate.items():
        out[f"OVERALL {rp}"] = finalize(sum_counts(cs))
    return out


def run_motmetrics(jobs, solver: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import motmetrics as mm

    mm.lap.default_solver = solver
    accs, gts, out = {}, {}, {}
    mh = mm.metrics.create()
    for job in jobs:
        if job["seq"] not in gts:
            gts[job["seq"]] = mm.io.loadtxt(job["gt"])
        pred = mm.io.loadtxt(job["pred"])
        acc, ana = mm.utils.CLEAR_MOT_M(gts[job["seq"]], pred, job["ini"])
        accs.setdefault(job["rate"], []).append((job["seq"], acc, ana))
    for rp, items in accs.items():
        summary = mh.compute_many([a for _, a, _ in items], anas=[b for _, _, b in items],
                                  metrics=MOT_METRICS, names=[s for s, _, _ in items],
                                  generate_overall=True)
        for name, row in summary.iterrows():
            out[f"{name} {rp}"] = {k: float(v) for k, v in row.items()}
    return out


def child(side: str, data: Path, out: Path, solver: str, hota: bool) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    jobs = json.loads((data / "jobs.json").read_text())
    rows = run_motmetrics(jobs, solver) if side == "motmetrics" else run_vcmctc(jobs, solver, hota)
    out.write_text(json.dumps({"rows": rows, "in_process": [time.perf_counter() - t0,
                                                            time.process_time() - c0]}))


def compare(ours: dict, ref: dict) -> list[str]:
    from bench_ctc import MOT_COUNTS, MOT_PERCENT

    bad = []
    for key, r in ref.items():
        o = ours[key]
        for m, v in MOT_COUNTS.items():
            if m != "num_frames" and int(r[m]) != o[v]:
                bad.append(f"{key} {v}: vcmctc {o[v]} motmetrics {r[m]}")
        pairs = [(100 * r[m], o[v], v) for m, v in MOT_PERCENT.items()] + [
            (r["motp"], o["MOTP"], "MOTP")]
        for a, b, name in pairs:
            if not abs(a - b) <= 1e-9 * max(1.0, abs(a)):
                bad.append(f"{key} {name}: vcmctc {b!r} motmetrics {a!r}")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the CTC frame counts")
    ap.add_argument("--solver", default="scipy", help="LAP solver of both sides (default scipy, "
                    "as vcmctc evaluate; 'lap' needs the lap package on both sides)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-hota", action="store_true", help="vcmctc without HOTA")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.data, args.out, args.solver, not args.no_hota)
        return 0
    sys.path.insert(0, str(HERE))
    from refenv import interleave, machine, print_times, reference_python

    print(f"machine: {machine()}")
    ref_python = reference_python()
    with tempfile.TemporaryDirectory(prefix="vcmctc_bench_mot_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        jobs = make_data(tmp, args.scale)
        print(f"data: {len(jobs)} sequence x rate runs, {sum(j['frames'] for j in jobs)} frames, "
              f"{sum({j['seq']: j['gt_rows'] for j in jobs}.values())} GT boxes, "
              f"{sum(j['pred_rows'] for j in jobs)} predicted boxes "
              f"({time.perf_counter() - t0:.1f} s to generate); LAP solver {args.solver}")
        common = ["--data", str(tmp), "--solver", args.solver]
        ours_name = f"vcmctc library{'' if args.no_hota else ' + HOTA'}"
        sides = {"motmetrics 1.4.0 (numpy<2 venv)":
                 [str(ref_python), __file__, "--child", "motmetrics", "--out",
                  str(tmp / "ref.json"), *common],
                 ours_name: [sys.executable, __file__, "--child", "vcmctc", "--out",
                             str(tmp / "ours.json"), *common]
                 + (["--no-hota"] if args.no_hota else [])}
        times = interleave(sides, args.repeats, log_dir=tmp)
        print_times(times, reference=next(iter(sides)))
        ours = json.loads((tmp / "ours.json").read_text())
        ref = json.loads((tmp / "ref.json").read_text())
    print(f"in-process (last run, without start-up): motmetrics {ref['in_process'][1]:.1f} s CPU, "
          f"vcmctc {ours['in_process'][1]:.1f} s CPU")
    bad = compare(ours["rows"], ref["rows"])
    print("numbers identical (counts exact, ratios 1e-9)" if not bad else f"{len(bad)} mismatches")
    for line in bad[:20]:
        print("  ", line)
    for q in range(4):
        o = ours["rows"][f"OVERALL r{q + 1}"]
        print(f"  OVERALL r{q + 1}: MOTA {o['MOTA']:.3f}  IDF1 {o['IDF1']:.3f}  IDSW {o['IDSW']}"
              + ("" if args.no_hota else f"  HOTA {o['HOTA']:.3f}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
