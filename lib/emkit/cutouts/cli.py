"""``emkit bench-cutouts``: the batched engine vs the naive one-read-per-point way, on the synthetic world.

The world is the project's ``emkit.synth`` world opened through ``emkit.io.datasets.open_dataset("synthetic",
size=..., seed=...)`` (generated into ``$EMKIT_DATA`` the first time).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from .engine import extract_cutouts
from .spec import CutoutSpec, synapse_cube_spec


def _more_points(points: pd.DataFrame, n: int, extent_nm: np.ndarray, rng) -> pd.DataFrame:
    """Top up a point table to n rows with jittered copies (new ids), kept inside the volume."""
    if len(points) >= n:
        return points.iloc[:n].reset_index(drop=True)
    extra = points.sample(n - len(points), replace=True, random_state=int(rng.integers(1 << 31))).copy()
    for c, e in zip(("x_nm", "y_nm", "z_nm"), extent_nm):
        extra[c] = np.clip(extra[c] + rng.normal(0, 60, len(extra)), 1, e - 1)
    extra["id"] = np.arange(len(extra)) + int(points["id"].max()) + 1
    extra = extra.drop(columns=["pre_root_id"], errors="ignore")  # jittered copies: pre side by the vesicle rule
    out = pd.concat([points, extra], ignore_index=True)
    return out


def run_benchmark(world: str | None = None, size: str = "tiny", n_points: int = 200, shape_vox: int = 32,
                  voxel_size_nm: float = 16.0, channels: str = "raw", seed: int = 0, progress: bool = False) -> dict:
    """Cutouts/s of the batched engine vs the naive way (one cloud-volume read per point and layer, no grouping).

    Both produce the same arrays (checked: ``max_abs_diff``). Points: the world's synapses (cleft centres), topped
    up to ``n_points`` with jittered copies. The world is the ``emkit.synth`` world of this size and seed
    (``open_dataset("synthetic", ...)``, generated into ``world`` or ``$EMKIT_DATA/synthetic-<size>-s<seed>`` if
    missing).
    """
    from emkit.io.datasets import open_dataset

    rng = np.random.default_rng(seed)
    dataset = open_dataset("synthetic", size=size, seed=seed, root=world)
    pts = dataset.points("synapses")[["id", "x_nm", "y_nm", "z_nm", "pre_root_id"]]
    source = f"emkit.synth world (size={size!r}, seed={seed}, root={dataset.root})"
    em = dataset.volume("em")
    extent = np.asarray(em.shape_vox) * np.asarray(em.voxel_size_nm, float)
    pts = _more_points(pts, n_points, extent, rng)
    chans = tuple(channels.split(","))
    spec = CutoutSpec(shape_vox=(shape_vox,) * 3, voxel_size_nm=(voxel_size_nm,) * 3, channels=chans,
                      name="bench")
    if chans == ("raw", "pre_mask", "cleft_mask"):
        spec = synapse_cube_spec(shape_vox=(shape_vox,) * 3, voxel_size_nm=(voxel_size_nm,) * 3)
    # warm-up (imports, tensorstore/cloud-volume start-up) on a few points
    extract_cutouts(dataset, pts.iloc[:4], spec, progress=False)
    t0 = time.perf_counter()
    fast = extract_cutouts(dataset, pts, spec, progress=progress)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = extract_cutouts(dataset, pts, spec, progress=progress, backend="cloudvolume", group_reads=False,
                            batch_size=1)
    t_naive = time.perf_counter() - t0
    result = {
        "world": source, "points": len(pts), "shape_vox": [shape_vox] * 3, "voxel_size_nm": [voxel_size_nm] * 3,
        "channels": list(spec.channels),
        "batched_cutouts_per_s": round(len(pts) / t_fast, 1), "naive_cutouts_per_s": round(len(pts) / t_naive, 1),
        "speedup": round(t_naive / t_fast, 2),
        "max_abs_diff": float(np.abs(fast.x - naive.x).max()),
    }
    return result


def _cmd_bench(args) -> int:
    res = run_benchmark(world=args.world, size=args.size, n_points=args.n_points, shape_vox=args.shape,
                        voxel_size_nm=args.voxel_size, channels=args.channels, seed=args.seed,
                        progress=not args.quiet)
    print(json.dumps(res, indent=2))
    return 0


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--world", default=None,
                   help="synthetic world folder (default: $EMKIT_DATA/synthetic-<size>-s<seed>, generated if missing)")
    p.add_argument("--size", default="tiny", help="synthetic world size when generating (tiny, default, ...)")
    p.add_argument("--n-points", type=int, default=200, help="number of cutouts (synapses topped up by jitter)")
    p.add_argument("--shape", type=int, default=32, help="cube edge in target voxels")
    p.add_argument("--voxel-size", type=float, default=16.0, help="isotropic target voxel size, nm")
    p.add_argument("--channels", default="raw", help="comma list, e.g. raw or raw,pre_mask,cleft_mask")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register_cli(subparsers) -> None:
    """Add ``emkit bench-cutouts``."""
    p = subparsers.add_parser("bench-cutouts", help="cutouts/s: batched engine vs one read per point")
    add_bench_arguments(p)
    p.set_defaults(func=_cmd_bench)
