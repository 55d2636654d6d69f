"""COCO ground-truth and results files, checked and turned into the neutral COCO structure.

The neutral structure is the COCO layout itself: a GT dict with ``images``, ``annotations`` and
``categories`` lists, and a list of result dicts (``image_id``, ``category_id``, ``score`` and a
``bbox`` / ``segmentation`` / ``keypoints``). Loading checks what pycocotools would otherwise fail
on with an ``AssertionError`` or ``KeyError`` (or, worse, silently mis-score), and reports it as a
:class:`~vcmctc.errors.UserError` naming the file and the offending entry. Integral float ids
(``0.0``, as in the MPEG SFU files) become ints. Nothing here imports pycocotools.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from vcmctc.errors import UserError

IOU_TYPES = ("bbox", "segm", "keypoints")
N_KEYPOINTS = 17  # pycocotools' OKS sigmas are defined for the 17 COCO person keypoints

# The 80 COCO detection categories in contiguous order: (COCO id, name). The contiguous index
# 0..79 (YOLO / detectron2 output, SFU-HW txt and MPEG JSON) is the position in this tuple.
COCO80: tuple[tuple[int, str], ...] = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"),
    (7, "train"), (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"),
    (13, "stop sign"), (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"),
    (18, "dog"), (19, "horse"), (20, "sheep"), (21, "cow"), (22, "elephant"), (23, "bear"),
    (24, "zebra"), (25, "giraffe"), (27, "backpack"), (28, "umbrella"), (31, "handbag"),
    (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"), (36, "snowboard"),
    (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"),
    (46, "wine glass"), (47, "cup"), (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"),
    (52, "banana"), (53, "apple"), (54, "sandwich"), (55, "orange"), (56, "broccoli"),
    (57, "carrot"), (58, "hot dog"), (59, "pizza"), (60, "donut"), (61, "cake"), (62, "chair"),
    (63, "couch"), (64, "potted plant"), (65, "bed"), (67, "dining table"), (70, "toilet"),
    (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"), (76, "keyboard"),
    (77, "cell phone"), (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"),
    (82, "refrigerator"), (84, "book"), (85, "clock"), (86, "vase"), (87, "scissors"),
    (88, "teddy bear"), (89, "hair drier"), (90, "toothbrush"),
)

#: contiguous index (0..79) -> COCO category id (1..90 with gaps)
CONTIGUOUS_TO_COCO_ID: dict[int, int] = {i: cid for i, (cid, _) in enumerate(COCO80)}


def coco80_categories() -> list[dict]:
    """The 80 COCO categories as a COCO ``categories`` list (real COCO ids)."""
    return [{"id": cid, "name": name, "supercategory": ""} for cid, name in COCO80]


def contiguous_to_coco_id(index: int) -> int:
    """Map a contiguous COCO-80 index (0..79) to its COCO category id."""
    try:
        return CONTIGUOUS_TO_COCO_ID[index]
    except KeyError:
        raise UserError(f"category index {index!r} is not a COCO-80 index (0..79)") from None


# --------------------------------------------------------------------------------------------
# small checkers; each raises UserError naming the source and the entry

def _where(section: str, index: int, field: str | None = None) -> str:
    return f"{section}[{index}]" + (f".{field}" if field else "")


def _as_id(value: Any, source: Any, where: str) -> int:
    """An id must be an int or an integral float (MPEG SFU files use 0.0, 1.0, ...)."""
    if isinstance(value, bool):
        raise UserError(f"id must be an integer, got {value!r}", file=source, where=where)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise UserError(f"id must be an integer, got {value!r}", file=source, where=where)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _check_bbox(value: Any, source: Any, where: str) -> None:
    if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(map(_is_number, value)):
        raise UserError(f"bbox must be 4 finite numbers [x, y, w, h], got {value!r}",
                        file=source, where=where)
    if value[2] < 0 or value[3] < 0:
        raise UserError(f"bbox width and height must be >= 0, got {value!r}", file=source,
                        where=where)


def _check_segmentation(value: Any, source: Any, where: str) -> None:
    if isinstance(value, dict):
        size, counts = value.get("size"), value.get("counts")
        if (not isinstance(size, (list, tuple)) or len(size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                           for s in size)):
            raise UserError("RLE segmentation needs 'size': [height, width]", file=source,
                            where=where)
        if not isinstance(counts, (str, bytes, list)):
            raise UserError("RLE segmentation needs 'counts' (a string or a list of ints)",
                            file=source, where=where)
        return
    if isinstance(value, list) and value:
        for k, poly in enumerate(value):
            if (not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2
                    or not all(map(_is_number, poly))):
                raise UserError(f"polygon {k} must be a list of >= 3 (x, y) number pairs",
                                file=source, where=where)
        return
    raise UserError(f"segmentation must be a non-empty polygon list or an RLE dict, "
                    f"got {type(value).__name__}", file=source, where=where)


def _check_keypoints(value: Any, source: Any, where: str) -> None:
    if (not isinstance(value, list) or len(value) != 3 * N_KEYPOINTS
            or not all(map(_is_number, value))):
        raise UserError(f"keypoints must be {3 * N_KEYPOINTS} numbers "
                        f"({N_KEYPOINTS} x (x, y, v))", file=source, where=where)


def _require(entry: Any, keys: Iterable[str], source: Any, section: str, index: int) -> None:
    if not isinstance(entry, dict):
        raise UserError(f"expected an object, got {type(entry).__name__}", file=source,
                        where=_where(section, index))
    for key in keys:
        if key not in entry:
            raise UserError(f"missing key {key!r}", file=source, where=_where(section, index))


def _check_iou_type(iou_type: str) -> None:
    if iou_type not in IOU_TYPES:
        raise UserError(f"unknown IoU type {iou_type!r} (known: {', '.join(IOU_TYPES)})")


def read_json(path: str | Path) -> Any:
    """Read a JSON file with :func:`vcmctc.safeload.load_json`'s limits (size, nesting depth,
    duplicate keys); a missing file or a syntax error is a UserError with file and line."""
    from vcmctc.safeload import load_json

    return load_json(path)


# --------------------------------------------------------------------------------------------
# ground truth

def validate_coco_gt(data: Any, *, source: Any = "<ground truth>", iou_type: str = "bbox",
                     category_map: Mapping[int, int] | None = None) -> dict:
    """Check a COCO GT dict and return a normalised copy (int ids, shallow-copied entries).

    ``category_map`` renames annotation category ids (e.g. contiguous -> COCO); the caller then
    supplies matching ``categories``. Annotation ids must be unique and >= 1: pycocotools uses
    the id 0 as its "unmatched" marker, so a GT box with id 0 could be matched twice.
    """
    _check_iou_type(iou_type)
    if not isinstance(data, dict):
        raise UserError(f"expected a COCO object with images/annotations/categories, "
                        f"got {type(data).__name__}", file=source)
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise UserError(f"missing or non-list {key!r}", file=source)

    images = []
    image_ids: set[int] = set()
    need_size = iou_type == "segm"
    for i, img in enumerate(data["images"]):
        _require(img, ("id", "width", "height") if need_size else ("id",), source, "images", i)
        img = dict(img)
        img["id"] = _as_id(img["id"], source, _where("images", i, "id"))
        if img["id"] in image_ids:
            raise UserError(f"duplicate image id {img['id']}", file=source,
                            where=_where("images", i))
        for key in ("width", "height"):
            if key in img and not (isinstance(img[key], int) and not isinstance(img[key], bool)
                                   and img[key] > 0):
                raise UserError(f"{key} must be a positive integer, got {img[key]!r}",
                                file=source, where=_where("images", i, key))
        image_ids.add(img["id"])
        images.append(img)

    categories = []
    category_ids: set[int] = set()
    for i, cat in enumerate(data["categories"]):
        _require(cat, ("id",), source, "categories", i)
        cat = dict(cat)
        cat["id"] = _as_id(cat["id"], source, _where("categories", i, "id"))
        if cat["id"] in category_ids:
            raise UserError(f"duplicate category id {cat['id']}", file=source,
                            where=_where("categories", i))
        category_ids.add(cat["id"])
        categories.append(cat)

    required = ["id", "image_id", "category_id", "area", "iscrowd"]
    required += {"bbox": ["bbox"], "segm": ["segmentation"],
                 "keypoints": ["keypoints", "num_keypoints", "bbox"]}[iou_type]
    annotations = []
    ann_ids: set[int] = set()
    for i, ann in enumerate(data["annotations"]):
        _require(ann, required, source, "annotations", i)
        ann = dict(ann)
        ann["id"] = _as_id(ann["id"], source, _where("annotations", i, "id"))
        if ann["id"] < 1:
            raise UserError(f"annotation id must be >= 1 (pycocotools treats id {ann['id']} as "
                            "'unmatched'); renumber the annotations", file=source,
                            where=_where("annotations", i, "id"))
        if ann["id"] in ann_ids:
            raise UserError(f"duplicate annotation id {ann['id']}", file=source,
                            where=_where("annotations", i))
        ann_ids.add(ann["id"])
        ann["image_id"] = _as_id(ann["image_id"], source, _where("annotations", i, "image_id"))
        if ann["image_id"] not in image_ids:
            raise UserError(f"image_id {ann['image_id']} is not in 'images'", file=source,
                            where=_where("annotations", i, "image_id"))
        cat_id = _as_id(ann["category_id"], source, _where("annotations", i, "category_id"))
        if category_map is not None:
            if cat_id not in category_map:
                raise UserError(f"category_id {cat_id} has no mapping", file=source,
                                where=_where("annotations", i, "category_id"))
            cat_id = category_map[cat_id]
        if cat_id not in category_ids:
            raise UserError(f"category_id {cat_id} is not in 'categories'", file=source,
                            where=_where("annotations", i, "category_id"))
        ann["category_id"] = cat_id
        if not _is_number(ann["area"]) or ann["area"] < 0:
            raise UserError(f"area must be a finite number >= 0, got {ann['area']!r}",
                            file=source, where=_where("annotations", i, "area"))
        if ann["iscrowd"] not in (0, 1):
            raise UserError(f"iscrowd must be 0 or 1, got {ann['iscrowd']!r}", file=source,
                            where=_where("annotations", i, "iscrowd"))
        ann["iscrowd"] = int(ann["iscrowd"])
        if "bbox" in ann or iou_type != "segm":
            _check_bbox(ann["bbox"], source, _where("annotations", i, "bbox"))
        if iou_type == "segm":
            _check_segmentation(ann["segmentation"], source,
                                _where("annotations", i, "segmentation"))
        elif iou_type == "keypoints":
            _check_keypoints(ann["keypoints"], source, _where("annotations", i, "keypoints"))
            if not isinstance(ann["num_keypoints"], int) or ann["num_keypoints"] < 0:
                raise UserError("num_keypoints must be an integer >= 0", file=source,
                                where=_where("annotations", i, "num_keypoints"))
        annotations.append(ann)

    out = {k: v for k, v in data.items() if k not in ("images", "annotations", "categories")}
    out.update(images=images, annotations=annotations, categories=categories)
    return out


def load_coco_gt(path: str | Path, *, iou_type: str = "bbox") -> dict:
    """Load and check a COCO ground-truth JSON file."""
    return validate_coco_gt(read_json(path), source=path, iou_type=iou_type)


# --------------------------------------------------------------------------------------------
# results (detections)

def validate_coco_results(data: Any, gt: Mapping, *, source: Any = "<results>",
                          iou_type: str = "bbox",
                          category_map: Mapping[int, int] | None = None,
                          drop_unknown_categories: bool = False,
                          copy: bool = True) -> list[dict]:
    """Check a COCO results list against ``gt``; return normalised shallow copies
    (``copy=False``, for a caller that owns ``data``: when every entry is a plain box result
    already normalised, ``data`` itself).

    Every ``image_id`` must be a GT image (pycocotools asserts otherwise). A ``category_id``
    absent from the GT categories is an error by default: pycocotools would silently ignore such
    detections, which hides a contiguous-vs-COCO id mix-up. ``drop_unknown_categories`` drops
    them instead (what pycocotools does). ``category_map`` renames ids first.
    """
    _check_iou_type(iou_type)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        raise UserError("expected a COCO results list, got a COCO dataset object (is this the "
                        "ground truth?)", file=source)
    if not isinstance(data, list):
        raise UserError(f"expected a COCO results list, got {type(data).__name__}", file=source)
    image_ids = {img["id"] for img in gt["images"]}
    category_ids = {cat["id"] for cat in gt["categories"]}
    required = ("image_id", "category_id", "score",
                {"bbox": "bbox", "segm": "segmentation", "keypoints": "keypoints"}[iou_type])
    # pycocotools' loadRes picks its branch from the first entry only: with segm results, either
    # all entries carry a bbox (box area is then used) or none does (mask area is used).
    first_has_bbox = bool(data) and isinstance(data[0], dict) and "bbox" in data[0]
    if iou_type == "bbox":
        plain = _plain_box_results(data, image_ids, category_ids, category_map, copy)
        if plain is not None:
            return plain
    out = []
    for i, det in enumerate(data):
        _require(det, required, source, "results", i)
        det = dict(det)
        det["image_id"] = _as_id(det["image_id"], source, _where("results", i, "image_id"))
        if det["image_id"] not in image_ids:
            raise UserError(f"image_id {det['image_id']} is not a ground-truth image",
                            file=source, where=_where("results", i, "image_id"))
        cat_id = _as_id(det["category_id"], source, _where("results", i, "category_id"))
        if category_map is not None:
            mapped = category_map.get(cat_id)
            if mapped is None:
                if drop_unknown_categories:
                    continue
                raise UserError(f"category_id {cat_id} has no mapping", file=source,
                                where=_where("results", i, "category_id"))
            cat_id = mapped
        if cat_id not in category_ids:
            if drop_unknown_categories:
                continue
            raise UserError(f"category_id {cat_id} is not a ground-truth category (contiguous "
                            "0..79 ids where COCO ids are expected?)", file=source,
                            where=_where("results", i, "category_id"))
        det["category_id"] = cat_id
        if not _is_number(det["score"]):
            raise UserError(f"score must be a finite number, got {det['score']!r}", file=source,
                            where=_where("results", i, "score"))
        if iou_type == "bbox":
            _check_bbox(det["bbox"], source, _where("results", i, "bbox"))
        elif iou_type == "segm":
            seg = det["segmentation"]
            if not isinstance(seg, dict):
                raise UserError("result segmentation must be an RLE dict {size, counts}",
                                file=source, where=_where("results", i, "segmentation"))
            _check_segmentation(seg, source, _where("results", i, "segmentation"))
            if first_has_bbox != ("bbox" in det):
                raise UserError("either every segm result has a bbox or none has (pycocotools "
                                "decides from the first entry)", file=source,
                                where=_where("results", i))
            if first_has_bbox:
                _check_bbox(det["bbox"], source, _where("results", i, "bbox"))
        else:
            _check_keypoints(det["keypoints"], source, _where("results", i, "keypoints"))
        out.append(det)
    return out


_NUMBER_TYPES = frozenset((int, float))  # exact types: bool is not a number here


def _plain_box_results(data: list, image_ids: set, category_ids: set,
                       category_map: Mapping[int, int] | None, copy: bool) -> list[dict] | None:
    """The common case, checked in one loop: when every entry is a well-formed box result with
    integer ids, the checked list (shallow copies, or with ``copy=False`` and no map ``data``
    itself); else None, and each entry is checked on its own (which reports or drops the
    unusual ones precisely)."""
    isfinite, numbers = math.isfinite, _NUMBER_TYPES
    try:
        for det in data:
            if type(det) is not dict:
                return None
            image_id, cat_id, score, box = (det["image_id"], det["category_id"], det["score"],
                                            det["bbox"])
            if type(image_id) is not int or type(cat_id) is not int or image_id not in image_ids:
                return None
            if category_map is not None:
                cat_id = category_map.get(cat_id)
            if (cat_id not in category_ids or type(score) not in numbers
                    or type(box) is not list or len(box) != 4):
                return None
            x, y, w, h = box
            if not (type(x) in numbers and type(y) in numbers and type(w) in numbers
                    and type(h) in numbers and isfinite(x + y + w + h + score)
                    and w >= 0 and h >= 0):
                return None
    except (KeyError, OverflowError):   # a missing key; an int too large for a float
        return None
    if category_map is not None:
        return [{**det, "category_id": category_map[det["category_id"]]} for det in data]
    return [dict(det) for det in data] if copy else data


def load_coco_results(path: str | Path, gt: Mapping, *, iou_type: str = "bbox",
                      category_map: Mapping[int, int] | None = None,
                      drop_unknown_categories: bool = False) -> list[dict]:
    """Load and check a COCO results JSON file (a list of detections) against ``gt``."""
    return validate_coco_results(read_json(path), gt, source=path, iou_type=iou_type,
                                 category_map=category_map,
                                 drop_unknown_categories=drop_unknown_categories)
