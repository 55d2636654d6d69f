"""A misbehaving "decoder" for runner tests: fake_decoder.py MODE OUTPUT [N].

Modes: hang (sleep forever), hang-with-child (start a sleeping child in the same process
group, print its pid, then sleep), crash (message on stderr, exit 3), garbage (write N bytes and
exit 0), none (write nothing, exit 0), burn (use N/10 s of CPU), alloc (hold N MB for 0.3 s).
"""

import subprocess
import sys
import time

mode, output = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 0
print(f"fake decoder: {mode}", flush=True)
if mode == "hang":
    time.sleep(600)
elif mode == "hang-with-child":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"child {child.pid}", flush=True)
    time.sleep(600)
elif mode == "crash":
    print("error: corrupt slice header in frame 3", file=sys.stderr, flush=True)
    sys.exit(3)
elif mode == "garbage":
    with open(output, "wb") as fh:
        fh.write(bytes(range(256)) * (n // 256) + bytes(n % 256))
elif mode == "none":
    pass
elif mode == "burn":
    start = time.process_time()
    while time.process_time() - start < n / 10:
        pass
elif mode == "alloc":
    block = bytearray(n * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(0.3)
else:
    sys.exit(f"unknown mode {mode}")
