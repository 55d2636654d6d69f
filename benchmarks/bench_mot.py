"""Benchmark: vcmctc's MOT evaluator against the motmetrics path public CTC scripts use.

Generates CTC-scale synthetic TVD data (TVD-01 3000 frames, TVD-02 636, TVD-03 2334; ~20-40
pedestrians per frame plus a few distractor/ignored GT boxes) and predictions for 4 rate points
(noisier boxes, more misses, false positives and id switches at lower rates). Both paths read the
same MOTChallenge files and use the ``tvd`` protocol (motmetrics ``CLEAR_MOT_M`` with MOT16
preprocessing, IoU 0.5) and the same LAP solver. Each path runs in its own process so that its
peak RSS is its own. Numbers must be identical (counts exact, ratios to 1e-9).

    python benchmarks/bench_mot.py            # full CTC scale (motmetrics takes minutes)
    python benchmarks/bench_mot.py --scale 0.1
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SEQUENCES = {"TVD-01": 3000, "TVD-02": 636, "TVD-03": 2334}
# rate point -> (box noise as a fraction of the size, miss rate, false positives per frame,
#                id switch probability per track and frame)
RATE_POINTS = {"r1": (0.03, 0.05, 1.0, 0.002), "r2": (0.05, 0.10, 2.0, 0.004),
               "r3": (0.08, 0.15, 3.0, 0.006), "r4": (0.11, 0.25, 4.0, 0.010)}
MOT_NAMES = {  # motmetrics name -> vcmctc name
    "num_matches": "Matches", "num_switches": "IDSW", "num_false_positives": "FP",
    "num_misses": "FN", "num_fragmentations": "Frag", "mostly_tracked": "MT",
    "partially_tracked": "PT", "mostly_lost": "ML", "num_unique_objects": "GT_IDs",
    "num_transfer": "Transfer", "num_ascend": "Ascend", "num_migrate": "Migrate",
    "num_objects": "GT", "num_predictions": "Pred", "idtp": "IDTP", "idfp": "IDFP",
    "idfn": "IDFN"}
MOT_RATIOS = {"mota": "MOTA", "idf1": "IDF1", "idp": "IDP", "idr": "IDR", "recall": "Recall",
              "precision": "Precision"}


def synth_gt(rng: np.random.Generator, n_frames: int, per_frame: int = 30) -> np.ndarray:
    """Rows frame,id,x,y,w,h,conf,class,visibility of 1920x1080 tracks (frames from 1)."""
    mean_life = 200
    n_tracks = max(1, int(per_frame * n_frames / mean_life * 1.1))
    rows = []
    for tid in range(1, n_tracks + 1):
        life = int(np.clip(rng.exponential(mean_life), 10, n_frames))
        start = int(rng.integers(1, max(2, n_frames - life + 2)))
        frames = np.arange(start, min(n_frames, start + life - 1) + 1)
        n = len(frames)
        w0, h0 = rng.uniform(30, 120), rng.uniform(80, 300)
        x = rng.uniform(0, 1920 - w0) + np.cumsum(rng.normal(0, 2.0, n))
        y = rng.uniform(0, 1080 - h0) + np.cumsum(rng.normal(0, 1.0, n))
        w = w0 * (1 + 0.002 * np.cumsum(rng.normal(0, 1, n)))
        h = h0 * (w / w0)
        cls = 1 if rng.random() > 0.06 else int(rng.choice([2, 7, 8, 12]))
        conf = np.where(rng.random(n) < 0.02, 0, 1)
        vis = np.clip(rng.normal(0.8, 0.3, n), 0, 1)
        rows.append(np.column_stack([frames, np.full(n, tid), np.round(x), np.round(y),
                                     np.round(w), np.round(h), conf, np.full(n, cls), vis]))
    return np.concatenate(rows)


def synth_pred(rng: np.random.Generator, gt: np.ndarray, n_frames: int, rate: tuple) -> np.ndarray:
    """Tracker rows frame,id,x,y,w,h,1,-1,-1,-1 derived from the GT with rate-dependent errors."""
    noise, miss, fp_per_frame, switch = rate
    keep = rng.random(len(gt)) >= miss
    g = gt[keep]
    box = g[:, 2:6] + rng.normal(0, 1, (len(g), 4)) * noise * g[:, [4, 5, 4, 5]]
    # Ids: per GT track a run of tracker ids, a new id after each switch.
    order = np.lexsort((g[:, 0], g[:, 1]))
    g, box = g[order], box[order]
    new_track = np.r_[True, g[1:, 1] != g[:-1, 1]]
    switched = new_track | (rng.random(len(g)) < switch)
    ids = np.cumsum(switched)
    n_fp = rng.poisson(fp_per_frame * n_frames)
    fp = np.column_stack([rng.integers(1, n_frames + 1, n_fp), 10**6 + rng.integers(0, 50, n_fp),
                          rng.uniform(0, 1800, n_fp), rng.uniform(0, 800, n_fp),
                          rng.uniform(30, 120, n_fp), rng.uniform(80, 300, n_fp)])
    pred = np.concatenate([np.column_stack([g[:, 0], ids, np.round(box, 2)]), fp])
    # one id per frame at most: drop false positives that repeat an id in a frame
    _, first = np.unique(pred[:, :2], axis=0, return_index=True)
    pred = pred[np.sort(first)]
    pred = pred[np.argsort(pred[:, 0], kind="stable")]
    return np.column_stack([pred, np.ones(len(pred)), -np.ones((len(pred), 3))])


def write_rows(path: Path, rows: np.ndarray, int_cols: int) -> None:
    lines = []
    for r in rows.tolist():
        head = ",".join(str(int(v)) for v in r[:2])
        tail = ",".join(f"{v:g}" if k >= int_cols else str(int(v)) for k, v in enumerate(r[2:], 2))
        lines.append(f"{head},{tail}")
    path.write_text("\n".join(lines) + "\n")


def make_data(root: Path, scale: float, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    jobs = []
    for name, frames in SEQUENCES.items():
        n = max(20, int(frames * scale))
        seq = root / name
        (seq / "gt").mkdir(parents=True)
        (seq / "seqinfo.ini").write_text(
            f"[Sequence]\nname={name}\nframeRate=50\nseqLength={n}\nimWidth=1920\n"
            "imHeight=1080\nimExt=.png\nimDir=img1\n")
        gt = synth_gt(rng, n)
        write_rows(seq / "gt" / "gt.txt", gt, int_cols=6)
        for rp, rate in RATE_POINTS.items():
            pred = synth_pred(rng, gt, n, rate)
            path = root / f"{name}_{rp}.txt"
            write_rows(path, pred, int_cols=10)
            jobs.append({"seq": name, "rate": rp, "gt": seq / "gt" / "gt.txt",
                         "ini": seq / "seqinfo.ini", "pred": path, "gt_rows": len(gt),
                         "pred_rows": len(pred), "frames": n})
    return jobs


def run_vcmctc(jobs, solver, hota, queue):
    sys.path.insert(0, str(REPO))
    from vcmctc.datasets.mot import read_mot_txt, read_seqinfo
    from vcmctc.evaluators.mot import finalize, mot_counts, sum_counts

    t0, c0 = time.perf_counter(), time.process_time()
    out, per_rate = {}, {}
    gts = {}
    for job in jobs:
        info = read_seqinfo(job["ini"])
        if job["seq"] not in gts:
            gts[job["seq"]] = read_mot_txt(job["gt"], first_frame=1, seq_length=info.seq_length)
        pred = read_mot_txt(job["pred"], first_frame=1, seq_length=info.seq_length)
        c = mot_counts(gts[job["seq"]], pred, protocol="tvd", seq_length=info.seq_length,
                       solver=solver, hota=hota)
        out[(job["seq"], job["rate"])] = finalize(c)
        per_rate.setdefault(job["rate"], []).append(c)
    for rp, cs in per_rate.items():
        out[("OVERALL", rp)] = finalize(sum_counts(cs))
    queue.put((time.perf_counter() - t0, time.process_time() - c0, out,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def run_motmetrics(jobs, solver, queue):
    sys.path.insert(0, str(REPO / "tests" / "reference"))
    import warnings

    warnings.simplefilter("ignore")
    from motmetrics_compat import import_motmetrics

    mm = import_motmetrics()
    mm.lap.default_solver = solver
    t0, c0 = time.perf_counter(), time.process_time()
    out, accs = {}, {}
    metrics = mm.metrics.motchallenge_metrics + ["num_matches", "num_objects",
                                                 "num_predictions", "idtp", "idfp", "idfn"]
    gts = {}
    mh = mm.metrics.create()
    for job in jobs:
        if job["seq"] not in gts:
            gts[job["seq"]] = mm.io.loadtxt(str(job["gt"]))
        pred = mm.io.loadtxt(str(job["pred"]))
        acc, ana = mm.utils.CLEAR_MOT_M(gts[job["seq"]], pred, str(job["ini"]))
        accs.setdefault(job["rate"], []).append((job["seq"], acc, ana))
    for rp, items in accs.items():
        summary = mh.compute_many([a for _, a, _ in items], anas=[b for _, _, b in items],
                                  metrics=metrics, names=[s for s, _, _ in items],
                                  generate_overall=True)
        for name, row in summary.iterrows():
            out[(name, rp)] = row.to_dict()
    queue.put((time.perf_counter() - t0, time.process_time() - c0, out,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def in_child(target, *args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def compare(ours: dict, ref: dict) -> int:
    bad = 0
    for key, r in ref.items():
        o = ours[key]
        for mname, vname in MOT_NAMES.items():
            if int(r[mname]) != o[vname]:
                bad += 1
                print(f"MISMATCH {key} {vname}: vcmctc {o[vname]} motmetrics {r[mname]}")
        pairs = [(float(r[m]) * 100, o[v]) for m, v in MOT_RATIOS.items()]
        pairs.append((float(r["motp"]), o["MOTP"]))
        for (a, b), name in zip(pairs, [*MOT_RATIOS.values(), "MOTP"]):
            if not abs(a - b) <= 1e-9 * max(1.0, abs(a)):
                bad += 1
                print(f"MISMATCH {key} {name}: vcmctc {b!r} motmetrics {a!r}")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the CTC frame counts")
    ap.add_argument("--solver", default=None,
                    help="LAP solver for both paths (default: lap if installed, else scipy)")
    ap.add_argument("--skip-reference", action="store_true", help="time vcmctc only")
    ap.add_argument("--no-hota", action="store_true", help="vcmctc without HOTA")
    args = ap.parse_args(argv)
    solver = args.solver
    if solver is None:
        try:
            import lap  # noqa: F401
            solver = "lap"
        except ImportError:
            solver = "scipy"

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        jobs = make_data(Path(tmp), args.scale)
        frames = sum(j["frames"] for j in jobs)
        gt_rows = {j["seq"]: j["gt_rows"] for j in jobs}
        print(f"data: {len(jobs)} sequence x rate runs, {frames} frames, "
              f"{sum(gt_rows.values())} GT boxes, {sum(j['pred_rows'] for j in jobs)} "
              f"predicted boxes ({time.perf_counter() - t0:.1f} s to generate); solver {solver}; "
              "times include reading the files")
        hota = not args.no_hota
        w_ours, c_ours, ours, rss_ours = in_child(run_vcmctc, jobs, solver, hota)
        print(f"vcmctc (tvd protocol{', with HOTA' if hota else ''}): wall {w_ours:8.2f} s, "
              f"CPU {c_ours:8.2f} s, peak RSS {rss_ours / 1024:.0f} MiB")
        if args.skip_reference:
            return 0
        w_ref, c_ref, ref, rss_ref = in_child(run_motmetrics, jobs, solver)
        print(f"motmetrics CLEAR_MOT_M + compute_many: wall {w_ref:8.2f} s, CPU {c_ref:8.2f} s, "
              f"peak RSS {rss_ref / 1024:.0f} MiB")
        print(f"speed-up: {w_ref / w_ours:.1f}x wall, {c_ref / c_ours:.1f}x CPU")
        bad = compare(ours, ref)
        print("numbers identical (counts exact, ratios 1e-9)" if not bad
              else f"{bad} mismatches")
        for rp in RATE_POINTS:
            o = ours[("OVERALL", rp)]
            print(f"  OVERALL {rp}: MOTA {o['MOTA']:.3f}  IDF1 {o['IDF1']:.3f}  "
                  f"HOTA {o['HOTA']:.3f}  IDSW {o['IDSW']}")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
