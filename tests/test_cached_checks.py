"""Task-output checks cached by content: a re-run parses no unchanged output, a changed one is
checked again, and a verdict vcmctc did not sign is not trusted."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from test_evaluate_families import bitstream, coco_case, write_edition, write_submission
from vcmctc.families.coco import CocoFamily
from vcmctc.submission import checks
from vcmctc.submission.cache import Cache, file_sha256
from vcmctc.submission.pipeline import Options, ValidationFailed, evaluate


def coco_submission(tmp_path: Path, seqs: tuple[str, ...] = ("SeqA", "SeqB")
                    ) -> tuple[Path, Path]:
    rng = np.random.default_rng(5)
    data, sub = tmp_path / "data", tmp_path / "sub"
    (data / "coco").mkdir(parents=True)
    sub.mkdir()
    points = {}
    for seq in seqs:
        gt, dets = coco_case(rng)
        (data / "coco" / f"{seq}.json").write_text(json.dumps(gt))
        for k in range(2):   # the second point misses every third detection
            kept = [d for i, d in enumerate(dets) if k == 0 or i % 3]
            (sub / f"{seq}_{k}.json").write_text(json.dumps(kept))
        points[seq] = [{"qp": 30 + 5 * k, "task_output": f"{seq}_{k}.json",
                        "bitstream": bitstream(sub, f"{seq}_{k}.bin", 4000 - 1500 * k)}
                       for k in range(2)]
    edition = write_edition(sub, "gen-coco-checks", """\
        Det: {task: object-detection, metric: coco-bbox-ap, first_frame: 0, gt: "coco/{id}.json"}
        """, "".join(f"{seq}: {{dataset: Det, class: X, width: 320, height: 240, fps: 30, "
                     "frames: 6, qps: {RA: [30, 35]}}\n" for seq in seqs), "X: {}")
    write_submission(sub, edition, points)
    return sub, data


@pytest.fixture
def checked(monkeypatch):
    """Counts the task-output checks that really parse a file (CocoFamily.check_output)."""
    calls: list[str] = []
    real = CocoFamily.check_output

    def counting(self, seq, path):
        calls.append(path.name)
        return real(self, seq, path)

    monkeypatch.setattr(CocoFamily, "check_output", counting)
    return calls


def run(sub: Path, data: Path, out: Path):
    return evaluate(sub, Options(out=out, data_root=data, use_anchor=False))


def numbers(results) -> str:
    return json.dumps([(p.sequence, p.label, p.status, p.metric, p.stats)
                       for p in results.points])


def test_cold_run_checks_each_output_once_and_cached_run_parses_none(tmp_path, checked,
                                                                    monkeypatch):
    sub, data = coco_submission(tmp_path)
    first, _ = run(sub, data, tmp_path / "out")
    # validate checks each output; its measure step reads the verdict back instead of parsing
    assert sorted(checked) == ["SeqA_0.json", "SeqA_1.json", "SeqB_0.json", "SeqB_1.json"]
    assert all(p.status == "ok" and p.metric > 0 for p in first.points)

    def boom(self, seq, path):
        raise AssertionError(f"{path.name} parsed again")

    monkeypatch.setattr(CocoFamily, "check_output", boom)
    again, _ = run(sub, data, tmp_path / "out")
    assert numbers(again) == numbers(first)
    assert again.run["cached_steps"] == again.run["steps"] == 4


def test_changed_output_is_checked_again_and_refused(tmp_path, checked):
    sub, data = coco_submission(tmp_path)
    run(sub, data, tmp_path / "out")
    checked.clear()
    dets = json.loads((sub / "SeqB_1.json").read_text())
    dets[3]["image_id"] = 99                     # the sequence has frames 0..5
    (sub / "SeqB_1.json").write_text(json.dumps(dets))
    with pytest.raises(ValidationFailed) as err:
        run(sub, data, tmp_path / "out")
    assert checked == ["SeqB_1.json"]           # only the changed file was parsed
    (problem,) = err.value.plan.errors()
    assert "SeqB_1.json: entry [3] has image_id 99, outside the frames 0..5" in problem.message
    # a refused run writes nothing in the output folder: the next one checks that file again
    # (and only that one)
    checked.clear()
    with pytest.raises(ValidationFailed):
        run(sub, data, tmp_path / "out")
    assert checked == ["SeqB_1.json"]


def test_validate_without_output_folder_checks_everything(tmp_path, checked, cli):
    sub, data = coco_submission(tmp_path)
    run(sub, data, tmp_path / "out")
    checked.clear()
    assert cli("validate", sub).code == 0
    assert len(checked) == 4


def forge_verdict(sub: Path, out: Path, name: str, problem: str | None,
                  secret: bytes | None) -> None:
    """Plant a verdict for the current content of ``sub/name`` in the run's cache, signed with
    ``secret`` (None: a made-up MAC)."""
    from vcmctc.ctc.editions import load_edition

    path = sub / name
    seq = load_edition(sub / "gen-coco-checks.yaml").sequences[name.split("_")[0]]
    key = checks.check_key(CocoFamily(), seq, path, file_sha256(path))
    cache = Cache(out / "cache", secret=secret or b"unused")
    record = {"problem": problem, "files": []}
    folder = cache.folder(checks.STAGE, key)
    folder.mkdir(parents=True, exist_ok=True)
    mac = cache._mac(checks.STAGE, key, record) if secret else "0" * 64
    (folder / "done.json").write_text(json.dumps({"record": record, "mac": mac}))


@pytest.mark.parametrize("secret", [None, b"another user's key"])
def test_forged_verdict_is_not_trusted(tmp_path, checked, secret):
    sub, data = coco_submission(tmp_path)
    out = tmp_path / "out"
    run(sub, data, out)
    (sub / "SeqA_0.json").write_text(json.dumps([{"image_id": -4, "category_id": 1,
                                                  "bbox": [0, 0, 1, 1], "score": 0.5}]))
    forge_verdict(sub, out, "SeqA_0.json", None, secret)
    checked.clear()
    with pytest.raises(ValidationFailed) as err:
        run(sub, data, out)
    assert checked == ["SeqA_0.json"]
    assert "image_id -4" in err.value.plan.errors()[0].message


def test_a_verdict_signed_with_the_users_key_is_what_is_read(tmp_path, checked):
    """The counterpart of the test above: the same record signed with the user's key is read
    (so it is the signature alone that keeps the forged ones out)."""
    from vcmctc.submission.cache import cache_secret

    sub, data = coco_submission(tmp_path)
    out = tmp_path / "out"
    run(sub, data, out)
    path = sub / "SeqA_0.json"
    path.write_text(path.read_text() + " ")
    forge_verdict(sub, out, "SeqA_0.json", "planted verdict", cache_secret())
    checked.clear()
    with pytest.raises(ValidationFailed) as err:
        run(sub, data, out)
    assert checked == [] and "planted verdict" in err.value.plan.errors()[0].message


def test_check_key_names_what_the_verdict_depends_on(tmp_path):
    from vcmctc.ctc.schema import Sequence

    seq = Sequence(id="S", dataset="D", cls="X", kind="video", metric="coco-bbox-ap", frames=6)
    path = tmp_path / "a.json"
    path.write_text("[]")
    family = CocoFamily()
    key = checks.check_key(family, seq, path, file_sha256(path))
    assert key == checks.check_key(CocoFamily(), seq, path, file_sha256(path))
    others = [checks.check_key(family, dataclasses.replace(seq, frames=7), path, "d"),
              checks.check_key(family, dataclasses.replace(seq, first_frame=1), path, "d"),
              checks.check_key(family, dataclasses.replace(seq, metric="coco-bbox-ap50"), path,
                               "d"),
              checks.check_key(family, seq, tmp_path / "b.json", "d"),
              checks.check_key(family, seq, path, "e")]
    base = checks.check_key(family, seq, path, "d")
    assert base not in others and len(set(others)) == len(others)

    class Revised(CocoFamily):
        check_version = CocoFamily.check_version + 1

    assert checks.check_key(Revised(), seq, path, "d") != base


def test_cold_run_parses_each_output_once_beyond_the_four_recent(tmp_path, monkeypatch):
    """validate checks all six outputs before any is measured (more than the 4 parses kept by
    default): within evaluate the measures still take validate's parses, and nothing stays kept
    after the run. The numbers equal a run that parses every output twice."""
    from vcmctc import safeload
    from vcmctc.families import base

    parsed: list[str] = []
    real = safeload.loads_json
    monkeypatch.setattr(safeload, "loads_json",
                        lambda raw, **kw: parsed.append(Path(kw["source"]).name) or real(raw, **kw))
    sub, data = coco_submission(tmp_path, ("SeqA", "SeqB", "SeqC"))
    once, _ = run(sub, data, tmp_path / "out")
    outputs = sorted(f"Seq{s}_{k}.json" for s in "ABC" for k in (0, 1))
    assert sorted(n for n in parsed if n in outputs) == outputs      # (and each GT file once)
    assert base._recent == {}

    parsed.clear()
    monkeypatch.setattr(base, "_keep", lambda key, data, size: None)   # nothing kept
    twice, _ = run(sub, data, tmp_path / "out-2")
    assert sorted(n for n in parsed if n in outputs) == sorted(outputs * 2)
    assert numbers(twice) == numbers(once)
