"""A feature decoder for pipeline tests: feature_decoder.py BITSTREAM SIDE_INFO OUTPUT W H FRAMES.

Decodes the demo feature codecs (vcmctc.demo.fcmcodec) unless the bitstream starts with a test
marker, then writes a feature file that is wrong in one way (for the split point of the demo,
tensors a: 8 x H/4 x W/4 and b: 3 x H/8 x W/8, float32):
WRONGNAME (b is called c), EXTRA (one tensor too many), WRONGSHAPE (a is 8 x H/4 x (W/4 + 1)),
WRONGDTYPE (float64), FEWFRAMES (one frame short), NAN (a NaN in frame 2), PICKLE (an object
array), GARBAGE (not a ZIP), NONE (writes nothing), TRUNCATED (the ZIP cut in half).
"""

import sys

import numpy as np

bitstream, side, output, width, height, frames = sys.argv[1:7]
width, height, frames = int(width), int(height), int(frames)
head = open(bitstream, "rb").read(16)
a = np.ones((frames, 8, height // 4, width // 4), np.float32)
b = np.ones((frames, 3, height // 8, width // 8), np.float32)
if head.startswith(b"WRONGNAME"):
    np.savez(output, a=a, c=b)
elif head.startswith(b"EXTRA"):
    np.savez(output, a=a, b=b, p6=b)
elif head.startswith(b"WRONGSHAPE"):
    np.savez(output, a=np.ones((frames, 8, height // 4, width // 4 + 1), np.float32), b=b)
elif head.startswith(b"WRONGDTYPE"):
    np.savez(output, a=a.astype(np.float64), b=b.astype(np.float64))
elif head.startswith(b"FEWFRAMES"):
    np.savez(output, a=a[1:], b=b[1:])
elif head.startswith(b"NAN"):
    a[2, 0, 0, 0] = np.nan
    np.savez(output, a=a, b=b)
elif head.startswith(b"PICKLE"):
    np.savez(output, a=np.array([{"x": 1}] * frames, dtype=object), b=b)
elif head.startswith(b"GARBAGE"):
    open(output, "wb").write(b"\x80" * 1000)
elif head.startswith(b"NONE"):
    pass
elif head.startswith(b"TRUNCATED"):
    np.savez(output, a=a, b=b)
    data = open(output, "rb").read()
    open(output, "wb").write(data[: len(data) // 2])
else:
    from vcmctc.demo.fcmcodec import main

    sys.exit(main(["decode", "--bitstream", bitstream, "--side-info", side, "--output", output,
                   "--width", str(width), "--height", str(height), "--frames", str(frames)]))
