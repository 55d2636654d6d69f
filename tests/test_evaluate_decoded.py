"""`vcmctc evaluate` at the decoded level: real VVC bitstreams (ffmpeg libvvenc from the
imageio-ffmpeg wheel), the submitted decoder run by vcmctc, a real task network (the demo
detector) through the command adapter, scored against SFU-format ground truth."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

SEQ = "SynthStreet"
QPS = (32, 42)
SWITCH = REPO / "tests/programs/switch_decoder.py"

EDITION = """\
id: {id}
title: one demo sequence, two rate points
track: demo
sources: {{demo: "vcmctc.demo.scene"}}
default_source: demo
scenarios: [RA]
rate_points: {n}
rate_unit: kbps
bd: {{method: pchip, policy: refuse, min_points: 2}}
aggregation: {{class_rows: pooled, overall: mean-of-classes}}
classes: {{DET: {{}}}}
datasets:
  DemoDet: {{task: object-detection, metric: coco-bbox-ap, first_frame: 0, gt: "sfu/{{id}}"}}
sequences:
  SynthStreet: {{dataset: DemoDet, class: DET, width: 416, height: 240, fps: 30, total_frames: 33,
          skip: 0, frames: 33, tail: true, intra_period: 32, bit_depth: 8, qps: {{RA: {qps}}}}}
"""


def write_edition(folder: Path, ed_id: str, qps) -> Path:
    path = folder / f"{ed_id}.yaml"
    path.write_text(EDITION.format(id=ed_id, n=len(qps), qps=list(qps)))
    return path


def manifest(edition: Path, points: list[dict], *, decoder_timeout: float = 120) -> str:
    task = [sys.executable, "-m", "vcmctc.demo.tasknet", "--task", "{task}", "--yuv", "{decoded}",
            "--width", "{width}", "--height", "{height}", "--frames", "{frames}",
            "--first-frame", "{first_frame}", "--output", "{output}"]
    decoder = [sys.executable, str(SWITCH), "{bitstream}", "{output}", "{width}", "{height}",
               "{frames}"]
    lines = ["codec: test codec", f"edition: {edition}", "decoder:", f"  argv: {json.dumps(decoder)}",
             f"  timeout_s: {decoder_timeout}", "task:", "  adapter: command",
             f"  argv: {json.dumps(task)}", "sequences:", f"  {SEQ}:"]
    lines += [f"    - {json.dumps(p)}" for p in points]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Demo ground truth + two real VVC bitstreams, made once for the module."""
    from vcmctc.demo.scene import make_demo_sequence, write_sequence_files
    from vcmctc.demo.vvc import encode_vvc

    root = tmp_path_factory.mktemp("decoded")
    paths = write_sequence_files(make_demo_sequence(SEQ), root / "data")
    write_edition(root, "tiny-demo", QPS)
    sub = root / "sub"
    for qp in QPS:
        encode_vvc(paths["yuv"], 416, 240, 33, 30, qp, sub / "bitstream" / f"{SEQ}_qp{qp}.266")
    return root, paths


def make_sub(world, name: str, points: list[dict], **kw) -> Path:
    """A submission folder with the real bitstreams and an edition whose QPs are the points'."""
    root, _ = world
    folder = root / name
    shutil.copytree(root / "sub" / "bitstream", folder / "bitstream", dirs_exist_ok=True)
    edition = write_edition(folder, f"ed-{name}", [p["qp"] for p in points])
    (folder / "submission.yaml").write_text(manifest(edition, points, **kw))
    return folder


GOOD = [{"qp": qp, "bitstream": f"bitstream/{SEQ}_qp{qp}.266"} for qp in QPS]


def test_decoded_level_equals_direct_computation(world, cli):
    """Every number of a decoded-level run equals the same computation done by hand with the
    reference tools (ffmpeg decode, demo detector, pycocotools)."""
    from vcmctc.datasets.sfu import load_sfu_txt
    from vcmctc.demo.detector import detect_yuv, to_coco_results
    from vcmctc.demo.vvc import decode_vvc
    from vcmctc.evaluators.coco import evaluate_coco

    root, paths = world
    sub = make_sub(world, "good", GOOD)
    out = root / "good-out"
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--jobs", "2", "--out", out)
    assert r.code == 0, r.err
    results = json.loads((out / "results.json").read_text())
    gt = load_sfu_txt(paths["sfu_txt"], width=416, height=240, frames=33, skip=0, total=33,
                      sequence=SEQ)
    for point in results["points"]:
        assert point["evidence"] == "decoded" and point["status"] == "ok"
        bitstream = sub / point["inputs"]["bitstream"][0]["path"]
        assert point["rate"] == bitstream.stat().st_size * 8 * 30 / (1000 * 33)
        assert point["bits_components"] == {"bitstream": bitstream.stat().st_size * 8,
                                            "side-info": 0}
        yuv = root / f"direct_{point['qp']}.yuv"
        decode_vvc(bitstream, yuv)
        dets = to_coco_results(detect_yuv(yuv, 416, 240, 33), 0)
        reference = evaluate_coco(gt, dets, backend="pycocotools")
        assert point["metric"] == pytest.approx(reference["AP"], abs=1e-9)
        assert point["stats"]["AP50"] == pytest.approx(reference["AP50"], abs=1e-9)
        assert point["dec_time_s"] > 0 and point["dec_time_source"] == "measured (wall)"
        assert point["decode"]["md5"] and point["decode"]["frames_decoded"] == 33
    # A second run redoes nothing and gives the same numbers.
    assert cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out).code == 0
    again = json.loads((out / "results.json").read_text())
    assert again["run"]["cached_steps"] == again["run"]["steps"] == 6
    assert [p["metric"] for p in again["points"]] == [p["metric"] for p in results["points"]]
    assert again["signature"] == results["signature"]
    assert results["signature"]["metrics"]["coco-bbox-ap"]["metric_backend"] == "vcmctc"


def test_failing_points_do_not_stop_the_others(world, cli, tmp_path):
    bad = [GOOD[0],
           {"qp": 37, "bitstream": "bitstream/crash.bin"},
           {"qp": 42, "bitstream": "bitstream/garbage.bin"},
           {"qp": 47, "bitstream": "bitstream/hang.bin"}]
    sub = make_sub(world, "bad", bad, decoder_timeout=1.5)
    (sub / "bitstream/crash.bin").write_bytes(b"CRASH" + b"\0" * 50)
    (sub / "bitstream/garbage.bin").write_bytes(b"GARBAGE" + b"\0" * 10)
    (sub / "bitstream/hang.bin").write_bytes(b"HANG" + b"\0" * 100)
    root, _ = world
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", tmp_path / "out",
            "--jobs", "2")
    assert r.code == 1, r.out + r.err  # some points failed: the run says so
    assert "3 rate point(s) failed" in r.err
    results = json.loads((tmp_path / "out/results.json").read_text())
    by_qp = {p["qp"]: p for p in results["points"]}
    assert by_qp[32]["status"] == "ok" and by_qp[32]["metric"] > 0
    assert by_qp[37]["status"] == "decode-failed" and "exit" in by_qp[37]["message"]
    assert by_qp[42]["status"] == "decode-failed" and "1000 bytes" in by_qp[42]["message"]
    assert by_qp[47]["status"] == "decode-failed" and "timeout" in by_qp[47]["decode"]["status"]
    seq = results["sequences"][0]
    assert seq["status"] == "no-anchor" and seq["bd_rate"] is None and seq["points_ok"] == 1
    assert "3 rate point(s) without a number" in " ".join(seq["warnings"])
    # Failed steps are sealed with their logs and reported again by the next run without
    # running them (--retry-failed runs them); a fixed bitstream is a new step.


def test_corrupt_task_output_is_a_point_failure(world, cli, tmp_path):
    root, _ = world
    folder = root / "outputs"
    folder.mkdir()
    (folder / "a.json").write_text('[{"image_id": 0, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]')
    (folder / "b.json").write_text('[{"image_id": 0, "category_id": 1, "bbox": [1, 2, 3]}]')
    edition = write_edition(folder, "ed-outputs", QPS)
    (folder / "submission.yaml").write_text(
        f"codec: x\nedition: {edition}\nsequences:\n  {SEQ}:\n"
        "    - {qp: 32, task_output: a.json, reported: {rate: 50.0}}\n"
        "    - {qp: 42, task_output: b.json, reported: {rate: 20.0}}\n")
    r = cli("evaluate", folder, "--data-root", root / "data", "-q", "--no-anchor", "--out", tmp_path / "o")
    assert r.code == 1
    results = json.loads((tmp_path / "o/results.json").read_text())
    ok, broken = results["points"]
    assert ok["evidence"] == "outputs" and ok["status"] == "ok"
    assert broken["status"] == "score-failed"
    assert broken["message"] == "b.json: results[0]: missing key 'score'"   # no local path


def test_missing_ground_truth_is_one_line(world, cli, tmp_path):
    sub = make_sub(world, "nogt", GOOD)
    r = cli("evaluate", sub, "--data-root", tmp_path / "nowhere", "-q", "--no-anchor", "--out", tmp_path / "o")
    assert r.code == 2
    assert "ground truth of sequence SynthStreet not found" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "o/results.json").exists()


def test_ctrl_c_then_resume(world, tmp_path):
    """SIGINT in the middle: exit 130, no results.json, finished steps cached; the re-run
    completes and reuses them."""
    root, _ = world
    points = [{"qp": 20 + i, "bitstream": f"bitstream/slow{i}.bin"} for i in range(4)]
    sub = make_sub(world, "slow", points)
    for i in range(4):
        (sub / f"bitstream/slow{i}.bin").write_bytes(b"SLOW08" + bytes([i]) * (80 - 20 * i))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "vcmctc", "evaluate", str(sub), "--data-root",
           str(root / "data"), "--out", str(out), "--no-anchor"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # As at a terminal: SIGINT delivered by default (a shell's background job inherits it ignored).
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while (time.time() < deadline and proc.poll() is None
           and not list((out / "cache" / "task").rglob("done.json"))):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not (out / "results.json").exists()
    done_before = len([p for p in (out / "cache").rglob("done.json")   # steps, not the
                       if p.relative_to(out / "cache").parts[0] != "output-check"])  # verdicts
    assert 1 <= done_before < 12
    rerun = subprocess.run(cmd + ["-q"], capture_output=True, text=True, env=env, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["cached_steps"] >= done_before
    assert all(p["status"] == "ok" for p in results["points"])


def test_isolated_timing_runs_decoders_one_at_a_time(world, cli, tmp_path):
    root, _ = world
    points = [{"qp": 20 + i, "bitstream": f"bitstream/slow{i}.bin"} for i in range(4)]
    sub = make_sub(world, "iso", points)
    for i in range(4):
        (sub / f"bitstream/slow{i}.bin").write_bytes(b"SLOW03" + bytes([i]) * (80 - 20 * i))
    runs = {}
    for mode in ("isolated", "parallel"):
        r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--jobs", "4", "--no-cache",
                "--timing", mode, "--out", tmp_path / mode)
        assert r.code == 0, r.err
        results = json.loads((tmp_path / mode / "results.json").read_text())
        assert results["timing"]["mode"] == mode
        runs[mode] = sorted((p["decode"]["started"], p["decode"]["ended"]) for p in results["points"])
    iso = runs["isolated"]
    assert all(a[1] <= b[0] for a, b in zip(iso, iso[1:]))  # no two decoders overlap
    par = runs["parallel"]
    assert any(b[0] < a[1] for a, b in zip(par, par[1:]))  # with --jobs 4 they do


def test_level_option(world, cli, tmp_path):
    root, _ = world
    sub = make_sub(world, "levels", GOOD)
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--level", "outputs",
            "--out", tmp_path / "o")
    assert r.code == 1   # a validation finding for each point, nothing evaluated
    assert "evidence level 'outputs' needs task outputs" in r.out
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# what a submission ships cannot change a number


def _shipped_decoder_sub(world, name: str, *, black: bool) -> Path:
    """A submission whose decoder is a script shipped inside it: real VVC decoding, or black
    frames of the right size (the same path and argv either way)."""
    root, _ = world
    folder = make_sub(world, name, GOOD)
    body = ("import sys\nbitstream, output, w, h, n = sys.argv[1:6]\n"
            + ("open(output, 'wb').write(bytes(int(w) * int(h) * 3 // 2 * int(n)))\n" if black else
               "from vcmctc.demo.vvc import main\n"
               "sys.exit(main(['decode', '--bitstream', bitstream, '--output', output,\n"
               "                '--width', w, '--height', h, '--frames', n]))\n"))
    (folder / "bin").mkdir(exist_ok=True)
    (folder / "bin" / "dec.py").write_text(body)
    text = (folder / "submission.yaml").read_text().replace(
        json.dumps(str(SWITCH)), json.dumps("{submission}/bin/dec.py"))
    (folder / "submission.yaml").write_text(text)
    return folder


def test_program_changed_in_place_is_not_served_from_the_cache(world, cli, tmp_path):
    root, _ = world
    sub = _shipped_decoder_sub(world, "inplace", black=False)
    out = tmp_path / "out"
    assert cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out).code == 0
    honest = json.loads((out / "results.json").read_text())
    assert all(p["metric"] > 50 for p in honest["points"])
    # Same path, same argv, other content: black frames.
    (sub / "bin" / "dec.py").write_text(
        "import sys\nbitstream, output, w, h, n = sys.argv[1:6]\n"
        "open(output, 'wb').write(bytes(int(w) * int(h) * 3 // 2 * int(n)))\n")
    assert cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out).code == 0
    changed = json.loads((out / "results.json").read_text())
    assert [p["metric"] for p in changed["points"]] == [0.0, 0.0]
    assert not any(p["decode"]["cached"] for p in changed["points"])
    assert changed["signature"]["programs_sha256"] != honest["signature"]["programs_sha256"]
    assert changed["signature"]["line"] != honest["signature"]["line"]


def test_forged_cache_is_recomputed_and_output_cannot_be_inside_or_linked(world, cli, tmp_path):
    root, _ = world
    sub = make_sub(world, "forged", GOOD)
    out = tmp_path / "out"
    assert cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out).code == 0
    honest = json.loads((out / "results.json").read_text())
    # Forge every measured record: numbers changed, the signature (mac) kept or recomputed
    # without the key.
    for done in (out / "cache" / "measure").rglob("done.json"):
        data = json.loads(done.read_text())
        data["record"]["stats"]["AP"] = 99.9
        done.write_text(json.dumps(data))
    assert cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out).code == 0
    again = json.loads((out / "results.json").read_text())
    assert [p["metric"] for p in again["points"]] == [p["metric"] for p in honest["points"]]
    assert again["run"]["cached_steps"] == 4          # decode + task reused, measures redone
    # A cache shipped inside the submission is never where vcmctc looks, and an output folder
    # inside the submission is refused.
    shutil.copytree(out, sub / "vcmctc-out")
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", sub / "vcmctc-out")
    assert r.code == 2 and "lies inside the submission" in r.err
    # Output folders reached through a symbolic link are refused (nothing written through them).
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "link").symlink_to(victim, target_is_directory=True)
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", tmp_path / "link")
    assert r.code == 2 and "symbolic link" in r.err and not any(victim.iterdir())
    (out / "cache" / "evil").symlink_to(victim, target_is_directory=True)
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out)
    assert r.code == 2 and "symbolic link inside the output folder" in r.err


def test_relative_paths_from_another_working_directory(world, tmp_path):
    """The folder, --data-root and --out relative to a working directory that is neither the
    submission nor the repository (the task program is then run in its own folder)."""
    root, _ = world
    sub = make_sub(world, "relative", GOOD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cmd = [sys.executable, "-m", "vcmctc", "evaluate", os.path.relpath(sub, elsewhere),
           "--data-root", os.path.relpath(root / "data", elsewhere), "--out", "rel-out", "-q", "--no-anchor"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=elsewhere, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((elsewhere / "rel-out" / "results.json").read_text())
    assert [p["status"] for p in results["points"]] == ["ok", "ok"]
    assert all(p["metric"] > 50 for p in results["points"])
    # nothing in results.json says where things lie on this machine
    text = (elsewhere / "rel-out" / "results.json").read_text()
    assert str(tmp_path) not in text and str(root) not in text


def test_provided_adapter_cannot_pass_validate_at_the_decoded_level(world, cli, tmp_path):
    sub = make_sub(world, "provided", GOOD)
    text = (sub / "submission.yaml").read_text()
    task = text[text.index("task:"):text.index("sequences:")]
    (sub / "submission.yaml").write_text(text.replace(task, "task:\n  adapter: provided\n"))
    r = cli("validate", sub)
    assert r.code == 1
    assert "the 'provided' adapter runs no task network" in r.out
    root, _ = world
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", tmp_path / "o")
    assert r.code == 1 and not (tmp_path / "o").exists()
