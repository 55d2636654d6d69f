"""``vcmctc demo``: a mini CTC evaluated end to end at the ``decoded`` evidence level.

1. The ``ctc-demo`` sequences and their ground truth are generated (deterministic, seeded).
2. The anchor: every sequence VVC-coded (ffmpeg libvvenc) at the edition's QPs, then evaluated
   by vcmctc like any submission (decoder run, demo task network run, scored).
3. The example submission (multi-task foreground coding, :mod:`vcmctc.demo.fgcodec`): one VVC
   bitstream of the detected objects on black plus compressed detections as side information;
   evaluated against the anchor's results, so class rows use pooled class curves.
4. Reports (HTML, xlsx, Markdown) of the submission.

Everything is cached under the output folder: sequences and bitstreams by file, evaluation
steps by content. A stamp of the generator and encoder settings rebuilds the cache when they
change.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from vcmctc import __version__
from vcmctc.runner import contained_map
from vcmctc.submission.cache import atomic_write_text

EDITION = "ctc-demo"
STAMP_VERSION = 2
IMAGE_SET, POSE = "SynthImages", "SynthDance"


def _stamp() -> dict[str, Any]:
    from vcmctc.demo import images, vvc

    return {"stamp": STAMP_VERSION, "vcmctc": __version__,
            "encoder": {"preset": vvc.DEFAULT_PRESET, "intra_period": vvc.DEFAULT_INTRA_PERIOD,
                        **vvc.ENCODER_SETTINGS},
            "images": {"vui": list(images.VUI), "decode_filter": images.DECODE_FILTER}}


def _task_argv() -> list[str]:
    return [sys.executable, "-m", "vcmctc.demo.tasknet", "--task", "{task}", "--yuv", "{decoded}",
            "--width", "{width}", "--height", "{height}", "--frames", "{frames}",
            "--first-frame", "{first_frame}", "--output", "{output}"]


def _manifest(codec: str, description: str, decoder: list[str], anchor: str | None,
              points: dict[str, list[dict]]) -> str:
    from vcmctc.demo.images import image_decoder_argv

    lines = [f"# Written by vcmctc demo. {description}",
             f"codec: {json.dumps(codec)}", "track: demo", f"edition: {EDITION}"]
    if anchor:
        lines.append(f"anchor: {json.dumps(anchor)}")
    lines += ["decoder:", f"  argv: {json.dumps(decoder)}",
              f"  image_argv: {json.dumps(image_decoder_argv())}", "  timeout_s: 600",
              "task:", "  adapter: command", f"  argv: {json.dumps(_task_argv())}",
              "  timeout_s: 600", "sequences:"]
    for seq, pts in points.items():
        lines.append(f"  {seq}:")
        for p in pts:
            lines.append(f"    - {json.dumps(p)}")
    return "\n".join(lines) + "\n"


class Demo:
    """The mini CTC: sequences, encodes, manifests, then :meth:`run` evaluates the anchor and the
    submission and writes the reports (:class:`vcmctc.demo.fcm.FcmDemo` is the FCM one)."""

    EDITION = EDITION
    REPORT = "demo"                  # reports/<REPORT>.{html,xlsx,md}
    ANCHOR = "the VVC anchor"

    def __init__(self, out: Path, jobs: int = 2, say: Callable[[str], None] | None = None):
        from vcmctc.ctc.editions import load_edition

        self.out = Path(out).resolve()
        self.jobs = jobs
        self.say = say or (lambda _line: None)
        self.ed = load_edition(self.EDITION)
        self.data = self.out / "data"
        self.anchor_dir = self.out / "anchor"
        self.sub_dir = self.out / "submission"

    def stamp(self) -> dict[str, Any]:
        return _stamp()

    def cache_folders(self) -> tuple[Path, ...]:
        return (self.data, self.anchor_dir, self.sub_dir)

    def prepare(self) -> None:
        """Make sure the cache belongs to these generator and encoder settings."""
        stamp_path = self.out / "demo-stamp.json"
        stamp = self.stamp()
        try:
            old = json.loads(stamp_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            old = None
        if old != stamp:
            for folder in self.cache_folders():
                shutil.rmtree(folder, ignore_errors=True)
            atomic_write_text(stamp_path, json.dumps(stamp, indent=1))

    def sequences(self) -> None:
        from vcmctc.demo.images import write_image_set
        from vcmctc.demo.pose import write_pose_sequence
        from vcmctc.demo.scene import make_demo_sequence, write_sequence_files

        if self.data.is_dir():
            return
        self.say("generating the demo sequences, image set and ground truth")
        tmp = self.out / "data.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for name in self.ed.sequences:
            if name == IMAGE_SET:
                write_image_set(tmp / "openimages" / name)
            elif name == POSE:
                write_pose_sequence(tmp)
            else:
                write_sequence_files(make_demo_sequence(name), tmp)
        tmp.rename(self.data)

    def yuv(self, seq) -> Path:
        return self.data / "yuv" / f"{seq.id}_{seq.width}x{seq.height}_{seq.fps:g}.yuv"

    def encode_all(self) -> None:
        jobs = []
        for seq in self.ed.sequences.values():
            for qp in self.ed.qps(seq):
                jobs.append((seq, qp))
        contained_map(lambda job: self._encode(*job), jobs, self.jobs)

    def _encode_images(self, seq, qp: int) -> None:
        """Each image VVC-intra coded alone (anchor), or its detected objects on black
        (submission); one bitstream per image in a folder per QP."""
        from vcmctc.demo.images import encode_image_set

        for folder, foreground, who in ((self.anchor_dir, False, "anchor: VVC intra"),
                                        (self.sub_dir, True, "submission: foreground VVC intra")):
            out = folder / "bitstream" / seq.id / f"qp{qp}"
            meta = out.parent / f"qp{qp}.json"
            if meta.exists():
                continue
            tmp = out.with_name(f".qp{qp}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            info = encode_image_set(self.data / "openimages" / seq.id / "images", qp, tmp,
                                    foreground=foreground)
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
            atomic_write_text(meta, json.dumps({"enc_time_s": info["enc_time_s"],
                                                "bpp": info["bpp"]}))
            self.say(f"{who} {seq.id} QP {qp}: {info['bpp']:.4f} bpp")

    def _encode(self, seq, qp: int) -> None:
        from vcmctc.demo import fgcodec, vvc

        if seq.kind == "images":
            return self._encode_images(seq, qp)
        stem = f"{seq.id}_qp{qp}"
        a_dir = self.anchor_dir / "bitstream" / seq.id
        a_bin, a_meta = a_dir / f"{stem}.266", a_dir / f"{stem}.json"
        if not a_meta.exists():
            a_dir.mkdir(parents=True, exist_ok=True)
            tmp = a_dir / f".{stem}.266.tmp"
            run = vvc.encode_vvc(self.yuv(seq), seq.width, seq.height, seq.frames, seq.fps, qp, tmp)
            tmp.replace(a_bin)
            atomic_write_text(a_meta, json.dumps({"enc_time_s": run.wall_s, "enc_cpu_s": run.cpu_s}))
            self.say(f"anchor: VVC {seq.id} QP {qp}: {run.size_bytes} bytes, {run.wall_s:.1f} s")
        s_dir = self.sub_dir / "bitstream" / seq.id
        s_bin, s_side, s_meta = s_dir / f"{stem}.266", s_dir / f"{stem}.side", s_dir / f"{stem}.json"
        if not s_meta.exists():
            s_dir.mkdir(parents=True, exist_ok=True)
            tmp_bin, tmp_side = s_dir / f".{stem}.266.tmp", s_dir / f".{stem}.side.tmp"
            info = fgcodec.encode(self.yuv(seq), seq.width, seq.height, seq.frames, seq.fps, qp,
                                  tmp_bin, tmp_side)
            tmp_bin.replace(s_bin)
            tmp_side.replace(s_side)
            atomic_write_text(s_meta, json.dumps(
                {"enc_time_s": info["analysis_s"] + info["vvc_wall_s"], **info}))
            self.say(f"submission: foreground VVC {seq.id} QP {qp}")

    def manifests(self) -> None:
        anchor_pts: dict[str, list[dict]] = {}
        sub_pts: dict[str, list[dict]] = {}
        for seq in self.ed.sequences.values():
            for qp in self.ed.qps(seq):
                if seq.kind == "images":
                    folder = f"bitstream/{seq.id}/qp{qp}"
                    for pts, base in ((anchor_pts, self.anchor_dir), (sub_pts, self.sub_dir)):
                        meta = json.loads((base / folder).with_suffix(".json").read_text())
                        pts.setdefault(seq.id, []).append(
                            {"qp": qp, "bitstream": folder,
                             "enc_time_s": round(meta["enc_time_s"], 3)})
                    continue
                stem = f"{seq.id}_qp{qp}"
                a_meta = json.loads((self.anchor_dir / "bitstream" / seq.id / f"{stem}.json").read_text())
                s_meta = json.loads((self.sub_dir / "bitstream" / seq.id / f"{stem}.json").read_text())
                anchor_pts.setdefault(seq.id, []).append(
                    {"qp": qp, "bitstream": f"bitstream/{seq.id}/{stem}.266",
                     "enc_time_s": round(a_meta["enc_time_s"], 3)})
                sub_pts.setdefault(seq.id, []).append(
                    {"qp": qp, "bitstream": f"bitstream/{seq.id}/{stem}.266",
                     "side_info": f"bitstream/{seq.id}/{stem}.side",
                     "enc_time_s": round(s_meta["enc_time_s"], 3)})
        py = sys.executable
        atomic_write_text(self.anchor_dir / "submission.yaml", _manifest(
            "VVC (ffmpeg libvvenc, preset faster)",
            "The demo anchor: each sequence VVC-coded at the edition's QPs.",
            [py, "-m", "vcmctc.demo.vvc", "decode", "--bitstream", "{bitstream}", "--output",
             "{output}", "--width", "{width}", "--height", "{height}", "--frames", "{frames}"],
            None, anchor_pts))
        atomic_write_text(self.sub_dir / "submission.yaml", _manifest(
            "Multi-task foreground coding (vcmctc demo)",
            "Detected objects on black, VVC-coded once for detection and tracking, plus the "
            "detections as compressed side information (counted in the rate).",
            [py, "-m", "vcmctc.demo.fgcodec", "decode", "--bitstream", "{bitstream}",
             "--side-info", "{side_info}", "--output", "{output}", "--width", "{width}",
             "--height", "{height}", "--frames", "{frames}"],
            "../anchor-results.json", sub_pts))

    def evaluate(self, folder: Path, progress):
        from vcmctc.submission.pipeline import Options, evaluate

        return evaluate(folder, Options(out=self.out / "eval" / folder.name, data_root=self.data,
                                        jobs=self.jobs, progress=progress))

    def reports(self, results) -> dict[str, Path]:
        from vcmctc.reports.render import write_report

        folder = self.out / "reports"
        return {fmt: write_report(results, fmt, folder / f"{self.REPORT}.{ext}")
                for fmt, ext in (("html", "html"), ("xlsx", "xlsx"), ("md", "md"))}

    def run(self, progress: Callable[[str], None] | None = None):
        """Build what is not cached, evaluate the anchor, then the submission against it;
        returns (results, results.json, reports)."""
        self.prepare()
        self.sequences()
        self.encode_all()
        self.manifests()
        self.say(f"evaluating {self.ANCHOR}")
        _, anchor_results = self.evaluate(self.anchor_dir, progress)
        # The submission names the anchor's results as its reference; they are copied beside
        # it, outside both submissions, the way a user would keep an anchor run.
        shutil.copyfile(anchor_results, self.out / "anchor-results.json")
        self.say("evaluating the example submission against the anchor")
        results, path = self.evaluate(self.sub_dir, progress)
        return results, path, self.reports(results)


def run_demo(out: Path, jobs: int = 2, say: Callable[[str], None] | None = None,
             progress: Callable[[str], None] | None = None):
    return Demo(out, jobs, say).run(progress)
