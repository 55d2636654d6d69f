"""A tiny task network for adapter tests.

task_program.py DECODED WIDTH HEIGHT FRAMES FIRST_FRAME TASK OUTPUT [MODE]

Reads the 8-bit 4:2:0 YUV and writes, per frame, one box covering the whole frame with score =
mean luma / 255: a COCO results JSON (image_id = FIRST_FRAME + i, category 1) for detection, a
MOT txt (frame, id 1, box, score) for tracking. MODE: ok (default), crash, hang, none, bad-ids.
"""

import json
import sys
import time

import numpy as np

decoded, w, h, frames, first, task, output = sys.argv[1:8]
mode = sys.argv[8] if len(sys.argv) > 8 else "ok"
w, h, frames, first = int(w), int(h), int(frames), int(first)
if mode == "crash":
    sys.exit("task program: out of memory")
if mode == "hang":
    time.sleep(600)
if mode == "none":
    sys.exit(0)
frame_bytes = w * h * 3 // 2
data = np.fromfile(decoded, np.uint8).reshape(frames, frame_bytes)
scores = [float(row[:w * h].mean()) / 255 for row in data]
offset = 0 if mode == "ok" else 1000
if task == "object-tracking":
    with open(output, "w") as fh:
        for i, s in enumerate(scores):
            fh.write(f"{first + i + offset},1,0,0,{w},{h},{s!r},-1,-1,-1\n")
else:
    results = [{"image_id": first + i + offset, "category_id": 1, "bbox": [0, 0, w, h],
                "score": s} for i, s in enumerate(scores)]
    with open(output, "w") as fh:
        json.dump(results, fh)
print(f"task program: {len(scores)} frames", flush=True)
