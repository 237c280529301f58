"""Cutout specifications: what a 3D cutout around a point contains, at which voxel size and shape.

A :class:`CutoutSpec` is a small frozen dataclass; its :meth:`CutoutSpec.key` is a stable hash of every field
(plus :data:`ENGINE_VERSION`), used by the on-disk cache so that a changed spec never reads stale cutouts.

Coordinates follow the project conventions: tuples are (x, y, z); arrays are (z, y, x); tensors are
(N, C, D, H, W) = (N, C, z, y, x).

Channel names (the building blocks of every spec)
-------------------------------------------------
``raw``          EM intensity (layer ``raw``), linear interpolation, normalised by ``normalization``.
``pre_mask``     presynaptic side of a synapse, 0/1: the ``pre_root_id`` object of the ``cells`` layer when the
                 table gives partners, else the cells segment touching the cleft that overlaps the ``vesicles``
                 layer most (vesicle-cloud rule of the synapse SimCLR seed, seed 003).
``cleft_mask``   the cleft of this synapse, 0/1: the ``clefts`` segment nearest the cutout centre.
``object_mask``  the ``root_id`` object of the ``cells`` layer, 0/1 (SegCLR, Dorkenwald et al. 2023).
``masked_raw``   normalised raw multiplied by ``object_mask`` (SegCLR's masked input).
``cell_mask``    the ``root_id`` object of the ``cells`` layer, 0/1 (soma cutouts, Elabbady et al. 2024).
``nucleus_mask`` the ``nuclei`` segment at (or nearest to) the centre, 0/1 (Elabbady et al. 2024).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

#: Bumped whenever the engine's output for the same spec changes (invalidates cache entries).
ENGINE_VERSION = 1

#: Logical layer roles and the dataset layer names they map to by default (override with ``CutoutSpec.layers``).
DEFAULT_LAYERS: dict[str, str] = {
    "raw": "em",
    "cells": "cells",
    "clefts": "clefts",
    "vesicles": "vesicles",
    "nuclei": "nuclei",
}

#: channel name -> logical layer roles it reads (pre_mask's vesicles/clefts are read only when needed).
CHANNELS: dict[str, tuple[str, ...]] = {
    "raw": ("raw",),
    "pre_mask": ("cells", "clefts", "vesicles"),
    "cleft_mask": ("clefts",),
    "object_mask": ("cells",),
    "masked_raw": ("raw", "cells"),
    "cell_mask": ("cells",),
    "nucleus_mask": ("nuclei",),
}

NORMALIZATIONS = ("unit", "zscore", "none")


def _triple(value, name: str, *, integer: bool = False) -> tuple | None:
    if value is None:
        return None
    if np.isscalar(value):
        value = (value, value, value)
    value = tuple(value)
    if len(value) != 3:
        raise ValueError(f"{name} must be a number or an (x, y, z) triple, got {value!r}")
    if integer:
        out = tuple(int(v) for v in value)
        if any(v <= 0 for v in out) or any(float(v) != float(o) for v, o in zip(value, out)):
            raise ValueError(f"{name} must be positive integers, got {value!r}")
        return out
    out = tuple(float(v) for v in value)
    if any(not np.isfinite(v) or v <= 0 for v in out):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return out


@dataclass(frozen=True)
class CutoutSpec:
    """What to cut around each point.

    Parameters
    ----------
    shape_vox : (x, y, z) ints or None
        Output size in target voxels. ``None`` requires ``extent_nm``.
    voxel_size_nm : (x, y, z) floats or None
        Target voxel size in nm. ``None``: the native voxel size of the source mip (``mip`` must then be set).
    channels : tuple of str
        Channel names, see the module docstring; the order is the C axis of the output.
    normalization : {"unit", "zscore", "none"}
        For raw channels: ``unit`` maps uint8 to [0, 1] (divides by the dtype's max), ``zscore`` standardises each
        cutout over its valid voxels, ``none`` keeps grey values as float32. Masks are always 0/1.
    mip : int or None
        Source mip to read; ``None`` picks per layer the coarsest mip whose voxel size is no coarser than the
        target on every axis (so the engine downsamples as little as possible and never needlessly upsamples).
    extent_nm : (x, y, z) floats or None
        Physical size of the cutout; used when ``shape_vox`` is None (shape = ceil(extent / voxel size)).
    layers : tuple of (role, layer name) pairs
        Overrides of :data:`DEFAULT_LAYERS` (a tuple so the spec stays hashable).
    name : str
        Free label (part of the key).
    """

    shape_vox: tuple | None = (64, 64, 64)
    voxel_size_nm: tuple | None = (16.0, 16.0, 16.0)
    channels: tuple = ("raw",)
    normalization: str = "unit"
    mip: int | None = None
    extent_nm: tuple | None = None
    layers: tuple = field(default_factory=tuple)
    name: str = "cutout"

    def __post_init__(self):
        object.__setattr__(self, "shape_vox", _triple(self.shape_vox, "shape_vox", integer=True))
        object.__setattr__(self, "voxel_size_nm", _triple(self.voxel_size_nm, "voxel_size_nm"))
        object.__setattr__(self, "extent_nm", _triple(self.extent_nm, "extent_nm"))
        chans = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
        unknown = [c for c in chans if c not in CHANNELS]
        if unknown or not chans:
            raise ValueError(f"unknown channel(s) {unknown!r}; known: {sorted(CHANNELS)}")
        object.__setattr__(self, "channels", chans)
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if self.shape_vox is None and self.extent_nm is None:
            raise ValueError("give shape_vox or extent_nm")
        if self.voxel_size_nm is None and self.mip is None:
            raise ValueError("voxel_size_nm=None (native resolution) needs an explicit mip")
        layers = self.layers.items() if isinstance(self.layers, dict) else self.layers
        object.__setattr__(self, "layers", tuple(sorted((str(k), str(v)) for k, v in layers)))
        unknown_roles = [k for k, _ in self.layers if k not in DEFAULT_LAYERS]
        if unknown_roles:
            raise ValueError(f"unknown layer role(s) {unknown_roles}; known: {sorted(DEFAULT_LAYERS)}")

    # ------------------------------------------------------------------ derived
    @property
    def num_channels(self) -> int:
        return len(self.channels)

    def layer_name(self, role: str) -> str:
        """Dataset layer name for a logical role (``raw``, ``cells``, ...)."""
        return dict(self.layers).get(role, DEFAULT_LAYERS[role])

    def roles(self) -> list[str]:
        """Logical layer roles the channels read, in a stable order."""
        out: list[str] = []
        for c in self.channels:
            for r in CHANNELS[c]:
                if r not in out:
                    out.append(r)
        return out

    def resolve(self, native_voxel_size_nm=None) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
        """Concrete (shape_vox, voxel_size_nm), both (x, y, z).

        ``native_voxel_size_nm`` (x, y, z nm) is the source mip's voxel size, needed when ``voxel_size_nm`` is None.
        """
        vs = self.voxel_size_nm
        if vs is None:
            if native_voxel_size_nm is None:
                raise ValueError("this spec uses the native voxel size of its mip: pass native_voxel_size_nm")
            vs = tuple(float(v) for v in native_voxel_size_nm)
        shape = self.shape_vox
        if shape is None:
            shape = tuple(max(1, int(np.ceil(e / v - 1e-9))) for e, v in zip(self.extent_nm, vs))
        return shape, vs

    def key(self) -> str:
        """Stable 16-hex-digit hash of all fields and :data:`ENGINE_VERSION` (same spec → same key, any process)."""
        payload = asdict(self)
        payload["engine_version"] = ENGINE_VERSION
        text = json.dumps(payload, sort_keys=True, default=list)
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def synapse_cube_spec(
    shape_vox=(80, 80, 80),
    voxel_size_nm=(16.0, 16.0, 16.0),
    *,
    channels=("raw", "pre_mask", "cleft_mask"),
    normalization: str = "unit",
    mip: int | None = None,
    layers: dict | None = None,
) -> CutoutSpec:
    """Three-channel synapse cube: raw, presynaptic-side mask, cleft mask (the synapse SimCLR seed, seed 003).

    The cube is centred on ``x_nm, y_nm, z_nm`` of the synapse table: the cleft centre, or the presynaptic point
    after :func:`emkit.io.points.centred_on`. The presynaptic side is the ``pre_root_id`` object of the cells layer
    when the table gives partners, else the cells segment touching the cleft that overlaps the vesicles layer most.
    Output (C, z, y, x) per synapse.

    Parameters
    ----------
    shape_vox : (x, y, z) int
        Cube size in target voxels (seed 003 uses 80³).
    voxel_size_nm : (x, y, z) float
        Target voxel size in nm; the stored anisotropic voxels (e.g. 8×8×40 nm) are resampled to it.
    channels : tuple of str
        A subset of ``raw``, ``pre_mask``, ``cleft_mask`` (default all three, in that order).
    """
    chans = (channels,) if isinstance(channels, str) else tuple(channels)
    bad = [c for c in chans if c not in ("raw", "pre_mask", "cleft_mask")]
    if bad or not chans:
        raise ValueError(f"synapse cube channels must be among raw, pre_mask, cleft_mask; got {chans!r}")
    return CutoutSpec(shape_vox=shape_vox, voxel_size_nm=voxel_size_nm,
                      channels=chans, normalization=normalization, mip=mip,
                      layers=tuple((layers or {}).items()), name="synapse_cube")


def object_spec(
    shape_vox=(64, 64, 64),
    voxel_size_nm=(32.0, 32.0, 32.0),
    *,
    normalization: str = "unit",
    mip: int | None = None,
    layers: dict | None = None,
) -> CutoutSpec:
    """SegCLR-style object cutout: raw, object mask (the ``root_id`` object), masked raw.

    Dorkenwald et al. 2023, "Multi-layered maps of neuropil with segmentation-guided contrastive learning",
    Nature Methods 20:2011-2020 (SegCLR used 129³ at 32×32×33 nm; the default here is smaller for CPUs).
    The points table must have a ``root_id`` column. Output (3, z, y, x) per point.
    """
    return CutoutSpec(shape_vox=shape_vox, voxel_size_nm=voxel_size_nm,
                      channels=("raw", "object_mask", "masked_raw"), normalization=normalization, mip=mip,
                      layers=tuple((layers or {}).items()), name="segclr_object")


def soma_spec(
    radius_um: float = 15.0,
    mip: int = 3,
    *,
    voxel_size_nm=None,
    layers: dict | None = None,
) -> CutoutSpec:
    """Soma / nucleus segmentation cutout: channels cell mask and nucleus mask (Elabbady et al. 2024).

    Elabbady et al. 2024, "Perisomatic ultrastructure efficiently classifies cells in mouse cortex" (the
    Extract_Somatic_Features seed cuts a ``cutout_radius`` of 15 µm around each nucleus at ``mip_level`` 3).

    Parameters
    ----------
    radius_um : float
        Half-width of the cutout in µm on every axis; the cutout spans ``2 * radius_um`` (x, y and z).
    mip : int
        Source mip to read.
    voxel_size_nm : (x, y, z) float or None
        ``None`` keeps the native voxel size of ``mip`` (no resampling); else resample to it.
    """
    if not np.isfinite(radius_um) or radius_um <= 0:
        raise ValueError(f"radius_um must be positive, got {radius_um!r}")
    extent = 2.0 * 1000.0 * float(radius_um)
    return CutoutSpec(shape_vox=None, voxel_size_nm=voxel_size_nm, extent_nm=(extent, extent, extent),
                      channels=("cell_mask", "nucleus_mask"), normalization="none", mip=int(mip),
                      layers=tuple((layers or {}).items()), name="soma")
