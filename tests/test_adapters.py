"""Task-network adapters: provided, command (a real tiny program), detectron2 (fake predictor)."""

import json
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from vcmctc.adapters import ADAPTERS, TaskRequest, get_adapter
from vcmctc.adapters.detectron2 import Detectron2Adapter, build_predictor, instances_to_coco
from vcmctc.errors import UserError
from vcmctc.media.yuv import YuvFormat, YuvReader, to_bgr

PROGRAMS = Path(__file__).parent / "programs"
TASK = [sys.executable, str(PROGRAMS / "task_program.py")]
FMT = YuvFormat(32, 16)
FRAMES = 5


@pytest.fixture
def decoded(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "dec.yuv"
    path.write_bytes(rng.integers(0, 256, FRAMES * FMT.frame_bytes, np.uint8).tobytes())
    return path


def _check(metric: str, first_frame: int):
    """The output check of the family of ``metric`` for a sequence of FRAMES frames."""
    from vcmctc.families import family_for

    family = family_for(metric)
    seq = types.SimpleNamespace(first_frame=first_frame, frames=FRAMES, metric=metric)
    return family.output_kind, lambda path: family.check_output(seq, path)


def _request(tmp_path, decoded, task="object-detection", first_frame=0, timeout_s=30.0,
             output=None):
    ext = "txt" if task == "object-tracking" else "json"
    kind, check = _check("mota" if task == "object-tracking" else "coco-bbox-ap", first_frame)
    return TaskRequest(decoded=decoded, fmt=FMT, frames=FRAMES, first_frame=first_frame,
                       fps=30.0, task=task, output=output or tmp_path / f"out.{ext}",
                       log=tmp_path / "task.log", output_kind=kind, check=check,
                       timeout_s=timeout_s, sequence="Seq")


# ---------------------------------------------------------------------------------------------
# registry and request

def test_registry_names_and_suggestion():
    assert ADAPTERS.names() == ["command", "detectron2", "detectron2-split", "provided", "torch"]
    with pytest.raises(UserError, match="unknown task adapter 'comand'; did you mean command"):
        get_adapter("comand")


def test_importing_adapters_is_light():
    code = ("import sys, vcmctc.adapters, vcmctc.adapters.command, vcmctc.adapters.provided; "
            "print(','.join(m for m in ('torch', 'detectron2', 'pycocotools', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_bad_request(tmp_path):
    with pytest.raises(UserError, match="frames must be positive"):
        TaskRequest(decoded=None, fmt=FMT, frames=0, first_frame=0, fps=30.0,
                    task="object-detection", output=tmp_path / "o.json", log=tmp_path / "l",
                    output_kind="coco-results-json")


# ---------------------------------------------------------------------------------------------
# provided

def test_provided_ok(tmp_path):
    out = tmp_path / "sub.json"
    out.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
                                "score": 0.5}, {"image_id": 5, "category_id": 3,
                                                "bbox": [0, 0, 1, 1], "score": 0.5}]))
    run = get_adapter("provided").run(_request(tmp_path, None, first_frame=1, output=out))
    assert run.status == "ok" and run.output == out and run.output_kind == "coco-results-json"
    assert run.wall_s is None and run.cpu_s is None
    json.dumps(run.to_dict())


def test_provided_missing_empty_and_bad(tmp_path):
    adapter = get_adapter("provided")
    run = adapter.run(_request(tmp_path, None, output=tmp_path / "none.json"))
    assert run.status == "no-output" and "none.json was not written" in run.message
    (tmp_path / "empty.json").write_text("")
    run = adapter.run(_request(tmp_path, None, output=tmp_path / "empty.json"))
    assert run.status == "no-output" and "empty.json is empty" in run.message
    (tmp_path / "bad.json").write_text("{not json")
    run = adapter.run(_request(tmp_path, None, output=tmp_path / "bad.json"))
    assert run.status == "bad-output" and "bad.json:1: invalid JSON" in run.message
    # frames numbered from 0 while the edition numbers them from 1: image id 0 is outside 1..5
    (tmp_path / "ids.json").write_text(json.dumps([{"image_id": 0, "category_id": 1}]))
    run = adapter.run(_request(tmp_path, None, first_frame=1, output=tmp_path / "ids.json"))
    assert run.status == "bad-output"
    assert "entry [0] has image_id 0, outside the frames 1..5" in run.message


def test_check_mot_output(tmp_path):
    _, check = _check("mota", 1)
    path = tmp_path / "t.txt"
    path.write_text("1,1,0,0,5,5,1,-1,-1,-1\n\n6,1,0,0,5,5,1,-1,-1,-1\n")
    assert check(path) == "t.txt:3: frame 6 is outside the frames 1..5 of this sequence"
    path.write_text("1,1,0,0\n")
    assert "at least 6" in check(path)
    path.write_text("1,1,0,0,5,5,1,-1,-1,-1\n5.0,2,0,0,5,5,1,-1,-1,-1\n")
    assert check(path) is None


# ---------------------------------------------------------------------------------------------
# command

def _command(mode="ok"):
    return get_adapter("command", argv=[*TASK, "{decoded}", "{width}", "{height}", "{frames}",
                                        "{first_frame}", "{task}", "{output}", mode])


@pytest.mark.parametrize("first_frame", [0, 1])
def test_command_writes_coco_results(tmp_path, decoded, first_frame):
    run = _command().run(_request(tmp_path, decoded, first_frame=first_frame))
    assert run.status == "ok", run.message
    assert run.returncode == 0 and run.wall_s > 0 and run.cpu_s > 0
    assert run.argv[2:5] == (str(decoded), "32", "16")
    results = json.loads(run.output.read_text())
    # one whole-frame box per frame, score = mean luma / 255, computed here independently
    reader = YuvReader(decoded, FMT, frames=FRAMES)
    assert [r["image_id"] for r in results] == list(range(first_frame, first_frame + FRAMES))
    for r, (y, _, _) in zip(results, reader):
        assert r["bbox"] == [0, 0, 32, 16] and r["category_id"] == 1
        assert r["score"] == pytest.approx(float(y.mean()) / 255, abs=1e-12)
    assert "task program: 5 frames" in run.log.read_text()


def test_command_writes_mot(tmp_path, decoded):
    run = _command().run(_request(tmp_path, decoded, task="object-tracking", first_frame=1))
    assert run.status == "ok" and run.output_kind == "mot-txt"
    rows = [line.split(",") for line in run.output.read_text().splitlines()]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]


def test_command_failures(tmp_path, decoded):
    run = _command("crash").run(_request(tmp_path, decoded))
    assert run.status == "failed" and run.returncode == 1
    assert "task command exited with code 1 for Seq: task program: out of memory" in run.message
    start = time.perf_counter()
    run = _command("hang").run(_request(tmp_path, decoded, timeout_s=1.0))
    assert run.status == "timeout" and time.perf_counter() - start < 3.0
    run = _command("none").run(_request(tmp_path, decoded))
    assert run.status == "no-output" and "was not written" in run.message
    run = _command("bad-ids").run(_request(tmp_path, decoded))
    assert run.status == "bad-output" and "image_id 1000" in run.message


def test_command_stale_output_is_removed(tmp_path, decoded):
    request = _request(tmp_path, decoded)
    request.output.write_text(json.dumps([{"image_id": 0}]))
    assert _command("none").run(request).status == "no-output"


def test_command_bad_template():
    with pytest.raises(UserError, match=r"unknown placeholder \{decode\}"):
        get_adapter("command", argv=["net", "{decode}"])
    with pytest.raises(UserError, match="non-empty list"):
        get_adapter("command", argv="net {decoded}")


# ---------------------------------------------------------------------------------------------
# detectron2 with a fake predictor (same attributes as detectron2's Instances)

class FakeBoxes:
    def __init__(self, xyxy):
        self.tensor = np.asarray(xyxy, np.float32).reshape(-1, 4)


class FakeInstances:
    def __init__(self, boxes, scores, classes, masks=None):
        self.pred_boxes = FakeBoxes(boxes)
        self.scores = np.asarray(scores, np.float32)
        self.pred_classes = np.asarray(classes, np.int64)
        if masks is not None:
            self.pred_masks = np.asarray(masks, bool)

    def has(self, name):
        return hasattr(self, name)

    def to(self, device):
        assert device == "cpu"
        return self


class FakePredictor:
    """Returns the given Instances in turn and keeps the images it was given."""

    def __init__(self, outputs, delay=0.0, fail_at=None):
        self.outputs, self.delay, self.fail_at, self.images = outputs, delay, fail_at, []

    def __call__(self, image):
        if len(self.images) == self.fail_at:
            raise RuntimeError("CUDA out of memory")
        self.images.append(image.copy())
        time.sleep(self.delay)
        return {"instances": self.outputs[(len(self.images) - 1) % len(self.outputs)]}


@pytest.fixture
def model_files(tmp_path):
    cfg, weights = tmp_path / "faster_rcnn.yaml", tmp_path / "model.pkl"
    cfg.write_text("MODEL: {}\n")
    weights.write_bytes(b"\0")
    return cfg, weights


def _adapter(model_files, predictor, **kw):
    calls = []

    def factory(**kwargs):
        calls.append(kwargs)
        return predictor

    adapter = Detectron2Adapter(*model_files, predictor_factory=factory, **kw)
    return adapter, calls


def test_instances_to_coco_boxes_classes_scores():
    # XYXY (10.5, 20.25)-(30.5, 60.75) is XYWH 10.5, 20.25, 20, 40.5 (exact in float32).
    # Contiguous classes 0, 79, 56, 11 are COCO ids 1 (person), 90 (toothbrush), 62 (chair),
    # 13 (stop sign: COCO id 12 does not exist, so index 11 is id 13).
    inst = FakeInstances([[10.5, 20.25, 30.5, 60.75], [0, 0, 1, 1], [1, 2, 4, 8], [0, 0, 0.5, 0.5]],
                         [0.9, 0.5, 0.25, 0.125], [0, 79, 56, 11])
    from vcmctc.datasets.coco import CONTIGUOUS_TO_COCO_ID
    out = instances_to_coco(inst, 7, category_map=CONTIGUOUS_TO_COCO_ID, with_masks=False)
    assert [d["category_id"] for d in out] == [1, 90, 62, 13]
    assert out[0] == {"image_id": 7, "category_id": 1, "bbox": [10.5, 20.25, 20.0, 40.5],
                      "score": 0.8999999761581421}  # float32(0.9), as torch's tolist() gives
    assert out[2]["bbox"] == [1.0, 2.0, 3.0, 6.0]
    # width/height are float32 differences, as detectron2 computes them on its float32 tensor:
    # float32(0.3) - float32(0.1) rounds differently from the float64 difference
    inst = FakeInstances([[0.1, 0.1, 0.3, 0.7]], [1.0], [0])
    w = instances_to_coco(inst, 0, category_map={0: 1}, with_masks=False)[0]["bbox"][2]
    assert w == float(np.float32(0.3) - np.float32(0.1))
    assert w != float(np.float32(0.3)) - float(np.float32(0.1))


def test_detectron2_detection_run(tmp_path, decoded, model_files):
    outputs = [FakeInstances([[1, 2, 11, 12]], [0.75], [2]),
               FakeInstances([[0, 0, 4, 4], [5, 5, 6, 9]], [0.5, 0.25], [0, 17])]
    predictor = FakePredictor(outputs)
    adapter, calls = _adapter(model_files, predictor, device="cpu", score_threshold=0.05,
                              opts=["MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.5"], matrix="bt601")
    run = adapter.run(_request(tmp_path, decoded, first_frame=1))
    assert run.status == "ok", run.message
    assert run.wall_s > 0 and run.cpu_s is not None
    results = json.loads(run.output.read_text())
    # frames 1,3,5 give one car (index 2 -> COCO 3); frames 2,4 a person and a horse (17 -> 19)
    assert [(r["image_id"], r["category_id"]) for r in results] == [
        (1, 3), (2, 1), (2, 19), (3, 3), (4, 1), (4, 19), (5, 3)]
    assert results[0]["bbox"] == [1.0, 2.0, 10.0, 10.0] and "segmentation" not in results[0]
    # the predictor got each frame in BGR, converted with the configured matrix
    reader = YuvReader(decoded, FMT)
    assert len(predictor.images) == FRAMES
    for img, planes in zip(predictor.images, reader):
        np.testing.assert_array_equal(img, to_bgr(*planes, FMT, "bt601"))
    # the predictor is built once, with the adapter's settings, and reused
    adapter.run(_request(tmp_path, decoded))
    assert calls == [{"config_file": str(model_files[0]), "weights": str(model_files[1]),
                      "device": "cpu", "score_threshold": 0.05,
                      "opts": ("MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.5")}]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
def test_detectron2_segmentation_masks_round_trip(tmp_path, decoded, model_files):
    from pycocotools import mask as mask_util

    rng = np.random.default_rng(4)
    masks = rng.random((2, FMT.height, FMT.width)) < 0.3
    predictor = FakePredictor([FakeInstances([[0, 0, 8, 8], [2, 2, 30, 15]], [0.9, 0.8], [0, 1],
                                             masks)])
    adapter, _ = _adapter(model_files, predictor)
    run = adapter.run(_request(tmp_path, decoded, task="instance-segmentation"))
    assert run.status == "ok", run.message
    results = json.loads(run.output.read_text())
    assert len(results) == 2 * FRAMES
    for k, det in enumerate(results[:2]):
        rle = det["segmentation"]
        assert rle["size"] == [FMT.height, FMT.width] and isinstance(rle["counts"], str)
        np.testing.assert_array_equal(mask_util.decode(rle).astype(bool), masks[k])
        assert mask_util.area(rle) == masks[k].sum()


def test_detectron2_model_mismatch_is_a_user_error(tmp_path, decoded, model_files):
    adapter, _ = _adapter(model_files, FakePredictor([FakeInstances([[0, 0, 1, 1]], [1], [80])]))
    with pytest.raises(UserError, match="class index 80, which the category map does not cover"):
        adapter.run(_request(tmp_path, decoded))
    adapter, _ = _adapter(model_files, FakePredictor([FakeInstances([[0, 0, 1, 1]], [1], [0])]))
    with pytest.raises(UserError, match="needs a model that predicts masks"):
        adapter.run(_request(tmp_path, decoded, task="instance-segmentation"))
    with pytest.raises(UserError, match="not object-tracking"):
        adapter.run(_request(tmp_path, decoded, task="object-tracking"))


def test_detectron2_failures_are_statuses(tmp_path, decoded, model_files):
    one = [FakeInstances([[0, 0, 1, 1]], [1], [0])]
    adapter, _ = _adapter(model_files, FakePredictor(one, fail_at=3))
    run = adapter.run(_request(tmp_path, decoded))
    assert run.status == "failed" and not run.output.exists()
    assert "failed at frame 3: RuntimeError: CUDA out of memory" in run.message
    assert "Traceback" in run.log.read_text()
    adapter, _ = _adapter(model_files, FakePredictor(one, delay=0.3))
    run = adapter.run(_request(tmp_path, decoded, timeout_s=0.5))
    assert run.status == "timeout" and not run.output.exists() and "2 of 5 frames" in run.message
    short = tmp_path / "short.yuv"
    short.write_bytes(bytes(3 * FMT.frame_bytes))
    run = adapter.run(_request(tmp_path, short))
    assert run.status == "failed" and "3 frames" in run.message and "expected 5" in run.message


def test_detectron2_bad_paths(tmp_path, model_files):
    cfg, weights = model_files
    with pytest.raises(UserError, match="nope.yaml: detectron2 config file not found"):
        Detectron2Adapter(tmp_path / "nope.yaml", weights)
    with pytest.raises(UserError, match="nope.pkl: detectron2 weights file not found"):
        Detectron2Adapter(cfg, tmp_path / "nope.pkl")
    Detectron2Adapter(cfg, "detectron2://COCO-Detection/model_final.pkl")  # URLs are not checked


def test_detectron2_missing_says_how_to_install(tmp_path, decoded, model_files, monkeypatch):
    for name in ("detectron2", "detectron2.config", "detectron2.engine"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail, installed or not
    with pytest.raises(UserError) as err:
        get_adapter("detectron2", config_file=model_files[0],
                    weights=model_files[1]).run(_request(tmp_path, decoded))
    assert "pip install 'vcmctc[detectron2]'" in str(err.value)
    assert "github.com/facebookresearch/detectron2" in str(err.value)


def test_build_predictor_configures_detectron2(monkeypatch, model_files):
    """build_predictor against stand-ins for detectron2.config / detectron2.engine."""
    made = {}

    class Node(types.SimpleNamespace):
        pass

    def get_cfg():
        cfg = Node(MODEL=Node(WEIGHTS="", DEVICE="cuda", ROI_HEADS=Node(SCORE_THRESH_TEST=0.5)),
                   merged=[], frozen=False)
        cfg.merge_from_file = lambda path: cfg.merged.append(("file", path))
        cfg.merge_from_list = lambda opts: cfg.merged.append(("list", opts))
        cfg.freeze = lambda: setattr(cfg, "frozen", True)
        return cfg

    def default_predictor(cfg):
        made["cfg"] = cfg
        return "predictor"

    pkg = types.ModuleType("detectron2")
    config = types.ModuleType("detectron2.config")
    config.get_cfg = get_cfg
    engine = types.ModuleType("detectron2.engine")
    engine.DefaultPredictor = default_predictor
    for name, module in (("detectron2", pkg), ("detectron2.config", config),
                         ("detectron2.engine", engine)):
        monkeypatch.setitem(sys.modules, name, module)
    cfg_file, weights = model_files
    assert build_predictor(config_file=str(cfg_file), weights=str(weights), device="cpu",
                           score_threshold=0.05, opts=("A.B", "1")) == "predictor"
    cfg = made["cfg"]
    assert cfg.merged == [("file", str(cfg_file)), ("list", ["A.B", "1"])]
    assert cfg.MODEL.WEIGHTS == str(weights) and cfg.MODEL.DEVICE == "cpu"
    assert cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.05 and cfg.frozen
    build_predictor(config_file=str(cfg_file), weights=str(weights))
    defaults = made["cfg"].MODEL  # device and threshold left as the config file has them
    assert defaults.DEVICE == "cuda" and defaults.ROI_HEADS.SCORE_THRESH_TEST == 0.5
