"""The demo's task network as one command for every sequence and image set of a submission.

``python -m vcmctc.demo.tasknet --task {task} ...`` runs, by task:

- ``object-detection --yuv {decoded} --width W --height H --frames N --first-frame F --output
  out.json``: the demo detector on a video (COCO results JSON);
- ``object-detection --images DIR --output out.csv``: the demo detector on every ``*.png`` of a
  folder of decoded images (Open Images challenge predictions CSV);
- ``object-tracking --yuv ...``: the detector + IoU tracker (MOT txt);
- ``pose-estimation --yuv ...``: the demo pose estimator (COCO keypoint results JSON);

so that one ``task`` section of a manifest serves every sequence and image set: a ``--yuv``
that is a folder (``{decoded}`` of an image set) is read as ``--images``.
"""

from __future__ import annotations

import os
import sys

USAGE = ("usage: python -m vcmctc.demo.tasknet --task object-detection|object-tracking|"
         "pose-estimation --yuv FILE --width W --height H --frames N --first-frame F "
         "--output FILE\n"
         "       python -m vcmctc.demo.tasknet --task object-detection --images DIR "
         "--output FILE.csv")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "--task":
        print(USAGE, file=sys.stderr)
        return 2
    task, rest = argv[1], argv[2:]
    if "--yuv" in rest and os.path.isdir(rest[rest.index("--yuv") + 1]):
        i = rest.index("--yuv")   # an image set: keep the folder and the output only
        out = rest.index("--output")
        rest = ["--images", rest[i + 1], "--output", rest[out + 1]]
    if task == "object-detection" and any(a == "--images" or a.startswith("--images=")
                                          for a in rest):
        from vcmctc.demo.images import main as run
    elif task == "object-detection":
        from vcmctc.demo.detector import main as run
    elif task == "object-tracking":
        from vcmctc.demo.tracker import main as run
    elif task == "pose-estimation":
        from vcmctc.demo.pose import main as run
    else:
        print(f"vcmctc.demo.tasknet: error: no demo network for task {task!r}", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    raise SystemExit(main())
