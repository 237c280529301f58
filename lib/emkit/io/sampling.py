"""Points drawn from a segmentation: where to cut when a dataset has objects but no annotation table.

SegCLR (Dorkenwald et al. 2023) embeds cutouts at many locations along each object. On a volume with a dense
segmentation and no point table (SNEMI3D, a FIB-SEM crop), :func:`sample_object_points` draws such locations:
the largest objects, several points inside each, away from the volume border.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def sample_object_points(volume, n_objects: int = 20, per_object: int = 20, *, margin_vox=(16, 16, 4),
                         min_voxels: int = 1000, stride_vox=(2, 2, 1), seed: int = 0,
                         exclude_ids=(0,)) -> pd.DataFrame:
    """Random points inside the ``n_objects`` largest objects of a segmentation volume.

    Parameters
    ----------
    volume : emkit.io.volumes.Volume
        A segmentation layer (object ids; 0 = background / boundary).
    n_objects : int
        How many objects, largest first (counted inside the margin).
    per_object : int
        Points per object (fewer if an object has fewer candidate voxels).
    margin_vox : (x, y, z) int
        Distance from the volume border, in voxels at this mip, within which no point is drawn (half a cutout
        keeps cutouts inside the volume).
    min_voxels : int
        Objects with fewer (strided) voxels than this inside the margin are skipped.
    stride_vox : (x, y, z) int
        Candidate voxels are taken on this grid (keeps memory and time low on large volumes).
    seed : int
        Random seed.
    exclude_ids : iterable of int
        Ids never sampled (background).

    Returns
    -------
    pandas.DataFrame
        Point schema: ``id`` (0..N-1), ``x_nm``, ``y_nm``, ``z_nm`` (voxel centres, nm) and ``root_id`` (the object).
    """
    if n_objects < 1 or per_object < 1:
        raise ValueError(f"n_objects and per_object must be >= 1, got {n_objects}, {per_object}")
    margin = np.asarray(margin_vox, dtype=int)
    stride = np.asarray(stride_vox, dtype=int)
    start = np.asarray(volume.offset_vox, dtype=int) + margin
    stop = np.asarray(volume.offset_vox, dtype=int) + np.asarray(volume.shape_vox, dtype=int) - margin
    if np.any(stop <= start):
        raise ValueError(f"margin {tuple(margin)} leaves nothing of a volume of shape {tuple(volume.shape_vox)}")
    seg = np.asarray(volume.read(start, stop))[:: stride[2], :: stride[1], :: stride[0]]  # (z, y, x)
    flat = seg.ravel()
    ids, counts = np.unique(flat, return_counts=True)
    keep = ~np.isin(ids, np.asarray(list(exclude_ids), dtype=ids.dtype)) & (counts >= min_voxels)
    ids, counts = ids[keep], counts[keep]
    if len(ids) == 0:
        raise ValueError(f"no object with >= {min_voxels} voxels inside the margin of {volume.uri}")
    chosen = ids[np.argsort(-counts, kind="stable")[:n_objects]]
    rng = np.random.default_rng(seed)
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    rows = []
    for obj in chosen:
        lo, hi = np.searchsorted(sorted_ids, obj, "left"), np.searchsorted(sorted_ids, obj, "right")
        picks = order[lo + rng.choice(hi - lo, size=min(per_object, hi - lo), replace=False)]
        z, y, x = np.unravel_index(picks, seg.shape)
        vox = np.stack([x * stride[0], y * stride[1], z * stride[2]], axis=1) + start
        nm = (vox + 0.5) * np.asarray(volume.voxel_size_nm, dtype=float)
        for p in nm:
            rows.append((p[0], p[1], p[2], int(obj)))
    points = pd.DataFrame(rows, columns=["x_nm", "y_nm", "z_nm", "root_id"])
    points.insert(0, "id", np.arange(len(points), dtype=np.int64))
    return points
