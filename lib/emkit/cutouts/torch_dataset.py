"""A torch ``Dataset`` over cutouts: reads the zarr cache, or cuts on the fly when a point is not cached."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from emkit.io.points import check_points

from .cache import as_cache, dataset_cache_name
from .engine import _compute_batch, _Context, _roles_for, extract_cutouts
from .spec import CutoutSpec


class CutoutDataset(Dataset):
    """Cutouts of ``spec`` around the rows of ``points``, one sample per row.

    Parameters
    ----------
    dataset : ``emkit.io.datasets.Dataset`` (or any object with ``name`` and ``volume(layer, mip=0)``).
    points : DataFrame in the point schema (``id``, ``x_nm``, ``y_nm``, ``z_nm``, optional ``label``, ...).
    spec : CutoutSpec
    cache : CutoutCache, path, True or None
        With a cache and ``precompute=True`` (default) the missing cutouts are computed once, batched, on
        construction; samples are then read from the cache. Without a cache every sample is cut on the fly.
    precompute : bool
        Fill the cache on construction (fast, batched, resumable).
    label_column : str
        Column returned as ``label`` (``""`` when the table has none).
    in_memory : bool
        Hold every cutout of ``points`` in RAM, read (or computed) once, batched, on construction: for training
        sets that fit and are read every epoch. ``benchmarks/bench_loader.py`` on 2 CPU cores: a shuffled batch
        of 64 of the book's 40x40x6 views took 12.5-16 ms to read item by item from the zarr cache and 0.85 ms
        held in memory (the SSL chapter's 64x64x8 cubes: 16-24 ms and 1.7-1.9 ms), beside ~55 ms for one
        supervised step of the book's encoder. Each DataLoader worker holds its own copy.

    Each item is ``dict(x=tensor (C, D, H, W) float32, id=int, label=..., valid=tensor (D, H, W) bool,
    at_border=bool)``.
    """

    def __init__(self, dataset, points: pd.DataFrame, spec: CutoutSpec, *, cache=None, precompute: bool = True,
                 label_column: str = "label", progress: bool = True, in_memory: bool = False):
        self.dataset = dataset
        self.points = points.reset_index(drop=True)
        self.spec = spec
        self.cache = as_cache(cache)
        self.label_column = label_column
        # per-item lookups read these arrays, not a pandas row (``iloc`` cost ~0.1 ms per item)
        self._ids = self.points["id"].to_numpy(np.int64)
        self._labels = self.points[label_column].to_numpy() if label_column in self.points.columns else None
        self._table = points.attrs.get("name", "points")
        check_points(self.points, dataset.volume(spec.layer_name(_roles_for(spec, self.points)[0]), 0),
                     name=self._table, on_outside="raise")
        self._store = None
        self._held = None  # (x, valid, at_border) of every row when in_memory
        self._ctx = None  # readers for on-the-fly cutouts, opened lazily once per process
        if in_memory:
            held = extract_cutouts(dataset, self.points, spec, cache=self.cache, load=True, progress=progress)
            self._held = (held.x, held.valid, held.at_border)
        elif self.cache is not None:
            if precompute:
                extract_cutouts(dataset, self.points, spec, cache=self.cache, load=False, progress=progress)
            self._store = self.cache.store(dataset_cache_name(dataset), spec)

    def __getstate__(self):  # DataLoader workers reopen their own readers (tensorstore handles do not pickle)
        state = self.__dict__.copy()
        state["_ctx"] = None
        return state

    def __len__(self) -> int:
        return len(self.points)

    def _label(self, index: int):
        if self._labels is None:
            return ""
        v = self._labels[index]
        if v is None or (np.isscalar(v) and pd.isna(v)):
            return ""  # default_collate cannot batch None
        return v.item() if isinstance(v, np.generic) else v

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        pid = int(self._ids[index])
        if self._held is not None:  # copies, so that a caller changing an item in place cannot change the set
            x, valid, border = self._held[0][index].copy(), self._held[1][index].copy(), self._held[2][index]
        elif self._store is not None and pid in self._store:
            x, valid, border = self._store.read_one(pid)
        else:
            if self._ctx is None:
                self._ctx = _Context(self.dataset, self.spec, "auto", 1, True, _roles_for(self.spec, self.points))
            xb, vb = _compute_batch(self._ctx, self.points.iloc[[index]], np.array([index]), self._table)
            x, valid, border = xb[0], vb[0], not bool(vb[0].all())
        return {"x": torch.from_numpy(np.ascontiguousarray(x)), "id": pid, "label": self._label(index),
                "valid": torch.from_numpy(np.ascontiguousarray(valid)), "at_border": bool(border)}


def make_loader(dataset: CutoutDataset, *, batch_size: int = 8, shuffle: bool = False, num_workers: int = 0,
                pin_memory: bool | None = None, seed: int = 0, drop_last: bool = False, **kwargs) -> DataLoader:
    """A ``DataLoader`` over a :class:`CutoutDataset`: batches ``x`` (B, C, D, H, W), ``id`` (B,), ``label``.

    ``pin_memory`` defaults to ``torch.cuda.is_available()``; shuffling is seeded (``seed``) so runs repeat;
    with ``num_workers > 0`` workers are persistent and start from a ``forkserver`` (tensorstore forbids fork()
    after its threads started), so each worker pays one import (~2-4 s) once.
    """
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    if num_workers > 0:
        kwargs.setdefault("persistent_workers", True)
        # tensorstore aborts a fork() after its threads started: workers come from a clean forkserver instead
        import multiprocessing as mp

        kwargs.setdefault("multiprocessing_context",
                          "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      pin_memory=pin_memory, generator=gen, drop_last=drop_last, **kwargs)


def dataset_from_descriptor(dataset: str = "synthetic", table: str = "synapses", *, kind: str = "synapse_cube",
                            shape_vox=(56, 56, 12), voxel_size_nm=(10.0, 10.0, 40.0),
                            dataset_params: dict | None = None,
                            label_column: str = "label", cache=True, center: str = "cleft",
                            in_memory: bool = False, **spec_kwargs) -> CutoutDataset:
    """A :class:`CutoutDataset` named entirely by plain values — what a training config file's ``data:`` section
    points at (``factory: "emkit.cutouts.torch_dataset:dataset_from_descriptor"``), so ``torchrun`` workers can
    build it themselves.

    Parameters
    ----------
    dataset : str
        Dataset descriptor name or path (``emkit.io.datasets.open_dataset``).
    table : str
        Points table of the dataset.
    kind : {"synapse_cube", "object", "soma"}
        Which spec factory (:mod:`emkit.cutouts.spec`).
    shape_vox, voxel_size_nm : (x, y, z)
        Output shape (voxels) and voxel size (nm) of the cutouts (ignored for ``soma``, which takes
        ``radius_um``/``mip`` in ``spec_kwargs``).
    dataset_params : dict
        Descriptor parameters, e.g. ``{"size": "default", "seed": 0}``.
    label_column, cache, in_memory
        See :class:`CutoutDataset`.
    center : {"cleft", "pre", "post"}
        Where synapse cutouts are centred (:func:`emkit.io.points.centred_on`); ``pre`` puts the vesicle cloud
        in the middle.
    """
    from emkit.io.datasets import open_dataset
    from emkit.io.points import centred_on

    from .spec import object_spec, soma_spec, synapse_cube_spec

    ds = open_dataset(dataset, **(dataset_params or {}))
    if kind == "synapse_cube":
        spec = synapse_cube_spec(tuple(shape_vox), tuple(voxel_size_nm), **spec_kwargs)
    elif kind == "object":
        spec = object_spec(tuple(shape_vox), tuple(voxel_size_nm), **spec_kwargs)
    elif kind == "soma":
        spec = soma_spec(**spec_kwargs)
    else:
        raise ValueError(f"unknown cutout kind {kind!r}; use synapse_cube, object or soma")
    points = centred_on(ds.points(table), center, name=f"{dataset}/{table}")
    return CutoutDataset(ds, points, spec, cache=cache, label_column=label_column, in_memory=in_memory)
