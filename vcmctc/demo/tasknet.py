"""The demo's task network as one command for every sequence of a submission.

``python -m vcmctc.demo.tasknet --task {task} --yuv {decoded} ...`` runs the demo detector for
detection (COCO results JSON) and the detector + IoU tracker for tracking (MOT txt), so that one
``task`` section of a manifest serves both.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "--task":
        print("usage: python -m vcmctc.demo.tasknet --task object-detection|object-tracking "
              "--yuv FILE --width W --height H --frames N --first-frame F --output FILE",
              file=sys.stderr)
        return 2
    task, rest = argv[1], argv[2:]
    if task == "object-detection":
        from vcmctc.demo.detector import main as run
    elif task == "object-tracking":
        from vcmctc.demo.tracker import main as run
    else:
        print(f"vcmctc.demo.tasknet: error: no demo network for task {task!r}", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    raise SystemExit(main())
