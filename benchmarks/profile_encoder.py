"""Where the CPU time of the book's SSL encoder goes (prints figures; not a test).

The default profile trains a ResNet-10 at 1/4 width on 40x40x6 views (batch 64 cubes = 128 views per SimCLR step).
This prints, on the machine it runs on:

1. seconds per forward + backward pass of 128 views, with 1 and 2 threads, contiguous and ``channels_last_3d``,
   and channels-last under bf16 autocast (what ``amp: bf16`` would do on a CPU; ``amp: auto`` stays fp32 there);
2. forward-only cutouts/s (what ``emkit.learn.export.embed`` does): contiguous, channels-last input only, and
   channels-last input and weights;
3. the ``torch.profiler`` table of one such step, grouped by input shape, slowest operators first;
4. the book's whole SimCLR step split into its parts, milliseconds each: the two augmented views of 64 cubes of
   64x64x8 (``emkit.learn.augment``, the chapter's recipe), encoder + projection head + NT-Xent forward and backward,
   and the AdamW update (random cubes: the parts' costs do not depend on the content);
5. with ``--compile`` only: the channels-last forward + backward of section 1 under ``torch.compile`` (Inductor),
   seconds of the first (compiling) pass and per pass after it, against eager.

    .venv/bin/python benchmarks/profile_encoder.py [--batch 128] [--repeats 6] [--rows 12] [--compile]

Compare figures within one run only: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from emkit.learn.augment import jitter_crop, make_augment
from emkit.learn.models import build_encoder
from emkit.learn.train import SimCLRObjective

VIEW = (6, 40, 40)  # (z, y, x) voxels of the book's views
VOXEL_NM = (8.0, 8.0, 40.0)


def _step_seconds(model, x, repeats: int, autocast: torch.dtype | None = None) -> float:
    """Mean seconds of a forward + backward pass (after one warm-up pass), the forward under CPU autocast to
    ``autocast`` (e.g. ``torch.bfloat16``) when given."""
    for i in range(repeats + 1):
        if i == 1:
            t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
            loss = model(x).float().pow(2).mean()
        loss.backward()
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
    ap.add_argument("--compile", action="store_true",
                    help="also time the encoder under torch.compile (needs a C++ compiler; about a minute to compile)")
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
        bf16 = _step_seconds(channels_last, x_cl, args.repeats, autocast=torch.bfloat16)
        print(f"   {n} thread(s): contiguous {plain:.3f}  channels-last {fast:.3f}  channels-last under bf16 "
              f"autocast {bf16:.3f}")
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

    print("\n4. the book's SimCLR step (64 cubes of 64x64x8 -> 2 x 64 views of 40x40x6, channels-last), ms per part")
    torch.manual_seed(0)
    objective = SimCLRObjective(build_encoder("resnet10", in_channels=1, width_mult=0.25, voxel_size_nm=VOXEL_NM),
                                temperature=0.1).to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.AdamW(objective.parameters(), lr=1e-3)
    augment = make_augment({"preset": "simclr_em", "p_crop": 0.0, **jitter_crop((64, 64, 8), (40, 40, 6))})
    cubes = torch.rand(64, 1, 8, 64, 64)
    parts = {"augment (two views)": 0.0, "forward + backward": 0.0, "optimizer": 0.0}
    for step in range(args.repeats + 1):
        t0 = time.perf_counter()
        with torch.no_grad():
            g = torch.Generator().manual_seed(step)
            views = [v.contiguous(memory_format=torch.channels_last_3d) for v in (augment(cubes, g), augment(cubes, g))]
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        objective(*views).backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if step:  # the first step warms up
            for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                parts[name] += 1000.0 * dt / args.repeats
    total = sum(parts.values())
    for name, ms in parts.items():
        print(f"   {name:<22} {ms:6.1f} ms  ({100 * ms / total:.0f} %)")
    print(f"   {'step':<22} {total:6.1f} ms  ({64 / total * 1000:.0f} cubes/s)")

    if args.compile:
        print(f"\n5. torch.compile (Inductor) of the channels-last encoder, forward + backward of {args.batch} views")
        channels_last.train()
        compiled = torch.compile(channels_last)
        t0 = time.perf_counter()
        compiled(x_cl).pow(2).mean().backward()
        first = time.perf_counter() - t0
        eager, fused = [], []
        for _ in range(2):  # alternated, so that a slow spell of the machine hits both alike
            eager.append(_step_seconds(channels_last, x_cl, args.repeats))
            fused.append(_step_seconds(compiled, x_cl, args.repeats))
        print(f"   first compiled pass {first:.1f} s; then eager {min(eager):.3f}-{max(eager):.3f} s, "
              f"compiled {min(fused):.3f}-{max(fused):.3f} s per pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
