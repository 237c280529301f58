"""Where the CPU time of the book's SSL encoder goes (prints figures; not a test).

The default profile trains a ResNet-10 at 1/4 width on 40x40x6 views (batch 64 cubes = 128 views per SimCLR step).
This prints, on the machine it runs on:

1. seconds per forward + backward pass of 128 views, with 1 and 2 threads, contiguous and ``channels_last_3d``;
2. forward-only cutouts/s (what ``emkit.learn.export.embed`` does): contiguous, channels-last input only, and
   channels-last input and weights;
3. the ``torch.profiler`` table of one such step, grouped by input shape, slowest operators first.

    .venv/bin/python benchmarks/profile_encoder.py [--batch 128] [--repeats 6] [--rows 12]

Compare figures within one run only: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from emkit.learn.models import build_encoder

VIEW = (6, 40, 40)  # (z, y, x) voxels of the book's views
VOXEL_NM = (8.0, 8.0, 40.0)


def _step_seconds(model, x, repeats: int) -> float:
    """Mean seconds of a forward + backward pass (after one warm-up pass)."""
    for i in range(repeats + 1):
        if i == 1:
            t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        model(x).pow(2).mean().backward()
    return (time.perf_counter() - t0) / repeats


@torch.inference_mode()
def _forward_rate(model, x, repeats: int) -> float:
    """Cutouts per second of forward passes (after one warm-up pass)."""
    model(x)
    t0 = time.perf_counter()
    for _ in range(repeats):
        model(x)
    return len(x) * repeats / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128, help="views per pass (the book's SSL step: 128)")
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--rows", type=int, default=12, help="rows of the profiler table")
    args = ap.parse_args(argv)

    print(f"torch {torch.__version__}, CPU kernels {torch.backends.cpu.get_cpu_capability()}, "
          f"{torch.get_num_threads()} threads by default")
    torch.manual_seed(0)
    contiguous = build_encoder("resnet10", in_channels=1, width_mult=0.25, voxel_size_nm=VOXEL_NM)
    channels_last = copy.deepcopy(contiguous).to(memory_format=torch.channels_last_3d)
    x = torch.randn(args.batch, 1, *VIEW)
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)
    threads = torch.get_num_threads()

    print(f"\n1. forward + backward of {args.batch} views {VIEW} (z, y, x), seconds per pass")
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        plain = _step_seconds(contiguous, x, args.repeats)
        fast = _step_seconds(channels_last, x_cl, args.repeats)
        print(f"   {n} thread(s): contiguous {plain:.3f}  channels-last {fast:.3f}")
    torch.set_num_threads(threads)

    print(f"\n2. forward only (eval), cutouts/s, batch {args.batch}")
    for model in (contiguous, channels_last):
        model.eval()
    rates = {"contiguous": [], "channels-last input only": [], "channels-last input and weights": []}
    for _ in range(3):  # alternated, so that a slow spell of the machine hits all three alike
        rates["contiguous"].append(_forward_rate(contiguous, x, args.repeats))
        rates["channels-last input only"].append(_forward_rate(contiguous, x_cl, args.repeats))
        rates["channels-last input and weights"].append(_forward_rate(channels_last, x_cl, args.repeats))
    for name, values in rates.items():
        print(f"   {name:<32} {min(values):7.0f}-{max(values):.0f}")

    print("\n3. torch.profiler, one forward + backward (channels-last), by operator and input shape")
    channels_last.train()
    from torch.profiler import ProfilerActivity, profile

    _step_seconds(channels_last, x_cl, 1)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        channels_last(x_cl).pow(2).mean().backward()
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=args.rows,
                                                              max_name_column_width=30, max_shapes_column_width=70))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
