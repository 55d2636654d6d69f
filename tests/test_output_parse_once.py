"""A JSON task output checked and then measured is parsed once, and only while its bytes are
the ones that were checked."""

from __future__ import annotations

import json
import threading

import pytest

from vcmctc import safeload
from vcmctc.datasets.coco import load_coco_results
from vcmctc.errors import UserError
from vcmctc.families import base
from vcmctc.families.base import read_output_json, take_output_json

GT = {"images": [{"id": i, "width": 64, "height": 48} for i in (1, 2)],
      "categories": [{"id": 1, "name": "person"}], "annotations": []}
DETS = [{"image_id": 1, "category_id": 1, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.5},
        {"image_id": 2, "category_id": 1, "bbox": [5, 6, 7, 8], "score": 0.25}]


@pytest.fixture
def parses(monkeypatch):
    calls = []
    real = safeload.loads_json
    monkeypatch.setattr(safeload, "loads_json",
                        lambda raw, **kw: calls.append(kw.get("source")) or real(raw, **kw))
    monkeypatch.setattr(base, "_recent", {})
    return calls


def test_check_then_measure_parses_once(tmp_path, parses):
    path = tmp_path / "out.json"
    path.write_text(json.dumps(DETS))
    data, problem = read_output_json(path)
    assert problem is None and data == DETS
    assert read_output_json(path)[0] is data          # a second check: the same parse
    taken = take_output_json(path)
    assert taken is data and len(parses) == 1
    assert take_output_json(path) == DETS              # taken: parsed again
    assert len(parses) == 2


def test_changed_bytes_are_parsed_again(tmp_path, parses):
    path = tmp_path / "out.json"
    path.write_text(json.dumps(DETS))
    read_output_json(path)
    path.write_text(json.dumps(DETS[:1]))             # same path, other bytes
    assert take_output_json(path) == DETS[:1]
    assert len(parses) == 2


def test_the_memo_is_bounded_and_errors_are_not_kept(tmp_path, parses):
    paths = []
    for k in range(base._RECENT_MAX + 2):
        paths.append(tmp_path / f"o{k}.json")
        paths[-1].write_text(json.dumps(DETS[: k % 2 + 1]))
        read_output_json(paths[-1])
    assert len(base._recent) == base._RECENT_MAX
    take_output_json(paths[0])                         # evicted: parsed again
    assert len(parses) == base._RECENT_MAX + 3
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1, "a": 2}]')
    assert "duplicate key 'a'" in read_output_json(bad)[1]
    with pytest.raises(UserError, match="duplicate key 'a'"):
        take_output_json(bad)
    assert all(k[0] != str(bad) for k in base._recent)


def test_measure_reads_what_load_coco_results_reads(tmp_path, parses):
    from vcmctc.ctc.editions import load_edition
    from vcmctc.families import family_for
    from vcmctc.families.base import GroundTruth

    path = tmp_path / "out.json"
    path.write_text(json.dumps(DETS))
    ed = load_edition("fcm-fctm-v1")
    seq = ed.sequences["BQMall"]
    family = family_for(seq.metric)
    gt = GroundTruth(GT)
    assert family.check_output(seq, path) is None
    got = family.read_output(seq, gt, path)
    assert len(parses) == 1
    assert got == load_coco_results(path, GT)


def test_threads_share_the_memo_safely(tmp_path, parses):
    paths = []
    for k in range(8):
        paths.append(tmp_path / f"t{k}.json")
        paths[-1].write_text(json.dumps(DETS * (k + 1)))
    errors = []

    def work(p, n):
        try:
            for _ in range(20):
                assert read_output_json(p)[0] == DETS * n
                assert take_output_json(p) == DETS * n
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(p, k + 1)) for k, p in enumerate(paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_budget_keeps_more_than_the_recent_ones_and_no_more(tmp_path, parses):
    """Inside keep_parsed_outputs: parses are kept beyond the 4 most recent while their source
    bytes fit the budget, later ones are not kept (their measure parses again: a scan that
    outgrows the budget keeps its first outputs), and everything goes when the block ends."""
    paths = []
    for k in range(8):
        paths.append(tmp_path / f"b{k}.json")
        paths[-1].write_text(json.dumps(DETS))
    size = paths[0].stat().st_size
    with base.keep_parsed_outputs(6 * size):
        for p in paths:
            read_output_json(p)
        assert len(base._recent) == 6
        for p in paths:
            assert take_output_json(p) == DETS
        assert len(parses) == 8 + 2                  # the last two were parsed again
    assert base._recent == {}
    read_output_json(paths[0])
    with base.keep_parsed_outputs(0):
        pass
    assert base._recent == {}                       # dropped at the end of a block
