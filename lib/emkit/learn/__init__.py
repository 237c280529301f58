"""Learn embeddings of 3D EM cutouts without labels, export them, and the supervised reference.

- :mod:`~emkit.learn.models`: 3D ResNet-18/34/50 and slim encoders (anisotropy-aware stem), heads, MLPClassifier.
- :mod:`~emkit.learn.losses`: NT-Xent (SimCLR), SimSiam, SwAV (swapped prediction with Sinkhorn-Knopp codes).
- :mod:`~emkit.learn.augment`: batched, device-side EM augmentations.
- :mod:`~emkit.learn.pairs`: SegCLR-style positive pairs (two cutouts of one object).
- :mod:`~emkit.learn.objectives`: SimCLR, SimSiam, SwAV and supervised objectives (encoder + heads -> loss).
- :mod:`~emkit.learn.batches`: collating cutout samples, dropping invalid ones, a random dataset for tests.
- :mod:`~emkit.learn.train`: the one training loop (CPU / GPU / DDP), ``train_ssl``, ``train_supervised``.
- :mod:`~emkit.learn.export`: ``embed``, parquet storage, SegCLR radius aggregation.
- :mod:`~emkit.learn.segclr`: reader for the published SegCLR CSV-in-ZIP embedding releases.
- :mod:`~emkit.learn.allocator`: glibc malloc thresholds that make CPU training and embedding ~1.1-1.25x faster.

Names are imported lazily (PEP 562) so that ``python -m emkit.learn.train`` does not import ``train`` twice.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AugmentConfig": "augment", "EMAugment": "augment",
    "aggregate_embeddings": "export", "embed": "export", "read_embeddings": "export", "write_embeddings": "export",
    "NTXent": "losses", "nt_xent": "losses", "simsiam_loss": "losses", "sinkhorn_knopp": "losses",
    "swav_loss": "losses",
    "MLPClassifier": "models", "ProjectionHead": "models", "ResNet3d": "models", "build_encoder": "models",
    "SameObjectPairs": "pairs",
    "SegCLRReader": "segclr", "read_segclr_zip": "segclr",
    "TrainConfig": "train", "fit": "train", "train_ssl": "train", "train_supervised": "train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
