"""An IoU tracker over the demo detector (demo only, not a CTC network).

Frame by frame, the detections of the tracked classes (people by default) whose score is at
least ``min_score`` are matched to the live tracks greedily (highest IoU first) on the IoU
between each detection and the track's predicted box (last box moved by the track's
constant-velocity estimate, which carries tracks through short occlusions); pairs below
``iou_threshold``, of different classes or of different known appearance (the detector's colour
cue, standing in for the appearance embedding of trackers such as JDE) never match. Rules:

- birth: an unmatched detection starts a tentative track; it is confirmed after ``min_hits``
  consecutive matched frames and then reported from its first frame (the tracker works offline
  on a whole file, so the frames before confirmation can be written);
- death: a track unmatched for more than ``max_age`` frames ends; the frames it missed are not
  reported (no extrapolated boxes);
- ids: confirmed tracks get ids 1, 2, ... in order of confirmation (ties: first frame, then
  detection order), so the output is deterministic.

CLI: ``python -m vcmctc.demo.tracker --yuv F --width W --height H --frames N --first-frame 1
--output out.txt`` writes MOTChallenge rows ``frame,id,x,y,w,h,score,-1,-1,-1``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from vcmctc.demo._cli import run_cli
from vcmctc.demo.detector import Detection, _add_video_args, detect_yuv
from vcmctc.demo.scene import PERSON


@dataclass(frozen=True)
class TrackerConfig:
    classes: tuple[int, ...] = (PERSON,)
    min_score: float = 0.3
    iou_threshold: float = 0.25
    min_hits: int = 2
    max_age: int = 6
    velocity_smoothing: float = 0.5  # weight of the newest displacement in the velocity EMA


@dataclass(frozen=True)
class TrackRow:
    """One reported box: 0-based frame index, track id, box, score."""

    frame: int
    track_id: int
    x: float
    y: float
    w: float
    h: float
    score: float


@dataclass
class _Track:
    serial: int
    category_id: int
    appearance: int
    box: np.ndarray  # x, y, w, h of the last match
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1
    track_id: int | None = None
    history: list = field(default_factory=list)  # (frame, Detection)

    def predict(self, frame: int) -> np.ndarray:
        dt = frame - self.last_frame
        return self.box + np.array([self.velocity[0] * dt, self.velocity[1] * dt, 0.0, 0.0])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every XYWH box in ``a`` (n, 4) with every box in ``b`` (m, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax0, ay0, ax1, ay1 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _greedy_pairs(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Greedy assignment: repeatedly take the pair with the highest IoU (ties: lower track
    index, then lower detection index) among unassigned tracks and detections."""
    if iou.size == 0:
        return []
    cand = np.argwhere(iou >= threshold)
    order = np.lexsort((cand[:, 1], cand[:, 0], -iou[cand[:, 0], cand[:, 1]]))
    used_t, used_d, pairs = set(), set(), []
    for i, j in cand[order].tolist():
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
            pairs.append((i, j))
    return pairs


def track(per_frame: Sequence[Sequence[Detection]],
          config: TrackerConfig = TrackerConfig()) -> list[TrackRow]:
    """Run the tracker over per-frame detections; rows sorted by frame, then id."""
    live: list[_Track] = []
    finished: list[_Track] = []
    serial = 0
    next_id = 1
    for t, dets in enumerate(per_frame):
        dets = [d for d in dets if d.category_id in config.classes and d.score >= config.min_score]
        boxes = np.array([[d.x, d.y, d.w, d.h] for d in dets], dtype=np.float64).reshape(-1, 4)
        preds = np.array([tr.predict(t) for tr in live]).reshape(-1, 4)
        iou = iou_matrix(preds, boxes)
        for i, tr in enumerate(live):
            for j, d in enumerate(dets):
                if d.category_id != tr.category_id or (
                        d.appearance != tr.appearance and min(d.appearance, tr.appearance) >= 0):
                    iou[i, j] = 0.0
        matched_tracks, matched_dets = set(), set()
        for i, j in _greedy_pairs(iou, config.iou_threshold):
            tr, box = live[i], boxes[j]
            dt = t - tr.last_frame
            step = ((box[:2] + box[2:] / 2) - (tr.box[:2] + tr.box[2:] / 2)) / dt
            a = config.velocity_smoothing
            tr.velocity = step if tr.hits == 1 else a * step + (1 - a) * tr.velocity
            consecutive = dt == 1
            tr.hits = tr.hits + 1 if (consecutive or tr.track_id is not None) else 1
            tr.box, tr.last_frame = box, t
            tr.history.append((t, dets[j]))
            matched_tracks.add(i)
            matched_dets.add(j)
        still: list[_Track] = []
        for i, tr in enumerate(live):
            if i not in matched_tracks and tr.track_id is None:
                tr.hits = 0  # a tentative track must be matched on consecutive frames
            if tr.track_id is None and tr.hits >= config.min_hits:
                tr.track_id = next_id
                next_id += 1
            age = t - tr.last_frame
            if age > config.max_age or (tr.track_id is None and age > 0):
                finished.append(tr)
            else:
                still.append(tr)
        for j, d in enumerate(dets):
            if j not in matched_dets:
                serial += 1
                tr = _Track(serial, d.category_id, d.appearance, boxes[j], t,
                            history=[(t, d)])
                if config.min_hits <= 1:
                    tr.track_id = next_id
                    next_id += 1
                still.append(tr)
        live = still
    rows_out = [TrackRow(f, tr.track_id, float(d.x), float(d.y), float(d.w), float(d.h), d.score)
                for tr in finished + live if tr.track_id is not None for f, d in tr.history]
    rows_out.sort(key=lambda r: (r.frame, r.track_id))
    return rows_out


def mot_lines(rows: Sequence[TrackRow], first_frame: int = 1) -> list[str]:
    """MOTChallenge tracker rows ``frame,id,x,y,w,h,score,-1,-1,-1``."""
    return [f"{r.frame + first_frame},{r.track_id},{r.x:g},{r.y:g},{r.w:g},{r.h:g},"
            f"{r.score:g},-1,-1,-1" for r in rows]


def track_yuv(path, width: int, height: int, frames: int | None = None,
              config: TrackerConfig = TrackerConfig()) -> list[TrackRow]:
    """Detect on every frame of an 8-bit 4:2:0 YUV file and track."""
    return track(detect_yuv(path, width, height, frames), config)


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vcmctc.demo.tracker",
                                     description="Demo IoU tracker: MOTChallenge txt.")
    _add_video_args(parser, 1)
    parser.add_argument("--min-score", type=float, default=TrackerConfig.min_score)
    args = parser.parse_args(argv)
    rows = track_yuv(args.yuv, args.width, args.height, args.frames,
                     TrackerConfig(min_score=args.min_score))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line + "\n" for line in mot_lines(rows, args.first_frame)))


def main(argv: list[str] | None = None) -> int:
    return run_cli("vcmctc.demo.tracker", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
