"""``vcmctc demo --track fcm``: a feature-coding mini CTC evaluated at the ``decoded`` level.

Needs PyTorch (the ``[torch]`` extra). Built like an FCM experiment with packed feature maps
coded by VVC:

1. the ``ctc-demo-fcm`` sequences (two synthetic detection sequences and their ground truth);
2. part 1 of the split network of :mod:`vcmctc.demo.fcmnet` on every frame: the original
   features (``a``, ``b``), kept as ``original_features`` of every point (so vcmctc reports the
   MSE of the decoded features), and part 1's kMAC/pixel measured with torch's FLOP counter;
3. the anchor and the example submission (:mod:`vcmctc.demo.fcmcodec`): the features quantised
   to 10 bits, packed into monochrome pictures and VVC-coded at the edition's QPs; the
   submission codes only ``a`` and restores ``b`` at the decoder;
4. both evaluated by vcmctc like any submission: the decoder (``output: features``) run by
   vcmctc, the decoded features checked against the split point (names, shapes, dtypes, frames),
   MD5s and conformance statistics recorded, part 2 run in-process by the ``torch`` adapter
   (its kMAC/pixel measured), detections scored with COCO AP, BD-rates against the anchor;
5. reports (HTML, xlsx, Markdown) with the BD-rates, the feature MD5s and the kMAC/pixel.

Cached under the output folder like :mod:`vcmctc.demo.run`.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from vcmctc import __version__
from vcmctc.demo.run import Demo
from vcmctc.runner import contained_map
from vcmctc.submission.cache import atomic_write_text

EDITION = "ctc-demo-fcm"
STAMP_VERSION = 1
# The submission's rate points: the anchor's QPs + 5. Its curve lies above the anchor's, so at
# the anchor's own QPs the two would share little of their quality range; a submitter chooses
# rate points that cover the anchor's (the edition's QPs are the anchor's).
SUBMISSION_QP_OFFSET = 5
TORCH_HINT = ("vcmctc demo --track fcm runs a torch split network: install the extra with "
              "pip install 'vcmctc[torch]' (a CPU build: pip install torch==2.13.0 where a local "
              "wheel is offered, else pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu)")


def _stamp() -> dict[str, Any]:
    from vcmctc.demo import fcmcodec, fcmnet, vvc

    return {"stamp": STAMP_VERSION, "vcmctc": __version__,
            "encoder": {"preset": vvc.DEFAULT_PRESET, "intra_period": vvc.DEFAULT_INTRA_PERIOD,
                        **vvc.ENCODER_SETTINGS},
            "codec": {"bits": fcmcodec.BITS, "a_grid": list(fcmcodec.A_GRID),
                      "b_grid": list(fcmcodec.B_GRID), "qp_offset": SUBMISSION_QP_OFFSET},
            "network": {"chroma_threshold": fcmnet.CHROMA_THRESHOLD, "frac": fcmnet.FRAC}}


def _decoder_argv() -> list[str]:
    return [sys.executable, "-m", "vcmctc.demo.fcmcodec", "decode", "--bitstream", "{bitstream}",
            "--side-info", "{side_info}", "--output", "{output}", "--width", "{width}",
            "--height", "{height}", "--frames", "{frames}"]


def _manifest(codec: str, description: str, anchor: str | None,
              points: dict[str, list[dict]]) -> str:
    lines = [f"# Written by vcmctc demo --track fcm. {description}",
             f"codec: {json.dumps(codec)}", "track: demo", f"edition: {EDITION}"]
    if anchor:
        lines.append(f"anchor: {json.dumps(anchor)}")
    lines += ["decoder:", f"  argv: {json.dumps(_decoder_argv())}", "  output: features",
              "  timeout_s: 600", "task:", "  adapter: torch",
              "  entry: vcmctc.demo.fcmnet:build_part2", "  options: {device: cpu}",
              "  timeout_s: 600", "sequences:"]
    for seq, pts in points.items():
        lines.append(f"  {seq}:")
        lines += [f"    - {json.dumps(p)}" for p in pts]
    return "\n".join(lines) + "\n"


class FcmDemo(Demo):
    EDITION = EDITION
    REPORT = "demo-fcm"
    ANCHOR = "the feature anchor"

    def __init__(self, out: Path, jobs: int = 2, say: Callable[[str], None] | None = None):
        super().__init__(out, jobs, say)
        self.features = self.out / "features"

    @property
    def folders(self) -> dict[str, Path]:
        return {"anchor": self.anchor_dir, "submission": self.sub_dir}

    def stamp(self) -> dict[str, Any]:
        return _stamp()

    def cache_folders(self) -> tuple[Path, ...]:
        return (*super().cache_folders(), self.features)

    def part1(self, seq) -> Path:
        """Part 1 on every frame: the original features and part 1's complexity."""
        import numpy as np
        import torch

        from vcmctc.demo import fcmnet
        from vcmctc.features.complexity import count_macs, kmac_per_pixel
        from vcmctc.features.store import write_features
        from vcmctc.media.yuv import YuvFormat, YuvReader

        path = self.features / f"{seq.id}.npz"
        meta = path.with_suffix(".json")
        if meta.exists():
            return path
        self.features.mkdir(parents=True, exist_ok=True)
        net = fcmnet.Part1()
        split = self.ed.split_points[seq.split_point]
        pixels = split.input_elements(seq.width, seq.height)
        a, b, macs = [], [], {}
        with YuvReader(self.yuv(seq), YuvFormat(seq.width, seq.height)) as reader:
            for i in range(seq.frames):
                x = torch.from_numpy(fcmnet.frame_input(*reader[i]))[None]
                if i == 0:
                    (fa, fb), macs["nn_part1"] = count_macs(net, x)
                    _, macs["restoration"] = count_macs(net.level_b, fa)
                else:
                    with torch.no_grad():
                        fa, fb = net(x)
                a.append(fa[0].float().numpy())
                b.append(fb[0].float().numpy())
        tmp = path.with_name(f".{path.name}")
        write_features(tmp, {"a": np.stack(a), "b": np.stack(b)})
        tmp.replace(path)
        atomic_write_text(meta, json.dumps({k: kmac_per_pixel(v, pixels) for k, v in macs.items()}))
        self.say(f"part 1 on {seq.id}: {seq.frames} frames of features")
        return path

    def encode_all(self) -> None:
        contained_map(self.part1, self.ed.sequences.values(), self.jobs)
        jobs = [(seq, qp, codec) for seq in self.ed.sequences.values()
                for codec in self.folders for qp in self.qps(seq, codec)]
        contained_map(lambda job: self._encode(*job), jobs, self.jobs)

    def qps(self, seq, codec: str) -> list[int]:
        offset = SUBMISSION_QP_OFFSET if codec == "submission" else 0
        return [qp + offset for qp in self.ed.qps(seq)]

    def _encode(self, seq, qp: int, codec: str) -> None:
        import time

        import numpy as np

        from vcmctc.demo import fcmcodec
        from vcmctc.features.store import FeatureFile

        folder = self.folders[codec] / "bitstream" / seq.id
        stem = f"{seq.id}_qp{qp}"
        meta = folder / f"{stem}.json"
        if meta.exists():
            return
        folder.mkdir(parents=True, exist_ok=True)
        with FeatureFile(self.features / f"{seq.id}.npz") as ff:
            frames = list(ff.frames(("a", "b")))
        started = time.perf_counter()
        a = np.stack([f["a"] for f in frames])
        b = np.stack([f["b"] for f in frames])
        tmp_bin, tmp_side = folder / f".{stem}.266", folder / f".{stem}.side"
        run = fcmcodec.encode(a, b, codec, qp, seq.fps, seq.width, seq.height, tmp_bin, tmp_side)
        enc_s = time.perf_counter() - started
        tmp_bin.replace(folder / f"{stem}.266")
        tmp_side.replace(folder / f"{stem}.side")
        atomic_write_text(meta, json.dumps({"enc_time_s": enc_s, "vvc_wall_s": run.wall_s}))
        self.say(f"{codec}: features of {seq.id} QP {qp}: {run.size_bytes} bytes")

    def manifests(self) -> None:
        for codec, folder in self.folders.items():
            points: dict[str, list[dict]] = {}
            for seq in self.ed.sequences.values():
                original = folder / "features" / f"{seq.id}.npz"
                if not original.exists():
                    original.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self.features / f"{seq.id}.npz", original)
                part1 = json.loads((self.features / f"{seq.id}.json").read_text())
                complexity = {"nn_part1": part1["nn_part1"], "feature_reduction": 0.0,
                              "feature_restoration": (part1["restoration"]
                                                      if codec == "submission" else 0.0)}
                for qp in self.qps(seq, codec):
                    stem = f"bitstream/{seq.id}/{seq.id}_qp{qp}"
                    meta = json.loads((folder / f"{stem}.json").read_text())
                    points.setdefault(seq.id, []).append(
                        {"qp": qp, "bitstream": f"{stem}.266", "side_info": f"{stem}.side",
                         "original_features": f"features/{seq.id}.npz",
                         "enc_time_s": round(meta["enc_time_s"], 3),
                         "complexity": {k: round(v, 9) for k, v in complexity.items()}})
            if codec == "anchor":
                text = _manifest("Feature anchor: 10-bit min-max, packed tiles, VVC",
                                 "Both feature levels quantised per frame and VVC-coded.", None,
                                 points)
            else:
                text = _manifest("Level-a coding with b restored at the decoder (vcmctc demo)",
                                 "Only level a is coded; the decoder restores b from it with "
                                 "part 1's own layer.", "../anchor-results.json", points)
            atomic_write_text(folder / "submission.yaml", text)


def run_fcm_demo(out: Path, jobs: int = 2, say: Callable[[str], None] | None = None,
                 progress: Callable[[str], None] | None = None):
    from vcmctc.adapters.torch import require_torch
    from vcmctc.errors import UserError

    try:
        require_torch()
    except UserError:
        raise UserError(TORCH_HINT) from None
    return FcmDemo(out, jobs, say).run(progress)
