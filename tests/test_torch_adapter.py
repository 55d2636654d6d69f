"""Part 2 of a split network in-process: the torch adapter on a real small model, its output
writers, failures as statuses, kMAC/pixel from torch's FLOP counter against hand-computed
counts, and the detectron2 split adapter (part 2 of an R-CNN) with a test double."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import numpy as np
import pytest

from vcmctc.adapters import TaskRequest
from vcmctc.errors import UserError
from vcmctc.features.spec import Layout, parse_split_point
from vcmctc.features.store import write_features

torch = pytest.importorskip("torch")

SPLIT = parse_split_point("t", "tiny", {
    "network": "tiny", "input": {"resize": "none"},
    "tensors": [{"name": "a", "channels": 4, "stride": 4}, {"name": "b", "channels": 2,
                                                            "stride": 8}]})
W, H, FRAMES = 32, 24, 5          # a: 4 x 6 x 8, b: 2 x 3 x 4
LAYOUT = Layout(SPLIT, FRAMES, SPLIT.shapes(W, H), (W, H))

TINY = '''
import torch


class TinyPart2(torch.nn.Module):
    """One detection per frame: where the first channel of a 3x3 convolution peaks."""

    def __init__(self, state, threshold):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 2, 3, padding=1, bias=False)
        self.fc = torch.nn.Linear(2, 3)
        self.load_state_dict(state)
        self.threshold = threshold
        self.calls = 0

    def reset(self):
        self.calls = 0

    def forward(self, features, frame):
        self.calls += 1
        y = self.conv(features["a"]) + features["b"].mean()
        score = torch.sigmoid(self.fc(y.mean(dim=(2, 3))))[0, 0]
        r, c = divmod(int(y[0, 0].argmax()), y.shape[3])
        if float(score) < self.threshold:
            return []
        return [{"category_id": 1, "bbox": [4.0 * c, 4.0 * r, 8.0, 8.0], "score": score,
                 "id": 7}]


def build(weights, device, threshold=0.0):
    return TinyPart2(torch.load(weights), threshold).to(device).eval()
'''


@pytest.fixture
def world(tmp_path):
    """A submission folder with the part-2 module and its weights, and decoded features."""
    root = tmp_path / "sub"
    root.mkdir()
    module = f"tiny_{tmp_path.name.replace('-', '_')}"   # a fresh module name per test
    (root / f"{module}.py").write_text(TINY)
    torch.manual_seed(3)
    state = {"conv.weight": torch.randn(2, 4, 3, 3), "fc.weight": torch.randn(3, 2),
             "fc.bias": torch.randn(3)}
    torch.save(state, root / "part2.pt")
    rng = np.random.default_rng(5)
    features = {"a": rng.normal(size=(FRAMES, 4, 6, 8)).astype(np.float32),
                "b": rng.normal(size=(FRAMES, 2, 3, 4)).astype(np.float16)}
    write_features(tmp_path / "decoded.npz", features)
    return types.SimpleNamespace(root=root, module=module, state=state, features=features,
                                 decoded=tmp_path / "decoded.npz", tmp=tmp_path)


def _request(world, kind="coco-results-json", task="object-detection", first_frame=3,
             timeout_s=30.0, decoded=None, layout=LAYOUT, frames=FRAMES):
    name = {"coco-results-json": "out.json", "mot-txt": "out.txt", "oid-predictions": "out.csv",
            "label-maps": "labels"}
    return TaskRequest(decoded=decoded or world.decoded, fmt=None, frames=frames,
                       first_frame=first_frame, fps=30.0, task=task,
                       output=world.tmp / "work" / name[kind], log=world.tmp / "work/task.log",
                       output_kind=kind, timeout_s=timeout_s, sequence="Seq",
                       features=layout)


def _adapter(world, **options):
    from vcmctc.adapters.torch import TorchAdapter

    return TorchAdapter(f"{world.module}:build", root=world.root, weights=world.root / "part2.pt",
                        options=options)


def _direct(world, threshold=0.0):
    """What the model gives when called by hand on the stored features."""
    sys.path.insert(0, str(world.root))
    try:
        module = __import__(world.module)
    finally:
        sys.path.remove(str(world.root))
    model = module.TinyPart2(world.state, threshold).eval()
    out = []
    with torch.no_grad():
        for i in range(FRAMES):
            feats = {n: torch.from_numpy(world.features[n][i].astype(np.float32))[None]
                     for n in ("a", "b")}
            out.append(model(feats, None))
    return out


def test_torch_adapter_runs_a_real_model(world):
    run = _adapter(world).run(_request(world))
    assert run.status == "ok", run.message
    got = json.loads(run.output.read_text())
    expected = [{"image_id": 3 + i, "category_id": 1, "bbox": d["bbox"], "score": float(d["score"])}
                for i, dets in enumerate(_direct(world)) for d in dets]
    assert got == expected and len(got) == FRAMES
    # kMAC/pixel of part 2, counted by torch on the first frame: conv 2 x 6 x 8 outputs of
    # 4 x 3 x 3 MACs each, linear 2 -> 3; per element of the 3 x 24 x 32 network input
    assert run.complexity == {"nn_part2": (2 * 6 * 8 * 4 * 9 + 2 * 3) / 1000 / (3 * 24 * 32)}
    assert "part 2: 3462 MACs on frame 0" in run.log.read_text()
    assert run.wall_s > 0 and "wrote 5 result(s) for 5 frame(s)" in run.message


def test_torch_adapter_writes_tracks_and_image_predictions(world):
    run = _adapter(world).run(_request(world, kind="mot-txt", task="object-tracking",
                                       first_frame=1))
    assert run.status == "ok", run.message
    lines = run.output.read_text().splitlines()
    expected = [d["bbox"] for dets in _direct(world) for d in dets]
    assert [ln.split(",")[:2] for ln in lines] == [[str(1 + i), "7"] for i in range(FRAMES)]
    assert [[float(v) for v in ln.split(",")[2:6]] for ln in lines] == expected
    # an image set: a folder of one feature file per image, results named by image id
    folder = world.tmp / "images"
    folder.mkdir()
    for item, i in (("img_b", 1), ("img_a", 0)):
        write_features(folder / f"{item}.npz", {n: world.features[n][i:i + 1] for n in "ab"})
    source = (world.root / f"{world.module}.py").read_text().replace(
        'return [{"category_id": 1,', 'return [{"LabelName": "/m/01g317", "Score": score, '
        '"XMin": 0.1, "XMax": 0.5, "YMin": 0.2, "YMax": 0.4, "category_id": 1,')
    (world.root / f"{world.module}_oid.py").write_text(source)
    from vcmctc.adapters.torch import TorchAdapter

    adapter = TorchAdapter(f"{world.module}_oid:build", root=world.root,
                           weights=world.root / "part2.pt")
    run = adapter.run(_request(world, kind="oid-predictions", decoded=folder,
                               layout=Layout(SPLIT, 1, SPLIT.shapes(W, H), (W, H)), frames=2))
    assert run.status == "ok", run.message
    rows = run.output.read_text().splitlines()
    direct = _direct(world)
    assert rows[0] == "ImageID,LabelName,Score,XMin,XMax,YMin,YMax"
    assert rows[1] == f"img_a,/m/01g317,{float(direct[0][0]['score'])!r},0.1,0.5,0.2,0.4"
    assert rows[2].startswith(f"img_b,/m/01g317,{float(direct[1][0]['score'])!r},")


def test_torch_adapter_failures_are_statuses(world):
    from vcmctc.adapters.torch import TorchAdapter

    def adapter(variant: str, source: str) -> TorchAdapter:
        name = f"{world.module}_{variant}"
        (world.root / f"{name}.py").write_text(source)
        return TorchAdapter(f"{name}:build", root=world.root, weights=world.root / "part2.pt")

    crash = adapter("crash", TINY.replace("        self.calls += 1\n", "        self.calls += 1\n"
                                          "        if self.calls == 3:\n"
                                          "            raise RuntimeError('out of memory')\n"))
    run = crash.run(_request(world))
    assert run.status == "failed" and run.complexity is None
    assert "Seq: part 2 failed at frame 2: RuntimeError: out of memory" in run.message
    assert not run.output.exists()
    assert "RuntimeError: out of memory" in run.log.read_text()   # the traceback is kept
    run = crash.run(_request(world))   # reset() before each rate point: the same again
    assert "failed at frame 2" in run.message
    run = adapter("badkey", TINY.replace('return [{"category_id": 1,', 'return [{"category": 1,')
                  ).run(_request(world))
    assert run.status == "bad-output" and "part 2 returned a result vcmctc cannot write: " \
        "'category_id'" in run.message
    slow = adapter("slow", TINY.replace("        if float(score) < self.threshold:",
                                        "        import time; time.sleep(0.2)\n"
                                        "        if float(score) < self.threshold:"))
    run = slow.run(_request(world, timeout_s=0.3))
    assert run.status == "timeout" and "timed out after 0.3 s (2 of 5 frames)" in run.message
    run = adapter("str", TINY.replace(
        'return [{"category_id": 1, "bbox": [4.0 * c, 4.0 * r, 8.0, 8.0], "score": score,\n'
        '                 "id": 7}]', 'return "nothing"')).run(_request(world))
    assert run.status == "failed" and "part 2 must return a list of dicts (frame 0 gave str)" \
        in run.message
    # a feature file that does not fit is a status too (the decode step normally catches it)
    write_features(world.tmp / "short.npz", {n: v[:2] for n, v in world.features.items()})
    run = _adapter(world).run(_request(world, decoded=world.tmp / "short.npz"))
    assert run.status == "failed" and "2 decoded frame(s), expected 5" in run.message


def test_torch_adapter_configuration_errors(world, monkeypatch):
    from vcmctc.adapters.torch import TorchAdapter

    with pytest.raises(UserError, match="expected 'module:callable'"):
        TorchAdapter("nocolon", root=world.root)
    with pytest.raises(UserError, match="cannot import no_such_module_xyz"):
        TorchAdapter("no_such_module_xyz:build", root=world.root)
    with pytest.raises(UserError, match=f"{world.module} has no nothing"):
        TorchAdapter(f"{world.module}:nothing", root=world.root)
    with pytest.raises(UserError, match="part-2 weights file not found"):
        TorchAdapter(f"{world.module}:build", root=world.root, weights=world.root / "x.pt")
    with pytest.raises(UserError, match="writes coco-results-json, mot-txt, oid-predictions, "
                                        "not label-maps"):
        _adapter(world).run(_request(world, kind="label-maps"))
    with pytest.raises(UserError, match="set the decoder's 'output: features'"):
        _adapter(world).run(_request(world, layout=None))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(UserError, match=r"needs PyTorch: run pip install 'vcmctc\[torch\]'"):
        TorchAdapter(f"{world.module}:build", root=world.root)


def test_demo_fcm_without_torch_is_one_line(cli, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    r = cli("demo", "--track", "fcm", "--out", tmp_path / "d", "-q")
    assert r.code == 2 and r.err.count("\n") == 1
    assert "pip install 'vcmctc[torch]'" in r.err and "torch==2.13.0" in r.err


# ---------------------------------------------------------------------------------------------
# complexity


def test_count_macs_equals_hand_computed_counts():
    from vcmctc.features.complexity import count_macs, kmac_per_pixel, merge

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),          # 8 x 16 x 16 outputs, 27 MACs
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=4),           # 8 x 16 x 16, 2 x 3 x 3 MACs
        torch.nn.ConvTranspose2d(8, 4, 2, stride=2),             # 8 x 16 x 16 inputs, 4 x 2 x 2
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),       # not counted
        torch.nn.Linear(4, 10))                                  # 40 MACs
    x = torch.randn(2, 3, 32, 32)
    out, macs = count_macs(model, x)
    per_image = 8 * 16 * 16 * 27 + 8 * 16 * 16 * 18 + 8 * 16 * 16 * 4 * 4 + 40
    assert out.shape == (2, 10) and macs == 2 * per_image
    assert kmac_per_pixel(per_image, 3 * 32 * 32) == per_image / 1000 / 3072
    with pytest.raises(ValueError):
        kmac_per_pixel(1, 0)
    merged, warnings = merge({"nn_part1": 5.0, "nn_part2": 2.0}, {"nn_part2": 1.0})
    assert merged == {"nn_part1": 5.0, "nn_part2": 1.0}
    assert warnings == ["complexity nn_part2: the manifest says 2 kMAC/pixel, vcmctc measured 1"]
    assert merge({"nn_part2": 1.005}, {"nn_part2": 1.0})[1] == []


# ---------------------------------------------------------------------------------------------
# detectron2 split (part 2 of an R-CNN) with a test double


class FakeInstances:
    def __init__(self, boxes, scores, classes):
        self.pred_boxes = types.SimpleNamespace(tensor=torch.tensor(boxes, dtype=torch.float32))
        self.scores = torch.tensor(scores)
        self.pred_classes = torch.tensor(classes)

    def has(self, name):
        return hasattr(self, name)


class FakeRcnn:
    """What RcnnPart2 uses of a detectron2 GeneralizedRCNN, recording its calls: the FPN top
    block (max pooling, as detectron2's LastLevelMaxPool), the RPN, the ROI heads and
    _postprocess (scaling boxes from the network input to the original frame)."""

    def __init__(self):
        self.calls = []
        self.backbone = types.SimpleNamespace(top_block=self.top_block)

    def top_block(self, p5):
        return [torch.nn.functional.max_pool2d(p5, kernel_size=1, stride=2, padding=0)]

    def proposal_generator(self, images, features, targets):
        self.calls.append(("rpn", images.image_sizes, {k: tuple(v.shape) for k, v in
                                                       features.items()}, targets))
        return ["proposals"], {}

    def roi_heads(self, images, features, proposals, targets):
        self.calls.append(("roi", images.image_sizes, sorted(features), proposals, targets))
        p2 = features["p2"][0, 0]
        y, x = divmod(int(p2.argmax()), p2.shape[1])
        box = [4.0 * x, 4.0 * y, 4.0 * x + 16, 4.0 * y + 8]   # network-input pixels
        return [FakeInstances([box], [float(features["p6"].sum()) % 1], [2])], {}

    def _postprocess(self, results, batched_inputs, image_sizes):
        self.calls.append(("post", batched_inputs, image_sizes))
        (h, w), out = image_sizes[0], batched_inputs[0]
        inst = results[0]
        scale = torch.tensor([out["width"] / w, out["height"] / h] * 2)
        inst.pred_boxes.tensor = inst.pred_boxes.tensor * scale
        return [{"instances": inst}]


def test_detectron2_split_adapter_feeds_the_fpn_into_the_rcnn_heads(tmp_path):
    from vcmctc.adapters.detectron2 import Detectron2SplitAdapter
    from vcmctc.ctc.editions import load_edition

    ed = load_edition("fcm-fctm-v1")
    seq = ed.sequences["BQSquare"]                                   # 416 x 240
    layout = Layout.for_sequence(ed.split_points["rcnn-x101-fpn"], seq)
    shapes = layout.shapes                                         # p2: 256 x 200 x 336 ...
    rng = np.random.default_rng(6)
    feats = {n: rng.random((2, *shape)).astype(np.float16) for n, shape in shapes.items()}
    write_features(tmp_path / "dec.npz", feats)
    (tmp_path / "cfg.yaml").write_text("MODEL: {}\n")
    (tmp_path / "w.pkl").write_bytes(b"weights")
    model = FakeRcnn()
    built = {}

    def factory(**kwargs):
        built.update(kwargs)
        return model

    adapter = Detectron2SplitAdapter(tmp_path / "cfg.yaml", tmp_path / "w.pkl",
                                     score_threshold=0.3, model_factory=factory)
    request = TaskRequest(decoded=tmp_path / "dec.npz", fmt=None, frames=2, first_frame=0,
                          fps=60.0, task="object-detection", output=tmp_path / "out.json",
                          log=tmp_path / "log", output_kind="coco-results-json",
                          sequence="BQSquare", features=layout)
    run = adapter.run(request)
    assert run.status == "ok", run.message
    assert built == {"config_file": str(tmp_path / "cfg.yaml"), "weights": str(tmp_path / "w.pkl"),
                     "device": "cpu", "score_threshold": 0.3, "opts": ()}
    rpn, roi, post = model.calls[:3]
    # the network input of a 416x240 frame: 769 x 1333 (detectron2's resizing, before padding)
    assert rpn[1] == [(769, 1333)] and roi[1] == [(769, 1333)] and post[2] == [(769, 1333)]
    assert rpn[2] == {"p2": (1, 256, 200, 336), "p3": (1, 256, 100, 168), "p4": (1, 256, 50, 84),
                      "p5": (1, 256, 25, 42), "p6": (1, 256, 13, 21)}
    assert roi[2] == ["p2", "p3", "p4", "p5", "p6"] and roi[3] == ["proposals"]
    assert rpn[3] is None and roi[4] is None
    assert post[1] == [{"height": 240, "width": 416}]
    got = json.loads(run.output.read_text())
    for i, det in enumerate(got):
        p2 = torch.from_numpy(feats["p2"][i, 0].astype(np.float32))
        y, x = divmod(int(p2.argmax()), p2.shape[1])
        p6 = torch.nn.functional.max_pool2d(torch.from_numpy(
            feats["p5"][i].astype(np.float32))[None], 1, 2)
        sx, sy = 416 / 1333, 240 / 769
        x0, y0, x1, y1 = (np.float32(v) for v in (4.0 * x * sx, 4.0 * y * sy,
                                                   (4.0 * x + 16) * sx, (4.0 * y + 8) * sy))
        assert det["image_id"] == i and det["category_id"] == 3   # contiguous 2 -> COCO car
        assert det["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0], rel=1e-5)   # float32
        assert det["score"] == pytest.approx(float(p6.sum()) % 1, rel=1e-6)
    with pytest.raises(UserError, match="detectron2 config file not found"):
        Detectron2SplitAdapter(tmp_path / "none.yaml", tmp_path / "w.pkl")
    with pytest.raises(UserError, match="part-2 weights file not found"):
        Detectron2SplitAdapter(tmp_path / "cfg.yaml", tmp_path / "none.pkl")
    # without detectron2 installed, building the model says how to install it
    adapter = Detectron2SplitAdapter(tmp_path / "cfg.yaml", tmp_path / "w.pkl")
    with pytest.raises(UserError, match="needs PyTorch and detectron2"):
        adapter.run(request)
