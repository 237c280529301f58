"""CPU step time and page faults with glibc's default malloc thresholds and with emkit's (prints figures; not a test).

``emkit.learn.allocator.keep_freed_memory`` raises glibc's mmap and trim thresholds in ``fit`` and ``embed`` on CPU.
This runs the book's SimCLR step (ResNet-10 at 1/4 width, 2 x ``--batch`` views of 6x40x40, channels-last as the
default profile trains) and a forward-only embedding pass, each in fresh processes alternating between the two
settings, and prints the median milliseconds and the minor page faults of each process.

    .venv/bin/python benchmarks/malloc_thresholds.py [--steps 40] [--rounds 2] [--batch 64]

Compare figures within one run only: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time, torch
tuned, steps, batch = sys.argv[1] == "tuned", int(sys.argv[2]), int(sys.argv[3])
if tuned:
    from emkit.learn.allocator import keep_freed_memory
    assert keep_freed_memory()["applied"]
from emkit.learn.models import build_encoder
from emkit.learn.train import SimCLRObjective
torch.manual_seed(0)
cl = torch.channels_last_3d
enc = build_encoder("resnet10", in_channels=1, voxel_size_nm=(8.0, 8.0, 40.0), width_mult=0.25)
model = SimCLRObjective(enc, temperature=0.1).to(memory_format=cl)
x, y = (torch.randn(batch, 1, 6, 40, 40).contiguous(memory_format=cl) for _ in range(2))

def median_ms(fn):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(steps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return 1000 * sorted(ts)[len(ts) // 2]

faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
train = median_ms(lambda: model(x, y).backward())
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
enc.eval()
with torch.no_grad():
    forward = median_ms(lambda: enc(x))
print(json.dumps({"train_ms": train, "train_faults": faults, "embed_ms": forward}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    rows = []
    for r in range(args.rounds):
        for mode in ("glibc default", "tuned"):
            out = subprocess.run([sys.executable, "-c", _CHILD, mode.split()[0], str(args.steps), str(args.batch)],
                                 capture_output=True, text=True, check=True).stdout
            rows.append((r, mode, json.loads(out.strip().splitlines()[-1])))
    print(f"{'round':>5}  {'malloc':<14} {'SimCLR step ms':>14} {'page faults':>12} {'embed batch ms':>15}")
    for r, mode, m in rows:
        print(f"{r:>5}  {mode:<14} {m['train_ms']:>14.0f} {m['train_faults']:>12,} {m['embed_ms']:>15.1f}")
    for key in ("train_ms", "embed_ms"):
        base = [m[key] for _, mode, m in rows if mode != "tuned"]
        tuned = [m[key] for _, mode, m in rows if mode == "tuned"]
        print(f"{key}: default / tuned = {sum(base) / sum(tuned):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
