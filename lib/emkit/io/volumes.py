"""Open any EM volume behind one interface: :func:`open_volume` returns a :class:`Volume`.

Backends
--------
=================================================  ======================================================
URI                                                 backend
=================================================  ======================================================
``precomputed://file:///abs/path``, ``file://``     neuroglancer precomputed through cloud-volume
``gs://``, ``s3://``, ``https://``, ``precomputed://...``
``graphene://https://...``                          CAVE/PyChunkedGraph segmentation through cloud-volume
``zarr://path[#dataset]``, ``*.zarr``               zarr v2 (or OME-zarr multiscales) through tensorstore
``n5://path[#dataset]``, ``*.n5``                   N5 through tensorstore
``h5://path#dataset``, ``*.h5``, ``*.hdf5``         HDF5 through h5py (stack stored (z, y, x))
``tif://path``, ``*.tif``, a folder of ``*.tif``    TIFF stack through tifffile (pages/slices are z)
a numpy array (``ArrayVolume``)                     in-memory (tests, synthetic data)
=================================================  ======================================================

Conventions (CONTRIBUTING.md): coordinates and sizes are (x, y, z); returned arrays are (z, y, x) (multi-channel:
(c, z, y, x)); ``*_nm`` in nanometres, ``*_vox`` in voxels *at the volume's mip*. Voxel coordinates are absolute
(the volume's first voxel is ``offset_vox``, not 0), as in cloud-volume and neuroglancer, so that
``position_nm = position_vox * voxel_size_nm``.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Volume",
    "PrecomputedVolume",
    "TensorstoreVolume",
    "HDF5Volume",
    "TiffVolume",
    "ArrayVolume",
    "open_volume",
    "parse_uri",
]


def _vec3(value, name: str, dtype=float) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype).reshape(-1)
    if arr.shape != (3,):
        raise ValueError(f"{name} must have 3 values (x, y, z), got {value!r}")
    return arr


def _guess_layer_type(dtype: np.dtype) -> str:
    """uint8 / floats are images; wider integers are label volumes (segmentations)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui" and dtype.itemsize >= 2:
        return "segmentation"
    return "image"


class Volume:
    """A 3D (optionally multi-channel) EM volume at one mip level.

    Attributes
    ----------
    uri : str
        Where the data lives (as given to :func:`open_volume`).
    mip : int
        Resolution level; 0 is full resolution.
    voxel_size_nm : np.ndarray, shape (3,), float
        Voxel size (x, y, z) in nm at this mip.
    offset_vox : np.ndarray, shape (3,), int
        First voxel (x, y, z) at this mip.
    shape_vox : np.ndarray, shape (3,), int
        Size (x, y, z) in voxels at this mip.
    chunk_size_vox : np.ndarray | None, shape (3,)
        Storage chunk (x, y, z) at this mip, ``None`` when unchunked.
    dtype : np.dtype
    num_channels : int
    layer_type : str
        ``"image"`` or ``"segmentation"``.
    mip_voxel_sizes_nm : list of np.ndarray (3,)
        Voxel size (x, y, z) nm of every available mip.
    """

    uri: str
    mip: int
    voxel_size_nm: np.ndarray
    offset_vox: np.ndarray
    shape_vox: np.ndarray
    chunk_size_vox: np.ndarray | None
    dtype: np.dtype
    num_channels: int
    layer_type: str
    mip_voxel_sizes_nm: list

    # -- to implement in a backend ------------------------------------------------------------------------------
    def _read(self, start_vox: np.ndarray, stop_vox: np.ndarray) -> np.ndarray:
        """Read an in-bounds box; return (z, y, x) or (c, z, y, x)."""
        raise NotImplementedError

    def at_mip(self, mip: int) -> "Volume":
        """The same volume at another mip level (a new object; this one is unchanged)."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------------------
    @property
    def stop_vox(self) -> np.ndarray:
        """One past the last voxel (x, y, z) at this mip."""
        return self.offset_vox + self.shape_vox

    def bounds_nm(self) -> tuple[np.ndarray, np.ndarray]:
        """(start_nm, stop_nm), each (3,) float (x, y, z): the volume's extent in nm."""
        return (self.offset_vox * self.voxel_size_nm, self.stop_vox * self.voxel_size_nm)

    def bounds_vox(self) -> tuple[np.ndarray, np.ndarray]:
        """(start_vox, stop_vox), each (3,) int (x, y, z) at this mip."""
        return self.offset_vox.copy(), self.stop_vox.copy()

    def nm_to_vox(self, position_nm) -> np.ndarray:
        """Voxel index (x, y, z) at this mip holding the point(s) ``position_nm`` (..., 3) nm (floor)."""
        return np.floor(np.asarray(position_nm, dtype=float) / self.voxel_size_nm + 1e-9).astype(np.int64)

    def vox_to_nm(self, position_vox) -> np.ndarray:
        """nm position (x, y, z) of voxel index(es) ``position_vox`` (..., 3) at this mip."""
        return np.asarray(position_vox, dtype=float) * self.voxel_size_nm

    def _check_box(self, start_vox, stop_vox) -> tuple[np.ndarray, np.ndarray]:
        start = _vec3(start_vox, "start_vox", dtype=float)
        stop = _vec3(stop_vox, "stop_vox", dtype=float)
        if np.any(start != np.round(start)) or np.any(stop != np.round(stop)):
            raise ValueError(f"box start_vox={start.tolist()} stop_vox={stop.tolist()} must be whole voxels")
        start, stop = start.astype(np.int64), stop.astype(np.int64)
        if np.any(stop <= start):
            raise ValueError(f"empty box: start_vox={start.tolist()} stop_vox={stop.tolist()} (x, y, z)")
        lo, hi = self.bounds_vox()
        if np.any(start < lo) or np.any(stop > hi):
            raise ValueError(
                f"box [{start.tolist()}, {stop.tolist()}) voxels (x, y, z) at mip {self.mip} lies outside the bounds "
                f"[{lo.tolist()}, {hi.tolist()}) of {self.uri}; use cutout() for zero-padded reads"
            )
        return start, stop

    def read(self, start_vox, stop_vox) -> np.ndarray:
        """Read the box ``[start_vox, stop_vox)`` (x, y, z voxels at this mip).

        Returns
        -------
        np.ndarray
            (z, y, x) array of ``self.dtype``; (c, z, y, x) when ``num_channels > 1``.

        Raises
        ------
        ValueError
            If the box is empty or not inside the volume (the message names the box and the bounds).
        """
        start, stop = self._check_box(start_vox, stop_vox)
        arr = np.asarray(self._read(start, stop))
        expected = tuple((stop - start)[::-1])
        if arr.shape[-3:] != expected:
            raise RuntimeError(f"{self.uri}: backend returned {arr.shape} for box of (z, y, x) shape {expected}")
        return arr

    def cutout(self, center, shape_vox, *, units: str) -> tuple[np.ndarray, np.ndarray]:
        """A box of ``shape_vox`` voxels around ``center``, zero-padded where it leaves the volume.

        Parameters
        ----------
        center : array-like (3,)
            Centre (x, y, z), in nm (``units="nm"``) or in voxels at this mip (``units="vox"``).
        shape_vox : array-like (3,) int
            Box size (x, y, z) in voxels at this mip. The box starts at ``floor(center_vox) - shape_vox // 2``.
        units : {"nm", "vox"}
            Required keyword: the unit of ``center`` (never guessed).

        Returns
        -------
        array : np.ndarray
            (z, y, x) (or (c, z, y, x)) of ``self.dtype``; 0 outside the volume.
        valid : np.ndarray of bool
            (z, y, x); False where the box lies outside the volume.
        """
        if units not in ("nm", "vox"):
            raise ValueError(f"units must be 'nm' or 'vox', got {units!r}")
        center = _vec3(center, "center", dtype=float)
        if not np.all(np.isfinite(center)):
            raise ValueError(f"cutout center {center.tolist()} ({units}) is not finite")
        shape = _vec3(shape_vox, "shape_vox", dtype=np.int64)
        if np.any(shape <= 0):
            raise ValueError(f"shape_vox must be positive, got {shape.tolist()}")
        center_vox = self.nm_to_vox(center) if units == "nm" else np.floor(center + 1e-9).astype(np.int64)
        start = center_vox - shape // 2
        stop = start + shape
        lo, hi = self.bounds_vox()
        inner_start, inner_stop = np.maximum(start, lo), np.minimum(stop, hi)
        zyx = tuple(shape[::-1])
        out_shape = zyx if self.num_channels == 1 else (self.num_channels, *zyx)
        out = np.zeros(out_shape, dtype=self.dtype)
        valid = np.zeros(zyx, dtype=bool)
        if np.all(inner_stop > inner_start):
            data = self.read(inner_start, inner_stop)
            a, b = inner_start - start, inner_stop - start
            sl = (slice(a[2], b[2]), slice(a[1], b[1]), slice(a[0], b[0]))
            out[(Ellipsis, *sl)] = data
            valid[sl] = True
        return out, valid

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.uri!r}, mip={self.mip}, voxel_size_nm={self.voxel_size_nm.tolist()}, "
            f"offset_vox={self.offset_vox.tolist()}, shape_vox={self.shape_vox.tolist()}, dtype={self.dtype}, "
            f"layer_type={self.layer_type!r})"
        )


# ------------------------------------------------------------------------------------------------------------------
# neuroglancer precomputed / graphene through cloud-volume
# ------------------------------------------------------------------------------------------------------------------
class PrecomputedVolume(Volume):
    """Neuroglancer precomputed (or CAVE graphene) volume read through cloud-volume.

    Parameters
    ----------
    uri : str
        ``precomputed://<cloudpath>``, ``graphene://https://...``, or a bare cloud path (``gs://``, ``s3://``,
        ``https://``, ``file://``).
    mip : int
    fill_missing : bool
        Passed to cloud-volume: False (default) makes a missing chunk an error instead of silent zeros.
    agglomerate : bool
        Graphene only: return root ids (True, default) instead of supervoxel ids.
    timestamp : optional
        Graphene only: the time at which root ids are looked up.
    cv_kwargs : dict
        Extra keyword arguments for ``cloudvolume.CloudVolume`` (``lru_bytes``, ``use_https``, ``secrets``...).
    """

    def __init__(self, uri: str, mip: int = 0, *, fill_missing: bool = False, agglomerate: bool = True,
                 timestamp=None, cv_kwargs: dict | None = None):
        from cloudvolume import CloudVolume  # heavy import, only when used

        self.uri = uri
        self._cloudpath = _cloudvolume_path(uri)
        self._graphene = self._cloudpath.startswith("graphene://")
        self._fill_missing = fill_missing
        self._agglomerate = agglomerate
        self._timestamp = timestamp
        self._cv_kwargs = dict(cv_kwargs or {})
        from cloudvolume.exceptions import ScaleUnavailableError

        try:
            self._cv = CloudVolume(self._cloudpath, mip=int(mip), fill_missing=fill_missing, progress=False,
                                   bounded=True, **self._cv_kwargs)
        except ScaleUnavailableError as err:
            raise ValueError(f"{uri}: mip {mip} not available ({err})") from err
        meta = self._cv.meta
        n_mips = len(meta.scales)
        if not 0 <= int(mip) < n_mips:
            raise ValueError(f"{uri}: mip {mip} not available (mips 0..{n_mips - 1})")
        self.mip = int(mip)
        self.mip_voxel_sizes_nm = [np.asarray(meta.resolution(m), dtype=float) for m in range(n_mips)]
        self.voxel_size_nm = self.mip_voxel_sizes_nm[self.mip]
        self.offset_vox = np.asarray(meta.voxel_offset(self.mip), dtype=np.int64)
        self.shape_vox = np.asarray(meta.volume_size(self.mip), dtype=np.int64)
        chunks = meta.chunk_size(self.mip)
        self.chunk_size_vox = np.asarray(chunks, dtype=np.int64) if chunks is not None else None
        self.dtype = np.dtype(meta.dtype)
        self.num_channels = int(meta.num_channels)
        self.layer_type = str(meta.layer_type)
        self.encoding = meta.encoding(self.mip)

    def at_mip(self, mip: int) -> "PrecomputedVolume":
        return PrecomputedVolume(self.uri, mip, fill_missing=self._fill_missing, agglomerate=self._agglomerate,
                                 timestamp=self._timestamp, cv_kwargs=self._cv_kwargs)

    @property
    def cloudvolume(self):
        """The underlying ``cloudvolume.CloudVolume`` (x, y, z, c indexing)."""
        return self._cv

    def _read(self, start, stop):
        bbox = (slice(start[0], stop[0]), slice(start[1], stop[1]), slice(start[2], stop[2]))
        if self._graphene:
            kw = {"agglomerate": self._agglomerate}
            if self._timestamp is not None:
                kw["timestamp"] = self._timestamp
            from cloudvolume import Bbox

            arr = self._cv.download(Bbox(start, stop), mip=self.mip, **kw)
        else:
            arr = self._cv[bbox]
        arr = np.asarray(arr)  # (x, y, z, c) from cloud-volume
        arr = np.transpose(arr, (3, 2, 1, 0))  # -> (c, z, y, x)
        return arr[0] if self.num_channels == 1 else arr

    def tensorstore_spec(self) -> dict:
        """A spec for ``tensorstore.open`` reading this scale (domain (x, y, z, channel), absolute voxels).

        ``fill_missing_data_reads`` is False so that a missing chunk raises instead of reading zeros
        (ecosystem notes: gzip-written chunks otherwise read silently as zeros).
        """
        if self._graphene:
            raise ValueError(f"{self.uri}: graphene volumes hold supervoxel ids only; tensorstore cannot agglomerate")
        path = self._cloudpath
        if path.startswith("precomputed://"):
            path = path[len("precomputed://"):]
        if path.startswith("file://"):
            kvstore: Any = {"driver": "file", "path": path[len("file://"):]}
        elif path.startswith(("gs://", "s3://", "http://", "https://")):
            kvstore = path
        else:
            raise ValueError(f"{self.uri}: no tensorstore kvstore for this protocol")
        if isinstance(kvstore, str) and not kvstore.endswith("/"):
            kvstore += "/"
        if isinstance(kvstore, dict) and not kvstore["path"].endswith("/"):
            kvstore["path"] += "/"
        return {
            "driver": "neuroglancer_precomputed",
            "kvstore": kvstore,
            "scale_index": self.mip,
            "fill_missing_data_reads": False,
            "recheck_cached_data": "open",
        }

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cv"] = None  # re-opened lazily in the worker (CloudVolume holds thread pools)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        from cloudvolume import CloudVolume

        self._cv = CloudVolume(self._cloudpath, mip=self.mip, fill_missing=self._fill_missing, progress=False,
                               bounded=True, **self._cv_kwargs)


def _cloudvolume_path(uri: str) -> str:
    """Normalise a URI for cloud-volume: bare local paths become ``file://``; ``precomputed://`` is kept."""
    if uri.startswith("graphene://"):
        return uri
    inner = uri[len("precomputed://"):] if uri.startswith("precomputed://") else uri
    if "://" not in inner:
        inner = "file://" + str(Path(inner).resolve())
    return "precomputed://" + inner


# ------------------------------------------------------------------------------------------------------------------
# zarr / n5 through tensorstore
# ------------------------------------------------------------------------------------------------------------------
class TensorstoreVolume(Volume):
    """zarr v2 / N5 array read through tensorstore.

    The stored array is (z, y, x) or (c, z, y, x) (the HDF5/numpy convention). The voxel size comes from
    ``voxel_size_nm=``, else from the attributes: OME-zarr ``multiscales`` (scale transforms, z y x order),
    or ``resolution`` / ``voxel_size_nm`` (x, y, z) attributes. OME-zarr multiscale groups give one mip per dataset.
    """

    def __init__(self, uri: str, mip: int = 0, *, voxel_size_nm=None, offset_vox=None, layer_type: str | None = None,
                 driver: str | None = None, path: str | None = None, dataset: str | None = None):
        self.uri = uri
        kind, path_, dataset_ = parse_uri(uri) if path is None else (driver, path, dataset)
        self._driver = "n5" if kind == "n5" else "zarr"
        self._path = str(path_)
        self._dataset = dataset_ or ""
        self._user_voxel = voxel_size_nm
        self._user_offset = offset_vox
        self._user_layer_type = layer_type
        datasets, scales = self._multiscales()
        if not 0 <= int(mip) < len(datasets):
            raise ValueError(f"{uri}: mip {mip} not available (mips 0..{len(datasets) - 1})")
        self.mip = int(mip)
        self._array_path = datasets[self.mip]
        self._ts = self._open(self._array_path)
        shape = tuple(int(s) for s in self._ts.shape)
        if len(shape) == 3:
            self.num_channels = 1
        elif len(shape) == 4:
            self.num_channels = shape[0]
        else:
            raise ValueError(f"{uri}: expected a 3D (z, y, x) or 4D (c, z, y, x) array, got shape {shape}")
        self.shape_vox = np.asarray(shape[-3:][::-1], dtype=np.int64)
        self.dtype = np.dtype(self._ts.dtype.numpy_dtype)
        chunks = self._ts.chunk_layout.read_chunk.shape
        self.chunk_size_vox = np.asarray(chunks[-3:][::-1], dtype=np.int64) if chunks is not None else None
        if voxel_size_nm is not None:
            base = _vec3(voxel_size_nm, "voxel_size_nm")
            self.mip_voxel_sizes_nm = [base * (s / scales[0]) for s in scales] if scales[0] is not None else [base]
        elif scales[0] is not None:
            self.mip_voxel_sizes_nm = [np.asarray(s, dtype=float) for s in scales]
        else:
            raise ValueError(f"{uri}: no voxel size in the attributes; pass voxel_size_nm=(x, y, z) in nm")
        self.voxel_size_nm = self.mip_voxel_sizes_nm[self.mip]
        self.offset_vox = (_vec3(offset_vox, "offset_vox", np.int64) if offset_vox is not None
                           else np.zeros(3, dtype=np.int64))
        self.layer_type = layer_type or _guess_layer_type(self.dtype)

    def _kvstore(self, sub: str = "") -> dict:
        return {"driver": "file", "path": os.path.join(self._path, sub) if sub else self._path}

    def _attrs(self, sub: str) -> dict:
        import json

        for name in (".zattrs", "attributes.json"):
            p = Path(self._path) / sub / name
            if p.exists():
                return json.loads(p.read_text())
        return {}

    def _multiscales(self) -> tuple[list[str], list]:
        """(dataset path per mip, voxel size (x, y, z) nm per mip or [None])."""
        attrs = self._attrs(self._dataset)
        ms = attrs.get("multiscales")
        if ms:
            paths, scales = [], []
            for ds in ms[0]["datasets"]:
                paths.append(os.path.join(self._dataset, ds["path"]) if self._dataset else ds["path"])
                scale = None
                for tr in ds.get("coordinateTransformations", []):
                    if tr.get("type") == "scale":
                        scale = np.asarray(tr["scale"][-3:][::-1], dtype=float)  # stored z, y, x
                scales.append(scale)
            if any(s is None for s in scales):
                scales = [None]
            return paths, scales
        for key in ("voxel_size_nm", "resolution"):
            if key in attrs:
                return [self._dataset], [np.asarray(attrs[key], dtype=float)]
        return [self._dataset], [None]

    def _open(self, array_path: str):
        import tensorstore as ts

        spec = {"driver": self._driver, "kvstore": self._kvstore(), "path": array_path}
        try:
            return ts.open(spec, read=True).result()
        except Exception as err:  # tensorstore raises ValueError/NotFound variants
            raise FileNotFoundError(f"{self.uri}: cannot open {self._driver} array {array_path!r}: {err}") from err

    def at_mip(self, mip: int) -> "TensorstoreVolume":
        return TensorstoreVolume(self.uri, mip, voxel_size_nm=self._user_voxel, offset_vox=self._user_offset,
                                 layer_type=self._user_layer_type, driver=self._driver, path=self._path,
                                 dataset=self._dataset)

    def _read(self, start, stop):
        a, b = start - self.offset_vox, stop - self.offset_vox
        sl = (slice(a[2], b[2]), slice(a[1], b[1]), slice(a[0], b[0]))
        return self._ts[(Ellipsis, *sl)].read().result()

    def tensorstore_spec(self) -> dict:
        """Spec for ``tensorstore.open`` of this mip's array (domain (z, y, x) or (c, z, y, x), from 0)."""
        return {"driver": self._driver, "kvstore": self._kvstore(), "path": self._array_path}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_ts"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._ts = self._open(self._array_path)


# ------------------------------------------------------------------------------------------------------------------
# HDF5 through h5py
# ------------------------------------------------------------------------------------------------------------------
class HDF5Volume(Volume):
    """A (z, y, x) (or (c, z, y, x)) HDF5 dataset read through h5py; mip 0 only.

    HDF5 files carry no voxel size: pass ``voxel_size_nm=`` (x, y, z) nm (dataset descriptors do this). The file
    is opened per read so the object pickles into DataLoader workers.
    """

    def __init__(self, uri: str, mip: int = 0, *, voxel_size_nm=None, offset_vox=None, layer_type: str | None = None,
                 path: str | None = None, dataset: str | None = None):
        import h5py

        self.uri = uri
        if path is None:
            _, path, dataset = parse_uri(uri)
        if not dataset:
            raise ValueError(f"{uri}: name the HDF5 dataset after '#', e.g. h5://file.h5#raw")
        self._path, self._dataset = str(path), dataset
        if not Path(self._path).exists():
            raise FileNotFoundError(f"{uri}: no such HDF5 file {self._path}")
        if int(mip) != 0:
            raise ValueError(f"{uri}: HDF5 volumes have mip 0 only, got mip={mip}")
        if voxel_size_nm is None:
            raise ValueError(f"{uri}: HDF5 files do not carry a voxel size; pass voxel_size_nm=(x, y, z) in nm")
        with h5py.File(self._path, "r") as f:
            if dataset not in f:
                raise KeyError(f"{uri}: no dataset {dataset!r} in {self._path} (has: {sorted(_h5_datasets(f))})")
            ds = f[dataset]
            shape, self.dtype, chunks = ds.shape, np.dtype(ds.dtype), ds.chunks
        if len(shape) == 3:
            self.num_channels = 1
        elif len(shape) == 4:
            self.num_channels = int(shape[0])
        else:
            raise ValueError(f"{uri}: expected (z, y, x) or (c, z, y, x), got shape {shape}")
        self.mip = 0
        self.voxel_size_nm = _vec3(voxel_size_nm, "voxel_size_nm")
        self.mip_voxel_sizes_nm = [self.voxel_size_nm]
        self.shape_vox = np.asarray(shape[-3:][::-1], dtype=np.int64)
        self.offset_vox = (_vec3(offset_vox, "offset_vox", np.int64) if offset_vox is not None
                           else np.zeros(3, dtype=np.int64))
        self.chunk_size_vox = np.asarray(chunks[-3:][::-1], dtype=np.int64) if chunks else None
        self.layer_type = layer_type or _guess_layer_type(self.dtype)
        self._kw = dict(voxel_size_nm=voxel_size_nm, offset_vox=offset_vox, layer_type=layer_type)

    def at_mip(self, mip: int) -> "HDF5Volume":
        if int(mip) != 0:
            raise ValueError(f"{self.uri}: HDF5 volumes have mip 0 only, got mip={mip}")
        return copy.copy(self)

    def _read(self, start, stop):
        import h5py

        a, b = start - self.offset_vox, stop - self.offset_vox
        with h5py.File(self._path, "r") as f:
            return f[self._dataset][(Ellipsis, slice(a[2], b[2]), slice(a[1], b[1]), slice(a[0], b[0]))]


def _h5_datasets(f) -> list[str]:
    import h5py

    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


# ------------------------------------------------------------------------------------------------------------------
# TIFF stacks through tifffile
# ------------------------------------------------------------------------------------------------------------------
class TiffVolume(Volume):
    """A multi-page TIFF (pages are z) or a folder of single-slice TIFFs (sorted by name = z); mip 0 only.

    A multi-page file is loaded once (memory-mapped where tifffile can); a folder is read slice by slice on demand.
    Pass ``voxel_size_nm=`` (x, y, z) nm.
    """

    def __init__(self, uri: str, mip: int = 0, *, voxel_size_nm=None, offset_vox=None, layer_type: str | None = None,
                 path: str | None = None):
        import tifffile

        self.uri = uri
        if path is None:
            _, path, _ = parse_uri(uri)
        self._path = Path(path)
        if int(mip) != 0:
            raise ValueError(f"{uri}: TIFF volumes have mip 0 only, got mip={mip}")
        if voxel_size_nm is None:
            raise ValueError(f"{uri}: TIFF stacks carry no reliable voxel size; pass voxel_size_nm=(x, y, z) in nm")
        if self._path.is_dir():
            self._files = sorted(p for p in self._path.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
            if not self._files:
                raise FileNotFoundError(f"{uri}: no *.tif / *.tiff slices in folder {self._path}")
            first = tifffile.imread(self._files[0])
            if first.ndim != 2:
                raise ValueError(f"{uri}: slice {self._files[0].name} has shape {first.shape}, expected (y, x)")
            zyx = (len(self._files), *first.shape)
            self.dtype = first.dtype
            self._stack = None
        elif self._path.exists():
            self._files = None
            try:
                self._stack = tifffile.memmap(self._path, mode="r")
            except Exception:  # compressed/tiled files cannot be memory-mapped
                self._stack = tifffile.imread(self._path)
            if self._stack.ndim == 2:
                self._stack = self._stack[None]
            if self._stack.ndim != 3:
                raise ValueError(f"{uri}: expected a (z, y, x) stack, got shape {self._stack.shape}")
            zyx = self._stack.shape
            self.dtype = self._stack.dtype
        else:
            raise FileNotFoundError(f"{uri}: no such TIFF file or folder {self._path}")
        self.dtype = np.dtype(self.dtype)
        self.mip, self.num_channels = 0, 1
        self.voxel_size_nm = _vec3(voxel_size_nm, "voxel_size_nm")
        self.mip_voxel_sizes_nm = [self.voxel_size_nm]
        self.shape_vox = np.asarray(zyx[::-1], dtype=np.int64)
        self.offset_vox = (_vec3(offset_vox, "offset_vox", np.int64) if offset_vox is not None
                           else np.zeros(3, dtype=np.int64))
        self.chunk_size_vox = np.asarray([zyx[2], zyx[1], 1], dtype=np.int64) if self._files else None
        self.layer_type = layer_type or _guess_layer_type(self.dtype)

    def at_mip(self, mip: int) -> "TiffVolume":
        if int(mip) != 0:
            raise ValueError(f"{self.uri}: TIFF volumes have mip 0 only, got mip={mip}")
        return copy.copy(self)

    def _read(self, start, stop):
        import tifffile

        a, b = start - self.offset_vox, stop - self.offset_vox
        if self._stack is not None:
            return np.array(self._stack[a[2]:b[2], a[1]:b[1], a[0]:b[0]])
        return np.stack([tifffile.imread(f)[a[1]:b[1], a[0]:b[0]] for f in self._files[a[2]:b[2]]])


# ------------------------------------------------------------------------------------------------------------------
# in-memory
# ------------------------------------------------------------------------------------------------------------------
class ArrayVolume(Volume):
    """A numpy array (z, y, x) or (c, z, y, x) as a Volume (tests, synthetic data, small real samples in memory)."""

    def __init__(self, array: np.ndarray, voxel_size_nm, *, offset_vox=(0, 0, 0), layer_type: str | None = None,
                 uri: str = "array://", chunk_size_vox=None):
        arr = np.asarray(array)
        if arr.ndim not in (3, 4):
            raise ValueError(f"ArrayVolume needs (z, y, x) or (c, z, y, x), got shape {arr.shape}")
        self._array = arr
        self.uri = uri
        self.mip = 0
        self.num_channels = 1 if arr.ndim == 3 else arr.shape[0]
        self.voxel_size_nm = _vec3(voxel_size_nm, "voxel_size_nm")
        self.mip_voxel_sizes_nm = [self.voxel_size_nm]
        self.offset_vox = _vec3(offset_vox, "offset_vox", np.int64)
        self.shape_vox = np.asarray(arr.shape[-3:][::-1], dtype=np.int64)
        self.chunk_size_vox = None if chunk_size_vox is None else _vec3(chunk_size_vox, "chunk_size_vox", np.int64)
        self.dtype = arr.dtype
        self.layer_type = layer_type or _guess_layer_type(arr.dtype)

    def at_mip(self, mip: int) -> "ArrayVolume":
        if int(mip) != 0:
            raise ValueError(f"{self.uri}: in-memory volumes have mip 0 only, got mip={mip}")
        return self

    def _read(self, start, stop):
        a, b = start - self.offset_vox, stop - self.offset_vox
        return self._array[..., a[2]:b[2], a[1]:b[1], a[0]:b[0]].copy()


# ------------------------------------------------------------------------------------------------------------------
# dispatch
# ------------------------------------------------------------------------------------------------------------------
_SCHEMES = {
    "precomputed": "precomputed", "graphene": "precomputed", "gs": "precomputed", "s3": "precomputed",
    "http": "precomputed", "https": "precomputed", "file": "precomputed",
    "zarr": "zarr", "zarr2": "zarr", "n5": "n5", "h5": "h5", "hdf5": "h5", "tif": "tiff", "tiff": "tiff",
}


def parse_uri(uri: str) -> tuple[str, str, str | None]:
    """Split a volume URI into (backend, location, dataset).

    backend is one of ``precomputed``, ``zarr``, ``n5``, ``h5``, ``tiff``; location is a local path (for
    zarr/n5/h5/tiff) or the cloud-volume path (for precomputed); dataset is the part after ``#`` (or None).

    Raises
    ------
    ValueError
        For a scheme no backend handles (the message lists the supported ones).
    """
    uri = str(uri)
    dataset = None
    m = re.match(r"^([a-zA-Z0-9]+)://(.*)$", uri)
    if m:
        scheme, rest = m.group(1).lower(), m.group(2)
        if scheme not in _SCHEMES:
            raise ValueError(f"unknown volume scheme {scheme!r} in {uri!r}; supported: {sorted(_SCHEMES)}")
        kind = _SCHEMES[scheme]
        if kind == "precomputed":
            return kind, uri, None
        if rest.startswith("file://"):
            rest = rest[len("file://"):]
        if "#" in rest:
            rest, dataset = rest.split("#", 1)
        return kind, rest, dataset or None
    path = uri
    if "#" in path:
        path, dataset = path.split("#", 1)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        return "h5", path, dataset
    if suffix == ".zarr":
        return "zarr", path, dataset
    if suffix == ".n5":
        return "n5", path, dataset
    if suffix in (".tif", ".tiff"):
        return "tiff", path, None
    if p.is_dir():
        if (p / "info").exists():
            return "precomputed", path, None
        if (p / ".zarray").exists() or (p / ".zgroup").exists():
            return "zarr", path, dataset
        if (p / "attributes.json").exists():
            return "n5", path, dataset
        if any(c.suffix.lower() in (".tif", ".tiff") for c in p.iterdir()):
            return "tiff", path, None
    raise ValueError(
        f"cannot tell the format of {uri!r}: use a scheme (precomputed://, graphene://, gs://, zarr://, n5://, "
        "h5://path#dataset, tif://) or a known extension (.h5, .zarr, .n5, .tif)"
    )


def open_volume(uri, mip: int = 0, **kw) -> Volume:
    """Open an EM volume (image or segmentation) at one mip.

    Parameters
    ----------
    uri : str or np.ndarray
        See the module docstring for the schemes. A numpy array (z, y, x) gives an :class:`ArrayVolume`
        (``voxel_size_nm=`` required).
    mip : int
        Resolution level (0 = full resolution).
    **kw
        ``voxel_size_nm`` (x, y, z) nm — required for HDF5/TIFF/arrays, overrides zarr attributes;
        ``offset_vox`` (x, y, z) — first voxel for HDF5/TIFF/zarr (default 0);
        ``layer_type`` — "image"/"segmentation" (guessed from the dtype otherwise);
        precomputed/graphene: ``fill_missing``, ``agglomerate``, ``timestamp``, ``cv_kwargs``.

    Returns
    -------
    Volume

    Examples
    --------
    >>> vol = open_volume("h5:///data/snemi3d_ac4_train.h5#raw", voxel_size_nm=(6, 6, 30))  # doctest: +SKIP
    >>> arr, valid = vol.cutout((3000, 3000, 1500), (64, 64, 16), units="nm")                # doctest: +SKIP
    """
    if isinstance(uri, np.ndarray):
        if "voxel_size_nm" not in kw:
            raise ValueError("open_volume(array): pass voxel_size_nm=(x, y, z) in nm")
        return ArrayVolume(uri, **kw)
    if isinstance(uri, os.PathLike):
        uri = os.fspath(uri)
    kind, location, dataset = parse_uri(uri)
    if kind == "precomputed":
        unknown = set(kw) - {"fill_missing", "agglomerate", "timestamp", "cv_kwargs", "voxel_size_nm", "layer_type"}
        if unknown:
            raise TypeError(f"open_volume({uri!r}): unexpected keyword(s) {sorted(unknown)} for precomputed")
        vsize = kw.pop("voxel_size_nm", None)
        kw.pop("layer_type", None)
        vol = PrecomputedVolume(uri, mip, **kw)
        if vsize is not None and not np.allclose(_vec3(vsize, "voxel_size_nm"), vol.mip_voxel_sizes_nm[0]):
            raise ValueError(
                f"{uri}: voxel_size_nm={list(vsize)} given but the info file says "
                f"{vol.mip_voxel_sizes_nm[0].tolist()} at mip 0"
            )
        return vol
    if kind in ("zarr", "n5"):
        return TensorstoreVolume(uri, mip, driver=kind, path=location, dataset=dataset, **kw)
    if kind == "h5":
        return HDF5Volume(uri, mip, path=location, dataset=dataset, **kw)
    if kind == "tiff":
        return TiffVolume(uri, mip, path=location, **kw)
    raise ValueError(f"no backend for {uri!r}")  # pragma: no cover
