"""Open Images per-set states: oid_state / oid_finalize / oid_pool against evaluate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from test_openimages_synth import make_dataset, write_dataset
from vcmctc.datasets.openimages import load_ground_truth, load_predictions
from vcmctc.errors import UserError
from vcmctc.evaluators.openimages import OIParams, OIState, evaluate, oid_finalize, oid_pool, \
    oid_state


def _load(tmp_path, seed, masks=False):
    data = make_dataset(seed, n_images=60, masks=masks, score_digits=2)  # 2 digits: ties
    paths = write_dataset(data, tmp_path / f"d{seed}")
    gt = load_ground_truth(paths["boxes"], paths["labels"],
                           masks=paths.get("masks") if masks else None)
    return gt, load_predictions(paths["preds"], gt, masks=masks)


def _same(a, b):
    assert a.classes == b.classes and a.counts == b.counts
    for name in ("ap", "num_gt", "num_tp", "num_entries"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


@pytest.mark.parametrize("seed,masks", [(s, False) for s in range(6)] + [(100, True)])
def test_state_round_trip_and_pool_equal_evaluate(seed, masks, tmp_path):
    gt, preds = _load(tmp_path, seed, masks)
    params = OIParams(masks=masks)
    full = evaluate(gt, preds, params)
    state = oid_state(gt, preds, params)
    np.savez(tmp_path / "s.npz", **state.to_arrays())
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        back = OIState.from_arrays({k: f[k] for k in f.files})
    _same(oid_finalize(back), full)
    # three disjoint sets, images interleaved in key order: the pool restores one run's order
    keys = sorted(gt.images)
    rng = np.random.default_rng(seed)
    part = rng.integers(0, 3, len(keys))
    states = []
    for k in range(3):
        mine = {key for key, p in zip(keys, part) if p == k}
        sub_gt = dataclasses.replace(gt, images={key: gt.images[key] for key in mine})
        sub_preds = {key: v for key, v in preds.items()
                     if key in mine or (k == 0 and key not in gt.images)}
        states.append(oid_state(sub_gt, sub_preds, params))
    _same(oid_pool(states), full)


def test_pool_refuses_overlap_and_mixed_settings(tmp_path):
    gt, preds = _load(tmp_path, 3)
    state = oid_state(gt, preds)
    with pytest.raises(UserError, match="share images"):
        oid_pool([state, state])
    with pytest.raises(UserError, match="different settings"):
        oid_pool([state, oid_state(dataclasses.replace(gt, images={}), {},
                                   OIParams(iou_threshold=0.6))])
