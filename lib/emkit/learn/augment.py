"""EM-specific augmentations applied to whole batches on the training device.

Every transform works on a batch ``x`` of shape ``(N, C, D, H, W) = (N, C, z, y, x)`` with *per-sample* random
parameters drawn from a CPU ``torch.Generator`` (same seed -> same parameters on CPU and GPU), and runs as tensor
ops on ``x.device``. Batch-wise tensor ops instead of monai's per-sample dictionary transforms because those cost
~41 ms per sample on CPU (ecosystem notes) and run on the host, not on the training device.

Channels are split into *raw* channels (EM intensity; ``raw_channels``, default ``(0,)``) and *mask* channels
(all others: segmentation / pre-synaptic / cleft masks). Geometric transforms move masks exactly like raw: flips
and 90-degree rotations are pure indexing; crop/rescale and centre jitter resample raw (trilinear by default) and
masks with nearest-neighbour lookups of the very same sampling grid, so masks stay binary and aligned. Intensity
transforms and the missing-section artefact touch raw channels only.

Transforms (in the order applied):

1. crop / rescale + centre jitter: sample a field of view of ``scale * out_shape`` voxels (scale ~ U(crop_scale)),
   placed at a random in-bounds offset, plus an integer jitter of up to ``jitter_vox`` (x, y, z) voxels (SegCLR's
   centre jitter, Dorkenwald et al. 2023), and resize it to ``out_shape_vox``; outside the input is ``pad_value``.
2. flips along z, y, x (p = 0.5 each; ``flip_z=False`` to keep z order).
3. 90-degree rotations in the xy plane (needs H == W); across planes only when ``isotropic=True`` (needs D == H == W).
4. section shift: translate the slab of z sections from a random section onward (or a slab of random thickness)
   by an integer (dy, dx) -- a serial-section misalignment; masks follow unless ``shift_masks=False``.
5. intensity on raw: contrast, brightness, gamma (on per-sample min-max scaled values), Gaussian noise.
6. missing sections: whole z sections of raw set to ``missing_fill``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "EMAugment", "PRESETS", "make_augment", "jitter_crop", "centre_crop"]


@dataclass
class AugmentConfig:
    """Parameters of :class:`EMAugment` (probabilities are per sample).

    Attributes
    ----------
    raw_channels : indices of the intensity channels; every other channel is a mask.
    out_shape_vox : output (z, y, x) shape in voxels; None keeps the input shape.
    crop_scale : (lo, hi) field-of-view scale; 1.0 = out_shape voxels at input resolution, < 1 zooms in.
    p_crop : probability of a random crop/rescale (otherwise scale 1 at the centre).
    jitter_vox : (x, y, z) maximal integer centre shift in voxels (SegCLR centre jitter).
    interpolation : "trilinear" or "nearest" for raw channels (masks are always nearest).
    pad_value : value outside the input after crop/jitter (raw and masks).
    flip, flip_z : random flips along y, x (and z when flip_z).
    rot90_xy : random k*90 degree rotations in the xy plane.
    isotropic : also rotate in the zy and zx planes (only meaningful for isotropic voxels).
    p_intensity : probability of each intensity op (contrast, brightness, gamma).
    contrast : (lo, hi) multiplicative contrast around the per-sample mean.
    brightness : maximal additive shift, in units of the per-sample raw std.
    gamma : (lo, hi) gamma exponent range (log-uniform).
    noise_std : maximal Gaussian noise std, in units of the per-sample raw std; p_noise its probability.
    p_missing_section, max_missing_sections, missing_fill : missing-section artefact on raw.
    p_section_shift, max_shift_vox, shift_masks : section-shift (misalignment) artefact.
    """

    raw_channels: tuple[int, ...] = (0,)
    out_shape_vox: tuple[int, int, int] | None = None
    crop_scale: tuple[float, float] = (0.8, 1.0)
    p_crop: float = 0.5
    jitter_vox: tuple[int, int, int] = (0, 0, 0)
    interpolation: str = "trilinear"
    pad_value: float = 0.0
    flip: bool = True
    flip_z: bool = True
    rot90_xy: bool = True
    isotropic: bool = False
    p_intensity: float = 0.8
    contrast: tuple[float, float] = (0.75, 1.25)
    brightness: float = 0.2
    gamma: tuple[float, float] = (0.8, 1.25)
    noise_std: float = 0.1
    p_noise: float = 0.5
    p_missing_section: float = 0.1
    max_missing_sections: int = 2
    missing_fill: float = 0.0
    p_section_shift: float = 0.1
    max_shift_vox: int = 4
    shift_masks: bool = True

    @classmethod
    def from_dict(cls, d: dict | None) -> "AugmentConfig":
        """Build from a (YAML) mapping; unknown keys raise, lists become tuples."""
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise ValueError(f"unknown augmentation option(s) {bad}; known: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def to_dict(self) -> dict:
        return asdict(self)


#: Named settings. "none" is the identity; "simclr_em" is the default SimCLR recipe for synapse cubes (seed 003);
#: "segclr" adds centre jitter and EM artefacts; "geometric" has no intensity change.
PRESETS: dict[str, dict] = {
    "none": dict(crop_scale=(1.0, 1.0), p_crop=0.0, flip=False, flip_z=False, rot90_xy=False, p_intensity=0.0,
                 p_noise=0.0, p_missing_section=0.0, p_section_shift=0.0),
    "simclr_em": {},
    "segclr": dict(jitter_vox=(8, 8, 2), crop_scale=(0.9, 1.1), p_missing_section=0.2, p_section_shift=0.2),
    "geometric": dict(p_intensity=0.0, p_noise=0.0, p_missing_section=0.0),
}


def _rand(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * _rand(n, g)


class EMAugment:
    """Batched, device-side EM augmentation: ``views = EMAugment(cfg)(x, generator)``.

    Parameters
    ----------
    config : AugmentConfig, dict or preset name

    Notes
    -----
    ``__call__(x, generator)`` takes ``x`` of shape ``(N, C, D, H, W)`` (float) and a CPU ``torch.Generator``;
    returns a new tensor ``(N, C, D', H', W')`` (``out_shape_vox`` or the input shape) on ``x.device``. Without a
    generator, the global torch RNG is used. All per-sample parameters come from the CPU generator, so they are the
    same on every device; only the Gaussian noise field is drawn on the device itself (from a generator seeded by
    it), so noise values differ between CPU and GPU runs of the same seed.
    """

    def __init__(self, config: AugmentConfig | dict | str | None = None):
        if config is None:
            config = AugmentConfig()
        elif isinstance(config, str):
            if config not in PRESETS:
                raise ValueError(f"unknown augmentation preset {config!r}; choose one of {sorted(PRESETS)}")
            config = AugmentConfig.from_dict(PRESETS[config])
        elif isinstance(config, dict):
            d = dict(config)
            preset = d.pop("preset", None)
            base = dict(PRESETS[preset]) if preset else {}
            base.update(d)
            config = AugmentConfig.from_dict(base)
        self.config = config

    def __repr__(self) -> str:
        return f"EMAugment({self.config})"

    # ------------------------------------------------------------------ helpers
    def _split(self, x: torch.Tensor) -> tuple[list[int], list[int]]:
        c = x.shape[1]
        raw = sorted({int(i) % c for i in self.config.raw_channels})
        masks = [i for i in range(c) if i not in raw]
        return raw, masks

    # ------------------------------------------------------------------ geometric
    def _crop_jitter(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        cfg = self.config
        n, c, d, h, w = x.shape
        out = tuple(cfg.out_shape_vox) if cfg.out_shape_vox is not None else (d, h, w)
        lo, hi = cfg.crop_scale
        do_crop = cfg.p_crop > 0 and (lo != 1.0 or hi != 1.0)
        jit = tuple(int(j) for j in cfg.jitter_vox)  # (x, y, z)
        if not do_crop and not any(jit) and out == (d, h, w):
            return x
        scale = torch.where(_rand(n, g) < cfg.p_crop, _uniform(n, lo, hi, g), torch.ones(n, dtype=torch.float64))
        if not do_crop:
            scale = torch.ones(n, dtype=torch.float64)
        size_in = torch.tensor([w, h, d], dtype=torch.float64)  # x, y, z
        size_out = torch.tensor([out[2], out[1], out[0]], dtype=torch.float64)
        # random in-bounds offset of the field of view's centre (voxels, x y z)
        slack = torch.clamp((size_in[None] - scale[:, None] * size_out[None]) / 2.0, min=0.0)  # (N, 3)
        offset = (2.0 * torch.rand(n, 3, generator=g, dtype=torch.float64) - 1.0) * slack
        offset = torch.where((scale != 1.0)[:, None], offset, torch.zeros_like(offset))
        jitter = torch.stack(
            [torch.randint(-j, j + 1, (n,), generator=g).double() if j > 0 else torch.zeros(n, dtype=torch.float64)
             for j in jit], dim=1)  # (N, 3)
        # voxel index in the input for every output voxel: c_in + scale * (i_out - c_out) + offset + jitter
        axes = []
        for a in range(3):  # x, y, z
            i_out = torch.arange(int(size_out[a]), dtype=torch.float64)
            i_in = ((size_in[a] - 1) / 2 + scale[:, None] * (i_out[None] - (size_out[a] - 1) / 2)
                    + offset[:, a:a + 1] + jitter[:, a:a + 1])  # (N, out_a)
            axes.append(i_in)  # input voxel index (x, y or z) of each output voxel
        whole = self._whole_voxel_windows(scale, axes, size_in)
        if whole is not None:
            # every window is unscaled, in bounds and starts on a voxel: a copy, no interpolation needed. Measured
            # on the SSL chapter's batches (64 views of 40x40x6 out of 64x64x8): 14 ms per batch with grid_sample,
            # the copy is exact and cheaper.
            res = torch.empty((n, c, *out), dtype=x.dtype, device=x.device)
            for i, (x0, y0, z0) in enumerate(whole.tolist()):
                res[i] = x[i, :, z0:z0 + out[0], y0:y0 + out[1], x0:x0 + out[2]]
            return res
        axes = [(2.0 * a + 1.0) / size_in[k] - 1.0 for k, a in enumerate(axes)]  # normalized, align_corners=False
        # only samples that are cropped/rescaled/jittered are resampled; the others are copied (same shape only)
        if out == (d, h, w):
            sel = torch.nonzero((scale != 1.0) | (jitter != 0).any(dim=1)).flatten()
            res = x.clone()
            if sel.numel() == 0:
                return res
        else:
            sel = torch.arange(n)
            res = torch.empty((n, c, *out), dtype=x.dtype, device=x.device)
        # per-axis coordinates are tiny (N, out_a): move them, then broadcast to the full grid on the device
        gdt = torch.float32 if x.dtype in (torch.float64, torch.float16, torch.bfloat16) else x.dtype
        gx, gy, gz = (a[sel].to(device=x.device, dtype=gdt) for a in axes)
        grid = torch.stack(torch.broadcast_tensors(
            gx[:, None, None, :], gy[:, None, :, None], gz[:, :, None, None]), dim=-1)  # (n_sel, Do, Ho, Wo, 3)
        raw, masks = self._split(x)
        sel_d = sel.to(x.device)
        xs = x.index_select(0, sel_d)
        pad = float(cfg.pad_value)
        for idx, mode in ((raw, "bilinear" if cfg.interpolation == "trilinear" else "nearest"), (masks, "nearest")):
            if not idx:
                continue
            src = xs[:, idx].to(gdt) - pad  # so that zero padding means pad_value
            val = (F.grid_sample(src, grid, mode=mode, padding_mode="zeros", align_corners=False) + pad).to(x.dtype)
            res[sel_d[:, None], torch.tensor(idx, device=x.device)[None, :]] = val
        return res

    @staticmethod
    def _whole_voxel_windows(scale: torch.Tensor, axes_vox: list[torch.Tensor],
                             size_in: torch.Tensor) -> torch.Tensor | None:
        """Start voxel (x, y, z) of every sample's window, shape (N, 3) int64, when every window is unscaled,
        starts on a voxel and lies inside the input; otherwise None (the windows need resampling)."""
        if bool((scale != 1.0).any()):
            return None
        starts = torch.stack([a[:, 0] for a in axes_vox], dim=1)  # (N, 3) float64
        rounded = torch.round(starts)
        if not bool(torch.all(torch.abs(starts - rounded) < 1e-6)):
            return None
        ends = torch.stack([a[:, -1] for a in axes_vox], dim=1)
        if bool((rounded < 0).any()) or bool((torch.round(ends) > size_in[None] - 1).any()):
            return None
        return rounded.to(torch.int64)

    def _flips(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        dims = ([2] if self.config.flip_z else []) + [3, 4]
        x = x.clone()
        for dim in dims:
            idx = torch.nonzero(_rand(n, g) < 0.5).flatten().to(x.device)
            if idx.numel():
                x[idx] = x[idx].flip(dim)
        return x

    @staticmethod
    def _rot(x: torch.Tensor, g: torch.Generator, dims: tuple[int, int]) -> torch.Tensor:
        n = x.shape[0]
        if x.shape[dims[0]] != x.shape[dims[1]]:
            raise ValueError(f"90-degree rotation in dims {dims} needs equal sizes, got shape {tuple(x.shape)}")
        k = torch.randint(0, 4, (n,), generator=g)
        out = x.clone()
        for kk in (1, 2, 3):
            idx = torch.nonzero(k == kk).flatten().to(x.device)
            if idx.numel():
                out[idx] = torch.rot90(x[idx], kk, dims=dims)
        return out

    def _section_shift(self, x: torch.Tensor, g: torch.Generator, raw: list[int]) -> torch.Tensor:
        cfg = self.config
        n, c, d, h, w = x.shape
        hit = _rand(n, g) < cfg.p_section_shift
        if d < 2 or not hit.any() or cfg.max_shift_vox <= 0:
            return x
        x = x.clone()
        chans = list(range(c)) if cfg.shift_masks else raw
        m = cfg.max_shift_vox
        for i in torch.nonzero(hit).flatten().tolist():
            z0 = int(torch.randint(1, d, (1,), generator=g))
            z1 = int(torch.randint(z0 + 1, d + 1, (1,), generator=g)) if _rand(1, g).item() < 0.5 else d
            dy, dx = (int(v) for v in torch.randint(-m, m + 1, (2,), generator=g))
            slab = x[i, chans, z0:z1]
            shifted = torch.full_like(slab, float(cfg.pad_value))
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
            shifted[..., yd, xd] = slab[..., ys, xs]
            x[i, chans, z0:z1] = shifted
        return x

    # ------------------------------------------------------------------ intensity (raw only)
    def _intensity(self, r: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        cfg = self.config
        n = r.shape[0]
        dev, dt = r.device, r.dtype
        view = (n, 1, 1, 1, 1)
        mean = r.mean(dim=(1, 2, 3, 4), keepdim=True)
        std = r.std(dim=(1, 2, 3, 4), keepdim=True).clamp_min(1e-6)
        p = cfg.p_intensity
        if p > 0:
            c = torch.where(_rand(n, g) < p, _uniform(n, *cfg.contrast, g), torch.ones(n, dtype=torch.float64))
            b = torch.where(_rand(n, g) < p, _uniform(n, -cfg.brightness, cfg.brightness, g),
                            torch.zeros(n, dtype=torch.float64))
            c = c.to(dev, dt).view(view)
            b = b.to(dev, dt).view(view)
            r = (r - mean) * c + mean + b * std
            lg0, lg1 = math.log(cfg.gamma[0]), math.log(cfg.gamma[1])
            gam = torch.where(_rand(n, g) < p, torch.exp(_uniform(n, lg0, lg1, g)), torch.ones(n, dtype=torch.float64))
            if (gam != 1.0).any():
                gam = gam.to(dev, dt).view(view)
                lo = r.amin(dim=(1, 2, 3, 4), keepdim=True)
                hi = r.amax(dim=(1, 2, 3, 4), keepdim=True)
                span = (hi - lo).clamp_min(1e-6)
                r = lo + span * ((r - lo) / span).clamp(0, 1) ** gam
        if cfg.p_noise > 0 and cfg.noise_std > 0:
            s = torch.where(_rand(n, g) < cfg.p_noise, _uniform(n, 0.0, cfg.noise_std, g),
                            torch.zeros(n, dtype=torch.float64)).to(dev, dt).view(view)
            if dev.type == "cpu":
                noise = torch.randn(r.shape, generator=g, dtype=torch.float32).to(dt)
            else:  # draw on the device from a generator seeded by g (no host->device copy of a full volume)
                dg = torch.Generator(device=dev).manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
                noise = torch.randn(r.shape, generator=dg, device=dev, dtype=torch.float32).to(dt)
            r = r + noise * s * std
        return r

    def _missing(self, r: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        cfg = self.config
        n, _, d = r.shape[:3]
        hit = _rand(n, g) < cfg.p_missing_section
        if not hit.any() or cfg.max_missing_sections <= 0:
            return r
        r = r.clone()
        for i in torch.nonzero(hit).flatten().tolist():
            k = int(torch.randint(1, cfg.max_missing_sections + 1, (1,), generator=g))
            zs = torch.randperm(d, generator=g)[: min(k, d)].tolist()
            r[i, :, zs] = float(cfg.missing_fill)
        return r

    # ------------------------------------------------------------------ the pipeline
    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch ``(N, C, D, H, W)``; returns ``(N, C, *out_shape)`` on the same device."""
        if x.ndim != 5:
            raise ValueError(f"EMAugment expects (N, C, D, H, W), got shape {tuple(x.shape)}")
        if not torch.is_floating_point(x):
            x = x.float()
        g = generator if generator is not None else torch.default_generator
        cfg = self.config
        raw, _ = self._split(x)
        x = self._crop_jitter(x, g)
        if cfg.flip:
            x = self._flips(x, g)
        if cfg.rot90_xy:
            x = self._rot(x, g, (3, 4))
        if cfg.isotropic:
            x = self._rot(x, g, (2, 3))
            x = self._rot(x, g, (2, 4))
        x = self._section_shift(x, g, raw)
        if raw and (cfg.p_intensity > 0 or (cfg.p_noise > 0 and cfg.noise_std > 0) or cfg.p_missing_section > 0):
            r = x[:, raw]
            r = self._intensity(r, g)
            r = self._missing(r, g)
            x = x.clone()
            x[:, raw] = r
        return x


def make_augment(spec: "EMAugment | AugmentConfig | dict | str | None") -> EMAugment:
    """Coerce a preset name, mapping, config or augmenter into an :class:`EMAugment`."""
    return spec if isinstance(spec, EMAugment) else EMAugment(spec)


def centre_crop(x, shape_vox):
    """The central ``shape_vox`` (x, y, z voxels) block of ``x`` (..., D, H, W), a numpy array or torch tensor.

    With even sizes this is the block the cutout engine cuts around the same point (a 40 x 40 x 6 cutout is the
    centre of a 64 x 64 x 8 one); with an odd slack the extra voxel is left on the high side. A view (no copy).
    """
    ox, oy, oz = (int(v) for v in shape_vox)
    d, h, w = x.shape[-3:]
    if not (0 < oz <= d and 0 < oy <= h and 0 < ox <= w):
        raise ValueError(f"crop {(ox, oy, oz)} (x, y, z voxels) does not fit in a block of {(w, h, d)}")
    z0, y0, x0 = (d - oz) // 2, (h - oy) // 2, (w - ox) // 2
    return x[..., z0:z0 + oz, y0:y0 + oy, x0:x0 + ox]


def jitter_crop(cube_shape_vox, view_shape_vox) -> dict:
    """Augmentation options that cut each view at a random offset out of a larger cube (SegCLR's centre jitter).

    Two views of one cube then overlap only partly: they share the cube's texture statistics (for a cube centred
    on a presynaptic point: vesicle size, density and shape) but not the exact position of every membrane, which
    stops the encoder from telling cubes apart by their geometry alone. Measured on the default synthetic world
    (book chapter "Self-supervised synapse embeddings"): without it, SimCLR's linear probe was no better than an
    untrained encoder's.

    Parameters
    ----------
    cube_shape_vox, view_shape_vox : (x, y, z) int
        Stored cube and view sizes in voxels; the view must fit inside the cube.

    Returns
    -------
    dict
        ``out_shape_vox`` (z, y, x) and ``jitter_vox`` (x, y, z) = half the slack per axis, to merge into an
        augmentation mapping, e.g. ``{"preset": "simclr_em", "p_crop": 0.0, **jitter_crop(cube, view)}``.
    """
    cube = [int(v) for v in cube_shape_vox]
    view = [int(v) for v in view_shape_vox]
    if len(cube) != 3 or len(view) != 3:
        raise ValueError(f"cube and view shapes must be (x, y, z); got {cube_shape_vox!r} and {view_shape_vox!r}")
    if any(v < 1 or v > c for v, c in zip(view, cube)):
        raise ValueError(f"view {tuple(view)} (x, y, z voxels) does not fit in cube {tuple(cube)}")
    return {"out_shape_vox": (view[2], view[1], view[0]),
            "jitter_vox": tuple((c - v) // 2 for c, v in zip(cube, view))}
