"""CPU/GPU throughput of one SimCLR training step (two augmented views -> encoder -> head -> NT-Xent -> backward ->
AdamW step), for the slim encoder and ResNet-18. Prints figures; not a test.

    .venv/bin/python benchmarks/bench_train.py                      # both default cases
    .venv/bin/python benchmarks/bench_train.py --case slim --steps 10
    .venv/bin/python benchmarks/bench_train.py --device cuda --amp bf16 --channels-last
    python benchmarks/bench_train.py --device cuda --case resnet18 --batch 32 --amp bf16 --channels-last --steps 20

On a shared machine the figures swing with the load of other processes (check ``uptime``); ``--threads 1``
avoids OpenMP oversubscription when other jobs compete for the cores.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from emkit.learn.augment import EMAugment
from emkit.learn.models import build_encoder
from emkit.learn.train import SimCLRObjective

CASES = {
    # name: (encoder kwargs, cube edge in voxels, batch size)
    "slim": (dict(name="slim", in_channels=3), 32, 16),
    "resnet18": (dict(name="resnet18", in_channels=3), 64, 2),
}


def bench(case: str, steps: int, device: str, amp: str, channels_last: bool, voxel_size_nm, seed: int = 0,
          batch: int | None = None, warmup: int = 1) -> dict:
    kw, edge, default_batch = CASES[case]
    batch = batch or default_batch
    torch.manual_seed(seed)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # as emkit.learn.train.fit does on CUDA
        torch.cuda.reset_peak_memory_stats()
    enc = build_encoder(**kw, voxel_size_nm=voxel_size_nm)
    obj = SimCLRObjective(enc, 512, 128, 0.1).to(device)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    if channels_last:
        obj.to(memory_format=fmt)
    opt = torch.optim.AdamW(obj.parameters(), lr=1e-3)
    aug = EMAugment("simclr_em")
    x = torch.randn(batch, 3, edge, edge, edge, device=device)
    x[:, 1:] = (x[:, 1:] > 0.5).float()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    t_aug, t_step = [], []
    for i in range(steps + warmup):  # the first `warmup` steps are not timed (cuDNN picks its kernels there)
        g = torch.Generator().manual_seed(i)
        t0 = time.perf_counter()
        xa, xb = aug(x, g), aug(x, g)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = obj(xa.contiguous(memory_format=fmt), xb.contiguous(memory_format=fmt))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if i >= warmup:
            t_aug.append(t1 - t0)
            t_step.append(t2 - t1)
    step = sum(t_step) / len(t_step)
    a = sum(t_aug) / len(t_aug)
    return {
        "case": case, "input": f"{batch}x3x{edge}^3", "params_M": sum(p.numel() for p in enc.parameters()) / 1e6,
        "step_s": step, "samples_per_s": batch / step, "augment_s": a, "samples_per_s_with_aug": batch / (step + a),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=[*CASES, "all"], default="all")
    ap.add_argument("--steps", type=int, default=5, help="timed steps after the --warmup steps")
    ap.add_argument("--resnet18-steps", type=int, default=2, help="timed steps for resnet18 (slow on CPU)")
    ap.add_argument("--batch", type=int, default=None, help="samples per step (default: the case's CPU-sized batch)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (use 3+ on a GPU)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--voxel-size-nm", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, amp {args.amp}")
    for case in (CASES if args.case == "all" else [args.case]):
        steps = args.resnet18_steps if case == "resnet18" and args.case == "all" else args.steps
        r = bench(case, steps, args.device, args.amp, args.channels_last, args.voxel_size_nm, batch=args.batch,
                  warmup=args.warmup)
        print(f"{r['case']:9s} {r['input']:>12s} {r['params_M']:6.2f}M params | SimCLR step {r['step_s']:.3f} s "
              f"= {r['samples_per_s']:.2f} samples/s | augment 2 views {r['augment_s']:.3f} s "
              f"-> {r['samples_per_s_with_aug']:.2f} samples/s incl. augmentation ({steps} timed steps"
              + (")" if math.isnan(r["peak_gib"]) else f"; peak {r['peak_gib']:.1f} GiB)"))


if __name__ == "__main__":
    main()
