"""Embedding export: run an encoder over a cutout Dataset, store the embeddings as parquet, aggregate SegCLR-style.

Stored table (one parquet file per model and point table; keyed by point ``id``): ``id`` int64, ``emb_0`` ..
``emb_{d-1}`` float32, ``model_id`` str, ``spec`` str (JSON of the cutout spec / model config). The same model id
and spec are in the file's key-value metadata (``emkit.model_id``, ``emkit.spec``, ``emkit.embedding_dim``), with a
content hash so that writing the same embeddings again leaves the file untouched (idempotent writes).
Written through :func:`emkit.io.store.write_arrow` (atomic); :func:`emkit.io.store.query` runs DuckDB over them.

Aggregation: Dorkenwald et al. 2023 ("Multi-layered maps of neuropil with segmentation-guided contrastive
learning", Nature Methods) average the embeddings of one object (root id) within a radius (10 um for h01, 25 um
for MICrONS) of every node; :func:`aggregate_embeddings` does that with scipy's cKDTree on positions in nm.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
import torch
from scipy.spatial import cKDTree
from torch import nn
from torch.utils.data import DataLoader, Dataset

from emkit.io import store

from .allocator import keep_freed_memory
from .batches import collate_cutouts, sample_valid

__all__ = ["embed", "emb_columns", "write_embeddings", "read_embeddings", "aggregate_embeddings", "SYMMETRIES"]

#: Transform groups :func:`embed` can average over (test-time augmentation), as (k rot90 in y-x, flip x, flip z).
SYMMETRIES: dict[str, list[tuple[int, bool, bool]]] = {
    "none": [(0, False, False)],
    "plane": [(k, f, False) for k in range(4) for f in (False, True)],  # the 8 symmetries of the square
    "plane_z": [(k, f, fz) for k in range(4) for f in (False, True) for fz in (False, True)],  # and z reversed
}


def _transformed(x: torch.Tensor, k: int, flip_x: bool, flip_z: bool) -> torch.Tensor:
    """``x`` (N, C, D, H, W) rotated by ``k`` quarter turns in the (H, W) plane, then flipped as asked."""
    x = torch.rot90(x, k, dims=(3, 4)) if k else x
    if flip_x:
        x = torch.flip(x, dims=(4,))
    if flip_z:
        x = torch.flip(x, dims=(2,))
    return x


def emb_columns(df: pd.DataFrame) -> list[str]:
    """The ``emb_<i>`` columns of ``df`` in numeric order."""
    cols = [c for c in df.columns if isinstance(c, str) and c.startswith("emb_") and c[4:].isdigit()]
    return sorted(cols, key=lambda c: int(c[4:]))


@torch.no_grad()
def embed(encoder: nn.Module, dataset: Dataset, batch_size: int = 32, *, device: str | torch.device = "auto",
          amp: bool = False, num_workers: int = 0, skip_invalid: bool = True, progress: bool = True,
          channels_last: bool = False, symmetries: str = "none") -> pd.DataFrame:
    """Embed every cutout of ``dataset`` with ``encoder`` (eval mode, no augmentation).

    Parameters
    ----------
    encoder : module mapping ``(N, C, D, H, W)`` to ``(N, d)`` (the representation *before* any projection head).
    dataset : Dataset of dicts with ``x`` (C, D, H, W) float32 and ``id`` int (``valid`` optional: per sample, or
        per voxel (D, H, W) as emkit.cutouts yields it, see :func:`emkit.learn.train.sample_valid`).
    batch_size : cutouts per forward pass.
    device : "auto" (CUDA if available), "cpu", "cuda", ...
    amp : bf16 autocast on CUDA.
    channels_last : run the encoder in the ``torch.channels_last_3d`` memory format: converts ``encoder``'s weights
        in place (as training with ``channels_last`` does) and each batch. Converting the batch alone gave no gain;
        both gave 1.2x the cutouts/s for the book's ResNet-10 at 1/4 width on a 2-core AVX2 CPU (fp32, 40x40x6;
        ``benchmarks/profile_encoder.py``).
    skip_invalid : drop samples that are not valid (entirely outside the volume); their count is in
        ``attrs["n_invalid"]``.
    symmetries : {"none", "plane", "plane_z"}
        Average the embedding over a group of transforms of the cutout (test-time augmentation), which makes it
        invariant to them: ``plane`` = the 8 quarter-turns and mirrorings in the x-y plane (the section plane;
        valid for anisotropic voxels), ``plane_z`` = those and z reversed (16). Costs one forward pass per
        transform. Needs square sections (H == W) for the quarter-turns.

    Returns
    -------
    DataFrame with ``id`` (int64) and ``emb_0 .. emb_{d-1}`` (float32), in dataset order.
    """
    if symmetries not in SYMMETRIES:
        raise ValueError(f"symmetries must be one of {sorted(SYMMETRIES)}, got {symmetries!r}")
    transforms = SYMMETRIES[symmetries]
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if str(device) == "auto" else device)
    if dev.type == "cpu":
        keep_freed_memory()  # 1.2x the cutouts/s on CPU (emkit.learn.allocator: 52 -> 41 ms per batch of 64)
    was_training = encoder.training
    encoder.eval()
    encoder.to(dev)
    if channels_last:
        encoder.to(memory_format=torch.channels_last_3d)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=collate_cutouts)
    ids, embs, n_invalid = [], [], 0
    it = loader
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(loader, desc="embed", unit="batch")
    try:
        for batch in it:
            x, bid = batch["x"], batch["id"]
            keep = sample_valid(batch) if skip_invalid else None
            if keep is not None:
                n_invalid += int((~keep).sum())
                x, bid = x[keep], bid[keep]
                if x.shape[0] == 0:
                    continue
            if len(transforms) > 1 and x.shape[-1] != x.shape[-2]:
                raise ValueError(f"symmetries={symmetries!r} turns sections by quarter-turns: they must be square, "
                                 f"got (H, W) = {tuple(x.shape[-2:])}")
            x = x.to(dev)
            total = None
            for k, flip_x, flip_z in transforms:
                xt = _transformed(x, k, flip_x, flip_z)
                if channels_last:
                    xt = xt.contiguous(memory_format=torch.channels_last_3d)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp and dev.type == "cuda"):
                    e = encoder(xt)
                if e.ndim != 2:
                    raise ValueError(f"encoder returned shape {tuple(e.shape)}; expected (N, d)")
                total = e.float() if total is None else total + e.float()
            embs.append((total / len(transforms)).cpu().numpy())
            ids.append(bid.numpy().astype(np.int64))
    finally:
        encoder.train(was_training)
    if embs:
        E, I = np.concatenate(embs), np.concatenate(ids)
    else:
        d = int(getattr(encoder, "embed_dim", 0))
        E, I = np.zeros((0, d), np.float32), np.zeros(0, np.int64)
    df = pd.DataFrame(E.astype(np.float32), columns=[f"emb_{i}" for i in range(E.shape[1])])
    df.insert(0, "id", I)
    df.attrs["n_invalid"] = n_invalid
    return df


def _spec_json(spec: Any) -> str:
    if spec is None:
        return "{}"
    if isinstance(spec, str):
        return spec
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    elif hasattr(spec, "__dataclass_fields__"):
        import dataclasses

        spec = dataclasses.asdict(spec)
    return json.dumps(spec, sort_keys=True, default=str)


def _to_table(df: pd.DataFrame, model_id: str, spec_json: str) -> pa.Table:
    cols = emb_columns(df)
    if "id" not in df.columns:
        raise ValueError("embeddings need an 'id' column (the point id)")
    if not cols:
        raise ValueError("embeddings need emb_0 .. emb_{d-1} columns")
    ids = df["id"].to_numpy()
    dup = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dup):
        raise ValueError(f"duplicate point id(s) in embeddings, e.g. id={int(dup[0])} (rows must be keyed by id)")
    bad = ~np.isfinite(df[cols].to_numpy(dtype=np.float64)).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"embeddings row {i} (id={int(ids[i])}) has a NaN or infinite value")
    out = df[["id", *cols]].sort_values("id", kind="stable").reset_index(drop=True)
    arrays = {"id": pa.array(out["id"].to_numpy(np.int64))}
    for c in cols:
        arrays[c] = pa.array(out[c].to_numpy(np.float32))
    arrays["model_id"] = pa.array([model_id] * len(out), pa.string())
    arrays["spec"] = pa.array([spec_json] * len(out), pa.string())
    table = pa.table(arrays)
    h = hashlib.sha256()
    h.update(model_id.encode())
    h.update(spec_json.encode())
    h.update(out["id"].to_numpy(np.int64).tobytes())
    h.update(np.ascontiguousarray(out[cols].to_numpy(np.float32)).tobytes())
    meta = {
        b"emkit.model_id": model_id.encode(), b"emkit.spec": spec_json.encode(),
        b"emkit.embedding_dim": str(len(cols)).encode(), store.CONTENT_HASH_KEY.encode(): h.hexdigest().encode(),
    }
    return table.replace_schema_metadata(meta)


def write_embeddings(df: pd.DataFrame, path: str | os.PathLike, model_id: str, spec: Any = None,
                     mode: str = "replace") -> Path:
    """Write embeddings to parquet, keyed by point id, with ``model_id`` and ``spec`` columns and metadata.

    Parameters
    ----------
    df : DataFrame with ``id`` and ``emb_*`` columns (e.g. from :func:`embed`).
    path : parquet file.
    model_id : name of the model/checkpoint that produced the embeddings.
    spec : the cutout spec / config (dict, dataclass or JSON string), stored as JSON.
    mode : "replace" writes exactly ``df``; "upsert" merges with the rows already in the file for the same
        ``model_id`` and ``spec`` (rows of ``df`` win for ids present in both).

    Returns
    -------
    Path of the file. Writing identical content again does not touch the file (idempotent); writes are atomic.
    """
    path = Path(path)
    spec_json = _spec_json(spec)
    if mode not in ("replace", "upsert"):
        raise ValueError(f"mode must be 'replace' or 'upsert', got {mode!r}")
    if mode == "upsert" and path.exists():
        old = read_embeddings(path)
        if old.attrs.get("model_id") != model_id or old.attrs.get("spec") != spec_json:
            raise ValueError(f"{path}: holds model_id={old.attrs.get('model_id')!r} with another spec; "
                             f"cannot upsert embeddings of model_id={model_id!r}")
        if emb_columns(old) != emb_columns(df):
            raise ValueError(f"{path}: embedding dimension {len(emb_columns(old))} != {len(emb_columns(df))}")
        old = old[~old["id"].isin(df["id"])]
        df = pd.concat([old[["id", *emb_columns(old)]], df[["id", *emb_columns(df)]]], ignore_index=True)
    return store.write_arrow(_to_table(df, model_id, spec_json), path)


def read_embeddings(path: str | os.PathLike) -> pd.DataFrame:
    """Read a file written by :func:`write_embeddings`; ``attrs`` holds ``model_id``, ``spec`` (JSON str)."""
    df = store.read_table(path)
    meta = store.read_metadata(path)
    df.attrs["model_id"] = meta.get("emkit.model_id") or None
    df.attrs["spec"] = meta.get("emkit.spec") or None
    return df


def aggregate_embeddings(df: pd.DataFrame, radius_nm: float = 10_000.0, *, root_col: str = "root_id",
                         position_cols: Sequence[str] = ("x_nm", "y_nm", "z_nm"),
                         emb_cols: Sequence[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """SegCLR aggregation: each node's embedding becomes the mean over the nodes of the same object within
    ``radius_nm`` of it, itself included (Dorkenwald et al. 2023; 10 um on h01, 25 um on MICrONS).

    Parameters
    ----------
    df : one row per node with ``root_col``, positions in nm (``position_cols``, x y z) and embedding columns.
    radius_nm : aggregation radius in nm (10_000 = 10 um).
    emb_cols : embedding columns (default: the ``emb_*`` columns).

    Returns
    -------
    A copy of ``df`` (same rows, same order) with the embedding columns replaced by the aggregated means and an
    ``n_aggregated`` column (how many nodes were averaged).
    """
    emb_cols = list(emb_cols) if emb_cols is not None else emb_columns(df)
    if not emb_cols:
        raise ValueError("no embedding columns (emb_*) to aggregate")
    for c in (root_col, *position_cols):
        if c not in df.columns:
            raise ValueError(f"aggregate_embeddings needs column {c!r}")
    pos = df[list(position_cols)].to_numpy(np.float64)
    bad = ~np.isfinite(pos).all(axis=1) | df[root_col].isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rid = df["id"].iloc[i] if "id" in df.columns else i
        raise ValueError(f"row {i} (id={rid}): position or {root_col} is missing")
    E = df[emb_cols].to_numpy(np.float64)
    out_E = np.empty_like(E)
    counts = np.zeros(len(df), np.int64)
    groups = pd.Series(np.arange(len(df))).groupby(df[root_col].to_numpy(), sort=False).indices
    it = groups.values()
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, total=len(groups), desc=f"aggregate {radius_nm / 1000:g} um", unit="object")
    for rows in it:
        rows = np.asarray(rows)
        p = pos[rows]
        n = len(rows)
        tree = cKDTree(p)
        pairs = tree.query_pairs(radius_nm, output_type="ndarray")  # (k, 2), i < j, distance <= r
        i = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
        j = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
        A = sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
        cnt = np.asarray(A.sum(axis=1)).ravel()
        out_E[rows] = (A @ E[rows]) / cnt[:, None]
        counts[rows] = cnt.astype(np.int64)
    # one new block for all embedding columns: assigning them one by one fragments a wide frame (pandas warns)
    aggregated = pd.DataFrame(out_E.astype(df[emb_cols].dtypes.iloc[0]), columns=emb_cols, index=df.index)
    out = pd.concat([df.drop(columns=emb_cols), aggregated], axis=1)[list(df.columns)]
    return out.assign(n_aggregated=counts)
