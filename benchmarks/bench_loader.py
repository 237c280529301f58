"""Milliseconds per shuffled training batch: cutouts read item by item from the zarr cache vs held in memory.

What a training loop pays per step to get its batch, before any model runs (the book's supervised step with the
ResNet-10 at 1/4 width takes ~55 ms on 2 CPU cores). Uses the synthetic world's synapses, centred on the
presynaptic point as the SSL chapters do; the cutouts are computed into ``$EMKIT_DATA/cutout_cache`` on the first
run. Prints figures; not a test.

    .venv/bin/python benchmarks/bench_loader.py                       # the book's 40x40x6 views, batch 64
    .venv/bin/python benchmarks/bench_loader.py --shape 64 64 8       # the SSL chapter's cubes
"""

from __future__ import annotations

import argparse
import time

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="default", help="synthetic world size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shape", type=int, nargs=3, default=[40, 40, 6], metavar=("X", "Y", "Z"), help="voxels")
    ap.add_argument("--voxel-nm", type=float, nargs=3, default=[8.0, 8.0, 40.0], metavar=("X", "Y", "Z"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5, help="shuffled passes timed per mode")
    args = ap.parse_args(argv)

    from emkit.cutouts import CutoutDataset, synapse_cube_spec
    from emkit.io.datasets import open_dataset
    from emkit.io.points import centred_on
    from emkit.learn.train import collate_cutouts

    world = open_dataset("synthetic", size=args.size, seed=args.seed)
    points = centred_on(world.points("synapses"), "pre")
    spec = synapse_cube_spec(tuple(args.shape), tuple(args.voxel_nm), channels=("raw",))
    for in_memory in (False, True, False, True):  # alternated: the machine's load drifts
        t0 = time.perf_counter()
        data = CutoutDataset(world, points, spec, cache=True, in_memory=in_memory, progress=False)
        setup = time.perf_counter() - t0
        loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, collate_fn=collate_cutouts,
                                             generator=torch.Generator().manual_seed(0))
        n, t0 = 0, time.perf_counter()
        for _ in range(args.epochs):
            for _batch in loader:
                n += 1
        per_batch = (time.perf_counter() - t0) / n * 1000
        print(f"{'in memory' if in_memory else 'zarr cache':10s} {per_batch:6.2f} ms per batch of {args.batch} "
              f"({n} batches of {tuple(args.shape)} voxels; construction {setup:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
