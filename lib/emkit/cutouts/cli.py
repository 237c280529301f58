"""``emkit bench-cutouts``: batched engine vs the naive one-read-per-point way; and a tiny toy world for tests.

The toy world (:func:`make_toy_world`) is a stand-in for ``emkit.synth.generate_world`` used by the cutout tests
and the benchmark when the synthetic world generator is not available: Voronoi cells with membranes, nuclei,
clefts on cell-cell boundaries and a vesicle cloud on the presynaptic side, written as neuroglancer precomputed
through cloud-volume (``compress=False``, so tensorstore reads it; see the ecosystem notes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .engine import LayerDataset, extract_cutouts
from .spec import CutoutSpec, synapse_cube_spec

TOY_VOXEL_SIZE_NM = (8, 8, 40)
TOY_LAYERS = ("em", "cells", "nuclei", "clefts", "vesicles")


def _write_precomputed(path: Path, arr_zyx: np.ndarray, layer_type: str, voxel_size_nm, chunk_xyz, n_mips: int):
    """Write a (z, y, x) array as precomputed with mips downsampled (2, 2, 1) (mean for images, stride for seg)."""
    from cloudvolume import CloudVolume

    shape_xyz = arr_zyx.shape[::-1]
    info = CloudVolume.create_new_info(
        num_channels=1, layer_type=layer_type, data_type=str(arr_zyx.dtype), encoding="raw",
        resolution=list(voxel_size_nm), voxel_offset=[0, 0, 0], chunk_size=list(chunk_xyz),
        volume_size=list(shape_xyz))
    url = "file://" + str(Path(path).resolve())
    cv = CloudVolume(url, info=info, compress=False, progress=False)
    for m in range(1, n_mips):
        cv.add_scale((2 ** m, 2 ** m, 1), chunk_size=list(chunk_xyz))
    cv.commit_info()
    a = arr_zyx
    for m in range(n_mips):
        if m:
            if layer_type == "image":
                z, y, x = a.shape
                a = a[:, : y // 2 * 2, : x // 2 * 2].reshape(z, y // 2, 2, x // 2, 2).mean(axis=(2, 4))
                a = np.round(a).astype(arr_zyx.dtype)
            else:
                a = a[:, ::2, ::2]
        cvm = CloudVolume(url, mip=m, compress=False, progress=False)
        cvm[:, :, :] = np.ascontiguousarray(a.transpose(2, 1, 0))[..., None]
    return "precomputed://" + url


def make_toy_world(root, shape_vox=(128, 128, 16), n_cells: int = 6, n_synapses: int = 12, seed: int = 0,
                   chunk_size_vox=(64, 64, 8), n_mips: int = 3) -> dict:
    """Write a small synthetic EM world (8×8×40 nm) and return its layers and point tables.

    Parameters
    ----------
    root : folder to write ``em``, ``cells``, ``nuclei``, ``clefts``, ``vesicles`` (precomputed) into.
    shape_vox : (x, y, z) mip-0 size in voxels (x, y divisible by ``2 ** (n_mips - 1)``).
    seed : everything is drawn from ``np.random.default_rng(seed)``: same seed, same bytes.

    Returns
    -------
    dict with ``layers`` (name -> URI), ``synapses`` (point schema with ``pre_root_id``, ``post_root_id``, cleft
    centres in nm), ``cells`` (cell seeds inside the nuclei, ``root_id``, ``label``), ``voxel_size_nm`` and
    ``arrays`` (layer name -> the mip-0 (z, y, x) array written, for exact checks in tests).
    """
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    vs = np.asarray(TOY_VOXEL_SIZE_NM, float)
    nx, ny, nz = shape_vox
    ext = np.asarray(shape_vox) * vs
    seeds = rng.uniform(0.15, 0.85, size=(n_cells, 3)) * ext
    cell_ids = (10_000 + 37 * np.arange(n_cells)).astype(np.uint64)
    zz, yy, xx = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    pts = np.stack([(xx.ravel() + 0.5) * vs[0], (yy.ravel() + 0.5) * vs[1], (zz.ravel() + 0.5) * vs[2]], axis=1)
    dist, nn = cKDTree(seeds).query(pts, k=2)
    a, b = nn[:, 0], nn[:, 1]
    sep = np.linalg.norm(seeds[a] - seeds[b], axis=1)
    d_bis = (dist[:, 1] ** 2 - dist[:, 0] ** 2) / (2 * sep)  # distance to the A|B boundary plane, nm
    shape_zyx = (nz, ny, nx)
    cells = cell_ids[a].reshape(shape_zyx)
    nuc_r = 0.18 * min(ext[0], ext[1]) / max(1, n_cells ** (1 / 3))
    nuclei = np.where(dist[:, 0] < nuc_r, cell_ids[a] + 500_000, 0).astype(np.uint64).reshape(shape_zyx)
    clefts = np.zeros(len(pts), np.uint64)
    vesicles = np.zeros(len(pts), np.uint64)
    em = np.full(len(pts), 165.0)
    em[dist[:, 0] < nuc_r] = 125.0
    em[d_bis < 16] = 60.0
    rows = []
    boundary = np.flatnonzero((d_bis < 8) & (dist[:, 0] > nuc_r + 40))
    rng.shuffle(boundary)
    taken: list[np.ndarray] = []
    for vi in boundary:
        if len(rows) >= n_synapses:
            break
        p = pts[vi]
        A, B = a[vi], b[vi]
        n = (seeds[B] - seeds[A]) / sep[vi]
        c = p + d_bis[vi] * n  # cleft centre on the boundary plane
        if any(np.linalg.norm(c - t) < 350 for t in taken) or np.any(c < 4 * vs) or np.any(c > ext - 4 * vs):
            continue
        pre, post = (A, B) if rng.random() < 0.5 else (B, A)
        r = np.linalg.norm(pts - c, axis=1)
        pair = ((a == A) & (b == B)) | ((a == B) & (b == A))
        cleft = pair & (d_bis < 20) & (r < 220)
        clefts[cleft] = len(rows) + 1
        toward_pre = (seeds[pre] - c) / np.linalg.norm(seeds[pre] - c)
        ves = (a == pre) & (r > 40) & (r < 280) & (((pts - c) @ toward_pre) > 20)
        vesicles[ves] = len(rows) + 1
        em[ves] = 95.0
        em[cleft] = 35.0
        taken.append(c)
        rows.append(dict(id=len(rows) + 1, x_nm=c[0], y_nm=c[1], z_nm=c[2], pre_root_id=int(cell_ids[pre]),
                         post_root_id=int(cell_ids[post]), label="toy"))
    em = np.clip(em + rng.normal(0, 12, size=em.shape), 0, 255).astype(np.uint8).reshape(shape_zyx)
    arrays = {"em": (em, "image"), "cells": (cells, "segmentation"), "nuclei": (nuclei, "segmentation"),
              "clefts": (clefts.reshape(shape_zyx), "segmentation"),
              "vesicles": (vesicles.reshape(shape_zyx), "segmentation")}
    layers = {name: _write_precomputed(root / name, arr, kind, TOY_VOXEL_SIZE_NM, chunk_size_vox, n_mips)
              for name, (arr, kind) in arrays.items()}
    synapses = pd.DataFrame(rows)
    synapses.attrs["name"] = "synapses"
    cells_tab = pd.DataFrame({"id": np.arange(1, n_cells + 1), "x_nm": seeds[:, 0], "y_nm": seeds[:, 1],
                              "z_nm": seeds[:, 2], "root_id": cell_ids.astype(np.int64),
                              "label": [f"type{i % 2}" for i in range(n_cells)]})
    cells_tab.attrs["name"] = "cells"
    return {"layers": layers, "synapses": synapses, "cells": cells_tab, "voxel_size_nm": TOY_VOXEL_SIZE_NM,
            "arrays": {k: v[0] for k, v in arrays.items()}}


def synthetic_dataset(size: str = "tiny", seed: int = 0, root=None, progress: bool = False):
    """The project's synthetic world (``emkit.synth``) as an ``emkit.io`` Dataset, generated if missing.

    Returns ``(dataset, synapses)`` with ``synapses`` in the point schema (nm), or ``None`` when ``emkit.synth`` /
    ``emkit.io.datasets`` are not available.
    """
    try:
        from emkit.io.datasets import open_dataset
        from emkit.synth.world import ensure_world
    except ImportError:
        return None
    if root is None:
        from emkit.paths import data_dir

        root = data_dir() / f"synthetic-{size}-s{seed}"
    ensure_world(root, size=size, seed=seed, progress=progress)
    dataset = open_dataset("synthetic", size=size, seed=seed, root=root, generate=False)
    synapses = dataset.points("synapses")
    synapses.attrs["name"] = "synapses"
    return dataset, synapses


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
    up to ``n_points`` with jittered copies. Uses the ``emkit.synth`` world (:func:`synthetic_dataset`, generated
    into ``world`` or ``$EMKIT_DATA`` if missing) when available, else :func:`make_toy_world` (256×256×32 voxels).
    """
    rng = np.random.default_rng(seed)
    tmp = tempfile.TemporaryDirectory(prefix="emkit-bench-cutouts-")
    got = synthetic_dataset(size, seed, root=world, progress=progress)
    if got is None:
        toy = make_toy_world(Path(tmp.name) / "world", shape_vox=(256, 256, 32), n_cells=10, n_synapses=30,
                             seed=seed, chunk_size_vox=(64, 64, 16))
        dataset = LayerDataset(f"toy-{seed}", toy["layers"])
        pts = toy["synapses"]
        source = "toy world 256x256x32 vox (emkit.synth / emkit.io.datasets not available)"
    else:
        dataset, pts = got
        pts = pts[["id", "x_nm", "y_nm", "z_nm", "pre_root_id"]]
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
    tmp.cleanup()
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
