"""Scale-out: the run's steps on a real Dask cluster of worker processes, a worker killed in the
middle of a step, shards assembled without recomputing, the disk budget, the cache key workers
must share, Slurm through dask-jobqueue (with stand-ins for sbatch/scancel that run the job
script on this machine), the plan of the work, and the shared cache under racing processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO
from test_evaluate_decoded import GOOD, SEQ, make_sub, world  # noqa: F401  (fixture)

pytest.importorskip("distributed")
pytest.importorskip("dask_jobqueue")


def numbers(results: dict) -> dict:
    """Everything a run computes, without the run's own times and cache flags."""
    points = [(p["sequence"], p["label"], p["status"], p["rate"], p["metric"], p["stats"],
               (p["decode"] or {}).get("md5"), (p["decode"] or {}).get("frames_decoded"),
               (p["task"] or {}).get("status")) for p in results["points"]]
    rows = [(r["name"], r["status"], r["bd_rate"], r["curve"])
            for r in results["sequences"] + results["classes"] + [results["overall"]]]
    return {"points": points, "rows": rows, "signature": results["signature"]}


def run_cli(cli, sub, root, out, *args):
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out, *args)
    return r, (json.loads((out / "results.json").read_text())
               if (out / "results.json").exists() else None)


def local_cluster(n: int = 2, **kw):
    from distributed import LocalCluster

    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None, **kw)


def four_points(world, name: str, slow: int = 2) -> Path:  # noqa: F811
    """Two real VVC points and ``slow`` quick stand-ins (grey frames: the same task output,
    so their scoring is one step)."""
    points = GOOD + [{"qp": 50 + i, "bitstream": f"bitstream/slow{i}.bin"} for i in range(slow)]
    sub = make_sub(world, name, points)
    for i in range(slow):
        (sub / f"bitstream/slow{i}.bin").write_bytes(b"SLOW01" + bytes([i]) * (60 - 20 * i))
    return sub


def done_records(out: Path, stage: str) -> list[Path]:
    return list((out / "cache" / stage).rglob("done.json"))


# ---------------------------------------------------------------------------------------------
# the same numbers wherever the steps run


def test_local_dask_cluster_gives_the_local_numbers(world, cli, tmp_path):  # noqa: F811
    root, _ = world
    sub = four_points(world, "dask-equal", slow=1)
    r, local = run_cli(cli, sub, root, tmp_path / "local", "--jobs", "2")
    assert r.code == 0, r.err
    r, dask = run_cli(cli, sub, root, tmp_path / "dask", "--executor", "dask", "--jobs", "2")
    assert r.code == 0, r.err
    assert numbers(dask) == numbers(local)
    assert all(p["status"] == "ok" for p in dask["points"])
    assert dask["run"]["executor"] == "dask" and dask["run"]["cluster"] == "local"
    assert dask["run"]["workers"] == 2 and local["run"]["executor"] == "local"
    assert dask["run"]["steps"] == local["run"]["steps"] == 9
    assert dask["run"]["cached_steps"] == 0
    assert "disk: the cache holds" in r.out


def test_worker_killed_in_the_middle_of_a_step_changes_nothing(world, cli, tmp_path):  # noqa: F811
    """A decoder blocks until the test has killed (SIGKILL) the worker process running it; the
    scheduler gives the step to a worker again, and the results equal a local run's."""
    from distributed import Client

    from vcmctc.execution.graph import COUNTED
    from vcmctc.submission.pipeline import Options, evaluate

    root, _ = world
    flags = tmp_path / "flags"
    flags.mkdir()
    sub = make_sub(world, "killed", GOOD + [{"qp": 50, "bitstream": "bitstream/block.bin"}])
    (sub / "bitstream/block.bin").write_bytes(b"BLOCK" + str(flags).encode())
    seen = []
    with local_cluster(2, resources={"GPU": 1}) as cluster, Client(cluster) as client:
        workers = set(client.run(os.getpid).values())
        box = {}
        # no sandbox: the decoder talks to the test through files outside its work folder
        opts = Options(out=tmp_path / "out", data_root=root / "data", executor="dask",
                       scheduler=cluster.scheduler_address, on_node=seen.append, sandbox="off")

        def run() -> None:
            try:
                box["res"] = evaluate(sub, opts)
            except BaseException as exc:  # shown by the assertion below
                box["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 120
        while not (flags / "started").exists():
            assert time.time() < deadline and thread.is_alive(), "the blocking decoder never ran"
            time.sleep(0.05)
        pid = int((flags / "started").read_text())
        while pid not in workers:         # decoder -> launcher -> worker process
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            assert pid > 1, "the decoder does not descend from a worker"
        os.kill(pid, signal.SIGKILL)
        (flags / "killed").touch()
        thread.join(180)
        assert not thread.is_alive() and "error" not in box, box.get("error")
    results, path = box["res"]
    killed = json.loads(path.read_text())
    r, local = run_cli(cli, sub, root, tmp_path / "local")
    assert r.code == 0, r.err
    assert numbers(killed) == numbers(local)
    assert [p["status"] for p in killed["points"]] == ["ok"] * 3
    # each step counted once, each sealed once
    counted = [n for n in seen if n.stage in COUNTED]
    assert sorted(n.node for n in counted) == sorted({n.node for n in counted})
    assert len(counted) == killed["run"]["steps"] == 9
    assert len(done_records(tmp_path / "out", "decode")) == 3
    assert not list((tmp_path / "out" / "cache").rglob(".*.tmp/done.json"))


def test_task_networks_run_only_on_workers_offering_a_gpu(world, tmp_path):  # noqa: F811
    """Task-network steps carry the resource GPU=1 (on the graph and on the scheduler's tasks)
    and run only on the worker that offers it; decoders and scoring run anywhere."""
    from distributed import Client, Nanny, Scheduler, SpecCluster

    from vcmctc.execution.executors import DaskExecutor
    from vcmctc.execution.graph import build_graph
    from vcmctc.execution.nodes import NodeResult
    from vcmctc.submission.manifest import load_manifest
    from vcmctc.submission.pipeline import Options, check_ground_truth, evaluate, make_steps
    from vcmctc.submission.validate import validate

    root, _ = world
    sub = four_points(world, "gpu")
    spec = {"gpu": {"cls": Nanny, "options": {"nthreads": 1, "resources": {"GPU": 1}}},
            "cpu": {"cls": Nanny, "options": {"nthreads": 1}}}
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": None}}
    seen = []
    with SpecCluster(workers=spec, scheduler=scheduler) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        gpu = next(a for a, w in client.scheduler_info()["workers"].items()
                   if w.get("resources", {}).get("GPU"))
        results, _ = evaluate(sub, Options(out=tmp_path / "out", data_root=root / "data",
                                           executor="dask", scheduler=cluster.scheduler_address,
                                           on_node=seen.append))
        assert all(p.status == "ok" for p in results.points)
        tasks = [n for n in seen if n.stage == "task"]
        assert len(tasks) == 4 and {n.worker for n in tasks} == {gpu}
        # the annotation itself, on the graph and on the scheduler's task
        plan = validate(load_manifest(sub))
        steps = make_steps(plan, Options(data_root=root / "data"), tmp_path / "out")
        check_ground_truth(plan, steps)
        points = list(plan.points())
        nodes = build_graph(points, steps, [True] * len(points))
        assert {n.stage: n.resources for n in nodes} == {
            "decode": {}, "task": {"GPU": 1}, "measure": {}}
        ex = DaskExecutor(scheduler=cluster.scheduler_address)
        try:
            ex.bind(steps, points, "always", lambda: _ctx(steps, plan))
            task = next(n for n in nodes if n.stage == "task")
            future = ex.submit(task, {f"decode:{task.point}": NodeResult("d", "decode", "", "x")})
            assert future.result().status == "skipped"
            restrictions = client.run_on_scheduler(
                lambda dask_scheduler, key=future.key: dask_scheduler.tasks[key].resource_restrictions)
            assert restrictions == {"GPU": 1}
        finally:
            ex.close()


def test_isolated_timing_holds_across_dask_workers(world, cli, tmp_path):  # noqa: F811
    """--timing isolated on two worker processes: still one decoder at a time (a lock held on
    the scheduler)."""
    root, _ = world
    points = [{"qp": 20 + i, "bitstream": f"bitstream/slow{i}.bin"} for i in range(4)]
    sub = make_sub(world, "iso-dask", points)
    for i in range(4):
        (sub / f"bitstream/slow{i}.bin").write_bytes(b"SLOW03" + bytes([i]) * (80 - 20 * i))
    r, res = run_cli(cli, sub, root, tmp_path / "o", "--executor", "dask", "--jobs", "2",
                     "--timing", "isolated")
    assert r.code == 0, r.err
    spans = sorted((p["decode"]["started"], p["decode"]["ended"]) for p in res["points"])
    assert len(spans) == 4 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def _ctx(steps, plan):
    from vcmctc.execution.nodes import RunContext

    return RunContext(run_id="", plan=plan, cache_root=steps.cache.root, use_cache=True,
                      data_root=steps.gts.data_root, coco_backend=steps.coco_backend,
                      timing="parallel", programs=steps.programs,
                      gt_digests=dict(steps.gts._digests), retry_failed=False, chunk_size=50,
                      keep_decoded="always")


def test_workers_must_share_the_cache_key(world, cli, tmp_path, monkeypatch):  # noqa: F811
    root, _ = world
    sub = make_sub(world, "keys", GOOD[:1] + [{"qp": 50, "bitstream": "bitstream/slow.bin"}])
    (sub / "bitstream/slow.bin").write_bytes(b"SLOW01" + bytes(40))
    monkeypatch.setenv("VCMCTC_CACHE_KEY", "the client's key")
    with local_cluster(1, resources={"GPU": 1},
                       env={"VCMCTC_CACHE_KEY": "another key"}) as cluster:
        r, _ = run_cli(cli, sub, root, tmp_path / "o1", "--executor", "dask", "--scheduler",
                       cluster.scheduler_address)
        assert r.code == 2
        assert "signs the cache with another key" in r.err and "VCMCTC_CACHE_KEY" in r.err
        assert len(r.err.strip().splitlines()) == 1
    with local_cluster(1, resources={"GPU": 1},
                       env={"VCMCTC_CACHE_KEY": "the client's key"}) as cluster:
        r, res = run_cli(cli, sub, root, tmp_path / "o2", "--executor", "dask", "--scheduler",
                         cluster.scheduler_address)
        assert r.code == 0, r.err
        assert [p["status"] for p in res["points"]] == ["ok", "ok"]


# ---------------------------------------------------------------------------------------------
# shards, failures, the disk budget


def test_shards_then_assembly_recompute_nothing(world, cli, tmp_path):  # noqa: F811
    root, _ = world
    sub = four_points(world, "shards")
    (sub / "bitstream/crash.bin").write_bytes(b"CRASH" + bytes(50))
    text = (sub / "submission.yaml").read_text()
    (sub / "submission.yaml").write_text(text.replace("slow1.bin", "crash.bin"))
    out = tmp_path / "out"
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out, "--shard", "1/2")
    assert r.code == 0, r.err            # points 1 and 3 (the second VVC one and slow0)
    assert "shard 1/2: 6 step(s), 0 cached, 0 failed" in r.out
    assert len(done_records(out, "decode")) == 2 and not (out / "results.json").exists()
    r = cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out, "--shard", "2/2",
            "--executor", "dask", "--jobs", "2")
    assert r.code == 1                   # its crash point failed
    assert "shard 2/2: 6 step(s), 0 cached, 1 failed" in r.out
    assert len(done_records(out, "decode")) == 3
    seen = []
    from vcmctc.submission.pipeline import Options, evaluate

    results, _ = evaluate(sub, Options(out=out, data_root=root / "data", on_node=seen.append))
    assert all(n.cached for n in seen if n.status != "skipped")   # nothing ran again
    run = results.run
    assert run["cached_steps"] == 10 and run["steps"] == 12       # crash: task, measure skipped
    assert [s["shard"] for s in run["shards"]] == ["1/2", "2/2"]
    assert run["shards"][1]["executor"] == "dask"
    crash = next(p for p in results.points if p.label == "qp51")
    assert crash.status == "decode-failed" and crash.decode.cached
    r, direct = run_cli(cli, sub, root, tmp_path / "direct")
    assert numbers(json.loads((out / "results.json").read_text())) == numbers(direct)
    # a failure sealed in the cache is run again only when asked
    r, again = run_cli(cli, sub, root, out, "--retry-failed")
    crash = next(p for p in again["points"] if p["label"] == "qp51")
    assert crash["status"] == "decode-failed" and not crash["decode"]["cached"]


def test_keep_decoded(world, cli, tmp_path):  # noqa: F811
    root, _ = world
    sub = make_sub(world, "keep", GOOD)
    yuv = 416 * 240 * 3 // 2 * 33

    def decoded(out):
        return sorted(p.stat().st_size for p in (out / "cache" / "decode").rglob("decoded.yuv"))

    r, always = run_cli(cli, sub, root, tmp_path / "always", "--keep-decoded", "always")
    assert r.code == 0 and decoded(tmp_path / "always") == [yuv, yuv]
    r, default = run_cli(cli, sub, root, tmp_path / "default")
    assert r.code == 0 and decoded(tmp_path / "default") == []
    assert default["run"]["disk"]["decoded_deleted_bytes"] == 2 * yuv
    from vcmctc.cli.submission import size

    assert f"decoded outputs deleted after use: {size(2 * yuv)} (--keep-decoded failed)" in r.out
    assert numbers(default) == numbers(always)
    # the records stay valid: a re-run needs no decoder...
    r, again = run_cli(cli, sub, root, tmp_path / "default")
    assert again["run"]["cached_steps"] == 6 and numbers(again) == numbers(always)
    # ...unless the task network must run again: then the output is decoded again
    import shutil

    shutil.rmtree(tmp_path / "default" / "cache" / "task")
    r, rerun = run_cli(cli, sub, root, tmp_path / "default")
    assert r.code == 0 and numbers(rerun) == numbers(always)
    assert rerun["run"]["disk"]["decoded_deleted_bytes"] == 2 * yuv
    # (the decoder ran again in this run: its record says so)
    assert all(not p["decode"]["cached"] and not p["task"]["cached"] for p in rerun["points"])
    assert [p["decode"]["md5"] for p in rerun["points"]] == [p["decode"]["md5"]
                                                              for p in always["points"]]
    # failed task networks keep their decoded output unless 'never'
    text = (sub / "submission.yaml").read_text()
    start = text.index("task:")
    (sub / "submission.yaml").write_text(
        text[:start] + "task:\n  adapter: command\n  argv: "
        + json.dumps([sys.executable, "-c", "import sys; sys.exit(3)", "{decoded}", "{output}"])
        + "\n" + text[text.index("sequences:"):])
    r, failed = run_cli(cli, sub, root, tmp_path / "failed")
    assert r.code == 1 and decoded(tmp_path / "failed") == [yuv, yuv]
    assert {p["status"] for p in failed["points"]} == {"task-failed"}
    r, _ = run_cli(cli, sub, root, tmp_path / "never", "--keep-decoded", "never")
    assert r.code == 1 and decoded(tmp_path / "never") == []


def test_image_set_chunks_equal_one_decode(cli, tmp_path):
    """An image set decoded in chunks (each a step; in parallel on Dask) gives the numbers and
    the decoded MD5 of decoding it image by image in one step."""
    from test_evaluate_families import N_IMAGES, openimages_decoded_submission

    sub, data, _, _, _ = openimages_decoded_submission(tmp_path, 5)
    runs = {}
    for name, args in (("whole", ["--chunk-size", "50"]),
                       ("chunks", ["--chunk-size", "3", "--executor", "dask", "--jobs", "2"])):
        r = cli("evaluate", sub, "--data-root", data, "-q", "--no-anchor", "--out", tmp_path / name, *args)
        assert r.code == 0, r.err
        runs[name] = json.loads((tmp_path / name / "results.json").read_text())
    assert numbers(runs["chunks"]) == numbers(runs["whole"])
    assert all(p["decode"]["items"] == N_IMAGES for p in runs["chunks"]["points"])
    assert runs["chunks"]["points"][0]["metric"] > 0
    # the chunks were joined: no chunk folder left, one decode record per point
    assert not done_records(tmp_path / "chunks", "decode-chunk")
    assert len(done_records(tmp_path / "chunks", "decode")) == 2


# ---------------------------------------------------------------------------------------------
# Slurm through dask-jobqueue


CLUSTER = """\
kind: slurm
queue: gpu
account: mpeg-vcm
cores: 8
memory: 64GB
walltime: "04:00:00"
gpus: 1
jobs: 2
job_extra_directives: ["--constraint=a100"]
job_script_prologue: ["module load ffmpeg", "source /opt/vcmctc/.venv/bin/activate"]
python: /opt/vcmctc/.venv/bin/python
groups:
  cpu: {queue: cpu, gpus: 0, jobs: 4, cores: 16, memory: 32GB}
"""


def test_slurm_job_scripts_from_the_cluster_file(tmp_path, cli):
    from vcmctc.errors import UserError
    from vcmctc.execution.cluster import load_cluster

    path = tmp_path / "slurm.yaml"
    path.write_text(CLUSTER)
    config = load_cluster(path)
    assert config.has_gpus and [g.jobs for g in config.groups] == [2, 4]
    scripts = config.job_scripts()
    gpu, cpu = scripts["main"], scripts["cpu"]
    for line in ("#SBATCH -p gpu", "#SBATCH -A mpeg-vcm", "#SBATCH --cpus-per-task=8",
                 "#SBATCH -t 04:00:00", "#SBATCH --gres=gpu:1", "#SBATCH --constraint=a100",
                 "module load ffmpeg", "source /opt/vcmctc/.venv/bin/activate"):
        assert line in gpu.splitlines(), line
    assert "/opt/vcmctc/.venv/bin/python -m distributed.cli.dask_worker tcp://SCHEDULER:8786" in gpu
    assert "--resources GPU=1" in gpu and "--nthreads 8" in gpu
    for line in ("#SBATCH -p cpu", "#SBATCH -A mpeg-vcm", "#SBATCH --cpus-per-task=16",
                 "#SBATCH --constraint=a100"):
        assert line in cpu.splitlines(), line
    assert "--gres" not in cpu and "--resources" not in cpu
    for bad, message in (("kind: torque\n", "kind: expected one of slurm"),
                         ("kind: slurm\njobs: -1\n", "jobs: expected a whole number"),
                         ("kind: slurm\nquue: gpu\n", "quue"),
                         ("kind: slurm\njob_extra_directives: --x\n", "expected a list"),
                         ("kind: slurm\nadapt: {minimum: 3, maximum: 1}\n", "adapt:"),
                         ("kind: [\n", "invalid YAML")):
        path.write_text(bad)
        with pytest.raises(UserError, match=message) as err:
            load_cluster(path)
        assert str(path) in str(err.value)


SBATCH = """#!/bin/sh
# Stands in for Slurm's sbatch: runs the job script on this machine, in the background.
dir=$(dirname "$0")
mkdir -p "$dir/jobs"
id=$((4200 + $(ls "$dir/jobs" | wc -l)))
mkdir "$dir/jobs/$id"
cp "$1" "$dir/jobs/$id/script.sh"
SLURM_JOB_ID=$id setsid bash "$dir/jobs/$id/script.sh" > "$dir/jobs/$id/log" 2>&1 &
echo $! > "$dir/jobs/$id/pid"
echo "Submitted batch job $id"
"""
SCANCEL = """#!/bin/sh
dir=$(dirname "$0")
for id in "$@"; do kill -TERM -- "-$(cat "$dir/jobs/$id/pid")" 2>/dev/null; done
exit 0
"""


def test_slurm_cluster_end_to_end_with_stand_in_sbatch(world, cli, tmp_path, monkeypatch):  # noqa: F811
    """--cluster slurm.yaml: dask-jobqueue submits the job script (here sbatch runs it on this
    machine), its worker runs the steps, the job ids are in the run's provenance."""
    root, _ = world
    sub = four_points(world, "slurm")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("sbatch", SBATCH), ("scancel", SCANCEL)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path = tmp_path / "slurm.yaml"
    path.write_text(f"kind: slurm\ncores: 1\nmemory: 2GB\nprocesses: 1\ngpus: 1\njobs: 1\n"
                    f"python: {sys.executable}\nscheduler_options: {{host: 127.0.0.1}}\n")
    r, res = run_cli(cli, sub, root, tmp_path / "out", "--executor", "dask", "--cluster", path)
    assert r.code == 0, r.err
    r2, local = run_cli(cli, sub, root, tmp_path / "local")
    assert numbers(res) == numbers(local)
    assert res["run"]["cluster"] == "slurm" and res["run"]["cluster_jobs"] == ["4200"]
    assert res["run"]["batch_jobs"] == ["4200"]    # the steps ran inside that job
    script = (bin_dir / "jobs" / "4200" / "script.sh").read_text()
    assert "#SBATCH --gres=gpu:1" in script and "--resources GPU=1" in script


# ---------------------------------------------------------------------------------------------
# the plan of the work


def test_plan_counts_and_estimates(world, cli, tmp_path):  # noqa: F811
    root, _ = world
    sub = four_points(world, "plan")
    out = tmp_path / "out"
    r = cli("plan", sub, "--data-root", root / "data", "--out", out, "--cost", "decode=0.5",
            "--cost", "task=2", "--workers", "2", "-f", "json")
    assert r.code == 0, r.err
    plan = r.json()
    frames, pixels = 4 * 33, 4 * 33 * 416 * 240
    for stage in ("decode", "task", "measure"):
        assert plan["stages"][stage] == {"steps": 4, "cached": 0, "failed": 0,
                                         "frames": frames, "pixels": pixels}
    est = plan["estimate"]
    assert est["hours"]["decode"] == pytest.approx(frames * 0.5 / 3600, abs=1e-12)
    assert est["gpu_hours"] == pytest.approx(frames * 2 / 3600, abs=1e-12)
    assert est["wall_s"] == pytest.approx(2 * 33 * 2.5, abs=1e-9)   # 4 equal chains on 2
    assert not out.exists()                                         # the plan runs nothing
    # the same in text, and evaluate --dry-run
    r = cli("evaluate", sub, "--data-root", root / "data", "--out", out, "--dry-run")
    assert r.code == 0 and "decode" in r.out and "no costs" in r.out and not out.exists()
    # what a run cached is not work left; a sample measures the costs
    assert cli("evaluate", sub, "--data-root", root / "data", "-q", "--no-anchor", "--out", out).code == 0
    plan = cli("plan", sub, "--data-root", root / "data", "--out", out, "--cost", "task=2",
               "-f", "json").json()
    assert plan["stages"]["task"]["cached"] == 4 and plan["estimate"]["gpu_hours"] == 0
    fresh = tmp_path / "fresh"
    plan = cli("plan", sub, "--data-root", root / "data", "--out", fresh, "--sample", "1",
               "-f", "json").json()
    assert plan["cost_source"] == "measured on 1 point(s)"
    assert plan["cost_per_frame_s"]["decode"] > 0 and plan["cost_per_frame_s"]["task"] > 0
    assert plan["stages"]["decode"]["cached"] == 1 and plan["estimate"]["gpu_hours"] > 0
    r = cli("plan", sub, "--data-root", root / "data", "--cluster", REPO / "docs" / "slurm.yaml")
    assert r.code == 0 and "#SBATCH --gres=gpu:1" in r.out
    assert not (Path.cwd() / "vcmctc-slurm-logs").exists()   # a preview makes no log folder


# ---------------------------------------------------------------------------------------------
# progress


def test_progress_lines_and_live_display():
    import io

    from vcmctc.progress import LineProgress, make_progress

    lines = []
    p = LineProgress({"decode": 2, "task": 2, "measure": 0}, lines.append)
    p.step("decode", "decode A qp1", "ok", True)
    p.step("decode", "decode A qp2", "ok", False)
    p.step("task", "task A qp1", "failed", False)
    assert lines[0].startswith("[1/4] decode A qp1: ok (cached) | decode 1/2, task 0/2 | 0:00")
    assert "left" not in lines[0] and lines[1].endswith("left")   # an estimate once a step ran
    assert lines[2].startswith("[3/4] task A qp1: failed")
    stream = io.StringIO()
    with make_progress({"decode": 1, "task": 1}, live=True, say=print, stream=stream) as live:
        live.step("decode", "decode A", "ok", False)
        live.step("task", "task A", "timeout", False)
    text = stream.getvalue()
    assert "decode" in text and "all steps" in text and "task A: timeout" in text
    assert "1 failed" in text and "2/2" in text


# ---------------------------------------------------------------------------------------------
# the shared cache under racing processes


def _race(root: str, secret: bytes, n: int, content: bytes, fail: bool, start, results):
    from vcmctc.submission.cache import Cache

    cache = Cache(Path(root), secret=secret)
    work = cache.workdir("decode", "k" * 64)
    (work / "decoded.yuv").write_bytes(content)
    (work / "decoder.log").write_text(f"attempt {n}\n")
    start.wait()
    if fail:
        rec = cache.put_failed("decode", "k" * 64, {"status": "failed", "message": f"n{n}",
                                                    "log": str(work / "decoder.log")}, work)
    else:
        rec = cache.put("decode", "k" * 64, {"status": "ok", "n": n, "output": "decoded.yuv"},
                        ("decoded.yuv",), work=work)
    results.put((n, rec))


def test_racing_processes_seal_one_step_once(tmp_path):
    from vcmctc.submission.cache import Cache

    secret = b"race"
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), secret, n, bytes([n]) * 4096,
                                             n % 3 == 0, start, results)) for n in range(9)]
    for p in procs:
        p.start()
    start.set()
    got = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    cache = Cache(tmp_path, secret=secret)
    final = cache.get("decode", "k" * 64)
    assert final is not None and final["status"] == "ok"    # a success wins over failures
    data = (cache.folder("decode", "k" * 64) / "decoded.yuv").read_bytes()
    assert data == bytes([final["n"]]) * 4096                # the files are those of the record
    assert (cache.folder("decode", "k" * 64) / "decoder.log").read_text() == \
        f"attempt {final['n']}\n"
    # every success returned the record in place; no attempt folder is left behind
    assert {rec["n"] for n, rec in got.items() if n % 3} == {final["n"]}
    assert [p.name for p in cache.folder("decode", "k" * 64).parent.iterdir()
            if p.name.endswith(".tmp")] == []
    # a failure's paths name the step's folder, not the attempt's
    failed_only = Cache(tmp_path / "f", secret=secret)
    work = failed_only.workdir("task", "f" * 64)
    rec = failed_only.put_failed("task", "f" * 64, {"status": "failed",
                                                    "log": str(work / "task.log")}, work)
    assert rec["log"] == str(failed_only.folder("task", "f" * 64) / "task.log")
    assert failed_only.get_failed("task", "f" * 64) == rec
