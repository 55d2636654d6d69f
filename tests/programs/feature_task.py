"""A part-2 program for the command adapter: feature_task.py FEATURES OUTPUT WIDTH HEIGHT SPLIT.

Reads the decoded feature file with numpy alone (as an external program would), checks the split
point name it was given, runs part 2 of the demo network and writes COCO results.
"""

import json
import sys

import numpy as np

features, output, width, height, split = sys.argv[1:6]
if split != "demo-colour-split":
    sys.exit(f"unexpected split point {split!r}")
import torch  # noqa: E402

from vcmctc.demo.fcmnet import Part2  # noqa: E402


class Frame:
    width, height = int(width), int(height)


part2 = Part2()
data = np.load(features, allow_pickle=False)
results = []
with torch.no_grad():
    for i in range(data["a"].shape[0]):
        dets = part2({n: torch.from_numpy(np.array(data[n][i]))[None] for n in ("a", "b")},
                     Frame())
        results += [{"image_id": i, **d} for d in dets]
open(output, "w").write(json.dumps(results))
