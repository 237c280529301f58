"""On-disk cutout cache: zarr (v2) arrays keyed by dataset name + spec key + point id.

Layout under the cache root::

    <root>/<dataset name>/<spec.key()>/      a zarr group (attrs: the spec, the dataset name)
        x       float32 (rows, C, D, H, W), one chunk per cutout
        valid   bool    (rows, D, H, W)
        border  bool    (rows,)
        ids     int64   (rows,)  -- the "done" index, written LAST for each batch

A batch is appended by writing ``x``/``valid``/``border`` rows first and the ``ids`` rows last, so an interrupted
run leaves at most unreferenced rows (fill value -1 in ``ids``), never an id pointing at a half-written cutout;
the next run appends after the last id and computes only the missing ids. One writer at a time per spec.

A cached cutout is found by point id alone: if a table changes the position of an existing id, use another
cache folder (or delete ``<root>/<dataset>/<spec key>``). Generated worlds add their fingerprint to the dataset
part of the key (:func:`dataset_cache_name`), so a regenerated world never reads old cutouts.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import zarr
from numcodecs import Blosc

from .spec import CutoutSpec

_COMPRESSOR = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "dataset"


class SpecStore:
    """The cached cutouts of one (dataset, spec) pair."""

    def __init__(self, path: Path, dataset_name: str, spec: CutoutSpec):
        self.path = Path(path)
        self.spec = spec
        self.group = zarr.open_group(str(self.path), mode="a")
        if "spec" not in self.group.attrs:
            self.group.attrs.update({"spec": asdict(spec), "spec_key": spec.key(), "dataset": dataset_name})
        self._done: dict[int, int] | None = None
        # zarr arrays opened once: ``group[name]`` re-reads the array's metadata from disk on every call. With that
        # and the id lookup no longer copying the id map, a shuffled batch of 64 of the book's 40x40x6 views read in
        # 9.7 ms instead of 23 ms (2 CPU cores, the same script before and after the change)
        self._arrays: dict[str, zarr.Array] = {}

    def _array(self, name: str) -> zarr.Array:
        if name not in self._arrays:
            self._arrays[name] = self.group[name]
        return self._arrays[name]

    # ---------------------------------------------------------------- reading
    def _done_rows(self) -> dict[int, int]:
        """Point id -> row of every completed cutout (the store's own mapping: do not modify)."""
        if self._done is None:
            if "ids" not in self.group:
                self._done = {}
            else:
                ids = self.group["ids"][:]
                self._done = {int(v): r for r, v in enumerate(ids) if v != -1}
        return self._done

    def done(self) -> dict[int, int]:
        """Mapping point id -> row of every completed cutout (a copy)."""
        return dict(self._done_rows())

    def __len__(self) -> int:
        return len(self._done_rows())

    def __contains__(self, point_id) -> bool:
        return int(point_id) in self._done_rows()

    def _rows(self, ids) -> np.ndarray:
        done = self._done_rows()
        try:
            return np.array([done[int(i)] for i in ids], dtype=np.int64)
        except KeyError as err:
            raise KeyError(f"id {err.args[0]} is not in the cutout cache {self.path}") from None

    def read(self, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cached cutouts for ``ids``: x (n, C, D, H, W) float32, valid (n, D, H, W) bool, border (n,) bool."""
        rows = self._rows(ids)
        uniq, inverse = np.unique(rows, return_inverse=True)
        x = self._array("x").get_orthogonal_selection((uniq,))[inverse]
        v = self._array("valid").get_orthogonal_selection((uniq,))[inverse]
        b = self._array("border").get_orthogonal_selection((uniq,))[inverse]
        return x, v, b

    def read_one(self, point_id) -> tuple[np.ndarray, np.ndarray, bool]:
        """One cached cutout: x (C, D, H, W), valid (D, H, W), at_border."""
        r = self._rows([point_id])[0]
        return self._array("x")[r], self._array("valid")[r], bool(self._array("border")[r])

    def read_border(self, ids) -> np.ndarray:
        return self._array("border").get_orthogonal_selection((self._rows(ids),))

    # ---------------------------------------------------------------- writing
    def append(self, ids, x: np.ndarray, valid: np.ndarray, border: np.ndarray) -> None:
        """Append one batch: ``x`` (b, C, D, H, W), ``valid`` (b, D, H, W), ``border`` (b,), ids (b,) last."""
        ids = np.asarray(ids, dtype=np.int64)
        b = len(ids)
        g = self.group
        self._arrays.clear()  # shapes change below: readers reopen the arrays
        if "ids" not in g:
            g.create_dataset("x", shape=(0, *x.shape[1:]), chunks=(1, *x.shape[1:]), dtype="f4",
                             compressor=_COMPRESSOR)
            g.create_dataset("valid", shape=(0, *valid.shape[1:]), chunks=(1, *valid.shape[1:]), dtype=bool,
                             compressor=_COMPRESSOR)
            g.create_dataset("border", shape=(0,), chunks=(4096,), dtype=bool)
            g.create_dataset("ids", shape=(0,), chunks=(4096,), dtype="i8", fill_value=-1)
        if tuple(g["x"].shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(f"cache {self.path}: cutout shape {x.shape[1:]} != stored {g['x'].shape[1:]}")
        n = g["ids"].shape[0]
        for name, arr in (("x", x), ("valid", valid), ("border", border)):
            if g[name].shape[0] < n + b:
                g[name].resize(n + b, *g[name].shape[1:])
            g[name][n:n + b] = arr
        g["ids"].resize(n + b)
        g["ids"][n:n + b] = ids  # the commit point: these ids are now "done"
        if self._done is not None:
            self._done.update({int(v): n + k for k, v in enumerate(ids)})


class CutoutCache:
    """A folder of cached cutouts, one zarr group per (dataset name, spec key).

    Parameters
    ----------
    root : path or None
        Cache folder; ``None`` uses ``emkit.paths.data_dir() / "cutout_cache"``.
    """

    def __init__(self, root=None):
        if root is None:
            from emkit.paths import data_dir

            root = data_dir() / "cutout_cache"
        self.root = Path(root)

    def path_for(self, dataset_name: str, spec: CutoutSpec) -> Path:
        return self.root / _safe(dataset_name) / spec.key()

    def store(self, dataset_name: str, spec: CutoutSpec) -> SpecStore:
        """The :class:`SpecStore` for this dataset and spec (created on first use)."""
        return SpecStore(self.path_for(dataset_name, spec), dataset_name, spec)

    def __repr__(self) -> str:
        return f"CutoutCache({str(self.root)!r})"


def dataset_cache_name(dataset) -> str:
    """The dataset part of the cache key: ``name``, its parameters (size, seed, ...) and, for generated data, the
    generator's fingerprint (``<root>/COMPLETE``), so two worlds never share cached cutouts."""
    name = str(getattr(dataset, "name", "dataset"))
    params = getattr(dataset, "params", None) or {}
    if params:
        name += "-" + "_".join(f"{k}{v}" for k, v in sorted(params.items()))
    root = getattr(dataset, "root", None)
    if root is not None and (Path(root) / "COMPLETE").exists():
        name += "-" + (Path(root) / "COMPLETE").read_text().strip()[:12]
    return _safe(name)


def as_cache(cache) -> CutoutCache | None:
    """``None`` → no cache; ``True`` → the default folder; a path → CutoutCache(path); a CutoutCache as is."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return CutoutCache()
    if isinstance(cache, CutoutCache):
        return cache
    return CutoutCache(cache)
