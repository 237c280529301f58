"""Batched 3D cutouts around points: specs, the chunk-grouped engine, the zarr cache, the torch Dataset.

>>> from emkit.cutouts import extract_cutouts, synapse_cube_spec
>>> cut = extract_cutouts(dataset, synapses, synapse_cube_spec((32, 32, 32), (16, 16, 16)), cache=True)
>>> cut.x.shape   # (N, 3, 32, 32, 32) float32: raw, presynaptic mask, cleft mask

Datasets, volumes and point checks come from ``emkit.io`` (``open_dataset``, ``Volume``, ``check_points``).
Coordinates are (x, y, z) (``_nm`` / ``_vox``); arrays (z, y, x); tensors (N, C, D, H, W).
"""

from .cache import CutoutCache, SpecStore, as_cache
from .engine import Cutouts, extract_cutouts
from .spec import (CHANNELS, DEFAULT_LAYERS, ENGINE_VERSION, CutoutSpec, object_spec, soma_spec,
                   synapse_cube_spec)


def __getattr__(name):  # torch is heavy: import the Dataset lazily
    if name in ("CutoutDataset", "make_loader"):
        from . import torch_dataset

        return getattr(torch_dataset, name)
    raise AttributeError(name)


__all__ = ["CutoutSpec", "synapse_cube_spec", "object_spec", "soma_spec", "CHANNELS", "DEFAULT_LAYERS",
           "ENGINE_VERSION", "extract_cutouts", "Cutouts", "CutoutCache", "SpecStore", "as_cache", "CutoutDataset",
           "make_loader"]
