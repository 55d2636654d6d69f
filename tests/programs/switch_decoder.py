"""A decoder for pipeline tests: switch_decoder.py BITSTREAM OUTPUT W H FRAMES.

Real VVC decoding (vcmctc.demo.vvc) unless the bitstream starts with a test marker:
HANG (sleeps), CRASH (exit 3 with a message), GARBAGE (writes bytes of the wrong size),
SLOW<n> (sleeps n/10 s, then decodes the rest of the file as VVC... which is not VVC: it only
sleeps and writes a correct-size grey frame set, for interruption tests), BLOCK<folder> (for
killed-worker tests: until <folder>/killed exists, writes its pid to <folder>/started and waits
for it, then exits 1 without output; once it exists, writes a grey frame set at once).
"""

import os
import sys
import time
from pathlib import Path

bitstream, output, width, height, frames = sys.argv[1:6]
width, height, frames = int(width), int(height), int(frames)
head = open(bitstream, "rb").read(16)
if head.startswith(b"HANG"):
    time.sleep(600)
elif head.startswith(b"CRASH"):
    print("error: corrupt slice header in frame 3", file=sys.stderr)
    sys.exit(3)
elif head.startswith(b"GARBAGE"):
    open(output, "wb").write(b"\x80" * 1000)
elif head.startswith(b"BLOCK"):
    folder = Path(open(bitstream, "rb").read()[5:].decode())
    if not (folder / "killed").exists():
        (folder / "started.tmp").write_text(str(os.getpid()))
        os.replace(folder / "started.tmp", folder / "started")
        while not (folder / "killed").exists():
            time.sleep(0.05)
        sys.exit(1)
    open(output, "wb").write(b"\x80" * (width * height * 3 // 2 * frames))
elif head.startswith(b"SLOW"):
    time.sleep(int(head[4:6]) / 10)
    open(output, "wb").write(b"\x80" * (width * height * 3 // 2 * frames))
else:
    from vcmctc.demo.vvc import main

    sys.exit(main(["decode", "--bitstream", bitstream, "--output", output, "--width", str(width),
                   "--height", str(height), "--frames", str(frames)]))
