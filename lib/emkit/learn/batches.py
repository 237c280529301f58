"""Batches of cutouts for training and embedding: collation, per-sample validity, and a random dataset for tests.

A sample is a dict ``{"x": float32 (C, D, H, W), "id": int, "label": ..., "valid": bool or (D, H, W) bool}``
(:class:`emkit.cutouts.CutoutDataset`); samples that are not valid are dropped from the batch before a step.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["collate_cutouts", "sample_valid", "select_samples", "RandomCutoutDataset"]


def collate_cutouts(samples: list[dict]) -> dict:
    """Collate cutout dicts (``emkit.cutouts.CutoutDataset`` items or alike) into a batch.

    ``x`` is stacked to ``(N, C, D, H, W)`` float32 and ``id`` to int64; other tensors / arrays of equal shape are
    stacked (``valid`` (D, H, W) -> (N, D, H, W)); bools and numbers become tensors; anything else (string labels,
    None) stays a list.
    """
    if not samples:
        raise ValueError("empty batch")
    out: dict[str, Any] = {}
    for key in samples[0]:
        vals = [s.get(key) for s in samples]
        if key == "x":
            out[key] = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in vals])
        elif key == "id":
            out[key] = torch.as_tensor([int(v) for v in vals], dtype=torch.int64)
        elif all(isinstance(v, (torch.Tensor, np.ndarray)) for v in vals) and len({tuple(v.shape) for v in vals}) == 1:
            out[key] = torch.stack([torch.as_tensor(v) for v in vals])
        elif all(isinstance(v, (bool, np.bool_)) for v in vals):
            out[key] = torch.as_tensor([bool(v) for v in vals], dtype=torch.bool)
        elif all(isinstance(v, (int, float, np.integer, np.floating)) for v in vals):
            out[key] = torch.as_tensor(np.asarray(vals))
        else:
            out[key] = vals
    return out


def sample_valid(batch: dict, min_valid_fraction: float = 0.0) -> torch.Tensor | None:
    """Per-sample validity ``(N,)`` bool from ``batch["valid"]``, or None when the batch has no ``valid``.

    ``valid`` may be per sample ``(N,)`` or per voxel ``(N, D, H, W)`` (True inside the volume, as
    ``emkit.cutouts`` yields it); a per-voxel sample counts as valid when more than ``min_valid_fraction`` of its
    voxels are valid (default: at least one).
    """
    v = batch.get("valid")
    if v is None:
        return None
    v = torch.as_tensor(v)
    if v.ndim <= 1:
        return v.reshape(-1).bool()
    return v.reshape(v.shape[0], -1).float().mean(dim=1) > float(min_valid_fraction)


def select_samples(batch: dict, keep: torch.Tensor) -> dict:
    """The samples of ``batch`` where ``keep`` ``(N,)`` bool is True: per-sample tensors and lists are indexed,
    anything else is kept as it is."""
    idx = torch.nonzero(keep).flatten()
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor) and v.shape[:1] == keep.shape:
            out[k] = v[idx]
        elif isinstance(v, list) and len(v) == len(keep):
            out[k] = [v[i] for i in idx.tolist()]
        else:
            out[k] = v
    return out


class RandomCutoutDataset(Dataset):
    """Deterministic random cutouts for tests, benchmarks and smoke runs.

    Sample ``i`` is drawn from ``torch.Generator().manual_seed(seed + i)``: ``x`` ``(C, D, H, W)`` float32 with raw
    channel 0 ~ N(0, 1) and binary masks in the other channels, ``id = 1000 + i``, ``label = i % n_classes``.
    """

    def __init__(self, n: int = 32, shape: Sequence[int] = (1, 16, 16, 16), n_classes: int = 2, seed: int = 0):
        self.n, self.shape, self.n_classes, self.seed = int(n), tuple(int(s) for s in shape), int(n_classes), seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(self.seed + int(i))
        x = torch.randn(self.shape, generator=g)
        if self.shape[0] > 1:
            x[1:] = (x[1:] > 0.5).float()
        return {"x": x, "id": 1000 + int(i), "label": int(i) % self.n_classes, "valid": True}
